"""The doubles of the plugin unit tests: a fake HTTP transport, a fake clock, a fake UAC API and registrar, and
the pieces of an in-process module run.

Import them by package path (``from tests.unit.plugins.fakes import FakeUacApi, sip_status``); the fixtures that
set them up for a test (``transport``, ``api``, ``registrar``, ``make_client``, ``run_module``, ...) are in
``conftest.py`` beside this file, which holds fixtures only.

The transport replaces only ``requests``' adapter: the client's real
``requests.Session`` (with its auth, headers, query encoding, JSON bodies and
redirect policy) prepares every request, and the fake adapter records it and
answers from a queue or a handler. No socket is opened.
"""
from __future__ import annotations

import copy
import itertools
import json
import threading
import time
from collections import deque
from types import SimpleNamespace
from urllib.parse import parse_qsl, urlsplit

import requests
from requests.adapters import BaseAdapter
from requests.structures import CaseInsensitiveDict

from ansible.module_utils import basic

# The collection's modules are imported inside functions, never here: this
# file is loaded with conftest.py, which can be before pytest-ansible installs
# Ansible's collection finder, and a collection package imported before it
# lacks its metadata.

API_URL = "https://api.test/v2"
API_KEY = "test-api-key-5f1e2d3c"


class Call(SimpleNamespace):
    """One request as it reached the wire: method, path (below /v2), params, body, headers, send kwargs (proxies too)."""


def make_response(status=200, json_body=None, text=None, headers=None, request=None):
    """A real ``requests.Response`` with the given status, body and headers."""
    response = requests.Response()
    response.status_code = status
    response.headers = CaseInsensitiveDict(headers or {})
    if json_body is not None:
        text = json.dumps(json_body)
        response.headers.setdefault("Content-Type", "application/json")
    response._content = (text or "").encode("utf-8")
    response.encoding = "utf-8"
    response.request = request
    response.url = request.url if request is not None else API_URL
    return response


class FakeTransport(BaseAdapter):
    """A ``requests`` adapter that records requests and answers from a queue, then from ``handler``.

    A queued item is a dict of ``make_response`` arguments, or an exception
    instance to raise (a timeout, a connection error). ``handler(call)``
    returns such an item. With neither, the request fails the test.
    """

    def __init__(self):
        super().__init__()
        self.calls = []
        self.queue = deque()
        self.handler = None

    def push(self, status=200, json=None, text=None, headers=None):
        self.queue.append(dict(status=status, json_body=json, text=text, headers=headers))
        return self

    def push_error(self, exc):
        self.queue.append(exc)
        return self

    def send(self, request, stream=False, timeout=None, verify=True, cert=None, proxies=None):
        url = urlsplit(request.url)
        body = request.body
        if isinstance(body, bytes):
            body = body.decode("utf-8")
        call = Call(
            method=request.method,
            url=request.url,
            path=url.path[len(urlsplit(API_URL).path):] if url.path.startswith(urlsplit(API_URL).path) else url.path,
            params=dict(parse_qsl(url.query)),
            body=json.loads(body) if body else None,
            headers=dict(request.headers),
            timeout=timeout,
            verify=verify,
            proxies=dict(proxies or {}),
        )
        self.calls.append(call)
        if self.queue:
            item = self.queue.popleft()
        elif self.handler is not None:
            item = self.handler(call)
        else:
            raise AssertionError("unexpected request %s %s" % (call.method, call.url))
        if isinstance(item, BaseException):
            raise item
        return make_response(request=request, **item)

    def close(self):
        pass

    @property
    def methods(self):
        return [(c.method, c.path) for c in self.calls]

    def writes(self):
        return [c for c in self.calls if c.method != "GET"]


class FakeClock:
    """A monotonic clock that only moves when something sleeps; records every sleep."""

    def __init__(self):
        self.t = 1000.0
        self.sleeps = []

    def now(self):
        return self.t

    def sleep(self, seconds):
        self.sleeps.append(seconds)
        self.t += seconds


def client_factory(clock, **defaults):
    """``build(**options)``: a TelnyxClient with ``defaults`` under ``options``, its rate-limit gate on ``clock``."""
    from ansible_collections.telnyx.sip.plugins.module_utils import _client

    def build(*args, **kwargs):
        options = dict(defaults)
        options.update(kwargs)
        client = _client.TelnyxClient(*args, **options)
        client.gate = _client.RateGate(clock=clock.now, sleep=clock.sleep)
        return client
    return build


class FakeUacApi:
    """A small stateful stand-in for ``/v2/uac_connections``, as a transport handler.

    Returns passwords in clear text (the worst case for leaks), generates a
    top-level password when a create has none, merges nested objects on
    PATCH, and pages lists with ``meta.total_pages``.
    """

    GENERATED_PASSWORD = "Gen3rated-Pw-7781x"

    def __init__(self):
        self.store = {}
        self._ids = itertools.count(1293384261075731001)

    def add(self, **conn):
        conn.setdefault("id", str(next(self._ids)))
        conn.setdefault("record_type", "uac_connection")
        self.store[conn["id"]] = conn
        return conn

    @staticmethod
    def _error(status, detail, pointer=None):
        err = dict(code=str(status * 100), title="error", detail=detail)
        if pointer:
            err["source"] = dict(pointer=pointer)
        return dict(status=status, json_body=dict(errors=[err]))

    def __call__(self, call):
        parts = [p for p in call.path.split("/") if p]
        if parts[:1] != ["uac_connections"] or len(parts) > 2:
            return self._error(404, "no such path")
        if len(parts) == 1:
            return self._list(call) if call.method == "GET" else self._create(call)
        conn = self.store.get(parts[1])
        if conn is None:
            return self._error(404, "Resource not found")
        if call.method == "GET":
            return dict(json_body=dict(data=copy.deepcopy(conn)))
        if call.method == "PATCH":
            for key, value in call.body.items():
                if isinstance(value, dict) and isinstance(conn.get(key), dict):
                    conn[key].update(value)
                else:
                    conn[key] = copy.deepcopy(value)
            return dict(json_body=dict(data=copy.deepcopy(conn)))
        if call.method == "DELETE":
            del self.store[parts[1]]
            return dict(json_body=dict(data=conn))
        return self._error(405, "method not allowed")

    def _list(self, call):
        items = list(self.store.values())
        contains = call.params.get("filter[connection_name][contains]")
        if contains is not None:
            items = [c for c in items if contains.lower() in c.get("connection_name", "").lower()]
        size = int(call.params.get("page[size]", 20))
        number = int(call.params.get("page[number]", 1))
        pages = max(1, -(-len(items) // size))
        page = items[(number - 1) * size:number * size]
        meta = dict(page_number=number, page_size=size, total_pages=pages, total_results=len(items))
        return dict(json_body=dict(data=copy.deepcopy(page), meta=meta))

    def _create(self, call):
        body = copy.deepcopy(call.body)
        body.setdefault("user_name", "telnyx%04d" % (len(self.store) + 1))
        body.setdefault("password", self.GENERATED_PASSWORD)
        body.setdefault("active", True)
        conn = self.add(**body)
        conn["fqdn"] = "fq%s.uac.telnyx.com" % conn["id"][-6:]
        return dict(status=201, json_body=dict(data=copy.deepcopy(conn)))


class AnsibleExit(Exception):
    """exit_json was called."""


class AnsibleFail(Exception):
    """fail_json was called."""


try:  # ansible-core >= 2.19
    from ansible.module_utils.testing import patch_module_args as patch_args
except ImportError:  # pragma: no cover - older ansible-core
    import contextlib

    from ansible.module_utils.common.text.converters import to_bytes

    @contextlib.contextmanager
    def patch_args(args):
        old = basic._ANSIBLE_ARGS
        basic._ANSIBLE_ARGS = to_bytes(json.dumps(dict(ANSIBLE_MODULE_ARGS=args)))
        try:
            yield
        finally:
            basic._ANSIBLE_ARGS = old


def drive(module, args):
    """``module.main()`` with ``args`` as its arguments, once ``exit_json``/``fail_json`` raise (see ``raise_exit``):
    (result, failed)."""
    with patch_args(args):
        try:
            module.main()
        except AnsibleExit as exc:
            return exc.args[0], False
        except AnsibleFail as exc:
            return exc.args[0], True
    raise AssertionError("the module returned without exit_json or fail_json")


def raise_exit(self, **kwargs):
    """An ``AnsibleModule.exit_json`` that raises ``AnsibleExit`` with the result."""
    raise AnsibleExit(kwargs)


def raise_fail(self, **kwargs):
    """An ``AnsibleModule.fail_json`` that raises ``AnsibleFail`` with the result."""
    raise AnsibleFail(kwargs)


def assert_no_secret(result, *secrets):
    """No given secret appears anywhere in the JSON form of ``result``."""
    text = json.dumps(result, sort_keys=True, default=str)
    for secret in secrets:
        assert secret not in text, "secret %r leaked into %s" % (secret, text)


# -- registration (GET /sip_registration_status) -------------------------------------------
def sip_status(state, registered=None, response=None, connection_id=None):
    """A bare ``SipRegistrationStatus`` object as the API answers it."""
    status = dict(credential_type="uac_external_credential", sip_registration_status=state,
                  registered=(state == "registered") if registered is None else registered,
                  sip_registration_details=dict(auth_retries=0, failures=0))
    if response is not None:
        status["last_registration_response"] = response
    if connection_id is not None:
        status["connection_id"] = str(connection_id)
    return status


class FakeRegistrar:
    """``GET /sip_registration_status`` in front of the fake UAC API (every other request goes to it).

    ``set(key, *statuses)`` gives the answers for a connection, by id or by
    connection name: one per read, the last one repeated. A connection with
    none set answers 404. ``others`` answers every other request (the fake
    API unless replaced). ``reads`` lists the connection ids read, in order;
    ``max_in_flight`` is the most reads served at once (with ``hold`` seconds
    per read, so that concurrent reads overlap).
    """

    PATH = "/sip_registration_status"

    def __init__(self, api):
        self.api = api
        self.others = api  # the handler of every other request
        self.answers = {}
        self.reads = []
        self.hold = 0.0
        self.in_flight = 0
        self.max_in_flight = 0
        self._lock = threading.Lock()

    def set(self, key, *statuses):
        self.answers[str(key)] = list(statuses)
        return self

    def _answers(self, cid):
        if cid in self.answers:
            return self.answers[cid]
        return self.answers.get(self.api.store.get(cid, {}).get("connection_name"))

    def __call__(self, call):
        if call.path != self.PATH:
            return self.others(call)
        cid = call.params.get("connection_id")
        with self._lock:
            self.reads.append(cid)
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
            answers = self._answers(cid)
            status = (answers.pop(0) if len(answers) > 1 else answers[0]) if answers else None
        try:
            if self.hold:
                time.sleep(self.hold)
        finally:
            with self._lock:
                self.in_flight -= 1
        if status is None:
            return FakeUacApi._error(404, "Registration status not found")
        if "http_error" in status:  # refuse the read itself, e.g. {"http_error": 403}
            return FakeUacApi._error(status["http_error"], "refused by the test")
        return dict(json_body=dict(copy.deepcopy(status), connection_id=cid))


def clock_waiter(clock):
    """A ``_registration.Waiter`` whose clock and sleep default to ``clock``'s.

    ``Waiter`` binds ``time.monotonic``/``time.sleep`` as default arguments when
    its module is loaded, so patching ``time`` does not reach it: this subclass
    is what the ``registration_clock`` fixture puts in its place.
    """
    from ansible_collections.telnyx.sip.plugins.module_utils import _registration

    real = _registration.Waiter

    class FakeClockWaiter(real):
        def __init__(self, client, timeout, interval, workers=8, clock=clock.now, sleep=clock.sleep):
            real.__init__(self, client, timeout, interval, workers=workers, clock=clock, sleep=sleep)

    return FakeClockWaiter
