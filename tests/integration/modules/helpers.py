"""Shared pieces of the module integration tests: task builders, the example connection, log views.

The tests run real ``ansible-playbook`` against the emulator (through Prism when the contract check is
on) and read what the emulator logged. Several checks share one playbook run where that keeps a test
readable: each run costs one to two seconds.
"""

import copy

CONNECTION = "telnyx.sip.uac_connection"
INFO = "telnyx.sip.uac_connection_info"
FLEET = "telnyx.sip.uac_connections"

LIST_PATH = "/v2/uac_connections"
PAGE = {"page[size]": "250", "page[number]": "1"}
MASK = "********"
CLEAR_API_KEY = "sk-clear-KEY-4e2b9a7d31c0"  # the key of the clear-password emulator (conftest.py)

PBX_PASSWORD = "pbx-Secret-1006"
# The README's example: PBX extension 1006 attached to an AI Assistant.
FULL_EXAMPLE = {
    "connection_name": "pbx-hq-1006",
    "external_uac_settings": {
        "proxy": "sip:pbx.example.com:5060",
        "transport": "TCP",
        "username": "1006",
        "password": PBX_PASSWORD,
    },
    "internal_uac_settings": {"destination_uri": "1006@assistant-abc123.sip.telnyx.com"},
}
# The external settings the API keeps readable, as a PATCH must carry them whole.
FULL_EXTERNAL_READABLE = {"proxy": "sip:pbx.example.com:5060", "transport": "TCP", "username": "1006"}


def example(**overrides):
    """A deep copy of FULL_EXAMPLE; ``external=`` dict entries are merged into external_uac_settings."""
    params = copy.deepcopy(FULL_EXAMPLE)
    params["external_uac_settings"].update(overrides.pop("external", {}))
    params.update(overrides)
    return params


def task(name, module, params=None, fails=False, **keywords):
    """One task registering its result as a variable named after the task (dashes become underscores).

    ``fails=True`` adds ``ignore_errors`` so that the play goes on; ``keywords`` are task keywords such as
    ``check_mode=True`` or ``diff=True``.
    """
    entry = {"name": name, module: params if params is not None else {}, "register": var_name(name)}
    if fails:
        entry["ignore_errors"] = True
    entry.update(keywords)
    return entry


def var_name(name):
    return name.replace("-", "_").replace(" ", "_")


def connection(name, params, **keywords):
    return task(name, CONNECTION, params, **keywords)


def info(name, params=None, **keywords):
    return task(name, INFO, params, **keywords)


def fleet(name, params, **keywords):
    return task(name, FLEET, params, **keywords)


def assert_ran(result):
    """The playbook reached its end (failed tasks ignored where the test expects them)."""
    assert result.rc == 0, result.stdout + result.stderr
    assert result.stats["localhost"]["failures"] == 0


def failed(result, name, changed=False):
    """The result of a task that must have failed (with ignore_errors)."""
    outcome = result.task(name)
    assert outcome.get("failed") is True, outcome
    assert outcome["changed"] is changed, outcome
    return outcome


def create(emulator, name, **body):
    """Create a connection straight through the API (set-up, not under test); returns its data."""
    response = emulator.call("POST", "/uac_connections", dict(body, connection_name=name), direct=True)
    assert response.status_code == 201, response.text
    return response.json()["data"]


def read(emulator, connection_id):
    """A connection as the emulator holds it now."""
    response = emulator.call("GET", "/uac_connections/%s" % connection_id, direct=True)
    assert response.status_code == 200, response.text
    return response.json()["data"]


def list_all(emulator):
    """Every connection, oldest first (read directly, one page of up to 250)."""
    response = emulator.call("GET", "/uac_connections", params={"sort": "created_at", "page[size]": 250},
                             direct=True)
    assert response.status_code == 200, response.text
    return response.json()["data"]


class Log:
    """The emulator's request log from a mark on: what a playbook run sent."""

    def __init__(self, emulator):
        self.emulator = emulator
        self.start = len(emulator.requests())

    def entries(self):
        return self.emulator.requests()[self.start:]

    def calls(self):
        """(method, path) of every request since the mark, in order."""
        return [(entry["method"], entry["path"]) for entry in self.entries()]

    def writes(self):
        return [entry for entry in self.entries() if entry["method"] in ("POST", "PATCH", "PUT", "DELETE")]


def item_path(connection_id):
    return "%s/%s" % (LIST_PATH, connection_id)


def name_query(name):
    """The query of a look-up by name: the API's substring filter, then exact matching in the module."""
    return dict(PAGE, **{"filter[connection_name][contains]": name})


def debug(var):
    """A task printing a registered variable."""
    return {"name": "show %s" % var, "ansible.builtin.debug": {"var": var}}
