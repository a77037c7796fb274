"""The sip_attach role over a fleet of three real Kamailio PBXs (sip_attach_pbx: kamailio) and the emulator.

Each PBX host is one Kamailio on 127.0.0.1 with its subscribers in SQLite, managed with its own kamctl
(tests/tools/kamailio_db_pbx.py), reached with the local connection. The role writes each trunk's subscriber
with kamctl, then the UAC connections on Telnyx (the emulator, through Prism), then checks from both sides:
Kamailio's location table (kamcmd ul.dump) and a test call per trunk that the emulator answers.
"""

import pytest

from tests.integration.pbx.fleet import APP, PbxFleet
from tests.tools.kamailio_db_pbx import parse_ul_dump

pytestmark = [pytest.mark.integration]

HOSTS = ("kam1", "kam2", "kam3")


class Fleet(PbxFleet):
    kind = "kamailio"

    def pbx_vars(self, host, pbx):
        return {"sip_attach_kamailio_kamctl": pbx.kamctl, "sip_attach_kamailio_kamcmd": pbx.kamcmd,
                "sip_attach_pbx_state_dir": str(self.tmp_path / "pbx-state" / host)}


@pytest.fixture
def fleet(tmp_path, kamailio_pbxs, kamailio_emulator):
    return Fleet(tmp_path, dict(zip(HOSTS, kamailio_pbxs(3))), kamailio_emulator, dict((host, [
        {"name": "main", "extension": "%d001" % (index + 1), "password": "{{ vault_%s_main }}" % host},
        {"name": "sales", "extension": "%d002" % (index + 1), "password": "{{ vault_%s_sales }}" % host},
    ]) for index, host in enumerate(HOSTS)))


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
    assert fleet.writes_since(count) == []


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
    rotated = fleet.run("--limit", "kam1,kam2", role_vars={"sip_attach_purge": True})
    assert rotated.rc == 0, fleet.output(rotated)
    writes = fleet.writes_since(count)
    assert sorted(entry["method"] for entry in writes) == ["DELETE", "PATCH"]
    assert [entry["body"]["external_uac_settings"]["password"] for entry in writes if entry["method"] == "PATCH"] \
        == ["Changed-kam1-main-pw"]
    assert sorted(fleet.pbxs["kam2"].subscribers()) == ["2001"]
    rows = dict((row["connection_name"], row) for row in fleet.rows())
    assert rows["kam1-main"]["action"] == "updated" and rows["kam1-main"]["pbx_registration"] == "registered"
