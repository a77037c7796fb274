"""The sip_attach role on Asterisk PBX hosts as they are found in a fleet (tests/tools/pbx_host.py).

Each host is its own filesystem (an overlay of the Debian sid root) with Asterisk 22 running as `asterisk`, reached
over SSH as an unprivileged user with become, and the role's defaults as they are (/etc/asterisk, `asterisk -rx`):
one host of Debian's layout, one whose /etc/asterisk is root's (root:asterisk 0640), one of FreePBX's layout. The
emulator (through Prism) really registers to each Asterisk, and its call log proves that each test call, placed
into the phones' context (from-internal) like a phone's call, reached Telnyx.
"""

import os

import pytest
import yaml

from tests.integration.pbx.fleet import APP, PbxFleet

pytestmark = [pytest.mark.integration]

LAYOUTS = ("debian", "rootowned", "freepbx")
ROLE_FILES = ("sip_attach_pjsip.conf", "sip_attach_extensions.conf")


class Fleet(PbxFleet):
    kind = "asterisk"
    local = False

    def pbx_vars(self, host, pbx):
        return {}  # the role's defaults: /etc/asterisk and `asterisk -rx`, over SSH with become

    def connection_vars(self, host, pbx):
        return pbx.inventory_vars()

    def env(self):
        return next(iter(self.pbxs.values())).ansible_env()


@pytest.fixture(scope="module")
def hosts(asterisk_hosts):
    """One fresh host of each layout (this module's own: the role writes on them)."""
    return asterisk_hosts.each_layout(LAYOUTS, fresh=True)


@pytest.fixture
def emulator(make_emulator):
    return make_emulator("--registration-delay", "0.2", "--sip-timeout", "1", "--registration-retry", "1", fresh=True)


def trunks_of(index, host):
    # five digits: the phones of the test hosts have four (_XXXX), and the PBX's own extensions win over the role's route
    first = {"name": "main", "extension": "7%d001" % (index + 1), "password": "{{ vault_%s_main }}" % host}
    second = {"name": "sales", "extension": "7%d002" % (index + 1), "username": "sales%d" % (index + 1),
              "password": "{{ vault_%s_sales }}" % host}
    return [first, second]


@pytest.fixture
def fleet(tmp_path, hosts, emulator):
    fleet = Fleet(tmp_path, hosts, emulator, dict((layout, trunks_of(index, layout)) for index, layout in enumerate(LAYOUTS)))
    # a password Asterisk's config syntax would cut short if written as it is
    fleet.secrets["vault_debian_main"] = "Secret;debian-main;pw"
    fleet.write()
    yield fleet
    for host in hosts.values():  # the next test starts from hosts without anything of the role's
        for name in ROLE_FILES:
            host.write("/etc/asterisk/%s" % name, "")
        host.cli("module reload res_pjsip.so")
        host.cli("dialplan reload")
        host.cli("database deltree sip_attach_cred")


def text_of(host, path):
    """The text of a file of the host, '' when it does not exist."""
    return host.read(path) if os.path.exists(host.path(path)) else ""


def loaded(host, kind):
    """The names of the PJSIP objects of a kind (endpoints, aors, auths) Asterisk holds."""
    names = []
    for line in host.cli("pjsip list %s" % kind).splitlines():
        words = line.split()
        if len(words) >= 2 and words[0].rstrip(":") in ("Endpoint", "Aor", "Auth") and not words[1].startswith("<"):
            names.append(words[1].split("/")[0])
    return sorted(names)


def test_over_ssh_each_layout_gets_both_sides_and_test_calls_that_take_the_phones_route(fleet, hosts):
    result = fleet.run(role_vars={"sip_attach_verify_calls": True})
    output = fleet.output(result)
    assert result.rc == 0, output
    users = dict((layout, ["7%d001" % (index + 1), "sales%d" % (index + 1)]) for index, layout in enumerate(LAYOUTS))
    for layout, host in hosts.items():
        assert sorted(host.contacts()) == sorted(users[layout]), layout
        # what Asterisk holds is what was meant: every trunk's endpoint, aor and auth
        assert loaded(host, "endpoints") == sorted(users[layout])
        assert loaded(host, "auths") == sorted("%s-auth" % user for user in users[layout])
        # readable by Asterisk's group, never by others, whoever owns /etc/asterisk
        owner = "root" if layout == "rootowned" else "asterisk"
        assert host.stat("/etc/asterisk/sip_attach_auth") == (owner, "asterisk", 0o750), layout
        for user in users[layout]:
            assert host.stat("/etc/asterisk/sip_attach_auth/%s.conf" % user) == (owner, "asterisk", 0o640)
        endpoint = host.cli("pjsip show endpoint %s" % users[layout][0])
        for option in ("rewrite_contact", "rtp_symmetric", "force_rport"):
            assert [line.split(":", 1)[1].strip() for line in endpoint.splitlines()
                    if line.strip().startswith(option + " ")] == ["true"], (layout, option)
        assert "qualify_frequency    : 60" in host.cli("pjsip show aor %s" % users[layout][0])
    # a ';' in the password reached Asterisk whole: Telnyx registered with it
    assert "Secret\\;debian-main\\;pw" in hosts["debian"].read("/etc/asterisk/sip_attach_auth/71001.conf")
    # FreePBX: the role wrote only where FreePBX leaves local changes to the administrator
    freepbx = hosts["freepbx"]
    assert "#include sip_attach_pjsip.conf" in freepbx.read("/etc/asterisk/pjsip_custom.conf")
    assert "#include sip_attach_extensions.conf" in freepbx.read("/etc/asterisk/extensions_custom.conf")
    assert "sip_attach" not in freepbx.read("/etc/asterisk/pjsip.conf")
    assert "sip_attach" not in freepbx.read("/etc/asterisk/extensions.conf")
    assert "[from-internal-custom]" in freepbx.read("/etc/asterisk/sip_attach_extensions.conf")
    assert "#include sip_attach_pjsip.conf" in hosts["rootowned"].read("/etc/asterisk/pjsip.conf")
    # both sides agree, and each test call reached Telnyx, which sent it to the trunk's destination
    rows = fleet.rows()
    seen = sorted((row["pbx_host"], row["action"], row["registration_status"], row["pbx_registration"], row["test_call"])
                  for row in rows)
    assert seen == sorted((layout, "created", "Registered", "registered", "answered") for layout in LAYOUTS for _trunk in range(2))
    calls = sorted((call["connection_name"], call["destination_uri"]) for call in fleet.emulator.calls())
    assert calls == sorted(("%s-%s" % (layout, trunk["name"]), "%s@%s.sip.telnyx.com" % (trunk["extension"], APP))
                           for layout in LAYOUTS for trunk in fleet.trunks[layout])

    # FreePBX's Apply Config regenerates its files: every trunk stays configured and registered
    freepbx.freepbx_regenerate()
    assert loaded(freepbx, "endpoints") == ["73001", "sales3"]
    assert "sip-attach-routes" in freepbx.cli("dialplan show 73001@from-internal")
    assert sorted(freepbx.contacts()) == ["73001", "sales3"]

    # a second run writes and reloads nothing on any host, and sends nothing to Telnyx
    count = len(fleet.emulator.requests())
    again = fleet.run()
    assert again.rc == 0, fleet.output(again)
    assert dict((host, stats["changed"]) for host, stats in again.stats.items()) == dict.fromkeys(LAYOUTS, 0)
    assert fleet.writes_since(count) == []
    assert [row["pbx_registration"] for row in fleet.rows()] == ["registered"] * 6


def test_a_catch_all_of_the_pbx_that_would_take_the_call_refuses_that_host_only(fleet, hosts):
    debian = hosts["debian"]
    original = debian.read("/etc/asterisk/extensions.conf")
    debian.write("/etc/asterisk/extensions.conf", original.replace(
        "[from-internal]\n", "[from-internal]\nexten => _X.,1,Dial(PJSIP/${EXTEN}@carrier)\n", 1))
    debian.cli("dialplan reload")
    try:
        result = fleet.run(role_vars={"sip_attach_verify_calls": True})
        output = fleet.output(result)
        assert result.rc != 0
        line = [number for number, text in enumerate(debian.read("/etc/asterisk/extensions.conf").splitlines(), 1)
                if text.startswith("exten => _X.")][0]
        assert ("host debian: trunk main: a call to 71001 in context from-internal would take '_X.' in context "
                "from-internal (extensions.conf line %d), not the role's route to Telnyx" % line) in output
        # nothing was written on that host, nothing of it sent to Telnyx; the other hosts rolled out
        assert text_of(debian, "/etc/asterisk/sip_attach_pjsip.conf") == ""
        assert "sip_attach" not in debian.read("/etc/asterisk/pjsip.conf").replace("#include sip_attach_pjsip.conf", "")
        assert sorted(fleet.connections()) == ["freepbx-main", "freepbx-sales", "rootowned-main", "rootowned-sales"]
        rows = dict(((row["pbx_host"], row["trunk"]), row) for row in fleet.rows())
        assert rows[("debian", "main")]["action"] == "not sent"
        assert "'_X.' in context from-internal" in rows[("debian", "main")]["error"]
        # the recap (and so AWX's host summary) fails that host, and only it
        assert dict((host, stats["failures"]) for host, stats in result.stats.items()) == {
            "debian": 1, "rootowned": 0, "freepbx": 0}
    finally:
        debian.write("/etc/asterisk/extensions.conf", original)
        debian.cli("dialplan reload")


def test_a_context_that_does_not_exist_and_a_missing_transport_are_refused_before_any_write(fleet, hosts):
    hosts_yml = yaml.safe_load((fleet.root / "hosts.yml").read_text())
    hosts_yml["pbx"]["hosts"]["rootowned"]["sip_attach_asterisk_context"] = "from-phones"
    hosts_yml["pbx"]["hosts"]["freepbx"]["sip_attach_defaults"]["transport"] = "TCP"
    hosts_yml["pbx"]["hosts"]["freepbx"]["sip_attach_defaults"]["proxy"] = "%s:5070" % hosts["freepbx"].address
    (fleet.root / "hosts.yml").write_text(yaml.safe_dump(hosts_yml))
    result = fleet.run()
    output = fleet.output(result)
    assert result.rc != 0
    assert ("host rootowned: trunk main: the context from-phones does not exist in this PBX's dialplan, so no phone's "
            "call reaches the route to Telnyx") in output
    assert "host freepbx: trunk main: no PJSIP transport of type tcp listens on port 5070" in output
    for layout in ("rootowned", "freepbx"):
        assert text_of(hosts[layout], "/etc/asterisk/sip_attach_pjsip.conf") == ""
    assert sorted(fleet.connections()) == ["debian-main", "debian-sales"]


def test_removal_goes_to_telnyx_first_and_a_trunk_telnyx_still_has_keeps_its_pbx_account(fleet, hosts):
    first = fleet.run()
    assert first.rc == 0, fleet.output(first)
    debian = hosts["debian"]
    gone = fleet.trunks["debian"].pop()   # sales1 leaves the inventory
    fleet.write()
    # without purge its connection stays at Telnyx, which keeps registering: the PBX account stays too
    kept = fleet.run()
    output = fleet.output(kept)
    assert kept.rc == 0, output
    assert "the PBX account of sales1 stays" in output
    assert "sales1" in loaded(debian, "endpoints") and "debian-sales" in fleet.connections()
    # with purge: Telnyx deletes the connection, and only then the PBX loses the account
    purged = fleet.run(role_vars={"sip_attach_purge": True})
    output = fleet.output(purged)
    assert purged.rc == 0, output
    assert "debian-sales" not in fleet.connections()
    assert loaded(debian, "endpoints") == ["71001"] and loaded(debian, "auths") == ["71001-auth"]
    assert not os.path.exists(debian.path("/etc/asterisk/sip_attach_auth/%s.conf" % gone["username"]))
    assert output.index("Converge the UAC connections") < output.index("Remove the auth sections of the trunks that are gone")


def test_a_binding_from_before_a_credential_change_does_not_count_as_registered(fleet, hosts):
    first = fleet.run()
    assert first.rc == 0, fleet.output(first)
    rootowned = hosts["rootowned"]
    # as after a rotation Telnyx failed to follow: the role marked the change with the binding it found then, and
    # Telnyx has not registered since (the same binding, made with the old credentials, is still there)
    binding = [line for line in rootowned.cli("database show registrar/contact").splitlines() if "/72001;@" in line]
    expiration = binding[0].split('"expiration_time":"', 1)[1].split('"', 1)[0]
    rootowned.cli("database put sip_attach_cred 72001 %s" % expiration)
    try:
        result = fleet.run(role_vars={"sip_attach_registration_timeout": 2})
        output = fleet.output(result)
        assert result.rc != 0
        assert ("host rootowned, trunk main: the PBX does not see Telnyx registered (not registered: the contact of "
                "72001 is from before its credentials last changed") in output
        rows = dict(((row["pbx_host"], row["trunk"]), row["pbx_registration"]) for row in fleet.rows())
        assert rows[("rootowned", "main")].startswith("not registered: the contact of 72001 is from before")
        assert rows[("rootowned", "sales")] == "registered" and rows[("debian", "main")] == "registered"
        assert dict((host, stats["failures"]) for host, stats in result.stats.items()) == {
            "debian": 0, "rootowned": 1, "freepbx": 0}
    finally:
        rootowned.cli("database del sip_attach_cred 72001")
