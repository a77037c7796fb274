"""Shared pieces of the ecosystem tests: the venv's tools and their environment, the work tree's files.

Import them from here (``from tests.integration.ecosystem.helpers import run``), never from a conftest.
"""

import os
import subprocess
import sys
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
