"""The emulator's SIP pieces: messages, digest, loopback-only destinations, and the registrar client
against a fake registrar (a UDP socket on 127.0.0.1 driven by each test)."""

import hashlib
import re
import socket
import threading
import time

import pytest

from tests.emulator import EmulatorConfig, create_app, sip
from tests.emulator.registrar_client import RegistrarClient
from tests.emulator.registration import RegistrationBook
# conforms and spec are pytest fixtures, used by name
from tests.unit.emulator.test_emulator import AUTH, _response_schema, conforms, spec  # noqa: F401 pylint: disable=unused-import

# --- digest ---------------------------------------------------------------------------------------


def test_digest_rfc2617_test_vector():
    # RFC 2617 section 3.5
    assert sip.digest_response("Mufasa", "testrealm@host.com", "Circle Of Life", "GET", "/dir/index.html",
                               "dcd98b7102dd2f0e8b11d0f600bfb0c093", qop="auth", nc="00000001",
                               cnonce="0a4f113b") == "6629fae49393a05397450978507c4ef1"


def test_digest_without_qop_is_rfc2069_style():
    def md5(text):
        return hashlib.md5(text.encode()).hexdigest()
    ha1, ha2 = md5("alice:127.0.0.1:pw"), md5("REGISTER:sip:127.0.0.1:5060")
    assert sip.digest_response("alice", "127.0.0.1", "pw", "REGISTER", "sip:127.0.0.1:5060", "n1") == \
        md5(f"{ha1}:n1:{ha2}")


def test_authorization_answers_the_challenge():
    challenge = sip.parse_challenge('Digest realm="127.0.0.1", nonce="abc\\"d", qop="auth,auth-int", '
                                    'opaque="xyz", algorithm=MD5')
    assert challenge == {"realm": "127.0.0.1", "nonce": 'abc"d', "qop": "auth,auth-int", "opaque": "xyz",
                         "algorithm": "MD5"}
    value = sip.authorization(challenge, "auth8492", "pw", "REGISTER", "sip:127.0.0.1", nc=2, cnonce="c0ffee")
    params = dict(re.findall(r'(\w+)=("[^"]*"|[^,\s]+)', value))
    assert value.startswith("Digest ")
    assert params["username"] == '"auth8492"' and params["qop"] == "auth" and params["nc"] == "00000002"
    assert params["opaque"] == '"xyz"' and params["cnonce"] == '"c0ffee"'
    assert params["response"].strip('"') == sip.digest_response(
        "auth8492", "127.0.0.1", "pw", "REGISTER", "sip:127.0.0.1", 'abc"d', "auth", "00000002", "c0ffee")
    bare = sip.authorization(sip.parse_challenge('Digest realm="r", nonce="n"'), "u", "p", "REGISTER", "sip:h")
    assert "qop" not in bare and "cnonce" not in bare


@pytest.mark.parametrize("header", ['Basic realm="x"', 'Digest nonce="n"',
                                    'Digest realm="r", nonce="n", qop="auth-int"',
                                    'Digest realm="r", nonce="n", algorithm=SHA-256'])
def test_unsupported_challenges_are_errors(header):
    with pytest.raises(sip.SipError):
        sip.authorization(sip.parse_challenge(header), "u", "p", "REGISTER", "sip:h")


# --- messages -------------------------------------------------------------------------------------


def test_parse_response_with_compact_folded_and_repeated_headers():
    raw = (b"SIP/2.0 200 OK\r\n"
           b"v: SIP/2.0/UDP 127.0.0.1:5099;branch=z9hG4bK1;rport=5099\r\n"
           b"i: call-1@127.0.0.1\r\n"
           b"Contact: <sip:other@127.0.0.1:6000>;expires=30, <sip:ext101@127.0.0.1:5099>;expires=120\r\n"
           b"Contact: <sip:third@127.0.0.1:7000;transport=tcp>;q=0.5;expires=99\r\n"
           b"Subject: folded\r\n  continues\r\n"
           b"Expires: 300\r\n"
           b"Content-Length: 4\r\n\r\nbodyEXTRA")
    message = sip.parse_message(raw)
    assert (message.code, message.reason, message.status) == (200, "OK", "200 OK")
    assert message.get("Call-ID") == "call-1@127.0.0.1" and message.get("subject") == "folded continues"
    assert sip.header_params(message.get("via"))["branch"] == "z9hG4bK1"
    assert message.body == b"body"
    assert [uri for uri, _params in sip.contact_entries(message)] == [
        "sip:other@127.0.0.1:6000", "sip:ext101@127.0.0.1:5099", "sip:third@127.0.0.1:7000;transport=tcp"]
    assert sip.granted_expires(message, "sip:ext101@127.0.0.1:5099", 600) == 120
    assert sip.granted_expires(message, "sip:nobody@127.0.0.1:1", 600) == 300


def test_build_and_parse_request_round_trip():
    data = sip.build_request("REGISTER", "sip:127.0.0.1:5080", [("To", "<sip:a@127.0.0.1>"), ("Expires", "0")])
    message = sip.parse_message(data)
    assert (message.method, message.uri) == ("REGISTER", "sip:127.0.0.1:5080")
    assert message.get("content-length") == "0" and message.get("expires") == "0"


@pytest.mark.parametrize("raw", [b"", b"SIP/2.0 2000 OK\r\n\r\n", b"REGISTER sip:x\r\n\r\n",
                                 b"SIP/2.0 200 OK\r\nno colon\r\n\r\n"])
def test_bad_messages_are_refused(raw):
    with pytest.raises(sip.SipError):
        sip.parse_message(raw)


@pytest.mark.parametrize("text,host,port", [
    ("127.0.0.1", "127.0.0.1", None), ("127.0.0.1:5080", "127.0.0.1", 5080),
    ("sip:PBX.local:5062;transport=tcp", "pbx.local", 5062),
    ("[::1]:5090", "::1", 5090), ("::1", "::1", None), ("sips:user@localhost", "localhost", None)])
def test_parse_hostport(text, host, port):
    assert sip.parse_hostport(text) == sip.HostPort(host, port)


@pytest.mark.parametrize("text", ["", "host:99999", "host:abc"])
def test_parse_hostport_errors(text):
    with pytest.raises(sip.SipError):
        sip.parse_hostport(text)


# --- loopback only --------------------------------------------------------------------------------


def test_loopback_destinations_are_accepted_without_dns():
    def no_dns(*args, **kwargs):
        raise AssertionError("resolved")
    assert sip.resolve_loopback("127.0.0.5", 5060, no_dns) == (socket.AF_INET, ("127.0.0.5", 5060))
    assert sip.resolve_loopback("::1", 5060, no_dns) == (socket.AF_INET6, ("::1", 5060))
    assert sip.resolve_loopback("localhost", 5061, no_dns) == (socket.AF_INET, ("127.0.0.1", 5061))


@pytest.mark.parametrize("host,addresses", [("192.0.2.10", None), ("10.0.0.1", None),
                                            ("pbx.corp", ["192.0.2.10"]), ("mixed.corp", ["127.0.0.1", "192.0.2.1"])])
def test_other_destinations_are_refused(host, addresses):
    def resolver(name, port, **kwargs):
        assert addresses is not None, "an IP literal was resolved"
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, port)) for address in addresses]
    with pytest.raises(sip.SipError, match="loopback"):
        sip.resolve_loopback(host, 5060, resolver)
    with pytest.raises(sip.SipError):
        sip.Transport("UDP", socket.AF_INET, ("192.0.2.10", 5060))


def test_names_resolving_to_loopback_only_are_accepted():
    def resolver(name, port, **kwargs):
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.1.1", port))]
    assert sip.resolve_loopback("pbx.lan", 5060, resolver) == (socket.AF_INET, ("127.0.1.1", 5060))


# --- a fake registrar -----------------------------------------------------------------------------


class FakeRegistrar:
    """A UDP registrar on 127.0.0.1: digest (qop=auth unless qop=False), grants `grant` seconds (or the
    asked expiry), or answers `answer` ('423'), or stays silent (`silent`). Keeps every request."""

    def __init__(self, users, realm="127.0.0.1", qop=True, grant=None):
        self.users, self.realm, self.qop, self.grant = dict(users), realm, qop, grant
        self.answer, self.silent = None, False
        self.requests, self.bindings = [], {}
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.1)
        self.port = self.sock.getsockname()[1]
        self._stop = False
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    @property
    def proxy(self):
        return f"127.0.0.1:{self.port}"

    def close(self):
        self._stop = True
        self.thread.join(2)
        self.sock.close()

    def registers(self, expires=None):
        return [r for r in self.requests if expires is None or r.get("expires") == str(expires)]

    def _serve(self):
        while not self._stop:
            try:
                data, peer = self.sock.recvfrom(65535)
            except socket.timeout:
                continue
            request = sip.parse_message(data)
            self.requests.append(request)
            if self.silent:
                continue
            self.sock.sendto(self._respond(request), peer)

    def _reply(self, request, code, reason, extra=()):
        lines = [f"SIP/2.0 {code} {reason}"]
        lines += [f"{name}: {request.get(name)}" for name in ("Via", "From", "To", "Call-ID", "CSeq")]
        lines += [f"{name}: {value}" for name, value in extra]
        return ("\r\n".join(lines + ["Content-Length: 0", "", ""])).encode()

    def _respond(self, request):
        if self.answer == "423":
            return self._reply(request, 423, "Interval Too Brief", [("Min-Expires", "3600")])
        credentials = request.get("authorization")
        challenge = f'Digest realm="{self.realm}", nonce="n{len(self.requests)}"' + (', qop="auth"' if self.qop else "")
        if not credentials:
            return self._reply(request, 401, "Unauthorized", [("WWW-Authenticate", challenge)])
        params = dict((k, v.strip('"')) for k, v in re.findall(r'(\w+)=("[^"]*"|[^,\s]+)', credentials))
        password = self.users.get(params["username"])
        ha1 = hashlib.md5(f"{params['username']}:{params['realm']}:{password}".encode()).hexdigest()
        ha2 = hashlib.md5(f"REGISTER:{params['uri']}".encode()).hexdigest()
        tail = f"{params['nc']}:{params['cnonce']}:{params['qop']}:" if "qop" in params else ""
        expected = hashlib.md5(f"{ha1}:{params['nonce']}:{tail}{ha2}".encode()).hexdigest()
        if password is None or params["response"] != expected or params["realm"] != self.realm:
            return self._reply(request, 401, "Unauthorized", [("WWW-Authenticate", challenge)])
        contact = re.search(r"<([^>]+)>", request.get("contact")).group(1)
        asked = int(request.get("expires"))
        granted = min(asked, self.grant) if self.grant is not None else asked
        if granted == 0:
            self.bindings.pop(contact, None)
            return self._reply(request, 200, "OK")
        self.bindings[contact] = granted
        return self._reply(request, 200, "OK", [("Contact", f"<{contact}>;expires={granted}")])


@pytest.fixture
def registrar():
    fake = FakeRegistrar({"auth8492": "pbx-secret", "ext101": "pw101"})
    yield fake
    fake.close()


def wait_until(predicate, timeout=5.0):
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("timed out")
        time.sleep(0.02)


def record(connection_id="1", active=True, **external):
    settings = {"username": "ext101", "password": "pw101", "proxy": "127.0.0.1:9", "expiration_sec": 600}
    settings.update(external)
    return {"id": connection_id, "connection_name": "pbx", "active": active,
            "external_uac_settings": {k: v for k, v in settings.items() if v is not None}}


@pytest.fixture
def client():
    book = RegistrationBook()
    registrar_client = RegistrarClient(book, delay=0.05, timeout=0.6, retry=0.3)
    yield registrar_client
    registrar_client.close(0.5)


def state(client, connection_id="1"):
    return client.book.entries().get(connection_id, {})


def test_registers_with_the_connection_settings_and_refreshes(client, registrar):
    registrar.grant = 2
    conn = record(proxy=registrar.proxy, username="ext8492", auth_username="auth8492", password="pbx-secret",
                  from_user="8492", user_agent="Acme UAC/1.0", expiration_sec=600)
    client.handle("create", None, conn)
    wait_until(lambda: state(client).get("registered"))
    entry = state(client)
    assert entry["response"] == "200 OK" and entry["auth_retries"] == 1 and entry["failures"] == 0
    assert entry["sip_uri_user_host"] == "ext8492@127.0.0.1"
    assert entry["expires"] - time.time() == pytest.approx(2, abs=1)
    first = registrar.requests[0]
    assert first.uri == f"sip:127.0.0.1:{registrar.port}"
    assert first.get("to") == "<sip:ext8492@127.0.0.1>" and first.get("from").startswith("<sip:8492@127.0.0.1>;tag=")
    assert first.get("user-agent") == "Acme UAC/1.0" and first.get("expires") == "600"
    assert 'username="auth8492"' in registrar.requests[1].get("authorization")
    wait_until(lambda: len(registrar.registers()) >= 4)  # refreshed at half the granted 2 s
    assert len({r.get("call-id") for r in registrar.requests}) == 1
    cseqs = [int(r.get("cseq").split()[0]) for r in registrar.requests]
    assert cseqs == sorted(cseqs) and len(set(cseqs)) == len(cseqs)


def test_no_qop_challenge(client):
    fake = FakeRegistrar({"ext101": "pw101"}, qop=False)
    try:
        client.handle("create", None, record(proxy=fake.proxy))
        wait_until(lambda: state(client).get("registered"))
        assert "qop" not in fake.requests[1].get("authorization")
    finally:
        fake.close()


def test_wrong_password_fails_and_retries(client, registrar):
    client.handle("create", None, record(proxy=registrar.proxy, password="wrong"))
    wait_until(lambda: state(client).get("failures", 0) >= 2)
    entry = state(client)
    assert entry["state"] == "failed" and entry["response"] == "401 Unauthorized" and entry["auth_retries"] == 1
    assert client.book.connection_fields(record())["registration_status"] == "Failed"


def test_interval_too_brief_is_a_failure(client, registrar):
    registrar.answer = "423"
    client.handle("create", None, record(proxy=registrar.proxy, expiration_sec=60))
    wait_until(lambda: state(client).get("state") == "failed")
    assert state(client)["response"] == "423 Interval Too Brief" and "3600" in state(client)["note"]


def test_silence_is_408_after_retransmissions(client, registrar):
    registrar.silent = True
    client.handle("create", None, record(proxy=registrar.proxy))
    wait_until(lambda: state(client).get("state") == "failed", timeout=3)
    assert state(client)["response"] == "408 Request Timeout"
    first = [r for r in registrar.requests if r.get("cseq") == registrar.requests[0].get("cseq")]
    assert len(first) >= 2  # timer A retransmitted the same request


def test_tcp_connection_refused_is_408(client):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # bound, not listening
        client.handle("create", None, record(proxy=f"127.0.0.1:{port}", transport="TCP"))
        wait_until(lambda: state(client).get("state") == "failed")
    assert state(client)["response"] == "408 Request Timeout" and "connect" in state(client)["note"]


def test_deactivate_unregisters_and_settings_change_reregisters(client, registrar):
    conn = record(proxy=registrar.proxy)
    client.handle("create", None, conn)
    wait_until(lambda: registrar.bindings)
    first_contact = next(iter(registrar.bindings))
    client.handle("update", conn, dict(conn, connection_name="renamed"))  # nothing the PBX sees
    time.sleep(0.2)
    assert len(registrar.registers(0)) == 0
    changed = record(proxy=registrar.proxy, user_agent="New UA")
    client.handle("update", conn, changed)
    wait_until(lambda: registrar.registers(0) and len(registrar.bindings) == 1
               and first_contact not in registrar.bindings)
    client.handle("update", changed, dict(changed, active=False))
    wait_until(lambda: not registrar.bindings and state(client).get("state") == "unregistered")
    assert client.book.connection_fields(record())["registration_status"] == "Unregistered"
    inactive = client.book.sip_registration_status(record(active=False))
    assert inactive["sip_registration_status"] == "connection_disabled" and inactive["registered"] is False


def test_delete_unregisters_and_forgets(client, registrar):
    conn = record(proxy=registrar.proxy)
    client.handle("create", None, conn)
    wait_until(lambda: registrar.bindings)
    client.handle("delete", conn, None)
    wait_until(lambda: not registrar.bindings)
    assert state(client) == {}


def test_non_loopback_proxy_is_never_contacted(client, monkeypatch):
    sent = []
    monkeypatch.setattr(sip.Transport, "__init__", lambda *args, **kwargs: sent.append(args))
    for index, proxy in enumerate(["192.0.2.10:5060", "pbx.example.com", "sip-pbx.acme.example"]):
        client.handle("create", None, record(str(index), proxy=proxy))
    wait_until(lambda: all(state(client, str(i)).get("note") for i in range(3)))
    assert not sent
    for index in range(3):
        assert state(client, str(index))["state"] == "standby" and "loopback" in state(client, str(index))["note"]
        assert client.book.connection_fields(record(str(index)))["registration_status"] is None


def test_connections_without_credentials_are_not_registered(client):
    client.handle("create", None, record(password=None))
    client.handle("create", None, record("2", active=False))
    time.sleep(0.1)
    assert client.book.entries() == {}


# --- through the API ------------------------------------------------------------------------------


def test_api_reports_the_registration_per_the_contract(registrar, conforms):  # noqa: F811
    app = create_app(EmulatorConfig(seed=1, registration_delay=0.05, sip_timeout=0.6))
    api = app.test_client()
    try:
        body = {"connection_name": "office", "external_uac_settings": {
            "username": "ext101", "password": "pw101", "proxy": registrar.proxy, "transport": "UDP"}}
        created = api.post("/v2/uac_connections", json=body, headers=AUTH).get_json()["data"]
        query = {"credential_type": "uac_external_credential", "connection_id": created["id"]}

        def status():
            return api.get("/v2/sip_registration_status", query_string=query, headers=AUTH).get_json()
        wait_until(lambda: status()["registered"])
        live = status()
        conforms(live, "/components/schemas/SipRegistrationStatus")
        assert live["sip_registration_status"] == "registered" and live["last_registration_response"] == "200 OK"
        assert set(live["sip_registration_details"]) == {"auth_retries", "expires", "failures", "next_action_at",
                                                         "sip_uri_user_host", "uptime"}
        got = api.get(f"/v2/uac_connections/{created['id']}", headers=AUTH).get_json()
        assert got["data"]["registration_status"] == "Registered"
        conforms(got, _response_schema("/uac_connections/{id}", "get", "200"))
        checked = api.post(f"/v2/uac_connections/{created['id']}/actions/check_registration_status",
                           headers=AUTH).get_json()
        conforms(checked, _response_schema("/uac_connections/{id}/actions/check_registration_status", "post", "200"))
        assert checked["data"]["status"] == "Registered" and checked["data"]["port"] == registrar.port
        api.patch(f"/v2/uac_connections/{created['id']}", json={"external_uac_settings": dict(
            body["external_uac_settings"], password="rotated")}, headers=AUTH)
        wait_until(lambda: status()["sip_registration_status"] == "failed")
        assert status()["last_registration_response"] == "401 Unauthorized"
        conforms(status(), "/components/schemas/SipRegistrationStatus")
        assert api.get("/_emulator/registrations").get_json()["data"][created["id"]]["state"] == "failed"
    finally:
        app.extensions["telnyx_emulator"].registrar.close(0.5)


def test_check_action_gone_and_no_sip(registrar):
    app = create_app(EmulatorConfig(registration_action_gone=True, sip=False, registration_delay=0))
    api = app.test_client()
    body = {"connection_name": "office", "external_uac_settings": {
        "username": "ext101", "password": "pw101", "proxy": registrar.proxy}}
    created = api.post("/v2/uac_connections", json=body, headers=AUTH).get_json()["data"]
    gone = api.post(f"/v2/uac_connections/{created['id']}/actions/check_registration_status", headers=AUTH)
    assert gone.status_code == 410 and gone.get_json()["errors"][0]["title"] == "Gone"
    time.sleep(0.2)
    assert registrar.requests == []
    status = api.get("/v2/sip_registration_status", headers=AUTH, query_string={
        "credential_type": "uac_external_credential", "connection_id": created["id"]}).get_json()
    assert status["sip_registration_status"] == "unknown"
