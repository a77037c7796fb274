"""Fixtures for registering against a real PBX: Kamailio on 127.0.0.1, and an emulator that registers fast.

- ``make_kamailio(users, **options)``: a started `KamailioPbx` (tests/tools/kamailio_pbx.py; options:
  ``disabled``, ``qop``, ``transports``, ``domain``...), stopped by its pid after the test.
- ``kamailio``: one with the extensions in ``USERS`` and ``ext199`` disabled (403).
- ``sip_emulator``: an emulator with ``--registration-delay 0.2 --sip-timeout 1 --registration-retry 1``.
- ``run_sip_playbook``: ``run_playbook`` aimed at ``sip_emulator``.
- ``sipp``: ``sipp(pbx, user, scenario=None, timeout=30)`` calls ``user`` at the PBX with SIPp over UDP (the
  built-in ``uac`` scenario, or ``scenario``: XML text) and returns the finished process (``returncode`` 0: the
  call went as the scenario expects; ``output``: SIPp's screen and error trace, for assertion messages).

Without the ``kamailio`` (or ``sipp``) binary the tests skip (``make sip-tools`` installs both); in CI (``CI``
set) they fail.
"""

import os
import shutil
import subprocess

import pytest

from tests.integration.harness import PlaybookRunner
from tests.tools.kamailio_pbx import KamailioPbx, find_kamailio
from tests.integration.sip.helpers import SIP_OPTIONS, USERS


def _missing(message):
    if os.environ.get("CI"):
        pytest.fail("CI: " + message)
    pytest.skip(message)


def require_kamailio():
    if find_kamailio() is None:
        _missing("kamailio is not installed: run `make sip-tools` (apt-get install -y kamailio)")


def require_sipp():
    if shutil.which("sipp") is None:
        _missing("sipp is not installed: run `make sip-tools` (apt-get install -y sip-tester)")


@pytest.fixture
def make_kamailio():
    started = []

    def make(users=None, **options):
        require_kamailio()
        pbx = KamailioPbx(users if users is not None else USERS, **options)
        started.append(pbx)
        return pbx.start()

    yield make
    for pbx in started:
        pbx.stop()


@pytest.fixture
def kamailio(make_kamailio):
    return make_kamailio(USERS, disabled=["ext199"])


@pytest.fixture
def sip_emulator(make_emulator):
    require_kamailio()
    return make_emulator(*SIP_OPTIONS)


@pytest.fixture
def run_sip_playbook(tmp_path, sip_emulator):
    return PlaybookRunner(tmp_path, sip_emulator)


@pytest.fixture
def sipp(tmp_path):
    require_sipp()
    counter = []

    def call(pbx, user, scenario=None, timeout=30):
        counter.append(None)
        folder = tmp_path / f"sipp-{len(counter)}"
        folder.mkdir()
        command = ["sipp", "-s", user, pbx.proxy, "-m", "1", "-i", "127.0.0.1", "-p", "0", "-t", "u1",
                   "-timeout", str(timeout), "-timeout_error", "-nostdin", "-trace_err"]
        if scenario is None:
            command[1:1] = ["-sn", "uac"]
        else:
            (folder / "scenario.xml").write_text(scenario)
            command[1:1] = ["-sf", str(folder / "scenario.xml")]
        done = subprocess.run(command, cwd=folder, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                              timeout=timeout + 15, check=False)
        traces = "".join(path.read_text(errors="replace") for path in folder.glob("*_errors.log"))
        done.output = f"{' '.join(command)}\n{done.stdout[-3000:]}{done.stderr[-2000:]}{traces[-3000:]}"
        return done

    return call
