"""Calls through a real PBX: SIPp calls an extension at Kamailio, which routes the INVITE to the contact the
emulator registered for that extension's UAC connection, as a PBX routes a call to Telnyx.

The emulator answers (200 OK with SDP, then the caller's BYE) and records the call at GET /_emulator/calls;
an inactive connection gets 480, from the emulator while the PBX still holds its binding, else from the PBX.
"""

import time

import pytest

from tests.integration.sip.helpers import USERS

pytestmark = [pytest.mark.integration]

DESTINATION = "8492@acme.sip.telnyx.com"

# A call that expects 480 Temporarily Unavailable (then ACKs it): SIPp's built-in uac expects 200.
EXPECT_480 = """<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="call answered 480">
  <send retrans="500">
    <![CDATA[
      INVITE sip:[service]@[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: sipp <sip:sipp@[local_ip]:[local_port]>;tag=[pid]SIPpTag09[call_number]
      To: <sip:[service]@[remote_ip]:[remote_port]>
      Call-ID: [call_id]
      CSeq: 1 INVITE
      Contact: <sip:sipp@[local_ip]:[local_port]>
      Max-Forwards: 70
      Content-Type: application/sdp
      Content-Length: [len]

      v=0
      o=sipp 1 1 IN IP[local_ip_type] [local_ip]
      s=-
      c=IN IP[media_ip_type] [media_ip]
      t=0 0
      m=audio [media_port] RTP/AVP 0
      a=rtpmap:0 PCMU/8000

    ]]>
  </send>
  <recv response="100" optional="true"/>
  <recv response="480"/>
  <send>
    <![CDATA[
      ACK sip:[service]@[remote_ip]:[remote_port] SIP/2.0
      [last_Via:]
      [last_From:]
      [last_To:]
      [last_Call-ID:]
      CSeq: 1 ACK
      Max-Forwards: 70
      Content-Length: 0

    ]]>
  </send>
</scenario>
"""


def attach(emulator, pbx, name, user, transport="UDP"):
    """Create a connection registering `user` to the PBX; returns its id once the PBX has the contact."""
    body = {"connection_name": name, "internal_uac_settings": {"destination_uri": DESTINATION},
            "external_uac_settings": {"proxy": pbx.proxy, "username": user, "password": USERS[user],
                                      "transport": transport}}
    response = emulator.call("POST", "/uac_connections", body)
    assert response.status_code == 201, response.text
    assert pbx.wait_for(lambda kamailio: kamailio.contacts(user), timeout=10), pbx.log()[-3000:]
    return response.json()["data"]["id"]


def deactivate(emulator, connection_id):
    response = emulator.call("PATCH", f"/uac_connections/{connection_id}", {"active": False})
    assert response.status_code == 200, response.text


def wait_for(predicate, timeout=10):
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)


@pytest.mark.parametrize("transport", ["UDP", "TCP"])
def test_call_to_a_registered_connection_is_answered(sipp, kamailio, sip_emulator, transport):
    connection_id = attach(sip_emulator, kamailio, "pbx-101", "ext101", transport)
    attach(sip_emulator, kamailio, "pbx-102", "ext102")  # another connection on the same PBX: not called
    done = sipp(kamailio, "ext101")
    assert done.returncode == 0, done.output  # INVITE, 200 (from the emulator), ACK, BYE, 200
    (call,) = sip_emulator.calls()
    assert {key: call[key] for key in ("connection_id", "connection_name", "user", "destination_uri", "status")} == {
        "connection_id": connection_id, "connection_name": "pbx-101", "user": "ext101",
        "destination_uri": DESTINATION, "status": 200}
    assert call["transport"] == transport and call["from"].startswith("sip:sipp@127.0.0.1")
    wait_for(lambda: sip_emulator.calls()[0]["state"] == "ended")
    assert sip_emulator.calls()[0]["ended_by"] == "caller"


def test_inactive_connection_gets_480(sipp, kamailio, sip_emulator):
    # The PBX refuses the deactivation's unregistration (the extension was disabled meanwhile), so it keeps
    # routing calls to the contact until the binding expires: the emulator answers them 480.
    kept = attach(sip_emulator, kamailio, "pbx-103", "ext103")
    kamailio.disable("ext103")
    deactivate(sip_emulator, kept)
    wait_for(lambda: sip_emulator.call("GET", f"/uac_connections/{kept}").json()["data"]["registration_status"]
             == "Unregistered")
    assert kamailio.contacts("ext103"), "the PBX should have kept the binding"
    done = sipp(kamailio, "ext103", EXPECT_480)
    assert done.returncode == 0, done.output
    (call,) = sip_emulator.calls()
    assert (call["connection_id"], call["connection_name"], call["user"], call["status"]) == (
        kept, "pbx-103", "ext103", 480)
    assert call["destination_uri"] == DESTINATION

    # Unregistered for good: the PBX has no contact and answers 480 itself; no call reaches the emulator.
    dropped = attach(sip_emulator, kamailio, "pbx-104", "ext104")
    deactivate(sip_emulator, dropped)
    assert kamailio.wait_for(lambda pbx: not pbx.contacts("ext104"), timeout=5), kamailio.locations()
    done = sipp(kamailio, "ext104", EXPECT_480)
    assert done.returncode == 0, done.output
    assert [call["user"] for call in sip_emulator.calls()] == ["ext103"]


def test_reset_clears_the_calls(sipp, kamailio, sip_emulator):
    attach(sip_emulator, kamailio, "pbx-105", "ext105")
    assert sipp(kamailio, "ext105").returncode == 0
    assert len(sip_emulator.calls()) == 1
    sip_emulator.reset()
    assert sip_emulator.calls() == []
