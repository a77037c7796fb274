"""Large fleets in `make bench` (issue 13): the sip_attach role in the localhost mode at several sizes.

For each size (PBX hosts, 2 trunks each), against an emulator of its own: the floor (one task on localhost with
the inventory loaded: what Ansible costs before the role does anything), the first rollout and the no-change
re-run, each host's share of the time (wall minus floor, over hosts) and the controller's peak memory. The
per-host mode (a play on the PBX hosts) can be measured beside it at sizes of its own.

Targets: goal 1, each host's share at the largest size within 1.25x its share at the smallest (first rollout and
no-change re-run); goal 2, at the largest size a no-change re-run in at most 30 s with no write and at most
ceil(trunks / 250) + 2 reads, and a first rollout within 1.2 x the API bound + 30 s; goal 3, peak controller
memory at most 1 GiB.
"""
from __future__ import annotations

import math
from pathlib import Path

LINEAR = 1.25         # goal 1: a host's share at the largest size / at the smallest
RERUN_LIMIT = 30.0    # goal 2: seconds for a no-change re-run of the largest fleet
EXTRA_READS = 2       # goal 2: reads beyond the pages of one listing


def _writes(methods):
    return sum(methods.get(method, 0) for method in ("POST", "PATCH", "DELETE"))


def _share_ms(wall, floor, hosts):
    return max(0.0, wall - floor) / hosts * 1000.0


def measure_size(base: Path, hosts: int, mode: str, measure, emulator, write_inventory):
    """One size in one mode ("localhost" or "per-host"): the figures of a row of the side-by-side table."""
    trunks = hosts * 2
    inventory = write_inventory(base / ("fleet-%d" % hosts), hosts, 2)
    book, floor_book = ("fleet", "fleet_floor") if mode == "localhost" else ("role", "floor")
    where = "a play on localhost" if mode == "localhost" else "a play on the PBX hosts"
    floor = measure("%s mode floor: one task in %s, %d hosts" % (mode, where, hosts), floor_book, inventory,
                    repeat=3, target=emulator)
    emulator.reset()
    first = measure("%s mode, %d hosts / %d trunks: first rollout" % (mode, hosts, trunks), book, inventory, trunks,
                    target=emulator)
    created = emulator.count()
    rerun = measure("%s mode, %d hosts / %d trunks: no-change re-run" % (mode, hosts, trunks), book, inventory,
                    trunks, target=emulator)
    return dict(mode=mode, hosts=hosts, trunks=trunks, floor=floor["wall"], first=first, rerun=rerun, created=created,
                first_share=_share_ms(first["wall"], floor["wall"], hosts),
                rerun_share=_share_ms(rerun["wall"], floor["wall"], hosts),
                memory=max(first["memory"], rerun["memory"]))


def checks_of(sizes, rate_limit, page_size, memory_limit_mib):
    """The targets of goals 1 to 3 over the localhost-mode sizes: [(name, met, detail)]."""
    fleet = sorted((size for size in sizes if size["mode"] == "localhost"), key=lambda size: size["hosts"])
    if not fleet:
        return []
    small, large = fleet[0], fleet[-1]
    checks = []
    if large is not small:
        for key, what in (("first_share", "first rollout"), ("rerun_share", "no-change re-run")):
            ratio = large[key] / small[key] if small[key] else float("inf")
            checks.append(("goal 1, localhost mode, %s: a host's share at %d hosts <= %.2fx its share at %d hosts"
                           % (what, large["hosts"], LINEAR, small["hosts"]), ratio <= LINEAR,
                           "%.2fx (%.2f ms vs %.2f ms a host)" % (ratio, large[key], small[key])))
    trunks = large["trunks"]
    reads_limit = int(math.ceil(trunks / float(page_size))) + EXTRA_READS
    rerun = large["rerun"]
    checks.append(("goal 2, localhost mode, %d hosts / %d trunks: no-change re-run <= %.0f s"
                   % (large["hosts"], trunks, RERUN_LIMIT), rerun["wall"] <= RERUN_LIMIT,
                   "%.1f s" % rerun["wall"]))
    writes, reads = _writes(rerun["methods"]), rerun["methods"].get("GET", 0)
    checks.append(("goal 2, no-change re-run of %d trunks: no write and at most %d reads" % (trunks, reads_limit),
                   writes == 0 and reads <= reads_limit, "%d writes, %d reads" % (writes, reads)))
    api_bound = trunks / float(rate_limit)
    first_limit = 1.2 * api_bound + 30
    checks.append(("goal 2, first rollout of %d trunks <= 1.2 x API bound (%.0f s) + 30 s" % (trunks, api_bound),
                   large["first"]["wall"] <= first_limit,
                   "%.1f s (limit %.1f s)" % (large["first"]["wall"], first_limit)))
    for size in fleet:
        creates = size["first"]["methods"].get("POST 201", 0)
        checks.append(("localhost mode, %d trunks: the first rollout creates every trunk once" % size["trunks"],
                       creates == size["trunks"] == size["created"],
                       "%d POST answered 201, %d connections" % (creates, size["created"])))
    checks.append(("goal 3, peak controller memory at %d trunks <= %d MiB" % (trunks, memory_limit_mib),
                   large["memory"] <= memory_limit_mib, "%.0f MiB" % large["memory"]))
    return checks


def table(sizes):
    """The side-by-side table of every size (Markdown lines)."""
    lines = ["| mode | PBX hosts / trunks | floor (s) | first rollout (s) | a host's share (ms) | no-change re-run (s) "
             "| a host's share (ms) | re-run requests | peak memory (MiB) |",
             "| --- | --- | ---: | ---: | ---: | ---: | ---: | --- | ---: |"]
    for size in sizes:
        rerun = size["rerun"]
        lines.append("| %s | %d / %d | %.1f | %.1f | %.2f | %.1f | %.2f | %d reads, %d writes | %.0f |" % (
            size["mode"], size["hosts"], size["trunks"], size["floor"], size["first"]["wall"], size["first_share"],
            rerun["wall"], size["rerun_share"], rerun["methods"].get("GET", 0), _writes(rerun["methods"]),
            size["memory"]))
    return lines
