"""Unit tests of the uac_connections module, driven through main() against a fake API on a fake transport."""
from __future__ import annotations

import json

import pytest

from ansible_collections.telnyx.sip.plugins.module_utils import _registration as registration
from ansible_collections.telnyx.sip.plugins.module_utils._resource import SECRET_WILL_SET
from ansible_collections.telnyx.sip.plugins.modules import uac_connections
from tests.unit.plugins.fakes import assert_no_secret, sip_status

MODULE = uac_connections  # what the run fixture drives

TAG = "sip-attach"
PASSWORDS = ("pbx-Secret-a-1x", "pbx-Secret-b-2y", "pbx-Secret-c-3z")
TOP_PASSWORD = "top-Secret-77y"


def trunk(name, pbx_password=None, **fields):
    external = dict(proxy="sip:pbx.example.com:5060", transport="TCP", username="ext-" + name)
    if pbx_password is not None:
        external["password"] = pbx_password
    item = dict(connection_name=name, external_uac_settings=external,
                internal_uac_settings=dict(destination_uri="%s@assistant-abc123.sip.telnyx.com" % name))
    item.update(fields)
    return item


ITEMS = [trunk("pbx-a", PASSWORDS[0], password=TOP_PASSWORD), trunk("pbx-b", PASSWORDS[1]),
         trunk("pbx-c", PASSWORDS[2])]


def fleet(*items, **options):
    return dict(dict(connections=list(items), purge_tag=TAG), **options)


def names(api):
    return sorted(conn["connection_name"] for conn in api.store.values())


@pytest.fixture
def rolled_out(run, api, transport):
    """ITEMS created through the module; the transport's record cleared."""
    result, failed = run(fleet(*ITEMS))
    assert not failed, result
    del transport.calls[:]
    return result


def test_first_run_creates_every_item(run, api, transport):
    result, failed = run(fleet(*ITEMS))
    assert not failed and result["changed"] is True
    assert result["counts"] == dict(created=3, updated=0, deleted=0, unchanged=0, failed=0)
    assert [(line["connection_name"], line["action"]) for line in result["results"]] == [
        ("pbx-a", "created"), ("pbx-b", "created"), ("pbx-c", "created")]
    assert transport.methods[0] == ("GET", "/uac_connections")
    assert sorted(transport.methods[1:]) == [("POST", "/uac_connections")] * 3
    assert names(api) == ["pbx-a", "pbx-b", "pbx-c"]
    assert all(conn["tags"] == [TAG] for conn in api.store.values())
    line = result["by_name"]["pbx-b"]
    assert line["id"] in api.store and line["fqdn"] == api.store[line["id"]]["fqdn"]
    assert (line["username"], line["proxy"]) == ("ext-pbx-b", "sip:pbx.example.com:5060")
    assert result["failed_items"] == [] and result["not_registered"] == []


def test_rerun_reads_one_page_and_writes_nothing(run, rolled_out, api, transport):
    result, failed = run(fleet(*ITEMS), diff=True)
    assert not failed and result["changed"] is False
    assert result["counts"] == dict(created=0, updated=0, deleted=0, unchanged=3, failed=0)
    assert transport.methods == [("GET", "/uac_connections")]
    assert transport.calls[0].params["page[number]"] == "1"
    assert result["diff"] == []
    assert [line["id"] for line in result["results"]] == [line["id"] for line in rolled_out["results"]]


def test_one_changed_item_is_one_patch(run, rolled_out, api, transport):
    items = [ITEMS[0], dict(ITEMS[1], external_uac_settings=dict(ITEMS[1]["external_uac_settings"], transport="UDP")),
             ITEMS[2]]
    result, failed = run(fleet(*items), diff=True)
    assert not failed and result["counts"]["updated"] == 1 and result["counts"]["unchanged"] == 2
    b = result["by_name"]["pbx-b"]["id"]
    assert transport.methods == [("GET", "/uac_connections"), ("PATCH", "/uac_connections/" + b)]
    assert [entry["before_header"] for entry in result["diff"]] == ["pbx-b"]
    assert api.store[b]["external_uac_settings"]["transport"] == "UDP"


def test_check_mode_writes_nothing_and_returns_the_plan(run, api, transport):
    api.add(**trunk("pbx-b"))  # untagged: adopted, an update
    result, failed = run(fleet(*ITEMS), check_mode=True, diff=True)
    assert not failed and result["changed"] is True
    assert transport.methods == [("GET", "/uac_connections")]
    assert names(api) == ["pbx-b"] and api.store[result["by_name"]["pbx-b"]["id"]]["external_uac_settings"].get(
        "password") is None
    assert [(line["connection_name"], line["action"]) for line in result["results"]] == [
        ("pbx-a", "created"), ("pbx-b", "updated"), ("pbx-c", "created")]
    assert result["by_name"]["pbx-a"]["id"] is None
    assert [entry["before_header"] for entry in result["diff"]] == ["pbx-a", "pbx-b", "pbx-c"]
    assert result["diff"][0]["after"]["password"] == SECRET_WILL_SET


def test_purge_deletes_only_what_carries_the_tag(run, rolled_out, api, transport):
    foreign = api.add(connection_name="foreign", tags=["other"])
    untagged = api.add(connection_name="untagged")
    result, failed = run(fleet(ITEMS[0], ITEMS[2], purge=True))
    assert not failed and result["changed"] is True
    assert result["counts"] == dict(created=0, updated=0, deleted=1, unchanged=2, failed=0)
    b = rolled_out["by_name"]["pbx-b"]["id"]
    assert transport.methods == [("GET", "/uac_connections"), ("DELETE", "/uac_connections/" + b)]
    assert names(api) == ["foreign", "pbx-a", "pbx-c", "untagged"]
    assert foreign["id"] in api.store and untagged["id"] in api.store


def test_purge_by_owners_keeps_the_connections_of_other_owners(run, api, transport):
    result, failed = run(fleet(*[dict(item, owner="pbx-hq") for item in ITEMS[:2]],
                               dict(ITEMS[2], owner="pbx-branch")))
    assert not failed, result
    assert {conn["connection_name"]: conn["tags"] for conn in api.store.values()} == {
        "pbx-a": [TAG, "sip-attach:owner=pbx-hq"], "pbx-b": [TAG, "sip-attach:owner=pbx-hq"],
        "pbx-c": [TAG, "sip-attach:owner=pbx-branch"]}
    del transport.calls[:]
    # a run that knows only pbx-hq's trunks, one of them gone: pbx-branch's connection is not its to delete
    result, failed = run(fleet(dict(ITEMS[0], owner="pbx-hq"), purge=True, purge_scope="owners"))
    assert not failed, result
    assert [(line["connection_name"], line["action"]) for line in result["results"]] == [
        ("pbx-a", "unchanged"), ("pbx-b", "deleted")]
    assert names(api) == ["pbx-a", "pbx-c"]


def test_purge_scope_options_are_checked_before_any_request(run, api, transport):
    result, failed = run(fleet(*ITEMS, purge=True, purge_departed=True))
    assert failed and transport.calls == []
    assert result["msg"] == ("purge_departed needs purge: true and purge_scope: owners; purge_departed needs "
                             "known_owners, every owner that still exists (the other owners' connections are deleted)")


def test_purge_without_purge_tag_fails_before_any_request(run, api, transport):
    result, failed = run(dict(connections=[ITEMS[0]], purge=True))
    assert failed and result["msg"] == \
        "purge needs purge_tag: only connections that carry the managed tag are ever deleted"
    assert transport.calls == []


def test_bad_items_fail_before_any_request_naming_each(run, api, transport):
    result, failed = run(fleet(dict(connection_name="x", proxy="pbx"), trunk("y", user_name="no"),
                               dict(connection_name="x"), concurrency=99))
    assert failed and transport.calls == []
    assert result["msg"].startswith("concurrency must be between 1 and 64, got 99; "
                                    "connections[0] (x): unsupported option proxy.")
    assert "; connections[1] (y): user_name must be at least 4 characters long, got 2" in result["msg"]
    assert result["msg"].endswith("; connections[2] (x): connection_name 'x' is also given by connections[0]; "
                                  "each name may appear once")


def refuse(api, name):
    """The fake API, except that it answers 422 to the create of ``name``."""
    def handler(call):
        if call.method == "POST" and (call.body or {}).get("connection_name") == name:
            return api._error(422, "is too short", "/external_uac_settings/username")
        return api(call)
    return handler


def test_a_partial_failure_fails_with_every_item_result(run, api, transport):
    transport.handler = refuse(api, "pbx-b")
    result, failed = run(fleet(*ITEMS))
    assert failed
    assert result["msg"] == "1 of 3 connections failed: pbx-b"
    assert result["failed_items"] == [dict(connection_name="pbx-b", error="Telnyx API 422 on POST /uac_connections: "
                                                                          "external_uac_settings.username: is too short")]
    assert [(line["connection_name"], line["action"]) for line in result["results"]] == [
        ("pbx-a", "created"), ("pbx-b", "failed"), ("pbx-c", "created")]
    assert result["changed"] is True
    assert result["counts"] == dict(created=2, updated=0, deleted=0, unchanged=0, failed=1)
    assert names(api) == ["pbx-a", "pbx-c"]
    # the next run creates only what is missing
    transport.handler = api
    del transport.calls[:]
    result, failed = run(fleet(*ITEMS))
    assert not failed and result["counts"]["created"] == 1 and result["counts"]["unchanged"] == 2
    assert names(api) == ["pbx-a", "pbx-b", "pbx-c"]


def test_duplicates_in_the_account_fail_only_that_item(run, api, transport):
    one = api.add(connection_name="pbx-b")
    two = api.add(connection_name="pbx-b")
    result, failed = run(fleet(*ITEMS))
    assert failed and result["msg"] == "1 of 3 connections failed: pbx-b"
    (line,) = result["failed_items"]
    assert one["id"] in line["error"] and two["id"] in line["error"]
    assert names(api) == ["pbx-a", "pbx-b", "pbx-b", "pbx-c"]


def test_each_item_is_checked_once_per_run(run, api, validations):
    """Each present item's own rules before any request, those of an update in the planner: never twice."""
    result, failed = run(fleet(*ITEMS[:2], dict(connection_name="pbx-old", state="absent")))
    assert not failed and result["counts"]["created"] == 2
    assert validations == dict(validate=["pbx-a", "pbx-b"], validate_update=[])
    result, failed = run(fleet(*ITEMS))
    assert not failed and (result["counts"]["created"], result["counts"]["unchanged"]) == (1, 2)
    assert validations == dict(validate=["pbx-a", "pbx-b", "pbx-a", "pbx-b", "pbx-c"],
                               validate_update=["pbx-a", "pbx-b"])


# -- secrets ----------------------------------------------------------------------------------------
SECRETS = PASSWORDS + (TOP_PASSWORD,)


@pytest.mark.parametrize("check_mode", [False, True])
def test_passwords_of_items_never_appear_in_the_output(run_module_output, api, api_key, check_mode):
    result, failed = run_module_output(MODULE, fleet(*ITEMS), check_mode=check_mode, diff=True)
    assert not failed, result
    assert result["invocation"]["module_args"]["connections"][1]["connection_name"] == "pbx-b"
    assert result["results"][0]["connection_name"] == "pbx-a"
    assert_no_secret(result, api_key, *SECRETS)


def test_passwords_of_items_never_appear_in_a_failure(run_module_output, api, transport, api_key):
    transport.handler = refuse(api, "pbx-b")
    result, failed = run_module_output(MODULE, fleet(*ITEMS), diff=True)
    assert failed and result["msg"] == "1 of 3 connections failed: pbx-b" and "invocation" in result
    assert result["by_name"]["pbx-b"]["action"] == "failed" and result["counts"]["failed"] == 1
    assert_no_secret(result, api_key, *SECRETS)


def test_the_list_of_failed_items_reaches_the_controller(run_module_output, api, transport):
    transport.handler = refuse(api, "pbx-b")
    result, failed = run_module_output(MODULE, fleet(*ITEMS))
    assert failed and [line["connection_name"] for line in result["failed_items"]] == ["pbx-b"]


def test_passwords_of_a_bad_item_never_appear(run_module_output, api, transport, api_key):
    items = [trunk("pbx-a", PASSWORDS[0], bogus="x"), dict(trunk("pbx-b", PASSWORDS[1]), password="short")]
    result, failed = run_module_output(MODULE, fleet(*items))
    assert failed and "connections[0] (pbx-a): unsupported option bogus" in result["msg"]
    assert "connections[1] (pbx-b): password must be at least 8 characters long, got 5" in result["msg"]
    assert transport.calls == []
    assert_no_secret(result, api_key, PASSWORDS[0], PASSWORDS[1], "short")


def test_reveal_secrets_shows_the_generated_password(run, api):
    result, failed = run(fleet(dict(connection_name="pbx-new"), reveal_secrets=True))
    assert not failed and result["results"][0]["password"] == api.GENERATED_PASSWORD
    result, failed = run(fleet(dict(connection_name="pbx-new")))
    assert "password" not in result["results"][0]


# -- wait_for_registration ---------------------------------------------------------------------------
WAIT = dict(wait_for_registration=True, registration_timeout=60, registration_poll_interval=10)


def test_wait_for_registration_succeeds_when_all_register(run, registrar, registration_clock):
    registrar.set("pbx-a", sip_status("unknown"), sip_status("registered"))
    registrar.set("pbx-b", sip_status("registered"))
    result, failed = run(fleet(*ITEMS[:2], **WAIT))
    assert not failed, result
    assert [line["registration_status"] for line in result["results"]] == ["Registered", "Registered"]
    assert result["not_registered"] == []
    assert registration_clock.sleeps == [10]
    a_id, b_id = result["by_name"]["pbx-a"]["id"], result["by_name"]["pbx-b"]["id"]
    assert sorted(registrar.reads) == sorted([a_id, a_id, b_id])


def test_wait_for_registration_names_the_cause_of_a_failure(run, registrar, registration_clock):
    registrar.set("pbx-a", sip_status("registered"))
    registrar.set("pbx-b", sip_status("failed", response="403 Forbidden"))
    result, failed = run(fleet(*ITEMS[:2], **WAIT))
    assert failed
    message = "pbx-b failed to register (status failed, PBX's last answer: 403 Forbidden): " + registration.HINTS[403]
    assert result["msg"] == "1 connections did not register: " + message
    assert "ACL or fail2ban" in result["msg"]
    assert result["not_registered"] == [dict(connection_name="pbx-b", error=message)]
    assert result["by_name"]["pbx-b"]["registration_error"] == message
    assert result["by_name"]["pbx-b"]["registration_status"] == "Failed"
    assert "registration_error" not in result["by_name"]["pbx-a"]
    assert result["failed_items"] == [] and result["counts"]["created"] == 2


def test_a_status_read_refused_for_one_connection_keeps_every_result(run, registrar, registration_clock):
    registrar.set("pbx-a", sip_status("registered"))
    registrar.set("pbx-b", {"http_error": 403})
    result, failed = run(fleet(*ITEMS[:2], **WAIT))
    assert failed and result["counts"]["created"] == 2
    assert result["by_name"]["pbx-a"]["registration_status"] == "Registered"
    (line,) = result["not_registered"]
    assert line["connection_name"] == "pbx-b"
    assert line["error"].startswith("pbx-b: its registration status could not be read: Telnyx API 403 on GET "
                                    "/sip_registration_status")


def test_wait_for_registration_times_out(run, registrar, registration_clock):
    registrar.set("pbx-a", sip_status("unknown"))
    result, failed = run(fleet(ITEMS[0], **WAIT))
    assert failed and "pbx-a did not register within 60 s" in result["msg"]
    assert sum(registration_clock.sleeps) == 60


def test_wait_for_registration_is_skipped_in_check_mode(run, registrar, registration_clock, transport):
    result, failed = run(fleet(*ITEMS, **WAIT), check_mode=True)
    assert not failed and registrar.reads == [] and transport.methods == [("GET", "/uac_connections")]


def test_wait_for_registration_options_are_checked_first(run, api, transport):
    result, failed = run(fleet(ITEMS[0], wait_for_registration=True, registration_timeout=0))
    assert failed and result["msg"] == "registration_timeout must be at least 1 second, got 0"
    assert transport.calls == []


def test_result_is_json(run, api):
    result, failed = run(fleet(*ITEMS))
    assert json.loads(json.dumps(result)) == result


def test_a_numeric_password_never_appears(run_module_output, api):
    """YAML reads an all-digit PBX password (a PIN) as an int; Ansible turns it into the string sent."""
    result, failed = run_module_output(MODULE, fleet(trunk("pbx-a", 73914682)))
    assert not failed, result
    (conn,) = api.store.values()
    assert conn["external_uac_settings"]["password"] == "73914682"
    assert_no_secret(result, "73914682")
