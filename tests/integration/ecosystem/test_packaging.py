"""The artifact users install: built with ansible-galaxy, nothing needed left out, nothing private let in,
and the installed copy (not the work tree) runs the modules against the emulator."""

import fnmatch
import json
import re
from pathlib import Path

import pytest
import yaml

from tests.integration.ecosystem.helpers import BAIT, run, tool_env, venv_tool, work_tree_files

pytestmark = pytest.mark.integration

# what a user of the artifact needs: every file of the work tree under these
SHIPPED_DIRS = ("plugins/", "roles/", "playbooks/", "meta/", "docs/", "extensions/", "examples/", "changelogs/",
                "tests/emulator/")
SHIPPED_FILES = ("README.md", "requirements.txt", "bindep.txt", "meta/runtime.yml", "meta/execution-environment.yml",
                 "playbooks/import.yml",
                 "extensions/awx/credential_type_telnyx.yml", "changelogs/changelog.yaml", "tests/emulator/__main__.py",
                 "MANIFEST.json", "FILES.json")
# nothing private: a member matching one of these (any path component) fails
PRIVATE = ("tests/output", ".venv", ".venv-*", ".tools", ".git", ".pytest_cache", ".hypothesis", "node_modules",
           "__pycache__", "*.pyc", "*.tar.gz", ".sanity")


def test_artifact_ships_what_users_need(built_collection):
    members = set(built_collection.members)
    needed = {name for name in work_tree_files()
              if name.startswith(SHIPPED_DIRS) and "__pycache__" not in name and not name.endswith(".pyc")}
    needed |= {name for name in SHIPPED_FILES if name not in ("MANIFEST.json", "FILES.json")
               and name in work_tree_files()} | {"MANIFEST.json", "FILES.json"}
    assert "plugins/modules/uac_connection.py" in needed
    missing = sorted(needed - members)
    assert not missing, f"build_ignore leaves out files users need: {missing}"
    for name in SHIPPED_FILES:
        assert name in members, f"{name} is not in the artifact"


def test_artifact_holds_nothing_private(built_collection):
    leaked = []
    for member in built_collection.members:
        parts = member.split("/")
        prefixes = ["/".join(parts[:i]) for i in range(1, len(parts) + 1)]
        if any(fnmatch.fnmatch(part, pattern) for part in parts for pattern in PRIVATE) or \
                any(prefix == pattern for prefix in prefixes for pattern in PRIVATE):
            leaked.append(member)
    assert not leaked, f"private files in the artifact: {leaked}"
    for bait in BAIT:
        assert bait not in built_collection.members


def test_artifact_size(built_collection):
    size = built_collection.tarball.stat().st_size
    count = len([m for m in built_collection.members if not m.endswith("/")])
    print(f"\nartifact {built_collection.tarball.name}: {size} bytes ({size / 1024:.1f} KiB), {count} entries")
    assert size < 1024 * 1024, f"the artifact is {size} bytes: something big slipped past build_ignore"


def test_manifest_matches_galaxy_yml(built_collection):
    manifest = json.loads((built_collection.root / "MANIFEST.json").read_text())["collection_info"]
    galaxy = yaml.safe_load((Path(__file__).resolve().parents[3] / "galaxy.yml").read_text())
    assert (manifest["namespace"], manifest["name"], manifest["version"]) == \
        (galaxy["namespace"], galaxy["name"], galaxy["version"])


def _installed_env(built_collection, **extra):
    return tool_env(ANSIBLE_COLLECTIONS_PATH=str(built_collection.collections_path), **extra)


def test_ansible_doc_reads_the_installed_copy(built_collection):
    doc = run([venv_tool("ansible-doc"), "--json", "-t", "module", "telnyx.sip.uac_connection"],
              env=_installed_env(built_collection))
    filename = json.loads(doc.stdout)["telnyx.sip.uac_connection"]["doc"]["filename"]
    assert filename.startswith(str(built_collection.collections_path)), filename


def _readme_play(root):
    """The module example play of the installed README (its first ```yaml block)."""
    text = (root / "README.md").read_text()
    block = re.search(r"```yaml\n(.*?)```", text, re.S)
    assert block, "README.md has no ```yaml block"
    return yaml.safe_load(block.group(1))


def _demo_playbooks(root):
    """examples/*.yml of the installed copy that are playbooks (a list of plays with hosts)."""
    found = []
    for path in sorted((root / "examples").glob("*.yml")):
        try:
            data = yaml.safe_load(path.read_text())
        except yaml.YAMLError:
            continue
        if isinstance(data, list) and data and all(isinstance(p, dict) and ("hosts" in p or "import_playbook" in p)
                                                   for p in data):
            found.append(path)
    return found


def _run_installed(built_collection, run_playbook, playbook, *args):
    """Run ``playbook`` (text, or a path imported by absolute path) with only the installed copy on the path."""
    if isinstance(playbook, Path):
        playbook = yaml.safe_dump([{"ansible.builtin.import_playbook": str(playbook)}])
    result = run_playbook(playbook, *args, env={"ANSIBLE_COLLECTIONS_PATH": str(built_collection.collections_path)})
    assert result.rc == 0, f"rc={result.rc}\nstdout:\n{result.stdout}\nstderr:\n{result.stderr}"
    return result


def test_readme_example_runs_from_the_installed_copy(built_collection, emulator, run_playbook):
    play = _readme_play(built_collection.root)
    extra = json.dumps({"vault_telnyx_api_key": emulator.api_key, "vault_pbx_hq_1006_password": "readme-pbx-1"})
    result = _run_installed(built_collection, run_playbook, yaml.safe_dump(play, sort_keys=False), "-e", extra)
    assert result.stats["localhost"]["changed"] >= 1
    names = [c["connection_name"] for c in emulator.call("GET", "/uac_connections").json()["data"]]
    assert "pbx-hq-1006" in names


@pytest.fixture(scope="module")
def demo_playbooks(built_collection):
    return _demo_playbooks(built_collection.root)


def test_demo_playbooks_run_from_the_installed_copy(built_collection, demo_playbooks, emulator, run_playbook):
    if not demo_playbooks:
        pytest.skip("the artifact has no demo playbooks in examples/ yet (the README example runs instead)")
    for playbook in demo_playbooks:
        emulator.reset()
        inventory = [arg for path in ("inventory", "inventory.yml", "hosts.yml")
                     if (playbook.parent / path).exists() for arg in ("-i", str(playbook.parent / path))]
        result = _run_installed(built_collection, run_playbook, playbook, *inventory)
        assert all(host.get("failures", 0) == 0 and host.get("unreachable", 0) == 0
                   for host in result.stats.values()), playbook
