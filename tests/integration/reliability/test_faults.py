"""Each injected fault against real ansible-playbook runs: the collection keeps working (retryable faults),
or fails with a clear message (the others), and it never loses, duplicates or leaks anything.

The same playbook runs under each retryable fault: uac_connection creates, re-reads (no change), updates
and deletes a connection; uac_connections creates a small fleet and re-runs it. Afterwards the emulator
must hold exactly the expected connections, each name once.
"""

import collections
import http.server
import threading
import time

import pytest

pytestmark = [pytest.mark.integration, pytest.mark.slow]

FLEET = 12


def pbx(name, password, transport="TCP"):
    return {"connection_name": name,
            "external_uac_settings": {"proxy": "sip:pbx.example.net:5060", "transport": transport,
                                      "username": "u" + name[-6:].replace("-", ""), "password": password},
            "internal_uac_settings": {"destination_uri": "1006@assistant-rel.sip.telnyx.com"}}


def fleet(count=FLEET):
    return [pbx("rel-fleet-%03d" % i, "FleetPw-%03d-s3cr3t" % i) for i in range(count)]


SECRETS = ["Single-Pw-s3cr3t"] + ["FleetPw-%03d-s3cr3t" % i for i in range(FLEET)]


def converge_tasks(**api):
    """create, re-run, update, delete one connection; create and re-run a fleet; ``api`` on every task."""
    one = dict(pbx("rel-single-1", "Single-Pw-s3cr3t"), **api)
    return [
        {"name": "create", "telnyx.sip.uac_connection": one, "register": "create"},
        {"name": "again", "telnyx.sip.uac_connection": one, "register": "again"},
        {"name": "update", "telnyx.sip.uac_connection": dict(one, external_uac_settings=dict(
            one["external_uac_settings"], transport="UDP")), "register": "update"},
        {"name": "keep", "telnyx.sip.uac_connection": dict(pbx("rel-single-2", "Single-Pw-s3cr3t"), **api),
         "register": "keep"},
        {"name": "delete", "telnyx.sip.uac_connection": dict(connection_name="rel-single-1", state="absent", **api),
         "register": "delete"},
        {"name": "fleet", "telnyx.sip.uac_connections": dict(connections=fleet(), concurrency=4, **api),
         "register": "fleet_run"},
        {"name": "fleet again", "telnyx.sip.uac_connections": dict(connections=fleet(), concurrency=4, **api),
         "register": "fleet_again"},
    ]


EXPECTED_ACTIONS = {"create": "created", "again": "unchanged", "update": "updated", "keep": "created",
                    "delete": "deleted"}

# fault name -> (run-time settings, module options, what the log must show)
RETRYABLE = {
    "429 share, Retry-After": (dict(rate_429=0.2), {}, "429"),
    "429 share, no Retry-After (x-ratelimit-reset)": (dict(rate_429=0.2, retry_after=None), {}, "429"),
    "429 storm of 4": (dict(rate_limit_storm=4), {}, "429"),
    "500/502/503/504 burst of 4": (dict(error_burst=4), {}, "5xx"),
    "500/503 share": (dict(fail_rate=0.2), {}, "5xx"),
    "connection reset before acting": (dict(reset_rate=0.2), {}, "0"),
    "answer dropped after acting": (dict(drop_response_rate=0.25), {}, "0"),
    "answer slower than timeout": (dict(slow_rate=0.2, slow_ms=2500), {"timeout": 1}, "slow"),
    "HTML error page from a proxy": (dict(html_error_rate=0.2), {}, "5xx"),
    "cut-short JSON from a proxy": (dict(broken_json_rate=0.2), {}, "200"),
    "409 update in progress": (dict(conflict_rate=0.5), {}, "409"),
}


def settle(settings):
    """Let answers the emulator still holds (slow ones) finish, so that the log is complete."""
    if settings.get("slow_ms"):
        time.sleep(settings["slow_ms"] / 1000.0 + 0.5)


def no_traceback(result):
    text = repr(result)
    assert "Traceback" not in text and "module_stderr" not in result, text[:2000]


@pytest.mark.parametrize("fault", list(RETRYABLE))
def test_retryable_fault_is_absorbed_and_nothing_is_lost_or_duplicated(fault, faulty, playbook, record):
    settings, options, shows = RETRYABLE[fault]
    faulty.faults(**settings)
    run = playbook.tasks(converge_tasks(**options), secrets=SECRETS)
    settle(settings)
    log = faulty.requests()
    faulty.disarm()
    injected = faulty.injected(log)
    assert injected, "no fault was injected"
    for name, action in EXPECTED_ACTIONS.items():
        result = run.task(name)
        no_traceback(result)
        assert not result.get("failed"), (fault, name, result.get("msg"))
        assert result["action"] == action, (fault, name, result)
    assert run.task("fleet")["counts"]["created"] == FLEET and not run.task("fleet").get("failed")
    assert run.task("fleet again")["counts"]["unchanged"] == FLEET and not run.task("fleet again")["changed"]
    assert run.rc == 0, run.stdout[-3000:]
    names = collections.Counter(c["connection_name"] for c in faulty.connections())
    assert names == collections.Counter(["rel-single-2"] + ["rel-fleet-%03d" % i for i in range(FLEET)])
    assert faulty.connections_by_name("rel-single-2")[0]["external_uac_settings"]["transport"] == "TCP"
    statuses = collections.Counter(str(e["status"]) for e in injected)
    if shows == "5xx":
        assert all(s.startswith("5") for s in statuses), statuses
    elif shows != "slow":
        assert set(statuses) == {shows}, statuses
    record(fault=fault, option=_option(settings, options), injected=len(injected), exact=False, runs=1,
           outcome="every task succeeded: created, unchanged, updated, deleted; fleet of %d created then "
                   "unchanged; no duplicate, nothing lost" % FLEET)


def _option(settings, options):
    flags = {"rate_429": "--429-rate", "retry_after": "--no-retry-after", "rate_limit_storm": "--rate-limit-storm",
             "error_burst": "--error-burst", "fail_rate": "--fail-rate", "reset_rate": "--reset-rate",
             "drop_response_rate": "--drop-response-rate", "slow_rate": "--slow-rate", "slow_ms": "--slow-ms",
             "html_error_rate": "--html-error-rate", "broken_json_rate": "--broken-json-rate",
             "conflict_rate": "--conflict-rate"}
    parts = []
    for name, value in settings.items():
        parts.append(flags[name] if value is None else "%s %s" % (flags[name], value))
    parts += ["(%s: %s)" % (name, value) for name, value in options.items()]
    return " ".join(parts)


# fault name -> (settings, module options, what the message must say)
EXHAUSTED = {
    "429 storm past the retry budget": (dict(rate_limit_storm=100), {"retries": 2},
                                        ["Telnyx API 429 on GET /uac_connections", "rate-limited (429) 3 times",
                                         "gave up after 2 retries", "waited"]),
    "429 storm past the budget, no Retry-After": (dict(rate_limit_storm=100, retry_after=None), {"retries": 2},
                                                  ["Telnyx API 429", "rate-limited (429) 3 times", "waited"]),
    "5xx burst past the retry budget": (dict(error_burst=100), {"retries": 2},
                                        ["Telnyx API 50", "on GET /uac_connections", "failed 3 times", "waited"]),
    "HTML error page past the budget": (dict(html_error_rate=1.0), {"retries": 1},
                                        ["Telnyx API 502 on GET /uac_connections", "HTML page", "proxy"]),
    "cut-short JSON past the budget": (dict(broken_json_rate=1.0), {"retries": 1},
                                       ["on GET /uac_connections", "not valid JSON"]),
    "connection reset past the budget": (dict(reset_rate=1.0), {"retries": 1},
                                         ["could not reach the Telnyx API", "GET /uac_connections"]),
    "slow answers past the budget": (dict(slow_rate=1.0, slow_ms=2000), {"retries": 1, "timeout": 0.5},
                                     ["no response to GET /uac_connections within 0.5 s (timeout)"]),
    "revoked key (403, not retried)": (None, {}, ["Telnyx API 403 on GET /uac_connections",
                                                  "lacks the rights"]),
}


@pytest.mark.parametrize("fault", list(EXHAUSTED))
def test_fault_past_the_budget_fails_with_a_clear_message_and_writes_nothing(fault, faulty, playbook, record):
    settings, options, words = EXHAUSTED[fault]
    if settings is None:  # revoked key: the emulator's own key is revoked
        settings = dict(revoked_keys=[faulty.api_key])
    faulty.faults(**settings)
    task = {"name": "create", "telnyx.sip.uac_connection": dict(pbx("rel-budget", "Budget-Pw-s3cr3t"), **options),
            "register": "create", "ignore_errors": True}
    run = playbook.tasks([task], secrets=["Budget-Pw-s3cr3t"])
    settle(settings)
    log = faulty.requests()
    faulty.disarm()
    result = run.task("create")
    assert result.get("failed") is True
    no_traceback(result)
    for word in words:
        assert word in result["msg"], (word, result["msg"])
    assert all(e["method"] == "GET" for e in log)
    expected_requests = 1 if "revoked" in fault else options["retries"] + 1
    assert len(log) == expected_requests, [(e["method"], e["status"]) for e in log]
    record(fault=fault, option=_option(settings, options) if "revoked" not in fault else "--revoked-key KEY",
           injected=len(faulty.injected(log)), runs=1,
           outcome="fails after %d request(s), no write; the message says: %s"
                   % (len(log), ", ".join("'%s'" % word for word in words)),
           detail=result["msg"])


def test_delete_of_a_connection_that_vanished_meanwhile_counts_as_done(faulty, playbook, record):
    for name in ["rel-vanish-1"] + ["rel-vanish-fleet-%d" % i for i in range(5)]:
        faulty.create(dict(connection_name=name, tags=["rel-vanish"]))
    faulty.faults(vanish_before_delete=True)
    run = playbook.tasks([
        {"name": "delete one", "telnyx.sip.uac_connection": {"connection_name": "rel-vanish-1", "state": "absent"},
         "register": "one"},
        {"name": "purge", "telnyx.sip.uac_connections": {"connections": [], "purge": True, "purge_tag": "rel-vanish",
                                                         "purge_force_all": True},
         "register": "purged"},
    ])
    log = faulty.requests()
    assert run.rc == 0, run.stdout[-2000:]
    assert run.task("delete one")["action"] == "deleted"
    assert run.task("purge")["counts"]["deleted"] == 5
    deletes = [e for e in log if e["method"] == "DELETE"]
    assert len(deletes) == 6 and {e["status"] for e in deletes} == {404}
    assert faulty.connections() == []
    record(fault="404 on DELETE (deleted meanwhile)", option="--vanish-before-delete", injected=len(deletes),
           runs=1, outcome="uac_connection and a uac_connections purge report deleted, no retry, no error")


def test_a_redirect_is_not_followed_and_the_key_goes_nowhere_else(faulty, playbook, record):
    seen = []

    class Listener(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 - http.server's naming
            seen.append(self.headers.get("Authorization"))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args):
            pass

    other = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Listener)
    threading.Thread(target=other.serve_forever, daemon=True).start()
    try:
        target = "http://127.0.0.1:%d" % other.server_port
        faulty.faults(redirect_to=target)
        run = playbook.tasks([
            {"name": "read", "telnyx.sip.uac_connection_info": {}, "register": "read", "ignore_errors": True},
            {"name": "create", "telnyx.sip.uac_connection": pbx("rel-redirect", "Redirect-Pw-s3cr3t"),
             "register": "create", "ignore_errors": True},
        ], secrets=["Redirect-Pw-s3cr3t"])
        # the control: a plain client that follows redirects does reach the listener
        import requests as http_client
        http_client.get(faulty.direct_url + "/v2/uac_connections", timeout=10,
                        headers={"Authorization": "Bearer " + faulty.api_key})
        assert len(seen) == 1
        faulty.disarm()
        for name in ("read", "create"):
            result = run.task(name)
            assert result.get("failed") is True
            assert "Telnyx API 307" in result["msg"] and "not followed" in result["msg"], result["msg"]
            assert target in result["msg"]
        assert seen == [None]  # only the control reached the other host, and without a key
    finally:
        faulty.disarm()
        other.shutdown()
    record(fault="307 redirect to another host", option="--redirect-to URL", injected=2, runs=1,
           outcome="not followed; the module fails naming the target; the other host received no request")
