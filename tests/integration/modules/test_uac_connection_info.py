"""Integration tests of telnyx.sip.uac_connection_info: ansible-playbook against the emulator (through Prism)."""

import pytest
import requests

from .helpers import LIST_PATH, MASK, Log, assert_ran, failed, info, item_path

pytestmark = pytest.mark.integration

COUNT = 600  # three pages of 250
PROFILE = "1293384261075731499"


def name_of(index):
    """Creation order differs from name order; every 50th name is upper case; 'pbx-1' is in 111 names."""
    return ("HQ-%d" if index % 50 == 0 else "pbx-%d") % ((index * 7) % COUNT)


def populate(emulator):
    """COUNT connections, created one after the other straight through the emulator; returns them in order."""
    made = []
    with requests.Session() as session:  # one kept-alive connection: about twice as fast as a call each
        session.headers["Authorization"] = "Bearer %s" % emulator.api_key
        for index in range(COUNT):
            body = {"connection_name": name_of(index), "password": "Pw-%08d" % index}
            if index % 200 == 1:
                body["outbound"] = {"outbound_voice_profile_id": PROFILE}
            response = session.post(emulator.direct_url + "/v2/uac_connections", json=body, timeout=30)
            assert response.status_code == 201, response.text
            made.append(response.json()["data"])
    return made


def ids(result, name):
    return [conn["id"] for conn in result.task(name)["uac_connections"]]


def page_reads(query, pages=3):
    return [("GET", LIST_PATH, dict(query, **{"page[size]": "250", "page[number]": str(n)})) for n in range(1, pages + 1)]


def in_page_order(entries):
    """The log with each list read's pages in page order: after page 1 the module reads the rest concurrently."""
    def key(entry):
        return entry[0], entry[1], sorted((k, v) for k, v in entry[2].items() if k != "page[number]")

    ordered, group = [], []
    for entry in entries:
        if group and key(group[0]) != key(entry):
            ordered.extend(sorted(group, key=lambda e: int(e[2].get("page[number]", 0))))
            group = []
        group.append(entry)
    ordered.extend(sorted(group, key=lambda e: int(e[2].get("page[number]", 0))))
    return ordered


def test_600_connections_every_page_filters_and_sorts(emulator, run_playbook):
    made = populate(emulator)
    by_id = {conn["id"]: conn for conn in made}
    picked = made[123]
    log = Log(emulator)
    direct = emulator.direct_url + "/v2"
    result = run_playbook.tasks([
        info("all"),
        info("contains", {"name_contains": "hq-"}),
        info("exact", {"connection_name": "pbx-1"}),
        info("fqdn", {"fqdn": picked["fqdn"]}),
        info("profile", {"outbound_voice_profile_id": PROFILE}),
        info("by id", {"id": picked["id"]}),
        info("unknown id", {"id": "1234567890123456789"}),
        info("oldest first", {"sort": "created_at"}),
        info("by name", {"sort": "connection_name"}),
        # Prism refuses the '-' forms (the spec's sort enum lacks them; see ../shared/telnyx-api/NOTES.md):
        # descending sorts go to the emulator directly, with api_url.
        info("newest first", {"sort": "-created_at", "api_url": direct}),
        info("by name descending", {"sort": "-connection_name", "api_url": direct}),
        dict(info("bad", "{{ item }}", fails=True), loop=[
            {"name_contains": "hq"}, {"sort": "name"}, {"id": "12/34"}, {"id": "1", "connection_name": "pbx-1"}]),
    ])
    assert_ran(result)

    everything = result.task("all")["uac_connections"]
    assert len(everything) == COUNT
    assert [conn["id"] for conn in everything] == [conn["id"] for conn in reversed(made)]  # the API's default
    assert {conn["password"] for conn in everything} == {MASK}
    assert ids(result, "contains") == [conn["id"] for conn in reversed(made) if conn["connection_name"].startswith("HQ")]
    assert len(ids(result, "contains")) == 12
    assert ids(result, "exact") == [made[[name_of(i) for i in range(COUNT)].index("pbx-1")]["id"]]
    assert ids(result, "fqdn") == [picked["id"]]
    assert ids(result, "profile") == [made[i]["id"] for i in (401, 201, 1)]
    assert result.task("by id")["uac_connections"] == [dict(by_id[picked["id"]], password=MASK)]
    assert result.task("unknown id")["uac_connections"] == []
    assert ids(result, "oldest first") == [conn["id"] for conn in made]
    by_name = sorted(made, key=lambda conn: conn["connection_name"].lower())
    assert ids(result, "by name") == [conn["id"] for conn in by_name]
    assert ids(result, "newest first") == [conn["id"] for conn in reversed(made)]
    assert ids(result, "by name descending") == [conn["id"] for conn in reversed(by_name)]
    assert [outcome["msg"] for outcome in failed(result, "bad")["results"]] == [
        "name_contains needs at least 3 characters (an API limit), got 'hq'",
        "value of sort must be one of: created_at, -created_at, connection_name, -connection_name, active, -active, "
        "got: name",
        "id must be a Telnyx connection id (letters, digits and hyphens), got '12/34'",
        "parameters are mutually exclusive: id|connection_name",
    ]

    contains = "filter[connection_name][contains]"
    assert in_page_order([(e["method"], e["path"], e["query"]) for e in log.entries()]) == (
        page_reads({})
        + page_reads({contains: "hq-"}, 1)
        + page_reads({contains: "pbx-1"}, 1)  # 111 names contain it; the module keeps the exact one
        + page_reads({"filter[fqdn]": picked["fqdn"]}, 1)
        + page_reads({"filter[outbound_voice_profile_id]": PROFILE}, 1)
        + [("GET", item_path(picked["id"]), {}), ("GET", item_path("1234567890123456789"), {})]
        + page_reads({"sort": "created_at"}) + page_reads({"sort": "connection_name"})
        + page_reads({"sort": "-created_at"}) + page_reads({"sort": "-connection_name"})
    )  # and nothing for the bad input
