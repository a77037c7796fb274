"""AWX job slicing in `make bench` (`benchmarks/run.py --slicing HOSTS`): K = 4 ``ansible-playbook`` jobs started at
once, each on an inventory of only its quarter of the PBX hosts with AWX's job variables (one of them under
``ansible-runner``), against one emulator with one account limit (`--rate-limit`, shared by every client of the API
key): the first rollout, then the no-change re-run. The full size of issue 13 is 2,000 hosts (4,000 trunks).
"""
from __future__ import annotations

import collections
import json
import urllib.request

from tests.tools.awx_slices import SlicedRollout, account_figures

SLICES = 4
TRUNKS_PER_HOST = 2


def _connections(emulator, key):
    listed, page = [], 1
    while True:
        request = urllib.request.Request("%s/v2/uac_connections?page[size]=250&page[number]=%d" % (emulator.url, page),
                                         headers={"Authorization": "Bearer " + key})
        with urllib.request.urlopen(request, timeout=30) as response:
            body = json.loads(response.read())
        listed.extend(body["data"])
        if page >= body["meta"]["total_pages"]:
            return listed
        page += 1


def methods_by_status(log):
    """Requests of an emulator log by method, and by method and status: ``{"POST": 3, "POST 201": 3}``."""
    """Requests by method, and by method and status, as run.py counts them."""
    methods = collections.Counter(entry["method"] for entry in log)
    methods.update("%s %s" % (entry["method"], entry["status"]) for entry in log)
    return dict(methods)


def measure_slicing(base, hosts, make_emulator, env, key, rate, children_cpu, localhost=True):
    """(rows, checks) of a sliced first rollout of ``hosts`` PBX hosts and of its no-change re-run.

    ``localhost``: each job runs the role in the localhost mode, the way docs/large-fleets.md recommends for
    large fleets (False: in a play on the PBX hosts).

    ``env`` is the jobs' environment (its TELNYX_BASE_URL is replaced by the emulator's); a row is
    {label, wall, cpu, methods, trunks}, a check (name, met, detail).
    """
    emulator = make_emulator()
    rows = []
    try:
        job_env = dict(env, TELNYX_BASE_URL=emulator.url + "/v2")
        rollout = SlicedRollout(base, lambda index: job_env, SLICES, hosts // SLICES, TRUNKS_PER_HOST,
                                localhost=localhost)
        trunks = len(rollout.names())
        label = "slicing (%s mode): %d jobs at once x %d hosts (1 under ansible-runner), %d trunks" % (
            "localhost" if localhost else "per-host", SLICES, hosts // SLICES, trunks)
        figures = {}
        for phase, what in (("rollout", "first rollout"), ("rerun", "no-change re-run")):
            seen = len(emulator.requests())
            cpu = children_cpu()
            outcomes, wall = rollout.run_all(phase)
            cpu = children_cpu() - cpu
            log = emulator.requests()[seen:]
            failed = [index for index, rc, _output in outcomes if rc != 0]
            figures[phase] = dict(account_figures(log, rollout.names(), _connections(emulator, key)), wall=wall,
                                  failed=failed)
            rows.append(dict(label="%s: %s" % (label, what), wall=wall, cpu=cpu, methods=methods_by_status(log),
                             trunks=trunks))
            print("%-58s wall %7.1f s  cpu %7.1f s  429: %d of %d requests, failed slices: %s" % (
                rows[-1]["label"], wall, cpu, figures[phase]["limited"], figures[phase]["requests"], failed or "none"),
                flush=True)
    finally:
        emulator.stop()
    first, rerun = figures["rollout"], figures["rerun"]
    bound = (trunks + SLICES) / float(rate)  # one create per trunk and one read per job, at the account's rate
    return rows, [
        ("slicing, %d trunks in %d jobs: every trunk converges, no job fails, no connection twice" % (trunks, SLICES),
         not (first["failed"] or first["missing"] or first["duplicates"] or first["unexpected"]),
         "failed jobs %s, missing %d, duplicated %d" % (first["failed"] or "none", len(first["missing"]),
                                                        len(first["duplicates"]))),
        ("slicing: at most 2 % of the requests answered 429", first["limited"] <= 0.02 * first["requests"],
         "%d of %d (%.2f %%)" % (first["limited"], first["requests"], 100.0 * first["limited"] / first["requests"])),
        ("slicing: first rollout <= 1.3 x the API bound (%.0f s at %d/s) + 30 s" % (bound, rate),
         first["wall"] <= 1.3 * bound + 30, "%.1f s (limit %.1f s)" % (first["wall"], 1.3 * bound + 30)),
        ("slicing: no-change re-run writes nothing, no job fails", not rerun["writes"] and not rerun["failed"],
         "%d writes, failed jobs %s" % (len(rerun["writes"]), rerun["failed"] or "none")),
    ]
