"""Unit tests of the fleet status filters (plugins/filter/sip_attach_status.py): states, since when, grace and
threshold, escaping, the CSV and the Prometheus text file."""

import csv
import io
import json
import os
import shutil
import subprocess

import pytest

from ansible_collections.telnyx.sip.plugins.filter import sip_attach_status as s

pytestmark = pytest.mark.unit

APP = "assistant-3fa85f64-5717-4562-b3fc-2c963f66afa6"
T0 = 1767225600.0  # 2026-01-01T00:00:00Z


def row(host, trunk, site="paris", **extra):
    return dict(dict(pbx_host=host, site=site, trunk=trunk, state="present", connection_name="%s-%s" % (host, trunk),
                     destination_uri="1001@%s.sip.telnyx.com" % APP), **extra)


def status(word, response=None, registered=False, failures=0, **details):
    found = dict(registered=registered, sip_registration_status=word,
                 sip_registration_details=dict(dict(failures=failures), **details))
    if response:
        found["last_registration_response"] = response
    return found


def check(rows, live, report_dir=None, now=T0, **options):
    """sip_attach_status over ``live`` ({connection name: status, or None for no connection})."""
    connections = [dict(id=str(index), connection_name=name, active=not (st or {}).get("_inactive"),
                        internal_uac_settings=dict(destination_uri="1001@%s.sip.telnyx.com" % APP))
                   for index, (name, st) in enumerate(live.items()) if st is not None]
    registrations = [dict(connection_name=name, registration=st) for name, st in live.items() if st is not None]
    return s.sip_attach_status(rows, connections=connections, registrations=registrations,
                               report_dir=str(report_dir) if report_dir else None, now=now, **options)


def write(tmp_path, result):
    for item in result["files"]:
        (tmp_path / item["name"]).write_text(item["content"])


def states(result):
    return [(line["pbx_host"], line["trunk"], line["state"]) for line in
            csv.DictReader(io.StringIO(dict((f["name"], f["content"]) for f in result["files"])[s.CSV_NAME]))]


def test_each_kind_of_trunk_gets_its_state_and_problems_come_first():
    rows = [row("pbx-a", "ok"), row("pbx-a", "bad"), row("pbx-b", "off", site="austin"),
            row("pbx-b", "gone", site="austin"), row("pbx-c", "far", site="berlin"), row("pbx-c", "new", site="berlin"),
            row("pbx-c", "dunno", site="berlin")]
    live = {"pbx-a-ok": status("registered", "200 OK", registered=True),
            "pbx-a-bad": status("failed", "401 Unauthorized", failures=7),
            "pbx-b-off": dict(status("connection_disabled"), _inactive=True),
            "pbx-b-gone": None,
            "pbx-c-far": status("failed", "408 Request Timeout", failures=3),
            "pbx-c-new": status("standby"),
            "pbx-c-dunno": {"read_error": "HTTP 500"}}
    result = check(rows, live)
    assert states(result) == [
        ("pbx-a", "bad", "failed"), ("pbx-a", "ok", "registered"),
        ("pbx-b", "gone", "failed"), ("pbx-b", "off", "failed"),
        ("pbx-c", "far", "not-registered"), ("pbx-c", "new", "not-registered"), ("pbx-c", "dunno", "unknown")]
    assert result["counts"] == {"failed": 3, "not-registered": 2, "unknown": 1, "registered": 1, "total": 7}
    assert not result["healthy"] and len(result["unhealthy"]) == 6
    assert result["unhealthy"][0]["trunk"] == "bad" and "401 Unauthorized" in result["unhealthy"][0]["reason"]
    assert "no UAC connection" in [u for u in result["unhealthy"] if u["trunk"] == "gone"][0]["reason"]
    assert "inactive" in [u for u in result["unhealthy"] if u["trunk"] == "off"][0]["reason"]
    assert "host pbx-a, trunk bad (pbx-a-bad): failed, since 2026-01-01T00:00:00Z: the PBX answered 401" in result["msg"]
    assert check(rows, live, max_unhealthy=6)["healthy"]


def test_since_is_kept_while_the_state_holds_and_a_change_starts_a_grace_period(tmp_path):
    rows = [row("pbx-a", "main")]
    first = check(rows, {"pbx-a-main": status("registered", "200 OK", registered=True)}, tmp_path)
    write(tmp_path, first)
    # an hour later, still registered: since is the first look's time, not known before it
    again = check(rows, {"pbx-a-main": status("registered", "200 OK", registered=True)}, tmp_path, now=T0 + 3600,
                  metrics=True)
    assert 'sip_attach_trunk_state_seconds{host="pbx-a"' in again["metrics"] and "} 3600\n" in again["metrics"]
    write(tmp_path, again)
    # then the PBX refuses: the change is seen now; within the grace period it is not unhealthy
    broke = check(rows, {"pbx-a-main": status("failed", "403 Forbidden")}, tmp_path, now=T0 + 4000, grace=600)
    assert broke["healthy"] and broke["in_grace"] == 1 and broke["unhealthy"] == []
    write(tmp_path, broke)
    saved = json.loads((tmp_path / s.STATE_NAME).read_text())["trunks"]["pbx-a-main"]
    assert saved == {"state": "failed", "since": "2026-01-01T01:06:40Z", "known": True, "host": "pbx-a"}
    later = check(rows, {"pbx-a-main": status("failed", "403 Forbidden")}, tmp_path, now=T0 + 4700, grace=600)
    assert not later["healthy"] and later["unhealthy"][0]["since"] == "2026-01-01T01:06:40Z"
    # a trunk no earlier look saw is counted at once, whatever the grace: it may have been broken for days
    fresh = check([row("pbx-z", "x")], {"pbx-z-x": status("failed", "403 Forbidden")}, tmp_path, now=T0, grace=600)
    assert not fresh["healthy"]


def test_registered_since_comes_from_the_registrar_uptime_when_first_seen():
    uptime = int((T0 - 7200) * 1e6)
    result = check([row("pbx-a", "main")], {"pbx-a-main": status("registered", "200 OK", registered=True,
                                                                 uptime=uptime)}, metrics=True)
    assert "} 7200\n" in result["metrics"]


def test_user_data_is_escaped_in_the_page_csv_and_metrics():
    evil = '<img src="http://evil.example/x" onerror="alert(1)">'
    rows = [row("pbx-a", evil, site='</section><script>alert(2)</script>')]
    result = check(rows, {"pbx-a-" + evil: status("failed", '401 "><b>Unauthorized')}, metrics=True)
    page = result["files"][0]["content"]
    assert evil not in page and "<script>alert" not in page and '"><b>Unauthorized' not in page
    assert "&lt;img src=&quot;http://evil.example/x&quot;" in page
    assert page.count("<script>") == 1  # the page's own
    assert 'trunk="<img src=\\"http://evil.example/x\\" onerror=\\"alert(1)\\">"' in result["metrics"]


def test_a_spreadsheet_formula_in_a_value_is_quoted_in_the_csv():
    result = check([row("pbx-a", "=HYPERLINK(1)")], {"pbx-a-=HYPERLINK(1)": status("standby")})
    assert '"=HYPERLINK(1)"' in result["files"][1]["content"]


def test_the_role_view_maps_the_rollout_result():
    rows = [row("pbx-a", "ok", action="unchanged", id="1", registration_status="Registered"),
            row("pbx-a", "bad", action="failed", error="HTTP 422: username"),
            row("pbx-a", "wait", action="created", id="2", registration_status=None),
            row("pbx-a", "refused", action="created", id="3", registration_status="Failed")]
    result = s.sip_attach_status(rows, source="role", now=T0)
    assert sorted((u["trunk"], u["state"]) for u in result["unhealthy"]) == [
        ("bad", "failed"), ("refused", "failed"), ("wait", "unknown")]
    assert "ansible-playbook telnyx.sip.status" in result["files"][0]["content"]


def test_the_site_is_a_host_variable_or_the_most_specific_first_group():
    groups = {"all": ["a", "b", "c"], "ungrouped": [], "pbx": ["a", "b", "c"], "eu": ["a", "b"], "paris": ["a"],
              "berlin": ["b"], "us": ["c"], "ops": ["a", "c"]}
    hostvars = {"a": {"sip_attach_trunks": [{"name": "t", "extension": "1001", "password": "pw-123456",
                                             "application": APP}]},
                "b": {"site": "Berlin-1", "sip_attach_trunks": [{"name": "t", "extension": "1002",
                                                                 "password": "pw-123456", "application": APP}]},
                "c": {"sip_attach_trunks": [{"name": "t", "extension": "1003", "password": "pw-123456",
                                             "application": APP}]}}
    found = s.sip_attach_status_trunks(hostvars, ["a", "b", "c"], groups=groups, group_by="site")
    assert [(r["pbx_host"], r["site"]) for r in found["rows"]] == [("a", "paris"), ("b", "Berlin-1"), ("c", "us")]
    assert "pw-123456" not in json.dumps(found["rows"])
    targets = s.sip_attach_status_targets([{"id": 1, "connection_name": "a-t"}, {"id": 2, "connection_name": "x"}],
                                          found["rows"])
    assert targets == [{"id": "1", "connection_name": "a-t"}]


def test_the_metrics_are_valid_for_promtool():
    promtool = shutil.which("promtool")
    if promtool is None:
        if os.environ.get("CI"):
            pytest.fail("CI: promtool is not installed: run `make browser-tools`")
        pytest.skip("promtool is not installed: run `make browser-tools`")
    rows = [row("pbx-a", 'we"ird\\name'), row("pbx-b", "main", site="austin")]
    result = check(rows, {'pbx-a-we"ird\\name': status("registered", "200 OK", registered=True),
                          "pbx-b-main": status("failed", "401 Unauthorized", failures=2)}, metrics=True)
    done = subprocess.run([promtool, "check", "metrics"], input=result["metrics"], capture_output=True, text=True,
                          check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    assert 'sip_attach_trunks{state="registered"} 1' in result["metrics"]


def test_a_large_page_holds_every_row_in_groups_the_browser_can_skip():
    rows = [row("pbx-%03d" % index, "main") for index in range(250)]
    result = check(rows, dict(("pbx-%03d-main" % index, status("standby")) for index in range(250)))
    page = result["files"][0]["content"]
    assert page.count("<tr data-state=") == 250
    # rows in <tbody> groups of ROW_GROUP (Chromium lays out and paints only those on the screen), the last shorter
    assert page.count("<tbody>") == 2 and page.count('<tbody style="--n:50">') == 1
    assert "content-visibility:auto" in page
