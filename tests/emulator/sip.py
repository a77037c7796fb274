"""A small SIP user agent for REGISTER, on the standard library only.

What the emulator needs to register a UAC connection to a PBX, as Telnyx does: building and
parsing SIP messages (RFC 3261), digest authentication (RFC 2617/3261: MD5 and MD5-sess, with
qop=auth or without qop), and one REGISTER transaction at a time over UDP (retransmitted on
timer A, simplified), TCP or TLS (no certificate check: loopback only). Requests the PBX sends
to the registered Contact (INVITE, ACK, BYE...) arrive on the same socket or connection: the
transport hands them to its `handler` (calls.py answers them), during a transaction or `serve`.

Loopback only: `resolve_loopback` refuses every destination that is not 127.0.0.0/8, ::1 or
`localhost`, before anything is sent; `Transport` re-checks the address it is given.
"""

import hashlib
import ipaddress
import os
import re
import select
import socket
import ssl
import time
from dataclasses import dataclass, field
from typing import Optional

SIP_VERSION = "SIP/2.0"
DEFAULT_PORTS = {"UDP": 5060, "TCP": 5060, "TLS": 5061}
T1 = 0.5  # RFC 3261 timer T1; retransmissions double from it, capped at T2
T2 = 4.0
NO_ANSWER = "408 Request Timeout"  # recorded when the PBX does not answer, or the transport fails
COMPACT = {"v": "via", "f": "from", "t": "to", "i": "call-id", "m": "contact", "l": "content-length",
           "c": "content-type", "e": "content-encoding", "k": "supported", "s": "subject"}
_PARAM = re.compile(r'\s*([A-Za-z0-9_-]+)\s*=\s*("(?:[^"\\]|\\.)*"|[^\s,]+)\s*,?')


class SipError(Exception):
    """A message that cannot be parsed, or a destination that is refused."""


def random_token(size=8):
    return os.urandom(size).hex()


# --- messages ---------------------------------------------------------------------------------------


@dataclass
class Message:
    """A parsed SIP message: a request (method, uri) or a response (code, reason)."""

    start: str
    headers: list = field(default_factory=list)  # [(name as sent, value)], in order
    body: bytes = b""
    method: Optional[str] = None
    uri: Optional[str] = None
    code: Optional[int] = None
    reason: Optional[str] = None

    def all(self, name):
        """Every value of header ``name`` (case-insensitive; compact forms count)."""
        wanted = _canonical(name)
        return [value for key, value in self.headers if _canonical(key) == wanted]

    def get(self, name, default=None):
        values = self.all(name)
        return values[0] if values else default

    @property
    def status(self):
        """'200 OK', as Telnyx reports the last response."""
        return f"{self.code} {self.reason}".strip()


def _canonical(name):
    name = name.strip().lower()
    return COMPACT.get(name, name)


def parse_message(data):
    """A `Message` from the bytes of one whole message (headers, blank line, body)."""
    head, _sep, body = data.partition(b"\r\n\r\n")
    if not _sep:
        head, _sep, body = data.partition(b"\n\n")
    lines = head.decode("utf-8", "replace").replace("\r\n", "\n").split("\n")
    start = lines[0].strip()
    if not start:
        raise SipError("empty message")
    headers = []
    for line in lines[1:]:
        if line[:1] in (" ", "\t") and headers:  # folded continuation line
            name, value = headers[-1]
            headers[-1] = (name, f"{value} {line.strip()}")
            continue
        name, colon, value = line.partition(":")
        if not colon:
            raise SipError(f"bad header line: {line!r}")
        headers.append((name.strip(), value.strip()))
    message = Message(start=start, headers=headers)
    length = message.get("content-length")
    message.body = body[:int(length)] if length and length.isdigit() else body
    if start.startswith(SIP_VERSION + " "):
        parts = start.split(" ", 2)
        if len(parts) < 2 or not parts[1].isdigit() or len(parts[1]) != 3:
            raise SipError(f"bad status line: {start!r}")
        message.code, message.reason = int(parts[1]), (parts[2] if len(parts) > 2 else "")
    else:
        parts = start.split(" ")
        if len(parts) != 3 or parts[2] != SIP_VERSION:
            raise SipError(f"bad request line: {start!r}")
        message.method, message.uri = parts[0], parts[1]
    return message


def build_request(method, uri, headers, body=b""):
    """The bytes of a request; Content-Length is added."""
    lines = [f"{method} {uri} {SIP_VERSION}"]
    lines += [f"{name}: {value}" for name, value in headers]
    lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def build_response(request, code, reason, headers=(), body=b"", to_tag=None, record_route=False):
    """The bytes of a response to `request`: its Vias, From, To (with `to_tag` added when it has none),
    Call-ID and CSeq, then `headers` (and its Record-Routes first when `record_route`); Content-Length added."""
    lines = [f"{SIP_VERSION} {code} {reason}"]
    lines += [f"Via: {value}" for value in request.all("via")]
    if record_route:
        lines += [f"Record-Route: {value}" for value in request.all("record-route")]
    to = request.get("to") or ""
    if to_tag and "tag" not in header_params(to):
        to = f"{to};tag={to_tag}"
    lines += [f"From: {request.get('from') or ''}", f"To: {to}", f"Call-ID: {request.get('call-id') or ''}",
              f"CSeq: {request.get('cseq') or ''}"]
    lines += [f"{name}: {value}" for name, value in headers]
    lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def uri_user(uri):
    """The user part of a SIP URI (`sip:ext101@127.0.0.1:5060;transport=tcp` -> `ext101`), '' without one."""
    value = re.sub(r"^sips?:", "", (uri or "").strip().strip("<>"), flags=re.IGNORECASE)
    if "@" not in value:
        return ""
    return value.rsplit("@", 1)[0].split(";", 1)[0].split(":", 1)[0]


def header_params(value):
    """The ;name=value parameters after the first part of a header value (lower-case names)."""
    params = {}
    for part in _split_outside_quotes_and_brackets(value, ";")[1:]:
        name, _eq, raw = part.partition("=")
        params[name.strip().lower()] = raw.strip().strip('"')
    return params


def _split_outside_quotes_and_brackets(text, separator):
    parts, current, quoted, depth = [], [], False, 0
    for char in text:
        if char == '"':
            quoted = not quoted
        elif not quoted and char == "<":
            depth += 1
        elif not quoted and char == ">":
            depth -= 1
        if char == separator and not quoted and depth == 0:
            parts.append("".join(current))
            current = []
        else:
            current.append(char)
    parts.append("".join(current))
    return parts


def contact_entries(message):
    """[(uri, params)] of every Contact of a message (several per header allowed)."""
    entries = []
    for value in message.all("contact"):
        for item in _split_outside_quotes_and_brackets(value, ","):
            item = item.strip()
            if not item or item == "*":
                continue
            match = re.search(r"<([^>]*)>", item)
            uri = match.group(1) if match else item.split(";", 1)[0]
            rest = item[match.end():] if match else item[len(uri):]
            entries.append((uri.strip(), header_params("x" + rest)))
    return entries


def granted_expires(response, contact_uri, requested):
    """The expiry the registrar granted our contact: its Contact `expires`, else Expires, else ours."""
    for uri, params in contact_entries(response):
        if _same_uri(uri, contact_uri) and params.get("expires", "").isdigit():
            return int(params["expires"])
    expires = (response.get("expires") or "").strip()
    return int(expires) if expires.isdigit() else requested


def _same_uri(one, other):
    def key(uri):
        base = uri.split(";", 1)[0].lower()
        return base[4:] if base.startswith("sip:") else base
    return key(one) == key(other)


# --- digest -----------------------------------------------------------------------------------------


def parse_challenge(value):
    """The parameters of a `Digest ...` WWW-/Proxy-Authenticate value (lower-case names)."""
    scheme, _space, rest = value.strip().partition(" ")
    if scheme.lower() != "digest":
        raise SipError(f"unsupported authentication scheme {scheme!r}")
    params = {}
    for match in _PARAM.finditer(rest):
        raw = match.group(2)
        if raw.startswith('"'):
            raw = re.sub(r"\\(.)", r"\1", raw[1:-1])
        params[match.group(1).lower()] = raw
    if "nonce" not in params or "realm" not in params:
        raise SipError("challenge without realm or nonce")
    return params


def _md5(text):
    return hashlib.md5(text.encode()).hexdigest()  # noqa: S324 - RFC 2617 digest is MD5


def digest_response(username, realm, password, method, uri, nonce, qop=None, nc="00000001", cnonce=None,
                    algorithm="MD5"):
    """The `response` value of RFC 2617 (MD5 or MD5-sess; qop auth, or none for RFC 2069 style)."""
    ha1 = _md5(f"{username}:{realm}:{password}")
    if algorithm.upper() == "MD5-SESS":
        ha1 = _md5(f"{ha1}:{nonce}:{cnonce}")
    ha2 = _md5(f"{method}:{uri}")
    if qop:
        return _md5(f"{ha1}:{nonce}:{nc}:{cnonce}:{qop}:{ha2}")
    return _md5(f"{ha1}:{nonce}:{ha2}")


def authorization(challenge, username, password, method, uri, nc=1, cnonce=None):
    """The Authorization (or Proxy-Authorization) value answering a parsed challenge."""
    algorithm = challenge.get("algorithm", "MD5")
    if algorithm.upper() not in ("MD5", "MD5-SESS"):
        raise SipError(f"unsupported digest algorithm {algorithm!r}")
    offered = [item.strip().lower() for item in challenge.get("qop", "").split(",") if item.strip()]
    if offered and "auth" not in offered:
        raise SipError(f"unsupported qop {challenge['qop']!r}")
    qop = "auth" if offered else None
    cnonce = cnonce or random_token(8)
    count = f"{nc:08x}"
    response = digest_response(username, challenge["realm"], password, method, uri, challenge["nonce"],
                               qop, count, cnonce, algorithm)
    parts = [f'username="{username}"', f'realm="{challenge["realm"]}"', f'nonce="{challenge["nonce"]}"',
             f'uri="{uri}"', f'response="{response}"']
    if "algorithm" in challenge:
        parts.append(f"algorithm={algorithm}")
    if "opaque" in challenge:
        parts.append(f'opaque="{challenge["opaque"]}"')
    if qop or algorithm.upper() == "MD5-SESS":
        parts.append(f'cnonce="{cnonce}"')
    if qop:
        parts += [f"qop={qop}", f"nc={count}"]
    return "Digest " + ", ".join(parts)


# --- where to send ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class HostPort:
    host: str  # without brackets
    port: Optional[int]

    @property
    def uri_host(self):
        return f"[{self.host}]" if ":" in self.host else self.host

    def uri(self, default_port=None):
        port = self.port or default_port
        return f"{self.uri_host}:{port}" if port else self.uri_host


def parse_hostport(text):
    """`HostPort` of a proxy value: `host`, `host:port`, `[v6]:port`, optionally `sip:`/`sips:` and params."""
    value = (text or "").strip()
    value = re.sub(r"^sips?:", "", value, flags=re.IGNORECASE)
    value = value.split(";", 1)[0].split("?", 1)[0].strip()
    if "@" in value:
        value = value.rsplit("@", 1)[1]
    if value.startswith("["):
        host, _close, rest = value[1:].partition("]")
        port = rest[1:] if rest.startswith(":") else ""
    elif value.count(":") == 1:
        host, port = value.split(":")
    else:
        host, port = value, ""
    if not host or (port and not port.isdigit()) or (port and not 0 < int(port) < 65536):
        raise SipError(f"not a host[:port]: {text!r}")
    return HostPort(host.lower(), int(port) if port else None)


def is_loopback(address):
    try:
        return ipaddress.ip_address(address.split("%", 1)[0]).is_loopback
    except ValueError:
        return False


def resolve_loopback(host, port, resolver=socket.getaddrinfo):
    """(family, address) of a loopback destination, or SipError saying why it is refused.

    IP literals are checked as they are; `localhost` and names under `.localhost` are 127.0.0.1;
    other names are resolved, and refused unless every address they resolve to is loopback.
    """
    if is_loopback(host):
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        return family, (host, port)
    try:
        ipaddress.ip_address(host)
    except ValueError:
        pass
    else:
        raise SipError(f"{host} is not a loopback address: the emulator sends SIP only to 127.0.0.0/8, ::1 "
                       "and localhost")
    if host == "localhost" or host.endswith(".localhost"):
        return socket.AF_INET, ("127.0.0.1", port)
    try:
        infos = resolver(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as exc:
        raise SipError(f"{host} does not resolve ({exc}): the emulator sends SIP only to loopback addresses")
    addresses = [info[4][0] for info in infos]
    if not addresses or not all(is_loopback(address) for address in addresses):
        raise SipError(f"{host} resolves to {', '.join(sorted(set(addresses))) or 'nothing'}, not only loopback: "
                       "the emulator sends SIP only to 127.0.0.0/8, ::1 and localhost")
    info = next(info for info in infos if is_loopback(info[4][0]))
    return info[0], info[4][:2]


# --- transports ---------------------------------------------------------------------------------------


class TransportError(Exception):
    """No answer can come: connection refused or reset, or the UA was stopped."""


class Transport:
    """One local socket towards one loopback destination; `request` runs one transaction.

    Requests received (the PBX calling the Contact) go to `handler.handle(message, peer)`, and
    `handler.tick()` runs about every POLL seconds while the transport reads (its timers); without a
    handler they are dropped. `serve(seconds)` reads between transactions.
    """

    POLL = 0.1

    def __init__(self, name, family, address, stopped=None, handler=None):
        if not is_loopback(address[0]):
            raise SipError(f"refusing to send SIP to {address[0]}: not a loopback address")
        self.name = name.upper()
        self.family, self.address = family, address
        self.stopped = stopped or (lambda: False)
        self.handler = handler
        self._sock = None
        self._buffer = b""
        local = "::1" if family == socket.AF_INET6 else "127.0.0.1"
        if self.name == "UDP":
            self._sock = socket.socket(family, socket.SOCK_DGRAM)
            self._sock.bind((local, 0))  # not connected: ICMP errors are ignored, silence is a timeout
            self.local = self._sock.getsockname()[:2]
        else:
            self.local = None  # known once connected

    @property
    def via_transport(self):
        return self.name

    def close(self):
        if self._sock is not None:
            try:
                self._sock.close()
            finally:
                self._sock = None

    def _connect(self, deadline):
        if self._sock is not None:
            return
        sock = socket.socket(self.family, socket.SOCK_STREAM)
        sock.settimeout(max(0.1, deadline - time.monotonic()))
        try:
            sock.connect(self.address)
            if self.name == "TLS":
                context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
                context.check_hostname = False
                context.verify_mode = ssl.CERT_NONE  # loopback test PBXs use throw-away certificates
                sock = context.wrap_socket(sock)
        except OSError as exc:
            sock.close()
            raise TransportError(f"cannot connect to {self.address[0]}:{self.address[1]} over {self.name}: {exc}")
        self._sock, self._buffer = sock, b""
        self.local = sock.getsockname()[:2]

    def send(self, data, peer=None):
        """Send bytes out of a transaction: UDP to `peer` (default the destination), else on the connection."""
        if self.name == "UDP":
            target = peer or self.address
            if not is_loopback(target[0]):
                raise SipError(f"refusing to send SIP to {target[0]}: not a loopback address")
            self._sock.sendto(data, target)
        elif self._sock is None:
            raise TransportError("not connected")
        else:
            try:
                self._sock.sendall(data)
            except OSError as exc:
                self.close()
                raise TransportError(f"send failed: {exc}")

    def _dispatch(self, message, peer):
        """A request goes to the handler; True when `message` was one (so not a response to wait for)."""
        if message.method is None:
            return False
        if self.handler is not None:
            self.handler.handle(message, peer)
        return True

    def _tick(self):
        if self.handler is not None:
            self.handler.tick()

    def serve(self, seconds, stopped=None):
        """Read and dispatch requests for `seconds`, or until `stopped()` (default: the transport's)."""
        stopped = stopped or self.stopped
        deadline = time.monotonic() + seconds
        while not stopped():
            now = time.monotonic()
            if now >= deadline:
                return
            self._tick()
            wait = min(deadline - now, self.POLL)
            if self.name == "UDP":
                if select.select([self._sock], [], [], wait)[0]:
                    self._receive_datagram()
            elif self._sock is None:
                time.sleep(wait)  # the next transaction connects again
            else:
                try:
                    message = self._read_stream(now + wait, idle=True)
                except (TransportError, SipError):
                    continue  # closed (the next transaction reconnects) or garbage
                if message is not None:
                    self._dispatch(message, self.address)

    def _receive_datagram(self):
        """The response in the next datagram, or None (requests are dispatched, garbage dropped)."""
        try:
            packet, peer = self._sock.recvfrom(65535)
            message = parse_message(packet)
        except (OSError, SipError):
            return None
        return None if self._dispatch(message, peer[:2]) else message

    def prepare(self, timeout):
        """Connect a stream transport (so the local address for Via/Contact is known)."""
        if self.name != "UDP":
            self._connect(time.monotonic() + timeout)

    def request(self, data, branch, timeout):
        """Send a request and return the final response of its transaction (a Message).

        UDP retransmits from T1, doubling up to T2, until a provisional response; gives up after
        `timeout` seconds (TransportError). Stream transports send once.
        """
        deadline = time.monotonic() + timeout
        if self.name == "UDP":
            return self._udp_request(data, branch, deadline)
        self._connect(deadline)
        try:
            self._sock.sendall(data)
        except OSError as exc:
            self.close()
            raise TransportError(f"send failed: {exc}")
        while True:
            self._tick()
            message = self._read_stream(deadline)
            if self._dispatch(message, self.address):
                continue
            if _branch_of(message) == branch and message.code is not None and message.code >= 200:
                return message

    def _udp_request(self, data, branch, deadline):
        interval, next_send, provisional = T1, time.monotonic(), False
        while True:
            now = time.monotonic()
            if now >= deadline:
                raise TransportError("no answer")
            if self.stopped():
                raise TransportError("stopped")
            if now >= next_send and not provisional:
                self._sock.sendto(data, self.address)
                next_send, interval = now + interval, min(interval * 2, T2)
            self._tick()
            wait = min(deadline, next_send if not provisional else deadline, now + self.POLL) - now
            ready = select.select([self._sock], [], [], max(0.0, wait))[0]
            if not ready:
                continue
            message = self._receive_datagram()
            if message is None or _branch_of(message) != branch:
                continue
            if message.code >= 200:
                return message
            provisional = True

    def _read_stream(self, deadline, idle=False):
        """The next whole message; at the deadline TransportError, or None when `idle` (kept open)."""
        while True:
            head_end = self._buffer.find(b"\r\n\r\n")
            if head_end >= 0:
                head = parse_message(self._buffer[:head_end + 4])
                length = int(head.get("content-length") or 0)
                total = head_end + 4 + length
                if len(self._buffer) >= total:
                    message = parse_message(self._buffer[:total])
                    self._buffer = self._buffer[total:]
                    return message
            if self.stopped():
                raise TransportError("stopped")
            remaining = deadline - time.monotonic()
            if remaining <= 0 and idle:
                return None
            if remaining <= 0:
                self.close()
                raise TransportError("no answer")
            self._sock.settimeout(min(remaining, self.POLL))
            try:
                chunk = self._sock.recv(65535)
            except (socket.timeout, ssl.SSLWantReadError):
                continue
            except OSError as exc:
                self.close()
                raise TransportError(f"receive failed: {exc}")
            if not chunk:
                self.close()
                raise TransportError("connection closed by the PBX")
            self._buffer = (self._buffer + chunk).lstrip(b"\r\n")  # CRLF keep-alives between messages


def _branch_of(message):
    via = message.get("via") or ""
    return header_params(via).get("branch")


# --- the REGISTER client ----------------------------------------------------------------------------


@dataclass
class Account:
    """What a REGISTER needs, from a connection's external_uac_settings."""

    username: str
    password: str
    domain: HostPort  # the proxy: its host is the AOR domain and (served by the PBX) the realm
    destination: HostPort  # where packets go: the outbound proxy when set, else the proxy
    transport: str = "UDP"
    auth_username: Optional[str] = None
    from_user: Optional[str] = None
    user_agent: Optional[str] = None
    expires: int = 600


@dataclass
class Outcome:
    """The end of one REGISTER (with its authentication round trips)."""

    code: Optional[int]  # None: no answer
    response: str  # '200 OK', '401 Unauthorized', '408 Request Timeout' (no answer)
    expires: Optional[int] = None  # granted, on success
    auth_retries: int = 0
    detail: str = ""

    @property
    def ok(self):
        return self.code is not None and 200 <= self.code < 300


class RegisterClient:
    """REGISTERs one account (one Call-ID and Contact for the life of the binding)."""

    MAX_AUTH = 2  # answered challenges per REGISTER before giving up

    def __init__(self, account, transport, timeout=4.0, default_user_agent="telnyx-emulator"):
        self.account = account
        self.transport = transport
        self.timeout = timeout
        self.user_agent = account.user_agent or default_user_agent
        self.call_id = f"{random_token(12)}@{transport.local[0] if transport.local else '127.0.0.1'}"
        self.from_tag = random_token(6)
        self.cseq = 0
        self._nc = {}  # nonce -> last nonce count used

    @property
    def aor(self):
        return f"sip:{self.account.username}@{self.account.domain.uri_host}"

    @property
    def request_uri(self):
        return f"sip:{self.account.domain.uri()}"

    def contact_uri(self):
        host, port = self.transport.local
        host = f"[{host}]" if ":" in host else host
        suffix = "" if self.transport.name == "UDP" else f";transport={self.transport.name.lower()}"
        return f"sip:{self.account.username}@{host}:{port}{suffix}"

    def register(self, expires=None):
        """One REGISTER (expires=0 unregisters); returns an Outcome, never raises on SIP failures."""
        expires = self.account.expires if expires is None else expires
        try:
            self.transport.prepare(self.timeout)
        except TransportError as exc:
            return Outcome(None, NO_ANSWER, detail=str(exc))
        auth_header = None
        retries = 0
        while True:
            self.cseq += 1
            branch = "z9hG4bK" + random_token(8)
            data = self._build(expires, branch, auth_header)
            try:
                response = self.transport.request(data, branch, self.timeout)
            except TransportError as exc:
                return Outcome(None, NO_ANSWER, auth_retries=retries, detail=str(exc))
            if response.code in (401, 407) and retries < self.MAX_AUTH:
                header = "www-authenticate" if response.code == 401 else "proxy-authenticate"
                try:
                    challenge = parse_challenge(response.get(header) or "")
                    if auth_header is not None and challenge.get("stale", "").lower() != "true":
                        # our credentials were refused: not a stale nonce, so do not loop
                        return Outcome(response.code, response.status, auth_retries=retries)
                    value = self._answer(challenge)
                except SipError as exc:
                    return Outcome(response.code, response.status, auth_retries=retries, detail=str(exc))
                auth_header = ("Authorization" if response.code == 401 else "Proxy-Authorization", value)
                retries += 1
                continue
            outcome = Outcome(response.code, response.status, auth_retries=retries)
            if outcome.ok:
                outcome.expires = granted_expires(response, self.contact_uri(), expires)
            elif response.code == 423:
                outcome.detail = f"Min-Expires: {response.get('min-expires') or '?'}"
            return outcome

    def _answer(self, challenge):
        nonce = challenge["nonce"]
        self._nc[nonce] = self._nc.get(nonce, 0) + 1
        username = self.account.auth_username or self.account.username
        return authorization(challenge, username, self.account.password, "REGISTER", self.request_uri,
                             nc=self._nc[nonce])

    def _build(self, expires, branch, auth_header):
        local_host, local_port = self.transport.local
        local_host = f"[{local_host}]" if ":" in local_host else local_host
        from_user = self.account.from_user or self.account.username
        domain = self.account.domain.uri_host
        headers = [
            ("Via", f"{SIP_VERSION}/{self.transport.via_transport} {local_host}:{local_port};branch={branch};rport"),
            ("Max-Forwards", "70"),
            ("From", f"<sip:{from_user}@{domain}>;tag={self.from_tag}"),
            ("To", f"<{self.aor}>"),
            ("Call-ID", self.call_id),
            ("CSeq", f"{self.cseq} REGISTER"),
            ("Contact", f"<{self.contact_uri()}>;expires={expires}"),
            ("Expires", str(expires)),
            ("User-Agent", self.user_agent),
            ("Allow", "INVITE, ACK, CANCEL, BYE, OPTIONS"),
        ]
        if auth_header:
            headers.append(auth_header)
        return build_request("REGISTER", self.request_uri, headers)
