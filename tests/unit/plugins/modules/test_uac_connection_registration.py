"""Unit tests of wait_for_registration on uac_connection and registration on uac_connection_info."""
from __future__ import annotations

import pytest

from ansible_collections.telnyx.sip.plugins.module_utils import _registration as registration
from ansible_collections.telnyx.sip.plugins.modules import uac_connection, uac_connection_info
from tests.unit.plugins.fakes import assert_no_secret, sip_status

MODULE = uac_connection  # what the run fixture drives

PBX_PASSWORD = "pbx-Secret-42x"
EXAMPLE = dict(
    connection_name="pbx-hq-1006",
    external_uac_settings=dict(proxy="sip:pbx.example.com:5060", transport="TCP", username="1006",
                               password=PBX_PASSWORD),
    internal_uac_settings=dict(destination_uri="1006@assistant-abc123.sip.telnyx.com"),
)
WAIT = dict(wait_for_registration=True, registration_timeout=60, registration_poll_interval=10)


def test_wait_succeeds_once_registered(run, registrar, registration_clock, transport):
    registrar.set("pbx-hq-1006", sip_status("unknown"), sip_status("registered"))
    result, failed = run(dict(EXAMPLE, **WAIT))
    assert not failed, result
    conn = result["uac_connection"]
    assert result["action"] == "created" and conn["registration_status"] == "Registered"
    assert conn["registration"]["registered"] is True
    assert transport.methods == [("GET", "/uac_connections"), ("POST", "/uac_connections"),
                                 ("GET", "/sip_registration_status"), ("GET", "/sip_registration_status")]
    assert transport.calls[-1].params == dict(credential_type="uac_external_credential", connection_id=conn["id"])
    assert registration_clock.sleeps == [10]
    assert_no_secret(result, PBX_PASSWORD)


def test_wait_on_an_unchanged_connection_reads_its_registration(run, registrar, api, registration_clock, transport):
    existing = api.add(**EXAMPLE)
    registrar.set(existing["id"], sip_status("registered"))
    result, failed = run(dict(EXAMPLE, **WAIT))
    assert not failed and result["action"] == "unchanged" and result["changed"] is False
    assert transport.methods == [("GET", "/uac_connections"), ("GET", "/sip_registration_status")]
    assert result["uac_connection"]["registration_status"] == "Registered"


def test_a_401_fails_naming_connection_status_answer_and_hint(run, registrar, registration_clock, api):
    registrar.set("pbx-hq-1006", sip_status("failed", response="401 Unauthorized"))
    result, failed = run(dict(EXAMPLE, **WAIT))
    assert failed
    assert result["msg"] == ("pbx-hq-1006 failed to register (status failed, PBX's last answer: 401 Unauthorized): "
                             + registration.HINTS[401])
    assert "check external_uac_settings.username, auth_username and password" in result["msg"]
    # the connection was created all the same, and the result says so
    assert result["action"] == "created" and result["changed"] is True
    assert result["uac_connection"]["registration_status"] == "Failed"
    assert result["uac_connection"]["id"] in api.store
    assert registration_clock.sleeps == []  # a 401 will not fix itself: no more polling


def test_a_timeout_fails_with_the_last_status(run, registrar, registration_clock):
    registrar.set("pbx-hq-1006", sip_status("unknown"), sip_status("failed", response="408 Request Timeout"))
    result, failed = run(dict(EXAMPLE, **dict(WAIT, registration_timeout=45)))
    assert failed
    assert result["msg"] == ("pbx-hq-1006 did not register within 45 s (status failed, PBX's last answer: "
                             "408 Request Timeout): " + registration.HINTS[408])
    # reads at 0, 10, 20, 30, 40 and, last, at the deadline (45 s)
    assert registration_clock.sleeps == [10] * 4 + [5] and len(registrar.reads) == 6
    assert result["uac_connection"]["registration"]["last_registration_response"] == "408 Request Timeout"


def test_an_inactive_connection_is_not_waited_for(run, registrar, registration_clock, transport):
    result, failed = run(dict(EXAMPLE, active=False, **WAIT))
    assert not failed and registrar.reads == []
    assert [c.path for c in transport.calls] == ["/uac_connections", "/uac_connections"]


def test_without_a_pbx_the_wait_fails_at_once(run, registrar, registration_clock):
    result, failed = run(dict(connection_name="pbx-branch-2001", **WAIT))
    assert failed and registrar.reads == []
    assert result["msg"] == ("pbx-branch-2001 has no PBX to register to: set external_uac_settings.proxy, username "
                             "and password")
    assert result["action"] == "created"


@pytest.mark.parametrize("options", [dict(check_mode=True), dict()])
def test_no_wait_in_check_mode_or_for_a_delete(run, registrar, api, registration_clock, transport, options):
    api.add(**EXAMPLE)
    state = "present" if options else "absent"
    result, failed = run(dict(EXAMPLE, state=state, **dict(WAIT, registration_timeout=60)), **options)
    assert not failed and registrar.reads == []


def test_bad_wait_options_fail_before_any_request(run, api, transport):
    result, failed = run(dict(EXAMPLE, wait_for_registration=True, registration_timeout=0,
                              registration_poll_interval=0))
    assert failed and transport.calls == []
    assert result["msg"] == ("registration_timeout must be at least 1 second, got 0; "
                             "registration_poll_interval must be greater than 0, got 0.0")


# -- uac_connection_info: registration --------------------------------------------------------------
def test_info_adds_the_live_registration(run_module, registrar, api, transport):
    one = api.add(connection_name="pbx-one", password="top-Secret-1")
    two = api.add(connection_name="pbx-two")
    registrar.set(one["id"], sip_status("registered"))
    result, failed = run_module(uac_connection_info, dict(registration=True))
    assert not failed
    by_name = dict((c["connection_name"], c) for c in result["uac_connections"])
    assert by_name["pbx-one"]["registration"] == dict(sip_status("registered"), connection_id=one["id"])
    assert by_name["pbx-two"]["registration"] == {}  # 404: never registered
    assert sorted(registrar.reads) == sorted([one["id"], two["id"]])
    assert_no_secret(result, "top-Secret-1")


def test_info_without_registration_reads_no_status(run_module, registrar, api, transport):
    api.add(connection_name="pbx-one")
    result, failed = run_module(uac_connection_info, dict())
    assert not failed and "registration" not in result["uac_connections"][0]
    assert registrar.reads == [] and transport.methods == [("GET", "/uac_connections")]


def test_an_interval_longer_than_the_timeout_still_waits_the_timeout(run, registrar, registration_clock):
    registrar.set("pbx-hq-1006", sip_status("trying"))
    result, failed = run(dict(EXAMPLE, **dict(WAIT, registration_timeout=30, registration_poll_interval=600)))
    assert failed and "did not register within 30 s" in result["msg"]
    assert registration_clock.sleeps == [30] and len(registrar.reads) == 2
