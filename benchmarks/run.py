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
  the no-change re-run;
- at 300 trunks (150 hosts x 2), from an empty account: the role; a loop of
  ``telnyx.sip.uac_connection``; and a hand-written ``ansible.builtin.uri``
  playbook doing the same idempotent job (look the name up, then POST or PATCH);
- the PBX half (benchmarks/pbx.py): 10 local PBX hosts, 5 Asterisk and 5
  Kamailio, 4 trunks each: first rollout, no-change re-run, and the Telnyx-only
  run of the same trunks beside it;
- AWX job slicing (benchmarks/slicing.py, ``--slicing HOSTS``, 200 by default,
  2000 at issue 13's full size): 4 jobs at once, each on its quarter of the
  hosts, one under ansible-runner, sharing one account limit: first rollout and
  no-change re-run.
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
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.collection_path import collections_root  # noqa: E402
from benchmarks.pbx import measure_pbx_half  # noqa: E402
from benchmarks.slicing import measure_slicing  # noqa: E402

KEY = "bench-key"
LATENCY_MS = 50
RATE_LIMIT = 100
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


def run_play(playbook: Path, inventory: Path, env: dict, emulator: Emulator, check=False, extra=(), recap=None):
    """(wall s, controller CPU s, requests by method) of one ansible-playbook run.

    ``recap``, a dict, receives the changed count of each host from the play recap.
    """
    before_log = len(emulator.requests())
    cmd = [str(Path(sys.executable).with_name("ansible-playbook")), "-i", str(inventory), str(playbook), *extra]
    if check:
        cmd.append("--check")
    cpu0, t0 = children_cpu(), time.monotonic()
    done = subprocess.run(cmd, cwd=playbook.parent, env=env, capture_output=True, text=True, check=False)
    wall, cpu = time.monotonic() - t0, children_cpu() - cpu0
    if done.returncode != 0:
        sys.stderr.write(done.stdout[-4000:] + done.stderr[-4000:])
        raise SystemExit("%s failed (rc %s)" % (playbook.name, done.returncode))
    if recap is not None:
        for line in done.stdout.splitlines():
            fields = line.split()
            if len(fields) > 3 and fields[1] == ":" and fields[3].startswith("changed="):
                recap[fields[0]] = int(fields[3].split("=", 1)[1])
    log = emulator.requests()[before_log:]
    methods = collections.Counter(r["method"] for r in log)
    methods.update("%s %s" % (r["method"], r["status"]) for r in log)
    return wall, cpu, dict(methods)


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
    parser.add_argument("--skip-slow", action="store_true", help="leave out the loop and uri alternatives")
    parser.add_argument("--skip-pbx", action="store_true", help="leave out the PBX half (10 local PBX hosts)")
    parser.add_argument("--slicing", type=int, default=200, metavar="HOSTS",
                        help="PBX hosts of the AWX job slicing scenario, 4 jobs at once (issue 13: 2000); 0 leaves it out")
    args = parser.parse_args()

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

    def measure(label, book, inventory, trunks=None, repeat=1, target=None, **kw):
        # A baseline is the fastest of `repeat` runs: noise only ever adds time, and a low
        # baseline makes the targets stricter, not looser. `book` is a scenario's name or a playbook's path;
        # `target` another emulator than the main one.
        play_env = dict(env, TELNYX_BASE_URL=target.url + "/v2") if target else env
        runs = [run_play(books.get(book, book), inventory, play_env, target or emulator, **kw)
                for _attempt in range(repeat)]
        wall, cpu, methods = min(runs, key=lambda run: run[0])
        if repeat > 1:
            label += " (fastest of %d)" % repeat
        rows.append(dict(label=label, wall=wall, cpu=cpu, methods=methods, trunks=trunks))
        print("%-58s wall %7.1f s  cpu %7.1f s  requests: %s" % (label, wall, cpu, fmt_methods(methods)), flush=True)
        return wall, methods

    def wall_of(*a, **kw):
        return measure(*a, **kw)[0]

    try:
        trunks = args.hosts * 2
        floor = wall_of("floor: one run_once task, %d hosts" % args.hosts, "floor", big, repeat=3)
        step = wall_of("one per-host step: role argument validation, %d hosts" % args.hosts, "per_host_step", big,
                       repeat=3)
        emulator.reset()
        first, first_m = measure("sip_attach role, %d trunks: first rollout" % trunks, "role", big, trunks)
        count_after_first = emulator.count()
        rerun, rerun_m = measure("sip_attach role, %d trunks: no-change re-run" % trunks, "role", big, trunks)
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
    write_results(rows, checks, args, notes)
    missed = [check[0] for check in checks if not check[1]]
    for name, ok, detail in checks:
        print("%s %s: %s" % ("MET   " if ok else "MISSED", name, detail))
    return 1 if missed else 0


def write_results(rows, checks, args, notes=()):
    lines = [
        "# Benchmark results",
        "",
        "Written by `make bench` (`benchmarks/run.py`); do not edit by hand.",
        "",
        "- Machine: %s, %d cores, Python %s; emulator with `--latency-ms %d --rate-limit %d`."
        % (platform.machine(), os.cpu_count() or 0, platform.python_version(), LATENCY_MS, RATE_LIMIT),
        "- Controller CPU = user + system time of `ansible-playbook` and every process it ran.",
        "- Requests by method come from the emulator's log.",
        "",
        "| scenario | wall (s) | controller CPU (s) | API requests |",
        "| --- | ---: | ---: | --- |",
    ]
    for row in rows:
        lines.append("| %s | %.1f | %.1f | %s |" % (row["label"], row["wall"], row["cpu"], fmt_methods(row["methods"])))
    lines += ["", "## Targets", "", "| target | result | met |", "| --- | --- | --- |"]
    for name, ok, detail in checks:
        lines.append("| %s | %s | %s |" % (name, detail, "yes" if ok else "**no**"))
    if args.skip_slow:
        lines += ["", "The loop and uri alternatives were left out (`--skip-slow`)."]
    if args.skip_pbx:
        lines += ["", "The PBX half was left out (`--skip-pbx`)."]
    if not args.slicing:
        lines += ["", "The AWX job slicing scenario was left out (`--slicing 0`)."]
    lines += [line for note in notes for line in ("", note)]
    (ROOT / "benchmarks" / "RESULTS.md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    sys.exit(main())
