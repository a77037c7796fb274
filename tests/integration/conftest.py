"""Integration-test harness: the Telnyx API emulator behind Prism, and ansible-playbook runs against it.

Fixtures
- ``emulator_server`` (session): the shared emulator (and its Prism proxy when the contract check is on).
- ``emulator`` (function): the same server, reset (connections and request log) before the test.
- ``reset_emulator`` (function): only the reset; for ``pytest.mark.usefixtures("reset_emulator")``.
- ``make_emulator`` (function): ``make_emulator(*options, prism=None, fresh=False)`` returns an emulator
  started with other command-line options (e.g. ``"--plaintext-passwords"``, ``"--api-key", "k"``),
  reset; kept for the session and shared between tests asking for the same options unless ``fresh``.
- ``run_playbook`` (function): ``run_playbook(playbook, *args, ...)`` runs ansible-playbook on localhost
  against ``emulator`` and returns a PlaybookResult (rc, stdout, stderr, ``task(name)`` -> the module
  result, ``tasks()``, ``stats``); ``run_playbook.tasks([...])`` wraps a task list in a play;
  ``run_playbook.named("telnyx.sip.import", ...)`` runs a collection's playbook by its name.

The contract check: when the spec and the Prism binary are both found, every API call made through
``emulator.api_url`` crosses ``prism proxy --errors``, which refuses requests that break the contract
(422) and turns responses that break it into 500s with an ``sl-violations`` header. Without the spec
or Prism, ``api_url`` points at the emulator itself and the skip is reported loudly (a warning and a
line in the terminal summary); with the spec present but Prism missing, CI (``CI`` set) fails.
"""


import warnings

import pytest

from tests.integration.harness import Emulator, PlaybookRunner, contract_check, contract_status, status_line

_SUMMARY = []  # lines for the terminal summary


@pytest.fixture(scope="session")
def contract():
    """(spec path, prism binary) when the contract check runs, or None (and the skip is reported)."""
    found, reason = contract_check()
    _SUMMARY.append(status_line(found, reason))
    if found is None:
        warnings.warn(_SUMMARY[-1])
    return found


@pytest.fixture(scope="session")
def _emulator_pool(contract):
    pool = {}
    yield pool, contract
    for handle in pool.values():
        handle.stop()


@pytest.fixture(scope="session")
def emulator_server(_emulator_pool):
    pool, contract = _emulator_pool
    pool[((), contract is not None)] = handle = Emulator((), contract)
    return handle


@pytest.fixture
def reset_emulator(emulator_server):
    emulator_server.reset()


@pytest.fixture
def emulator(emulator_server, reset_emulator):
    return emulator_server


@pytest.fixture
def make_emulator(_emulator_pool):
    """make_emulator(*options, prism=None, fresh=False) -> Emulator, reset before it is returned.

    ``prism``: None uses Prism when the contract check is on, False never. ``fresh``: start a new
    process (stopped after the test), e.g. for a seeded ``--fail-rate`` whose sequence must start anew.
    """
    pool, contract = _emulator_pool
    fresh_ones = []

    def make(*options, prism=None, fresh=False):
        via = contract if prism is not False else None
        key = (tuple(str(option) for option in options), via is not None)
        if fresh:
            handle = Emulator(key[0], via)
            fresh_ones.append(handle)
            return handle
        if key not in pool:
            pool[key] = Emulator(key[0], via)
        pool[key].reset()
        return pool[key]

    yield make
    for handle in fresh_ones:
        handle.stop()


@pytest.fixture
def run_playbook(tmp_path, emulator):
    """run_playbook(playbook, *args, api_key=None, base_url=None, env=None, timeout=300) -> PlaybookResult."""
    return PlaybookRunner(tmp_path, emulator)


def pytest_terminal_summary(terminalreporter, config):
    lines = list(_SUMMARY)
    if not lines and config.pluginmanager.hasplugin("dsession"):
        # Under pytest-xdist the fixtures ran in the workers: state what they found.
        lines.append(status_line(*contract_status()))
    if lines:
        terminalreporter.section("telnyx API contract check")
        for line in lines:
            terminalreporter.write_line(line)
