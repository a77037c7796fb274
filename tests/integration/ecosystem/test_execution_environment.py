"""ansible-builder sees what the installed collection needs (meta/execution-environment.yml), and the
example EE definition for users is valid."""

import shutil

import pytest
import yaml

from tests.integration.ecosystem.helpers import REPO_ROOT, run, venv_tool

pytestmark = pytest.mark.integration


def test_introspect_names_requests(built_collection):
    result = run([venv_tool("ansible-builder"), "introspect", "--sanitize", built_collection.collections_path])
    found = yaml.safe_load(result.stdout.split("\n", 1)[1] if result.stdout.startswith("#") else result.stdout)
    python = [line.split("#")[0].strip() for line in found["python"]]
    assert any(req.startswith("requests") for req in python), result.stdout
    assert all("from collection telnyx.sip" in line for line in found["python"] + found.get("system", []))


def test_example_execution_environment_builds_a_context(tmp_path):
    example = REPO_ROOT / "examples" / "execution-environment.yml"
    definition = yaml.safe_load(example.read_text())
    assert definition["version"] == 3
    assert {"name": "telnyx.sip", "version": ">=0.1.0"} in definition["dependencies"]["galaxy"]["collections"]
    shutil.copy(example, tmp_path / "execution-environment.yml")
    # `create` validates the definition and writes the build context, without a container engine
    run([venv_tool("ansible-builder"), "create", "-f", tmp_path / "execution-environment.yml",
         "--context", tmp_path / "context", "--output-filename", "Containerfile"], cwd=tmp_path)
    containerfile = (tmp_path / "context" / "Containerfile").read_text()
    base = definition["images"]["base_image"]["name"]
    assert "ansible-galaxy" in containerfile and f"ARG EE_BASE_IMAGE=\"{base}\"" in containerfile
    requirements = yaml.safe_load((tmp_path / "context" / "_build" / "requirements.yml").read_text())
    assert requirements["collections"][0]["name"] == "telnyx.sip"
    # the ansible-core it pins is a supported release, and docs/awx.md names the same base image and release
    core = definition["dependencies"]["ansible_core"]["package_pip"]
    assert core.startswith("ansible-core==") and core in containerfile.replace("'", "").replace('"', "")
    release = core.split("==")[1].rstrip(".*")
    requires = yaml.safe_load((REPO_ROOT / "meta" / "runtime.yml").read_text())["requires_ansible"]
    assert tuple(map(int, release.split("."))) >= tuple(map(int, requires.lstrip(">=").split(".")[:2]))
    awx = (REPO_ROOT / "docs" / "awx.md").read_text()
    assert base in awx and f"ansible-core {release}" in awx
