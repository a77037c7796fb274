"""`make bench`: how long a fleet rollout takes, and where the time goes.

Starts the emulator with ``--latency-ms 50 --rate-limit 100`` and measures,
for each scenario, the wall time, the controller CPU time (user + system of
ansible-playbook and everything it ran) and the API requests by method, from
the emulator's own log. Writes ``benchmarks/RESULTS.md`` and prints the same
table. Figures, not a timed test: it fails only when a target is missed, and
says which.

Scenarios:
- floor: a play with one ``run_once`` task over the inventory (500 hosts);
- one per-host step: the same play as a role whose only per-host work is the
  sip_attach role's own argument validation;
- the sip_attach role on 1000 trunks (500 PBX hosts x 2): first rollout, then
  the no-change re-run, each the fastest of 2 runs (as the baselines are the
  fastest of 3: noise only adds time);
- at 300 trunks (150 hosts x 2), from an empty account: the role; a loop of
  ``telnyx.sip.uac_connection``; and a hand-written ``ansible.builtin.uri``
  playbook doing the same idempotent job (look the name up, then POST or PATCH);
- the PBX half (benchmarks/pbx.py): 15 PBX hosts, 10 Asterisk over SSH and 5
  Kamailio, 4 trunks each: first rollout, no-change re-run, and the Telnyx-only
  run of the same trunks beside it;
- AWX job slicing (benchmarks/slicing.py, ``--slicing HOSTS``, 200 by default,
  2000 at issue 13's full size and with ``--full``): 4 jobs at once, each on its quarter of the
  hosts, one under ansible-runner, sharing one account limit: first rollout and
  no-change re-run.
- large fleets (issue 13): the role in the localhost mode (``sip_attach_hosts``,
  a play on localhost) at each size of ``--fleet`` (500 and 2,000 hosts by
  default; ``--full``: 500 and 5,000, and the per-host mode at 500 and 2,000 beside
  it), 2 trunks a host, against an emulator of its own (same latency and rate
  limit): the floor (one task on localhost with the inventory loaded), the
  first rollout and the no-change re-run, each host's share of the time
  (wall minus floor, over hosts), and the peak memory of the controller (the
  summed RSS of ansible-playbook and every process under it, sampled).

``make bench`` runs the default set (a few minutes: without the loop and
uri alternatives, and the large fleets at 500 and 2,000 hosts); ``make bench
BENCH_ARGS=--full`` the full-size one that RESULTS.md is written from.
"""
from __future__ import annotations

import argparse
import collections
import json
import os
import platform
import resource
import shutil
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.collection_path import collections_root  # noqa: E402
from benchmarks import fleet  # noqa: E402
from benchmarks.pbx import measure_pbx_half  # noqa: E402
from benchmarks.slicing import measure_slicing, methods_by_status  # noqa: E402

KEY = "bench-key"
LATENCY_MS = 50
RATE_LIMIT = 100
PAGE_SIZE = 250  # the API's largest page: a no-change run reads ceil(connections / 250) pages
MEMORY_LIMIT_MIB = 1024
OUT = ROOT / "benchmarks" / "output"
# Every (host, trunk) pair of the inventory, as a hand-written playbook gathers them.
PAIRS = ('"{% set out = [] %}{% for h in groups[\'pbx\'] %}{% for t in hostvars[h].sip_attach_trunks %}'
         '{% set ignored = out.append([h, t]) %}{% endfor %}{% endfor %}{{ out }}"')


# -- the emulator -----------------------------------------------------------------
class Emulator:
    def __init__(self, *options):
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tests.emulator", "--port", "0", "--api-key", KEY,
             "--latency-ms", str(LATENCY_MS), "--rate-limit", str(RATE_LIMIT), "--seed", "1", *options],
            cwd=ROOT, stdout=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline().strip()
        if "listening on" not in line:
            raise SystemExit("emulator did not start: %r" % line)
        self.url = line.rsplit(" ", 1)[-1]

    def hook(self, method, path):
        req = urllib.request.Request(self.url + path, method=method, data=b"" if method == "POST" else None)
        with urllib.request.urlopen(req, timeout=30) as resp:
            return json.loads(resp.read() or b"{}")

    def reset(self):
        self.hook("POST", "/_emulator/reset")

    def requests(self):
        return self.hook("GET", "/_emulator/requests")["data"]

    def count(self):
        """How many connections the emulator holds (one API read, outside any measured run)."""
        req = urllib.request.Request(self.url + "/v2/uac_connections?page[size]=1",
                                     headers={"Authorization": "Bearer " + KEY})
        with urllib.request.urlopen(req, timeout=30) as resp:
            return json.loads(resp.read())["meta"]["total_results"]

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(timeout=10)


# -- inventories and playbooks -------------------------------------------------------
def write_inventory(path: Path, hosts: int, trunks: int) -> Path:
    """An inventory of PBX hosts, each with ``trunks`` trunks, in host_vars like a real one."""
    shutil.rmtree(path, ignore_errors=True)
    (path / "host_vars").mkdir(parents=True)
    (path / "group_vars").mkdir()
    names = ["pbx-%04d" % i for i in range(hosts)]
    (path / "hosts.yml").write_text(json.dumps({"pbx": {"hosts": {n: {} for n in names}}}))
    (path / "group_vars" / "pbx.yml").write_text(json.dumps({
        "sip_attach_defaults": {"transport": "UDP", "application": "assistant-3fa85f64-5717-4562-b3fc-2c963f66afa6"},
    }))
    for i, name in enumerate(names):
        trunk_list = [
            {"name": "t%d" % t, "extension": str(1000 + t), "username": "ext%d%04d" % (t, i),
             "password": "bench-secret-%d-%d" % (i, t)}
            for t in range(trunks)
        ]
        (path / "host_vars" / ("%s.yml" % name)).write_text(json.dumps({
            "ansible_host": "%s.example.net" % name, "sip_attach_trunks": trunk_list}))
    return path


def write_playbooks(base: Path) -> dict:
    """The playbooks of every scenario, and a stub role for the per-host step."""
    stub = base / "roles" / "validate_only"
    (stub / "meta").mkdir(parents=True, exist_ok=True)
    (stub / "tasks").mkdir(parents=True, exist_ok=True)
    shutil.copy(ROOT / "roles" / "sip_attach" / "meta" / "argument_specs.yml", stub / "meta" / "argument_specs.yml")
    (stub / "tasks" / "main.yml").write_text(
        "- name: One task for the play\n  ansible.builtin.debug:\n    msg: done\n  run_once: true\n")
    books = {
        "floor": "- hosts: pbx\n  gather_facts: false\n  tasks:\n"
                 "    - ansible.builtin.debug:\n        msg: one task\n      run_once: true\n",
        "per_host_step": "- hosts: pbx\n  gather_facts: false\n  roles:\n    - validate_only\n",
        "role": "- hosts: pbx\n  gather_facts: false\n  roles:\n    - role: telnyx.sip.sip_attach\n",
        # the localhost mode, and its floor: one task on localhost with the same inventory loaded
        "fleet": "- hosts: localhost\n  gather_facts: false\n  roles:\n    - role: telnyx.sip.sip_attach\n"
                 "      vars:\n        sip_attach_hosts: \"{{ groups['pbx'] }}\"\n",
        "fleet_floor": "- hosts: localhost\n  gather_facts: false\n  tasks:\n"
                       "    - ansible.builtin.debug:\n        msg: one task\n",
        "loop": """\
- hosts: localhost
  connection: local
  gather_facts: false
  tasks:
    - name: One uac_connection per trunk, looped on the controller
      telnyx.sip.uac_connection:
        connection_name: "{{ item.0 }}-{{ item.1.name }}"
        external_uac_settings:
          proxy: "{{ hostvars[item.0].ansible_host }}"
          transport: UDP
          username: "{{ item.1.username }}"
          password: "{{ item.1.password }}"
        internal_uac_settings:
          destination_uri: "{{ item.1.extension }}@assistant-3fa85f64-5717-4562-b3fc-2c963f66afa6.sip.telnyx.com"
        tags: [sip-attach]
      loop: %(pairs)s
      loop_control:
        label: "{{ item.0 }}-{{ item.1.name }}"
      no_log: true
""",
        "uri": """\
- hosts: localhost
  connection: local
  gather_facts: false
  vars:
    api: "{{ lookup('ansible.builtin.env', 'TELNYX_BASE_URL') }}"
    headers:
      Authorization: "Bearer {{ lookup('ansible.builtin.env', 'TELNYX_API_KEY') }}"
  tasks:
    - name: What people write without the collection - look each name up, then POST or PATCH
      ansible.builtin.include_tasks: uri_one.yml
      loop: %(pairs)s
      loop_control:
        label: "{{ item.0 }}-{{ item.1.name }}"
""",
    }
    (base / "uri_one.yml").write_text("""\
- name: Look the connection up by name
  ansible.builtin.uri:
    url: "{{ api }}/uac_connections?filter[connection_name][contains]={{ (item.0 ~ '-' ~ item.1.name) | urlencode }}"
    headers: "{{ headers }}"
  register: found
  no_log: true
- name: Create or update it
  vars:
    body:
      connection_name: "{{ item.0 }}-{{ item.1.name }}"
      tags: [sip-attach]
      external_uac_settings:
        proxy: "{{ hostvars[item.0].ansible_host }}"
        transport: UDP
        username: "{{ item.1.username }}"
        password: "{{ item.1.password }}"
      internal_uac_settings:
        destination_uri: "{{ item.1.extension }}@assistant-3fa85f64-5717-4562-b3fc-2c963f66afa6.sip.telnyx.com"
    match: "{{ found.json.data | selectattr('connection_name', 'equalto', item.0 ~ '-' ~ item.1.name) | list }}"
  ansible.builtin.uri:
    url: "{{ api }}/uac_connections{{ ('/' ~ match[0].id) if match else '' }}"
    method: "{{ 'PATCH' if match else 'POST' }}"
    headers: "{{ headers }}"
    body_format: json
    body: "{{ body }}"
    status_code: [200, 201]
  no_log: true
""")
    paths = {}
    for name, text in books.items():
        paths[name] = base / ("%s.yml" % name)
        paths[name].write_text(text.replace("%(pairs)s", PAIRS))
    return paths


# -- measuring ------------------------------------------------------------------------
def children_cpu():
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


class PeakMemory:
    """The peak summed RSS of a process and every process under it, sampled from /proc (Linux) every 0.2 s.

    The workers Ansible forks share pages with the controller until they write them, so the sum counts shared
    pages once per process: an upper bound of what the controller holds.
    """

    def __init__(self, pid, interval=0.2):
        self.pid, self.interval, self.peak = pid, interval, 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    @staticmethod
    def _tree_rss(root):
        children = collections.defaultdict(list)
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                try:
                    with open("/proc/%s/stat" % entry) as handle:
                        children[int(handle.read().rsplit(")", 1)[1].split()[1])].append(int(entry))
                except (OSError, IndexError, ValueError):
                    continue
        tree, todo = set(), [root]
        while todo:
            pid = todo.pop()
            if pid not in tree:
                tree.add(pid)
                todo.extend(children.get(pid, ()))
        total = 0
        for pid in tree:
            try:
                with open("/proc/%d/statm" % pid) as handle:
                    total += int(handle.read().split()[1]) * resource.getpagesize()
            except (OSError, IndexError, ValueError):
                continue
        return total

    def _run(self):
        while not self._stop.is_set():
            self.peak = max(self.peak, self._tree_rss(self.pid))
            self._stop.wait(self.interval)

    def stop(self):
        self._stop.set()
        self._thread.join()
        return self.peak / 1048576.0


def run_play(playbook: Path, inventory: Path, env: dict, emulator: Emulator, check=False, extra=(), recap=None):
    """(wall s, controller CPU s, requests by method, peak memory MiB) of one ansible-playbook run.

    ``recap``, a dict, receives each host's counts of the play recap: {host: {"ok": n, "changed": n, ...}}.
    """
    before_log = len(emulator.requests())
    cmd = [str(Path(sys.executable).with_name("ansible-playbook")), "-i", str(inventory), str(playbook), *extra]
    if check:
        cmd.append("--check")
    cpu0, t0 = children_cpu(), time.monotonic()
    proc = subprocess.Popen(cmd, cwd=playbook.parent, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    memory = PeakMemory(proc.pid)
    stdout, stderr = proc.communicate()
    wall, cpu, peak = time.monotonic() - t0, children_cpu() - cpu0, memory.stop()
    if proc.returncode != 0:
        sys.stderr.write(stdout[-4000:] + stderr[-4000:])
        raise SystemExit("%s failed (rc %s)" % (playbook.name, proc.returncode))
    if recap is not None:
        for line in stdout.splitlines():
            fields = line.split()
            if len(fields) > 3 and fields[1] == ":" and fields[3].startswith("changed="):
                recap[fields[0]] = dict((name, int(count)) for name, dummy, count in
                                        (field.partition("=") for field in fields[2:]) if count.isdigit())
    return wall, cpu, methods_by_status(emulator.requests()[before_log:]), peak


def fmt_methods(methods):
    """``GET 3, POST 1001 (429: 1)``: requests by method, with the ones the API refused."""
    parts = []
    for method in sorted(m for m in methods if " " not in m):
        refused = ["%s: %d" % (key.split()[1], n) for key, n in sorted(methods.items())
                   if key.startswith(method + " ") and not key.split()[1].startswith("2")]
        parts.append("%s %d%s" % (method, methods[method], " (%s)" % ", ".join(refused) if refused else ""))
    return ", ".join(parts) or "none"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hosts", type=int, default=500)
    parser.add_argument("--small-hosts", type=int, default=150)
    parser.add_argument("--skip-slow", action="store_true",
                        help="leave out the loop and uri alternatives (about 6 minutes; the default leaves them out "
                             "unless --full)")
    parser.add_argument("--skip-pbx", action="store_true", help="leave out the PBX half (15 PBX hosts)")
    parser.add_argument("--slicing", type=int, default=None, metavar="HOSTS",
                        help="PBX hosts of the AWX job slicing scenario, 4 jobs at once (default 200; --full: 2000, issue 13's size); 0 leaves it out")
    parser.add_argument("--full", action="store_true",
                        help="full size: the localhost mode at 500 and 5,000 PBX hosts (10,000 trunks), and the "
                             "per-host mode at 500 and 2,000 beside it (RESULTS.md is written from this run)")
    parser.add_argument("--fleet", type=_sizes, default=None,
                        help="PBX host counts of the localhost mode, e.g. 500,2000 (the default; --full: 500,5000)")
    parser.add_argument("--per-host-fleet", type=_sizes, default=None,
                        help="PBX host counts of the per-host mode beside it (default none; --full: 500,2000)")
    args = parser.parse_args()
    if args.fleet is None:
        args.fleet = [500, 5000] if args.full else [500, 2000]
    if args.per_host_fleet is None:
        args.per_host_fleet = [500, 2000] if args.full else []
    args.skip_slow = args.skip_slow or not args.full
    if args.slicing is None:
        args.slicing = 2000 if args.full else 200

    args.load = "%.2f, %.2f, %.2f (1, 5, 15 min)" % os.getloadavg()
    shutil.rmtree(OUT, ignore_errors=True)
    OUT.mkdir(parents=True)
    books = write_playbooks(OUT)
    big = write_inventory(OUT / "inventory-1000", args.hosts, 2)
    small = write_inventory(OUT / "inventory-300", args.small_hosts, 2)
    emulator = Emulator()
    env = dict(os.environ, TELNYX_API_KEY=KEY, TELNYX_BASE_URL=emulator.url + "/v2",
               ANSIBLE_COLLECTIONS_PATH=collections_root(), ANSIBLE_PYTHON_INTERPRETER=sys.executable,
               ANSIBLE_ROLES_PATH=str(OUT / "roles"), ANSIBLE_NOCOLOR="1", ANSIBLE_FORKS="5",
               ANSIBLE_LOCALHOST_WARNING="False", ANSIBLE_INVENTORY_UNPARSED_WARNING="False")
    rows = []

    def record(label, book, inventory, trunks=None, repeat=1, target=None, before=None, **kw):
        # A row is the fastest of `repeat` runs: noise only ever adds time. The baselines are the fastest
        # of 3 (a low baseline makes the targets stricter), the role's 1000-trunk runs the fastest of 2,
        # `before` (an emulator reset) preceding each. `book` is a scenario's name or a playbook's path;
        # `target` another emulator than the main one. Returns the row.
        play_env = dict(env, TELNYX_BASE_URL=target.url + "/v2") if target else env
        play_env = dict(play_env, **kw.pop("extra_env", None) or {})

        def attempt():
            if before is not None:
                before()
            return run_play(books.get(book, book), inventory, play_env, target or emulator, **kw)

        runs = [attempt() for _attempt in range(repeat)]
        wall, cpu, methods, memory = min(runs, key=lambda run: run[0])
        if repeat > 1:
            label += " (fastest of %d)" % repeat
        row = dict(label=label, wall=wall, cpu=cpu, methods=methods, trunks=trunks, memory=memory)
        rows.append(row)
        print("%-64s wall %7.1f s  cpu %7.1f s  memory %5.0f MiB  requests: %s"
              % (label, wall, cpu, memory, fmt_methods(methods)), flush=True)
        return row

    def measure(*a, **kw):
        row = record(*a, **kw)
        return row["wall"], row["methods"]

    def wall_of(*a, **kw):
        return measure(*a, **kw)[0]

    try:
        trunks = args.hosts * 2
        floor = wall_of("floor: one run_once task, %d hosts" % args.hosts, "floor", big, repeat=3)
        step = wall_of("one per-host step: role argument validation, %d hosts" % args.hosts, "per_host_step", big,
                       repeat=3)
        # each attempt of the first rollout from an empty account
        first, first_m = measure("sip_attach role, %d trunks: first rollout" % trunks, "role", big, trunks,
                                 repeat=2, before=emulator.reset)
        count_after_first = emulator.count()
        rerun, rerun_m = measure("sip_attach role, %d trunks: no-change re-run" % trunks, "role", big, trunks,
                                 repeat=2)
        small_trunks = args.small_hosts * 2
        emulator.reset()
        role300 = wall_of("at %d trunks: sip_attach role" % small_trunks, "role", small, small_trunks)
        alternatives = {}
        if not args.skip_slow:
            emulator.reset()
            alternatives["loop"] = wall_of("at %d trunks: loop of uac_connection" % small_trunks, "loop", small,
                                           small_trunks)
            emulator.reset()
            alternatives["uri"] = wall_of("at %d trunks: ansible.builtin.uri playbook" % small_trunks, "uri", small,
                                          small_trunks)
    finally:
        emulator.stop()

    api_bound = trunks / float(RATE_LIMIT)
    per_host = max(0.0, step - floor)
    targets = [
        ("first rollout of %d trunks <= floor + per-host step + 1.2 x %.0f s + 3 s" % (trunks, api_bound),
         first, floor + per_host + 1.2 * api_bound + 3),
        ("no-change re-run <= floor + per-host step + 3 s", rerun, floor + per_host + 3),
    ]
    checks = [(name, value <= limit, "%.1f s (limit %.1f s)" % (value, limit)) for name, value, limit in targets]
    writes = sum(rerun_m.get(m, 0) for m in ("POST", "PATCH", "DELETE"))
    reads = rerun_m.get("GET", 0)
    checks.append(("no-change re-run: no write and at most 5 reads", writes == 0 and reads <= 5,
                   "%d writes, %d reads" % (writes, reads)))
    creates = first_m.get("POST 201", 0)
    checks.append(("first rollout creates every trunk once", creates == trunks and count_after_first == trunks,
                   "%d POST answered 201, %d connections" % (creates, count_after_first)))
    for name, wall in alternatives.items():
        checks.append(("at %d trunks the role is >= 10x faster than the %s playbook" % (small_trunks, name),
                       wall >= 10 * role300, "%.1fx (%.1f s vs %.1f s)" % (wall / role300, wall, role300)))
    notes = []
    if args.slicing:
        slice_rows, slice_checks = measure_slicing(OUT / "slicing", args.slicing, Emulator, env, KEY, RATE_LIMIT,
                                                   children_cpu)
        rows.extend(slice_rows)
        checks.extend(slice_checks)
    if not args.skip_pbx:
        pbx_checks, note = measure_pbx_half(OUT / "pbx", measure, Emulator)
        checks.extend(pbx_checks)
        notes.extend([note] if note else [])
    sizes = []
    large = Emulator()
    try:
        for hosts in args.fleet:
            sizes.append(fleet.measure_size(OUT / "fleet", hosts, "localhost", record, large, write_inventory))
        for hosts in args.per_host_fleet:
            sizes.append(fleet.measure_size(OUT / "fleet", hosts, "per-host", record, large, write_inventory))
    finally:
        large.stop()
    checks.extend(fleet.checks_of(sizes, RATE_LIMIT, PAGE_SIZE, MEMORY_LIMIT_MIB))
    write_results(rows, checks, args, notes, fleet.table(sizes))
    missed = [check[0] for check in checks if not check[1]]
    for name, ok, detail in checks:
        print("%s %s: %s" % ("MET   " if ok else "MISSED", name, detail))
    return 1 if missed else 0


def _sizes(text):
    return [int(part) for part in text.split(",") if part.strip()]


def write_results(rows, checks, args, notes=(), sizes_table=()):
    lines = [
        "# Benchmark results",
        "",
        "Written by `make bench` (`benchmarks/run.py`); do not edit by hand.",
        "",
        "- Machine: %s, %d cores, Python %s; emulator with `--latency-ms %d --rate-limit %d`."
        % (platform.machine(), os.cpu_count() or 0, platform.python_version(), LATENCY_MS, RATE_LIMIT),
        "- Controller CPU = user + system time of `ansible-playbook` and every process it ran.",
        "- Peak memory = the highest sum of the resident memory of `ansible-playbook` and every process under it,",
        "  sampled every 0.2 s (the forked workers share pages with the controller: an upper bound).",
        "- Requests by method come from the emulator's log.",
        "- A row marked \"fastest of N\" is the fastest of N runs (noise only adds time): the baselines of 3, the",
        "  role's 1000-trunk runs of 2 (each first rollout from an empty account). Every other row is one run.",
        "- %s run (`make bench%s`); load average before the run: %s." % (
            "Full-size" if args.full else "Default", " BENCH_ARGS=--full" if args.full else "", args.load),
        "",
        "| scenario | wall (s) | controller CPU (s) | peak memory (MiB) | API requests |",
        "| --- | ---: | ---: | ---: | --- |",
    ]
    for row in rows:
        memory = "%.0f" % row["memory"] if row.get("memory") is not None else "not sampled"
        lines.append("| %s | %.1f | %.1f | %s | %s |"
                     % (row["label"], row["wall"], row["cpu"], memory, fmt_methods(row["methods"])))
    if sizes_table:
        lines += ["", "## Large fleets: the localhost mode (`sip_attach_hosts`) by size", "",
                  "2 trunks a PBX host. A host's share = (wall - floor) / PBX hosts, the floor being one task in the "
                  "same kind of play with the same inventory (what Ansible costs before the role does anything).",
                  ""] + list(sizes_table)
    lines += ["", "## Targets", "", "| target | result | met |", "| --- | --- | --- |"]
    for name, ok, detail in checks:
        lines.append("| %s | %s | %s |" % (name, detail, "yes" if ok else "**no**"))
    if args.skip_slow:
        lines += ["", "The loop and uri alternatives were left out (`--skip-slow`, or a run without `--full`)."]
    if args.skip_pbx:
        lines += ["", "The PBX half was left out (`--skip-pbx`)."]
    if not args.slicing:
        lines += ["", "The AWX job slicing scenario was left out (`--slicing 0`)."]
    lines += [line for note in notes for line in ("", note)]
    (ROOT / "benchmarks" / "RESULTS.md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    sys.exit(main())
