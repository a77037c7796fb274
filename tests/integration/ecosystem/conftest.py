"""Fixtures for the ecosystem tests: the collection as users get it (built, installed), and tool paths.

- ``venv_tool(name)``: a console script of the running interpreter's venv (ansible-galaxy, ansible-runner, ...).
- ``built_collection`` (session): ``ansible-galaxy collection build`` of a copy of the work tree in which
  build-ignore bait was planted (a ``.venv``, ``tests/output``, ``__pycache__``, ...), then
  ``ansible-galaxy collection install`` of that artifact into an empty collections path. Its
  ``collections_path`` holds only the installed copy; ``members`` lists the artifact's files.
"""

import shutil
import tarfile

import pytest

from tests.integration.ecosystem.helpers import BAIT, BuiltCollection, REPO_ROOT, run, tool_env, venv_tool, work_tree_files


@pytest.fixture(scope="session")
def built_collection(tmp_path_factory):
    galaxy = venv_tool("ansible-galaxy")
    base = tmp_path_factory.mktemp("artifact")
    source = base / "src"
    for name in work_tree_files():
        target = source / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO_ROOT / name, target)
    for name in BAIT:
        target = source / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text("bait: must not be in the artifact\n")
    out = base / "dist"
    run([galaxy, "collection", "build", "--output-path", out, source])
    tarball = next(out.glob("telnyx-sip-*.tar.gz"))
    with tarfile.open(tarball) as archive:
        members = sorted(member.name for member in archive.getmembers())
    collections_path = base / "collections"
    # the work tree's collections root (tests/conftest.py) must not count as "already installed"
    run([galaxy, "collection", "install", "--offline", "--force", "-p", collections_path, tarball],
        env=tool_env(ANSIBLE_COLLECTIONS_PATH=str(collections_path)))
    assert (collections_path / "ansible_collections" / "telnyx" / "sip" / "MANIFEST.json").is_file()
    return BuiltCollection(tarball, collections_path, members)
