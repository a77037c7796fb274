# -*- coding: utf-8 -*-
# Copyright (c) telnyx.sip contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""The collection's one HTTP client for the Telnyx API v2.

PRIVATE: this file is internal to the telnyx.sip collection. Its names may
change in any release without notice; do not import it from other
collections.

It owns the session, authentication, the User-Agent, retries with capped
exponential backoff and jitter (honouring ``Retry-After`` and
``x-ratelimit-reset``), a rate-limit gate shared by every thread that uses the
client (which paces them to the account window's remaining budget, so that
clients that cannot see each other share it), pagination to the last page,
and the translation of API errors into one readable message plus a
structured list.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import ipaddress
import platform
import random
import threading
import time
import traceback
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlsplit

from ansible_collections.telnyx.sip.plugins.module_utils._version import COLLECTION_VERSION

try:
    import requests
    from requests.adapters import HTTPAdapter

    HAS_REQUESTS = True
    REQUESTS_IMPORT_ERROR = None
except ImportError:  # pragma: no cover - exercised through missing_required_lib
    HAS_REQUESTS = False
    REQUESTS_IMPORT_ERROR = traceback.format_exc()

DEFAULT_API_URL = "https://api.telnyx.com/v2"
PAGE_SIZE = 250

# Statuses worth another try: the request did not take effect, or the server
# says to come back later. 409 is "a previous update is still in progress".
RETRY_STATUSES = frozenset([408, 409, 429, 500, 502, 503, 504])
# Statuses after which a POST may have been carried out all the same.
AMBIGUOUS_STATUSES = frozenset([500, 502, 503, 504])
BACKOFF_BASE = 0.5
BACKOFF_CAP = 30.0


# -- where the API key may go ------------------------------------------------
LOOPBACK_NAMES = frozenset(["localhost", "localhost."])


def is_loopback_host(host):
    """True for localhost, 127.0.0.0/8 and ::1, by the name or address itself (nothing is resolved)."""
    if not host:
        return False
    host = host.lower()
    if host in LOOPBACK_NAMES:
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    # an IPv4-mapped IPv6 address (::ffff:127.0.0.1) is refused on every Python: 3.13's ipaddress calls it
    # loopback, older ones do not
    return address.is_loopback and getattr(address, "ipv4_mapped", None) is None


def url_parts(url):
    """(scheme, host) of a URL, lower-case; host without port, user or brackets."""
    parts = urlsplit(url or "")
    return (parts.scheme or "").lower(), parts.hostname


def insecure_url_problem(url, allow_insecure_http=False):
    """Why ``url`` may not carry the API key, or None.

    Plain http is refused unless it goes to this machine (loopback) or the
    user opted in for a trusted network.
    """
    scheme, host = url_parts(url)
    if scheme != "http" or is_loopback_host(host) or allow_insecure_http:
        return None
    return (
        "api_url (the option, or TELNYX_BASE_URL) is plain http to %s, which is not this machine: the API key "
        "would travel in clear text. Use https:// (the Telnyx API is https://api.telnyx.com/v2). Only on a "
        "trusted network, allow it with allow_insecure_http: true (or TELNYX_ALLOW_INSECURE_HTTP=true)"
        % (host or "no host")
    )


class TelnyxError(Exception):
    """A failure talking to the API, with what the module should report."""

    def __init__(self, msg, status=None, method=None, path=None, api_errors=None, retryable=False):
        super(TelnyxError, self).__init__(msg)
        self.msg = msg
        self.status = status
        self.method = method
        self.path = path
        self.api_errors = api_errors or []
        self.retryable = retryable

    def to_result(self):
        result = dict(msg=self.msg)
        if self.status is not None:
            result["status"] = self.status
        if self.api_errors:
            result["api_errors"] = self.api_errors
        return result


def _pointer_to_option(pointer):
    """``/external_uac_settings/transport`` -> ``external_uac_settings.transport``."""
    if not pointer or pointer == "/":
        return ""
    return ".".join(part for part in pointer.split("/") if part)


def parse_api_errors(status, body):
    """The ``errors`` array of an error response, as a list of plain dicts."""
    errors = []
    if isinstance(body, dict) and isinstance(body.get("errors"), list):
        for item in body["errors"]:
            if not isinstance(item, dict):
                continue
            source = item.get("source") if isinstance(item.get("source"), dict) else {}
            errors.append(
                dict(
                    status=status,
                    code=item.get("code"),
                    title=item.get("title"),
                    detail=item.get("detail"),
                    pointer=source.get("pointer"),
                )
            )
    return errors


def format_api_message(status, method, path, api_errors, text=None):
    """``Telnyx API 422 on PATCH /uac_connections/1: external_uac_settings.transport: ...``"""
    head = "Telnyx API %s on %s %s" % (status, method, path)
    parts = []
    for err in api_errors:
        option = _pointer_to_option(err.get("pointer"))
        detail = (err.get("detail") or err.get("title") or err.get("code") or "error").rstrip(". ")
        parts.append("%s: %s" % (option, detail) if option else detail)
    if status == 401:
        parts.append("the API key was not accepted: check api_key or TELNYX_API_KEY")
    elif status == 403:
        parts.append("the API key lacks the rights for this request")
    if not parts and text:
        parts.append(_summarise_text(text))
    return head + (": " + "; ".join(parts) if parts else "")


def _summarise_text(text):
    """A short, single-line excerpt of a non-JSON body (an HTML proxy page, say)."""
    text = " ".join(text.split())
    if "<" in text and ">" in text:
        return "the response was not JSON (an HTML page, probably from a proxy in front of the API)"
    return text[:200]


# Share of the advertised rate the client paces itself to.
PACE_SHARE = 0.95
# How fast the estimate of the others' share fades when a new window begins (see RateGate.observe).
SHARE_DECAY = 0.5


class Ticket:
    """One request's turn at the gate: its number among the client's requests, and when it may go."""

    def __init__(self, seq, sent_at, paused=0.0):
        self.seq = seq
        self.sent_at = sent_at
        self.paused = paused


class RateGate:
    """One pace shared by every thread that uses a client, fair to the clients it cannot see.

    Telnyx counts requests per account in a window: every answer says how many
    the window allows (``x-ratelimit-limit``), how many are left
    (``x-ratelimit-remaining``) and in how many seconds it starts anew
    (``x-ratelimit-reset``). Other clients of the same key (other processes,
    the other slices of an AWX job) spend the same window, unseen.

    The gate paces the requests of all threads:

    - never faster than just under the advertised rate (``limit`` per the
      longest ``reset`` seen), so a run alone stays within the limit;
    - never faster than its part of the window's remaining budget lasts
      until the window ends: the requests left are what the newest answer
      said, less the requests sent since (this client's, counted, and the
      others', estimated); its part is the share of the window it spends
      (``sharers``: the window's spending between two of its answers, per
      request of its own in between; 4 for one of four equal clients).
      Every client that does this spends the rest of the window evenly
      until its end, together about as fast as the window refills, so
      clients that cannot see each other (other processes, the slices of an
      AWX job) share one account limit without running into 429s; the
      estimate of the others fades at each new window, so a client that
      is left alone speeds up again;
    - when the budget is spent (0 left, or a 429), every thread waits for the
      window's end; a 429's ``Retry-After`` is a pause of its own.

    The window's end is tracked as a point in time (an upper bound: the
    answer's ``reset`` counted from when it arrived, at most the window
    length after an answer that shows a new window), so that a reset given
    in whole seconds still gives the time left in a one-second window.
    """

    def __init__(self, clock=time.monotonic, sleep=time.sleep):
        self._lock = threading.Lock()
        self._resume_at = 0.0
        self._clock = clock
        self._sleep = sleep
        self._window = 0.0
        self._interval = 0.0
        self._last_slot = float("-inf")
        self._admitted = 0        # requests given a turn so far
        self._window_end = None   # when the account's current window has surely ended
        self._window_from = float("-inf")  # the send time of the request that showed that window
        self._remaining = None    # requests left in it, as the newest answer said ...
        self._remaining_seq = -1  # ... to this client's request number ...
        self._lowest = None       # ... and the lowest count seen in this window, with when it arrived
        self._lowest_at = None
        self._first = None        # (request number, requests left) of the first answer in this window
        self.sharers = 1.0        # the window's spending by everyone, per request of this client's
        self.waited = 0.0

    def hold_until(self, delay):
        with self._lock:
            self._resume_at = max(self._resume_at, self._clock() + max(0.0, delay))

    def learn(self, limit, window):
        """The API allows ``limit`` requests per ``window`` seconds."""
        if not limit or limit <= 0 or not window or window <= 0:
            return
        with self._lock:
            self._window = max(self._window, window)
            self._interval = self._window / (limit * PACE_SHARE)

    def observe(self, ticket, remaining, reset):
        """What an answer to ``ticket``'s request said of the account's window (``reset`` in seconds)."""
        if remaining is None or reset is None:
            return
        with self._lock:
            if ticket.sent_at < self._window_from:
                return  # sent before the current window showed: it may tell of the one before
            now = self._clock()
            end = now + (min(reset, self._window) if self._window else reset)
            # within a window the count only goes down: more left than before means a new window
            new_window = (self._window_end is None or ticket.sent_at >= self._window_end
                          or (remaining > self._lowest and ticket.sent_at >= self._lowest_at))
            if new_window:
                self._window_end = end
                self._window_from = ticket.sent_at
                self._lowest = None
                self._first = (ticket.seq, remaining)
                # until this window tells, assume fewer others than in the last: a client that
                # had slowed down for others that are gone sends again, and learns it
                self.sharers = 1.0 + (self.sharers - 1.0) * SHARE_DECAY
            else:
                self._window_end = min(self._window_end, end)
                own = ticket.seq - self._first[0]
                if own > 0:
                    # everyone's requests between two answers, per request of ours in between
                    self.sharers = max(1.0, (self._first[1] - remaining) / float(own))
            if new_window or ticket.seq > self._remaining_seq:
                self._remaining, self._remaining_seq = remaining, ticket.seq
            if self._lowest is None or remaining <= self._lowest:
                self._lowest, self._lowest_at = remaining, now

    def _budget(self, now):
        """(seconds to hold, spacing) that the window's remaining budget asks for."""
        if self._window_end is None or now >= self._window_end:
            return 0.0, 0.0  # no window known, or it has ended: the budget is whole again
        left = self._window_end - now
        # since that answer this client sent `since` more requests, and everyone about `sharers` times as many
        since = self._admitted - self._remaining_seq - 1
        budget = self._remaining - self.sharers * since
        if budget <= 0:
            return left, 0.0
        # this client's part of what is left, spread until the window's end
        return 0.0, left * self.sharers / budget

    def turn(self):
        """A ``Ticket`` if a request may go now, else None and the seconds to wait before asking again."""
        with self._lock:
            now = self._clock()
            delay, spacing = self._resume_at - now, 0.0
            if delay <= 0:
                delay, spacing = self._budget(now)
            if delay <= 0:
                delay = self._last_slot + max(self._interval, spacing) - now
                if spacing and delay > 0:
                    delay = min(delay, self._window_end - now)  # at its end, the window refills
            if delay > 0:
                return None, delay
            self._last_slot = now
            self._admitted += 1
            return Ticket(self._admitted - 1, now), 0.0

    def admit(self):
        """Wait until the window has room and this request's turn comes; returns its ``Ticket``.

        Nothing is booked ahead: a thread sleeps, then asks again, so a turn
        is only taken with what is known when it comes (others may have spent
        the window meanwhile).
        """
        paused = 0.0
        while True:
            ticket, delay = self.turn()
            if ticket is not None:
                ticket.paused = paused
                return ticket
            self._sleep(delay)
            paused += delay
            with self._lock:
                self.waited += delay


# The longest pause a server's hint may impose on one retry.
HINT_CAP = BACKOFF_CAP * 4


def _header_number(headers, name):
    """A numeric header as a float, or None."""
    try:
        return float(headers.get(name)) if headers is not None and headers.get(name) is not None else None
    except (TypeError, ValueError):
        return None


def _header_seconds(headers, name):
    """A delay header in seconds, capped at ``HINT_CAP``; an epoch timestamp is turned into a delay."""
    seconds = _header_number(headers, name)
    if seconds is None:
        return None
    if seconds > 1e9:  # a Unix time, not a number of seconds
        seconds -= time.time()
    return min(HINT_CAP, max(0.0, seconds))


class TelnyxClient:
    """A small, thread-safe REST client for ``/v2``.

    ``request`` sends one call and retries what is safe to retry; ``get``,
    ``post``, ``patch`` and ``delete`` are its shorthands, and ``paginate``
    reads every page of a list. Given ``recover``, a POST whose outcome is
    unknown is sent again only after ``recover`` found that the first one did
    not take effect.
    """

    def __init__(self, api_key, api_url=None, timeout=30.0, validate_certs=True, retries=5,
                 ansible_version=None, ca_path=None, sleep=time.sleep, session_factory=None, jitter=random.random,
                 clock=time.monotonic, allow_insecure_http=False):
        if not api_key:
            raise TelnyxError("api_key is required: set the api_key option or the TELNYX_API_KEY environment variable")
        self.api_url = (api_url or DEFAULT_API_URL).rstrip("/")
        problem = insecure_url_problem(self.api_url, allow_insecure_http)
        if problem:
            raise TelnyxError(problem)
        # This machine is reached directly: a proxy's loopback is another machine's, and a plain
        # http request to a proxy would carry the key in clear text.
        self._proxies = dict(http=None, https=None, all=None) if is_loopback_host(url_parts(self.api_url)[1]) else None
        self.timeout = timeout
        # requests takes a CA bundle path where it takes True.
        self.validate_certs = (ca_path or True) if validate_certs else False
        self.retries = max(0, int(retries))
        self._api_key = api_key
        self._sleep = sleep
        self._jitter = jitter
        self._session_factory = session_factory or self._new_session
        self._local = threading.local()
        self.gate = RateGate(clock=clock, sleep=sleep)
        self.request_count = 0
        self._count_lock = threading.Lock()
        self.user_agent = "telnyx.sip/%s (Ansible %s; Python %s; python-requests %s)" % (
            COLLECTION_VERSION,
            ansible_version or "unknown",
            platform.python_version(),
            getattr(requests, "__version__", "unknown") if HAS_REQUESTS else "missing",
        )

    # -- session ---------------------------------------------------------
    def _new_session(self):
        session = requests.Session()
        adapter = HTTPAdapter(pool_connections=4, pool_maxsize=32, max_retries=0)
        session.mount("https://", adapter)
        session.mount("http://", adapter)
        # Proxies from the environment (HTTPS_PROXY, NO_PROXY...) are honoured, except for a
        # loopback api_url (see __init__); credentials from ~/.netrc are not (requests only
        # reads it when no auth is set on the request).
        session.auth = _BearerAuth(self._api_key)
        return session

    @property
    def session(self):
        session = getattr(self._local, "session", None)
        if session is None:
            session = self._session_factory()
            self._local.session = session
        return session

    def _headers(self):
        return {"Accept": "application/json", "User-Agent": self.user_agent}

    # -- one HTTP exchange -------------------------------------------------
    def _send_once(self, method, path, ticket, params=None, body=None):
        """Send one request (its turn at the gate: ``ticket``). Returns (status, headers, parsed body, text)."""
        with self._count_lock:
            self.request_count += 1
        url = self.api_url + path
        try:
            response = self.session.request(
                method,
                url,
                params=params,
                json=body,
                headers=self._headers(),
                timeout=self.timeout,
                verify=self.validate_certs,
                allow_redirects=False,
                # a copy: requests fills the dict it is given with the environment's proxies
                proxies=dict(self._proxies) if self._proxies else None,
            )
        except requests.exceptions.SSLError as exc:
            raise TelnyxError(
                "TLS certificate check failed for %s: %s. Trust its CA with ca_path, or set validate_certs: false "
                "only for a test endpoint you trust" % (self.api_url, _exc_text(exc)),
                method=method, path=path,
            )
        except requests.exceptions.Timeout:
            raise TelnyxError(
                "no response to %s %s within %s s (timeout)" % (method, path, self.timeout),
                method=method, path=path, retryable=True,
            )
        except requests.exceptions.ConnectionError as exc:
            raise TelnyxError(
                "could not reach the Telnyx API at %s on %s %s: %s" % (self.api_url, method, path, _exc_text(exc)),
                method=method, path=path, retryable=True,
            )
        if 300 <= response.status_code < 400:
            # Redirects are not followed: the API key must go to api_url only.
            raise TelnyxError(
                "Telnyx API %s on %s %s: redirected to %s; not followed, so that the API key is sent to api_url only"
                % (response.status_code, method, path, response.headers.get("Location", "?")),
                status=response.status_code, method=method, path=path,
            )
        text = response.text
        data = None
        if text:
            try:
                data = response.json()
            except ValueError:
                data = None
        self._note_rate_limit(response.status_code, response.headers, ticket)
        return response.status_code, response.headers, data, text

    def _note_rate_limit(self, status, headers, ticket):
        """Tell the gate what an answer said of the account's window."""
        remaining = _header_number(headers, "x-ratelimit-remaining")
        reset = _header_seconds(headers, "x-ratelimit-reset")
        limit = _header_number(headers, "x-ratelimit-limit")
        if limit is not None and reset is not None:
            self.gate.learn(limit, reset)
        if status == 429:
            retry_after = _header_seconds(headers, "Retry-After")
            delay = retry_after if retry_after is not None else reset
            self.gate.hold_until(delay if delay is not None else 1.0)
            remaining = 0  # whatever the header says, the window is spent
        self.gate.observe(ticket, remaining, reset)

    def _backoff(self, attempt, status=None, headers=None):
        """The pause before retry ``attempt``: capped exponential with jitter, or longer when the server says so.

        ``Retry-After`` counts for any status; ``x-ratelimit-reset`` only for a
        429, since every response carries it and it says nothing about when a
        failed server will be back.
        """
        delay = min(BACKOFF_CAP, BACKOFF_BASE * (2 ** attempt))
        delay = delay / 2.0 + self._jitter() * delay / 2.0
        names = ("Retry-After", "x-ratelimit-reset") if status == 429 else ("Retry-After",)
        for name in names:
            hinted = _header_seconds(headers, name)
            if hinted is not None:
                delay = max(delay, hinted)
                break
        return delay

    # -- public API ----------------------------------------------------------
    def request(self, method, path, params=None, body=None, recover=None, ok=(200, 201)):
        """Send a request, retrying what is safe to retry; return the parsed body.

        A POST whose outcome is unknown (timeout, dropped connection, 5xx) is
        only sent again after ``recover()`` returned None, i.e. after a look-up
        showed that the first one did not take effect. When ``recover`` finds
        the object, that object is returned as ``{"data": obj}``.
        """
        waited = 0.0
        statuses = []
        attempt = 0
        while True:
            error = None
            headers = None
            ticket = self.gate.admit()
            waited += ticket.paused
            try:
                status, headers, data, text = self._send_once(method, path, ticket, params=params, body=body)
            except TelnyxError as exc:
                if not exc.retryable:
                    raise
                error = exc
                status = None
            if error is None and status in ok and data is None and (text or "").strip():
                # A success whose body is not JSON (cut short, or a proxy's page): what it says is
                # unknown, so it is never read as "nothing there"; the request may have acted.
                error = TelnyxError(
                    "Telnyx API %s on %s %s: the response was not valid JSON (cut short, or a page from a proxy "
                    "in front of the API)" % (status, method, path),
                    status=status, method=method, path=path, retryable=True,
                )
            if error is None:
                if status in ok:
                    return data if data is not None else {}
                api_errors = parse_api_errors(status, data)
                error = TelnyxError(
                    format_api_message(status, method, path, api_errors, text),
                    status=status, method=method, path=path, api_errors=api_errors,
                    retryable=status in RETRY_STATUSES,
                )
            statuses.append(status if status is not None else "no response")
            if not error.retryable or attempt >= self.retries:
                if error.retryable and attempt > 0:
                    error.msg += self._exhausted(attempt, statuses, waited)
                    error.args = (error.msg,)
                raise error
            ambiguous = status is None or status in AMBIGUOUS_STATUSES or status in ok
            delay = self._backoff(attempt, status, headers)
            self._sleep(delay)
            waited += delay
            attempt += 1
            if method == "POST" and ambiguous and recover is not None:
                found = recover()
                if found is not None:
                    return {"data": found}

    @staticmethod
    def _exhausted(attempts, statuses, waited):
        limited = statuses.count(429)
        reason = "rate-limited (429) %d times" % limited if limited else "failed %d times" % len(statuses)
        return " (gave up after %d retries: %s; waited %.1f s in total)" % (attempts, reason, waited)

    def paginate(self, path, params=None, workers=4):
        """Every item of a list endpoint, following ``meta.total_pages``.

        The first page says how many there are; the others are then read on
        up to ``workers`` threads (through the same rate-limit gate) and put
        back in page order.
        """
        first = self._page(path, params, 1)
        items = list(first.get("data") or [])
        total_pages = (first.get("meta") or {}).get("total_pages")
        if total_pages is None:
            # No page count: read on until a short or empty page.
            page, data = 1, items
            while len(data) >= PAGE_SIZE:
                page += 1
                data = self._page(path, params, page).get("data") or []
                items.extend(data)
            return items
        rest = list(range(2, int(total_pages) + 1))
        if not rest or not items:
            return items
        with ThreadPoolExecutor(max_workers=max(1, min(workers, len(rest)))) as pool:
            for body in pool.map(lambda page: self._page(path, params, page), rest):
                items.extend(body.get("data") or [])
        return items

    def _page(self, path, params, number):
        query = dict(params or {})
        query["page[size]"] = PAGE_SIZE
        query["page[number]"] = number
        return self.request("GET", path, params=query)

    def get(self, path, params=None):
        return self.request("GET", path, params=params)

    def post(self, path, body, recover=None):
        return self.request("POST", path, body=body, recover=recover)

    def patch(self, path, body):
        return self.request("PATCH", path, body=body)

    def delete(self, path):
        return self.request("DELETE", path, ok=(200, 204))


if HAS_REQUESTS:

    class _BearerAuth(requests.auth.AuthBase):
        """``Authorization: Bearer``; its repr never shows the key."""

        def __init__(self, key):
            self._key = key

        def __call__(self, request):
            request.headers["Authorization"] = "Bearer %s" % self._key
            return request

        def __repr__(self):
            return "<BearerAuth>"


def _exc_text(exc):
    """An exception's text, on one line, without anything after a newline."""
    return " ".join(str(exc).split())[:300]
