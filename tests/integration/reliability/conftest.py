"""Fixtures of the reliability tests: a fault-injecting emulator, leak-checked playbook runs, records.

Every scenario runs ansible-playbook with ``-vvv --diff``, registers each result and prints it (a
``debug`` task per registered variable), then ``leak_check`` searches stdout, stderr and the results
for the API key and every password. Each scenario appends a record (fault, requests injected, runs,
outcome, seconds) to ``tests/output/reliability/results.jsonl``; ``tests/tools/reliability_report.py``
renders docs/reliability.md from them, and ``test_zz_report.py`` fails when the committed page differs.

The emulator runs without Prism here: a proxy in front would turn a dropped connection or an HTML page
into its own answer. The contract is checked by the rest of the integration suite.
"""

import json
import os
import sys
import time
from pathlib import Path

import pytest
import requests

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "tests" / "tools"))
import reliability_report  # noqa: E402

from tests.integration.conftest import PlaybookRunner  # noqa: E402

API_KEY = "rel-KEY-7f3a9c2e51d84b06"  # distinctive, so that a leak is found by a substring search
SEED = "20240611"
FAULT_DEFAULTS = None  # FaultSettings().as_dict(), filled at first use
ORDER = {"test_fleet": 10, "test_faults": 20, "test_races": 30, "test_tls": 40, "test_bad_input": 60}  # table order


class Faulty:
    """An emulator handle plus its fault hook: ``arm(**settings)``, ``disarm()``, log helpers."""

    def __init__(self, handle):
        self.handle = handle

    def __getattr__(self, name):
        return getattr(self.handle, name)

    def faults(self, **settings):
        response = requests.post(f"{self.handle.direct_url}/_emulator/faults", json=settings, timeout=10)
        assert response.status_code == 200, response.text
        return response.json()["data"]

    def disarm(self):
        global FAULT_DEFAULTS
        if FAULT_DEFAULTS is None:
            from tests.emulator.faults import FaultSettings
            FAULT_DEFAULTS = FaultSettings().as_dict()
        return self.faults(**FAULT_DEFAULTS)

    def injected(self, log=None, fault=None):
        """Logged requests that carried an injected fault (of that name)."""
        log = self.handle.requests() if log is None else log
        return [e for e in log if e.get("fault") and (fault is None or e["fault"] == fault)]

    def connections(self):
        response = self.handle.call("GET", "/uac_connections", params={"page[size]": 250}, direct=True)
        data, pages = response.json()["data"], response.json()["meta"]["total_pages"]
        for page in range(2, pages + 1):
            data += self.handle.call("GET", "/uac_connections", params={"page[size]": 250, "page[number]": page},
                                     direct=True).json()["data"]
        return data

    def connections_by_name(self, name):
        return [c for c in self.connections() if c["connection_name"] == name]

    def create(self, body):
        response = self.handle.call("POST", "/uac_connections", json_body=body, direct=True)
        assert response.status_code == 201, response.text
        return response.json()["data"]


@pytest.fixture
def faulty_with(make_emulator):
    """faulty_with(*options, fresh=False): an emulator started with these options (seeded, no Prism, the
    reliability API key), run-time faults off, state reset."""
    started = []

    def make(*options, fresh=False):
        handle = Faulty(make_emulator("--seed", SEED, "--api-key", API_KEY, *options, prism=False, fresh=fresh))
        handle.disarm()
        handle.reset()
        if not fresh:  # a fresh one is stopped after the test; a shared one is left with its faults off
            started.append(handle)
        return handle

    yield make
    for handle in started:
        handle.disarm()


@pytest.fixture
def faulty(faulty_with):
    """The reliability tests' shared emulator, faults off, state reset."""
    return faulty_with()


class LeakChecked:
    """Runs playbooks with ``-vvv --diff`` and checks that no secret shows, unless revealed on purpose."""

    def __init__(self, runner):
        self.runner = runner
        self.checks = 0
        self.seconds = 0.0

    def tasks(self, tasks, *args, secrets=(), revealed=(), module_defaults=None, hosts="localhost", **kwargs):
        """Run ``tasks`` (each with ``register``) as one play, print every registered result, check leaks."""
        printed = []
        for task in tasks:
            printed.append(task)
            if task.get("register"):
                printed.append({"name": f"print {task['register']}",
                                "ansible.builtin.debug": {"var": task["register"]}})
        play = {"name": "reliability", "hosts": hosts, "gather_facts": False, "tasks": printed}
        if module_defaults:
            play["module_defaults"] = module_defaults
        return self.play(play, *args, secrets=secrets, revealed=revealed, **kwargs)

    def play(self, play, *args, secrets=(), revealed=(), **kwargs):
        start = time.monotonic()
        result = self.runner(play, "-vvv", "--diff", *args, **kwargs)
        self.seconds += time.monotonic() - start
        self.check(result, secrets, revealed)
        return result

    def check(self, result, secrets, revealed=()):
        """No secret of ``secrets`` (plus the API key) in stdout, stderr or the results; ``revealed`` may show."""
        text = "\n".join([result.stdout, result.stderr, json.dumps(result.data, default=str)])
        for secret in {API_KEY, *secrets}:
            if secret in revealed:
                continue
            self.checks += 1
            assert secret not in text, f"secret {secret[:4]}... leaked into the output of {result.playbook_path}"


@pytest.fixture
def playbook(tmp_path, faulty):
    """LeakChecked runs against ``faulty`` with its API key in TELNYX_API_KEY."""
    return LeakChecked(PlaybookRunner(tmp_path, faulty.handle))


@pytest.fixture(scope="session")
def session_id():
    """The id the records of this run carry: `make integration` sets one for all its pytest-xdist workers."""
    return os.environ.get("TELNYX_RELIABILITY_SESSION") or "%d-%d" % (time.time() * 1000, os.getpid())


@pytest.fixture
def record(request, session_id, playbook):
    """record(fault=..., option=..., injected=N, runs=N, outcome=..., **extra): one row of the figures."""
    start = time.monotonic()

    def write(**fields):
        fields.setdefault("scenario", request.node.name)
        fields.setdefault("order", ORDER.get(request.node.path.stem, 50))
        fields.update(session=session_id, seconds=round(time.monotonic() - start, 1),
                      leak_checks=playbook.checks + fields.pop("extra_leak_checks", 0))
        reliability_report.append(fields)

    return write
