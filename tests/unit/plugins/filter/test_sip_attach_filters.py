"""Unit tests of the sip_attach filters (plugins/filter/sip_attach.py)."""

import csv
import io

import pytest

from ansible.errors import AnsibleFilterError
from ansible.inventory.manager import InventoryManager
from ansible.parsing.dataloader import DataLoader
from ansible.vars.manager import VariableManager

from ansible_collections.telnyx.sip.plugins.filter import sip_attach as f

pytestmark = pytest.mark.unit

APP = "assistant-3fa85f64-5717-4562-b3fc-2c963f66afa6"


def conns(hostvars, hosts=None):
    return f.sip_attach_connections(hostvars, hosts or list(hostvars))


def test_trunk_with_extension_gets_composed_destination_defaults_and_host_address():
    hostvars = {"pbx-a": {
        "ansible_host": "10.0.0.5",
        "sip_attach_defaults": {"transport": "TCP", "application": APP, "settings": {"inbound": {"channel_limit": 4}}},
        "sip_attach_trunks": [{"name": "main", "extension": 1006, "password": "pw-1",
                               "settings": {"inbound": {"sip_region": "Europe"}, "active": True}}],
    }}
    assert conns(hostvars) == [{
        "connection_name": "pbx-a-main",
        "state": "present",
        "active": True,
        "inbound": {"channel_limit": 4, "sip_region": "Europe"},
        "external_uac_settings": {"proxy": "10.0.0.5", "transport": "TCP", "username": "1006", "password": "pw-1"},
        "internal_uac_settings": {"destination_uri": "1006@%s.sip.telnyx.com" % APP},
    }]


def test_trunk_values_win_over_defaults_and_inventory_name_is_the_last_proxy():
    hostvars = {"pbx-b": {
        "sip_attach_defaults": {"transport": "UDP", "application": "cc-app-1", "password": "shared"},
        "sip_attach_trunks": [
            {"name": "x", "destination_uri": "77@stt-9.sip.telnyx.com", "username": "u077", "transport": "TLS"},
            {"name": "y", "extension": "78", "application": "app.sipdev.telnyx.com", "connection_name": "custom"},
            {"name": "z", "state": "absent"},
        ],
    }}
    items = conns(hostvars)
    assert items[0]["external_uac_settings"] == {"proxy": "pbx-b", "transport": "TLS", "username": "u077",
                                                 "password": "shared"}
    assert items[0]["internal_uac_settings"] == {"destination_uri": "77@stt-9.sip.telnyx.com"}
    assert items[1]["connection_name"] == "custom"
    assert items[1]["internal_uac_settings"] == {"destination_uri": "78@app.sipdev.telnyx.com"}
    assert items[2] == {"connection_name": "pbx-b-z", "state": "absent"}


def test_hosts_without_trunks_are_skipped():
    assert conns({"a": {}, "b": {"sip_attach_trunks": []}}) == []


@pytest.mark.parametrize("trunk, message", [
    ({"name": "t", "extension": "1", "destination_uri": "1@a.sip.telnyx.com", "password": "p"},
     "sets both destination_uri and extension"),
    ({"name": "t", "password": "p"}, "needs destination_uri, or extension with application"),
    ({"name": "t", "extension": "1", "password": "p", "application": None}, "needs an application"),
    ({"name": "t", "extension": "1", "application": "x"}, "needs a password"),
    ({"name": "t", "extension": "1", "password": "p", "pasword": "p"}, "unknown key(s) pasword"),
    ({"extension": "1", "password": "p"}, "needs a name"),
    ({"name": "t", "extension": "1", "password": "p", "application": "bad app"}, "must be an application label"),
    ({"name": "t", "extension": "1", "password": "p", "settings": {"external_uac_settings": {}}},
     "must not set external_uac_settings"),
])
def test_bad_trunks_fail_with_a_clear_message(trunk, message):
    with pytest.raises(AnsibleFilterError, match=message.replace("(", r"\(").replace(")", r"\)")):
        conns({"h": {"sip_attach_trunks": [trunk]}})


def test_duplicate_connection_names_fail():
    hostvars = {
        "a": {"sip_attach_trunks": [{"name": "t", "connection_name": "same", "extension": "1", "password": "p",
                                     "application": "x"}]},
        "b": {"sip_attach_trunks": [{"name": "t", "connection_name": "same", "extension": "2", "password": "p",
                                     "application": "x"}]},
    }
    with pytest.raises(AnsibleFilterError, match="also used by"):
        conns(hostvars)


def test_sip_domain():
    assert f.sip_domain("sip:pbx.example.com:5061;transport=tls") == "pbx.example.com"
    assert f.sip_domain("pbx.example.com:5060") == "pbx.example.com"
    assert f.sip_domain("[2001:db8::1]:5060") == "[2001:db8::1]"
    assert f.sip_domain(None) is None


@pytest.fixture
def real_hostvars(tmp_path):
    """HostVars of a real inventory, with vault-like references, a complex template and group defaults."""
    (tmp_path / "group_vars").mkdir()
    (tmp_path / "group_vars" / "pbx.yml").write_text(
        "sip_attach_defaults:\n  transport: TCP\n  application: %s\n"
        "vault_a_main: Pw-a-main-77\nbase_ext: '50'\n" % APP)
    (tmp_path / "hosts.yml").write_text(
        "pbx:\n  hosts:\n"
        "    a:\n      ansible_host: a.example.com\n      sip_attach_trunks:\n"
        "        - {name: main, extension: '1006', password: '{{ vault_a_main }}'}\n"
        "    b:\n      sip_attach_trunks:\n"
        "        - {name: main, extension: '{{ base_ext }}01', password: \"{{ 'Pw-b-' ~ (2 * 3) }}\"}\n")
    loader = DataLoader()
    inventory = InventoryManager(loader=loader, sources=[str(tmp_path / "hosts.yml")])
    manager = VariableManager(loader=loader, inventory=inventory)
    from ansible.vars.hostvars import HostVars
    return HostVars(inventory=inventory, variable_manager=manager, loader=loader)


def test_real_hostvars_fast_path_and_fallback_give_what_ansible_templating_gives(real_hostvars):
    items = f.sip_attach_connections(real_hostvars, ["a", "b"])
    assert items[0]["external_uac_settings"] == {"proxy": "a.example.com", "transport": "TCP", "username": "1006",
                                                 "password": "Pw-a-main-77"}
    # b uses templates that are not a bare variable reference: Ansible's templating resolves them
    assert items[1]["external_uac_settings"]["password"] == "Pw-b-6"
    assert items[1]["internal_uac_settings"]["destination_uri"] == "5001@%s.sip.telnyx.com" % APP
    assert items[1]["external_uac_settings"]["proxy"] == "b"
    templated = real_hostvars["a"]["sip_attach_trunks"][0]["password"]
    assert items[0]["external_uac_settings"]["password"] == templated


def test_worksheet_names_password_sources_and_never_holds_a_password(real_hostvars):
    result = {"results": [
        {"connection_name": "a-main", "action": "created", "id": "1", "fqdn": "f.uac.telnyx.com", "user_name": "u1",
         "destination_uri": "1006@%s.sip.telnyx.com" % APP, "proxy": "a.example.com", "username": "1006",
         "auth_username": None, "registration_status": None},
        {"connection_name": "gone", "action": "deleted", "id": "9", "proxy": "sip:old.example.net:5060"},
    ]}
    rows = f.sip_attach_worksheet(real_hostvars, ["a", "b"], result)
    assert [(row["pbx_host"], row["connection_name"], row["action"]) for row in rows] == [
        ("a", "a-main", "created"), ("b", "b-main", None), (None, "gone", "deleted")]
    assert rows[0]["password_source"] == "inventory var vault_a_main (via sip_attach_trunks[main].password)"
    assert rows[1]["password_source"] == "template in sip_attach_trunks[main].password"
    assert rows[0]["sip_domain"] == "a.example.com" and rows[2]["sip_domain"] == "old.example.net"
    files = f.sip_attach_report(rows, check_mode=True, managed_tag="sip-attach")
    text = "".join(item["content"] for item in files) + repr(rows)
    assert "Pw-a-main-77" not in text and "Pw-b-6" not in text
    assert files[0]["content"].startswith("# SIP Attach drift report")
    parsed = list(csv.DictReader(io.StringIO(files[1]["content"])))
    assert [row["connection_name"] for row in parsed] == ["a-main", "b-main", "gone"]


def test_csv_quotes_commas_quotes_and_formulas():
    assert f._csv_cell('a,"b"') == '"a,""b"""'
    assert f._csv_cell("=cmd()") == '"=cmd()"'
    assert f._csv_cell(None) == ""


def test_host_results_are_keyed_by_trunk_name():
    result = {"results": [{"connection_name": "h-main", "id": "1"}, {"connection_name": "custom", "id": "2"},
                          {"connection_name": "other-x", "id": "3"}]}
    trunks = [{"name": "main"}, {"name": "aux", "connection_name": "custom"}, {"name": "missing"}]
    assert f.sip_attach_host_results(result, "h", trunks) == {"main": result["results"][0],
                                                              "aux": result["results"][1]}
    assert f.sip_attach_host_results({}, "h", trunks) == {}
