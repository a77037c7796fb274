"""Unit tests of TelnyxClient: wire format, retries, rate limits, errors, pagination and POST recovery."""
from __future__ import annotations

import heapq
import itertools
import math
import threading
import time
from types import SimpleNamespace

import pytest
import requests

from ansible_collections.telnyx.sip.plugins.module_utils import _client
from ansible_collections.telnyx.sip.plugins.module_utils._client import (
    HINT_CAP,
    PAGE_SIZE,
    RateGate,
    TelnyxClient,
    TelnyxError,
)

OK = dict(data=dict(id="1"))
UNPROCESSABLE = dict(errors=[dict(code="10015", title="Invalid value", detail="must be one of UDP, TCP, TLS",
                                  source=dict(pointer="/external_uac_settings/transport"))])


# -- wire format ---------------------------------------------------------------
def test_bearer_auth_user_agent_and_request_options(make_client, transport, api_key):
    client = make_client(api_url="https://api.test/v2/", timeout=12.5, validate_certs=False, ansible_version="2.19.9")
    transport.push(json=OK)
    assert client.get("/uac_connections/1") == OK
    call = transport.calls[0]
    assert call.url == "https://api.test/v2/uac_connections/1"
    assert call.headers["Authorization"] == "Bearer " + api_key
    assert call.headers["Accept"] == "application/json"
    assert call.headers["User-Agent"].startswith("telnyx.sip/%s (Ansible 2.19.9; Python " % _client.COLLECTION_VERSION)
    assert "python-requests %s" % requests.__version__ in call.headers["User-Agent"]
    assert (call.timeout, call.verify) == (12.5, False)
    assert client.request_count == 1


def test_the_key_is_set_by_the_session_auth_and_never_shown(make_client, transport, api_key):
    session = make_client().session
    assert isinstance(session.auth, requests.auth.AuthBase)
    assert api_key not in repr(session.auth)
    assert "Authorization" not in session.headers


def test_json_body_and_query(make_client, transport):
    transport.push(status=201, json=OK)
    make_client().request("POST", "/uac_connections", params={"a": "b"}, body={"connection_name": "x"})
    assert transport.calls[0].body == {"connection_name": "x"}
    assert transport.calls[0].params == {"a": "b"}


def test_empty_body_of_a_success_is_an_empty_dict(make_client, transport):
    transport.push(status=204, text="")
    assert make_client().delete("/uac_connections/1") == {}


def test_a_success_whose_body_is_not_json_is_retried_never_read_as_empty(make_client, transport):
    # a proxy's cut-short 200 on a list read must not look like "no connection": the fleet would re-create all
    transport.push(status=200, text='{"data": [{"id": "12').push(json=OK)
    assert make_client().get("/uac_connections") == OK
    assert len(transport.calls) == 2


def test_a_post_whose_success_body_is_not_json_is_recovered_not_resent(make_client, transport):
    transport.push(status=201, text='{"data": {"id": "12')
    found = {"id": "12", "connection_name": "x"}
    assert make_client().post("/uac_connections", {"connection_name": "x"}, recover=lambda: found) == {"data": found}
    assert len(transport.calls) == 1


def test_api_key_is_required():
    with pytest.raises(TelnyxError, match="api_key is required: set the api_key option or the TELNYX_API_KEY"):
        TelnyxClient(api_key="")


# -- where the key may go --------------------------------------------------------
PROXY_VARIABLES = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY")


@pytest.fixture
def proxy_env(monkeypatch):
    """proxy_env(**variables): exactly these proxy variables (both cases), no other."""
    def set_env(**variables):
        for name in PROXY_VARIABLES:
            for spelled in (name, name.lower()):
                if name in variables:
                    monkeypatch.setenv(spelled, variables[name])
                else:
                    monkeypatch.delenv(spelled, raising=False)
    return set_env


@pytest.mark.parametrize("url", [
    "http://api.telnyx.com/v2", "HTTP://API.TELNYX.COM/v2", "http://10.0.0.5:8080/v2", "http://[2001:db8::1]/v2",
    # names that only look like loopback
    "http://127.0.0.1.nip.example/v2", "http://localhost.example.com/v2", "http://127.0.0.1@api.example.com/v2",
    "http://[::ffff:127.0.0.1]/v2", "http://0.0.0.0/v2", "http:///v2",
])
def test_plain_http_off_this_machine_is_refused_before_any_request(make_client, transport, api_key, url):
    with pytest.raises(TelnyxError) as info:
        make_client(api_url=url)
    msg = info.value.msg
    assert "api_url (the option, or TELNYX_BASE_URL) is plain http to " in msg
    for words in ("the API key would travel in clear text", "Use https://",
                  "allow_insecure_http: true (or TELNYX_ALLOW_INSECURE_HTTP=true)", "trusted network"):
        assert words in msg
    assert api_key not in msg and "127.0.0.1@" not in msg  # the user part of a URL is not echoed
    assert transport.calls == []


@pytest.mark.parametrize("url", [
    "http://127.0.0.1:8081/v2", "http://127.45.6.7/v2", "http://[::1]:4010", "http://localhost:4010/v2",
    "http://LocalHost/v2", "https://api.telnyx.com/v2", "https://10.0.0.5/v2",
])
def test_loopback_http_and_https_are_accepted(make_client, transport, url):
    transport.push(json=OK)
    assert make_client(api_url=url).get("/x") == OK
    assert transport.calls[0].headers["Authorization"].startswith("Bearer ")


def test_allow_insecure_http_lets_plain_http_through(make_client, transport, api_key):
    transport.push(json=OK)
    make_client(api_url="http://emulator.ci:4010/v2", allow_insecure_http=True).get("/x")
    assert transport.calls[0].url == "http://emulator.ci:4010/v2/x"


@pytest.mark.parametrize("url", ["http://127.0.0.1:8081/v2", "https://[::1]:8443/v2", "http://localhost/v2"])
def test_loopback_is_reached_directly_never_through_a_proxy(make_client, transport, proxy_env, url):
    proxy_env(HTTP_PROXY="http://proxy.corp:3128", HTTPS_PROXY="http://proxy.corp:3128",
              ALL_PROXY="http://proxy.corp:3128")
    transport.push(json=OK).push(json=OK)
    client = make_client(api_url=url)
    client.get("/x")
    client.get("/y")  # requests adds the environment's proxies to the dict it is given: each request gets a copy
    assert [call.proxies for call in transport.calls] == [{}, {}]


def test_https_proxy_and_no_proxy_from_the_environment_are_honoured(make_client, transport, proxy_env):
    proxy_env(HTTPS_PROXY="http://proxy.corp:3128")
    transport.push(json=OK)
    make_client(api_url="https://api.telnyx.com/v2").get("/x")
    assert transport.calls[0].proxies.get("https") == "http://proxy.corp:3128"
    proxy_env(HTTPS_PROXY="http://proxy.corp:3128", NO_PROXY="api.telnyx.com")
    transport.push(json=OK)
    make_client(api_url="https://api.telnyx.com/v2").get("/x")
    assert "https" not in transport.calls[1].proxies


# -- pagination ----------------------------------------------------------------
def test_paginate_follows_total_pages(make_client, transport):
    for number in (1, 2, 3):
        transport.push(json=dict(data=[dict(id=str(number))], meta=dict(total_pages=3, page_number=number)))
    items = make_client().paginate("/uac_connections", {"filter[fqdn]": "a.b"})
    assert [i["id"] for i in items] == ["1", "2", "3"]
    assert [c.params for c in transport.calls] == [
        {"filter[fqdn]": "a.b", "page[size]": str(PAGE_SIZE), "page[number]": str(n)} for n in (1, 2, 3)]
    assert PAGE_SIZE == 250


def test_paginate_without_meta_stops_on_a_short_page(make_client, transport):
    transport.push(json=dict(data=[dict(id=str(i)) for i in range(PAGE_SIZE)]))
    transport.push(json=dict(data=[dict(id="last")]))
    assert len(make_client().paginate("/uac_connections")) == PAGE_SIZE + 1
    assert len(transport.calls) == 2


def test_paginate_without_a_page_count_stops_on_an_empty_page(make_client, transport):
    transport.push(json=dict(data=[dict(id=str(i)) for i in range(PAGE_SIZE)], meta={}))
    transport.push(json=dict(data=[], meta={}))
    assert len(make_client().paginate("/uac_connections")) == PAGE_SIZE
    assert len(transport.calls) == 2


def test_paginate_reads_the_announced_pages_concurrently_and_keeps_their_order(make_client, transport):
    pages = {1: ["a", "b"], 2: ["c"], 3: [], 4: ["d", "e"]}

    def handler(call):
        number = int(call.params["page[number]"])
        return dict(json_body=dict(data=[dict(id=x) for x in pages[number]], meta=dict(total_pages=4)))

    transport.handler = handler
    assert [c["id"] for c in make_client().paginate("/uac_connections")] == ["a", "b", "c", "d", "e"]
    assert sorted(int(c.params["page[number]"]) for c in transport.calls) == [1, 2, 3, 4]


# -- retries -------------------------------------------------------------------
@pytest.mark.parametrize("status", [408, 409, 429, 500, 502, 503, 504])
def test_each_retry_status_is_retried(make_client, transport, clock, status):
    transport.push(status=status, json=dict(errors=[dict(detail="busy")])).push(json=OK)
    assert make_client().get("/uac_connections/1") == OK
    assert len(transport.calls) == 2
    assert sum(clock.sleeps) == pytest.approx(1.0 if status == 429 else 0.5)  # a bare 429 holds the gate 1 s


@pytest.mark.parametrize("status", [400, 404, 405, 422])
def test_client_errors_are_not_retried(make_client, transport, clock, status):
    transport.push(status=status, json=dict(errors=[dict(detail="no")]))
    with pytest.raises(TelnyxError) as info:
        make_client().get("/x")
    assert info.value.status == status and len(transport.calls) == 1 and clock.sleeps == []
    assert "gave up" not in info.value.msg


@pytest.mark.parametrize("status, words", [
    (401, "the API key was not accepted: check api_key or TELNYX_API_KEY"),
    (403, "the API key lacks the rights for this request"),
])
def test_auth_failures_are_not_retried_and_name_the_key(make_client, transport, api_key, status, words):
    transport.push(status=status, json=dict(errors=[dict(code="10009", title="Authentication failed")]))
    with pytest.raises(TelnyxError) as info:
        make_client().get("/uac_connections")
    assert info.value.msg == "Telnyx API %d on GET /uac_connections: Authentication failed; %s" % (status, words)
    assert len(transport.calls) == 1
    assert api_key not in info.value.msg


@pytest.mark.parametrize("exc, text", [
    (requests.exceptions.ReadTimeout("read timed out"), "no response to GET /x within 30.0 s (timeout)"),
    (requests.exceptions.ConnectTimeout("connect timed out"), "no response to GET /x within 30.0 s (timeout)"),
    (requests.exceptions.ConnectionError("Connection refused\n  by peer"),
     "could not reach the Telnyx API at https://api.test/v2 on GET /x: Connection refused by peer"),
])
def test_timeouts_and_connection_errors_are_retried(make_client, transport, clock, exc, text):
    transport.push_error(exc).push_error(exc).push_error(exc)
    with pytest.raises(TelnyxError) as info:
        make_client(retries=2).get("/x")
    assert info.value.msg == text + " (gave up after 2 retries: failed 3 times; waited 1.5 s in total)"
    assert info.value.status is None and len(transport.calls) == 3 and clock.sleeps == [0.5, 1.0]


def test_tls_errors_are_not_retried(make_client, transport):
    transport.push_error(requests.exceptions.SSLError("certificate verify failed"))
    with pytest.raises(TelnyxError) as info:
        make_client().get("/x")
    assert info.value.msg.startswith("TLS certificate check failed for https://api.test/v2: certificate verify failed.")
    assert "validate_certs: false" in info.value.msg
    assert len(transport.calls) == 1


@pytest.mark.parametrize("validate_certs, ca_path, verify", [
    (True, None, True), (True, "/etc/pki/ca.pem", "/etc/pki/ca.pem"), (False, "/etc/pki/ca.pem", False)])
def test_ca_path_is_what_requests_verifies_with(make_client, transport, monkeypatch, validate_certs, ca_path, verify):
    for name in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):  # requests puts these in place of verify=True
        monkeypatch.delenv(name, raising=False)
    transport.push(json=OK)
    make_client(validate_certs=validate_certs, ca_path=ca_path).get("/x")
    assert transport.calls[0].verify == verify


def test_backoff_grows_with_jitter_and_is_capped(make_client, transport, clock):
    for _attempt in range(9):
        transport.push(status=500)
    with pytest.raises(TelnyxError):
        make_client(retries=8).get("/x")
    assert clock.sleeps == [0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0]


def test_jitter_spreads_each_delay_over_its_upper_half(make_client):
    low, high = make_client(jitter=lambda: 0.0), make_client(jitter=lambda: 1.0)
    assert [low._backoff(a) for a in (0, 3, 20)] == [0.25, 2.0, 15.0]
    assert [high._backoff(a) for a in (0, 3, 20)] == [0.5, 4.0, 30.0]


@pytest.mark.parametrize("headers, delay", [
    ({"Retry-After": "7"}, 7.0),
    ({"x-ratelimit-reset": "4"}, 0.5),  # every response carries it: not a hint about a failed server
    ({"x-ratelimit-remaining": "99", "x-ratelimit-reset": "60"}, 0.5),
    ({"Retry-After": "3", "x-ratelimit-reset": "9"}, 3.0),
    ({"Retry-After": "0.1"}, 0.5),  # never below the backoff itself
    ({"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"}, 0.5),  # unparsed: plain backoff
    ({"Retry-After": "1000"}, 120.0),  # a hint is capped at four times the backoff cap
])
def test_server_hints_set_the_delay(make_client, transport, clock, headers, delay):
    transport.push(status=503, headers=headers).push(json=OK)
    make_client().get("/x")
    # the pause before the retry (with 99 requests left for 60 s, the retry then also waits its turn)
    assert clock.sleeps[0] == delay


@pytest.mark.parametrize("headers, delay", [
    ({"Retry-After": "6"}, 6.0),
    ({"x-ratelimit-reset": "5"}, 5.0),
    ({}, 1.0),  # no hint: the gate holds one second
])
def test_429_waits_for_the_hint(make_client, transport, clock, headers, delay):
    transport.push(status=429, headers=headers).push(json=OK)
    make_client().get("/x")
    assert sum(clock.sleeps) == pytest.approx(delay)


def test_retry_budget_message_counts_rate_limits_and_waits(make_client, transport):
    for _attempt in range(4):
        transport.push(status=429, headers={"Retry-After": "2"}, json=dict(errors=[dict(detail="Too many requests")]))
    with pytest.raises(TelnyxError) as info:
        make_client(retries=3).get("/uac_connections")
    assert info.value.msg == ("Telnyx API 429 on GET /uac_connections: Too many requests (gave up after 3 retries: "
                              "rate-limited (429) 4 times; waited 6.0 s in total)")
    assert str(info.value) == info.value.msg
    assert len(transport.calls) == 4


def test_no_retry_budget_no_suffix(make_client, transport):
    transport.push(status=503, text="down")
    with pytest.raises(TelnyxError) as info:
        make_client(retries=0).get("/x")
    assert info.value.msg == "Telnyx API 503 on GET /x: down"


# -- rate gate -----------------------------------------------------------------
def test_rate_gate_holds_to_the_latest_resume_time(clock):
    gate = RateGate(clock=clock.now, sleep=clock.sleep)
    gate.admit()
    assert clock.sleeps == []
    gate.hold_until(5)
    gate.hold_until(2)  # a shorter hold does not shorten the pause
    gate.hold_until(-3)
    gate.admit()
    assert clock.sleeps == [5] and gate.waited == 5
    gate.admit()
    assert clock.sleeps == [5]


def test_exhausted_window_pauses_every_thread_of_the_client(make_client, transport, clock):
    client = make_client()
    transport.push(json=OK, headers={"x-ratelimit-remaining": "0", "x-ratelimit-reset": "3"})
    transport.push(json=OK)
    first = threading.Thread(target=client.get, args=("/a",))
    first.start()
    first.join()
    assert clock.sleeps == []  # the response itself is not delayed
    sessions = []
    second = threading.Thread(target=lambda: (client.get("/b"), sessions.append(client.session)))
    second.start()
    second.join()
    assert clock.sleeps == [3.0] and client.gate.waited == 3.0
    assert sessions[0] is not client.session  # one session per thread, one gate for all
    assert len(transport.calls) == 2


def test_a_window_with_room_does_not_hold_the_next_request(make_client, transport, clock):
    client = make_client()
    transport.push(json=OK, headers={"x-ratelimit-remaining": "5000", "x-ratelimit-reset": "1"}).push(json=OK)
    client.get("/a")
    client.get("/b")
    assert sum(clock.sleeps) == pytest.approx(1 / 5000.0)


# -- errors ----------------------------------------------------------------------
def test_error_message_and_structured_errors(make_client, transport):
    transport.push(status=422, json=UNPROCESSABLE)
    with pytest.raises(TelnyxError) as info:
        make_client().patch("/uac_connections/123", {"external_uac_settings": {"transport": "SCTP"}})
    error = info.value
    assert error.msg == ("Telnyx API 422 on PATCH /uac_connections/123: external_uac_settings.transport: "
                         "must be one of UDP, TCP, TLS")
    assert error.api_errors == [dict(status=422, code="10015", title="Invalid value",
                                     detail="must be one of UDP, TCP, TLS", pointer="/external_uac_settings/transport")]
    assert error.to_result() == dict(msg=error.msg, status=422, api_errors=error.api_errors)
    assert (error.method, error.path) == ("PATCH", "/uac_connections/123")


def test_several_errors_fall_back_to_title_and_code(make_client, transport):
    body = dict(errors=[dict(title="Only a title", source=dict(pointer="/")), dict(code="123"), {}, "junk",
                        dict(detail="d", source="not-a-dict")])
    transport.push(status=400, json=body)
    with pytest.raises(TelnyxError) as info:
        make_client().post("/uac_connections", {})
    assert info.value.msg == "Telnyx API 400 on POST /uac_connections: Only a title; 123; error; d"
    assert len(info.value.api_errors) == 4


@pytest.mark.parametrize("text, summary", [
    ("<html><body><h1>502 Bad Gateway</h1>\n</body></html>",
     "the response was not JSON (an HTML page, probably from a proxy in front of the API)"),
    ("upstream\n   connect error " + "x" * 300, "upstream connect error " + "x" * 177),
])
def test_non_json_bodies_are_summarised(make_client, transport, text, summary):
    transport.push(status=400, text=text, headers={"Content-Type": "text/html"})
    with pytest.raises(TelnyxError) as info:
        make_client().get("/x")
    assert info.value.msg == "Telnyx API 400 on GET /x: " + summary
    assert info.value.api_errors == [] and "api_errors" not in info.value.to_result()


def test_error_without_body_is_just_the_head(make_client, transport):
    transport.push(status=404, text="")
    with pytest.raises(TelnyxError) as info:
        make_client().get("/x")
    assert info.value.msg == "Telnyx API 404 on GET /x"


@pytest.mark.parametrize("status", [301, 302, 307, 308])
def test_redirects_are_not_followed(make_client, transport, status):
    transport.push(status=status, headers={"Location": "https://evil.example/v2/x"})
    transport.push(json=OK)  # what a followed redirect would get
    with pytest.raises(TelnyxError) as info:
        make_client().get("/x")
    assert info.value.msg == ("Telnyx API %d on GET /x: redirected to https://evil.example/v2/x; not followed, so that "
                              "the API key is sent to api_url only" % status)
    assert len(transport.calls) == 1


# -- POST recovery ---------------------------------------------------------------
class Recover:
    """A recover callback that records when it ran (as the number of requests sent by then)."""

    def __init__(self, transport, found=None):
        self.transport = transport
        self.found = found
        self.seen_at = []

    def __call__(self):
        self.seen_at.append(len(self.transport.calls))
        return self.found


@pytest.mark.parametrize("failure", [dict(status=500), dict(status=502), dict(status=503), dict(status=504),
                                     requests.exceptions.ReadTimeout("t"), requests.exceptions.ConnectionError("c")])
def test_ambiguous_post_failure_returns_what_recover_found(make_client, transport, failure):
    if isinstance(failure, dict):
        transport.push(**failure)
    else:
        transport.push_error(failure)
    recover = Recover(transport, found=dict(id="42", connection_name="n"))
    assert make_client().post("/uac_connections", {"connection_name": "n"}, recover=recover) == {
        "data": dict(id="42", connection_name="n")}
    assert recover.seen_at == [1]
    assert transport.methods == [("POST", "/uac_connections")]


def test_post_is_sent_again_only_after_recover_found_nothing(make_client, transport):
    transport.push(status=503).push(status=504).push(status=201, json=OK)
    recover = Recover(transport)
    assert make_client().post("/uac_connections", {"connection_name": "n"}, recover=recover) == OK
    assert recover.seen_at == [1, 2]
    assert len(transport.calls) == 3


@pytest.mark.parametrize("status", [408, 409, 429])
def test_post_refused_before_processing_is_retried_without_recover(make_client, transport, status):
    transport.push(status=status).push(status=201, json=OK)
    recover = Recover(transport, found=dict(id="never"))
    assert make_client().post("/uac_connections", {}, recover=recover) == OK
    assert recover.seen_at == []


def test_recover_is_not_asked_after_the_last_try(make_client, transport):
    transport.push(status=500).push(status=500)
    recover = Recover(transport)
    with pytest.raises(TelnyxError, match="gave up after 1 retries: failed 2 times"):
        make_client(retries=1).post("/uac_connections", {}, recover=recover)
    assert recover.seen_at == [1]


def test_ambiguous_patch_is_retried_without_recover(make_client, transport):
    transport.push(status=500).push(json=OK)
    assert make_client().request("PATCH", "/x", body={}, recover=Recover(transport, found={})) == OK
    assert len(transport.calls) == 2


# -- server hints are bounded, and every pause is counted -----------------------
def test_server_hint_is_capped_for_the_gate_too(make_client, transport, clock):
    transport.push(status=429, headers={"Retry-After": "1000"}).push(json=OK)
    make_client().get("/x")
    assert sum(clock.sleeps) == pytest.approx(HINT_CAP)


def test_epoch_reset_header_is_read_as_a_point_in_time(make_client, transport, clock):
    transport.push(status=429, headers={"x-ratelimit-reset": "%d" % (time.time() + 7)}).push(json=OK)
    make_client().get("/x")
    assert 5.5 <= sum(clock.sleeps) <= 7.5


def test_waited_total_includes_the_shared_gate(make_client, transport, clock):
    for _attempt in range(2):
        transport.push(status=429, json=dict(errors=[dict(detail="Too many requests")]))
    with pytest.raises(TelnyxError) as info:
        make_client(retries=1).get("/x")
    assert sum(clock.sleeps) >= 1.0
    assert info.value.msg.endswith("waited %.1f s in total)" % sum(clock.sleeps))


# -- pacing to the advertised rate and to the window's budget ----------------------
LIMITS = {"x-ratelimit-limit": "100", "x-ratelimit-reset": "1"}


def window(remaining, **more):
    return dict(LIMITS, **{"x-ratelimit-remaining": str(remaining)}, **more)


def test_requests_are_paced_once_the_limit_is_known(make_client, transport, clock):
    for _attempt in range(4):
        transport.push(json=OK, headers=window(99))
    client = make_client()
    for _attempt in range(4):
        client.get("/x")
    # the first answer teaches the limit: from then on one request every 1 s / (100 x 0.95)
    assert clock.sleeps == [pytest.approx(1 / 95.0)] * 3


def test_a_large_limit_is_not_mistaken_for_a_delay(make_client, transport, clock):
    limits = {"x-ratelimit-limit": "2000", "x-ratelimit-remaining": "1999", "x-ratelimit-reset": "60"}
    transport.push(json=OK, headers=limits).push(json=OK, headers=limits).push(json=OK)
    client = make_client()
    for _attempt in range(3):
        client.get("/x")
    assert clock.sleeps == [pytest.approx(60 / (2000 * 0.95))] * 2


def test_no_pacing_without_rate_limit_headers(make_client, transport, clock):
    transport.push(json=OK).push(json=OK).push(json=OK)
    client = make_client()
    for _attempt in range(3):
        client.get("/x")
    assert clock.sleeps == []


def test_the_remaining_budget_is_spread_until_the_window_ends(make_client, transport, clock):
    transport.push(json=OK, headers=window(10)).push(json=OK)
    client = make_client()
    client.get("/a")
    client.get("/b")
    # 10 requests left for 1 s: one every 0.1 s, slower than the advertised 1 / 95 s
    assert clock.sleeps == [pytest.approx(0.1)]


def test_the_budget_paces_without_an_advertised_limit(make_client, transport, clock):
    transport.push(json=OK, headers={"x-ratelimit-remaining": "5", "x-ratelimit-reset": "1"}).push(json=OK)
    client = make_client()
    client.get("/a")
    client.get("/b")
    assert clock.sleeps == [pytest.approx(0.2)]


def test_a_new_window_is_seen_when_more_is_left_than_before(make_client, transport, clock):
    transport.push(json=OK, headers=window(1)).push(json=OK, headers=window(99)).push(json=OK)
    client = make_client()
    for _attempt in range(3):
        client.get("/x")
    # the last request of the window waits for its end; the next answer shows a new window: the advertised pace
    assert clock.sleeps == [pytest.approx(1.0), pytest.approx(1 / 95.0)]


def test_others_spending_the_window_slow_this_client_down(make_client, transport, clock):
    # between our two answers the window lost 10 requests: 1 ours, 9 from clients this one cannot see
    transport.push(json=OK, headers=window(90)).push(json=OK, headers=window(80)).push(json=OK)
    client = make_client()
    for _attempt in range(3):
        client.get("/x")
    assert client.gate.sharers == 10
    # our part of the 80 left (a tenth) spread over the rest of the window
    assert clock.sleeps == [pytest.approx(1 / 90.0), pytest.approx((1 - 1 / 90.0) * 10 / 80)]


def test_own_requests_in_flight_count_against_the_budget(clock):
    gate = RateGate(clock=clock.now, sleep=clock.sleep)
    first, _second, _third = gate.admit(), gate.admit(), gate.admit()
    assert clock.sleeps == []  # nothing known yet
    gate.observe(first, remaining=5, reset=1)
    gate.admit()
    # 5 left when the first arrived, 2 more of ours sent since: 3 for the rest of the window
    assert clock.sleeps == [pytest.approx(1 / 3.0)]


def test_a_reset_in_whole_seconds_still_gives_the_time_left(clock):
    gate = RateGate(clock=clock.now, sleep=clock.sleep)
    gate.observe(gate.admit(), remaining=60, reset=1)  # a window that ends in 1 s at the latest
    clock.t += 0.5
    gate.observe(gate.admit(), remaining=59, reset=1)  # "1" is the 0.5 s left, rounded up
    gate.admit()
    # 59 left for the 0.5 s that are really left (taking "1" as it reads would allow one every 1 / 59 s)
    assert clock.sleeps == [pytest.approx(0.5 / 59)]


def test_answers_from_before_the_current_window_are_ignored(clock):
    gate = RateGate(clock=clock.now, sleep=clock.sleep)
    gate.observe(gate.admit(), remaining=1, reset=1)
    late = _client.Ticket(1, clock.t + 0.2)  # sent in the old window; its answer comes after the new one's
    clock.t += 1.5
    gate.observe(gate.admit(), remaining=99, reset=1)  # sent after the old window's end: a new window
    gate.observe(late, remaining=0, reset=1)
    gate.admit()
    # the old window's "0 left" does not hold the new one: 99 left for its second
    assert clock.sleeps == [pytest.approx(1 / 99.0)]


def test_a_429_spends_the_window(make_client, transport, clock):
    transport.push(status=429, headers=window(0, **{"Retry-After": "1"})).push(json=OK, headers=window(99))
    transport.push(json=OK)
    client = make_client()
    client.get("/a")  # retried after the 429's Retry-After
    client.get("/b")
    assert clock.sleeps[0] == pytest.approx(1.0) and sum(clock.sleeps) < 1.1


class SharedWindow:
    """One account window (``limit`` requests per ``length`` s, fixed windows that start at the first request after
    the last one ended, ``x-ratelimit-reset`` in whole seconds rounded up), as the emulator keeps it."""

    def __init__(self, limit=100, length=1.0):
        self.limit, self.length = limit, length
        self.start, self.used = None, 0
        self.answers, self.refused = 0, 0

    def process(self, now):
        if self.start is None or now - self.start >= self.length:
            self.start, self.used = now, 0
        self.used += 1
        self.answers += 1
        headers = {"x-ratelimit-limit": str(self.limit), "x-ratelimit-remaining": str(max(self.limit - self.used, 0)),
                   "x-ratelimit-reset": str(max(1, math.ceil(round(self.start + self.length - now, 6))))}
        if self.used > self.limit:
            self.refused += 1
            return 429, dict(headers, **{"Retry-After": headers["x-ratelimit-reset"]})
        return 200, headers


def simulate(starts, requests_each, workers=8, latency=0.05, limit=100):
    """Clients that share one window, each with its own gate, on one simulated clock: {client: finish time}."""
    account = SharedWindow(limit)
    sim = SimpleNamespace(now=0.0, events=[], order=itertools.count())
    clients = []
    for index, start in enumerate(starts):
        client = TelnyxClient("key", api_url="https://api.test/v2")
        client.gate = RateGate(clock=lambda: sim.now, sleep=None)
        clients.append(SimpleNamespace(index=index, client=client, todo=requests_each, done=0, flying=0, wake=None,
                                       finished=None))
        heapq.heappush(sim.events, (start, next(sim.order), "wake", index, None))

    def send(state):
        while state.flying < workers and state.todo > 0:
            ticket, delay = state.client.gate.turn()
            if ticket is None:
                if state.wake is None or state.wake > sim.now + delay:
                    state.wake = sim.now + delay
                    heapq.heappush(sim.events, (state.wake, next(sim.order), "wake", state.index, None))
                return
            state.todo -= 1
            state.flying += 1
            answer = account.process(sim.now)
            heapq.heappush(sim.events, (sim.now + latency, next(sim.order), "answer", state.index, (ticket, answer)))

    while sim.events:
        sim.now, _order, kind, index, payload = heapq.heappop(sim.events)
        state = clients[index]
        if kind == "wake":
            if state.wake is not None and sim.now < state.wake:
                continue  # superseded by an earlier wake
            state.wake = None
        else:
            ticket, (status, headers) = payload
            state.flying -= 1
            state.client._note_rate_limit(status, headers, ticket)
            if status == 429:
                state.todo += 1  # sent again, as the client retries a 429
            else:
                state.done += 1
                if state.done == requests_each:
                    state.finished = sim.now
        send(state)
    return account, {state.index: state.finished for state in clients}


def test_clients_that_cannot_see_each_other_share_one_window_without_429s():
    # four slices of an AWX job start within a second of each other, 250 requests each, one account limit of 100/s
    account, finished = simulate(starts=(0.0, 0.2, 0.5, 0.9), requests_each=250)
    assert account.refused <= 0.02 * account.answers
    bound = 4 * 250 / 100.0
    assert max(finished.values()) <= 1.15 * bound + 1.0, finished
    # evenly: no slice is left to finish alone long after the others
    assert max(finished.values()) - min(finished.values()) <= 0.25 * bound, finished


def test_a_client_alone_spends_the_whole_window():
    account, finished = simulate(starts=(0.0,), requests_each=500)
    assert account.refused == 0
    assert finished[0] <= 500 / 95.0 + 0.5, finished
