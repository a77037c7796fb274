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


# -- the Asterisk preflight: what a host is, and why the role must not write on it --

SETTINGS = """
PBX Core settings
-----------------
  Version:                     22.10.1
  User name and group:         asterisk/asterisk
"""
TRANSPORTS = """
Transport:  <TransportId........>  <Type>  <cos>  <tos>  <BindAddress....................>
==========================================================================================

Transport:  transport-tcp             tcp      0      0  0.0.0.0:5060
Transport:  transport-udp             udp      0      0  0.0.0.0:5060
Transport:  transport-tls             tls      0      0  0.0.0.0:5061
"""
RES_PJSIP = """Module                         Description                              Use Count  Status      Support Level
res_pjsip.so                   Basic SIP resource                       49         Running              core
1 modules loaded"""
NO_CHAN_SIP = "Module   Description   Use Count  Status      Support Level\n0 modules loaded"
CATCH_ALL = """[ Context 'from-internal' created by 'pbx_config' ]
  '_X.' =>          1. Dial(PJSIP/${EXTEN}@carrier)               [extensions.conf:12]

[ Included context 'sip-attach-routes' created by 'pbx_config' ]
  '1001' =>         1. NoOp(sip_attach: trunk main to Telnyx)    [sip_attach_extensions.conf:8]
"""
OURS_FIRST = """[ Context 'from-internal' created by 'pbx_config' ]
[ Included context 'sip-attach-routes' created by 'pbx_config' ]
  '1001' =>         1. NoOp(sip_attach: trunk main to Telnyx)    [sip_attach_extensions.conf:8]

[ Included context 'ext-local' created by 'pbx_config' ]
  '_1XXX' =>        1. Dial(PJSIP/${EXTEN})                       [extensions_additional.conf:99]
"""
CONTEXT = """[ Context 'from-internal' created by 'pbx_config' ]
  '100' =>          1. Answer()                                   [extensions.conf:20]
  Include =>        'sip-attach-routes'                           [pbx_config]
"""
AST_TRUNKS = [dict(name="main", username="1001", extension="1001", password="pw;with-semicolon", transport="UDP",
                   port=5060, state="present"),
              dict(name="old", state="absent")]


def probe(**parts):
    """The output of the role's probe script (roles/sip_attach/templates/asterisk/probe.sh.j2) with these parts."""
    values = {"core show version": "Asterisk 22.10.1+dfsg built by nobody", "core show settings": SETTINGS,
              "module show like res_pjsip.so": RES_PJSIP, "module show like chan_sip.so": NO_CHAN_SIP,
              "pjsip show transports": TRANSPORTS, "dialplan show from-internal": CONTEXT,
              "dialplan show 1001@from-internal": "There is no existence of 1001@from-internal extension",
              "owner": "asterisk asterisk", "run group": "asterisk", "freepbx": "no"}
    values.update((key if " " in key else key.replace("_", " "), value) for key, value in parts.items())
    return "\n".join("@@sip_attach@@ %s\n%s" % (label, text) for label, text in values.items())


def preflight(output, trunks=None, **options):
    return p.sip_attach_asterisk_preflight(output, AST_TRUNKS if trunks is None else trunks, "pbx1", **options)


def test_preflight_of_a_stock_asterisk_22_finds_the_transport_and_nothing_wrong():
    result = preflight(probe())
    assert result["problems"] == []
    assert (result["version"], result["user"], result["group"], result["owner"]) == (
        "22.10.1+dfsg", "asterisk", "asterisk", "asterisk")
    assert result["transports"] == {"1001": "transport-udp"}
    assert (result["flavor"], result["route_context"]) == ("asterisk", "from-internal")
    assert result["include_files"] == {"pjsip": "pjsip.conf", "extensions": "extensions.conf"}
    tls = [dict(AST_TRUNKS[0], transport="TLS", port=5061)]
    assert preflight(probe(), tls)["transports"] == {"1001": "transport-tls"}


def test_preflight_refuses_what_it_cannot_configure_safely_naming_host_trunk_and_reason():
    assert preflight(probe(core_show_version="Unable to connect to remote asterisk (does /run/asterisk/asterisk.ctl "
                                             "exist?)"))["problems"] == [
        "host pbx1: Asterisk does not answer its CLI (core show version): Unable to connect to remote asterisk (does "
        "/run/asterisk/asterisk.ctl exist?)"]
    assert preflight(probe(core_show_version="Asterisk 18.20.0"))["problems"] == [
        "host pbx1: Asterisk 18.20.0 is not a version the role supports (22: the versions its tests run)"]
    assert preflight(probe(**{"module show like res_pjsip.so": "0 modules loaded"}))["problems"][0].startswith(
        "host pbx1: res_pjsip.so is not loaded")
    tcp_only = "Transport:  transport-tcp             tcp      0      0  0.0.0.0:5060"
    assert preflight(probe(pjsip_show_transports=tcp_only))["problems"] == [
        "host pbx1: trunk main: no PJSIP transport of type udp listens on port 5060, where Telnyx registers "
        "(transports: transport-tcp tcp 0.0.0.0:5060). Add one in pjsip.conf, or fix the trunk's proxy or transport."]
    chan_sip = preflight(probe(**{"module show like chan_sip.so": "chan_sip.so  SIP  0 Running\n1 modules loaded",
                                  "sip show settings": "  UDP Bindaddress:        0.0.0.0:5060"}))["problems"]
    assert chan_sip == ["host pbx1: trunk main: chan_sip.so owns port 5060, where Telnyx registers (UDP): move it or "
                        "unload chan_sip"]


def test_preflight_refuses_a_route_the_pbxs_own_dialplan_takes_first_naming_pattern_file_and_line():
    problems = preflight(probe(**{"dialplan show 1001@from-internal": CATCH_ALL}))["problems"]
    assert problems == [
        "host pbx1: trunk main: a call to 1001 in context from-internal would take '_X.' in context from-internal "
        "(extensions.conf line 12), not the role's route to Telnyx (Asterisk searches a context's own extensions, "
        "then its includes in order). Move that extension or pattern into a context included after "
        "sip-attach-routes, or give the trunk another extension."]
    # the role's route first, the PBX's own pattern in a later include: the call reaches Telnyx
    ours_first = "[ Context 'from-internal' created by 'pbx_config' ]\n  Include =>   'sip-attach-routes'  [pbx_config]\n" \
                 "  Include =>   'ext-local'  [pbx_config]\n"
    assert preflight(probe(**{"dialplan show 1001@from-internal": OURS_FIRST,
                              "dialplan show from-internal": ours_first}))["problems"] == []
    # the same include after the PBX's: its pattern takes the call
    ours_last = "[ Context 'from-internal' created by 'pbx_config' ]\n  Include =>   'ext-local'  [pbx_config]\n" \
                "  Include =>   'sip-attach-routes'  [pbx_config]\n"
    assert "would take '_1XXX' in context ext-local (extensions_additional.conf line 99)" in preflight(probe(**{
        "dialplan show 1001@from-internal": OURS_FIRST, "dialplan show from-internal": ours_last}))["problems"][0]
    missing = preflight(probe(**{"dialplan show 1001@from-internal": "There is no existence of 'from-internal' context",
                                 "dialplan show from-internal": "There is no existence of 'from-internal' context"}))
    assert missing["problems"] == [
        "host pbx1: trunk main: the context from-internal does not exist in this PBX's dialplan, so no phone's call "
        "reaches the route to Telnyx. Set sip_attach_asterisk_context to the context your phones dial from."]
    # a context that only the role's own file creates is no phones' context
    only_ours = "[ Context 'from-internal' created by 'pbx_config' ]\n  Include =>        'sip-attach-routes'  [pbx_config]\n"
    assert preflight(probe(**{"dialplan show from-internal": only_ours}))["problems"] == [
        "host pbx1: the context from-internal has nothing of this PBX's own (no extension, no include), so no phone's "
        "call reaches the route to Telnyx. Set sip_attach_asterisk_context to the context your phones dial from."]


def test_preflight_refuses_passwords_asterisk_would_not_load_as_they_are_but_writes_a_semicolon():
    assert p.config_value("pw;with-semicolon") == "pw\\;with-semicolon"
    for password, why in (("two\nlines", "the control character '\\n'"), (" lead", "starts or ends with a blank"),
                          ("tail ", "starts or ends with a blank"), ("a\\;b", "a backslash before ';'")):
        problems = preflight(probe(), [dict(AST_TRUNKS[0], password=password)])["problems"]
        assert len(problems) == 1 and problems[0].startswith(
            "host pbx1: trunk main: its password cannot be written for Asterisk: ") and why in problems[0], problems


FREEPBX_WALK = {
    "dialplan show from-internal": "[ Context 'from-internal' created by 'pbx_config' ]\n"
                                   "  Include =>        'from-internal-xfer'          [pbx_config]\n"
                                   "  Include =>        'bad-number'                  [pbx_config]\n",
    "dialplan show from-internal-xfer": "[ Context 'from-internal-xfer' created by 'pbx_config' ]\n"
                                        "  Include =>        'from-internal-custom'        [pbx_config]\n"
                                        "  Include =>        'from-internal-additional'    [pbx_config]\n",
    "dialplan show from-internal-custom": "There is no existence of 'from-internal-custom' context",
    "dialplan show from-internal-additional": "[ Context 'from-internal-additional' created by 'pbx_config' ]\n"
                                              "  Include =>        'ext-local'                   [pbx_config]\n",
    "dialplan show ext-local": "[ Context 'ext-local' created by 'pbx_config' ]\n"
                               "  '_XXXX' =>        1. Dial(PJSIP/${EXTEN},30)    [extensions_additional.conf:13]\n",
    "dialplan show 1001@from-internal": "[ Included context 'ext-local' created by 'pbx_config' ]\n"
                                        "  '_XXXX' =>        1. Dial(PJSIP/${EXTEN},30)    [extensions_additional.conf:13]\n",
}


def test_on_freepbx_the_route_in_from_internal_custom_comes_before_the_generated_extensions():
    assert preflight(probe(freepbx="yes", **FREEPBX_WALK))["problems"] == []
    # the same dialplan taken for a stock Asterisk: the role would append its include to from-internal, after them
    assert preflight(probe(**FREEPBX_WALK), flavor="asterisk")["problems"] == [
        "host pbx1: trunk main: a call to 1001 in context from-internal would take '_XXXX' in context ext-local "
        "(extensions_additional.conf line 13), not the role's route to Telnyx (Asterisk searches a context's own "
        "extensions, then its includes in order). Move that extension or pattern into a context included after "
        "sip-attach-routes, or give the trunk another extension."]
    # a FreePBX whose from-internal does not reach from-internal-custom: the route would be unreachable
    cut = dict(FREEPBX_WALK)
    cut["dialplan show from-internal-xfer"] = ("[ Context 'from-internal-xfer' created by 'x' ]\n"
                                               "  Include =>        'from-internal-additional'    [pbx_config]\n")
    assert preflight(probe(freepbx="yes", **cut))["problems"] == [
        "host pbx1: trunk main: the role's routes would be included from from-internal-custom, which a call in "
        "context from-internal never reaches: set sip_attach_asterisk_flavor or sip_attach_asterisk_context to match "
        "this PBX"]


def test_preflight_detects_freepbx_and_writes_only_where_freepbx_leaves_local_changes():
    result = preflight(probe(freepbx="yes"))
    assert (result["flavor"], result["route_context"]) == ("freepbx", "from-internal-custom")
    assert result["include_files"] == {"pjsip": "pjsip_custom.conf", "extensions": "extensions_custom.conf"}
    assert preflight(probe(), flavor="freepbx")["flavor"] == "freepbx"
    assert preflight(probe(freepbx="yes"), flavor="asterisk")["flavor"] == "asterisk"
    assert preflight(probe(), flavor="trixbox")["problems"] == [
        "host pbx1: sip_attach_asterisk_flavor must be auto, asterisk or freepbx, got trixbox"]


def test_preflight_refuses_realtime_only_pjsip_bad_acls_role_owned_endpoint_options_and_pending_changes():
    sorcery = "[res_pjsip]\nendpoint=realtime,ps_endpoints\naor=realtime,ps_aors\naor=config,pjsip.conf,criteria=type=aor\n"
    assert preflight(probe(sorcery=sorcery))["problems"] == [
        "host pbx1: sorcery.conf line 2 maps PJSIP endpoint objects to realtime only, so Asterisk ignores the "
        "endpoints of pjsip.conf files (the role's included): add a config wizard for them, or manage this PBX's "
        "trunks in its realtime database"]
    assert preflight(probe(), acl=["192.0.2.0/24", "2001:db8::/32"])["problems"] == []
    assert preflight(probe(), acl=["192.0.2.0/24", "telnyx"])["problems"] == [
        "host pbx1: sip_attach_registration_acl: 'telnyx' is not a network (address/prefix, e.g. 192.0.2.0/24)"]
    options = preflight(probe(), endpoint_options={"transport": "x", "t38_udptl": "yes", "Bad-Name": 1})["problems"]
    assert options == ["host pbx1: sip_attach_asterisk_endpoint_options: Bad-Name cannot be set there (a PJSIP "
                       "endpoint option is lower-case letters, digits and '_')",
                       "host pbx1: sip_attach_asterisk_endpoint_options: transport cannot be set there (the role sets "
                       "it from the trunk)"]
    pending = probe(now="1000", core_show_uptime_seconds="System uptime: 500\nLast reload: 100",
                    files="950.5 /etc/asterisk/pjsip.conf\n800.0 /etc/asterisk/extensions.conf\n"
                          "990.0 /etc/asterisk/sip_attach_pjsip.conf",
                    config_list="core  /etc/asterisk/asterisk.conf\n451f2c36-91e0-4b86-a /etc/asterisk/pjsip.conf\n"
                                "451f2c36-91e0-4b86-a /etc/asterisk/sip_attach_pjsip.conf\n"
                                "pbx_config /etc/asterisk/extensions.conf")
    assert preflight(pending)["problems"] == [
        "host pbx1: /etc/asterisk/pjsip.conf changed after Asterisk last loaded its configuration: the role's pjsip "
        "reload would make that change live too. Reload it yourself once it is meant (module reload res_pjsip.so), or "
        "undo it; then run the role again."]


def test_preflight_keeps_the_sections_of_departed_trunks_until_telnyx_deleted_them():
    role_pjsip = ("#tryinclude sip_attach_auth/*.conf\n\n; trunk main -> Telnyx connection a-main\n[1001]\ntype = aor\n\n"
                  "; trunk gone -> Telnyx connection a-gone\n[2002]\ntype = aor\n\n[2002]\ntype = endpoint\n")
    result = preflight(probe(auth_files="1001.conf\n2002.conf\n3003.conf", role_pjsip=role_pjsip))
    assert result["departed"] == ["2002", "3003"]
    assert result["kept"] == {"2002": "; trunk gone -> Telnyx connection a-gone\n[2002]\ntype = aor\n\n[2002]\n"
                                      "type = endpoint"}


def test_loaded_objects_after_a_reload_name_each_trunk_asterisk_did_not_load():
    listing = (" Endpoint:  1001                                                 Unavailable   0 of inf\n"
               "      Aor:  1001                                                 1\n"
               "No objects found.\n")
    assert p.sip_attach_asterisk_loaded(listing, AST_TRUNKS, "pbx1") == [
        "host pbx1: trunk main: Asterisk did not load its auth after the reload (is every file of the role readable "
        "by the user Asterisk runs as? see its log)"]
    listing += "     Auth:  1001-auth/1001\n"
    assert p.sip_attach_asterisk_loaded(listing, AST_TRUNKS, "pbx1") == []


REGISTRAR = ('/registrar/contact/1001;@89903b86e46b272ce79333a60b5218ac: {"uri":"sip:1001@127.0.0.1:39932",'
             '"expiration_time":"1796692066","endpoint":"1001"}\n1 results found.')
CONTACTS = "  Contact:  1001/sip:1001@127.0.0.1:39932                  89903b86e4 Avail        1.2"


def test_a_binding_older_than_the_last_credential_change_is_not_registered():
    assert p.sip_attach_asterisk_bindings(REGISTRAR, [AST_TRUNKS[0], dict(name="x", username="9")]) == {
        "1001": "1796692066", "9": "none"}
    seen = "@@sip_attach@@ contacts\n%s\n@@sip_attach@@ registrar\n%s\n@@sip_attach@@ marks\n%s"
    stale = seen % (CONTACTS, REGISTRAR, "/sip_attach_cred/1001 : 1796692066\n1 results found.")
    assert p.sip_attach_asterisk_view(stale, AST_TRUNKS) == {
        "main": "not registered: the contact of 1001 is from before its credentials last changed (Telnyx has not "
                "registered with the new ones; the old binding expires at 2026-12-08T01:07:46Z)"}
    refreshed = seen % (CONTACTS, REGISTRAR.replace("1796692066", "1796692100"), "/sip_attach_cred/1001 : 1796692066")
    assert p.sip_attach_asterisk_view(refreshed, AST_TRUNKS) == {"main": "registered"}
    unmarked = seen % (CONTACTS, REGISTRAR, "0 results found.")
    assert p.sip_attach_asterisk_view(unmarked, AST_TRUNKS) == {"main": "registered"}
    after_none = seen % (CONTACTS, REGISTRAR, "/sip_attach_cred/1001 : none")
    assert p.sip_attach_asterisk_view(after_none, AST_TRUNKS) == {"main": "registered"}


def test_probe_commands_read_each_trunks_route_in_the_phones_context():
    commands = p.probe_commands(AST_TRUNKS, "from-phones")
    assert commands[-1:] == ["dialplan show 1001@from-phones"]
    assert "core show settings" in commands and "pjsip show transports" in commands
