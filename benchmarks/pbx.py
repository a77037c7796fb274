"""The PBX half in `make bench`: 10 local PBX hosts (5 Asterisk 22, 5 Kamailio), 4 trunks each.

Measures the first rollout of both halves, the no-change re-run (nothing written on either side,
changed=0 on every host, every trunk registered as both sides see it), and, beside it, the Telnyx-only
no-change run of the same trunks (``-e sip_attach_pbx=none``). Needs root (Asterisk runs in a chroot)
and Debian's kamailio with its SQLite module; without them the scenario says why and is left out.
"""
from __future__ import annotations

import contextlib
import csv
import io
import json
import os
import sys
from pathlib import Path

from tests.tools.asterisk_pbx import AsteriskPbx
from tests.tools.asterisk_root import AsteriskRootError, ensure_root
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
        return "Asterisk runs in a chroot, which needs root"
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
        variables = dict(ansible_connection="local", ansible_python_interpreter=sys.executable,
                         sip_attach_defaults=dict(proxy=pbx.proxy, transport="UDP", application=APPLICATION),
                         sip_attach_trunks=[dict(name="t%d" % number, extension="%02d%02d" % (index + 10, number),
                                                 password="Bench-%s-t%d-pw" % (host, number)) for number in range(4)])
        if isinstance(pbx, AsteriskPbx):
            variables.update(sip_attach_pbx="asterisk", sip_attach_asterisk_config_dir=pbx.config_dir,
                             sip_attach_asterisk_cli=pbx.cli)
        else:
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
        pbxs = []
        for index in range(5):
            pbxs.append(("ast%d" % index, stack.enter_context(AsteriskPbx(name="bench-ast%d" % index))))
        for index in range(5):
            pbx = KamailioDbPbx()
            stack.callback(pbx.stop)
            pbxs.append(("kam%d" % index, pbx.start()))
        inventory = write_inventory(base, pbxs)
        playbook = base / "pbx.yml"
        trunks = 40
        measure("PBX half, 10 PBX hosts (5 Asterisk, 5 Kamailio), 40 trunks: first rollout", playbook, inventory,
                trunks, target=emulator)
        recap = {}
        dummy, methods = measure("PBX half, 40 trunks: no-change re-run (both sides)", playbook, inventory, trunks,
                                 target=emulator, recap=recap)
        registered, total = registered_from_both_sides(base)
        measure("same 40 trunks, Telnyx side only (-e sip_attach_pbx=none): no-change re-run",
                playbook, inventory, trunks, target=emulator, extra=("-e", "sip_attach_pbx=none"))
    writes = sum(methods.get(m, 0) for m in ("POST", "PATCH", "DELETE"))
    return [
        ("PBX half no-change re-run: no API write, changed=0 on every PBX host",
         writes == 0 and len(recap) == 10 and not any(recap.values()),
         "%d writes, changed: %s" % (writes, sum(recap.values()) if recap else "no recap")),
        ("PBX half no-change re-run: every trunk registered as Telnyx and the PBX see it", registered == total == 40,
         "%d of %d" % (registered, total)),
    ], None
