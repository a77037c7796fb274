"""Integration tests of where the sip_attach role takes its input from, and what it refuses.

Real ansible-playbook runs against the emulator (through Prism), on a small inventory of three PBX hosts.
Each test asserts the exact requests the emulator received: a refused run sends none at all.
"""

import csv
import io
import json

import pytest
import yaml

pytestmark = [pytest.mark.integration]

APP = "assistant-3fa85f64-5717-4562-b3fc-2c963f66afa6"
ROLE = "telnyx.sip.sip_attach"
LIST = ("GET", "/v2/uac_connections")


def trunk(name, extension, **extra):
    return dict({"name": name, "extension": extension, "password": "{{ vault_%s }}" % name}, **extra)


class Inventory:
    """host_vars files in tmp_path, a vault-like group_vars file, and a play that runs the role."""

    def __init__(self, tmp_path, run_playbook, emulator):
        self.root = tmp_path / "inventory"
        self.reports = tmp_path / "reports"
        self.run_playbook = run_playbook
        self.emulator = emulator
        self.seen = 0  # requests before this count are not the test's
        (self.root / "host_vars").mkdir(parents=True)
        (self.root / "group_vars").mkdir()
        self.secrets = dict(("vault_%s" % name, "Secret-%s-pw" % name)
                            for name in ("main", "second", "aux", "reception", "sales"))
        self.dump("group_vars/pbx.yml", dict(self.secrets, sip_attach_defaults={"transport": "TCP", "application": APP}))
        self.dump("hosts.yml", {"pbx": {"hosts": {"pbx1": None, "pbx2": None, "pbx3": None}}})

    def dump(self, relative, data):
        (self.root / relative).write_text(yaml.safe_dump(data, sort_keys=False))

    def host(self, name, **variables):
        self.dump("host_vars/%s.yml" % name, variables)

    def run(self, *args, role_vars=None, play_vars=None, role_params=None):
        role = dict({"role": ROLE}, **(role_params or {}))
        role["vars"] = dict({"sip_attach_report_dir": str(self.reports)}, **(role_vars or {}))
        play = {"name": "sip attach", "hosts": "pbx", "gather_facts": False, "roles": [role]}
        if play_vars:
            play["vars"] = play_vars
        return self.run_playbook(play, "-i", str(self.root / "hosts.yml"), *args)

    def output(self, result):
        text = result.stdout + result.stderr
        for secret in self.secrets.values():
            assert secret not in text
        return text

    def requests(self):
        """The requests the emulator received since the last mark()."""
        return [(entry["method"], entry["path"]) for entry in self.emulator.requests()[self.seen:]]

    def writes(self):
        return [entry for entry in self.emulator.requests()[self.seen:] if entry["method"] != "GET"]

    def mark(self):
        self.seen = len(self.emulator.requests())

    def report_rows(self):
        return list(csv.DictReader(io.StringIO((self.reports / "sip-attach-report.csv").read_text())))

    def connection_names(self):
        listed = self.emulator.call("GET", "/uac_connections", params={"page[size]": 250}).json()["data"]
        return sorted(conn["connection_name"] for conn in listed)


@pytest.fixture
def inventory(tmp_path, run_playbook, emulator):
    return Inventory(tmp_path, run_playbook, emulator)


@pytest.fixture
def rolled_out(inventory, emulator):
    """pbx1 (main, second) and pbx2 (aux) rolled out; pbx3 states it has no trunks. The request log is cleared."""
    inventory.host("pbx1", sip_attach_trunks=[trunk("main", "1001"), trunk("second", "1002")])
    inventory.host("pbx2", sip_attach_trunks=[trunk("aux", "2001")])
    inventory.host("pbx3", sip_attach_trunks=[])
    result = inventory.run()
    assert result.rc == 0, result.stdout + result.stderr
    assert inventory.connection_names() == ["pbx1-main", "pbx1-second", "pbx2-aux"]
    inventory.mark()
    return inventory


MOVE_IT = "Put sip_attach_trunks in host_vars/<host>.yml, the inventory or group_vars (or -e for one run)."


@pytest.mark.parametrize("where", ["role_vars", "play_vars", "role_params"])
def test_trunks_given_as_play_or_role_input_with_purge_are_refused_and_nothing_is_deleted(rolled_out, where):
    """The case that deleted a fleet: no inventory trunks, trunks in the play, purge on."""
    for host in ("pbx1", "pbx2", "pbx3"):
        rolled_out.host(host)
    given = {"sip_attach_trunks": [trunk("main", "1001", transport="UDP")]}
    if where == "role_vars":
        result = rolled_out.run(role_vars=dict(given, sip_attach_purge=True))
    else:
        result = rolled_out.run(role_vars={"sip_attach_purge": True}, **{where: given})
    assert result.rc != 0
    output = rolled_out.output(result)
    assert "sip_attach_trunks is set in the play (play vars, role vars or role parameters)" in output
    assert MOVE_IT in output
    assert rolled_out.requests() == []
    assert rolled_out.connection_names() == ["pbx1-main", "pbx1-second", "pbx2-aux"]


def test_role_vars_beside_inventory_trunks_are_refused_not_ignored(rolled_out):
    result = rolled_out.run(role_vars={"sip_attach_trunks": [trunk("main", "1001", transport="UDP")]})
    assert result.rc != 0
    assert MOVE_IT in rolled_out.output(result)
    assert rolled_out.requests() == []


def test_defaults_given_as_role_vars_are_refused(rolled_out):
    result = rolled_out.run(role_vars={"sip_attach_defaults": {"transport": "UDP", "application": APP}})
    assert result.rc != 0
    assert "sip_attach_defaults is set in the play" in rolled_out.output(result)
    assert rolled_out.requests() == []


def test_extra_vars_trunks_are_honoured_for_every_host(inventory, emulator):
    for host in ("pbx1", "pbx2", "pbx3"):
        inventory.host(host, ansible_host="%s.example.net" % host)
    extra = json.dumps({"sip_attach_trunks": [{"name": "main", "extension": "1001", "password": "Extra-pw-1001"}]})
    result = inventory.run("-e", extra)
    assert result.rc == 0, result.stdout + result.stderr
    assert inventory.requests() == [LIST] + [("POST", "/v2/uac_connections")] * 3
    bodies = dict((entry["body"]["connection_name"], entry["body"]) for entry in inventory.writes())
    assert sorted(bodies) == ["pbx1-main", "pbx2-main", "pbx3-main"]
    assert bodies["pbx2-main"]["external_uac_settings"]["proxy"] == "pbx2.example.net"
    assert "Extra-pw-1001" not in result.stdout + result.stderr


def test_a_misspelt_variable_is_warned_about_and_purge_spares_that_host(rolled_out):
    rolled_out.host("pbx1", sip_attach_trunk=[trunk("main", "1001"), trunk("second", "1002")])
    result = rolled_out.run(role_vars={"sip_attach_purge": True})
    assert result.rc != 0
    output = rolled_out.output(result)
    assert ("sip_attach_trunk is not a variable of the telnyx.sip.sip_attach role (did you mean "
            "sip_attach_trunks?); the role ignores it (host pbx1)") in output
    assert "sip_attach_purge would delete the connections of hosts that do not define sip_attach_trunks: pbx1." \
        in output
    assert rolled_out.requests() == []
    assert rolled_out.connection_names() == ["pbx1-main", "pbx1-second", "pbx2-aux"]


def test_an_explicit_empty_list_purges_that_hosts_connections_only(rolled_out, emulator):
    rolled_out.host("pbx2", sip_attach_trunks=[])
    result = rolled_out.run(role_vars={"sip_attach_purge": True})
    assert result.rc == 0, result.stdout + result.stderr
    aux_id = [row["id"] for row in rolled_out.report_rows() if row["connection_name"] == "pbx2-aux"]
    assert rolled_out.requests() == [LIST, ("DELETE", "/v2/uac_connections/%s" % aux_id[0])]
    assert rolled_out.connection_names() == ["pbx1-main", "pbx1-second"]


def test_purge_of_a_play_whose_hosts_all_state_no_trunk_takes_them_off_telnyx(rolled_out):
    for host in ("pbx1", "pbx2"):
        rolled_out.host(host, sip_attach_trunks=[])
    result = rolled_out.run(role_vars={"sip_attach_purge": True})
    assert result.rc == 0, result.stdout + result.stderr
    deleted = [row["id"] for row in rolled_out.report_rows() if row["action"] == "deleted"]
    assert len(deleted) == 3
    assert sorted(rolled_out.requests()) == sorted([LIST] + [("DELETE", "/v2/uac_connections/%s" % conn_id)
                                                             for conn_id in deleted])
    assert rolled_out.connection_names() == []


def test_a_three_digit_extension_is_refused_in_a_few_lines_and_the_report_says_not_sent(inventory):
    inventory.host("pbx1", sip_attach_trunks=[trunk("reception", "101"), trunk("main", "1001")])
    inventory.host("pbx2", sip_attach_trunks=[trunk("sales", "2001", transport="tcp")])
    inventory.host("pbx3", sip_attach_trunks=[])
    result = inventory.run()
    assert result.rc != 0
    output = inventory.output(result)
    message = ("Nothing was sent: 2 problems in the input of the sip_attach role.\\n"
               "- host pbx1, trunk reception: username must be at least 4 characters long, got 3; the username "
               "defaults to the extension: set username in the trunk (for example ext101) and use the same user on "
               "the PBX\\n"
               "- host pbx2, trunk sales: transport must be one of UDP, TCP, TLS (in upper case), got 'tcp'")
    assert message in output
    failures = [line for line in output.splitlines() if line.startswith("fatal:")]
    assert failures and all(len(line) < 800 for line in failures), failures
    assert inventory.requests() == []
    rows = inventory.report_rows()
    assert [(row["pbx_host"], row["trunk"], row["action"]) for row in rows] == [
        ("pbx1", "reception", "not sent"), ("pbx1", "main", "not sent"), ("pbx2", "sales", "not sent")]
    assert rows[0]["error"].startswith("username must be at least 4 characters long, got 3")
    assert rows[2]["error"] == "transport must be one of UDP, TCP, TLS (in upper case), got 'tcp'"
    markdown = (inventory.reports / "sip-attach-report.md").read_text()
    assert "- PBX hosts: 2; trunks: 3" in markdown and "- not sent: 3" in markdown


def test_the_report_of_a_run_the_api_refused_names_every_trunk_not_sent(inventory, run_playbook, make_emulator):
    refusing = make_emulator("--revoked-key", "KEY-revoked", fresh=True)
    inventory.host("pbx1", sip_attach_trunks=[trunk("main", "1001")])
    inventory.host("pbx2", sip_attach_trunks=[trunk("aux", "2001")])
    inventory.host("pbx3", sip_attach_trunks=[])
    play = {"name": "sip attach", "hosts": "pbx", "gather_facts": False,
            "roles": [{"role": ROLE, "vars": {"sip_attach_report_dir": str(inventory.reports)}}]}
    result = run_playbook(play, "-i", str(inventory.root / "hosts.yml"), api_key="KEY-revoked",
                          base_url=refusing.api_url)
    assert result.rc != 0
    assert "403" in inventory.output(result)
    rows = inventory.report_rows()
    assert [(row["pbx_host"], row["action"]) for row in rows] == [("pbx1", "not sent"), ("pbx2", "not sent")]
    markdown = (inventory.reports / "sip-attach-report.md").read_text()
    assert "**The run failed**: " in markdown and "403" in markdown
    assert "- PBX hosts: 2; trunks: 2" in markdown and "- not sent: 2" in markdown


def test_converge_twice_the_second_run_is_changed_0_on_every_host(inventory):
    inventory.host("pbx1", sip_attach_trunks=[trunk("main", "1001"), trunk("second", "1002")])
    inventory.host("pbx2", sip_attach_trunks=[trunk("aux", "2001")])
    inventory.host("pbx3", sip_attach_trunks=[])
    first = inventory.run()
    assert first.rc == 0, first.stdout + first.stderr
    assert sum(stats["changed"] for stats in first.stats.values()) > 0
    before = (inventory.reports / "sip-attach-report.md").read_text()
    second = inventory.run()
    assert second.rc == 0, second.stdout + second.stderr
    assert dict((host, stats["changed"]) for host, stats in second.stats.items()) == \
        {"pbx1": 0, "pbx2": 0, "pbx3": 0}
    # the report was still rewritten: it describes the second run
    after = (inventory.reports / "sip-attach-report.md").read_text()
    assert "- created: 3" in before and "- unchanged: 3" in after and "- created: 0" in after
