"""The PBX half in `make bench`: 15 PBX hosts, 4 trunks each: 10 Asterisk 22 hosts reached over SSH with become
(tests/tools/pbx_host.py: 4 of Debian's layout, 3 with a root-owned /etc/asterisk, 3 of FreePBX's), and 5 local
Kamailio registrars.

Measures the first rollout of both halves, the no-change re-run (nothing written on either side, nothing
reloaded, changed=0 on every host, every trunk registered as both sides see it, the tasks each Asterisk host
ran), and, beside it, the Telnyx-only no-change run of the same trunks (``-e sip_attach_pbx=none``). Needs root
(the Asterisk hosts are overlay mounts with their own sshd) and Debian's kamailio with its SQLite module;
without them the scenario says why and is left out.
"""
from __future__ import annotations

import contextlib
import csv
import io
import json
import os
import sys
from pathlib import Path

from tests.tools.asterisk_root import AsteriskRootError, ensure_root
from tests.tools.pbx_host import PbxHost, start_hosts
from tests.tools.kamailio_db_pbx import KamailioDbPbx, missing_requirements

APPLICATION = "assistant-3fa85f64-5717-4562-b3fc-2c963f66afa6"
EMULATOR_OPTIONS = ("--registration-delay", "0.2", "--registration-retry", "1", "--sip-timeout", "1")
PLAYBOOK = """\
- hosts: pbx
  gather_facts: false
  roles:
    - role: telnyx.sip.sip_attach
      vars:
        sip_attach_report_dir: "{{ playbook_dir }}/pbx-reports"
        sip_attach_registration_poll_interval: 0.5
"""


def unavailable():
    """Why the PBX scenario cannot run here, or None."""
    if os.geteuid() != 0:
        return "the Asterisk hosts are overlay mounts with their own sshd, which needs root"
    reason = missing_requirements()
    if reason:
        return reason
    try:
        ensure_root()
    except AsteriskRootError as exc:
        return "the Asterisk root could not be built: %s" % exc
    return None


def write_inventory(base: Path, pbxs) -> Path:
    base.mkdir(parents=True, exist_ok=True)
    hosts = {}
    for index, (host, pbx) in enumerate(pbxs):
        # five digits: the Asterisk hosts' phones have four (_XXXX), which would take the call before the route
        variables = dict(sip_attach_defaults=dict(proxy=pbx.proxy, transport="UDP", application=APPLICATION),
                         sip_attach_trunks=[dict(name="t%d" % number, extension="7%02d%02d" % (index + 10, number),
                                                 password="Bench-%s-t%d-pw" % (host, number)) for number in range(4)])
        if isinstance(pbx, PbxHost):  # over SSH with become, the role's defaults (/etc/asterisk, asterisk -rx)
            variables.update(pbx.inventory_vars(), sip_attach_pbx="asterisk")
        else:
            variables.update(ansible_connection="local", ansible_python_interpreter=sys.executable)
            variables.update(sip_attach_pbx="kamailio", sip_attach_kamailio_kamctl=pbx.kamctl,
                             sip_attach_kamailio_kamcmd=pbx.kamcmd, sip_attach_pbx_state_dir=str(base / "state" / host))
        hosts[host] = variables
    inventory = base / "pbx-hosts.json"
    inventory.write_text(json.dumps({"pbx": {"hosts": hosts}}))
    (base / "pbx.yml").write_text(PLAYBOOK)
    return inventory


def registered_from_both_sides(base: Path):
    text = (base / "pbx-reports" / "sip-attach-report.csv").read_text()
    rows = list(csv.DictReader(io.StringIO(text)))
    return sum(1 for row in rows if row["registration_status"] == "Registered"
               and row["pbx_registration"] == "registered"), len(rows)


def measure_pbx_half(base: Path, measure, make_emulator):
    """(checks [(name, met, detail)], a note or None); ``measure(label, playbook, inventory, trunks, **kw)``.

    The times of the three runs are rows of the table (the Telnyx-only run beside the PBX half's).
    """
    reason = unavailable()
    if reason:
        return [], "The PBX half was left out: %s." % reason
    with contextlib.ExitStack() as stack:
        emulator = make_emulator(*EMULATOR_OPTIONS)
        stack.callback(emulator.stop)
        asterisks = start_hosts(layouts=["debian"] * 4 + ["rootowned"] * 3 + ["freepbx"] * 3)
        for pbx in asterisks:
            stack.callback(pbx.stop)
        pbxs = [("ast%d-%s" % (index, pbx.layout), pbx) for index, pbx in enumerate(asterisks)]
        ssh = dict(asterisks[0].ansible_env(), ANSIBLE_FORKS=str(len(asterisks) + 5))  # every host at once
        for index in range(5):
            pbx = KamailioDbPbx()
            stack.callback(pbx.stop)
            pbxs.append(("kam%d" % index, pbx.start()))
        inventory = write_inventory(base, pbxs)
        playbook = base / "pbx.yml"
        trunks = 4 * len(pbxs)
        first_recap, recap = {}, {}
        measure("PBX half, %d PBX hosts (10 Asterisk over SSH, 5 Kamailio), %d trunks: first rollout"
                % (len(pbxs), trunks), playbook, inventory, trunks, target=emulator, extra_env=ssh, recap=first_recap)
        dummy, methods = measure("PBX half, %d trunks: no-change re-run (both sides)" % trunks, playbook, inventory,
                                 trunks, target=emulator, extra_env=ssh, recap=recap)
        registered, total = registered_from_both_sides(base)
        measure("same %d trunks, Telnyx side only (-e sip_attach_pbx=none): no-change re-run" % trunks,
                playbook, inventory, trunks, target=emulator, extra=("-e", "sip_attach_pbx=none"), extra_env=ssh)
    writes = sum(methods.get(m, 0) for m in ("POST", "PATCH", "DELETE"))
    changed = sum(counts.get("changed", 0) for counts in recap.values())
    tasks = dict((label, sorted(set(counts.get("ok", 0) for host, counts in run.items() if host.startswith("ast"))))
                 for label, run in (("first rollout", first_recap), ("no-change re-run", recap)))
    return [
        ("PBX half no-change re-run: no API write, nothing written or reloaded on a PBX (changed=0 on every host)",
         writes == 0 and len(recap) == len(pbxs) and changed == 0,
         "%d writes, changed=%d over %d hosts" % (writes, changed, len(recap))),
        ("PBX half no-change re-run: every trunk registered as Telnyx and the PBX see it",
         registered == total == trunks, "%d of %d" % (registered, total)),
    ], "Tasks executed (ok in the recap) per Asterisk host over SSH: %s." % "; ".join(
        "%s %s" % (label, "-".join(sorted(set(str(n) for n in (values[0], values[-1])))) if values else "none")
        for label, values in tasks.items())
