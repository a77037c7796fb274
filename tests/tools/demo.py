"""`make demo`: the collection against the local Telnyx API emulator, end to end.

Starts the emulator on a free loopback port, runs the example playbooks
(one connection created, re-run, updated and listed; then the sip_attach
role over the example PBX inventory), prints the rollout report, changes a
transport behind the role's back and shows what --check says drifted, then the
PBX half over local PBXs (a real Asterisk 22 and a real Kamailio, where they
can run): both sides configured, registered as both sides see it, a test
call answered by "Telnyx". Stops everything at the end. No Telnyx account and
no network are needed (building the Asterisk root once needs Debian's mirror).
"""
from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from tests.collection_path import collections_root  # noqa: E402
from tests.tools.kamailio_pbx import KamailioPbx, find_kamailio  # noqa: E402
from tests.tools.asterisk_pbx import AsteriskPbx  # noqa: E402
from tests.tools.asterisk_root import AsteriskRootError, ensure_root  # noqa: E402
from tests.tools.kamailio_db_pbx import KamailioDbPbx, missing_requirements  # noqa: E402

DEMO_KEY = "demo-key-not-secret"
PBX_USER, PBX_PASSWORD = "ext101", "demo-only-secret101"
DEMO_APPLICATION = "assistant-3fa85f64-5717-4562-b3fc-2c963f66afa6"


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


def local_pbxs(stack):
    """The local PBXs the PBX half can run on here: [(inventory host, its variables)], started in ``stack``."""
    pbxs = []
    if os.geteuid() != 0:
        print("\n===== The PBX half: Asterisk skipped, it runs in a chroot, which needs root.", flush=True)
    else:
        try:
            print("\nAsterisk 22 root: %s (built once, about 30 s)" % ensure_root(), flush=True)
            asterisk = stack.enter_context(AsteriskPbx(name="demo-asterisk"))
            pbxs.append(("asterisk-pbx", dict(sip_attach_pbx="asterisk", sip_attach_asterisk_config_dir=asterisk.config_dir,
                                              sip_attach_asterisk_cli=asterisk.cli, proxy=asterisk.proxy)))
        except AsteriskRootError as exc:
            print("\n===== The PBX half: Asterisk skipped, its root could not be built: %s" % exc, flush=True)
    missing = missing_requirements()
    if missing:
        print("\n===== The PBX half: Kamailio skipped: %s" % missing, flush=True)
    else:
        kamailio = KamailioDbPbx()
        stack.callback(kamailio.stop)
        kamailio.start()
        pbxs.append(("kamailio-pbx", dict(sip_attach_pbx="kamailio", sip_attach_kamailio_kamctl=kamailio.kamctl,
                                          sip_attach_kamailio_kamcmd=kamailio.kamcmd, proxy=kamailio.proxy,
                                          sip_attach_pbx_state_dir=str(ROOT / "tests" / "output" / "demo-pbx-state"))))
    return pbxs


def demo_pbx_half(env: dict) -> None:
    """Both halves of each pairing on local PBXs: the role configures them, then Telnyx, then proves it."""
    with contextlib.ExitStack() as stack:
        pbxs = local_pbxs(stack)
        if not pbxs:
            return
        folder = ROOT / "tests" / "output" / "demo-pbx"
        shutil.rmtree(folder, ignore_errors=True)
        (folder / "host_vars").mkdir(parents=True)
        hosts = {}
        for index, (host, variables) in enumerate(pbxs):
            proxy = variables.pop("proxy")
            hosts[host] = dict(ansible_connection="local", ansible_python_interpreter=sys.executable)
            variables.update(sip_attach_defaults=dict(proxy=proxy, transport="UDP", application=DEMO_APPLICATION),
                             sip_attach_trunks=[dict(name="reception", extension="%d001" % (index + 1)),
                                                dict(name="sales", extension="%d002" % (index + 1))])
            (folder / "host_vars" / ("%s.yml" % host)).write_text(json.dumps(variables))
        (folder / "hosts.yml").write_text(json.dumps(dict(pbx_managed=dict(hosts=hosts))))
        reports = folder / "reports"
        rollout = ("-i", str(folder / "hosts.yml"), "examples/pbx_rollout.yml",
                   "-e", "sip_attach_report_dir=%s sip_attach_password_dir=%s sip_attach_registration_poll_interval=1"
                   % (reports, folder / "passwords"))
        run("The PBX half: the role configures each local PBX, then Telnyx, then places a test call per trunk",
            *rollout, env=env)
        run("The same again: nothing to change on either side", *rollout, env=env)
        report = reports / "sip-attach-report.md"
        print("\n===== %s\n%s" % (report.relative_to(ROOT), report.read_text()), flush=True)


def api(url: str, method: str, path: str, body: dict | None = None) -> dict:
    """One request to the emulator's API, as someone with the API key (a portal user, a script) would send it."""
    request = urllib.request.Request(
        "%s/v2%s" % (url, path), method=method, data=None if body is None else json.dumps(body).encode(),
        headers={"Authorization": "Bearer %s" % DEMO_KEY, "Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as answer:
        return json.load(answer)


def demo_drift(url: str, rollout: tuple, reports: Path, env: dict) -> None:
    """Someone changes a transport behind the role's back; --check names the connection and the field."""
    name = "pbx-hq-1-reception"
    conn = [c for c in api(url, "GET", "/uac_connections?page%5Bsize%5D=250")["data"]
            if c["connection_name"] == name][0]
    # the API replaces a nested object whole: send it all (its password stays as it is when left out)
    external = dict((key, value) for key, value in conn["external_uac_settings"].items()
                    if value is not None and key != "password")
    api(url, "PATCH", "/uac_connections/%s" % conn["id"], {"external_uac_settings": dict(external, transport="UDP")})
    print("\n===== Someone sets the transport of %s to UDP in the portal (the inventory says TCP)" % name, flush=True)
    run("Drift report: --check names the connection and the field that differ, and changes nothing",
        *rollout, "--check", env=env)
    report = reports / "sip-attach-drift-report.md"
    section = report.read_text().split("## What drifted", 1)[1].split("## Connections", 1)[0]
    print("\n===== %s: What drifted%s" % (report.relative_to(ROOT), section.rstrip()), flush=True)
    print("(%s, the last real run's report, is still there)" % (reports / "sip-attach-report.md").relative_to(ROOT),
          flush=True)


def show_calls(url: str) -> None:
    with urllib.request.urlopen("%s/_emulator/calls" % url, timeout=10) as answer:
        calls = json.load(answer)["data"]
    print("\n===== Test calls the emulator (Telnyx) answered: %d" % len(calls))
    for call in calls:
        print("%s: dialed %s, answered %s, Telnyx routes it to %s"
              % (call["connection_name"], call["user"], call["status"], call["destination_uri"]), flush=True)


def demo_status(reports: Path, env: dict) -> Path:
    """The read-only health check over the example inventory: the live state of every trunk, the status page.

    The example PBXs (example.com names) are never reachable, so Telnyx (the emulator) has registered none of
    them: the check fails naming each trunk and why, as an AWX schedule would report it, and writes the page."""
    args = ("telnyx.sip.status", "-i", "examples/inventory", "-e", "sip_attach_report_dir=%s" % reports,
            "-e", "sip_attach_status_metrics_file=%s" % (reports / "sip_attach.prom"))
    print("\n===== The health check: the live state of every trunk, read-only (fails naming the unhealthy ones)\n"
          "+ ansible-playbook %s" % " ".join(args), flush=True)
    rc = subprocess.call([str(Path(sys.executable).with_name("ansible-playbook")), *args], cwd=ROOT, env=env)
    page = reports / "sip-attach-status.html"
    if not page.is_file():
        raise SystemExit("the health check wrote no status page (ansible-playbook exited with %d)" % rc)
    outcome = "every trunk registered" if rc == 0 else "unhealthy trunks: the example PBXs cannot be reached"
    print("The health check exited with %d (%s)." % (rc, outcome))
    return page


def main() -> int:
    proc, url = start_emulator("--registration-delay", "0.5", "--registration-retry", "1")
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
        demo_drift(url, rollout, reports, env)
        demo_registration(env)
        demo_pbx_half(env)
        show_calls(url)
        page = demo_status(reports, env)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=10)
    print("Demo finished; the emulator is stopped.")
    print("Fleet status page: %s (open it in a browser; metrics in %s)" % (page, page.with_name("sip_attach.prom")))
    return 0


if __name__ == "__main__":
    sys.exit(main())
