"""AWX job slicing, by hand: K ``ansible-playbook`` jobs started at once, each on an inventory that holds only its
slice of the PBX hosts, with the variables AWX gives the jobs of a sliced job template; the last one runs under
``ansible-runner`` (a private data directory, its environment from ``env/envvars``), as AWX runs a job.

Used by tests/integration/roles/test_slicing.py and by ``benchmarks/run.py --slicing``.
"""
from __future__ import annotations

import collections
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import yaml

APP = "assistant-3fa85f64-5717-4562-b3fc-2c963f66afa6"
PLAYBOOK = [{"name": "sip attach", "hosts": "pbx", "gather_facts": False, "roles": [{"role": "telnyx.sip.sip_attach"}]}]
# the localhost mode (docs/large-fleets.md): each slice's job converges the PBX hosts of its own inventory
LOCALHOST_PLAYBOOK = [{"name": "sip attach", "hosts": "localhost", "gather_facts": False, "roles": [
    {"role": "telnyx.sip.sip_attach", "vars": {"sip_attach_hosts": "{{ groups['pbx'] }}"}}]}]
# the variables of the job's environment that the runner's job reads from env/envvars instead
RUNNER_ENV = ("TELNYX_API_KEY", "TELNYX_BASE_URL", "ANSIBLE_COLLECTIONS_PATH", "ANSIBLE_COLLECTIONS_SCAN_SYS_PATH")


def host_name(slice_index, number):
    return "pbx-s%d-%04d" % (slice_index, number)


def awx_vars(index, **more):
    """What AWX adds to each job of a sliced job template: the job, and the workflow job the slices make up (AWX
    passes no slice number)."""
    return dict({"awx_job_id": 900 + index, "awx_job_template_name": "SIP Attach rollout",
                 "awx_workflow_job_id": 899, "awx_workflow_job_name": "SIP Attach rollout"}, **more)


class SlicedRollout:
    """The slices' inventories in ``root`` and the jobs that run the sip_attach role on them, all at once.

    ``localhost``: each job runs the role in the localhost mode (a play on localhost, ``sip_attach_hosts`` its
    inventory's PBX hosts) instead of in a play on the PBX hosts.

    ``env(index)`` is the environment of the ``ansible-playbook`` job of slice ``index`` (with TELNYX_API_KEY,
    TELNYX_BASE_URL and ANSIBLE_COLLECTIONS_PATH); the runner's job gets those from its ``env/envvars``.
    """

    def __init__(self, root, env, slices=4, hosts_per_slice=50, trunks_per_host=2, runner=True, localhost=False):
        self.root = Path(root)
        self.env = env
        self.slices = slices
        self.runner = runner
        self.trunks = dict((host_name(s, n), ["t%d" % t for t in range(trunks_per_host)])
                           for s in range(slices) for n in range(hosts_per_slice))
        self.root.mkdir(parents=True, exist_ok=True)
        self.playbook = self.root / "rollout.yml"
        self.playbook.write_text(yaml.safe_dump(LOCALHOST_PLAYBOOK if localhost else PLAYBOOK, sort_keys=False))
        self.runner_dir = self.root / "runner"
        if runner:
            (self.runner_dir / "project").mkdir(parents=True, exist_ok=True)
            (self.runner_dir / "project" / "rollout.yml").write_text(self.playbook.read_text())
            (self.runner_dir / "env").mkdir(exist_ok=True)
            job_env = env(slices - 1)
            envvars = dict((name, job_env[name]) for name in RUNNER_ENV if name in job_env)
            (self.runner_dir / "env" / "envvars").write_text(yaml.safe_dump(dict(envvars, ANSIBLE_NOCOLOR="1")))
        self.write()

    def hosts_of(self, slice_index):
        return sorted(host for host in self.trunks if host.startswith("pbx-s%d-" % slice_index))

    def names(self):
        """Every connection the inventory asks for."""
        return sorted("%s-%s" % (host, trunk) for host, trunks in self.trunks.items() for trunk in trunks)

    def write(self):
        """One inventory per slice holding only its hosts, as AWX gives each slice's job."""
        for index in range(self.slices):
            hosts = dict((host, {"ansible_host": "%s.example.net" % host, "sip_attach_trunks": [
                {"name": trunk, "extension": "%d%04d" % (int(trunk[1:]) + 1, number),
                 "password": "Pw-%s-%s" % (host, trunk)} for trunk in self.trunks[host]]})
                for number, host in enumerate(self.hosts_of(index)))
            inventory = {"all": {"vars": {"ansible_python_interpreter": sys.executable}},
                         "pbx": {"hosts": hosts,
                                 "vars": {"sip_attach_defaults": {"transport": "UDP", "application": APP}}}}
            text = yaml.safe_dump(inventory, sort_keys=False)
            (self.root / ("slice-%d.yml" % index)).write_text(text)
            if self.runner and index == self.slices - 1:
                (self.runner_dir / "inventory").mkdir(exist_ok=True)
                (self.runner_dir / "inventory" / "hosts.yml").write_text(text)

    def run_all(self, phase, **extra_vars):
        """Start every slice's job at once and wait for all: ([(slice, rc, output)], wall seconds)."""
        binary = Path(sys.executable).parent / "ansible-playbook"
        started = time.monotonic()
        jobs = []
        plain = self.slices - 1 if self.runner else self.slices
        for index in range(plain):
            command = [str(binary), "-i", str(self.root / ("slice-%d.yml" % index)),
                       "-e", json.dumps(awx_vars(index, **extra_vars)), str(self.playbook)]
            jobs.append(_start(command, self.root, self.env(index)))
        if self.runner:
            (self.runner_dir / "env" / "extravars").write_text(yaml.safe_dump(awx_vars(self.slices - 1,
                                                                                       **extra_vars)))
            env = dict(os.environ, PATH=str(binary.parent) + os.pathsep + os.environ.get("PATH", ""))
            for name in RUNNER_ENV:
                env.pop(name, None)  # the runner's job takes them from env/envvars, as under AWX
            jobs.append(_start([str(binary.parent / "ansible-runner"), "run", str(self.runner_dir),
                                "-p", "rollout.yml", "--ident", phase], self.root, env))
        outcomes = []
        for index, job in enumerate(jobs):
            output = job.communicate(timeout=3600)[0]
            outcomes.append([index, job.returncode, output])
        if self.runner:
            # ansible-runner exits 0 when it ran the job, whatever the job's own outcome
            outcomes[-1][1] = outcomes[-1][1] or int((self.runner_dir / "artifacts" / phase / "rc").read_text())
        return [tuple(outcome) for outcome in outcomes], time.monotonic() - started


def _start(command, cwd, env):
    return subprocess.Popen(command, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            stdin=subprocess.DEVNULL, text=True)


def account_figures(log, names, connections):
    """What a sliced run did to the account, from the emulator's request log and the connections after it."""
    counts = collections.Counter(conn["connection_name"] for conn in connections)
    return dict(
        requests=len(log),
        limited=sum(1 for entry in log if entry["status"] == 429),
        created=sum(1 for entry in log if entry["method"] == "POST" and entry["status"] == 201),
        writes=[entry for entry in log if entry["method"] != "GET"],
        missing=sorted(set(names) - set(counts)),
        duplicates=sorted(name for name, count in counts.items() if count > 1),
        unexpected=sorted(set(counts) - set(names)),
    )
