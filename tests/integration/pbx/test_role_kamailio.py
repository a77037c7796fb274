"""The sip_attach role over a fleet of three real Kamailio PBXs (sip_attach_pbx: kamailio) and the emulator.

Each PBX host is one Kamailio on 127.0.0.1 with its subscribers in SQLite, managed with its own kamctl
(tests/tools/kamailio_db_pbx.py), reached with the local connection. The role writes each trunk's subscriber
with kamctl, then the UAC connections on Telnyx (the emulator, through Prism), then checks from both sides:
Kamailio's location table (kamcmd ul.dump) and a test call per trunk that the emulator answers.
"""

import csv
import io
import sys

import pytest
import yaml

from tests.integration.conftest import PlaybookRunner
from tests.tools.kamailio_db_pbx import parse_ul_dump

pytestmark = [pytest.mark.integration]

APP = "assistant-3fa85f64-5717-4562-b3fc-2c963f66afa6"
HOSTS = ("kam1", "kam2", "kam3")


class Fleet:
    def __init__(self, tmp_path, pbxs, emulator):
        self.root = tmp_path / "inventory"
        self.reports = tmp_path / "reports"
        self.state = tmp_path / "pbx-state"
        self.pbxs = pbxs
        self.emulator = emulator
        self.runner = PlaybookRunner(tmp_path, emulator)
        (self.root / "group_vars").mkdir(parents=True)
        self.trunks = dict((host, [
            {"name": "main", "extension": "%d001" % (index + 1), "password": "{{ vault_%s_main }}" % host},
            {"name": "sales", "extension": "%d002" % (index + 1), "password": "{{ vault_%s_sales }}" % host},
        ]) for index, host in enumerate(HOSTS))
        self.secrets = dict(("vault_%s_%s" % (host, name), "Secret-%s-%s-pw" % (host, name))
                            for host in HOSTS for name in ("main", "sales"))
        self.write()

    def write(self):
        (self.root / "group_vars" / "pbx.yml").write_text(yaml.safe_dump(dict(self.secrets, sip_attach_pbx="kamailio")))
        hosts = {}
        for host, pbx in self.pbxs.items():
            hosts[host] = {
                "ansible_connection": "local", "ansible_python_interpreter": sys.executable,
                "sip_attach_kamailio_kamctl": pbx.kamctl, "sip_attach_kamailio_kamcmd": pbx.kamcmd,
                "sip_attach_pbx_state_dir": str(self.state / host),
                "sip_attach_defaults": {"transport": "UDP", "application": APP, "proxy": pbx.proxy},
                "sip_attach_trunks": self.trunks[host]}
        (self.root / "hosts.yml").write_text(yaml.safe_dump({"pbx": {"hosts": hosts}}))

    def run(self, *args, role_vars=None):
        role = {"role": "telnyx.sip.sip_attach", "vars": dict({
            "sip_attach_report_dir": str(self.reports), "sip_attach_registration_timeout": 30,
            "sip_attach_registration_poll_interval": 0.5}, **(role_vars or {}))}
        play = {"name": "sip attach", "hosts": "pbx", "gather_facts": False, "roles": [role]}
        return self.runner(play, "-i", str(self.root / "hosts.yml"), *args)

    def output(self, result):
        text = result.stdout + result.stderr
        for secret in self.secrets.values():
            assert secret not in text
        return text

    def rows(self):
        return list(csv.DictReader(io.StringIO((self.reports / "sip-attach-report.csv").read_text())))

    def connections(self):
        data = self.emulator.call("GET", "/uac_connections", params={"page[size]": 250}).json()["data"]
        return dict((conn["connection_name"], conn) for conn in data)


@pytest.fixture
def fleet(tmp_path, kamailio_pbxs, kamailio_emulator):
    return Fleet(tmp_path, dict(zip(HOSTS, kamailio_pbxs(3))), kamailio_emulator)


def locations(pbx):
    return parse_ul_dump(pbx.kamcmd_run("ul.dump").stdout)


def test_kamailio_fleet_both_sides_registered_calls_answered_then_nothing_to_change(fleet):
    result = fleet.run(role_vars={"sip_attach_verify_calls": True})
    assert result.rc == 0, fleet.output(result)
    for index, (host, pbx) in enumerate(fleet.pbxs.items()):
        assert sorted(pbx.subscribers()) == ["%d001" % (index + 1), "%d002" % (index + 1)], host
        assert sorted(locations(pbx)) == ["%d001@%s" % (index + 1, pbx.domain), "%d002@%s" % (index + 1, pbx.domain)]
    rows = fleet.rows()
    assert [(row["pbx_host"], row["trunk"], row["action"], row["registration_status"], row["pbx"],
             row["pbx_registration"], row["test_call"]) for row in rows] == [
        (host, name, "created", "Registered", "kamailio", "registered", "answered")
        for host in HOSTS for name in ("main", "sales")]
    calls = fleet.emulator.calls()
    assert sorted((call["connection_name"], call["destination_uri"], call["status"]) for call in calls) == sorted(
        ("%s-%s" % (host, trunk["name"]), "%s@%s.sip.telnyx.com" % (trunk["extension"], APP), 200)
        for host in HOSTS for trunk in fleet.trunks[host])
    count = len(fleet.emulator.requests())
    again = fleet.run()
    assert again.rc == 0, fleet.output(again)
    assert dict((host, stats["changed"]) for host, stats in again.stats.items()) == dict((host, 0) for host in HOSTS)
    assert [entry for entry in fleet.emulator.requests()[count:] if entry["method"] != "GET"] == []


def test_kamailio_foreign_subscriber_refused_vault_rotation_and_removal(fleet):
    kam3 = fleet.pbxs["kam3"]
    foreign = kam3.kamctl_run("add", "3001@%s" % kam3.domain, "Theirs-3001-pw")
    assert foreign.returncode == 0
    fleet.secrets["theirs"] = "Theirs-3001-pw"
    result = fleet.run()
    output = fleet.output(result)
    assert result.rc != 0
    assert "host kam3" in output and "subscriber" in output and "main" in output
    assert "host kam3: the PBX side failed, nothing of this host was sent to Telnyx" in output
    assert sorted(fleet.connections()) == ["kam1-main", "kam1-sales", "kam2-main", "kam2-sales"]
    assert sorted(kam3.subscribers()) == ["3001"]  # untouched, and nothing of ours was added
    # a password changed in the vault and a removed trunk reach both sides in one run
    count = len(fleet.emulator.requests())
    fleet.secrets["vault_kam1_main"] = "Changed-kam1-main-pw"
    fleet.trunks["kam2"].pop()
    fleet.write()
    rotated = fleet.run("--limit", "kam1,kam2", role_vars={"sip_attach_purge": True,
                                                           "sip_attach_purge_force_with_limit": True})
    assert rotated.rc == 0, fleet.output(rotated)
    writes = [entry for entry in fleet.emulator.requests()[count:] if entry["method"] != "GET"]
    assert sorted(entry["method"] for entry in writes) == ["DELETE", "PATCH"]
    assert [entry["body"]["external_uac_settings"]["password"] for entry in writes if entry["method"] == "PATCH"] \
        == ["Changed-kam1-main-pw"]
    assert sorted(fleet.pbxs["kam2"].subscribers()) == ["2001"]
    rows = dict((row["connection_name"], row) for row in fleet.rows())
    assert rows["kam1-main"]["action"] == "updated" and rows["kam1-main"]["pbx_registration"] == "registered"
