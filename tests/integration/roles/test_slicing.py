"""AWX job slicing: K = 4 ansible-playbook jobs at once, each on an inventory of only its quarter of the PBX hosts
(as AWX passes them; one of them under ansible-runner, as AWX runs a job), against one emulator with one account
rate limit (50 requests a second here; benchmarks/run.py --slicing runs the full size at 100).

What must hold: every trunk converges, no job fails, no connection is made twice, at most 2 % of the requests are
answered 429 (each job paces itself to its part of the account window it shares with jobs it cannot see); and a
purge in every slice deletes the one trunk removed from a host of one slice and nothing of the others (each slice's
purge only touches connections its own hosts own).
"""

import collections
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from tests.collection_path import collections_root

pytestmark = [pytest.mark.integration, pytest.mark.slow]

SLICES = 4
HOSTS_PER_SLICE = 50
TRUNKS_PER_HOST = 2
RATE = 50  # low enough that the slices' API work lasts and overlaps (8 s for 400 requests), cheap to run
APP = "assistant-3fa85f64-5717-4562-b3fc-2c963f66afa6"
PLAYBOOK = [{"name": "sip attach", "hosts": "pbx", "gather_facts": False,
             "roles": [{"role": "telnyx.sip.sip_attach"}]}]


def host_name(slice_index, number):
    return "pbx-s%d-%03d" % (slice_index, number)


class Slices:
    """The inventories of the slices, the AWX variables of each job, and the four jobs run at once."""

    def __init__(self, tmp_path, run_playbook, emulator):
        self.root = tmp_path
        self.run_playbook = run_playbook
        self.emulator = emulator
        self.trunks = dict((host_name(s, n), ["t%d" % t for t in range(TRUNKS_PER_HOST)])
                           for s in range(SLICES) for n in range(HOSTS_PER_SLICE))
        self.playbook = tmp_path / "rollout.yml"
        self.playbook.write_text(yaml.safe_dump(PLAYBOOK, sort_keys=False))
        self.runner_dir = tmp_path / "runner"  # the last slice runs under ansible-runner
        (self.runner_dir / "project").mkdir(parents=True)
        (self.runner_dir / "project" / "rollout.yml").write_text(self.playbook.read_text())
        (self.runner_dir / "env").mkdir()
        (self.runner_dir / "env" / "envvars").write_text(yaml.safe_dump({
            "TELNYX_API_KEY": emulator.api_key, "TELNYX_BASE_URL": emulator.api_url,
            "ANSIBLE_COLLECTIONS_PATH": collections_root(), "ANSIBLE_COLLECTIONS_SCAN_SYS_PATH": "False",
            "ANSIBLE_NOCOLOR": "1"}))
        self.write()

    def hosts_of(self, slice_index):
        return sorted(host for host in self.trunks if host.startswith("pbx-s%d-" % slice_index))

    def names(self):
        return sorted("%s-%s" % (host, trunk) for host, trunks in self.trunks.items() for trunk in trunks)

    def write(self):
        """One inventory per slice holding only its hosts, as AWX gives each slice job."""
        for index in range(SLICES):
            hosts = dict((host, {"ansible_host": "%s.example.net" % host, "sip_attach_trunks": [
                {"name": trunk, "extension": "%d%04d" % (int(trunk[1:]) + 1, number),
                 "password": "Pw-%s-%s" % (host, trunk)} for trunk in self.trunks[host]]})
                for number, host in enumerate(self.hosts_of(index)))
            inventory = {"all": {"vars": {"ansible_python_interpreter": sys.executable}},
                         "pbx": {"hosts": hosts, "vars": {"sip_attach_defaults": {"transport": "UDP",
                                                                                  "application": APP}}}}
            text = yaml.safe_dump(inventory, sort_keys=False)
            (self.root / ("slice-%d.yml" % index)).write_text(text)
            if index == SLICES - 1:
                (self.runner_dir / "inventory").mkdir(exist_ok=True)
                (self.runner_dir / "inventory" / "hosts.yml").write_text(text)

    @staticmethod
    def awx_vars(index, **more):
        """What AWX adds to every job of a sliced job template: the job, and the workflow the slices make."""
        return dict({"awx_job_id": 900 + index, "awx_job_template_name": "SIP Attach rollout",
                     "awx_workflow_job_id": 899, "awx_workflow_job_name": "SIP Attach rollout"}, **more)

    def run_all(self, phase, **role_vars):
        """Start the four jobs at once; wait for all. Returns [(slice, rc, output)] and the wall time."""
        started = time.monotonic()
        jobs = []
        for index in range(SLICES - 1):
            env = self.run_playbook.environment(self.root / ("results-%s-%d.json" % (phase, index)))
            command = [self.run_playbook.binary, "-i", str(self.root / ("slice-%d.yml" % index)),
                       "-e", json.dumps(self.awx_vars(index, **role_vars)), str(self.playbook)]
            jobs.append(subprocess.Popen(command, cwd=self.root, env=env, stdout=subprocess.PIPE,
                                         stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, text=True))
        (self.runner_dir / "env" / "extravars").write_text(yaml.safe_dump(self.awx_vars(SLICES - 1, **role_vars)))
        env = dict(os.environ, PATH=str(Path(sys.executable).parent) + os.pathsep + os.environ.get("PATH", ""))
        for name in ("TELNYX_API_KEY", "TELNYX_BASE_URL", "ANSIBLE_COLLECTIONS_PATH"):
            env.pop(name, None)  # the runner's job gets them from env/envvars, as under AWX
        runner = str(Path(sys.executable).parent / "ansible-runner")
        jobs.append(subprocess.Popen([runner, "run", str(self.runner_dir), "-p", "rollout.yml", "--ident", phase],
                                     cwd=self.root, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, text=True))
        outcomes = [(index, job.wait(timeout=600), job.stdout.read()) for index, job in enumerate(jobs)]
        for job in jobs:
            job.stdout.close()
        runner_rc = (self.runner_dir / "artifacts" / phase / "rc").read_text().strip()
        outcomes[-1] = (SLICES - 1, outcomes[-1][1] or int(runner_rc), outcomes[-1][2])
        return outcomes, time.monotonic() - started

    def connections(self):
        listed = []
        page = 1
        while True:
            body = self.emulator.call("GET", "/uac_connections", params={"page[size]": 250, "page[number]": page},
                                      direct=True).json()
            listed.extend(body["data"])
            if page >= body["meta"]["total_pages"]:
                return listed
            page += 1


@pytest.fixture
def slices(tmp_path, run_playbook, make_emulator):
    emulator = make_emulator("--rate-limit", str(RATE), "--latency-ms", "50")
    run_playbook.emulator = emulator
    return Slices(tmp_path, run_playbook, emulator)


def test_four_slices_at_once_share_the_account_limit_and_purge_only_their_own(slices):
    emulator = slices.emulator
    outcomes, wall = slices.run_all("rollout")
    for index, rc, output in outcomes:
        assert rc == 0, "slice %d failed:\n%s" % (index, output[-3000:])
    log = emulator.requests()
    limited = [entry for entry in log if entry["status"] == 429]
    created = [entry for entry in log if entry["method"] == "POST" and entry["status"] == 201]
    counts = collections.Counter(conn["connection_name"] for conn in slices.connections())
    spans = dict((index, [entry["time"] for entry in created if entry["body"]["connection_name"].startswith(
        "pbx-s%d-" % index)]) for index in range(SLICES))
    start = min(entry["time"] for entry in log)
    print("4 slices x %d hosts: %d requests, %d answered 429, %d created, %.1f s (API bound %.1f s); creates of "
          "each slice from .. to (s): %s" % (
              HOSTS_PER_SLICE, len(log), len(limited), len(created), wall, len(log) / float(RATE),
              ", ".join("%.1f..%.1f" % (min(t) - start, max(t) - start) for t in spans.values())))
    overlapping = [(a, b) for a in spans for b in spans if a < b
                   and min(spans[a]) < max(spans[b]) and min(spans[b]) < max(spans[a])]
    assert overlapping, "the slices did not send at the same time: the test proved nothing about sharing"
    assert sorted(counts) == slices.names()  # every trunk converged
    assert set(counts.values()) == {1}  # no connection made twice
    assert len(created) == SLICES * HOSTS_PER_SLICE * TRUNKS_PER_HOST
    assert len(limited) <= 0.02 * len(log), "%d of %d requests answered 429" % (len(limited), len(log))

    # a trunk leaves one host of slice 1; every slice purges, and only that trunk goes
    host = slices.hosts_of(1)[7]
    slices.trunks[host].remove("t1")
    slices.write()
    before = dict((conn["id"], conn["connection_name"]) for conn in slices.connections())
    seen = len(emulator.requests())
    outcomes, wall = slices.run_all("purge", sip_attach_purge=True)
    for index, rc, output in outcomes:
        assert rc == 0, "slice %d failed:\n%s" % (index, output[-3000:])
    writes = [entry for entry in emulator.requests()[seen:] if entry["method"] != "GET"]
    assert [(entry["method"], before[entry["path"].rsplit("/", 1)[1]]) for entry in writes] == [
        ("DELETE", "%s-t1" % host)]
    assert sorted(conn["connection_name"] for conn in slices.connections()) == slices.names()
