"""Unit tests of the registration helpers: classifying /sip_registration_status, hints, reading and waiting."""
from __future__ import annotations

import copy

import pytest

from ansible_collections.telnyx.sip.plugins.module_utils import _registration as registration
from ansible_collections.telnyx.sip.plugins.module_utils._client import TelnyxError
from tests.unit.plugins.fakes import sip_status

PARAMS = dict(registration_timeout=60, registration_poll_interval=10.0)
PBX = dict(proxy="sip:pbx.example.com:5060", username="1006")


# -- response_code, classify, connection_status --------------------------------------------
@pytest.mark.parametrize("response, code", [
    ("403 Forbidden", 403), ("  401 Unauthorized", 401), ("408", 408), ("200 OK", 200),
    ("Forbidden 403", None), ("40 short", None), ("4031 Forbidden", None), ("", None), (None, None),
])
def test_response_code(response, code):
    assert registration.response_code(dict(last_registration_response=response)) == code


def test_response_code_of_nothing():
    assert registration.response_code(None) is None and registration.response_code({}) is None


@pytest.mark.parametrize("status, state", [
    (dict(registered=True, sip_registration_status="registered"), "registered"),
    (dict(registered=False, sip_registration_status="registered"), "pending"),
    (dict(registered=True, sip_registration_status="failed", last_registration_response="403 Forbidden"), "failed"),
    (dict(registered="true", sip_registration_status="registered"), "pending"),
    (dict(registered=True, sip_registration_status="unknown"), "pending"),
    (dict(sip_registration_status="connection_disabled"), "failed"),
    (dict(sip_registration_status="failed", last_registration_response="401 Unauthorized"), "failed"),
    (dict(sip_registration_status="failed", last_registration_response="403 Forbidden"), "failed"),
    (dict(sip_registration_status="failed", last_registration_response="404 Not Found"), "failed"),
    (dict(sip_registration_status="failed", last_registration_response="423 Interval Too Brief"), "failed"),
    (dict(sip_registration_status="failed", last_registration_response="408 Request Timeout"), "pending"),
    (dict(sip_registration_status="failed", last_registration_response="503 Service Unavailable"), "pending"),
    (dict(sip_registration_status="failed", last_registration_response="302 Moved"), "pending"),
    (dict(sip_registration_status="failed"), "pending"),
    (dict(sip_registration_status="unregistering", last_registration_response="403 Forbidden"), "pending"),
    (dict(sip_registration_status="unknown"), "pending"),
    ({}, "pending"),
    (None, "pending"),
])
def test_classify(status, state):
    assert registration.classify(status) == state


@pytest.mark.parametrize("status, words", [
    (dict(registered=True, sip_registration_status="registered"), "Registered"),
    (dict(registered=False, sip_registration_status="registered"), "Not Registered"),
    (dict(sip_registration_status="failed", last_registration_response="403 Forbidden"), "Failed"),
    (dict(sip_registration_status="connection_disabled"), "Unregistered"),
    (dict(sip_registration_status="unregistering"), "Unregistered"),
    (dict(sip_registration_status="unknown"), "Not Registered"),
    ({}, "Not Registered"),
    (None, "Not Registered"),
])
def test_connection_status(status, words):
    assert registration.connection_status(status) == words


# -- hint, failure_message ---------------------------------------------------------------------
@pytest.mark.parametrize("response, words", [
    ("401 Unauthorized", "refused the credentials"),
    ("403 Forbidden", "forbade the registration"),
    ("404 Not Found", "does not know this user or domain"),
    ("408 Request Timeout", "did not answer"),
    ("423 Interval Too Brief", "raise external_uac_settings.expiration_sec"),
    (None, "did not answer"),
    ("", "did not answer"),
])
def test_hint(response, words):
    hint = registration.hint(dict(sip_registration_status="failed", last_registration_response=response))
    assert words in hint
    assert hint == registration.HINTS[registration.response_code(dict(last_registration_response=response)) or 408]


def test_hint_for_another_code_quotes_the_answer():
    assert registration.hint(dict(last_registration_response="500 Server Internal Error")) == \
        "the PBX answered 500 Server Internal Error"


def test_hints_differ_per_code():
    assert len(set(registration.HINTS[code] for code in (401, 403, 404, 408, 423))) == 5


def test_failure_message_names_connection_status_answer_and_hint():
    status = dict(sip_registration_status="failed", last_registration_response="401 Unauthorized")
    assert registration.failure_message("pbx-hq-1006", status) == (
        "pbx-hq-1006 failed to register (status failed, PBX's last answer: 401 Unauthorized): "
        + registration.HINTS[401])


def test_failure_message_after_a_timeout():
    message = registration.failure_message("pbx-hq-1006", dict(sip_registration_status="unknown"),
                                           timed_out=True, timeout=420)
    assert message == ("pbx-hq-1006 did not register within 420 s (status unknown, PBX's last answer: no answer): "
                       + registration.NO_ANSWER_HINT)


def test_failure_message_without_any_status():
    assert registration.failure_message("pbx", None).startswith(
        "pbx failed to register (status unknown, PBX's last answer: no answer): ")


def test_failure_message_of_an_inactive_connection():
    assert registration.failure_message("pbx", dict(sip_registration_status="connection_disabled")) == \
        "pbx is not active (active: false), so Telnyx does not register it"


# -- read ----------------------------------------------------------------------------------------
def test_read_asks_for_the_external_credential_of_the_connection(make_client, transport):
    transport.push(json=sip_status("registered", connection_id="77"))
    assert registration.read(make_client(), 77) == sip_status("registered", connection_id="77")
    (call,) = transport.calls
    assert (call.method, call.path) == ("GET", "/sip_registration_status")
    assert call.params == dict(credential_type="uac_external_credential", connection_id="77")


def test_read_of_an_unknown_connection_is_empty(make_client, transport):
    transport.push(status=404, json=dict(errors=[dict(detail="not found")]))
    assert registration.read(make_client(), "77") == {}


def test_read_raises_other_errors(make_client, transport):
    transport.push(status=403, json=dict(errors=[dict(detail="forbidden")]))
    with pytest.raises(TelnyxError) as caught:
        registration.read(make_client(), "77")
    assert caught.value.status == 403


# -- Waiter ------------------------------------------------------------------------------------------
def waiter(client, clock, timeout=60, interval=10, workers=8):
    return registration.Waiter(client, timeout, interval, workers=workers, clock=clock.now, sleep=clock.sleep)


def test_wait_settles_as_soon_as_registered(make_client, registrar, clock):
    registrar.set("1", sip_status("unknown"), sip_status("failed", response="503 Service Unavailable"),
                  sip_status("registered"))
    result = waiter(make_client(), clock).wait(["1"])
    assert result == {"1": ("registered", dict(sip_status("registered"), connection_id="1"))}
    assert registrar.reads == ["1", "1", "1"]
    assert clock.sleeps == [10, 10]


def test_wait_stops_at_a_failure_that_will_not_fix_itself(make_client, registrar, clock):
    registrar.set("1", sip_status("unknown"), sip_status("failed", response="403 Forbidden"), sip_status("registered"))
    state, status = waiter(make_client(), clock).wait(["1"])["1"]
    assert state == "failed" and status["last_registration_response"] == "403 Forbidden"
    assert len(registrar.reads) == 2


def test_wait_times_out_with_the_last_status(make_client, registrar, clock):
    registrar.set("1", sip_status("unknown"), sip_status("unknown"),
                  sip_status("failed", response="408 Request Timeout"))
    start = clock.now()
    result = waiter(make_client(), clock, timeout=30, interval=10).wait([1])
    assert result == {"1": ("pending", dict(sip_status("failed", response="408 Request Timeout"), connection_id="1"))}
    assert clock.sleeps == [10, 10, 10] and clock.now() - start == 30
    assert registrar.reads == ["1"] * 4  # at 0, 10, 20 and 30 s


def test_wait_polls_every_interval_until_the_deadline(make_client, registrar, clock):
    registrar.set("1", sip_status("unknown"))
    waiter(make_client(), clock, timeout=600, interval=7.5).wait(["1"])
    assert clock.sleeps == [7.5] * 80 and len(registrar.reads) == 81


def test_wait_reads_only_the_connections_still_pending(make_client, registrar, clock):
    registrar.set("1", sip_status("registered"))
    registrar.set("2", sip_status("unknown"), sip_status("failed", response="401 Unauthorized"))
    registrar.set("3", sip_status("unknown"), sip_status("unknown"), sip_status("registered"))
    result = waiter(make_client(), clock).wait(["1", "2", "3", "2"])
    assert dict((cid, state) for cid, (state, _status) in result.items()) == \
        {"1": "registered", "2": "failed", "3": "registered"}
    assert sorted(registrar.reads) == ["1", "2", "2", "3", "3", "3"]
    assert registrar.reads[-1] == "3"


def test_wait_reads_many_connections_at_once(make_client, registrar, clock):
    registrar.hold = 0.05
    for cid in range(6):
        registrar.set(cid, sip_status("registered"))
    result = waiter(make_client(), clock, workers=4).wait(range(6))
    assert set(result) == set(str(cid) for cid in range(6))
    assert all(state == "registered" for state, _status in result.values())
    assert registrar.max_in_flight == 4


def test_wait_with_one_worker_reads_one_at_a_time(make_client, registrar, clock):
    registrar.hold = 0.01
    for cid in range(3):
        registrar.set(cid, sip_status("registered"))
    waiter(make_client(), clock, workers=0).wait(range(3))
    assert registrar.reads == ["0", "1", "2"] and registrar.max_in_flight == 1


def test_wait_for_nothing_reads_nothing(make_client, registrar, clock):
    assert waiter(make_client(), clock).wait([]) == {}
    assert registrar.reads == [] and clock.sleeps == []


# -- wait_for_connections ---------------------------------------------------------------------------
def conn(cid, active=True, **external):
    return dict(id=cid, connection_name="pbx-%s" % cid, active=active, external_uac_settings=dict(PBX, **external))


def test_wait_for_connections_returns_what_it_found_for_each_connection(make_client, registrar, registration_clock):
    registrar.set("1", sip_status("registered"))
    registrar.set("2", sip_status("unknown"), sip_status("failed", response="403 Forbidden"))
    one, two = conn("1"), conn("2")
    given = copy.deepcopy([one, two])
    found = registration.wait_for_connections(make_client(), [("one", one), ("two", two)], PARAMS)
    assert [(reg.status, reg.error) for reg in found] == [
        ("Registered", None),
        ("Failed", "two failed to register (status failed, PBX's last answer: 403 Forbidden): "
         + registration.HINTS[403])]
    assert found[0].details["registered"] is True
    assert found[1].details["last_registration_response"] == "403 Forbidden"
    assert [one, two] == given  # the connections handed in are not written
    assert registration_clock.sleeps == [10.0]


def test_wait_for_connections_times_out_with_the_timeout_in_the_message(make_client, registrar, registration_clock):
    registrar.set("1", sip_status("unknown"))
    (found,) = registration.wait_for_connections(make_client(), [("one", conn("1"))], PARAMS)
    assert found.error == ("one did not register within 60 s (status unknown, PBX's last answer: no answer): "
                           + registration.NO_ANSWER_HINT)
    assert found.status == "Not Registered"
    assert sum(registration_clock.sleeps) == 60


def test_wait_for_connections_skips_inactive_and_missing(make_client, registrar, registration_clock):
    inactive = conn("1", active=False)
    found = registration.wait_for_connections(
        make_client(), [("inactive", inactive), ("no id", dict(connection_name="x")), ("none", None)], PARAMS)
    assert found == [None, None, None] and registrar.reads == [] and "registration_status" not in inactive


@pytest.mark.parametrize("external", [dict(proxy=None), dict(username=None), dict(proxy="", username="")])
def test_wait_for_connections_without_a_pbx_fails_at_once(make_client, registrar, registration_clock, external):
    registrar.set("2", sip_status("registered"))
    bare, good = conn("1", **external), conn("2")
    found_bare, found_good = registration.wait_for_connections(make_client(), [("bare", bare), ("good", good)], PARAMS)
    assert found_bare.error == "bare has no PBX to register to: set external_uac_settings.proxy, username and password"
    assert found_bare.status == "Not Registered" and found_bare.details is None
    assert registrar.reads == ["2"] and (found_good.status, found_good.error) == ("Registered", None)


def test_wait_for_connections_of_a_connection_without_settings(make_client, registrar, registration_clock):
    bare = dict(id="1", connection_name="bare", active=True)
    (found,) = registration.wait_for_connections(make_client(), [("bare", bare)], PARAMS)
    assert found.error.startswith("bare has no PBX to register to") and registrar.reads == []


# -- annotate ------------------------------------------------------------------------------------------
def test_annotate_adds_the_live_registration(make_client, registrar):
    registrar.set("1", sip_status("registered"))
    registrar.set("2", sip_status("failed", response="401 Unauthorized"))
    connections = [dict(id="1"), dict(id="2"), dict(id="3"), dict(connection_name="no id")]
    assert registration.annotate(make_client(), connections) is connections
    assert connections[0]["registration"] == dict(sip_status("registered"), connection_id="1")
    assert connections[1]["registration"]["last_registration_response"] == "401 Unauthorized"
    assert connections[2]["registration"] == {}
    assert "registration" not in connections[3]
    assert sorted(registrar.reads) == ["1", "2", "3"]


def test_annotate_nothing_reads_nothing(make_client, registrar):
    assert registration.annotate(make_client(), []) == []
    assert registration.annotate(make_client(), [dict(connection_name="x")]) == [dict(connection_name="x")]
    assert registrar.reads == []
