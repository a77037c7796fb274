"""Parallel runs on one name, and an emulator restarted in the middle of a rollout.

The API does not keep connection names unique: two runs that create the same name at the same moment
can both create it. The modules cannot prevent that across processes; what they guarantee is that the
next run detects the duplicates and fails naming their ids, and that one uac_connections run (or one
sip_attach role run) never produces any: it refuses a name given twice before sending anything.
"""

import collections
import json
import signal
import threading
import time

import pytest
import yaml

from tests.integration.reliability.helpers import API_KEY, LeakChecked, PlaybookRunner
from tests.integration.harness import Emulator, free_port

pytestmark = [pytest.mark.integration, pytest.mark.slow]

RACERS = 5
PASSWORD = "Race-Pw-s3cr3t"


def racer_inventory(tmp_path, count=RACERS):
    hosts = {"pbx%d" % i: {"ansible_connection": "local"} for i in range(count)}
    path = tmp_path / "racers.yml"
    path.write_text(yaml.safe_dump({"all": {"children": {"racers": {"hosts": hosts}}}}))
    return str(path)


def conn(name="rel-race"):
    return {"connection_name": name,
            "external_uac_settings": {"proxy": "pbx.example.net", "username": "race1006", "password": PASSWORD},
            "internal_uac_settings": {"destination_uri": "1006@assistant-rel.sip.telnyx.com"}}


def test_parallel_forks_on_one_name_can_duplicate_and_the_next_run_names_the_ids(faulty_with, tmp_path, record):
    faulty = faulty_with("--latency-ms", "800")
    playbook = LeakChecked(PlaybookRunner(tmp_path, faulty.handle))
    inventory = racer_inventory(tmp_path)
    task = {"name": "create", "telnyx.sip.uac_connection": conn(), "register": "made", "ignore_errors": True}
    race = playbook.tasks([task], "-i", inventory, "-f", str(RACERS), hosts="racers", secrets=[PASSWORD])
    created = [c for c in faulty.connections() if c["connection_name"] == "rel-race"]
    posts = [e for e in faulty.requests() if e["method"] == "POST"]
    assert len(created) == len(posts)
    # the race is the API's: every fork read "absent" before any create landed
    assert len(created) >= 2, "the forks did not overlap: %d created" % len(created)

    check = playbook.tasks([dict(task, name="next run")], secrets=[PASSWORD])
    result = check.task("next run")
    assert result.get("failed") is True
    assert "%d UAC connections are named 'rel-race'" % len(created) in result["msg"]
    for found in created:
        assert found["id"] in result["msg"]
    assert not [e for e in faulty.requests()[len(posts) + RACERS:] if e["method"] != "GET"]
    record(fault="parallel forks create one name (%d hosts, forks %d, latency 800 ms)" % (RACERS, RACERS),
           option="--latency-ms 800", injected=0, runs=2,
           outcome="2 to %d forks create it (the API has no uniqueness); the next run fails naming every id and "
                   "writes nothing" % RACERS, detail="%d forks created it" % len(created))


def test_one_fleet_run_or_role_run_refuses_a_name_given_twice_before_any_request(faulty, playbook, tmp_path,
                                                                                 record):
    fleet = playbook.tasks([{"name": "fleet", "telnyx.sip.uac_connections": {"connections": [conn(), conn()]},
                             "register": "fleet", "ignore_errors": True}], secrets=[PASSWORD])
    message = fleet.task("fleet")["msg"]
    assert "connection_name 'rel-race' is also given by connections[0]" in message
    # the role: two PBX hosts whose trunks name the same connection
    hosts = {}
    for index in range(2):
        hosts["pbx%d" % index] = {"ansible_connection": "local", "sip_attach_trunks": [{
            "name": "t1", "connection_name": "rel-shared", "extension": "100%d" % index,
            "application": "assistant-rel", "password": PASSWORD}]}
    inventory = tmp_path / "pbx.yml"
    inventory.write_text(yaml.safe_dump({"all": {"children": {"pbx": {"hosts": hosts}}}}))
    role = playbook.play({"name": "role", "hosts": "pbx", "gather_facts": False,
                          "roles": [{"role": "telnyx.sip.sip_attach"}]}, "-i", str(inventory), secrets=[PASSWORD])
    assert role.rc != 0
    assert "rel-shared" in role.stdout
    assert faulty.requests() == [] or all(e["method"] == "GET" for e in faulty.requests())
    assert faulty.writes() == []
    record(fault="one name twice in one uac_connections run / one role run", option="(none)", injected=0, runs=2,
           outcome="refused before any write, naming the connection")


def test_emulator_restarted_mid_rollout_keeps_its_state_and_the_rerun_converges(faulty_with, tmp_path, record):
    state = tmp_path / "state.json"
    port = free_port()
    options = ("--seed", "7", "--api-key", API_KEY, "--state", str(state), "--port", str(port), "--latency-ms", "30")
    first = Emulator(options)
    emulators = [first]
    try:
        playbook = LeakChecked(PlaybookRunner(tmp_path, first))
        items = [dict(conn("rel-restart-%03d" % i), external_uac_settings=dict(
            conn()["external_uac_settings"], password="Restart-Pw-%03d" % i)) for i in range(200)]
        secrets = ["Restart-Pw-%03d" % i for i in range(200)]
        task = {"name": "rollout", "telnyx.sip.uac_connections": {"connections": items, "concurrency": 4},
                "register": "rollout", "ignore_errors": True}
        outcome = {}
        runner = threading.Thread(target=lambda: outcome.update(run=playbook.tasks([task], secrets=secrets)))
        runner.start()
        deadline = time.monotonic() + 120
        while len([e for e in first.requests() if e["method"] == "POST"]) < 60 and time.monotonic() < deadline:
            time.sleep(0.05)
        first._process.send_signal(signal.SIGKILL)  # a crash: no clean shutdown
        first._process.wait(10)
        saved = len(json.loads(state.read_text())["connections"])
        time.sleep(1.0)
        second = Emulator(options)  # same port, same state file
        emulators.append(second)
        runner.join(300)
        during = outcome["run"].task("rollout")
        rerun = playbook.tasks([dict(task, name="rerun")], secrets=secrets)
        result = rerun.task("rerun")
        assert not result.get("failed"), result.get("msg")
        names = collections.Counter(c["connection_name"] for c in Faulty(second).connections())
        assert len(names) == 200 and set(names.values()) == {1}
        assert result["counts"]["created"] + result["counts"]["unchanged"] == 200
    finally:
        for handle in emulators:
            handle.stop()
    record(fault="emulator killed (SIGKILL) and restarted mid-rollout", option="--state FILE", injected=1, runs=2,
           outcome="the state file holds every acknowledged create; the re-run converges to 200, none duplicated",
           detail="%d on disk at the kill; the rollout in flight %s" % (
               saved, "completed (its retries spanned the restart)" if not during.get("failed")
               else "failed some items cleanly"))


from tests.integration.reliability.helpers import Faulty  # noqa: E402
