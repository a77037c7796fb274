"""`make bench-status`: the fleet status (issue 22) at 10,000 trunks, figures for docs/status.md.

An emulator like `make bench`'s (``--latency-ms 50 --rate-limit 100``); 5,000 PBX hosts with 2 trunks each,
rolled out once by the sip_attach role in the localhost mode (not measured here: `make bench` has it). Then:

- the check, ``ansible-playbook telnyx.sip.status -e sip_attach_hosts=pbx`` (the localhost mode): its wall time,
  controller CPU, peak memory and requests against the API bound (one listing of ceil(trunks / 250) pages, then one
  status read per trunk, at the account's 100 requests a second); target: within 1.2 x the bound + 30 s, reads
  only;
- the page it wrote, opened in headless Chromium from the file, measured inside Chromium through its DevTools
  protocol (``tests.tools.browser.open_times``, fastest of 2): the first contentful paint, the end of the page's own
  script (every row parsed, the filter applied), and the end of the first frame after the load event (what is on the
  screen laid out and painted, the page interactive); then a search typed into the page and cleared again, each to
  the end of the frame that shows it. Beside it, the older whole-process figure: Chromium's run for a screenshot
  (start, parse, layout, paint, exit) less the same run on an empty page. Target: the page open in under 3 s.

Writes benchmarks/STATUS.md. Figures, not a timed test: it fails only when a target is missed, and says which.
"""
from __future__ import annotations

import argparse
import math
import os
import platform
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.run import KEY, LATENCY_MS, PAGE_SIZE, RATE_LIMIT, Emulator, fmt_methods, run_play, write_inventory  # noqa: E402
from tests.collection_path import collections_root  # noqa: E402
from tests.tools.browser import dump_dom, open_times, page_rows, screenshot  # noqa: E402

OUT = ROOT / "benchmarks" / "output" / "status"
RESULTS = ROOT / "benchmarks" / "STATUS.md"
OPEN_LIMIT = 3.0
# typed into the page's search box, then cleared: each timed to the end of the frame that shows it
SEARCH = "var q=document.getElementById('q');q.value=%r;q.dispatchEvent(new Event('input'))"
ACTIONS = (("search", SEARCH % "pbx-0042"), ("clear", SEARCH % ""))
ROLLOUT = """- hosts: localhost
  gather_facts: false
  roles:
    - role: telnyx.sip.sip_attach
      vars:
        sip_attach_hosts: "{{ groups['pbx'] }}"
"""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hosts", type=int, default=5000, help="PBX hosts, 2 trunks each (default 5000)")
    args = parser.parse_args()
    load = "%.2f, %.2f, %.2f (1, 5, 15 min)" % os.getloadavg()
    shutil.rmtree(OUT, ignore_errors=True)
    OUT.mkdir(parents=True)
    trunks = args.hosts * 2
    inventory = write_inventory(OUT / "inventory", args.hosts, 2)
    rollout = OUT / "rollout.yml"
    rollout.write_text(ROLLOUT)
    reports = OUT / "reports"
    emulator = Emulator()
    env = dict(os.environ, TELNYX_API_KEY=KEY, TELNYX_BASE_URL=emulator.url + "/v2",
               ANSIBLE_COLLECTIONS_PATH=collections_root(), ANSIBLE_PYTHON_INTERPRETER=sys.executable,
               ANSIBLE_NOCOLOR="1", ANSIBLE_LOCALHOST_WARNING="False", ANSIBLE_INVENTORY_UNPARSED_WARNING="False")
    try:
        print("rolling out %d trunks (not measured)..." % trunks, flush=True)
        run_play(rollout, inventory, env, emulator)
        print("the check...", flush=True)
        wall, cpu, methods, memory = run_play(
            Path("telnyx.sip.status"), inventory, env, emulator,
            extra=("-e", "sip_attach_hosts=pbx", "-e", "sip_attach_report_dir=%s" % reports,
                   "-e", "sip_attach_status_max_unhealthy=%d" % trunks))
    finally:
        emulator.stop()
    page = reports / "sip-attach-status.html"
    rows, counts, _root = page_rows(dump_dom(page))
    opened = min((open_times(page, ACTIONS) for _attempt in range(2)), key=lambda found: found["frame"])
    empty = OUT / "empty.html"
    empty.write_text("<!DOCTYPE html><html><body></body></html>")
    shot = min(screenshot(page, OUT / "page.png") for _attempt in range(2))
    base = min(screenshot(empty, OUT / "empty.png") for _attempt in range(2))
    pages = int(math.ceil(trunks / float(PAGE_SIZE)))
    bound = (pages + trunks) / float(RATE_LIMIT)
    writes = sum(methods.get(m, 0) for m in ("POST", "PATCH", "DELETE", "PUT"))
    checks = [
        ("the check reads every trunk's state: %d status reads and %d listing pages, no write" % (trunks, pages),
         writes == 0 and methods.get("GET", 0) == trunks + pages and len(rows) == trunks,
         "%s; %d rows on the page" % (fmt_methods(methods), len(rows))),
        ("the check within 1.2 x the API bound (%.1f s) + 30 s" % bound, wall <= 1.2 * bound + 30,
         "%.1f s (limit %.1f s)" % (wall, 1.2 * bound + 30)),
        ("the page of %d trunks opens in Chromium in under %.0f s: laid out, painted and interactive (first frame "
         "after the load event)" % (trunks, OPEN_LIMIT), opened["frame"] < OPEN_LIMIT, "%.2f s" % opened["frame"]),
        ("... and Chromium's whole run for a screenshot, less an empty page's", shot - base < OPEN_LIMIT,
         "%.2f s (%.2f s - %.2f s)" % (shot - base, shot, base)),
    ]
    lines = ["# Fleet status benchmark", "", "Written by `make bench-status` (`benchmarks/status.py`); do not edit by hand.",
             "", "- Machine: %s, %d cores, Python %s; emulator with `--latency-ms %d --rate-limit %d`; load average "
             "before the run: %s." % (platform.machine(), os.cpu_count(), platform.python_version(), LATENCY_MS,
                                      RATE_LIMIT, load),
             "- %d PBX hosts, %d trunks (none registered: their proxies are not on loopback, so the emulator never "
             "contacts them and reports standby)." % (args.hosts, trunks),
             "- The API bound: (%d listing pages + %d status reads) / %d requests a second = %.1f s." % (
                 pages, trunks, RATE_LIMIT, bound), "",
             "| measure | figure |", "| --- | --- |",
             "| `ansible-playbook telnyx.sip.status -e sip_attach_hosts=pbx`: wall | %.1f s |" % wall,
             "| ... controller CPU | %.1f s |" % cpu,
             "| ... peak controller memory | %.0f MiB |" % memory,
             "| ... API requests | %s |" % fmt_methods(methods),
             "| page size | %.1f MiB |" % (page.stat().st_size / 1048576.0),
             "| page in Chromium (DevTools protocol, fastest of 2, seconds since navigation start): first contentful "
             "paint | %.2f s |" % opened["fcp"],
             "| ... the page's script done (every row parsed, the filter applied) | %.2f s |" % opened["ready"],
             "| ... the first frame after the load event done (laid out, painted, interactive) | %.2f s |" % opened["frame"],
             "| ... a search typed / cleared, to the frame that shows it | %.2f s / %.2f s |" % (
                 opened["search"], opened["clear"]),
             "| Chromium run with a screenshot: the page / an empty page (fastest of 2) | %.2f s / %.2f s |" % (shot, base),
             "| counts at the top | %s |" % ", ".join("%s %d" % item for item in sorted(counts.items())),
             "", "## Targets", "", "| target | result | met |", "| --- | --- | --- |"]
    lines.extend("| %s | %s | %s |" % (name, detail, "yes" if met else "**no**") for name, met, detail in checks)
    RESULTS.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    missed = [name for name, met, _detail in checks if not met]
    if missed:
        print("MISSED: " + "; ".join(missed))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
