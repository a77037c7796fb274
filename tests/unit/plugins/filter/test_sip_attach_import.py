"""Unit tests of the import filter (plugins/filter/sip_attach_import.py): connections -> inventory files.

The connections are made and rendered by the emulator's resource code (what the API returns, defaults and
generated fields included), the files are parsed back, read by the role's own filter, and planned by the engine
against the same connections: what the import writes must manage each connection exactly as it is.
"""

import random

import pytest
import yaml

from ansible.errors import AnsibleFilterError

from ansible_collections.telnyx.sip.plugins.filter import sip_attach as role_filters
from ansible_collections.telnyx.sip.plugins.filter.sip_attach_import import sip_attach_import
from ansible_collections.telnyx.sip.plugins.module_utils import _engine as engine
from ansible_collections.telnyx.sip.plugins.module_utils import _module as glue
from tests.emulator import resource

pytestmark = pytest.mark.unit

TAG = "sip-attach"
APP = "assistant-3fa85f64"


class Account:
    """Connections as the API returns them (the emulator's rendering), passwords set by hand."""

    def __init__(self, plaintext=False):
        self.rng = random.Random(7)
        self.records = []
        self.plaintext = plaintext

    def add(self, name, proxy="sip:pbx1.example.com:5060", username="ext1006", destination="1006@%s.sip.telnyx.com" % APP,
            password="hand-made-pw", **fields):
        external = dict(fields.pop("external", {}))
        for key, value in (("proxy", proxy), ("username", username), ("password", password)):
            if value is not None:
                external[key] = value
        body = dict(fields, connection_name=name, external_uac_settings=external)
        if destination is not None:
            body["internal_uac_settings"] = dict(destination_uri=destination)
        number = len(self.records) + 1
        self.records.append(resource.new_connection(body, str(4000 + number), str(5000 + number), "%012x" % number,
                                                    self.rng))
        return self

    def connections(self):
        return [resource.render(record, plaintext=self.plaintext) for record in self.records]


def files_of(result):
    return dict((item["path"], item["content"]) for item in result["files"])


def parsed(result, path):
    return yaml.safe_load(files_of(result)[path])


def trunks_of(result, host):
    return parsed(result, "host_vars/%s.yml" % host)["sip_attach_trunks"]


def role_items(result, passwords):
    """What the role would send: its own filter over the written host_vars, the vault variables filled in."""
    hostvars = {}
    for host in parsed(result, "hosts.yml")["pbx"]["hosts"]:
        hostvars[host] = dict(passwords, sip_attach_trunks=trunks_of(result, host))
    for variables in hostvars.values():
        for trunk in variables["sip_attach_trunks"]:
            variable = trunk["password"].strip("{} ")
            trunk["password"] = variables[variable]
    return role_filters.sip_attach_connections(hostvars, sorted(hostvars))


def test_a_varied_account_round_trips_and_the_first_run_only_adopts():
    account = (Account()
               .add("pbx1.example.com-main", external=dict(transport="TCP"), destination="1006@%s.sip.telnyx.com" % APP,
                    username="1006")
               .add("hq reception", proxy="pbx1.example.com", active=False, tags=["hq"], username="reception1",
                    destination="77@stt-9.sipdev.telnyx.com", inbound=dict(channel_limit=4, codecs=["G711U"]),
                    external=dict(auth_username="auth-r", expiration_sec=600, outbound_proxy="sip:edge.example.com"))
               .add("branch-2001", proxy="pbx2.example.net:5080", username="u2001", tags=["branch", TAG],
                    destination="2001@cc-app-42.sip.telnyx.com", dtmf_type="Inband", encrypted_media="SRTP",
                    jitter_buffer=dict(enable_jitter_buffer=True), rtcp_settings=dict(port="rtcp-mux"),
                    outbound=dict(localization="GB", channel_limit=2), webhook_event_url="https://hooks.example.com/a",
                    noise_suppression="both", noise_suppression_details=dict(engine="deep_filter_net")))
    connections = account.connections()
    result = sip_attach_import(connections)
    assert result["not_imported"] == []
    assert (result["hosts"], result["trunks"], result["adoptions"]) == (["pbx1.example.com", "pbx2.example.net"], 3, 2)
    passwords = dict((variable, "vault-%d-pw" % index) for index, variable in enumerate(result["vault_variables"]))
    items = role_items(result, passwords)
    plans = engine.plan_fleet(glue.validate_items(items, False, TAG, 8), connections, False, TAG)
    by_name = dict((plan.name, plan) for plan in plans)
    assert sorted(by_name) == ["branch-2001", "hq reception", "pbx1.example.com-main"]
    assert (by_name["branch-2001"].action, by_name["branch-2001"].method) == ("unchanged", None)
    current = dict((conn["connection_name"], conn) for conn in connections)
    for name in ("hq reception", "pbx1.example.com-main"):
        plan = by_name[name]
        assert plan.adopted is True and plan.method == "PATCH"
        assert sorted(plan.payload) == ["external_uac_settings", "tags"]
        assert plan.payload["tags"] == current[name]["tags"] + [TAG]
        sent = dict(plan.payload["external_uac_settings"])
        assert sent.pop("password") in passwords.values()
        assert sent == dict((key, value) for key, value in current[name]["external_uac_settings"].items()
                            if value is not None and key != "password")


def test_trunks_are_named_after_their_connections_and_keep_what_the_role_would_not_derive():
    account = (Account()
               .add("pbx1.example.com-main", username="1006")
               .add("Main Line!", username="main0001")
               .add("main-line", username="main0002"))
    result = sip_attach_import(account.connections())
    trunks = trunks_of(result, "pbx1.example.com")
    # names in lower case, unique on the host; connection_name only where <host>-<name> would not give it
    assert [(trunk["name"], trunk.get("connection_name")) for trunk in trunks] == [
        ("main-line", "Main Line!"), ("main-line-2", "main-line"), ("main", None)]
    main = trunks[2]
    # the role's default username is the extension
    assert (main["extension"], main["application"]) == ("1006", APP) and "username" not in main
    assert trunks[1]["username"] == "main0002"
    assert result["vault_variables"] == [
        "vault_pbx1_example_com_main_line_2_password", "vault_pbx1_example_com_main_line_password",
        "vault_pbx1_example_com_main_password"]


def test_clashing_names_get_a_suffix_on_their_host_and_in_the_vault():
    account = Account().add("a b", username="user0001").add("a-b", username="user0002").add("a.b", username="user0003")
    result = sip_attach_import(account.connections())
    trunks = trunks_of(result, "pbx1.example.com")
    assert [(trunk["name"], trunk["connection_name"]) for trunk in trunks] == [
        ("a-b", "a b"), ("a-b-2", "a-b"), ("a-b-3", "a.b")]
    assert result["vault_variables"] == ["vault_pbx1_example_com_a_b_2_password", "vault_pbx1_example_com_a_b_3_password",
                                         "vault_pbx1_example_com_a_b_password"]
    assert [trunk["password"] for trunk in trunks] == [
        "{{ vault_pbx1_example_com_a_b_password }}", "{{ vault_pbx1_example_com_a_b_2_password }}",
        "{{ vault_pbx1_example_com_a_b_3_password }}"]


def test_settings_hold_what_is_not_the_api_default_and_leave_out_the_managed_tag():
    account = (Account()
               .add("plain", username="user0001")
               .add("tuned", username="user0002", tags=[TAG], inbound=dict(sip_region="Europe"), active=True,
                    anchorsite_override="Latency", webhook_event_failover_url=""))
    result = sip_attach_import(account.connections())
    plain, tuned = trunks_of(result, "pbx1.example.com")
    assert plain["settings"] == dict(user_name=account.records[0]["user_name"], sip_uri_calling_preference="disabled",
                                     noise_suppression="disabled", noise_suppression_details=dict(attenuation_limit=0))
    assert tuned["settings"] == dict(plain["settings"], user_name=account.records[1]["user_name"],
                                     inbound=dict(sip_region="Europe"))
    assert "tags" not in tuned["settings"]
    assert result["adoptions"] == 1


def test_destinations_of_another_form_are_kept_whole():
    account = Account().add("dev", username="user0001", destination="77@stt-9.sipdev.telnyx.com")
    (trunk,) = trunks_of(sip_attach_import(account.connections()), "pbx1.example.com")
    assert trunk["destination_uri"] == "77@stt-9.sipdev.telnyx.com" and "extension" not in trunk


def test_hosts_are_the_proxies_hosts_whatever_their_form():
    account = (Account()
               .add("a", proxy="PBX1.Example.com", username="user0001")
               .add("b", proxy="sips:pbx1.example.com:5061;transport=tls", username="user0002")
               .add("c", proxy="[2001:db8::1]:5060", username="user0003")
               .add("d", proxy="10.0.0.5", username="user0004"))
    result = sip_attach_import(account.connections())
    assert result["hosts"] == ["10.0.0.5", "2001-db8-1", "pbx1.example.com"]
    assert [trunk["proxy"] for trunk in trunks_of(result, "pbx1.example.com")] == [
        "PBX1.Example.com", "sips:pbx1.example.com:5061;transport=tls"]
    hosts = {"10.0.0.5": None, "2001-db8-1": None, "pbx1.example.com": None}
    assert parsed(result, "hosts.yml") == {"pbx": {"hosts": hosts}}


def test_connections_that_cannot_be_trunks_are_listed_with_why_never_dropped():
    account = (Account()
               .add("twice", username="user0001", tags=[TAG]).add("twice", username="user0002")
               .add("no-proxy", proxy=None).add("no-user", username=None).add("no-destination", destination=None)
               .add("refused", username="user0003", outbound=dict(localization="USA"))
               .add("fine", username="user0004"))
    result = sip_attach_import(account.connections())
    listed = [(entry["connection_name"], entry["tagged"]) for entry in result["not_imported"]]
    assert listed == [("no-destination", False), ("no-proxy", False), ("no-user", False), ("refused", False),
                      ("twice", True), ("twice", False)]
    reasons = dict((entry["id"], entry["reason"]) for entry in result["not_imported"])
    ids = [record["id"] for record in account.records]
    assert reasons[ids[0]] == reasons[ids[1]] and reasons[ids[0]].startswith(
        "2 UAC connections are named 'twice' (ids: %s, %s)" % (ids[0], ids[1]))
    assert reasons[ids[2]] == "external_uac_settings.proxy is not set: a trunk needs the PBX address Telnyx registers to"
    assert reasons[ids[3]].startswith("external_uac_settings.username is not set")
    assert reasons[ids[4]].startswith("internal_uac_settings.destination_uri is not set")
    assert reasons[ids[5]] == ("the trunk made from it would not manage it as it is: settings.outbound.localization "
                               "must be a 2-letter country code such as US or GB, got 'USA'")
    assert [trunk["name"] for trunk in trunks_of(result, "pbx1.example.com")] == ["fine"]
    assert result["vault_variables"] == ["vault_pbx1_example_com_fine_password"]
    assert yaml.safe_load(files_of(result)["not-imported.yml"]) == result["not_imported"]


def test_no_password_is_ever_written_even_when_the_api_returns_them_in_clear():
    account = Account(plaintext=True).add("a", username="user0001", password="Clear-pw-4711", external=dict())
    account.records[0]["password"] = "Top-Secret-0815"
    result = sip_attach_import(account.connections())
    text = repr(result)
    assert "Clear-pw-4711" not in text and "Top-Secret-0815" not in text
    (trunk,) = trunks_of(result, "pbx1.example.com")
    assert trunk["password"] == "{{ vault_pbx1_example_com_a_password }}"
    vault = parsed(result, "group_vars/all/vault.yml.example")
    assert vault == {"vault_pbx1_example_com_a_password": ""}
    assert "ansible-vault encrypt group_vars/all/vault.yml" in files_of(result)["group_vars/all/vault.yml.example"]


def test_every_file_stays_inside_the_folder():
    account = Account().add("../../etc/passwd", username="user0001").add("x", proxy="../evil", username="user0002")
    result = sip_attach_import(account.connections())
    assert [item["path"] for item in result["files"]] == [
        "hosts.yml", "host_vars/pbx1.example.com.yml", "group_vars/all/vault.yml.example", "not-imported.yml"]
    (trunk,) = trunks_of(result, "pbx1.example.com")
    assert trunk["name"] == "etc-passwd" and trunk["connection_name"] == "../../etc/passwd"
    assert result["vault_variables"] == ["vault_pbx1_example_com_etc_passwd_password"]
    (refused,) = result["not_imported"]
    assert refused["connection_name"] == "x" and refused["reason"].startswith(
        "the trunk made from it would not manage it as it is: proxy must be a host, host:port or sip: URI")


@pytest.mark.parametrize("connections", ["text", [1, 2], None])
def test_input_that_is_not_a_list_of_connections_is_refused(connections):
    with pytest.raises(AnsibleFilterError) as caught:
        sip_attach_import(connections)
    assert "takes the list of connections of telnyx.sip.uac_connection_info" in str(caught.value)


def test_an_empty_account_gives_an_inventory_without_hosts():
    result = sip_attach_import([])
    assert parsed(result, "hosts.yml") == {"pbx": {"hosts": {}}}
    assert result["trunks"] == 0 and result["vault_variables"] == [] and result["not_imported"] == []
