"""`make demo` works as the README says: it runs the examples against its own emulator and stops it."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.tools.kamailio_pbx import find_kamailio

ROOT = Path(__file__).resolve().parents[2]

pytestmark = [pytest.mark.integration, pytest.mark.smoke]


def test_demo_creates_updates_lists_and_rolls_out():
    done = subprocess.run([sys.executable, "tests/tools/demo.py"], cwd=ROOT, capture_output=True, text=True,
                          timeout=600, check=False)
    out = done.stdout
    assert done.returncode == 0, out[-3000:] + done.stderr[-3000:]
    assert "created: created (id " in out
    assert "re-run: unchanged" in out
    assert "update: updated (transport now UDP)" in out
    assert "password in the result: ********" in out
    assert "demo-only-" not in out  # the demo passwords never reach the output
    assert "'created': 0" not in out and "unchanged: 0" not in out
    assert "- unchanged: 6" in out  # the second rollout changes nothing
    # a transport changed behind the role's back: --check names the connection and the field, in the play's
    # output and in the drift report, and writes nothing
    drift = out.split("Drift report: --check names the connection", 1)[1].split("=====", 2)
    assert '"pbx-hq-1-reception: updated (external_uac_settings.transport: UDP -> TCP)"' in drift[0]
    assert "| pbx-hq-1-reception | pbx-hq-1 | reception | external_uac_settings.transport | UDP | TCP |" in drift[1]
    assert "sip-attach-report.md, the last real run's report, is still there" in out
    assert "Demo finished; the emulator is stopped." in out
    # it ends with the health check's status page, and says where it is
    assert out.rstrip().splitlines()[-1].startswith("Fleet status page: %s" % (ROOT / "tests" / "output"))
    assert "host pbx-hq-1, trunk reception (pbx-hq-1-reception): not registered" in out
    assert (ROOT / "tests" / "output" / "demo-reports" / "sip-attach-status.html").is_file()
    if find_kamailio():
        assert "registration_status: Registered" in out and "PBX's last answer: 200 OK" in out
        assert "Kamailio's location table: sip:ext101@127.0.0.1:" in out
    else:
        assert "Kamailio is not installed" in out
    if os.geteuid() == 0:  # the PBX half on a local Asterisk 22 (in a chroot: root only)
        assert "| asterisk-pbx | reception | asterisk-pbx-reception | unchanged |" in out
        assert "| Registered | asterisk | registered | answered |" in out
        assert "asterisk-pbx-sales: dialed 1002, answered 200, Telnyx routes it to 1002@assistant-" in out
        assert "changed=0" in out.rsplit("The same again: nothing to change on either side", 1)[1]
    else:
        assert "Asterisk skipped, it runs in a chroot, which needs root." in out
    if find_kamailio():
        assert "| kamailio-pbx | reception | kamailio-pbx-reception | unchanged |" in out
        assert "| Registered | kamailio | registered | answered |" in out
