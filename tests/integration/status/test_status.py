"""The fleet status (issue 22, docs/status.md): the read-only check `ansible-playbook telnyx.sip.status` against the
emulator, which registers for real to a local Kamailio PBX, with trunks failing in the ways a fleet sees them; and
the page it writes, opened in headless Chromium from the file.

One fleet, three sites (groups paris, austin and berlin under pbx):
- pbx-paris: main registers; sales has the wrong password on the PBX side (Kamailio answers 401 Unauthorized);
- pbx-austin: main registers; lab is an inactive connection (settings.active: false);
- pbx-berlin: main points at a PBX Telnyx cannot reach (standby, never registered); new was added to the
  inventory after the rollout (no connection at Telnyx).
"""

import csv
import io
import json
import os
import re
import shutil
import subprocess
import time

import pytest
import yaml

from tests.tools.browser import RecordingProxy, dump_dom, find_chromium, page_rows
from tests.tools.kamailio_pbx import KamailioPbx, find_kamailio

pytestmark = [pytest.mark.integration, pytest.mark.slow]

ASSISTANT = "assistant-3fa85f64-5717-4562-b3fc-2c963f66afa6"
USERS = {"ext201": "Right-201-secret", "ext202": "Right-202-secret", "ext203": "Right-203-secret"}
WRONG = "Wrong-202-secret"
PASSWORDS = list(USERS.values()) + [WRONG, "Lab-204-secret", "Berlin-301-secret", "Berlin-302-secret"]
FAST_SIP = ("--registration-delay", "0.2", "--sip-timeout", "1", "--registration-retry", "1")
UNHEALTHY = {("pbx-paris", "sales"): "failed", ("pbx-austin", "lab"): "failed", ("pbx-berlin", "main"): "not-registered",
             ("pbx-berlin", "new"): "failed"}


def _missing(message):
    if os.environ.get("CI"):
        pytest.fail("CI: " + message)
    pytest.skip(message)


@pytest.fixture
def pbx():
    if find_kamailio() is None:
        _missing("kamailio is not installed: run `make sip-tools`")
    kamailio = KamailioPbx(USERS).start()
    yield kamailio
    kamailio.stop()


def write_inventory(root, proxy, with_new=False):
    def trunk(name, user, password, **extra):
        return dict(name=name, extension=user[3:], username=user, password="{{ vault_%s }}" % user, **extra)

    hosts = {
        "paris": {"pbx-paris": {"sip_attach_trunks": [trunk("main", "ext201", None), trunk("sales", "ext202", None)]}},
        "austin": {"pbx-austin": {"sip_attach_trunks": [
            trunk("main", "ext203", None), trunk("lab", "ext204", None, settings={"active": False})]}},
        "berlin": {"pbx-berlin": {"sip_attach_trunks": [
            trunk("main", "ext301", None, proxy="pbx-berlin.example.net")]
            + ([trunk("new", "ext302", None, proxy="pbx-berlin.example.net")] if with_new else [])}},
    }
    (root / "group_vars" / "all").mkdir(parents=True, exist_ok=True)
    (root / "group_vars" / "all" / "vault.yml").write_text(yaml.safe_dump({
        "vault_ext201": USERS["ext201"], "vault_ext202": WRONG, "vault_ext203": USERS["ext203"],
        "vault_ext204": "Lab-204-secret", "vault_ext301": "Berlin-301-secret", "vault_ext302": "Berlin-302-secret"}))
    (root / "group_vars" / "pbx.yml").write_text(yaml.safe_dump({
        "sip_attach_defaults": {"proxy": proxy, "transport": "UDP", "application": ASSISTANT}}))
    (root / "hosts.yml").write_text(yaml.safe_dump({"pbx": {"children": dict(
        (site, {"hosts": site_hosts}) for site, site_hosts in hosts.items())}}))
    return root / "hosts.yml"


def wait_for_registrations(emulator, expected, timeout=30):
    """Until the registrar has an outcome for each connection of ``expected`` (name -> state)."""
    deadline = time.monotonic() + timeout
    while True:
        ids = dict((conn["connection_name"], conn["id"]) for conn in
                   emulator.call("GET", "/uac_connections", params={"page[size]": 250}, direct=True).json()["data"])
        seen = {}
        for name in expected:
            status = emulator.call("GET", "/sip_registration_status", direct=True, params={
                "credential_type": "uac_external_credential", "connection_id": ids[name]}).json()
            seen[name] = status.get("sip_registration_status")
        if seen == expected or time.monotonic() > deadline:
            assert seen == expected
            return
        time.sleep(0.3)


@pytest.fixture
def checked_fleet(tmp_path, run_playbook, make_emulator, pbx):
    """The fleet rolled out by the role, the registrations settled, then a trunk added: the check's starting point."""
    emulator = make_emulator(*FAST_SIP)
    root = tmp_path / "fleet"
    inventory = write_inventory(root, pbx.proxy)
    reports = tmp_path / "reports"
    play = {"hosts": "localhost", "gather_facts": False, "roles": [{"role": "telnyx.sip.sip_attach", "vars": {
        "sip_attach_hosts": "{{ groups['pbx'] }}", "sip_attach_report_dir": str(reports)}}]}
    rollout = run_playbook(play, "-i", str(inventory), base_url=emulator.api_url, api_key=emulator.api_key)
    assert rollout.rc == 0, rollout.stdout + rollout.stderr
    wait_for_registrations(emulator, {"pbx-paris-main": "registered", "pbx-paris-sales": "failed",
                                      "pbx-austin-main": "registered", "pbx-austin-lab": "connection_disabled"})
    write_inventory(root, pbx.proxy, with_new=True)
    return dict(emulator=emulator, inventory=inventory, reports=reports, rollout=rollout)


def run_status(run_playbook, fleet, *args):
    emulator = fleet["emulator"]
    before = len(emulator.requests())
    result = run_playbook.named("telnyx.sip.status", "-i", str(fleet["inventory"]),
                                "-e", "sip_attach_report_dir=%s" % fleet["reports"], *args,
                                base_url=emulator.api_url, api_key=emulator.api_key)
    return result, emulator.requests()[before:]


def status_rows(reports):
    return list(csv.DictReader(io.StringIO((reports / "sip-attach-status.csv").read_text())))


def test_the_role_writes_the_status_page_and_sets_the_awx_stats(checked_fleet):
    reports = checked_fleet["reports"]
    page = (reports / "sip-attach-status.html").read_text()
    rows = status_rows(reports)
    # no wait for registration in this run: the role's page says what the rollout saw, and where to read it live
    assert len(rows) == 5 and "ansible-playbook telnyx.sip.status" in page
    assert 'data-count="unknown"><b>5</b>' in page
    stats = checked_fleet["rollout"].task(
        "telnyx.sip.sip_attach : Give AWX the totals and the unhealthy trunks (set_stats, for a workflow to branch on)")["ansible_stats"]
    assert stats["data"]["sip_attach_status"]["counts"]["total"] == 5
    assert stats["data"]["sip_attach_status"]["actions"]["created"] == 5


def test_the_check_fails_naming_each_unhealthy_trunk_and_sends_only_reads(checked_fleet, run_playbook, tmp_path):
    metrics = tmp_path / "textfile" / "sip_attach.prom"
    metrics.parent.mkdir()
    result, requests = run_status(run_playbook, checked_fleet, "-e", "sip_attach_status_metrics_file=%s" % metrics)
    out = result.stdout + result.stderr
    assert result.rc != 0, out
    assert {entry["method"] for entry in requests} == {"GET"}, requests
    # one listing, then one status read per trunk that has a connection
    assert len([e for e in requests if e["path"] == "/v2/sip_registration_status"]) == 5
    failure = result.task("Name the unhealthy trunks")["msg"]
    assert "4 unhealthy trunks (at most 0 allowed)" in failure
    assert re.search(r"host pbx-paris, trunk sales \(pbx-paris-sales\): failed, since \S+: the PBX answered "
                     r"401 Unauthorized: the PBX refused the credentials", failure), failure
    assert "host pbx-austin, trunk lab (pbx-austin-lab): failed" in failure and "inactive (active: false)" in failure
    assert "host pbx-berlin, trunk main (pbx-berlin-main): not registered" in failure
    assert "host pbx-berlin, trunk new (pbx-berlin-new): failed" in failure and "no UAC connection" in failure
    assert "pbx-paris, trunk main" not in failure and "pbx-austin, trunk main" not in failure
    rows = status_rows(checked_fleet["reports"])
    assert dict(((row["pbx_host"], row["trunk"]), row["state"]) for row in rows if row["state"] != "registered") \
        == UNHEALTHY
    assert {(row["pbx_host"], row["site"]) for row in rows} == {
        ("pbx-paris", "paris"), ("pbx-austin", "austin"), ("pbx-berlin", "berlin")}
    # the AWX stats: totals and the unhealthy trunks
    stats = result.task("Give AWX the totals and the unhealthy trunks (set_stats, for a workflow to branch on)")
    data = stats["ansible_stats"]["data"]["sip_attach_status"]
    assert data["counts"] == {"registered": 2, "not-registered": 1, "failed": 3, "unknown": 0, "total": 6}
    assert data["healthy"] is False and data["unhealthy_count"] == 4
    # the metrics: valid for Prometheus, one series per trunk and the totals
    text = metrics.read_text()
    assert 'sip_attach_trunk_registered{host="pbx-paris",site="paris",trunk="main",connection="pbx-paris-main",' \
           'application="%s"} 1' % ASSISTANT in text
    assert 'sip_attach_trunks{state="failed"} 3' in text
    promtool = shutil.which("promtool")
    if promtool is None:
        _missing("promtool is not installed: run `make browser-tools` (apt-get install -y prometheus)")
    checked = subprocess.run([promtool, "check", "metrics"], input=text, capture_output=True, text=True, check=False)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    # no password anywhere the check wrote
    written = "".join(path.read_text() for path in checked_fleet["reports"].iterdir()) + text + out
    assert not [secret for secret in PASSWORDS if secret in written]


def test_the_localhost_mode_reads_the_same_and_a_threshold_lets_the_check_pass(checked_fleet, run_playbook):
    result, requests = run_status(run_playbook, checked_fleet, "-e", "sip_attach_hosts=pbx",
                                  "-e", "sip_attach_status_max_unhealthy=4", "--check")
    assert result.rc == 0, result.stdout + result.stderr
    assert {entry["method"] for entry in requests} == {"GET"}
    assert "6 trunks on 3 PBX hosts: 2 registered, 1 not registered, 3 failed, 0 unknown" in result.stdout
    # the states were seen before by the first check of this test's fleet? no: this is its first, all first seen
    state = json.loads((checked_fleet["reports"] / "sip-attach-status-state.json").read_text())
    assert state["trunks"]["pbx-paris-sales"]["state"] == "failed"


def test_the_page_in_a_browser_agrees_with_the_csv_filters_and_fetches_nothing(checked_fleet, run_playbook):
    if find_chromium() is None:
        _missing("chromium is not installed: run `make browser-tools` (apt-get install -y chromium)")
    run_status(run_playbook, checked_fleet)
    reports = checked_fleet["reports"]
    page = reports / "sip-attach-status.html"
    text = page.read_text()
    assert not re.search(r"https?:|//[a-z0-9]|src=|href=\"(?!#)", text, re.IGNORECASE)
    assert "Content-Security-Policy" in text and "default-src 'none'" in text
    assert not [secret for secret in PASSWORDS if secret in text]
    expected = status_rows(reports)
    counts = dict((state, sum(1 for row in expected if row["state"] == state))
                  for state in ("registered", "not-registered", "failed", "unknown"))
    with RecordingProxy() as proxy:
        rows, shown, root = page_rows(dump_dom(page, proxy_port=proxy.port))
        assert shown == counts
        assert len(rows) == len(expected) and not [row for row in rows if "hidden" in row]
        # problems first: the trunk the PBX refuses with 401, with its last answer
        assert (rows[0]["data-host"], rows[0]["data-trunk"], rows[0]["data-state"]) == ("pbx-paris", "sales", "failed")
        assert "401 Unauthorized" in rows[0]["data-telnyx"]
        for state in counts:
            rows, _shown, _root = page_rows(dump_dom(page, "state=" + state, proxy_port=proxy.port))
            visible = sorted((row["data-host"], row["data-trunk"]) for row in rows if "hidden" not in row)
            assert visible == sorted((row["pbx_host"], row["trunk"]) for row in expected if row["state"] == state)
        rows, _shown, _root = page_rows(dump_dom(page, "site=berlin", proxy_port=proxy.port))
        assert sorted(row["data-trunk"] for row in rows if "hidden" not in row) == ["main", "new"]
        rows, _shown, _root = page_rows(dump_dom(page, "q=401", proxy_port=proxy.port))
        assert [(row["data-host"], row["data-trunk"]) for row in rows if "hidden" not in row] == [("pbx-paris", "sales")]
        # the proxy does catch what a page fetches (Chromium's own services aside, which it contacts for any page)
        control = page.with_name("control.html")
        control.write_text('<html><body><img src="http://probe.test/pixel.png"></body></html>')
        dump_dom(control, proxy_port=proxy.port)
        time.sleep(0.5)
    assert proxy.page_attempts() == ["GET http://probe.test/pixel.png HTTP/1.1"], proxy.page_attempts()
