"""Fixtures for the ecosystem tests: the collection as users get it (built, installed), and tool paths.

- ``venv_tool(name)``: a console script of the running interpreter's venv (ansible-galaxy, ansible-runner, ...).
- ``built_collection`` (session): ``ansible-galaxy collection build`` of a copy of the work tree in which
  build-ignore bait was planted (a ``.venv``, ``tests/output``, ``__pycache__``, ...), then
  ``ansible-galaxy collection install`` of that artifact into an empty collections path. Its
  ``collections_path`` holds only the installed copy; ``members`` lists the artifact's files.
"""

import os
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[3]

# paths planted in the copy before the build: none of them may reach the artifact
BAIT = (
    ".venv/bin/python-bait",
    ".venv-2.17/pyvenv.cfg",
    ".tools/node_modules/.bin/prism",
    ".git/config",
    ".pytest_cache/v/cache/lastfailed",
    ".hypothesis/examples/bait",
    "node_modules/bait/index.js",
    "tests/output/junit.xml",
    "tests/output/.sanity/ansible_collections/telnyx/sip/galaxy.yml",
    "plugins/modules/__pycache__/uac_connection.cpython-311.pyc",
    "plugins/module_utils/stray.pyc",
    "tests/emulator/__pycache__/server.cpython-311.pyc",
    "telnyx-sip-0.0.1.tar.gz",
)


def venv_tool(name):
    path = Path(sys.executable).parent / name
    if not path.exists():
        pytest.skip(f"{name} is not installed in {path.parent} (make venv installs tests/requirements.txt)")
    return str(path)


def tool_env(**extra):
    """The environment for the venv's tools: its bin first on PATH, no collections but the ones given."""
    env = dict(os.environ)
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")
    env["ANSIBLE_COLLECTIONS_SCAN_SYS_PATH"] = "False"
    env["ANSIBLE_NOCOLOR"] = "1"
    env.update(extra)
    return env


def run(command, **kwargs):
    """subprocess.run with text output, no stdin, and the output in the assertion message on failure."""
    kwargs.setdefault("env", tool_env())
    completed = subprocess.run([str(c) for c in command], capture_output=True, text=True,
                               stdin=subprocess.DEVNULL, timeout=kwargs.pop("timeout", 300), check=False, **kwargs)
    assert completed.returncode == 0, (f"{' '.join(map(str, command))} exited {completed.returncode}\n"
                                       f"stdout:\n{completed.stdout}\nstderr:\n{completed.stderr}")
    return completed


def work_tree_files():
    """The files a checkout has (tracked, and untracked but not ignored): what a release is built from."""
    listed = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=REPO_ROOT,
                            capture_output=True, check=True).stdout.decode().split("\0")
    return [name for name in listed if name and (REPO_ROOT / name).is_file()]


class BuiltCollection:
    def __init__(self, tarball, collections_path, members):
        self.tarball = tarball
        self.collections_path = collections_path
        self.members = members
        self.root = collections_path / "ansible_collections" / "telnyx" / "sip"


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
