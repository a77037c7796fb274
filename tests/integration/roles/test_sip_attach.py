"""Integration tests of the telnyx.sip.sip_attach role: real ansible-playbook runs against the emulator.

Each test generates an inventory of 50 PBX hosts with 1 to 3 trunks each in tmp_path (passwords as
``{{ vault_* }}`` references to a group_vars file, like a vault), runs the role, and checks the
requests the emulator logged and the report files.
"""

import csv
import io
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time

import pytest
import yaml

pytestmark = [pytest.mark.integration, pytest.mark.slow]

HOSTS = 50
ASSISTANT = "assistant-3fa85f64-5717-4562-b3fc-2c963f66afa6"
CONVERGE = "Converge the UAC connections of every trunk of the play's hosts"
WORKSHEET_COLUMNS = ["pbx_host", "trunk", "connection_name", "state", "action", "id", "fqdn", "user_name",
                     "destination_uri", "registration_status", "sip_domain", "proxy", "transport", "username",
                     "auth_username", "password_source", "error", "pbx", "pbx_registration", "test_call", "changes",
                     "adopted"]
REPORT, DRIFT_REPORT = "sip-attach-report", "sip-attach-drift-report"  # a real run's files, a check-mode run's


def host_name(index):
    return "pbx%03d" % index


def make_trunks(index):
    """1 to 3 trunks per host; the second one (if any) uses a full destination_uri and a sip: proxy."""
    trunks = []
    for number in range(index % 3 + 1):
        extension = "%d%03d%d" % (1, index, number)
        trunk = {"name": "t%d" % number, "password": "{{ vault_%s_t%d }}" % (host_name(index), number)}
        if number == 1:
            trunk.update(destination_uri="%s@cc-app-%d.sip.telnyx.com" % (extension, index),
                         username="user%s" % extension, auth_username="auth%s" % extension,
                         proxy="sip:voice-%s.example.net:5061" % host_name(index))
        else:
            trunk["extension"] = extension
        trunks.append(trunk)
    return trunks


def password(host, number):
    return "Pw-%s-t%d-secret" % (host, number)


class Fleet:
    """An inventory in tmp_path, the playbook that runs the role on it, and helpers to read the outcome."""

    def __init__(self, tmp_path, run_playbook, emulator, hosts=HOSTS, trunks=make_trunks):
        self.root = tmp_path / "fleet"
        self.reports = tmp_path / "reports"
        self.run_playbook = run_playbook
        self.emulator = emulator
        self.trunks = dict((host_name(i), trunks(i)) for i in range(hosts))
        (self.root / "group_vars" / "all").mkdir(parents=True)
        secrets = dict(("vault_%s_t%d" % (host, n), password(host, n))
                       for host, trunks in self.trunks.items() for n in range(len(trunks)))
        self._dump("group_vars/all/secrets.yml", secrets)
        self._dump("group_vars/pbx.yml", {"sip_attach_defaults": {"transport": "TCP", "application": ASSISTANT}})
        self.write_inventory()

    def _dump(self, relative, data):
        (self.root / relative).write_text(yaml.safe_dump(data, sort_keys=False))

    def write_inventory(self):
        hosts = dict((host, {"ansible_host": "%s.example.com" % host, "sip_attach_trunks": trunks})
                     for host, trunks in self.trunks.items())
        self._dump("hosts.yml", {"pbx": {"hosts": hosts}})

    @property
    def trunk_count(self):
        return sum(len(trunks) for trunks in self.trunks.values())

    def secrets(self):
        return [password(host, n) for host, trunks in self.trunks.items() for n in range(len(trunks))]

    def play(self, role_vars=None, post_tasks=None, localhost=False):
        """The role in a play on the PBX hosts, or with ``localhost`` in the localhost mode (sip_attach_hosts)."""
        role_vars = dict({"sip_attach_report_dir": str(self.reports)}, **(role_vars or {}))
        if localhost:
            role_vars.setdefault("sip_attach_hosts", "{{ groups['pbx'] }}")
        role = {"role": "telnyx.sip.sip_attach", "vars": role_vars}
        play = {"name": "sip attach", "hosts": "localhost" if localhost else "pbx", "gather_facts": False,
                "roles": [role]}
        if post_tasks:
            play["post_tasks"] = post_tasks
        return play

    def run(self, *args, role_vars=None, post_tasks=None, localhost=False, **options):
        return self.run_playbook(self.play(role_vars, post_tasks, localhost), "-i", str(self.root / "hosts.yml"), *args,
                                 **options)

    def rollout(self, *args, **kwargs):
        result = self.run(*args, **kwargs)
        assert result.rc == 0, result.stdout + result.stderr
        return result

    def report_rows(self, name=REPORT):
        text = (self.reports / (name + ".csv")).read_text()
        return list(csv.DictReader(io.StringIO(text)))

    def markdown(self, name=REPORT):
        return (self.reports / (name + ".md")).read_text()

    def writes(self):
        return [(entry["method"], entry["path"]) for entry in self.emulator.writes()]


@pytest.fixture
def fleet(tmp_path, run_playbook, emulator):
    return Fleet(tmp_path, run_playbook, emulator)


def test_first_rollout_creates_one_connection_per_trunk(fleet, emulator):
    result = fleet.rollout(post_tasks=[{
        "name": "read my results", "ansible.builtin.copy": {
            "content": "{{ sip_attach_my_results | to_json }}", "dest": str(fleet.root / "mine.json"), "mode": "0644"},
        "delegate_to": "localhost", "when": "inventory_hostname == 'pbx002'"}])
    writes = fleet.writes()
    assert len(writes) == fleet.trunk_count == 99
    assert set(writes) == {("POST", "/v2/uac_connections")}
    # one paginated read, no per-connection GET
    reads = [entry for entry in emulator.requests() if entry["method"] == "GET"]
    assert all(entry["path"] == "/v2/uac_connections" for entry in reads)
    rows = fleet.report_rows()
    assert [row["action"] for row in rows] == ["created"] * fleet.trunk_count
    assert all(row["id"] and row["fqdn"] for row in rows)
    # the role composed connection names and destinations
    by_name = dict((row["connection_name"], row) for row in rows)
    assert by_name["pbx002-t0"]["destination_uri"] == "10020@%s.sip.telnyx.com" % ASSISTANT
    assert by_name["pbx002-t1"]["destination_uri"] == "10021@cc-app-2.sip.telnyx.com"
    assert by_name["pbx002-t1"]["proxy"] == "sip:voice-pbx002.example.net:5061"
    assert by_name["pbx002-t0"]["proxy"] == "pbx002.example.com"
    # the API holds the managed tag and the defaults
    listed = emulator.call("GET", "/uac_connections", params={"page[size]": 250}).json()["data"]
    assert len(listed) == 99
    assert all("sip-attach" in conn["tags"] for conn in listed)
    assert all(conn["external_uac_settings"]["transport"] == "TCP" for conn in listed)
    # sip_attach_my_results: this host's lines keyed by trunk name, without a per-host task in the role
    mine = json.loads((fleet.root / "mine.json").read_text())
    assert sorted(mine) == ["t0", "t1", "t2"]
    assert mine["t1"]["id"] == by_name["pbx002-t1"]["id"] and mine["t1"]["action"] == "created"
    # the role's only per-host task is the argument validation: every other task ran once
    per_host = [task for play in result.data["plays"] for task in play["tasks"] if len(task["hosts"]) > 1]
    assert [task["task"]["action"] for task in per_host] == ["ansible.builtin.validate_argument_spec",
                                                             "ansible.builtin.copy"]


def test_rerun_without_change_sends_no_write(fleet, emulator):
    fleet.rollout()
    before = len(emulator.requests())
    fleet.rollout()
    log = emulator.requests()[before:]
    assert [entry for entry in log if entry["method"] != "GET"] == []
    assert [row["action"] for row in fleet.report_rows()] == ["unchanged"] * fleet.trunk_count


def test_one_destination_changed_sends_exactly_one_patch(fleet, emulator):
    fleet.rollout()
    count = len(emulator.writes())
    fleet.trunks["pbx010"][0]["extension"] = "4242"
    fleet.trunks["pbx010"][0]["username"] = "10100"  # the registration user stays the same
    fleet.write_inventory()
    fleet.rollout()
    patches = emulator.writes()[count:]
    assert [entry["method"] for entry in patches] == ["PATCH"]
    assert patches[0]["body"] == {"internal_uac_settings": {"destination_uri": "4242@%s.sip.telnyx.com" % ASSISTANT}}
    actions = dict((row["connection_name"], row["action"]) for row in fleet.report_rows())
    assert actions.pop("pbx010-t0") == "updated"
    assert set(actions.values()) == {"unchanged"}


def test_removed_trunk_is_purged_and_unmanaged_connections_survive(fleet, emulator):
    unmanaged = emulator.call("POST", "/uac_connections", {
        "connection_name": "pbx049-t9",  # looks like ours, but carries no managed tag
        "external_uac_settings": {"username": "9999", "password": "unmanaged-pw", "proxy": "pbx.example.org"},
        "internal_uac_settings": {"destination_uri": "9999@%s.sip.telnyx.com" % ASSISTANT},
    })
    assert unmanaged.status_code == 201, unmanaged.text
    fleet.rollout()
    count = len(emulator.writes())
    removed = fleet.trunks["pbx005"].pop()  # pbx005 has 3 trunks: t2 leaves the inventory
    fleet.write_inventory()
    fleet.rollout(role_vars={"sip_attach_purge": True})
    deletes = emulator.writes()[count:]
    assert [entry["method"] for entry in deletes] == ["DELETE"]
    names = [conn["connection_name"] for conn in
             emulator.call("GET", "/uac_connections", params={"page[size]": 250}).json()["data"]]
    assert "pbx005-%s" % removed["name"] not in names
    assert "pbx049-t9" in names and len(names) == 99
    purged = [row for row in fleet.report_rows() if row["connection_name"] == "pbx005-t2"]
    assert [(row["pbx_host"], row["action"]) for row in purged] == [("", "deleted")]


def test_purge_in_a_limited_play_deletes_only_the_limited_hosts_removed_trunks(fleet, emulator):
    fleet.rollout()
    count = len(emulator.writes())
    inside = fleet.trunks["pbx005"].pop()  # pbx005 is in the limit
    outside = fleet.trunks["pbx041"].pop()  # pbx041 is not: its trunk stays until a run that covers it
    fleet.write_inventory()
    fleet.rollout("--limit", "pbx00*", role_vars={"sip_attach_purge": True})
    deleted = [entry["path"] for entry in emulator.writes()[count:]]
    names = dict((conn["id"], conn["connection_name"]) for conn in
                 emulator.call("GET", "/uac_connections", params={"page[size]": 250}).json()["data"])
    assert len(deleted) == 1 and "pbx005-%s" % inside["name"] not in names.values()
    assert "pbx041-%s" % outside["name"] in names.values() and len(names) == fleet.trunk_count + 1


def test_limit_rolls_out_a_wave(fleet, emulator):
    fleet.rollout("--limit", "pbx00*")
    wave = sorted("%s-%s" % (host_name(i), trunk["name"]) for i in range(10) for trunk in fleet.trunks[host_name(i)])
    assert len(fleet.writes()) == len(wave)
    assert set(fleet.writes()) == {("POST", "/v2/uac_connections")}
    # exactly the trunks of pbx000..pbx009 were created, none of the hosts outside the limit
    listed = emulator.call("GET", "/uac_connections", params={"page[size]": 250}).json()["data"]
    assert sorted(conn["connection_name"] for conn in listed) == wave
    assert sorted(row["connection_name"] for row in fleet.report_rows()) == wave


def test_check_mode_writes_nothing_and_reports_the_drift(fleet, emulator):
    fleet.rollout("--check")
    assert fleet.writes() == []
    assert [row["action"] for row in fleet.report_rows(DRIFT_REPORT)] == ["created"] * fleet.trunk_count
    assert fleet.markdown(DRIFT_REPORT).startswith("# SIP Attach drift report (check mode")
    assert not (fleet.reports / (REPORT + ".csv")).exists()  # no real run yet: no worksheet
    fleet.rollout()
    count = len(emulator.writes())
    fleet.trunks["pbx020"][0]["extension"] = "5555"
    fleet.trunks["pbx020"][0]["username"] = "10200"
    fleet.write_inventory()
    fleet.rollout("--check")
    assert len(emulator.writes()) == count
    drift = [(row["connection_name"], row["action"], row["changes"]) for row in fleet.report_rows(DRIFT_REPORT)
             if row["action"] != "unchanged"]
    assert drift == [("pbx020-t0", "updated", "internal_uac_settings.destination_uri: 10200@%s.sip.telnyx.com -> "
                      "5555@%s.sip.telnyx.com" % (ASSISTANT, ASSISTANT))]
    # the real run's report is still the real run's
    assert set(row["action"] for row in fleet.report_rows()) == {"created"}


@pytest.mark.leak
def test_report_is_a_worksheet_without_passwords(fleet):
    result = fleet.rollout()
    rows = fleet.report_rows()
    assert list(rows[0]) == WORKSHEET_COLUMNS
    assert len(rows) == fleet.trunk_count
    expected = [(host, trunk["name"]) for host, trunks in fleet.trunks.items() for trunk in trunks]
    assert [(row["pbx_host"], row["trunk"]) for row in rows] == expected
    by_name = dict((row["connection_name"], row) for row in rows)
    simple, custom = by_name["pbx004-t0"], by_name["pbx004-t1"]
    assert (simple["sip_domain"], simple["username"], simple["auth_username"], simple["transport"]) == \
        ("pbx004.example.com", "10040", "", "TCP")
    assert simple["password_source"] == "inventory var vault_pbx004_t0 (via sip_attach_trunks[t0].password)"
    assert (custom["sip_domain"], custom["username"], custom["auth_username"]) == \
        ("voice-pbx004.example.net", "user10041", "auth10041")
    markdown = fleet.markdown()
    assert "## PBX worksheet" in markdown
    assert "| pbx004 | t1 | voice-pbx004.example.net | sip:voice-pbx004.example.net:5061 | TCP | user10041 | auth10041 |" \
        in markdown
    text = markdown + (fleet.reports / "sip-attach-report.csv").read_text() + result.stdout + result.stderr
    for secret in fleet.secrets():
        assert secret not in text


def test_destination_uri_and_extension_together_fail_before_any_request(fleet, emulator):
    fleet.trunks["pbx007"][0]["destination_uri"] = "1070@%s.sip.telnyx.com" % ASSISTANT
    fleet.write_inventory()
    result = fleet.run()
    assert result.rc != 0
    output = result.stdout + result.stderr
    assert "Nothing was sent: 1 problem in the input of the sip_attach role." in output
    assert ("- host pbx007, trunk t0: destination_uri and extension are both set: give destination_uri, or extension "
            "with application") in output
    assert emulator.requests() == []


def test_typo_in_a_trunk_key_fails_before_any_request_and_the_report_says_nothing_was_sent(fleet, emulator):
    fleet.trunks["pbx013"][0]["pasword"] = fleet.trunks["pbx013"][0].pop("password")
    fleet.write_inventory()
    result = fleet.run()
    assert result.rc != 0
    output = result.stdout + result.stderr
    assert "- host pbx013, trunk t0: unknown key pasword (did you mean password?)" in output
    assert emulator.requests() == []
    rows = fleet.report_rows()
    assert len(rows) == fleet.trunk_count and set(row["action"] for row in rows) == {"not sent"}
    assert [row["error"].split(";")[0] for row in rows if row["error"]] == ["unknown key pasword (did you mean password?)"]
    assert "- not sent: %d" % fleet.trunk_count in fleet.markdown()


# -- drift, field by field, over 1000 trunks ----------------------------------------------------------------------
DRIFT_HOSTS, DRIFT_TRUNKS = 100, 10  # the per-host cost dominates: few hosts, many trunks each
SHOW_CHANGES = "telnyx.sip.sip_attach : Show what changed (or would change, in check mode)"
EXTERNAL_KEYS = ("proxy", "transport", "username", "auth_username", "expiration_sec", "from_user", "outbound_proxy",
                 "user_agent")


def drift_trunks(index):
    """10 trunks a host, each with settings the role manages beyond the PBX side (tags, active, anchorsite, DTMF)."""
    return [{"name": "t%d" % number, "extension": "2%03d%d" % (index, number),
             "password": "{{ vault_%s_t%d }}" % (host_name(index), number),
             "settings": {"tags": ["hq"], "active": True, "anchorsite_override": "Chicago, IL",
                          "dtmf_type": "RFC 2833"}}
            for number in range(DRIFT_TRUNKS)]


def behind_the_roles_back(emulator, connection, **changes):
    """PATCH a connection through the API, as someone in the portal would; external_uac_settings is sent whole
    (the API replaces nested objects), without its password."""
    body = dict(changes)
    if "external_uac_settings" in changes:
        current = connection["external_uac_settings"]
        body["external_uac_settings"] = dict(
            ((key, current[key]) for key in EXTERNAL_KEYS if current.get(key) is not None), **changes["external_uac_settings"])
    answer = emulator.call("PATCH", "/uac_connections/%s" % connection["id"], body)
    assert answer.status_code == 200, answer.text


def test_check_names_exactly_the_connections_and_fields_changed_behind_its_back(tmp_path, run_playbook, emulator):
    fleet = Fleet(tmp_path, run_playbook, emulator, hosts=DRIFT_HOSTS, trunks=drift_trunks)
    assert fleet.trunk_count == 1000
    fleet.rollout()
    assert len(fleet.writes()) == 1000
    rollout_report = {name: (fleet.reports / name).read_text() for name in (REPORT + ".md", REPORT + ".csv")}
    assert rollout_report[REPORT + ".md"].count("| created |") == 1000
    listed = emulator.call("GET", "/uac_connections", params={"page[size]": 250, "page[number]": 1}).json()
    pages = listed["meta"]["total_pages"]
    connections = listed["data"]
    for page in range(2, pages + 1):
        connections += emulator.call("GET", "/uac_connections",
                                     params={"page[size]": 250, "page[number]": page}).json()["data"]
    by_name = dict((conn["connection_name"], conn) for conn in connections)
    # the managed tag, and the owner: the PBX host whose trunk it is
    assert len(by_name) == 1000 and by_name["pbx042-t7"]["tags"] == ["hq", "sip-attach", "sip-attach:owner=pbx042"]

    destination = "20055@%s.sip.telnyx.com" % ASSISTANT
    drifted = {  # connection -> (the change made through the API, the fields the role must name: before, after)
        "pbx003-t0": ({"external_uac_settings": {"transport": "UDP"}},
                      {"external_uac_settings.transport": ("UDP", "TCP")}),
        "pbx011-t4": ({"tags": ["sip-attach", "sip-attach:owner=pbx011"]},
                      {"tags": (["sip-attach", "sip-attach:owner=pbx011"],
                                ["hq", "sip-attach", "sip-attach:owner=pbx011"])}),
        "pbx020-t9": ({"active": False}, {"active": (False, True)}),
        "pbx031-t2": ({"anchorsite_override": "Ashburn, VA"}, {"anchorsite_override": ("Ashburn, VA", "Chicago, IL")}),
        "pbx045-t5": ({"dtmf_type": "Inband"}, {"dtmf_type": ("Inband", "RFC 2833")}),
        "pbx052-t1": ({"external_uac_settings": {"proxy": "sip:moved.example.net:5080"}},
                      {"external_uac_settings.proxy": ("sip:moved.example.net:5080", "pbx052.example.com")}),
        "pbx066-t8": ({"internal_uac_settings": {"destination_uri": destination}},
                      {"internal_uac_settings.destination_uri": (destination,
                                                                 "20668@%s.sip.telnyx.com" % ASSISTANT)}),
        "pbx070-t3": ({"tags": ["hq", "sip-attach", "portal", "sip-attach:owner=pbx070"]},
                      {"tags": (["hq", "sip-attach", "portal", "sip-attach:owner=pbx070"],
                                ["hq", "sip-attach", "sip-attach:owner=pbx070"])}),
        "pbx088-t6": ({"active": False, "external_uac_settings": {"username": "ops8886"}},
                      {"active": (False, True), "external_uac_settings.username": ("ops8886", "20886")}),
        "pbx099-t0": ({"dtmf_type": "SIP INFO", "anchorsite_override": "London, UK"},
                      {"anchorsite_override": ("London, UK", "Chicago, IL"), "dtmf_type": ("SIP INFO", "RFC 2833")}),
    }
    for name, (change, _expected) in drifted.items():
        behind_the_roles_back(emulator, by_name[name], **change)
    before = len(emulator.requests())

    result = fleet.rollout("--check", post_tasks=[{
        "name": "keep the module result", "ansible.builtin.copy": {
            "content": "{{ sip_attach_result.results | to_json }}", "dest": str(tmp_path / "results.json"),
            "mode": "0644"},
        "delegate_to": "localhost", "run_once": True, "check_mode": False}])

    # nothing was written: the emulator saw only reads
    assert set(entry["method"] for entry in emulator.requests()[before:]) == {"GET"}
    expected = dict((name, fields) for name, (_change, fields) in drifted.items())

    # the module result: exactly those 10 are updated, each with exactly its fields, before and after
    lines = json.loads((tmp_path / "results.json").read_text())
    updated = dict((line["connection_name"], line["changes"]) for line in lines if line["action"] != "unchanged")
    assert sorted(updated) == sorted(expected)
    for name, changes in updated.items():
        assert set(line["action"] for line in lines if line["connection_name"] == name) == {"updated"}
        assert dict((c["field"], (c["before"], c["after"])) for c in changes) == expected[name], name
    assert all(line["changes"] == [] for line in lines if line["action"] == "unchanged")

    # the play output: one line per drifted connection naming its fields
    shown = result.task(SHOW_CHANGES, host="pbx000")["msg"]
    assert shown["counts"]["updated"] == 10 and shown["counts"]["unchanged"] == 990 and shown["not_shown"] == 0
    assert sorted(line.split(":", 1)[0] for line in shown["changes"]) == sorted(expected)
    assert "pbx003-t0: updated (external_uac_settings.transport: UDP -> TCP)" in shown["changes"]
    assert ("pbx011-t4: updated (tags: [sip-attach, sip-attach:owner=pbx011] -> [hq, sip-attach, "
            "sip-attach:owner=pbx011])") in shown["changes"]
    assert "pbx088-t6: updated (active: false -> true; external_uac_settings.username: ops8886 -> 20886)" \
        in shown["changes"]
    assert "pbx088-t6: updated (active: false -> true; external_uac_settings.username: ops8886 -> 20886)" \
        in result.stdout

    # the drift report says the same, under its own names
    rows = fleet.report_rows(DRIFT_REPORT)
    assert len(rows) == 1000
    reported = dict((row["connection_name"], row["changes"]) for row in rows if row["changes"])
    assert sorted(reported) == sorted(expected)
    assert reported["pbx099-t0"] == "anchorsite_override: London, UK -> Chicago, IL; dtmf_type: SIP INFO -> RFC 2833"
    assert reported["pbx052-t1"] == "external_uac_settings.proxy: sip:moved.example.net:5080 -> pbx052.example.com"
    markdown = fleet.markdown(DRIFT_REPORT)
    section = markdown.split("## What drifted", 1)[1].split("## Connections", 1)[0]
    table = [line.split(" | ") for line in section.splitlines() if line.startswith("| pbx")]
    assert sorted((cells[0][2:], cells[3]) for cells in table) == sorted(
        (name, field) for name, fields in expected.items() for field in fields)
    assert "| pbx003-t0 | pbx003 | t0 | external_uac_settings.transport | UDP | TCP |" in section
    # the real rollout's report (the PBX team's worksheet) is untouched
    assert {name: (fleet.reports / name).read_text() for name in rollout_report} == rollout_report
    for secret in fleet.secrets():
        assert secret not in markdown and secret not in result.stdout


def test_a_run_stopped_midway_leaves_its_report_in_progress_not_the_last_one(tmp_path, run_playbook, make_emulator):
    # PATCHes act at once and answer 60 s later: the run is stopped while one is held
    slow = make_emulator("--slow-rate", "1", "--slow-ms", "60000", "--fault-methods", "PATCH", fresh=True)
    fleet = Fleet(tmp_path, run_playbook, slow, hosts=3)
    assert fleet.run(base_url=slow.api_url).rc == 0
    report = fleet.reports / (REPORT + ".md")
    finished = report.read_text()
    assert "- Run started " in finished and "In progress" not in finished
    fleet.trunks["pbx001"][0]["extension"] = "7777"
    fleet.trunks["pbx001"][0]["username"] = "10010"
    fleet.write_inventory()
    target = [conn for conn in slow.call("GET", "/uac_connections").json()["data"]
              if conn["connection_name"] == "pbx001-t0"][0]

    playbook = tmp_path / "stopped.yml"
    playbook.write_text(yaml.safe_dump([fleet.play()]))
    command = [run_playbook.binary, "-i", str(fleet.root / "hosts.yml"), "-c", "local",
               "-e", json.dumps({"ansible_python_interpreter": sys.executable}), str(playbook)]
    env = run_playbook.environment(tmp_path / "stopped.json", base_url=slow.api_url)
    with open(tmp_path / "stopped.log", "w") as log:
        proc = subprocess.Popen(command, cwd=tmp_path, env=env, stdout=log, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and proc.poll() is None:
            now = slow.call("GET", "/uac_connections/%s" % target["id"], direct=True).json()["data"]
            if now["internal_uac_settings"]["destination_uri"].startswith("7777@"):
                break  # the PATCH acted; its answer is held
            time.sleep(0.2)
        else:
            pytest.fail("the PATCH never reached the API:\n" + (tmp_path / "stopped.log").read_text())
        os.killpg(proc.pid, signal.SIGINT)  # Ctrl-C
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)

    interrupted = report.read_text()
    assert interrupted != finished
    assert interrupted.startswith("# SIP Attach rollout report\n\n**In progress**: this run started at ")
    assert "- Run started " not in interrupted and "## PBX worksheet" not in interrupted
    rows = fleet.report_rows()
    assert len(rows) == fleet.trunk_count and set(row["action"] for row in rows) == {"in progress"}
    assert all(row["id"] == "" for row in rows)


# -- the localhost mode (sip_attach_hosts): the role once, on the controller, for the hosts it lists ---------------
def test_localhost_mode_converges_and_purges_as_the_per_host_mode_does_and_reruns_without_a_write(fleet, emulator):
    result = fleet.rollout(localhost=True)
    assert set(result.stats) == {"localhost"}, "the PBX hosts are not in the play"
    assert len(fleet.writes()) == fleet.trunk_count == 99 and set(fleet.writes()) == {("POST", "/v2/uac_connections")}
    rows = fleet.report_rows()
    expected = [(host, trunk["name"]) for host, trunks in fleet.trunks.items() for trunk in trunks]
    assert [(row["pbx_host"], row["trunk"], row["action"]) for row in rows] == \
        [(host, name, "created") for host, name in expected]
    by_name = dict((row["connection_name"], row) for row in rows)
    assert by_name["pbx002-t1"]["proxy"] == "sip:voice-pbx002.example.net:5061"
    assert by_name["pbx002-t0"]["proxy"] == "pbx002.example.com"  # each host's own ansible_host
    # the per-host mode finds nothing to do: both modes build the same connections
    count = len(emulator.writes())
    fleet.rollout()
    assert len(emulator.writes()) == count
    again = fleet.rollout(localhost=True)
    assert len(emulator.writes()) == count and again.stats["localhost"]["changed"] == 0
    assert set(row["action"] for row in fleet.report_rows()) == {"unchanged"}
    # purge: a trunk removed from a listed host is deleted, and nothing else
    removed = fleet.trunks["pbx005"].pop()
    fleet.write_inventory()
    fleet.rollout(localhost=True, role_vars={"sip_attach_purge": True})
    assert [(entry["method"], entry["path"].rsplit("/", 1)[0]) for entry in emulator.writes()[count:]] == \
        [("DELETE", "/v2/uac_connections")]
    names = [conn["connection_name"] for conn in
             emulator.call("GET", "/uac_connections", params={"page[size]": 250}).json()["data"]]
    assert "pbx005-%s" % removed["name"] not in names and len(names) == fleet.trunk_count == 98


def test_localhost_mode_names_the_host_and_trunk_of_each_bad_trunk_and_sends_nothing(fleet, emulator):
    fleet.trunks["pbx013"][0]["pasword"] = fleet.trunks["pbx013"][0].pop("password")
    fleet.trunks["pbx040"][1]["transport"] = "udp"
    fleet.write_inventory()
    result = fleet.run(localhost=True)
    assert result.rc != 0
    output = result.stdout + result.stderr
    assert "Nothing was sent: 2 problems in the input of the sip_attach role." in output
    assert "- host pbx013, trunk t0: unknown key pasword (did you mean password?)" in output
    assert "- host pbx040, trunk t1: transport must be one of UDP, TCP, TLS (in upper case), got 'udp'" in output
    assert emulator.requests() == []


def test_localhost_mode_under_limit_rolls_out_the_limited_hosts(fleet, emulator):
    fleet.rollout("--limit", "pbx00*,localhost", localhost=True)
    wave = sorted("%s-%s" % (host_name(i), trunk["name"]) for i in range(10) for trunk in fleet.trunks[host_name(i)])
    listed = emulator.call("GET", "/uac_connections", params={"page[size]": 250}).json()["data"]
    assert sorted(conn["connection_name"] for conn in listed) == wave
    assert sorted(row["connection_name"] for row in fleet.report_rows()) == wave


def test_localhost_mode_refuses_managed_pbxs_and_trunks_set_in_the_play(fleet, emulator):
    hosts = dict((host, {"ansible_host": "%s.example.com" % host, "sip_attach_trunks": trunks})
                 for host, trunks in fleet.trunks.items())
    hosts["pbx001"]["sip_attach_pbx"] = "asterisk"
    fleet._dump("hosts.yml", {"pbx": {"hosts": hosts}})
    managed = fleet.run(localhost=True)
    assert managed.rc != 0
    assert ("sip_attach_hosts (the localhost mode) converges the Telnyx side only, and these hosts have a PBX the "
            "role configures through their own connection (sip_attach_pbx: asterisk or kamailio): pbx001.") \
        in managed.stdout
    # -e sip_attach_pbx=none converges their Telnyx side
    fleet.rollout("-e", "sip_attach_pbx=none", localhost=True)
    assert len(fleet.writes()) == fleet.trunk_count
    count = len(emulator.writes())
    in_play = fleet.run(localhost=True, role_vars={"sip_attach_trunks": [{"name": "x", "extension": "1234"}]})
    assert in_play.rc != 0
    assert "sip_attach_trunks is set in the play (play vars, role vars or role parameters)" in in_play.stdout
    assert len(emulator.writes()) == count


# -- progress while Telnyx registers -------------------------------------------------------------------------
class AcceptingPbx:
    """A PBX on a loopback UDP port that accepts every REGISTER (200 OK, no challenge): Telnyx registers at once."""

    def __init__(self):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.users = set()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self):
        while not self._stop.is_set():
            try:
                data, peer = self.sock.recvfrom(65535)
            except socket.timeout:
                continue
            head = data.decode("utf-8", "replace").split("\r\n\r\n", 1)[0].split("\r\n")
            if not head[0].startswith("REGISTER "):
                continue
            keep = [line for line in head[1:] if line.split(":", 1)[0].strip().lower() in
                    ("via", "from", "to", "call-id", "cseq", "contact")]
            keep = [line + ";tag=pbx" if line.lower().startswith("to:") else line for line in keep]
            self.users.update(re.findall(r"^To:\s*<sip:([^@>]+)@", "\n".join(head), re.MULTILINE | re.IGNORECASE))
            answer = "\r\n".join(["SIP/2.0 200 OK"] + keep + ["Expires: 3600", "Content-Length: 0", "", ""])
            self.sock.sendto(answer.encode(), peer)

    def close(self):
        self._stop.set()
        self._thread.join(2)
        self.sock.close()


@pytest.fixture
def accepting_pbx():
    pbx = AcceptingPbx()
    yield pbx
    pbx.close()


def test_a_wait_for_registration_shows_its_progress_on_each_retry_line(tmp_path, run_playbook, make_emulator,
                                                                       accepting_pbx):
    """Three trunks register two seconds after their create (the emulator's registrar delay); a fourth points at a
    PBX Telnyx cannot reach. One line per poll says how many are registered and how long is left; then the play
    fails naming the fourth, and the report has every trunk's status."""
    emulator = make_emulator("--registration-delay", "2")
    proxy = "127.0.0.1:%d" % accepting_pbx.port
    trunks = dict(("pbx%d" % index, [{"name": "main", "extension": "70%02d" % index, "password": "Pbx-%d-secret" % index,
                                      "proxy": proxy if index < 3 else "pbx-unreachable.example.net"}])
                  for index in range(4))
    root = tmp_path / "fleet"
    (root / "group_vars").mkdir(parents=True)
    (root / "group_vars" / "pbx.yml").write_text(yaml.safe_dump({
        "sip_attach_defaults": {"transport": "UDP", "application": ASSISTANT}}))
    (root / "hosts.yml").write_text(yaml.safe_dump({"pbx": {"hosts": dict(
        (host, {"sip_attach_trunks": host_trunks}) for host, host_trunks in trunks.items())}}))
    play = {"hosts": "localhost", "gather_facts": False, "roles": [{"role": "telnyx.sip.sip_attach", "vars": {
        "sip_attach_hosts": "{{ groups['pbx'] }}", "sip_attach_report_dir": str(tmp_path / "reports"),
        "sip_attach_wait_for_registration": True, "sip_attach_registration_timeout": 8,
        "sip_attach_registration_poll_interval": 1}}]}
    result = run_playbook(play, "-i", str(root / "hosts.yml"), base_url=emulator.api_url, api_key=emulator.api_key)
    assert result.rc != 0
    retries = [line for line in result.stdout.splitlines() if line.startswith("FAILED - RETRYING: [localhost]: ")]
    progress = [re.match(r"FAILED - RETRYING: \[localhost\]: (?:telnyx\.sip\.sip_attach : )?Wait until Telnyx has registered every trunk: "
                         r"(\d) of 4 registered \((?:\d failed, )?(\d) pending\), (\d+) s left \(\d+ retries left\)\.$",
                         line) for line in retries]
    assert retries and all(progress), retries
    counts = [(int(match.group(1)), int(match.group(2))) for match in progress]
    seconds = [int(match.group(3)) for match in progress]
    # the registrations come while the role waits (how many polls see none depends on the machine's load)
    assert counts == sorted(counts) and counts[-1] == (3, 1), counts
    assert seconds == sorted(seconds, reverse=True) and seconds[0] <= 8
    assert accepting_pbx.users == {"7000", "7001", "7002"}
    output = result.stdout + result.stderr
    assert ("1 connections did not register: pbx3-main did not register within 8 s (status standby, PBX's last "
            "answer: no answer)") in output
    rows = list(csv.DictReader(io.StringIO((tmp_path / "reports" / "sip-attach-report.csv").read_text())))
    assert [(row["connection_name"], row["registration_status"]) for row in rows] == [
        ("pbx0-main", "Registered"), ("pbx1-main", "Registered"), ("pbx2-main", "Registered"),
        ("pbx3-main", "Not Registered")]
    assert "**The run failed**: 1 connections did not register: pbx3-main" in \
        (tmp_path / "reports" / "sip-attach-report.md").read_text()
    assert [entry["method"] for entry in emulator.writes()] == ["POST"] * 4
