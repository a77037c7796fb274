"""What stands between a client and the API: rate limits, injected failures, latency.

Each is a step with `before(call)` (return an ApiError to answer with it instead of acting) and
`after(call, response)`. The server runs the steps' `before` in order until one refuses, then
every step's `after`. The injected faults (below `FaultSettings`) are steps too; a `FaultInjector`
holds them and the settings that `/_emulator/faults` changes at run time.
"""

import argparse
import math
import random
import socket
import struct
import threading
import time
from dataclasses import dataclass, fields
from typing import Optional, Tuple

from flask import Blueprint, current_app, jsonify, request

from .errors import ApiError

UNLIMITED = 100000  # the limit advertised when no --rate-limit is set


class Call:
    """One API request on its way through the pipeline."""

    def __init__(self, method, path, key):
        self.method, self.path, self.key = method, path, key
        self.headers = {}  # headers that the response will carry
        self.time = time.time()  # when it arrived (logged, for request-rate checks)
        self.fault = None  # the name of the fault injected into it, if any
        self.dropped = False  # answered by closing the connection: logged with status 0


class Step:
    def before(self, call):
        return None

    def after(self, call, response):
        pass

    def reset(self):
        pass


class RateLimiter(Step):
    """One account window per API key, shared by every client that uses the key.

    Fixed windows of `window` seconds: one starts with the first request after the last one ended. Every
    response carries `x-ratelimit-limit` (requests a window allows), `x-ratelimit-remaining` (left in this
    window) and `x-ratelimit-reset` (seconds until it starts anew, in whole seconds rounded up: never 0
    while it runs), as Telnyx documents them; beyond the limit, 429 with `Retry-After` set to the reset.
    """

    def __init__(self, limit=None, window=1.0, clock=time.monotonic):
        self.limit = limit
        self.window = window
        self._clock = clock
        self._lock = threading.Lock()
        self._windows = {}  # key -> [window start, count]

    def _take(self, key, count):
        now = self._clock()
        with self._lock:
            window = self._windows.get(key)
            if window is None or now - window[0] >= self.window:
                window = self._windows[key] = [now, 0]
            window[1] += count
            return window[1], window[0] + self.window - now

    def _headers(self, used, reset_in):
        limit = self.limit or UNLIMITED
        return {
            "x-ratelimit-limit": str(limit),
            "x-ratelimit-remaining": str(max(limit - used, 0)),
            # whole seconds, rounded up; rounded to the millisecond first, so that the float error of
            # start + window - now never adds a second
            "x-ratelimit-reset": str(max(math.ceil(round(reset_in, 3)), 1)),
        }

    def before(self, call):
        used, reset_in = self._take(call.key, 1)
        call.headers.update(self._headers(used, reset_in))
        if self.limit is not None and used > self.limit:
            retry = {"Retry-After": call.headers["x-ratelimit-reset"]}
            return ApiError.single(429, "10011", "You have exceeded the maximum number of allowed requests.",
                                   headers=retry)
        return None

    def after(self, call, response):
        if "x-ratelimit-limit" not in call.headers:  # refused before this step: report, don't count
            call.headers.update(self._headers(*self._take(call.key, 0)))

    def reset(self):
        with self._lock:
            self._windows.clear()


class Latency(Step):
    """Hold every response for a fixed time."""

    def __init__(self, milliseconds):
        self.seconds = milliseconds / 1000.0

    def after(self, call, response):
        time.sleep(self.seconds)


class Pipeline:
    def __init__(self, steps):
        self.steps = list(steps)

    def before(self, call):
        for step in self.steps:
            error = step.before(call)
            if error is not None:
                return error
        return None

    def after(self, call, response):
        for step in self.steps:
            step.after(call, response)

    def reset(self):
        for step in self.steps:
            step.reset()


# -- injected faults -------------------------------------------------------------------------
#
# Every fault below reads its settings from one `FaultSettings` object at call time, so the
# `/_emulator/faults` hook can change them in a running emulator (tests arm a fault after their
# set-up, then disarm it). Each decides before the request acts, except `DropResponse` (acts, then
# drops) and `Slow` (acts, then holds the answer). Each uses a random generator of its own,
# re-seeded by /_emulator/reset, so a `--seed` reproduces the same dice.

WRITE_METHODS = ("POST", "PATCH", "DELETE")

HTML_PAGE = ("<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n"
             "<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n")
BROKEN_JSON = '{"data": {"record_type": "uac_connection", "id": "12'  # cut short, as by a failing proxy
BURST_ERRORS = (
    (500, "Unexpected error", "An unexpected error occurred."),
    (502, "Bad gateway", "The upstream service did not answer."),
    (503, "Service unavailable", "The service is temporarily unavailable. Please retry."),
    (504, "Gateway timeout", "The upstream service did not answer in time."),
)


@dataclass
class FaultSettings:
    """What to inject; every field can be changed at run time through `POST /_emulator/faults`."""

    fail_rate: float = 0.0  # share answered 500/503 (--fail-rate)
    error_burst: int = 0  # the next N requests get 500, 502, 503, 504 in turn
    rate_limit_storm: int = 0  # the next N requests get 429
    rate_429: float = 0.0  # share answered 429
    retry_after: Optional[int] = 1  # Retry-After of injected 429s; None: left out (and off real 429s too)
    reset_rate: float = 0.0  # share whose connection is closed without an answer, before acting
    drop_response_rate: float = 0.0  # share that act, then lose their answer (connection closed)
    slow_rate: float = 0.0  # share that act, then answer after slow_ms
    slow_ms: int = 0
    html_error_rate: float = 0.0  # share answered by a proxy's 502 HTML page, before acting
    broken_json_rate: float = 0.0  # share answered 200 with a cut-short JSON body, before acting
    conflict_rate: float = 0.0  # share of PATCHes answered 409 "a previous update is still in progress"
    revoked_keys: Tuple[str, ...] = ()  # these keys get 403 (code 10010), never retried
    vanish_before_delete: bool = False  # DELETE removes the connection, then answers 404
    redirect_to: Optional[str] = None  # every API request answered 307 to this URL + the path
    methods: Tuple[str, ...] = ()  # faults apply only to these methods; () = all

    FIELDS = ()  # filled below: the names the hook accepts

    def applies(self, call):
        return not self.methods or call.method in self.methods

    def update(self, values):
        """Change fields from a JSON object; returns the unknown names (nothing changed then)."""
        unknown = sorted(set(values) - set(self.FIELDS))
        if unknown:
            return unknown
        for name, value in values.items():
            if name in ("revoked_keys", "methods"):
                value = tuple(value or ())
            setattr(self, name, value)
        return []

    def as_dict(self):
        return {name: (list(value) if isinstance(value, tuple) else value)
                for name, value in ((n, getattr(self, n)) for n in self.FIELDS)}


FaultSettings.FIELDS = tuple(f.name for f in fields(FaultSettings))


def _close(sock, reset):
    """Close the client's connection: no answer ever reaches it."""
    try:
        if reset:  # RST instead of FIN: the client sees "connection reset by peer"
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass


def _closing_body(sock, reset):
    """A response body that closes the connection before its first byte (the status line included) is sent."""
    _close(sock, reset)
    yield b""


class Injected(Step):
    """Base of the injected faults: shared settings, seeded dice, the fault's name on the call."""

    name = "fault"

    def __init__(self, settings, rng_factory):
        self.settings = settings
        self._rng_factory = rng_factory
        self._rng = rng_factory(self.name)
        self._lock = threading.Lock()

    def roll(self, share):
        """True for a share of calls (0..1); draws no die when the share is 0."""
        if not share:
            return False
        with self._lock:
            return self._rng.random() < share

    def pick(self, options):
        with self._lock:
            return self._rng.choice(options)

    def mark(self, call, name=None):
        call.fault = name or self.name

    def reset(self):
        with self._lock:
            self._rng = self._rng_factory(self.name)


class RevokedKey(Injected):
    """403 (code 10010) for a revoked key, right after authentication: not worth a retry."""

    name = "revoked_key"

    def before(self, call):
        if call.key and call.key in self.settings.revoked_keys:
            self.mark(call)
            return ApiError.single(403, "10010", "The API key has been revoked or lacks the rights for this request.",
                                   title="Authorization failed")
        return None


class Counted(Injected):
    """The next N requests (N re-armed by /_emulator/reset or the faults hook)."""

    setting = ""

    def __init__(self, settings, rng_factory):
        super().__init__(settings, rng_factory)
        self.used = 0

    def take(self, call):
        if not self.settings.applies(call):
            return None
        with self._lock:
            limit = getattr(self.settings, self.setting)
            if self.used >= limit:
                return None
            self.used += 1
            return self.used - 1

    def reset(self):
        super().reset()
        with self._lock:
            self.used = 0


class ErrorBurst(Counted):
    """The next N requests: 500, 502, 503, 504 in turn."""

    name, setting = "error_burst", "error_burst"

    def before(self, call):
        index = self.take(call)
        if index is None:
            return None
        status, title, detail = BURST_ERRORS[index % len(BURST_ERRORS)]
        self.mark(call)
        return ApiError.single(status, "10007", detail, title=title)


def _too_many(settings):
    headers = {} if settings.retry_after is None else {"Retry-After": str(settings.retry_after)}
    return ApiError.single(429, "10011", "You have exceeded the maximum number of allowed requests.", headers=headers)


class RateLimitStorm(Counted):
    """The next N requests: 429 (with `Retry-After` unless it is turned off)."""

    name, setting = "rate_limit_storm", "rate_limit_storm"

    def before(self, call):
        if self.take(call) is None:
            return None
        self.mark(call)
        return _too_many(self.settings)


class RateShare(Injected):
    """A share of requests: 429."""

    name = "rate_429"

    def before(self, call):
        if self.settings.applies(call) and self.roll(self.settings.rate_429):
            self.mark(call)
            return _too_many(self.settings)
        return None


class FailRate(Injected):
    """Answer a share of requests with 500 or 503, decided before the request acts (`--fail-rate`)."""

    name = "fail_rate"
    ERRORS = (BURST_ERRORS[0], BURST_ERRORS[2])

    def before(self, call):
        if not (self.settings.applies(call) and self.roll(self.settings.fail_rate)):
            return None
        status, title, detail = self.pick(self.ERRORS)
        self.mark(call)
        return ApiError.single(status, "10007", detail, title=title)


class ConnectionReset(Injected):
    """Close the connection without an answer, before the request acts."""

    name = "reset"

    def before(self, call):
        if self.settings.applies(call) and self.roll(self.settings.reset_rate):
            self.mark(call)
            call.close = "reset"
            return ApiError.single(500, "10007", "connection reset by the emulator")  # never reaches the client
        return None


class ProxyPage(Injected):
    """A proxy's answer instead of the API's: an HTML 502 page, or a 200 with cut-short JSON."""

    name = "proxy"

    def before(self, call):
        if not self.settings.applies(call):
            return None
        if self.roll(self.settings.html_error_rate):
            self.mark(call, "html_error")
            return RawAnswer(502, HTML_PAGE, "text/html")
        if self.roll(self.settings.broken_json_rate):
            self.mark(call, "broken_json")
            return RawAnswer(200, BROKEN_JSON, "application/json")
        return None


class Conflict(Injected):
    """409 on a share of PATCHes: a previous update is still in progress."""

    name = "conflict"

    def before(self, call):
        if call.method == "PATCH" and self.roll(self.settings.conflict_rate):
            self.mark(call)
            return ApiError.single(409, "10016", "A previous update of this connection is still in progress.",
                                   title="Conflict")
        return None


class Redirect(Injected):
    """307 to another URL (the same path): a client that follows it would carry its key there."""

    name = "redirect"

    def before(self, call):
        if not self.settings.redirect_to:
            return None
        self.mark(call)
        return RawAnswer(307, "", "text/plain", {"Location": self.settings.redirect_to.rstrip("/") + call.path})


class VanishBeforeDelete(Injected):
    """A DELETE finds its connection gone: it is removed (as by someone else), then 404."""

    name = "vanish_before_delete"

    def before(self, call):
        if call.method != "DELETE" or not self.settings.vanish_before_delete:
            return None
        from flask import current_app

        emulator = current_app.extensions["telnyx_emulator"]
        connection_id = call.path.rstrip("/").rsplit("/", 1)[-1]
        try:
            emulator.store.delete(connection_id)
        except ApiError:
            pass
        self.mark(call)
        return ApiError.single(404, "10005", "The requested resource or URL could not be found.", "/")


class Slow(Injected):
    """A share of requests act, then answer after `slow_ms` (past a client's timeout)."""

    name = "slow"

    def before(self, call):
        if self.settings.applies(call) and self.roll(self.settings.slow_rate):
            self.mark(call)
        return None

    def after(self, call, response):
        if call.fault == self.name:
            time.sleep(self.settings.slow_ms / 1000.0)


class DropResponse(Injected):
    """A share of requests act, then the connection is closed without the answer (logged as status 0)."""

    name = "drop_response"

    def before(self, call):
        if self.settings.applies(call) and call.fault is None and self.roll(self.settings.drop_response_rate):
            call.drop_after = True
        return None

    def after(self, call, response):
        if getattr(call, "drop_after", False) and response.status_code < 400:
            self.mark(call)
            call.close = "drop"


class RetryAfterOff(Injected):
    """With `retry_after` None, no 429 carries `Retry-After` (x-ratelimit-reset still does)."""

    name = "no_retry_after"

    def after(self, call, response):
        if self.settings.retry_after is None:
            response.headers.pop("Retry-After", None)


class CloseConnection(Step):
    """Last step: a call marked `reset` or `drop` gets a body that closes the connection when the server
    starts sending it, i.e. after the request was logged (with status 0)."""

    def after(self, call, response):
        if getattr(call, "close", None) is None:
            return
        call.dropped = True
        sock = request.environ.get("werkzeug.socket")
        if sock is not None:  # None under the Flask test client: the answer is sent, the log still says 0
            response.response = _closing_body(sock, call.close == "reset")
            response.headers.pop("Content-Length", None)


class RawAnswer(ApiError):
    """An answer that is not the API's JSON error format (an HTML page, a redirect, broken JSON)."""

    def __init__(self, status, text, content_type, headers=None):
        super().__init__(status, [], dict(headers or {}, **{"Content-Type": content_type}))
        self.text = text

    def body(self):
        return self.text

    def response(self):
        from flask import Response

        return Response(self.text, status=self.status, headers=self.headers)


class FaultInjector:
    """The injected faults of one emulator: settings plus the steps the server runs."""

    def __init__(self, settings=None, rng_factory=None):
        self.settings = settings or FaultSettings()
        rng_factory = rng_factory or (lambda purpose: random.Random())
        self.revoked = RevokedKey(self.settings, rng_factory)
        self._steps = [cls(self.settings, rng_factory) for cls in (
            ErrorBurst, RateLimitStorm, RateShare, FailRate, ConnectionReset, ProxyPage, Conflict, Redirect,
            VanishBeforeDelete, Slow, DropResponse, RetryAfterOff)]

    @classmethod
    def from_config(cls, config):
        """The injector of an EmulatorConfig: its `faults` settings, with `fail_rate` from the config."""
        settings = getattr(config, "faults", None) or FaultSettings()
        settings.fail_rate = settings.fail_rate or config.fail_rate
        return cls(settings, config.rng)

    def auth_steps(self):
        """Right after authentication, before the rate limit."""
        return [self.revoked]

    def steps(self):
        """After the rate limit, before the latency."""
        return list(self._steps) + [CloseConnection()]

    def update(self, values):
        unknown = self.settings.update(values)
        if not unknown:
            for step in [self.revoked] + self._steps:
                step.reset()
        return unknown


def _share(text):
    value = float(text)
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError("must be between 0 and 1")
    return value


def _count(text):
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError("must be 0 or more")
    return value


def add_arguments(parser):
    """The fault options of the command line (`--fail-rate` and the rest); see docs/emulator.md."""
    group = parser.add_argument_group("injected faults (decided before the request acts, reproducible with --seed)")
    add = group.add_argument
    add("--error-burst", type=_count, default=0, metavar="N", help="the next N requests get 500, 502, 503, 504 in turn")
    add("--rate-limit-storm", type=_count, default=0, metavar="N", help="the next N requests get 429")
    add("--429-rate", dest="rate_429", type=_share, default=0.0, metavar="P", help="share of requests answered 429")
    add("--retry-after", type=_count, default=1, metavar="S", help="Retry-After of injected 429s (default 1)")
    add("--no-retry-after", action="store_true", help="no Retry-After on any 429 (x-ratelimit-reset stays)")
    add("--reset-rate", type=_share, default=0.0, metavar="P",
        help="share of requests whose connection is closed without an answer, before acting")
    add("--drop-response-rate", type=_share, default=0.0, metavar="P",
        help="share of requests that act, then lose their answer (logged with status 0)")
    add("--slow-rate", type=_share, default=0.0, metavar="P", help="share of requests answered after --slow-ms")
    add("--slow-ms", type=_count, default=0, metavar="N", help="how late a slow answer comes (milliseconds)")
    add("--html-error-rate", type=_share, default=0.0, metavar="P", help="share answered by a proxy's 502 HTML page")
    add("--broken-json-rate", type=_share, default=0.0, metavar="P", help="share answered 200 with cut-short JSON")
    add("--conflict-rate", type=_share, default=0.0, metavar="P", help="share of PATCHes answered 409")
    add("--revoked-key", action="append", default=[], metavar="KEY", help="answer 403 (code 10010) to this key")
    add("--vanish-before-delete", action="store_true", help="DELETE removes the connection, then answers 404")
    add("--redirect-to", metavar="URL", help="answer every API request with 307 to URL + the path")
    add("--fault-methods", default="", metavar="M,M",
        help="apply the share and count faults only to these methods (e.g. POST,PATCH,DELETE)")
    tls = parser.add_argument_group("TLS (a self-signed certificate makes clients check certificates)")
    tls.add_argument("--tls-cert", metavar="FILE", help="serve HTTPS with this PEM certificate (needs --tls-key)")
    tls.add_argument("--tls-key", metavar="FILE", help="the PEM private key of --tls-cert")


def settings_from_args(args):
    """FaultSettings from the parsed command line (`--fail-rate` is defined by __main__)."""
    return FaultSettings(
        fail_rate=args.fail_rate, error_burst=args.error_burst, rate_limit_storm=args.rate_limit_storm,
        rate_429=args.rate_429, retry_after=None if args.no_retry_after else args.retry_after,
        reset_rate=args.reset_rate, drop_response_rate=args.drop_response_rate, slow_rate=args.slow_rate,
        slow_ms=args.slow_ms, html_error_rate=args.html_error_rate, broken_json_rate=args.broken_json_rate,
        conflict_rate=args.conflict_rate, revoked_keys=tuple(args.revoked_key),
        vanish_before_delete=args.vanish_before_delete, redirect_to=args.redirect_to,
        methods=tuple(m.strip().upper() for m in args.fault_methods.split(",") if m.strip()))


hooks = Blueprint("fault_hooks", __name__, url_prefix="/_emulator/faults")


@hooks.get("")
def show_faults():
    return jsonify(data=current_app.extensions["telnyx_emulator"].faults.settings.as_dict())


@hooks.post("")
def change_faults():
    """Change fault settings (a JSON object of FaultSettings fields); counters and dice start anew."""
    values = request.get_json(force=True, silent=True)
    if not isinstance(values, dict):
        return jsonify(errors=[{"detail": "a JSON object of fault settings is required"}]), 400
    unknown = current_app.extensions["telnyx_emulator"].faults.update(values)
    if unknown:
        return jsonify(errors=[{"detail": "unknown fault settings: %s" % ", ".join(unknown),
                                "meta": {"known": list(FaultSettings.FIELDS)}}]), 400
    return show_faults()
