"""Unit tests of the uac_registration_info module (one read of many registrations, for a wait with progress)."""
from __future__ import annotations

import time

from tests.unit.plugins.fakes import sip_status

from ansible_collections.telnyx.sip.plugins.module_utils import _registration as registration
from ansible_collections.telnyx.sip.plugins.modules import uac_registration_info

MODULE = uac_registration_info  # what the run fixture drives


def lines(api, *names):
    """Lines as telnyx.sip.uac_connections returns them (other keys are ignored)."""
    return [dict(connection_name=name, id=api.add(connection_name=name)["id"], action="created", fqdn="x")
            for name in names]


def test_one_read_of_each_connection_counted_and_named(run, api, registrar):
    connections = lines(api, "pbx-a", "pbx-b", "pbx-c")
    registrar.set("pbx-a", sip_status("registered"))
    registrar.set("pbx-b", sip_status("failed", response="401 Unauthorized"))
    registrar.set("pbx-c", sip_status("trying"))
    result, failed = run(dict(connections=connections, wait_started=time.time(), registration_timeout=600))
    assert not failed and result["changed"] is False
    assert sorted(registrar.reads) == sorted(line["id"] for line in connections)
    assert result["counts"] == dict(total=3, registered=1, failed=1, pending=1)
    assert result["done"] is False and 595 <= result["seconds_left"] <= 600
    assert result["msg"] == "1 of 3 registered (1 failed, 1 pending), %d s left" % result["seconds_left"]
    states = [(line["connection_name"], line["state"], line["registration_status"]) for line in result["registrations"]]
    assert states == [("pbx-a", "registered", "Registered"), ("pbx-b", "failed", "Failed"),
                      ("pbx-c", "pending", "Not Registered")]
    failure = result["registrations"][1]["error"]
    assert failure == ("pbx-b failed to register (status failed, PBX's last answer: 401 Unauthorized): "
                       + registration.HINTS[401])
    assert "error" not in result["registrations"][2], "pending while the wait goes on"
    assert result["not_registered"] == []


def test_done_when_nothing_is_pending(run, api, registrar):
    connections = lines(api, "pbx-a", "pbx-b")
    registrar.set("pbx-a", sip_status("registered"))
    registrar.set("pbx-b", sip_status("failed", response="403 Forbidden"))
    result, failed = run(dict(connections=connections, wait_started=time.time(), registration_timeout=600))
    assert not failed and result["done"] is True
    assert result["msg"] == "1 of 2 registered, 1 did not register"
    assert [line["connection_name"] for line in result["not_registered"]] == ["pbx-b"]


def test_at_the_end_of_the_wait_the_pending_ones_did_not_register(run, api, registrar):
    connections = lines(api, "pbx-a", "pbx-b")
    registrar.set("pbx-a", sip_status("registered"))
    registrar.set("pbx-b", sip_status("standby"))
    result, failed = run(dict(connections=connections, wait_started=time.time() - 61, registration_timeout=60))
    assert not failed and result["done"] is True and result["seconds_left"] == 0
    assert result["not_registered"] == [dict(
        connection_name="pbx-b",
        error="pbx-b did not register within 60 s (status standby, PBX's last answer: no answer): "
              + registration.NO_ANSWER_HINT)]


def test_without_a_wait_it_is_one_read_and_names_default_to_ids(run, api, registrar):
    conn = api.add(connection_name="pbx-a")
    registrar.set(conn["id"], sip_status("registered"))
    result, failed = run(dict(connections=[dict(id=conn["id"])]))
    assert not failed and result["done"] is True and result["seconds_left"] is None
    assert result["registrations"][0]["connection_name"] == conn["id"]
    assert result["msg"] == "1 of 1 registered"


def test_bad_options_fail_before_any_request(run, transport):
    result, failed = run(dict(connections=[dict(connection_name="pbx-a")], concurrency=0))
    assert failed and transport.calls == []
    assert result["msg"] == ("concurrency must be between 1 and 64, got 0; connections[0] needs the id of a connection "
                             "(for example a line of the results of telnyx.sip.uac_connections), got "
                             "{'connection_name': 'pbx-a'}")
    result, failed = run(dict(connections=[], wait_started=1.0))
    assert failed and "parameters are required together: wait_started, registration_timeout" in result["msg"]
