"""A recording HTTP proxy on loopback, for tests: what would a corporate proxy see of our traffic?

    with RecordingProxy() as proxy:        # listens on 127.0.0.1, a free port
        env = {"HTTPS_PROXY": proxy.url}   # http://127.0.0.1:PORT
        ...
        assert api_key.encode() not in proxy.seen()

It speaks the two ways a client uses an HTTP proxy:

- ``CONNECT host:port`` (an ``https://`` URL): answers 200, then relays the bytes both ways untouched (the
  TLS tunnel). It sees the CONNECT line and the encrypted bytes, nothing else.
- ``GET http://host:port/path`` (a plain ``http://`` URL): forwards the request and relays the answer,
  one request per connection (``Connection: close`` both ways). It sees everything, the
  ``Authorization`` header included: the positive control of a test that searches ``seen()``.

Nothing leaves the machine: whatever host a client names, the proxy connects to 127.0.0.1 on the port
named (the host name is only recorded), so a test can use a public-looking name such as
``api.telnyx.test`` that the client never resolves. Bounded: at most ``max_connections`` at once (more
are closed unanswered), ``timeout`` seconds of silence end a connection, and at most ``max_bytes`` are
recorded (``truncated`` then says so; relaying goes on).
"""

import select
import socket
import socketserver
import threading

HEAD_LIMIT = 64 * 1024  # the most a request or response head may take


class _Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True
    block_on_close = False


class RecordingProxy:
    """A threaded HTTP proxy on 127.0.0.1 that records every byte it relays; see the module docstring."""

    def __init__(self, max_connections=32, timeout=30.0, max_bytes=16 * 1024 * 1024):
        self.timeout = timeout
        self.max_bytes = max_bytes
        self.truncated = False
        self.connects = []  # "host:port" of every CONNECT
        self.forwards = []  # "METHOD http://..." of every plain request
        self.refused = 0  # connections closed because max_connections were open
        self._seen = bytearray()
        self._lock = threading.Lock()
        self._slots = threading.BoundedSemaphore(max_connections)
        proxy = self

        class Handler(socketserver.BaseRequestHandler):
            def handle(self):
                if not proxy._slots.acquire(blocking=False):
                    with proxy._lock:
                        proxy.refused += 1
                    return
                try:
                    self.request.settimeout(proxy.timeout)
                    proxy._serve(self.request)
                except OSError:
                    pass  # a client or upstream that went away: nothing to relay any more
                finally:
                    proxy._slots.release()

        self._server = _Server(("127.0.0.1", 0), Handler)
        self.port = self._server.server_address[1]
        self.url = "http://127.0.0.1:%d" % self.port
        self._thread = threading.Thread(target=self._server.serve_forever, name="recording-proxy", daemon=True)

    # -- lifecycle ---------------------------------------------------------------
    def start(self):
        self._thread.start()
        return self

    def stop(self):
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(10)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    # -- what it saw -------------------------------------------------------------
    def seen(self):
        """Every byte relayed, both ways, in arrival order (CONNECT lines and tunnels included)."""
        with self._lock:
            return bytes(self._seen)

    def _record(self, data):
        with self._lock:
            room = self.max_bytes - len(self._seen)
            if len(data) > room:
                self.truncated = True
            self._seen += data[:max(0, room)]

    # -- serving -------------------------------------------------------------------
    def _serve(self, client):
        head, rest = _read_head(client)
        if head is None:
            return
        self._record(head + rest)
        request_line = head.split(b"\r\n", 1)[0].decode("latin-1")
        parts = request_line.split()
        if len(parts) != 3:
            client.sendall(b"HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Length: 0\r\n\r\n")
            return
        method, target, _version = parts
        if method == "CONNECT":
            with self._lock:
                self.connects.append(target)
            self._tunnel(client, target, rest)
        else:
            with self._lock:
                self.forwards.append("%s %s" % (method, target))
            self._forward(client, method, target, head, rest)

    def _upstream(self, client, authority, default_port):
        """A connection to 127.0.0.1 on the port of ``host:port`` (the host is never resolved), or None."""
        _host, colon, port = authority.rpartition(":")  # "[::1]:443", "name:443" or "name"
        try:
            upstream = socket.create_connection(("127.0.0.1", int(port) if colon and port.isdigit() else default_port),
                                                timeout=self.timeout)
        except OSError:
            client.sendall(b"HTTP/1.1 502 Bad Gateway\r\nConnection: close\r\nContent-Length: 0\r\n\r\n")
            return None
        return upstream

    def _tunnel(self, client, target, early):
        upstream = self._upstream(client, target, 443)
        if upstream is None:
            return
        with upstream:
            client.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
            if early:
                upstream.sendall(early)
            self._relay(client, upstream)

    def _relay(self, one, other):
        """Copy bytes both ways (recording them) until either side closes or stays silent too long."""
        peers = {one: other, other: one}
        while True:
            ready = select.select(list(peers), [], [], self.timeout)[0]
            if not ready:
                return
            for sock in ready:
                data = sock.recv(65536)
                if not data:
                    return
                self._record(data)
                peers[sock].sendall(data)

    def _forward(self, client, method, target, head, rest):
        scheme, _sep, after = target.partition("://")
        if scheme.lower() != "http" or not after:
            client.sendall(b"HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Length: 0\r\n\r\n")
            return
        authority, slash, path = after.partition("/")
        lines = head.split(b"\r\n")[1:]
        headers = [line for line in lines if line and not line.lower().startswith((b"connection:", b"proxy-"))]
        length = 0
        for line in headers:
            name, _colon, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value.strip() or 0)
        body = rest
        while len(body) < length:
            chunk = client.recv(65536)
            if not chunk:
                break
            self._record(chunk)
            body += chunk
        upstream = self._upstream(client, authority.rsplit("@", 1)[-1], 80)
        if upstream is None:
            return
        with upstream:
            first = ("%s %s HTTP/1.1" % (method, slash + path)).encode("latin-1")
            upstream.sendall(b"\r\n".join([first] + headers + [b"Connection: close", b"", b""]) + body)
            answer = bytearray()
            while True:
                chunk = upstream.recv(65536)
                if not chunk:
                    break
                answer += chunk
        self._record(bytes(answer))
        answer_head, _blank, answer_body = bytes(answer).partition(b"\r\n\r\n")
        kept = [line for line in answer_head.split(b"\r\n")
                if not line.lower().startswith((b"connection:", b"keep-alive:"))]
        client.sendall(b"\r\n".join(kept + [b"Connection: close", b"", b""]) + answer_body)


def _read_head(sock):
    """(the head up to and including the blank line, the bytes read past it); (None, b"") if none came."""
    data = b""
    while b"\r\n\r\n" not in data:
        if len(data) > HEAD_LIMIT:
            return None, b""
        chunk = sock.recv(65536)
        if not chunk:
            return None, b""
        data += chunk
    head, _blank, rest = data.partition(b"\r\n\r\n")
    return head + b"\r\n\r\n", rest
