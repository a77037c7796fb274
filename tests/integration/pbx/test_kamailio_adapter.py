"""The sip_attach role's Kamailio adapter (roles/sip_attach/tasks/pbx/kamailio*.yml), driven for real.

Three DB-backed Kamailio PBXs (`kamailio_pbxs`: SQLite subscribers managed with each instance's kamctl) are
the inventory hosts pbx1..3 (ansible_connection=local); each gets its `_sip_attach_pbx` as a host variable,
as the role's main flow sets it, and a play includes the adapter's task files with include_role. The emulator
registers to the subscribers the adapter wrote, and answers the adapter's test calls.
"""

import hashlib
import json

import pytest
import yaml

pytestmark = [pytest.mark.integration]

ROLE = "telnyx.sip.sip_attach"
WRITES = ("(kamctl add)", "(kamctl passwd)", "(kamctl rm)")
WAIT = {"sip_attach_registration_timeout": 15, "sip_attach_registration_poll_interval": 0.3}


def trunk(name, username, password, state="present", auth_username=None, transport="UDP"):
    return {"name": name, "connection_name": f"{name}-conn", "state": state, "username": username,
            "auth_username": auth_username or username, "password": password, "domain": "127.0.0.1",
            "extension": username, "transport": transport, "dtmf": None}


class Fleet:
    """The PBXs as inventory hosts pbx1..N, and the playbook runs of the adapter against them."""

    def __init__(self, pbxs, runner, tmp_path):
        self.pbxs, self.runner, self.tmp_path = pbxs, runner, tmp_path
        self.hosts = {f"pbx{index + 1}": pbx for index, pbx in enumerate(pbxs)}

    def state_dir(self, host):
        return self.tmp_path / f"state-{host}"

    def state(self, host):
        path = self.state_dir(host) / "kamailio-subscribers.json"
        return json.loads(path.read_text())["subscribers"] if path.exists() else None

    def run(self, trunks, *args, files=("kamailio",), extra=None):
        """Run the adapter files on every host; `trunks`: {host: [trunk dicts]}. Returns the PlaybookResult."""
        hosts = {}
        for host, pbx in self.hosts.items():
            hosts[host] = dict({
                "ansible_connection": "local",
                "sip_attach_kamailio_kamctl": pbx.kamctl,
                "sip_attach_kamailio_kamcmd": pbx.kamcmd,
                "sip_attach_pbx_state_dir": str(self.state_dir(host)),
                "_sip_attach_pbx": {"kind": "kamailio", "trunks": trunks.get(host, [])},
            }, **WAIT, **(extra or {}))
        inventory = self.tmp_path / "inventory.yml"
        inventory.write_text(yaml.safe_dump({"pbx": {"hosts": hosts}}))
        tasks = []
        for name in files:
            tasks.append({"name": f"adapter {name}", "ansible.builtin.include_role": {"name": ROLE, "tasks_from": f"pbx/{name}.yml"}})
        tasks.append({"name": "facts", "ansible.builtin.debug": {"msg": {
            "outcome": "{{ _sip_attach_pbx_outcome | default(None) }}", "view": "{{ _sip_attach_pbx_view | default(None) }}",
            "calls": "{{ _sip_attach_pbx_calls | default(None) }}"}}})
        play = {"name": "kamailio adapter", "hosts": "pbx", "gather_facts": False, "tasks": tasks}
        return self.runner(play, "-i", str(inventory), *args)

    def facts(self, result, host):
        return result.task("facts", host=host)["msg"]

    def writes(self, result, host):
        """The kamctl write tasks that ran (not skipped) on host: their names."""
        ran = []
        for play in result.data["plays"]:
            for task in play["tasks"]:
                outcome = task["hosts"].get(host)
                if outcome and not outcome.get("skipped") and task["task"]["name"].endswith(WRITES):
                    ran.append(task["task"]["name"].split(" : ", 1)[-1])
        return ran


@pytest.fixture
def fleet(kamailio_pbxs, run_kamailio_playbook, tmp_path):
    return Fleet(kamailio_pbxs(3), run_kamailio_playbook, tmp_path)


def _md5(text):
    return hashlib.md5(text.encode()).hexdigest()


def ha1(pbx, user):
    return pbx.subscribers()[user]["ha1"]


def attach(emulator, pbx, name, username, password, transport="UDP"):
    """The connection Telnyx would create: it registers to the PBX as username/password."""
    body = {"connection_name": name, "external_uac_settings": {
        "proxy": pbx.proxy, "username": username, "password": password, "transport": transport}}
    response = emulator.call("POST", "/uac_connections", body)
    assert response.status_code == 201, response.text
    return response.json()["data"]["id"]


PASSWORDS = {"pbx1": "Kam-A-5001-secret", "pbx2": "Kam-B-5002-secret", "pbx3": "Kam-C-5003-secret"}


def trunks_of_fleet(passwords=None):
    passwords = passwords or PASSWORDS
    return {"pbx1": [trunk("main", "5001", passwords["pbx1"]), trunk("spare", "5011", "Kam-A-5011-secret")],
            "pbx2": [trunk("main", "5002", passwords["pbx2"])],
            "pbx3": [trunk("main", "5003", passwords["pbx3"])]}


def test_create_rerun_rotate_remove(fleet):
    pbx1, pbx2, pbx3 = fleet.pbxs
    first = fleet.run(trunks_of_fleet())
    assert first.rc == 0, first.stdout[-4000:]
    assert sorted(pbx1.subscribers()) == ["5001", "5011"] and list(pbx2.subscribers()) == ["5002"]
    assert list(pbx3.subscribers()) == ["5003"]
    shown = pbx1.kamctl_run("show", "5001@127.0.0.1")
    assert "|5001|127.0.0.1|" in shown.stdout  # kamctl's own view of the row the adapter wrote
    assert fleet.facts(first, "pbx1")["outcome"] == {"changed": ["main", "spare"], "password_changed": [], "removed": []}
    assert fleet.state("pbx1") == {"5001@127.0.0.1": {"trunk": "main", "connection_name": "main-conn"},
                                   "5011@127.0.0.1": {"trunk": "spare", "connection_name": "spare-conn"}}
    state_dir = fleet.state_dir("pbx1")
    assert oct(state_dir.stat().st_mode & 0o777) == "0o700"
    assert oct((state_dir / "kamailio-subscribers.json").stat().st_mode & 0o777) == "0o600"
    for password in list(PASSWORDS.values()) + ["Kam-A-5011-secret"]:
        assert password not in first.stdout and password not in first.stderr
    assert all(first.stats[host]["changed"] > 0 for host in fleet.hosts)

    again = fleet.run(trunks_of_fleet())
    assert again.rc == 0, again.stdout[-4000:]
    assert all(again.stats[host]["changed"] == 0 for host in fleet.hosts), again.stats
    assert all(fleet.writes(again, host) == [] for host in fleet.hosts)
    assert fleet.facts(again, "pbx2")["outcome"] == {"changed": [], "password_changed": [], "removed": []}

    before = ha1(pbx1, "5011")
    rotated = dict(PASSWORDS, pbx2="Kam-B-5002-rotated")
    third = fleet.run(trunks_of_fleet(rotated))
    assert third.rc == 0, third.stdout[-4000:]
    assert fleet.facts(third, "pbx2")["outcome"] == {"changed": ["main"], "password_changed": ["main"], "removed": []}
    assert fleet.writes(third, "pbx2") == ["Kamailio | Change the passwords that differ (kamctl passwd)"]
    assert third.stats["pbx1"]["changed"] == 0 and third.stats["pbx3"]["changed"] == 0
    assert "Kam-B-5002-rotated" not in third.stdout
    assert pbx2.subscribers()["5002"]["ha1"] == _md5("5002:127.0.0.1:Kam-B-5002-rotated")
    assert ha1(pbx1, "5011") == before

    # the spare trunk leaves pbx1's list; pbx3's trunk turns absent
    left = trunks_of_fleet(rotated)
    left["pbx1"] = left["pbx1"][:1]
    left["pbx3"] = [trunk("main", "5003", PASSWORDS["pbx3"], state="absent")]
    fourth = fleet.run(left)
    assert fourth.rc == 0, fourth.stdout[-4000:]
    assert list(pbx1.subscribers()) == ["5001"] and pbx3.subscribers() == {}
    assert fleet.facts(fourth, "pbx1")["outcome"]["removed"] == ["spare"]
    assert fleet.facts(fourth, "pbx3")["outcome"] == {"changed": [], "password_changed": [], "removed": ["main"]}
    assert fleet.state("pbx1") == {"5001@127.0.0.1": {"trunk": "main", "connection_name": "main-conn"}}
    assert fleet.state("pbx3") == {}
    assert fleet.run(left).stats["pbx3"]["changed"] == 0


def test_foreign_subscriber_is_refused_and_untouched(fleet):
    pbx1, pbx2, _pbx3 = fleet.pbxs
    assert pbx2.kamctl_run("add", "5002@127.0.0.1", "Someone-elses-pw").returncode == 0
    before = pbx2.subscribers()["5002"]
    result = fleet.run(trunks_of_fleet())
    assert result.rc != 0
    failure = result.task(f"{ROLE} : Kamailio | Refuse to take over subscribers the role did not create", host="pbx2")
    message = failure["msg"]
    assert "host pbx2" in message and "5002@127.0.0.1 (table subscriber) of trunk main" in message, message
    assert pbx2.subscribers() == {"5002": before}  # untouched
    assert fleet.state("pbx2") is None
    assert fleet.writes(result, "pbx2") == []
    assert sorted(pbx1.subscribers()) == ["5001", "5011"]  # the other hosts went on
    assert "Someone-elses-pw" not in result.stdout


def test_check_and_diff_change_nothing_and_show_no_password(fleet):
    pbx1 = fleet.pbxs[0]
    checked = fleet.run(trunks_of_fleet(), "--check", "--diff")
    assert checked.rc == 0, checked.stdout[-4000:]
    assert all(pbx.subscribers() == {} for pbx in fleet.pbxs) and fleet.state("pbx1") is None
    assert all(checked.stats[host]["changed"] > 0 for host in fleet.hosts)
    assert fleet.facts(checked, "pbx1")["outcome"]["changed"] == ["main", "spare"]
    assert "5011@127.0.0.1" in checked.stdout and "(hidden)" in checked.stdout
    for password in list(PASSWORDS.values()) + ["Kam-A-5011-secret"]:
        assert password not in checked.stdout and password not in checked.stderr

    assert fleet.run(trunks_of_fleet()).rc == 0
    rotated = dict(PASSWORDS, pbx1="Kam-A-5001-rotated")
    before = ha1(pbx1, "5001")
    diff = fleet.run(trunks_of_fleet(rotated), "--check", "--diff")
    assert diff.rc == 0, diff.stdout[-4000:]
    assert ha1(pbx1, "5001") == before
    assert fleet.facts(diff, "pbx1")["outcome"]["password_changed"] == ["main"]
    assert diff.stats["pbx1"]["changed"] > 0 and diff.stats["pbx2"]["changed"] == 0
    assert "Kam-A-5001-rotated" not in diff.stdout and PASSWORDS["pbx1"] not in diff.stdout
    assert fleet.writes(diff, "pbx1") == []


def test_password_kamctl_cannot_store_is_refused(fleet):
    pbx1 = fleet.pbxs[0]
    trunks = {"pbx1": [trunk("main", "5001", "Quote'5001-pw")]}
    result = fleet.run(trunks)
    message = result.task(f"{ROLE} : Kamailio | Refuse passwords kamctl cannot store as they are", host="pbx1")["msg"]
    assert "host pbx1" in message and "trunk(s) main" in message and "single quote" in message, message
    assert "Quote'5001-pw" not in result.stdout
    assert pbx1.subscribers() == {}


def test_verify_and_call_after_the_emulator_registered(fleet, kamailio_emulator):
    trunks = trunks_of_fleet()
    assert fleet.run(trunks).rc == 0
    ids = {host: attach(kamailio_emulator, pbx, f"{host}-main", f"500{index + 1}", PASSWORDS[host],
                        transport="TCP" if host == "pbx2" else "UDP")  # pbx2 is called on the registration's connection
           for index, (host, pbx) in enumerate(fleet.hosts.items())}
    # pbx1's spare trunk: nobody registers as 5011
    result = fleet.run(trunks, files=("kamailio_verify", "kamailio_call"))
    assert result.rc == 0, result.stdout[-4000:]
    for host in fleet.hosts:
        facts = fleet.facts(result, host)
        assert facts["view"]["main"] == "registered", facts
        assert facts["calls"]["main"] == "answered", facts
    spare = fleet.facts(result, "pbx1")
    assert spare["view"]["spare"].startswith("not registered: no contact for 5011@127.0.0.1"), spare
    assert spare["calls"]["spare"].startswith("not called: no contact for 5011@127.0.0.1"), spare
    calls = kamailio_emulator.calls()
    assert sorted(call["connection_id"] for call in calls) == sorted(ids.values()), calls
    for call in calls:
        assert call["status"] == 200 and call["state"] in ("confirmed", "ended"), call  # tm sent the ACK
        assert call["from"] == "sip:sip-attach-test@127.0.0.1" and call["call_id"].startswith("sip-attach-test-main-")
    assert {call["connection_id"]: call["transport"] for call in calls}[ids["pbx2"]] == "TCP"
    assert result.stats["pbx1"]["changed"] == 0
