"""Unit tests of the PBX half of the sip_attach filters: accounts, generated passwords, after the PBX side,
the checks, and the readers of what Asterisk prints (plugins/filter/sip_attach_pbx.py)."""

import pytest

from ansible.errors import AnsibleFilterError

from ansible_collections.telnyx.sip.plugins.filter import sip_attach as f
from ansible_collections.telnyx.sip.plugins.filter import sip_attach_pbx as p

pytestmark = pytest.mark.unit

APP = "cc-app-1"


def trunk(name, extension, **extra):
    return dict({"name": name, "extension": extension, "application": APP}, **extra)


def managed(**host):
    return dict({"sip_attach_pbx": "asterisk", "ansible_host": "pbx.example.net"}, **host)


def test_accounts_of_a_managed_pbx_carry_what_the_adapter_needs():
    hostvars = {"a": managed(sip_attach_trunks=[
        trunk("main", "1001", password="pw-main",
              settings={"dtmf_type": "SIP INFO", "inbound": {"codecs": ["G722", "G711U", "H.264"]}}),
        trunk("aux", "101", username="ext101", auth_username="auth101", password="pw-aux", proxy="sip:pbx:5070"),
        {"name": "old", "state": "absent"},
    ]), "b": {"sip_attach_trunks": [trunk("x", "2001", password="pw-x")]}}
    data = f.sip_attach_input(hostvars, ["a", "b"])
    assert data["problems"] == [] and data["pbx_hosts"] == ["a"]
    assert data["pbx"] == {"a": {"kind": "asterisk", "trunks": [
        dict(name="main", connection_name="a-main", state="present", username="1001", auth_username="1001",
             password="pw-main", domain="pbx.example.net", extension="1001", transport="UDP", port=5060,
             media_encryption=None, dtmf="SIP INFO", codecs=["g722", "ulaw"]),
        dict(name="aux", connection_name="a-aux", state="present", username="ext101", auth_username="auth101",
             password="pw-aux", domain="pbx", extension="101", transport="UDP", port=5070, media_encryption=None,
             dtmf=None, codecs=None),
        dict(name="old", connection_name="a-old", state="absent"),
    ]}}
    assert [row["pbx"] for row in data["rows"]] == ["asterisk", "asterisk", "asterisk", None]


def test_a_trunk_without_password_on_a_managed_pbx_needs_the_password_dir():
    hostvars = {"a": managed(sip_attach_trunks=[trunk("main", "1001")])}
    data = f.sip_attach_input(hostvars, ["a"])
    assert data["problems"] == [
        "host a, trunk main: password is missing: give one (a vault variable), or set sip_attach_password_dir so the "
        "role generates one for both the PBX and Telnyx"]
    data = f.sip_attach_input(hostvars, ["a"], password_dir="/srv/pw/")
    assert data["problems"] == []
    assert data["generate"] == [dict(connection_name="a-main", file="/srv/pw/a/main", rotate=False)]
    assert data["rows"][0]["password_source"] == "generated: /srv/pw/a/main (on the controller)"
    assert "password" not in data["connections"][0]["external_uac_settings"]
    rotated = f.sip_attach_input(hostvars, ["a"], password_dir="/srv/pw", rotate_passwords=True)
    assert rotated["generate"][0]["rotate"] is True


def test_a_trunk_not_on_a_managed_pbx_still_needs_its_password():
    data = f.sip_attach_input({"a": {"sip_attach_trunks": [trunk("main", "1001")]}}, ["a"], password_dir="/srv/pw")
    assert data["problems"] == ["host a, trunk main: password is missing (set it in the trunk or in "
                                "sip_attach_defaults)"]


def test_rotate_is_refused_for_a_password_from_the_inventory_and_a_bad_pbx_kind_is_named():
    data = f.sip_attach_input({"a": managed(sip_attach_trunks=[trunk("main", "1001", password="p", rotate=True)]),
                               "b": {"sip_attach_pbx": "freeswitch", "sip_attach_trunks": []}}, ["a", "b"],
                              password_dir="/srv/pw")
    assert data["problems"] == [
        "host b: sip_attach_pbx must be one of none, asterisk, kamailio, got 'freeswitch'",
        "host a, trunk main: rotate needs a generated password, and this one comes from the inventory: change it "
        "there (the role sets the new one on the PBX, then on Telnyx)"]


def test_play_level_pbx_kind_is_refused():
    data = f.sip_attach_input({"a": {"sip_attach_trunks": []}}, ["a"], play_host="a", play_trunks=[],
                              play_defaults={}, play_pbx="asterisk")
    assert data["problems"][0].startswith("sip_attach_pbx is set in the play")


def generated_input():
    hostvars = {"a": managed(sip_attach_trunks=[trunk("main", "1001"), trunk("aux", "1002", password="given")]),
                "b": managed(sip_attach_pbx="kamailio", sip_attach_trunks=[trunk("x", "2001")]),
                "c": {"sip_attach_trunks": [trunk("y", "3001", password="pw-y")]}}
    return f.sip_attach_input(hostvars, ["a", "b", "c"], password_dir="/srv/pw")


def test_generated_passwords_reach_both_sides_and_check_mode_gets_a_placeholder():
    data = f.sip_attach_with_passwords(generated_input(), {"a-main": "G" * 32})
    connections = dict((item["connection_name"], item["external_uac_settings"].get("password"))
                       for item in data["connections"])
    assert connections == {"a-main": "G" * 32, "a-aux": "given", "b-x": f.PLACEHOLDER_PASSWORD, "c-y": "pw-y"}
    accounts = dict((account["name"], account["password"]) for host in data["pbx"].values()
                    for account in host["trunks"])
    assert accounts == {"main": "G" * 32, "aux": "given", "x": f.PLACEHOLDER_PASSWORD}
    with pytest.raises(AnsibleFilterError):
        f.sip_attach_with_passwords(generated_input(), ["not", "a", "dict"])


def test_after_the_pbx_side_failed_hosts_are_left_out_and_changed_passwords_are_sent():
    data = f.sip_attach_with_passwords(generated_input(), {"a-main": "G" * 32, "b-x": "X" * 32})
    hostvars = {"a": {"_sip_attach_pbx_outcome": {"password_changed": ["main"]}},
                "b": {"_sip_attach_pbx_failed": "unreachable: ssh refused"}, "c": {}}
    after = f.sip_attach_after_pbx(data, hostvars, ["a", "b", "c"], wait_for_registration=True)
    assert after["pbx_failed"] == {"b": "unreachable: ssh refused"}
    # only the failed host's own connections are held back from purge
    purged = f.sip_attach_after_pbx(dict(data, purge_owners=["a", "b", "c"]), hostvars, ["a", "b", "c"])
    assert purged["purge_owners"] == ["a", "c"] and purged["purge_held"] is False
    alone = f.sip_attach_after_pbx(dict(data, purge_owners=["b"]), hostvars, ["a", "b", "c"])
    assert alone["purge_owners"] == [] and alone["purge_held"] is True
    items = dict((item["connection_name"], item) for item in after["connections"])
    assert sorted(items) == ["a-aux", "a-main", "c-y"]
    assert items["a-main"]["update_password"] == "always" and items["a-main"]["wait_for_registration"] is True
    assert "update_password" not in items["a-aux"] and items["a-aux"]["wait_for_registration"] is True
    assert "wait_for_registration" not in items["c-y"]
    # a managed host that left the play (it failed during the PBX side) counts as failed
    gone = f.sip_attach_after_pbx(data, {"a": {}, "b": {}, "c": {}}, ["b", "c"])
    assert sorted(gone["pbx_failed"]) == ["a"] and sorted(i["connection_name"] for i in gone["connections"]) == \
        ["b-x", "c-y"]


def test_pbx_checks_and_problems_name_hosts_trunks_and_calls():
    hostvars = {"a": {"_sip_attach_pbx_view": {"main": "registered", "aux": "not registered: no contact"},
                      "_sip_attach_pbx_calls": {"main": "answered", "aux": "SIP 480 Temporarily Unavailable"}},
                "b": {"_sip_attach_pbx_failed": "unreachable"}}
    checks = f.sip_attach_pbx_checks(hostvars, ["a", "b"])
    assert checks["b"] == dict(failed="unreachable", registration={}, calls={})
    assert checks["a"]["failed"] is None
    assert f.sip_attach_pbx_problems(checks) == [
        "host a, trunk aux: the PBX does not see Telnyx registered (not registered: no contact)",
        "host b: the PBX side failed, nothing of this host was sent to Telnyx: unreachable"]
    assert f.sip_attach_pbx_problems(checks, verify_calls=True)[1] == \
        "host a, trunk aux: the test call was not answered (SIP 480 Temporarily Unavailable)"
    rows = f.join_result([dict(pbx_host="a", trunk="main", connection_name="a-main", error=None, action=None),
                          dict(pbx_host="b", trunk="x", connection_name="b-x", error=None, action=None)],
                         {"results": [{"connection_name": "a-main", "action": "created"}]}, checks)
    assert [(row["action"], row["pbx_registration"], row["test_call"], row["error"]) for row in rows] == [
        ("created", "registered", "answered", None), ("not sent", None, None, "PBX side failed: unreachable")]


PRESENT = [dict(name="main", username="1001", state="present"), dict(name="aux", username="sales1", state="present"),
           dict(name="old", state="absent")]


def test_asterisk_foreign_sections_are_named_with_their_file_and_line():
    grep = "\n".join([
        "/etc/asterisk/pjsip.conf:10:[transport-udp]",
        "/etc/asterisk/pjsip.conf:20:[1001]",
        "/etc/asterisk/sip_attach_pjsip.conf:9:[1001]",
        "/etc/asterisk/sip_attach_auth/1001.conf:3:[1001-auth]",
        "/etc/asterisk/extensions.conf:40:[sip-attach-routes]",
        "/etc/asterisk/users.conf:5:[sales1-auth](!)",
    ])
    assert p.sip_attach_asterisk_foreign(grep, PRESENT, "pbx1", "/etc/asterisk") == [
        "host pbx1: /etc/asterisk/pjsip.conf line 20 defines [1001], which the sip_attach role does not own; trunk "
        "main needs it (PJSIP finds Telnyx's REGISTER by the user 1001). Rename or remove that section, or give the "
        "trunk another username: the role never overwrites it.",
        "host pbx1: /etc/asterisk/extensions.conf line 40 defines [sip-attach-routes], which the sip_attach role does "
        "not own; the role keeps its dialplan there. Rename or remove that section, or give the trunk another "
        "username: the role never overwrites it.",
        "host pbx1: /etc/asterisk/users.conf line 5 defines [sales1-auth], which the sip_attach role does not own; "
        "trunk aux keeps its credentials there. Rename or remove that section, or give the trunk another username: "
        "the role never overwrites it.",
    ]
    assert p.sip_attach_asterisk_foreign("", PRESENT, "pbx1", "/etc/asterisk") == []


def test_asterisk_view_from_pjsip_show_contacts():
    contacts = """
  Contact:  <Aor/ContactUri..............................> <Hash....> <Status> <RTT(ms)..>
==========================================================================================

  Contact:  1001/sip:1001@127.0.0.1:40123;transport=udp    5a1c9d7e31 NonQual         nan

Objects found: 1
"""
    assert p.sip_attach_asterisk_view(contacts, PRESENT) == {
        "main": "registered", "aux": "not registered: Asterisk has no contact for sales1"}
    assert p.sip_attach_asterisk_view("No objects found.", PRESENT)["main"].startswith("not registered")
    with pytest.raises(AnsibleFilterError):
        p.sip_attach_asterisk_view(None, PRESENT)


def test_asterisk_calls_count_only_what_the_roles_route_carried():
    database = ("/sip_attach_test/call/1001                       : ANSWER|\n"
                "/sip_attach_test/end/1001                        : ANSWER\n"
                "/sip_attach_test/call/sales1                     : CHANUNAVAIL|SIP 480 Temporarily Unavailable\n"
                "2 results found.")
    assert p.sip_attach_asterisk_calls(database, PRESENT) == {
        "main": "answered", "aux": "SIP 480 Temporarily Unavailable (CHANUNAVAIL)"}
    assert p.sip_attach_asterisk_calls("", PRESENT) == {
        "main": "no outcome: the test call did not end in time", "aux": "no outcome: the test call did not end in time"}
    # answered, but by whatever the PBX's own dialplan sent it to (a catch-all to a carrier): never "answered"
    elsewhere = "/sip_attach_test/end/1001 : ANSWER\n/sip_attach_test/end/sales1 : CHANUNAVAIL\n"
    trunks = [dict(PRESENT[0], extension="1001"), dict(PRESENT[1], extension="2002")]
    assert p.sip_attach_asterisk_calls(elsewhere, trunks, "from-phones") == {
        "main": "not answered by Telnyx: the call to 1001 in context from-phones did not take the role's route (it "
                "ended ANSWER elsewhere in the dialplan)",
        "aux": "not answered by Telnyx: the call to 2002 in context from-phones did not take the role's route (it "
               "ended CHANUNAVAIL elsewhere in the dialplan)"}
