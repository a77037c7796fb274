"""`make demo`: the collection against the local Telnyx API emulator, end to end.

Starts the emulator on a free loopback port, runs the example playbooks
(one connection created, re-run, updated and listed; then the sip_attach
role over the example PBX inventory), prints the rollout report, and stops
the emulator. No Telnyx account and no network are needed.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from tests.collection_path import collections_root  # noqa: E402
from tests.tools.kamailio_pbx import KamailioPbx, find_kamailio  # noqa: E402

DEMO_KEY = "demo-key-not-secret"
PBX_USER, PBX_PASSWORD = "ext101", "demo-only-secret101"


def start_emulator(*options: str) -> tuple[subprocess.Popen, str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.emulator", "--host", "127.0.0.1", "--port", "0", "--api-key", DEMO_KEY,
         *options],
        cwd=ROOT, stdout=subprocess.PIPE, text=True,
    )
    line = proc.stdout.readline().strip()
    if "listening on" not in line:
        proc.kill()
        raise SystemExit(f"the emulator did not start: {line!r}")
    return proc, line.rsplit(" ", 1)[-1]


def run(title: str, *args: str, env: dict) -> None:
    print(f"\n===== {title}\n+ ansible-playbook {' '.join(args)}", flush=True)
    rc = subprocess.call([str(Path(sys.executable).with_name("ansible-playbook")), *args], cwd=ROOT, env=env)
    if rc != 0:
        raise SystemExit(f"{title}: ansible-playbook exited with {rc}")


def demo_registration(env: dict) -> None:
    """Telnyx (the emulator) registers to a local Kamailio PBX, if Kamailio is installed."""
    if not find_kamailio():
        print("\n===== Registration to a real PBX: skipped, Kamailio is not installed.\n"
              "Install it (`make sip-tools`, or `apt-get install kamailio`) and run `make demo` again to see\n"
              "Telnyx register to a local Kamailio PBX over SIP.", flush=True)
        return
    with KamailioPbx({PBX_USER: PBX_PASSWORD}) as pbx:
        print(f"\nKamailio PBX on {pbx.proxy}, extension {PBX_USER}", flush=True)
        # The password goes in a vars file, not on the command line the demo prints.
        pbx_vars = ROOT / "tests" / "output" / "demo-pbx-vars.json"
        pbx_vars.parent.mkdir(parents=True, exist_ok=True)
        pbx_vars.write_text(json.dumps(dict(demo_pbx_proxy=pbx.proxy, demo_pbx_user=PBX_USER,
                                            demo_pbx_password=PBX_PASSWORD)))
        run("Registration: Telnyx registers to the local Kamailio PBX", "-i", "localhost,", "-c", "local",
            "examples/modules/register_to_pbx.yml", "-e", f"@{pbx_vars}", env=env)
        for contact in pbx.contacts(PBX_USER):
            print("Kamailio's location table: %s expires in %s s, User-Agent %s"
                  % (contact.get("Address"), contact.get("Expires"), contact.get("User-Agent")), flush=True)


def main() -> int:
    proc, url = start_emulator("--registration-delay", "0.5")
    print(f"Telnyx API emulator at {url}/v2 (stops when the demo ends)")
    env = dict(
        os.environ,
        TELNYX_API_KEY=DEMO_KEY,
        TELNYX_BASE_URL=f"{url}/v2",
        ANSIBLE_COLLECTIONS_PATH=collections_root(),
        ANSIBLE_NOCOLOR="1",
        ANSIBLE_LOCALHOST_WARNING="False",
        ANSIBLE_INVENTORY_UNPARSED_WARNING="False",
        ANSIBLE_PYTHON_INTERPRETER=sys.executable,
    )
    try:
        run("One connection: create, re-run, update, list", "-i", "localhost,", "-c", "local",
            "examples/modules/create_update_list.yml", env=env)
        reports = ROOT / "tests" / "output" / "demo-reports"
        rollout = ("-i", "examples/inventory", "examples/rollout.yml", "-e", f"sip_attach_report_dir={reports}")
        run("Fleet rollout: the sip_attach role over examples/inventory", *rollout, env=env)
        run("The same rollout again: nothing to change", *rollout, env=env)
        report = reports / "sip-attach-report.md"
        if report.exists():
            print(f"\n===== {report.relative_to(ROOT)}\n{report.read_text()}")
        demo_registration(env)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=10)
    print("Demo finished; the emulator is stopped.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
