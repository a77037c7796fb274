"""Unit tests of the sip_attach filters (plugins/filter/sip_attach.py)."""

import csv
import io
import os
import re

import pytest
import yaml

from ansible.errors import AnsibleFilterError
from ansible.inventory.manager import InventoryManager
from ansible.parsing.dataloader import DataLoader
from ansible.vars.manager import VariableManager

from ansible_collections.telnyx.sip.plugins.filter import sip_attach as f
from tests.collection_path import REPO_ROOT

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
            {"name": "y", "extension": "7800", "application": "app.sipdev.telnyx.com", "connection_name": "custom"},
            {"name": "z", "state": "absent"},
        ],
    }}
    items = conns(hostvars)
    assert items[0]["external_uac_settings"] == {"proxy": "pbx-b", "transport": "TLS", "username": "u077",
                                                 "password": "shared"}
    assert items[0]["internal_uac_settings"] == {"destination_uri": "77@stt-9.sip.telnyx.com"}
    assert items[1]["connection_name"] == "custom"
    assert items[1]["internal_uac_settings"] == {"destination_uri": "7800@app.sipdev.telnyx.com"}
    assert items[2] == {"connection_name": "pbx-b-z", "state": "absent"}


def test_hosts_without_trunks_are_skipped():
    assert conns({"a": {}, "b": {"sip_attach_trunks": []}}) == []


@pytest.mark.parametrize("trunk, message", [
    ({"name": "t", "extension": "1", "destination_uri": "1@a.sip.telnyx.com", "password": "p"},
     "destination_uri and extension are both set"),
    ({"name": "t", "password": "p"}, "destination_uri is missing: give destination_uri, or extension with application"),
    ({"name": "t", "extension": "1", "password": "p", "application": None}, "needs an application"),
    ({"name": "t", "extension": "1", "application": "x"}, "password is missing"),
    ({"name": "t", "extension": "1", "password": "p", "pasword": "p"}, "unknown key pasword (did you mean password?)"),
    ({"extension": "1", "password": "p"}, "name is missing"),
    ({"name": "t", "extension": "1001", "password": "p", "application": "x", "transport": "tcp"},
     "transport must be one of UDP, TCP, TLS (in upper case), got 'tcp'"),
    ({"name": "t", "extension": "1001", "password": "p", "application": "x", "expiration_sec": "soon"},
     "expiration_sec must be a whole number of seconds, got 'soon'"),
    ({"name": "t", "extension": "1001", "password": "p", "application": "x", "proxy": "sip:bad host"},
     "trunk t: proxy must be a host, host:port or sip: URI"),
    ({"name": "t", "extension": "1001", "password": "p", "application": "x", "settings": {"dtmf_type": "rfc"}},
     "value of dtmf_type must be one of"),
    ({"name": "t", "extension": "1001", "password": "p", "application": "x",
      "settings": {"inbound": {"timeout_1xx_secs": 0}}}, "settings.inbound.timeout_1xx_secs must be at least 1, got 0"),
    ({"name": "t", "extension": "1", "password": "p", "application": "bad app"}, "must be an application label"),
    ({"name": "t", "extension": "1", "password": "p", "settings": {"external_uac_settings": {}}},
     "must not set external_uac_settings"),
])
def test_bad_trunks_fail_with_a_clear_message(trunk, message):
    with pytest.raises(AnsibleFilterError, match=re.escape(message)):
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
        ("a", "a-main", "created"), ("b", "b-main", "not sent"), (None, "gone", "deleted")]
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


def good_trunk(name="main", extension="1001", **extra):
    return dict({"name": name, "extension": extension, "password": "pw-%s" % name, "application": "cc-app-1"}, **extra)


def test_every_bad_trunk_of_every_host_is_named_at_once_with_host_trunk_field_and_fix():
    hostvars = {
        "pbx-f1": {"sip_attach_trunks": [good_trunk("reception", "101"), good_trunk("ok", "1002")]},
        "pbx-f2": {"sip_attach_trunks": [good_trunk("sales", "2001", transport="tcp")]},
    }
    with pytest.raises(AnsibleFilterError) as caught:
        conns(hostvars)
    lines = str(caught.value).splitlines()
    assert lines == [
        "Nothing was sent: 2 problems in the input of the sip_attach role.",
        "- host pbx-f1, trunk reception: username must be at least 4 characters long, got 3; the username defaults to "
        "the extension: set username in the trunk (for example ext101) and use the same user on the PBX",
        "- host pbx-f2, trunk sales: transport must be one of UDP, TCP, TLS (in upper case), got 'tcp'",
    ]


def test_a_long_list_of_problems_is_cut_and_points_at_the_report():
    hostvars = dict(("h%02d" % i, {"sip_attach_trunks": [good_trunk("t", "1")]}) for i in range(40))
    with pytest.raises(AnsibleFilterError) as caught:
        conns(hostvars)
    lines = str(caught.value).splitlines()
    assert len(lines) == 1 + f.MAX_LISTED + 1
    assert lines[-1] == "- ... and 15 more (the report in sip_attach_report_dir lists every trunk's error)"


def play_input(hostvars, hosts=None, **options):
    return f.sip_attach_input(hostvars, hosts or list(hostvars), **options)


def test_input_of_a_good_play_has_connections_and_rows_without_passwords():
    data = play_input({"a": {"sip_attach_trunks": [good_trunk()]}}, play_host="a",
                      play_trunks=[good_trunk()], play_defaults={})
    assert data["problems"] == [] and data["message"] is None
    assert [item["connection_name"] for item in data["connections"]] == ["a-main"]
    assert [(row["pbx_host"], row["trunk"], row["action"], row["error"]) for row in data["rows"]] == \
        [("a", "main", None, None)]
    assert "pw-main" not in repr(data["rows"])


def test_input_checks_each_trunk_against_the_api_rules_once(validations):
    """The filter runs in the controller; the module checks the items again in its own process, once each."""
    hostvars = {"a": {"sip_attach_trunks": [good_trunk(), good_trunk("sales", "1002")]},
                "b": {"sip_attach_trunks": [good_trunk()]}}
    data = play_input(hostvars, play_host="a", play_trunks=hostvars["a"]["sip_attach_trunks"], play_defaults={})
    assert data["problems"] == []
    assert validations == dict(validate=["a-main", "a-sales", "b-main"], validate_update=[])


@pytest.mark.parametrize("var, value", [("play_trunks", [good_trunk("other")]), ("play_defaults", {"transport": "UDP"})])
def test_trunks_or_defaults_set_above_the_inventory_are_refused(var, value):
    hostvars = {"a": {"sip_attach_trunks": [good_trunk()]}, "b": {}}
    options = {"play_host": "a", "play_trunks": [good_trunk()], "play_defaults": {}}
    options[var] = value
    data = play_input(hostvars, **options)
    name = "sip_attach_trunks" if var == "play_trunks" else "sip_attach_defaults"
    assert data["problems"] == [
        "%s is set in the play (play vars, role vars or role parameters), where the role cannot read it per host; it "
        "reads each PBX host's own inventory variables. Put %s in host_vars/<host>.yml, the inventory or group_vars "
        "(or -e for one run)." % (name, name)]
    assert data["connections"] == []


def test_play_level_trunks_on_a_host_without_inventory_trunks_are_refused():
    data = play_input({"pbx1": {}}, play_host="pbx1", play_trunks=[good_trunk()], play_defaults={})
    assert len(data["problems"]) == 1 and data["problems"][0].startswith("sip_attach_trunks is set in the play")


def test_purge_is_refused_for_hosts_that_do_not_state_their_trunks():
    hostvars = {"a": {"sip_attach_trunks": [good_trunk()]}, "b": {"sip_attach_trunk": [good_trunk()]},
                "c": {"sip_attach_trunks": []}}
    data = play_input(hostvars, purge=True, managed_tag="sip-attach")
    assert data["problems"] == [
        "sip_attach_purge would delete the connections of hosts that do not define sip_attach_trunks: b. Give each of "
        "them its sip_attach_trunks (an empty list states that a host has no trunks), take them out of the play, or "
        "set sip_attach_purge_force_hosts_without_trunks: true."]
    assert data["connections"] == []
    forced = play_input(hostvars, purge=True, managed_tag="sip-attach", purge_force_hosts_without_trunks=True)
    assert forced["problems"] == [] and len(forced["connections"]) == 1
    assert play_input(hostvars, purge=False)["problems"] == []


def test_each_item_names_its_host_as_owner_and_the_purge_owners_are_the_play_hosts():
    hostvars = {"a": {"sip_attach_trunks": [good_trunk(), {"name": "old", "state": "absent"}]},
                "b": {"sip_attach_trunks": []}, "c": {"sip_attach_trunks": [good_trunk()]}}
    data = play_input(hostvars, hosts=["a", "b"], purge=True, managed_tag="sip-attach")
    assert [(item["connection_name"], item.get("owner")) for item in data["connections"]] == [
        ("a-main", "a"), ("a-old", None)]  # an absent trunk is deleted by name
    # b states it has no trunks: its connections go too; c is not in the play: its connections are not this purge's
    assert data["purge_owners"] == ["a", "b"] and data["known_owners"] == []
    assert play_input(hostvars, hosts=["a"])["purge_owners"] == []  # no purge, no owners to purge
    # the public filter builds items without owners (uac_connections needs purge_tag for them)
    assert "owner" not in conns(hostvars, ["a"])[0]


def test_purge_of_a_play_with_no_present_trunk_purges_its_hosts_without_force():
    hostvars = {"a": {"sip_attach_trunks": []}, "b": {"sip_attach_trunks": [{"name": "old", "state": "absent"}]}}
    data = play_input(hostvars, purge=True, managed_tag="sip-attach")
    assert data["problems"] == [] and data["purge_owners"] == ["a", "b"]
    assert data["connections"] == [{"connection_name": "b-old", "state": "absent"}]


def test_purge_under_limit_is_the_limited_hosts_purge_and_failed_hosts_are_refused():
    hostvars = {"a": {"sip_attach_trunks": [good_trunk()]}}
    data = play_input(hostvars, failed_hosts=["z"], purge=True, limit="pbx0*", managed_tag="t")
    assert data["problems"] == ["These hosts failed before the rollout (see their errors above): z."]
    limited = play_input(hostvars, purge=True, limit="pbx0*", managed_tag="t")
    assert limited["problems"] == [] and limited["purge_owners"] == ["a"]


INVENTORY = {"a": {"sip_attach_trunks": [good_trunk()]}, "b": {"sip_attach_trunks": [good_trunk("x", "1002")]},
             "web": {}}


def departed(hosts=("a", "b"), **options):
    options = dict(dict(inventory_hosts=list(INVENTORY), managed_tag="sip-attach"), **options)
    return play_input(INVENTORY, hosts=list(hosts), purge_departed=True, **options)


def test_the_departed_purge_knows_every_host_of_the_inventory():
    data = departed()
    assert data["problems"] == []
    assert data["known_owners"] == ["a", "b", "web"]
    assert data["purge_owners"] == []  # the departed purge alone leaves the play's hosts' own connections alone
    assert departed(purge=True)["purge_owners"] == ["a", "b"]


@pytest.mark.parametrize("hosts, options, refusal", [
    (("a", "b"), dict(limit="a"), "sip_attach_purge_departed is refused in a play limited with --limit (a): the "
                                  "trunks of the hosts outside the limit are not listed"),
    (("a",), {}, "sip_attach_purge_departed is refused: the play does not cover every PBX host of the inventory (a "
                 "hosts: pattern?); these define sip_attach_trunks and are not in it: b."),
    (("a", "b"), dict(workflow=42), "sip_attach_purge_departed is refused in an AWX workflow job "
                                    "(awx_workflow_job_id 42): a sliced job template runs as a workflow"),
    (("a", "b"), dict(inventory_hosts=None), "sip_attach_purge_departed is refused without the inventory's hosts"),
])
def test_the_departed_purge_is_refused_where_it_cannot_be_proved_safe(hosts, options, refusal):
    data = departed(hosts, **options)
    assert len(data["problems"]) == 1 and data["problems"][0].startswith(refusal), data["problems"]
    assert data["connections"] == [] and data["known_owners"] == []


def test_the_departed_purge_with_no_present_trunk_is_refused_unless_forced():
    hostvars = {"a": {"sip_attach_trunks": []}}
    data = play_input(hostvars, purge_departed=True, inventory_hosts=["a"], managed_tag="sip-attach")
    assert data["problems"] == [
        "sip_attach_purge_departed is refused with no trunk in state present in the whole play: it would delete "
        "every connection tagged 'sip-attach' in the account. List the trunks to keep, or set "
        "sip_attach_purge_force_all: true to take the whole fleet off Telnyx."]
    forced = play_input(hostvars, purge_departed=True, inventory_hosts=["a"], purge_force_all=True)
    assert forced["problems"] == [] and forced["known_owners"] == ["a"]


def test_the_departed_purge_is_refused_over_hosts_that_do_not_state_their_trunks():
    data = play_input({"a": {"sip_attach_trunks": [good_trunk()]}, "b": {}}, purge_departed=True,
                      inventory_hosts=["a", "b"], managed_tag="t")
    assert [problem.split(":", maxsplit=1)[0] for problem in data["problems"]] == [
        "sip_attach_purge would delete the connections of hosts that do not define sip_attach_trunks"]


def test_unknown_role_variables_are_warned_about_with_their_hosts(monkeypatch):
    warnings = []
    monkeypatch.setattr(f.Display, "warning", lambda self, msg, *args, **kwargs: warnings.append(msg))
    hostvars = {"a": {"sip_attach_trunk": []}, "b": {"sip_attach_trunk": [], "sip_attach_purg": True,
                                                     "_sip_attach_input": {}, "sip_attach_trunks": []}}
    play_input(hostvars)
    assert warnings == [
        "sip_attach_purg is not a variable of the telnyx.sip.sip_attach role (did you mean sip_attach_purge?); the "
        "role ignores it (host b)",
        "sip_attach_trunk is not a variable of the telnyx.sip.sip_attach role (did you mean sip_attach_trunks?); the "
        "role ignores it (hosts a, b)",
    ]


def test_role_variables_are_the_options_of_the_role_and_its_outputs():
    with open(os.path.join(REPO_ROOT, "roles", "sip_attach", "meta", "argument_specs.yml")) as handle:
        options = yaml.safe_load(handle)["argument_specs"]["main"]["options"]
    with open(os.path.join(REPO_ROOT, "roles", "sip_attach", "defaults", "main.yml")) as handle:
        defaults = yaml.safe_load(handle)
    assert f.ROLE_VARIABLES == set(options) | set(defaults) | {"sip_attach_result"}


def test_the_role_argument_spec_holds_no_template():
    """ansible-core templates the argument spec when it validates the role's variables: a description with a
    template in double braces is evaluated on every host (one naming groups['pbx'] failed every inventory without
    that group)."""
    with open(os.path.join(REPO_ROOT, "roles", "sip_attach", "meta", "argument_specs.yml")) as handle:
        text = handle.read()
    templated = [number for number, line in enumerate(text.splitlines(), 1) if "{{" in line or "{%" in line]
    assert templated == [], "lines of argument_specs.yml with a template: %s" % templated


def test_report_after_a_refused_run_lists_every_trunk_as_not_sent_with_its_error():
    hostvars = {"pbx-f1": {"sip_attach_trunks": [good_trunk("reception", "101"), good_trunk("ok", "1002")]}}
    data = play_input(hostvars)
    files = f.sip_attach_report(data["rows"], managed_tag="sip-attach", result={}, run_error=data["message"])
    markdown, text = files[0]["content"], files[1]["content"]
    rows = list(csv.DictReader(io.StringIO(text)))
    assert [(row["trunk"], row["action"]) for row in rows] == [("reception", "not sent"), ("ok", "not sent")]
    assert rows[0]["error"].startswith("username must be at least 4 characters long, got 3")
    assert rows[1]["error"] == ""
    assert "- PBX hosts: 1; trunks: 2" in markdown and "- not sent: 2" in markdown
    assert "**The run failed**: Nothing was sent: 1 problem in the input" in markdown
    assert "pw-reception" not in markdown + text


DRIFT_RESULT = {"counts": {"created": 1, "updated": 2, "deleted": 1, "unchanged": 1, "failed": 1}, "results": [
    {"connection_name": "a-main", "action": "updated", "id": "1", "changes": [
        {"field": "external_uac_settings.transport", "before": "UDP", "after": "TCP"},
        {"field": "tags", "before": ["a"], "after": ["a", "b"]}]},
    {"connection_name": "b-main", "action": "updated", "id": "2", "changes": [
        {"field": "external_uac_settings.password", "before": None, "after": "(will be set)"},
        {"field": "active", "before": False, "after": True},
        {"field": "external_uac_settings.auth_username", "before": None, "after": "auth2"},
        {"field": "webhook_event_failover_url", "before": "https://x.example.com/a,b", "after": None}]},
    {"connection_name": "c-main", "action": "created", "id": "3", "changes": [
        {"field": "connection_name", "before": None, "after": "c-main"}]},
    {"connection_name": "same", "action": "unchanged", "id": "4", "changes": []},
    {"connection_name": "gone", "action": "deleted", "id": "5", "changes": []},
    {"connection_name": "bad", "action": "failed", "error": "Telnyx API 422: nope", "changes": [
        {"field": "active", "before": True, "after": False}]},
]}


def test_summary_names_each_changed_field_of_each_update_and_is_cut_at_the_limit():
    summary = f.sip_attach_summary(DRIFT_RESULT, 20)
    assert summary == {"counts": DRIFT_RESULT["counts"], "not_shown": 0, "adopted": 0, "changes": [
        "a-main: updated (external_uac_settings.transport: UDP -> TCP; tags: [a] -> [a, b])",
        "b-main: updated (external_uac_settings.password: (will be set); active: false -> true; "
        "external_uac_settings.auth_username: null -> auth2; webhook_event_failover_url: https://x.example.com/a,b -> null)",
        "c-main: created",
        "gone: deleted",
        "bad: failed (Telnyx API 422: nope)"]}
    cut = f.sip_attach_summary(DRIFT_RESULT, 2)
    assert [line.split(":")[0] for line in cut["changes"]] == ["a-main", "b-main"] and cut["not_shown"] == 3
    nothing_shown = {"counts": DRIFT_RESULT["counts"], "changes": [], "not_shown": 5, "adopted": 0}
    assert f.sip_attach_summary(DRIFT_RESULT, 0) == nothing_shown
    assert f.sip_attach_summary({}, 20) == {"counts": None, "changes": [], "not_shown": 0, "adopted": 0}


def test_change_values_in_words():
    assert [f._shown(value) for value in (None, True, "", 5, "UDP", ["a", 1], {"engine": "denoiser", "on": False})] == [
        "null", "true", '""', "5", "UDP", "[a, 1]", "{engine: denoiser, on: false}"]


def drift_rows():
    hostvars = {"a": {"sip_attach_trunks": [good_trunk()]}, "b": {"sip_attach_trunks": [good_trunk()]},
                "c": {"sip_attach_trunks": [good_trunk()]}}
    return play_input(hostvars)["rows"]


def test_report_of_a_check_has_its_own_names_a_changes_column_and_what_drifted():
    files = f.sip_attach_report(drift_rows(), check_mode=True, managed_tag="sip-attach", result=DRIFT_RESULT,
                                started="2025-01-31T09:00:00Z", finished="2025-01-31T09:00:05Z")
    assert [item["name"] for item in files] == ["sip-attach-drift-report.md", "sip-attach-drift-report.csv"]
    markdown, text = files[0]["content"], files[1]["content"]
    rows = dict((row["connection_name"], row) for row in csv.DictReader(io.StringIO(text)))
    assert list(rows["a-main"])[-2:] == ["changes", "adopted"]
    assert rows["a-main"]["changes"] == "external_uac_settings.transport: UDP -> TCP; tags: [a] -> [a, b]"
    assert rows["b-main"]["changes"].startswith("external_uac_settings.password: (will be set); active: false -> true")
    assert (rows["c-main"]["changes"], rows["gone"]["changes"], rows["gone"]["action"]) == ("", "", "deleted")
    assert "- Run started 2025-01-31T09:00:00Z, finished 2025-01-31T09:00:05Z" in markdown
    section = markdown.split("## What drifted", 1)[1].split("## Connections", 1)[0]
    assert "| a-main | a | main | external_uac_settings.transport | UDP | TCP |" in section
    assert "| a-main | a | main | tags | [a] | [a, b] |" in section
    assert "| b-main | b | main | external_uac_settings.password |  | (will be set) |" in section
    assert "c-main" not in section and "gone" not in section and "bad" not in section
    assert section.count("\n| ") == 2 + 6  # the header, its rule and one row per changed field


def test_report_of_a_real_run_keeps_the_worksheet_names_and_says_when_nothing_drifted():
    result = dict(DRIFT_RESULT, results=[line for line in DRIFT_RESULT["results"] if line["action"] != "updated"])
    files = f.sip_attach_report(drift_rows(), managed_tag="sip-attach", result=result)
    assert [item["name"] for item in files] == ["sip-attach-report.md", "sip-attach-report.csv"]
    assert "## What drifted\n\nNo existing connection differed from the inventory.\n" in files[0]["content"]


def test_report_in_progress_says_so_with_the_start_and_lists_no_result():
    files = f.sip_attach_report(drift_rows(), managed_tag="sip-attach", result=DRIFT_RESULT, in_progress=True,
                                started="2025-01-31T09:00:00Z")
    assert [item["name"] for item in files] == ["sip-attach-report.md", "sip-attach-report.csv"]
    markdown = files[0]["content"]
    assert markdown.startswith("# SIP Attach rollout report\n\n**In progress**: this run started at "
                               "2025-01-31T09:00:00Z and has not finished.")
    assert "## Connections" not in markdown and "What drifted" not in markdown
    rows = list(csv.DictReader(io.StringIO(files[1]["content"])))
    assert [(row["connection_name"], row["action"], row["id"], row["changes"]) for row in rows] == [
        ("a-main", "in progress", "", ""), ("b-main", "in progress", "", ""), ("c-main", "in progress", "", "")]


def test_report_marks_the_adopted_connections():
    hostvars = {"pbx-a": {"sip_attach_trunks": [good_trunk("main", "1001"), good_trunk("aux", "1002")]}}
    data = play_input(hostvars)
    result = {"results": [
        {"connection_name": "pbx-a-main", "action": "updated", "id": "1", "adopted": True},
        {"connection_name": "pbx-a-aux", "action": "unchanged", "id": "2"},
    ]}
    files = f.sip_attach_report(data["rows"], managed_tag="sip-attach", result=result)
    markdown, text = files[0]["content"], files[1]["content"]
    rows = list(csv.DictReader(io.StringIO(text)))
    assert [(row["connection_name"], row["action"], row["adopted"]) for row in rows] == [
        ("pbx-a-main", "updated", "True"), ("pbx-a-aux", "unchanged", "")]
    assert "- adopted: 1 (connections that lacked the managed tag: tagged, and their passwords set from the " \
           "inventory this once)" in markdown
    assert "| pbx-a | main | pbx-a-main | updated (adopted) | 1 |" in markdown
    assert "| pbx-a | aux | pbx-a-aux | unchanged | 2 |" in markdown
    assert f.sip_attach_summary(result, 20)["adopted"] == 1


# -- the localhost mode (sip_attach_hosts) ----------------------------------------------------------------------
def test_localhost_mode_reads_the_listed_hosts_within_the_limit_once_each():
    hostvars = {"localhost": {}, "a": {"sip_attach_trunks": [good_trunk()]},
                "b": {"sip_attach_trunks": [good_trunk("x", "2001")]}, "c": {"sip_attach_trunks": [good_trunk()]}}
    data = f.sip_attach_input(hostvars, ["localhost"], play_host="localhost", play_trunks=[], play_defaults={},
                              fleet_hosts=["a", "b", "a", "c"])
    assert data["problems"] == [] and data["hosts"] == ["a", "b", "c"]
    assert [item["connection_name"] for item in data["connections"]] == ["a-main", "b-x", "c-main"]
    limited = f.sip_attach_input(hostvars, ["localhost"], fleet_hosts=["a", "b", "c"], limit_hosts=["c", "a", "z"])
    assert limited["hosts"] == ["a", "c"]
    # the per-host mode: the play's hosts, whatever the limit matched (Ansible applied it to the play)
    assert f.fleet_hosts_of_play(["a", "b"], None, ["a"]) == (["a", "b"], [])


def test_localhost_mode_problems_name_the_hosts():
    hostvars = {"localhost": {}, "a": {"sip_attach_trunks": [good_trunk()], "sip_attach_pbx": "kamailio"},
                "b": {"sip_attach_trunks": [good_trunk("bad", "12")]}}
    data = f.sip_attach_input(hostvars, ["localhost", "a"], fleet_hosts=["a", "b", "gone"])
    assert data["problems"] == [
        "sip_attach_hosts (the localhost mode) runs the role once, on the controller, for the hosts it lists: run it "
        "in a play on localhost (hosts: localhost), or leave it unset to run the role on the PBX hosts themselves; this "
        "play has 2 hosts (localhost, a)",
        "sip_attach_hosts (the localhost mode) converges the Telnyx side only, and these hosts have a PBX the role "
        "configures through their own connection (sip_attach_pbx: asterisk or kamailio): a. Roll them out with a play "
        "on the PBX hosts (leave sip_attach_hosts unset), or converge only their Telnyx side with -e "
        "sip_attach_pbx=none.",
        "host 'gone' is not in the inventory",
        "host b, trunk bad: username must be at least 4 characters long, got 2; the username defaults to the "
        "extension: set username in the trunk (for example ext12) and use the same user on the PBX",
    ]
    assert data["connections"] == [] and data["pbx"] == {}
    assert f.fleet_hosts_of_play(["localhost"], "pbx")[1] == [
        "sip_attach_hosts must be a list of inventory host names, such as \"{{ groups['pbx'] }}\""]


def test_localhost_mode_refuses_trunks_set_in_the_play_on_the_controller():
    hostvars = {"localhost": {}, "a": {"sip_attach_trunks": [good_trunk()]}}
    data = f.sip_attach_input(hostvars, ["localhost"], play_host="localhost", play_trunks=[good_trunk("x")],
                              play_defaults={}, fleet_hosts=["a"])
    assert len(data["problems"]) == 1 and data["problems"][0].startswith("sip_attach_trunks is set in the play")
    inventory = {"localhost": {"sip_attach_defaults": {"transport": "TCP"}}, "a": {"sip_attach_trunks": []}}
    same = f.sip_attach_input(inventory, ["localhost"], play_host="localhost", play_trunks=[],
                              play_defaults={"transport": "TCP"}, fleet_hosts=["a"])
    assert same["problems"] == [], "group_vars/all reach localhost too: the same value is the inventory's"


# -- waiting for the registrations with progress ------------------------------------------------------------------
def rollout_result():
    lines = [dict(connection_name=name, action=action, id=ident, registration_status=None)
             for name, action, ident in (("a-main", "created", "1"), ("a-off", "updated", "2"),
                                         ("b-main", "unchanged", "3"), ("b-old", "deleted", "4"),
                                         ("c-main", "failed", None))]
    return dict(changed=True, results=lines, by_name=dict((line["connection_name"], line) for line in lines))


def test_to_register_are_the_present_connections_of_the_run_but_the_inactive_ones():
    items = [dict(connection_name="a-main"), dict(connection_name="a-off", active=False)]
    assert f.sip_attach_to_register(rollout_result(), items) == [
        dict(id="1", connection_name="a-main"), dict(id="3", connection_name="b-main")]
    assert f.sip_attach_to_register({}, []) == []


def test_with_registration_puts_each_status_in_its_line_and_fails_naming_the_ones_that_did_not_register():
    registration = dict(registrations=[
        dict(connection_name="a-main", registration_status="Registered", state="registered"),
        dict(connection_name="b-main", registration_status="Failed", state="failed", error="b-main failed: 403")],
        not_registered=[dict(connection_name="b-main", error="b-main failed: 403")])
    result = f.sip_attach_with_registration(rollout_result(), registration)
    assert result["failed"] is True and result["msg"] == "1 connections did not register: b-main failed: 403"
    assert result["by_name"]["a-main"]["registration_status"] == "Registered"
    assert result["by_name"]["b-main"]["registration_error"] == "b-main failed: 403"
    assert result["by_name"]["b-old"]["registration_status"] is None
    assert result["not_registered"] == registration["not_registered"]
    fine = f.sip_attach_with_registration(rollout_result(), dict(registrations=[], not_registered=[]))
    assert "failed" not in fine and fine["not_registered"] == []
    with pytest.raises(AnsibleFilterError):
        f.sip_attach_with_registration(rollout_result(), None)
