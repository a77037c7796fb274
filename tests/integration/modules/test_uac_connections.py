"""Integration tests of telnyx.sip.uac_connections: ansible-playbook against the emulator (through Prism)."""

import pytest

from .helpers import (
    FULL_EXAMPLE,
    LIST_PATH,
    Log,
    assert_ran,
    create,
    example,
    failed,
    fleet,
    item_path,
    list_all,
    read,
)

pytestmark = pytest.mark.integration

N = 30
TAG = "sip-attach"


def item(number, **external):
    name = "pbx-fleet-%02d" % number
    params = example(connection_name=name, external=dict({"username": "1%03d" % number,
                                                          "password": "Pw-fleet-%02d" % number}, **external))
    params["internal_uac_settings"] = {"destination_uri": "1%03d@assistant-abc123.sip.telnyx.com" % number}
    return params


def counts(**given):
    return dict({"created": 0, "updated": 0, "deleted": 0, "unchanged": 0, "failed": 0}, **given)


def test_fleet_create_rerun_one_change_purge_and_check_mode(emulator, run_playbook):
    manual = create(emulator, "pbx-fleet-manual")  # untagged, not listed: purge must leave it alone
    items = [item(n) for n in range(N)]
    changed = [item(n, transport="UDP") if n == 7 else item(n) for n in range(N)]
    log = Log(emulator)
    result = run_playbook.tasks([
        fleet("plan", {"connections": items, "purge_tag": TAG}, check_mode=True, diff=True),
        fleet("first", {"connections": items, "purge_tag": TAG}),
        fleet("again", {"connections": items, "purge_tag": TAG}),
        fleet("one change", {"connections": changed, "purge_tag": TAG}),
        fleet("purge", {"connections": changed[:-1], "purge_tag": TAG, "purge": True}),
        dict(fleet("refused", "{{ item }}", fails=True), loop=[
            {"connections": changed[:-1], "purge": True},
            {"connections": [item(1), item(1)], "concurrency": 0},
            {"connections": [dict(item(1), external_uac_settings={"transport": "SCTP"}), {"state": "absent"}]},
        ]),
    ])
    assert_ran(result)

    plan = result.task("plan")
    assert (plan["changed"], plan["counts"]) == (True, counts(created=N))
    assert [line["id"] for line in plan["results"]] == [None] * N
    assert len(plan["diff"]) == N and plan["diff"][0]["before"] == {}
    assert plan["diff"][0]["after"]["external_uac_settings"]["password"] == "(write-only: will be set)"
    first = result.task("first")
    assert (first["changed"], first["counts"]) == (True, counts(created=N))
    assert result.task("again")["changed"] is False and result.task("again")["counts"] == counts(unchanged=N)
    one = result.task("one change")
    assert one["counts"] == counts(updated=1, unchanged=N - 1)
    assert one["by_name"]["pbx-fleet-07"]["action"] == "updated"
    assert one["by_name"]["pbx-fleet-07"]["changes"] == [
        {"field": "external_uac_settings.transport", "before": "TCP", "after": "UDP"}]
    assert all(line["changes"] == [] for line in one["results"] if line["action"] == "unchanged")
    created = plan["by_name"]["pbx-fleet-01"]["changes"]
    assert {"field": "external_uac_settings.password", "before": None, "after": "(will be set)"} in created
    assert {"field": "tags", "before": None, "after": [TAG]} in created
    purge = result.task("purge")
    assert purge["counts"] == counts(deleted=1, unchanged=N - 1)
    assert [(line["connection_name"], line["action"]) for line in purge["results"] if line["action"] != "unchanged"] \
        == [("pbx-fleet-29", "deleted")]
    assert [outcome["msg"] for outcome in failed(result, "refused")["results"]] == [
        "purge needs purge_tag: only connections that carry the managed tag are ever deleted",
        "concurrency must be between 1 and 64, got 0; connections[1] (pbx-fleet-01): connection_name 'pbx-fleet-01' "
        "is also given by connections[0]; each name may appear once",
        "connections[0] (pbx-fleet-01): value of transport must be one of: UDP, TCP, TLS, got: SCTP found in "
        "external_uac_settings; connections[1]: missing required arguments: connection_name",
    ]

    ids = {line["connection_name"]: line["id"] for line in first["results"]}
    assert list(log.calls()) == (
        [("GET", LIST_PATH)]  # check mode: the one read
        + [("GET", LIST_PATH)] + [("POST", LIST_PATH)] * N
        + [("GET", LIST_PATH)]  # the re-run: zero writes
        + [("GET", LIST_PATH), ("PATCH", item_path(ids["pbx-fleet-07"]))]
        + [("GET", LIST_PATH), ("DELETE", item_path(ids["pbx-fleet-29"]))]
    )  # and nothing for the refused inputs
    writes = log.writes()
    assert sorted((w["body"] for w in writes[:N]), key=lambda body: body["connection_name"]) == \
        [dict(params, tags=[TAG]) for params in items]
    assert writes[N]["body"] == {"external_uac_settings": {
        "proxy": "sip:pbx.example.com:5060", "transport": "UDP", "username": "1007"}}
    remaining = {conn["connection_name"]: conn for conn in list_all(emulator)}  # created concurrently: any order
    assert sorted(remaining) == ["pbx-fleet-%02d" % n for n in range(N - 1)] + ["pbx-fleet-manual"]
    assert remaining["pbx-fleet-manual"] == dict(manual, password="********")  # untouched (updated_at too)


def test_partial_failure_others_converge_and_a_rerun_makes_no_duplicate(emulator, run_playbook):
    # encrypted_media SRTP on a connection whose stored transport is TLS: the API refuses the combination, and
    # the module finds it when it plans that item (after the one read), so that item fails without a request
    # while the others converge.
    tls = create(emulator, "pbx-tls", external_uac_settings={"proxy": "pbx.example.com", "transport": "TLS",
                                                             "username": "tls1"})
    items = [item(n) for n in range(5)]
    refused = {"connection_name": "pbx-tls", "encrypted_media": "SRTP"}
    fixed = dict(refused, external_uac_settings={"proxy": "pbx.example.com", "transport": "UDP", "username": "tls1"})
    log = Log(emulator)
    result = run_playbook.tasks([
        fleet("faulty", {"connections": items[:2] + [refused] + items[2:]}, fails=True),
        fleet("rerun", {"connections": items[:2] + [fixed] + items[2:]}),
    ])
    assert_ran(result)
    faulty = failed(result, "faulty", changed=True)  # the other items converged
    error = ("encrypted_media SRTP cannot be set when external_uac_settings.transport is TLS "
             "(the API refuses the combination)")
    assert faulty["msg"] == "1 of 6 connections failed: pbx-tls"
    assert faulty["counts"] == counts(created=5, failed=1)
    assert [(line["connection_name"], line["action"]) for line in faulty["results"]] == [
        ("pbx-fleet-00", "created"), ("pbx-fleet-01", "created"), ("pbx-tls", "failed"),
        ("pbx-fleet-02", "created"), ("pbx-fleet-03", "created"), ("pbx-fleet-04", "created")]
    assert faulty["by_name"]["pbx-tls"]["error"] == error
    assert faulty["failed_items"] == [{"connection_name": "pbx-tls", "error": error}]
    rerun = result.task("rerun")
    assert rerun["counts"] == counts(updated=1, unchanged=5)

    statuses = [(e["method"], e["status"]) for e in log.entries()]
    assert sorted(statuses) == sorted([("GET", 200)] * 2 + [("POST", 201)] * 5 + [("PATCH", 200)])
    names = [conn["connection_name"] for conn in list_all(emulator)]
    assert sorted(names) == sorted(["pbx-tls"] + ["pbx-fleet-%02d" % n for n in range(5)])  # no duplicate
    stored = read(emulator, tls["id"])
    assert (stored["encrypted_media"], stored["external_uac_settings"]["transport"]) == ("SRTP", "UDP")
    assert FULL_EXAMPLE["external_uac_settings"]["password"] not in result.stdout


def test_injected_server_errors_fail_their_items_only_and_a_rerun_makes_no_duplicate(make_emulator, run_playbook):
    # A seeded --fail-rate answers some requests with 500/503 before they act. Prism is left out: the faults
    # are not a contract matter, and a new Prism would cost seconds.
    flaky = make_emulator("--fail-rate", "0.3", "--seed", "5", prism=False, fresh=True)
    items = [item(n) for n in range(12)]
    result = run_playbook.tasks([
        fleet("no retries", {"connections": items, "retries": 0}, fails=True),
        fleet("retries", {"connections": items}),  # retries (the default, 5) get past the faults
    ], api_key=flaky.api_key, base_url=flaky.api_url)
    assert_ran(result)
    first_run = flaky.requests()[:len(items) + 1]
    assert [(e["method"], e["status"]) for e in first_run[:1]] == [("GET", 200)]  # the seed spares the read
    refused = sorted(e["body"]["connection_name"] for e in first_run[1:] if e["status"] >= 500)
    assert refused and all(e["method"] == "POST" for e in first_run[1:])
    faulty = failed(result, "no retries", changed=True)
    assert sorted(line["connection_name"] for line in faulty["failed_items"]) == refused
    assert faulty["counts"] == counts(created=len(items) - len(refused), failed=len(refused))
    assert faulty["msg"].startswith("%d of %d connections failed: " % (len(refused), len(items)))
    assert result.task("retries")["counts"] == counts(created=len(refused), unchanged=len(items) - len(refused))
    # A refused request changed nothing, so the successful POSTs are the connections: one per name.
    # (Not read back with a list: that request could draw a fault too.)
    created = [e for e in flaky.requests() if e["method"] == "POST" and e["status"] == 201]
    assert sorted(e["body"]["connection_name"] for e in created) == [params["connection_name"] for params in items]
