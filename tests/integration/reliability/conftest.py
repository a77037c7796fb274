"""Fixtures of the reliability tests: a fault-injecting emulator, leak-checked playbook runs, records.

Every scenario runs ansible-playbook with ``-vvv --diff``, registers each result and prints it (a
``debug`` task per registered variable), then ``leak_check`` searches stdout, stderr and the results
for the API key and every password. Each scenario appends a record (fault, requests injected, runs,
outcome, seconds) to ``tests/output/reliability/results.jsonl``; ``tests/tools/reliability_report.py``
renders docs/reliability.md from them, and ``make integration`` fails when the committed page differs.
What the tests import (``Faulty``, ``LeakChecked``, ``API_KEY``) is in ``helpers.py``.

The emulator runs without Prism here: a proxy in front would turn a dropped connection or an HTML page
into its own answer. The contract is checked by the rest of the integration suite.
"""

import os
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "tests" / "tools"))
import reliability_report  # noqa: E402

from tests.integration.harness import PlaybookRunner  # noqa: E402
from tests.integration.reliability.helpers import API_KEY, Faulty, LeakChecked  # noqa: E402

SEED = "20240611"
ORDER = {"test_fleet": 10, "test_faults": 20, "test_races": 30, "test_tls": 40, "test_bad_input": 60}  # table order


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
