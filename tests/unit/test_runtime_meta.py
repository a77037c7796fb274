"""meta/runtime.yml and galaxy.yml agree with the code they describe."""

import os
import re

import pytest
import yaml

from tests.collection_path import REPO_ROOT

pytestmark = pytest.mark.unit


def _yaml(*parts):
    with open(os.path.join(REPO_ROOT, *parts), encoding="utf-8") as handle:
        return yaml.safe_load(handle)


def _modules(api=True):
    """The modules that take the API options (the telnyx.sip.api fragment), or those that do not."""
    folder = os.path.join(REPO_ROOT, "plugins", "modules")
    found = []
    for name in sorted(os.listdir(folder)):
        if name.endswith(".py") and not name.startswith("_"):
            with open(os.path.join(folder, name), encoding="utf-8") as handle:
                if ("- telnyx.sip.api\n" in handle.read()) == api:
                    found.append(name[:-3])
    return found


def test_the_action_group_lists_every_module_of_the_api_and_nothing_else():
    group = _yaml("meta", "runtime.yml")["action_groups"]["uac"]
    names = [entry.rsplit(".", 1)[-1] if isinstance(entry, str) else entry for entry in group]
    assert all(isinstance(name, str) for name in names), group
    assert sorted(names) == _modules()
    assert len(set(names)) == len(names), "a module is listed twice"
    # a module without the API options would refuse the api_key that module_defaults of the group give it
    assert _modules(api=False) == ["import_files"]


def test_requires_ansible_is_a_lower_bound_of_a_released_core():
    requires = _yaml("meta", "runtime.yml")["requires_ansible"]
    assert re.fullmatch(r">=2\.\d+\.\d+(,<\d+\.\d+(\.\d+)?)?", requires), requires


def test_galaxy_version_is_the_client_collection_version():
    galaxy = _yaml("galaxy.yml")
    with open(os.path.join(REPO_ROOT, "plugins", "module_utils", "_version.py"), encoding="utf-8") as handle:
        found = re.search(r'^COLLECTION_VERSION = ["\']([^"\']+)["\']', handle.read(), re.M)
    assert found, "COLLECTION_VERSION not found in plugins/module_utils/_version.py"
    assert galaxy["version"] == found.group(1), (
        "galaxy.yml version %s != COLLECTION_VERSION %s (the User-Agent)" % (galaxy["version"], found.group(1)))
    assert (galaxy["namespace"], galaxy["name"]) == ("telnyx", "sip")
