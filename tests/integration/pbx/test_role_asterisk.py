"""The sip_attach role over a fleet of three real Asterisk 22 PBXs (sip_attach_pbx: asterisk) and the emulator.

Each PBX host of the inventory is one Asterisk instance on 127.0.0.1 (its own config folder, its own CLI
command through chroot), reached with the local connection. The role writes each trunk's PJSIP account on
its PBX, then the UAC connections on Telnyx (the emulator, through Prism), then checks from both sides;
the emulator really registers to each Asterisk and answers the test calls.
"""

import json
import shutil
import sys
import threading
import time

from pathlib import Path

import pytest
import yaml

from tests.integration.pbx.fleet import APP, PbxFleet
from tests.tools.asterisk_pbx import parse_contacts

pytestmark = [pytest.mark.integration]

HOSTS = ("pbx1", "pbx2", "pbx3")


@pytest.fixture(scope="module")
def pbxs(asterisk_pbxs):
    return dict(zip(HOSTS, asterisk_pbxs(3)))


@pytest.fixture
def emulator(make_emulator):
    handle = make_emulator("--registration-delay", "0.2", "--sip-timeout", "1", "--registration-retry", "1",
                           fresh=True)
    return handle


class Fleet(PbxFleet):
    kind = "asterisk"

    def pbx_vars(self, host, pbx):
        return {"sip_attach_asterisk_config_dir": pbx.config_dir, "sip_attach_asterisk_cli": pbx.cli}


@pytest.fixture
def fleet(tmp_path, pbxs, emulator):
    fleet = Fleet(tmp_path, pbxs, emulator, dict((host, [
        {"name": "main", "extension": "%d001" % (index + 1), "password": "{{ vault_%s_main }}" % host},
        {"name": "sales", "extension": "%d002" % (index + 1), "username": "sales%d" % (index + 1),
         "password": "{{ vault_%s_sales }}" % host},
    ]) for index, host in enumerate(HOSTS)))
    yield fleet
    for pbx in pbxs.values():  # the next test starts from PBXs without the role's sections
        for name in ("sip_attach_pjsip.conf", "sip_attach_extensions.conf"):
            pbx.write_config(name, "")
        shutil.rmtree(Path(pbx.config_dir) / "sip_attach_auth", ignore_errors=True)
        pbx.reload_pjsip()
        pbx.command("dialplan reload")


def test_first_run_configures_both_sides_registers_and_answers_test_calls_then_changes_nothing(fleet, pbxs):
    result = fleet.run(role_vars={"sip_attach_verify_calls": True})
    output = fleet.output(result)
    assert result.rc == 0, output
    # the PBX side: every trunk's account, Telnyx registered as each
    for index, (host, pbx) in enumerate(pbxs.items()):
        contacts = parse_contacts(pbx.command("pjsip show contacts"))
        assert sorted(contacts) == sorted(["%d001" % (index + 1), "sales%d" % (index + 1)]), (host, contacts)
        with open("%s/pjsip.conf" % pbx.config_dir, encoding="utf-8") as handle:
            assert handle.read().count("#include sip_attach_pjsip.conf") == 1
        auth = Path(pbx.config_dir) / "sip_attach_auth"
        # readable by the group Asterisk runs as, never by others
        assert oct(auth.stat().st_mode & 0o777) == "0o750"
        assert [oct(path.stat().st_mode & 0o777) for path in auth.iterdir()] == ["0o640", "0o640"]
    # Telnyx's side agrees
    connections = fleet.connections()
    assert sorted(connections) == sorted("%s-%s" % (host, name) for host in HOSTS for name in ("main", "sales"))
    rows = fleet.rows()
    assert [(row["pbx_host"], row["trunk"], row["action"], row["registration_status"], row["pbx_registration"],
             row["test_call"]) for row in rows] == [
        (host, name, "created", "Registered", "registered", "answered") for host in HOSTS for name in ("main", "sales")]
    # one test call per trunk reached Telnyx, which routes it to the trunk's destination_uri
    calls = fleet.emulator.calls()
    assert sorted((call["connection_name"], call["destination_uri"], call["status"]) for call in calls) == sorted(
        ("%s-%s" % (host, name), "%s@%s.sip.telnyx.com" % (trunk["extension"], APP), 200)
        for host in HOSTS for name, trunk in zip(("main", "sales"), fleet.trunks[host]))
    # a second run changes nothing on either side
    mtimes = dict((pbx.name, (Path(pbx.config_dir) / "sip_attach_pjsip.conf").stat().st_mtime) for pbx in pbxs.values())
    count = len(fleet.emulator.requests())
    again = fleet.run()
    assert again.rc == 0, fleet.output(again)
    assert dict((host, stats["changed"]) for host, stats in again.stats.items()) == dict((host, 0) for host in HOSTS)
    assert fleet.writes_since(count) == []
    assert mtimes == dict((pbx.name, (Path(pbx.config_dir) / "sip_attach_pjsip.conf").stat().st_mtime)
                          for pbx in pbxs.values())
    assert [row["pbx_registration"] for row in fleet.rows()] == ["registered"] * 6


def test_a_foreign_section_and_an_unreachable_pbx_are_named_while_the_others_roll_out(fleet, pbxs):
    foreign = pbxs["pbx3"]
    foreign.write_config("pjsip.d/theirs.conf", "[3001]\ntype = aor\nmax_contacts = 1\n")
    try:
        hosts = yaml.safe_load((fleet.root / "hosts.yml").read_text())
        hosts["pbx"]["hosts"]["pbx4"] = {
            "ansible_host": "127.0.0.1", "ansible_port": 1, "ansible_connection": "ssh",
            "ansible_python_interpreter": sys.executable, "sip_attach_pbx": "asterisk",
            "sip_attach_defaults": {"transport": "UDP", "application": APP, "proxy": "127.0.0.1:9"},
            "sip_attach_trunks": [{"name": "main", "extension": "4001", "password": "Secret-pbx4-main-pw"}]}
        (fleet.root / "hosts.yml").write_text(yaml.safe_dump(hosts))
        fleet.secrets["pbx4"] = "Secret-pbx4-main-pw"
        result = fleet.run()
        output = fleet.output(result)
        assert result.rc != 0
        assert "host pbx3: %s/pjsip.d/theirs.conf line 1 defines [3001], which the sip_attach role does not own" \
            % foreign.config_dir in output
        assert "host pbx4: the PBX side failed, nothing of this host was sent to Telnyx: " in output
        assert sorted(fleet.connections()) == ["pbx1-main", "pbx1-sales", "pbx2-main", "pbx2-sales"]
        with open("%s/theirs.conf" % (foreign.config_dir + "/pjsip.d"), encoding="utf-8") as handle:
            assert handle.read() == "[3001]\ntype = aor\nmax_contacts = 1\n"
        actions = dict(((row["pbx_host"], row["trunk"]), (row["action"], row["error"])) for row in fleet.rows())
        assert actions[("pbx3", "main")][0] == "not sent" and "PBX side failed" in actions[("pbx3", "main")][1]
        assert actions[("pbx4", "main")][0] == "not sent"
        assert actions[("pbx1", "main")] == ("created", "")
    finally:
        (Path(foreign.config_dir) / "pjsip.d" / "theirs.conf").unlink()


def test_check_diff_shows_both_sides_without_a_password_and_changes_nothing(fleet, pbxs):
    result = fleet.run("--check", "--diff")
    output = fleet.output(result)
    assert result.rc == 0, output
    assert "sip_attach_pjsip.conf" in output and "[1001]" in output and "type = endpoint" in output
    assert "auth of trunk main (1001): created or changed (password hidden)" in output
    assert fleet.connections() == {}
    assert not (Path(pbxs["pbx1"].config_dir) / "sip_attach_auth").exists()
    assert [row["action"] for row in fleet.rows("sip-attach-drift-report")] == ["created"] * 6


def test_generated_passwords_rotate_without_the_contact_ever_disappearing(fleet, pbxs, tmp_path):
    for host in HOSTS:
        for trunk in fleet.trunks[host]:
            trunk.pop("password")
    fleet.write()
    password_dir = tmp_path / "passwords"
    first = fleet.run(role_vars={"sip_attach_password_dir": str(password_dir)})
    assert first.rc == 0, fleet.output(first)
    stored = password_dir / "pbx1" / "main"
    old = stored.read_text().strip()
    assert len(old) == 32 and oct(stored.stat().st_mode & 0o777) == "0o600"
    assert oct((password_dir / "pbx1").stat().st_mode & 0o777) == "0o700"
    fleet.secrets.update(("generated-%s" % path, path.read_text().strip())
                         for path in password_dir.glob("*/*"))
    pbx = pbxs["pbx1"]
    assert "1001" in parse_contacts(pbx.command("pjsip show contacts"))
    watching, gaps = [True], []

    def watch():
        while watching:
            if "1001" not in parse_contacts(pbx.command("pjsip show contacts")):
                gaps.append(time.monotonic())
            time.sleep(0.1)

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        fleet.trunks["pbx1"][0]["rotate"] = True
        fleet.write()
        rotated = fleet.run(role_vars={"sip_attach_password_dir": str(password_dir)})
        time.sleep(2)
    finally:
        watching.clear()
        watcher.join()
    assert rotated.rc == 0, fleet.output(rotated)
    new = stored.read_text().strip()
    assert new != old and len(new) == 32
    assert gaps == []
    assert new not in rotated.stdout + rotated.stderr
    # Telnyx got the new password: it registers with it; a REGISTER with the old one is refused
    row = [row for row in fleet.rows() if row["connection_name"] == "pbx1-main"][0]
    assert row["action"] == "updated" and row["pbx_registration"] == "registered"
    stale = fleet.emulator.call("POST", "/uac_connections", {
        "connection_name": "stale-1001", "external_uac_settings": {
            "proxy": pbx.proxy, "username": "1001", "password": old, "transport": "UDP"}})
    assert stale.status_code == 201
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        status = fleet.emulator.call("GET", "/sip_registration_status", params={
            "credential_type": "uac_external_credential", "connection_id": stale.json()["data"]["id"]}).json()
        if status.get("last_registration_response"):
            break
        time.sleep(0.3)
    assert status["registered"] is False and status["last_registration_response"].startswith("401"), status
    assert json.dumps(status).find(old) == -1


def test_a_password_changed_in_the_vault_and_a_removed_trunk_reach_both_sides(fleet, pbxs):
    first = fleet.run()
    assert first.rc == 0, fleet.output(first)
    count = len(fleet.emulator.requests())
    fleet.secrets["vault_pbx2_main"] = "Changed-pbx2-main-pw"
    removed = fleet.trunks["pbx1"].pop()
    fleet.write()
    result = fleet.run(role_vars={"sip_attach_purge": True})
    assert result.rc == 0, fleet.output(result)
    writes = fleet.writes_since(count)
    assert sorted(entry["method"] for entry in writes) == ["DELETE", "PATCH"]
    patch = [entry for entry in writes if entry["method"] == "PATCH"][0]
    assert patch["body"]["external_uac_settings"]["password"] == "Changed-pbx2-main-pw"
    assert sorted(fleet.connections()) == ["pbx1-main", "pbx2-main", "pbx2-sales", "pbx3-main", "pbx3-sales"]
    # the PBX side: the removed trunk's sections and credentials are gone, the changed one registers again
    pbx1 = pbxs["pbx1"]
    assert not (Path(pbx1.config_dir) / "sip_attach_auth" / ("%s.conf" % removed["username"])).exists()
    assert "Unable to find object %s" % removed["username"] in pbx1.command("pjsip show endpoint %s" % removed["username"])
    rows = dict((row["connection_name"], row) for row in fleet.rows())
    assert rows["pbx2-main"]["action"] == "updated" and rows["pbx2-main"]["pbx_registration"] == "registered"
    assert rows["pbx2-main"]["registration_status"] == "Registered"
    assert (rows["pbx1-sales"]["pbx_host"], rows["pbx1-sales"]["action"]) == ("", "deleted")
