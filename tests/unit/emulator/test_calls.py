"""Calls to a contact the emulator registered: raw SIP over loopback sockets, the call log and its hook.

A `FakeRegistrar` (test_sip.py) binds the emulator's contact; a `Caller` (a UDP socket on 127.0.0.1,
or the registrar's side of the TCP connection) then plays the PBX routing a call to that contact.
"""

import re
import socket
import threading
import time

import pytest

from tests.emulator import EmulatorConfig, create_app, sip
from tests.emulator.calls import CallAnswerer, CallLog
from tests.emulator.registrar_client import RegistrarClient
from tests.emulator.registration import RegistrationBook
from tests.unit.emulator.test_sip import AUTH, FakeRegistrar, record, wait_until


class Caller:
    """The PBX side of calls: sends requests to the contact, reads what comes back."""

    def __init__(self, contact, sock=None):
        self.contact = contact  # sip:user@127.0.0.1:port[;transport=tcp]
        host_port = contact.split("@", 1)[1].split(";", 1)[0]
        self.address = (host_port.rsplit(":", 1)[0], int(host_port.rsplit(":", 1)[1]))
        self.stream = sock is not None
        self.sock = sock or socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        if not self.stream:
            self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.buffer = b""

    def close(self):
        self.sock.close()

    def send(self, data):
        if self.stream:
            self.sock.sendall(data)
        else:
            self.sock.sendto(data, self.address)

    def receive(self, timeout=3.0):
        deadline = time.monotonic() + timeout
        while True:
            if self.stream:
                head_end = self.buffer.find(b"\r\n\r\n")
                if head_end >= 0:
                    length = int(sip.parse_message(self.buffer[:head_end + 4]).get("content-length") or 0)
                    if len(self.buffer) >= head_end + 4 + length:
                        data, self.buffer = self.buffer[:head_end + 4 + length], self.buffer[head_end + 4 + length:]
                        return sip.parse_message(data)
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError("nothing received")
            self.sock.settimeout(remaining)
            chunk = self.sock.recv(65535)
            if not self.stream:
                return sip.parse_message(chunk)
            self.buffer += chunk

    def expect(self, code, timeout=3.0):
        """The next response with this code (provisional ones before it are skipped)."""
        while True:
            message = self.receive(timeout)
            if message.code == code:
                return message
            assert message.code is not None and message.code < 200, message.start

    def request(self, method, uri=None, call_id="call-1", cseq=1, to_tag=None, branch="z9hG4bKinv1", body=b"",
                extra=()):
        transport = "TCP" if self.stream else "UDP"
        to = f"<sip:{sip.uri_user(uri or self.contact)}@127.0.0.1>" + (f";tag={to_tag}" if to_tag else "")
        headers = [("Via", f"SIP/2.0/{transport} 127.0.0.1:{self.port};branch={branch}"),
                   ("Record-Route", f"<sip:127.0.0.1:{self.port};lr>"),
                   ("From", f"\"Caller\" <sip:alice@127.0.0.1:{self.port}>;tag=caller1"), ("To", to),
                   ("Call-ID", call_id), ("CSeq", f"{cseq} {method}"),
                   ("Contact", f"<sip:alice@127.0.0.1:{self.port}>"), ("Max-Forwards", "69"), *extra]
        if body:
            headers.append(("Content-Type", "application/sdp"))
        self.send(sip.build_request(method, uri or self.contact, headers, body))

    def invite(self, uri=None, call_id="call-1", branch="z9hG4bKinv1"):
        offer = b"v=0\r\no=alice 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n" \
                b"m=audio 30000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n"
        self.request("INVITE", uri, call_id, branch=branch, body=offer)


@pytest.fixture
def registrar():
    fake = FakeRegistrar({"ext101": "pw101"})
    yield fake
    fake.close()


def make_client(**options):
    options = dict({"delay": 0.05, "timeout": 0.6, "retry": 0.3, "hangup_after": 5.0}, **options)
    return RegistrarClient(RegistrationBook(), **options)


@pytest.fixture
def client():
    registrar_client = make_client()
    yield registrar_client
    registrar_client.close(0.5)


def connection(registrar, **fields):
    conn = record(proxy=registrar.proxy)
    conn.update({"connection_name": "office-pbx", "internal_uac_settings": {"destination_uri": "8492@acme.sip.telnyx.com"}})
    conn.update(fields)
    return conn


def registered_caller(client, registrar, conn=None):
    client.handle("create", None, conn or connection(registrar))
    wait_until(lambda: registrar.bindings)
    return Caller(next(iter(registrar.bindings)))


def calls_of(client):
    return client.calls.entries()


def test_invite_is_answered_with_sdp_then_ack_and_bye(client, registrar):
    caller = registered_caller(client, registrar)
    try:
        caller.invite()
        trying = caller.receive()
        assert trying.code == 100 and "tag=" not in trying.get("to")
        answer = caller.expect(200)
        assert answer.get("cseq") == "1 INVITE" and answer.get("call-id") == "call-1"
        assert re.search(r";tag=\w+", answer.get("to")) and answer.get("via").endswith("branch=z9hG4bKinv1")
        assert answer.get("record-route") == f"<sip:127.0.0.1:{caller.port};lr>"
        assert answer.get("contact") == f"<{caller.contact}>" and answer.get("content-type") == "application/sdp"
        body = answer.body.decode()
        assert "c=IN IP4 127.0.0.1" in body and "a=rtpmap:0 PCMU/8000" in body
        assert re.search(r"^m=audio \d+ RTP/AVP 0\r$", body, re.M)
        wait_until(lambda: calls_of(client) and calls_of(client)[0]["state"] == "answered")
        to_tag = sip.header_params(answer.get("to"))["tag"]
        caller.request("ACK", to_tag=to_tag, branch="z9hG4bKack1")
        wait_until(lambda: calls_of(client)[0]["state"] == "confirmed")
        caller.request("BYE", cseq=2, to_tag=to_tag, branch="z9hG4bKbye1")
        bye_answer = caller.expect(200)
        assert bye_answer.get("cseq") == "2 BYE"
        wait_until(lambda: calls_of(client)[0]["state"] == "ended")
        (call,) = calls_of(client)
        assert call["at"].endswith("Z")
        del call["at"]
        assert call == {"connection_id": "1", "connection_name": "office-pbx", "user": "ext101",
                        "destination_uri": "8492@acme.sip.telnyx.com", "status": 200, "state": "ended",
                        "ended_by": "caller", "call_id": "call-1", "from": f"sip:alice@127.0.0.1:{caller.port}",
                        "transport": "UDP"}
        caller.request("BYE", cseq=3, to_tag="nope", call_id="unknown", branch="z9hG4bKbye2")
        assert caller.expect(481).get("call-id") == "unknown"
    finally:
        caller.close()


def test_unknown_user_is_404_and_retransmitted_invite_is_not_a_new_call(client, registrar):
    caller = registered_caller(client, registrar)
    try:
        other = caller.contact.replace("sip:ext101@", "sip:ext999@")
        caller.invite(other)
        first = caller.expect(404)
        caller.invite(other)  # the same INVITE again (lost answer): the same answer, no new call
        again = caller.expect(404)
        assert again.get("to") == first.get("to")
        caller.request("ACK", other, to_tag=sip.header_params(first.get("to"))["tag"])
        (call,) = calls_of(client)
        assert (call["user"], call["status"], call["state"]) == ("ext999", 404, "rejected")
    finally:
        caller.close()


def test_final_answer_is_sent_again_over_udp_until_the_ack(client, registrar):
    caller = registered_caller(client, registrar)
    try:
        caller.invite()
        first = caller.expect(200)
        again = caller.expect(200, timeout=2)  # T1 = 0.5 s later
        assert again.body == first.body and again.get("to") == first.get("to")
        caller.request("ACK", to_tag=sip.header_params(first.get("to"))["tag"], branch="z9hG4bKack1")
        wait_until(lambda: calls_of(client)[0]["state"] == "confirmed")
        with pytest.raises((AssertionError, socket.timeout)):
            caller.receive(timeout=1.2)  # no more copies after the ACK
    finally:
        caller.close()


def test_inactive_connection_whose_binding_survived_answers_480(client, registrar):
    conn = connection(registrar)
    caller = registered_caller(client, registrar, conn)
    try:
        registrar.silent = True  # the PBX ignores the unregistration: it keeps routing calls to the contact
        client.handle("update", conn, dict(conn, active=False))
        wait_until(lambda: client.book.entries()["1"].get("state") == "unregistered", timeout=3)
        caller.invite()
        rejected = caller.expect(480)
        assert rejected.reason == "Temporarily Unavailable" and not rejected.body
        (call,) = calls_of(client)
        assert (call["status"], call["state"], call["connection_name"]) == (480, "rejected", "office-pbx")
        client.handle("delete", dict(conn, active=False), None)  # no contact is kept for a deleted connection
        wait_until(lambda: not any(t.name == "sip-register-1" for t in threading.enumerate()))
    finally:
        caller.close()


def test_emulator_hangs_up_an_answered_call(registrar):
    client = make_client(hangup_after=0.3)
    caller = registered_caller(client, registrar)
    try:
        caller.invite()
        answer = caller.expect(200)
        caller.request("ACK", to_tag=sip.header_params(answer.get("to"))["tag"], branch="z9hG4bKack1")
        bye = caller.receive(timeout=3)
        assert bye.method == "BYE" and bye.uri == f"sip:alice@127.0.0.1:{caller.port}"
        assert bye.get("route") == f"<sip:127.0.0.1:{caller.port};lr>" and bye.get("call-id") == "call-1"
        assert bye.get("from") == answer.get("to") and bye.get("to").endswith(";tag=caller1")
        caller.send(sip.build_response(bye, 200, "OK"))
        wait_until(lambda: calls_of(client)[0]["state"] == "ended")
        assert calls_of(client)[0]["ended_by"] == "emulator"
    finally:
        caller.close()
        client.close(0.5)


def test_cancel_while_ringing_ends_the_invite_with_487(registrar):
    client = make_client(answer_delay=5.0)
    caller = registered_caller(client, registrar)
    try:
        caller.invite()
        ringing = caller.expect(180) if caller.receive().code == 100 else None
        assert ringing is not None and "tag=" in ringing.get("to")
        caller.request("CANCEL", branch="z9hG4bKinv1")
        cancelled = caller.receive()
        assert (cancelled.code, cancelled.get("cseq")) == (200, "1 CANCEL")
        terminated = caller.expect(487)
        assert terminated.get("cseq") == "1 INVITE"
        caller.request("ACK", to_tag=sip.header_params(terminated.get("to"))["tag"])
        (call,) = calls_of(client)
        assert (call["status"], call["state"]) == (487, "cancelled")
    finally:
        caller.close()
        client.close(0.5)


def test_other_requests(client, registrar):
    caller = registered_caller(client, registrar)
    try:
        caller.request("OPTIONS", branch="z9hG4bKopt")
        assert "INVITE" in caller.expect(200).get("allow")
        caller.request("MESSAGE", branch="z9hG4bKmsg")
        assert caller.expect(405).get("allow") == "INVITE, ACK, CANCEL, BYE, OPTIONS"
        assert calls_of(client) == []
    finally:
        caller.close()


class TcpRegistrar:
    """Accepts one TCP connection and binds every REGISTER on it without authentication."""

    def __init__(self):
        self.server = socket.socket()
        self.server.bind(("127.0.0.1", 0))
        self.server.listen(1)
        self.proxy = f"127.0.0.1:{self.server.getsockname()[1]}"
        self.connection, self.contact = None, None
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        self.connection, _peer = self.server.accept()
        reader = Caller("sip:x@127.0.0.1:1", self.connection)
        register = reader.receive(timeout=5)
        contact = sip.contact_entries(register)[0][0]
        self.connection.sendall(sip.build_response(register, 200, "OK", [("Contact", f"<{contact}>;expires=600")]))
        self.contact = contact

    def close(self):
        for sock in (self.connection, self.server):
            if sock is not None:
                sock.close()


def test_tcp_calls_come_on_the_registration_connection(client):
    pbx = TcpRegistrar()
    try:
        client.handle("create", None, record(proxy=pbx.proxy, transport="TCP"))
        wait_until(lambda: pbx.contact)
        assert pbx.contact.endswith(";transport=tcp")
        caller = Caller(pbx.contact, pbx.connection)
        caller.invite()
        answer = caller.expect(200)
        assert answer.get("contact") == f"<{pbx.contact}>" and b"PCMU/8000" in answer.body
        caller.request("ACK", to_tag=sip.header_params(answer.get("to"))["tag"], branch="z9hG4bKack1")
        caller.request("BYE", cseq=2, to_tag=sip.header_params(answer.get("to"))["tag"], branch="z9hG4bKbye")
        assert caller.expect(200).get("cseq") == "2 BYE"
        wait_until(lambda: calls_of(client)[0]["state"] == "ended")
        assert calls_of(client)[0]["transport"] == "TCP"
    finally:
        pbx.close()


def test_answerer_without_connection_is_404():
    sent = []

    class Transport:
        name, local = "UDP", ("127.0.0.1", 5999)

        def send(self, data, peer=None):
            sent.append(sip.parse_message(data))

    log = CallLog()
    answerer = CallAnswerer("9", "ext101", Transport(), lambda: "sip:ext101@127.0.0.1:5999", log, lambda _id: None)
    invite = sip.parse_message(sip.build_request("INVITE", "sip:ext101@127.0.0.1:5999", [
        ("Via", "SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKx"), ("From", "<sip:a@127.0.0.1>;tag=1"),
        ("To", "<sip:ext101@127.0.0.1>"), ("Call-ID", "c9"), ("CSeq", "7 INVITE")]))
    answerer.handle(invite, ("127.0.0.1", 5060))
    assert [message.code for message in sent] == [100, 404]
    assert log.entries()[0]["connection_name"] is None and log.entries()[0]["status"] == 404


def test_calls_hook_and_reset(registrar):
    app = create_app(EmulatorConfig(seed=1, registration_delay=0.05, sip_timeout=0.6))
    api = app.test_client()
    emulator = app.extensions["telnyx_emulator"]
    caller = None
    try:
        body = {"connection_name": "office", "internal_uac_settings": {"destination_uri": "8492@acme.sip.telnyx.com"},
                "external_uac_settings": {"username": "ext101", "password": "pw101", "proxy": registrar.proxy}}
        created = api.post("/v2/uac_connections", json=body, headers=AUTH).get_json()["data"]
        wait_until(lambda: registrar.bindings)
        caller = Caller(next(iter(registrar.bindings)))
        caller.invite()
        caller.expect(200)
        data = api.get("/_emulator/calls").get_json()["data"]
        assert len(data) == 1
        assert {key: data[0][key] for key in ("connection_id", "connection_name", "user", "destination_uri",
                                              "status")} == {
            "connection_id": created["id"], "connection_name": "office", "user": "ext101",
            "destination_uri": "8492@acme.sip.telnyx.com", "status": 200}
        assert api.get("/_emulator/requests").get_json()["data"][-1]["path"] == "/v2/uac_connections"  # hook not logged
        assert api.post("/_emulator/reset").status_code == 200
        assert api.get("/_emulator/calls").get_json() == {"data": []}
    finally:
        if caller is not None:
            caller.close()
        emulator.registrar.close(0.5)


def test_a_request_the_answerer_cannot_read_does_not_end_the_registration(client, registrar):
    caller = registered_caller(client, registrar)
    try:
        caller.send(b"INVITE sip:ext101@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:1\r\nCSeq: x\r\n"
                    b"Content-Length: 0\r\n\r\n")  # no From, To, Call-ID
        assert caller.expect(400).reason == "Bad Request"
        caller.send(b"garbage\r\n\r\n")
        caller.invite()
        assert caller.expect(200).get("call-id") == "call-1"
        assert [call["call_id"] for call in calls_of(client)][-1] == "call-1"
    finally:
        caller.close()
