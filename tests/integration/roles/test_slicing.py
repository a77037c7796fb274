"""AWX job slicing: K = 4 ansible-playbook jobs at once, each on an inventory of only its quarter of the PBX hosts
(as AWX passes them; one of them under ansible-runner, as AWX runs a job), against one emulator with one account
rate limit (50 requests a second here; ``benchmarks/run.py --slicing 2000`` runs the full size at 100).

What must hold: every trunk converges, no job fails, no connection is made twice, at most 2 % of the requests are
answered 429 (each job paces itself to its part of the account window it shares with jobs it cannot see); and a
purge in every slice deletes the one trunk removed from a host of one slice and nothing of the others (each slice's
purge only touches connections its own hosts own).
"""

import pytest

from tests.tools.awx_slices import SlicedRollout, account_figures

pytestmark = [pytest.mark.integration, pytest.mark.slow]

SLICES = 4
HOSTS_PER_SLICE = 50
RATE = 50  # low enough that the slices' API work lasts and overlaps (8 s for 400 requests), cheap to run


def connections(emulator):
    listed, page = [], 1
    while True:
        body = emulator.call("GET", "/uac_connections", params={"page[size]": 250, "page[number]": page},
                             direct=True).json()
        listed.extend(body["data"])
        if page >= body["meta"]["total_pages"]:
            return listed
        page += 1


@pytest.fixture
def sliced(tmp_path, run_playbook, make_emulator):
    emulator = make_emulator("--rate-limit", str(RATE), "--latency-ms", "50")
    run_playbook.emulator = emulator
    rollout = SlicedRollout(tmp_path / "slices", lambda index: run_playbook.environment(
        tmp_path / ("results-%d.json" % index)), slices=SLICES, hosts_per_slice=HOSTS_PER_SLICE)
    return rollout, emulator


def assert_succeeded(outcomes):
    for index, rc, output in outcomes:
        assert rc == 0, "slice %d failed:\n%s" % (index, output[-3000:])


def test_four_slices_at_once_share_the_account_limit_and_purge_only_their_own(sliced):
    rollout, emulator = sliced
    outcomes, wall = rollout.run_all("rollout")
    assert_succeeded(outcomes)
    log = emulator.requests()
    figures = account_figures(log, rollout.names(), connections(emulator))
    creates = [entry for entry in log if entry["method"] == "POST" and entry["status"] == 201]
    spans = dict((index, [entry["time"] for entry in creates
                          if entry["body"]["connection_name"].startswith("pbx-s%d-" % index)])
                 for index in range(SLICES))
    start = min(entry["time"] for entry in log)
    print("4 slices x %d hosts: %d requests, %d answered 429, %d created, %.1f s (API bound %.1f s); creates of "
          "each slice from .. to (s): %s" % (
              HOSTS_PER_SLICE, figures["requests"], figures["limited"], figures["created"], wall,
              figures["requests"] / float(RATE),
              ", ".join("%.1f..%.1f" % (min(t) - start, max(t) - start) for t in spans.values())))
    overlapping = [(a, b) for a in spans for b in spans if a < b
                   and min(spans[a]) < max(spans[b]) and min(spans[b]) < max(spans[a])]
    assert overlapping, "the slices did not send at the same time: the test proved nothing about sharing"
    assert (figures["missing"], figures["duplicates"], figures["unexpected"]) == ([], [], [])
    assert figures["created"] == len(rollout.names())
    assert figures["limited"] <= 0.02 * figures["requests"], figures

    # a trunk leaves one host of slice 1; every slice purges, and only that trunk goes
    host = rollout.hosts_of(1)[7]
    rollout.trunks[host].remove("t1")
    rollout.write()
    before = dict((conn["id"], conn["connection_name"]) for conn in connections(emulator))
    seen = len(emulator.requests())
    outcomes, wall = rollout.run_all("purge", sip_attach_purge=True)
    assert_succeeded(outcomes)
    writes = [entry for entry in emulator.requests()[seen:] if entry["method"] != "GET"]
    # (a write that is not a DELETE of a known connection is shown whole: seen once in CI, a POST during the purge)
    assert [(entry["method"], before.get(entry["path"].rsplit("/", 1)[1], entry)) for entry in writes] == [
        ("DELETE", "%s-t1" % host)]
    assert sorted(conn["connection_name"] for conn in connections(emulator)) == rollout.names()
