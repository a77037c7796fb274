"""Fixtures for registering against a real PBX: Kamailio on 127.0.0.1, and an emulator that registers fast.

- ``make_kamailio(users, **options)``: a started `KamailioPbx` (tests/tools/kamailio_pbx.py; options:
  ``disabled``, ``qop``, ``transports``, ``domain``...), stopped by its pid after the test.
- ``kamailio``: one with the extensions in ``USERS`` and ``ext199`` disabled (403).
- ``sip_emulator``: an emulator with ``--registration-delay 0.2 --sip-timeout 1 --registration-retry 1``.
- ``run_sip_playbook``: ``run_playbook`` aimed at ``sip_emulator``.

Without the ``kamailio`` binary the tests skip (``make sip-tools`` installs it); in CI (``CI`` set) they fail.
"""

import os

import pytest

from tests.integration.conftest import PlaybookRunner
from tests.tools.kamailio_pbx import KamailioPbx, find_kamailio

USERS = {"ext%d" % number: "Secret-%d-pbx" % number for number in range(101, 106)}
SIP_OPTIONS = ("--registration-delay", "0.2", "--sip-timeout", "1", "--registration-retry", "1")


def require_kamailio():
    if find_kamailio() is None:
        message = "kamailio is not installed: run `make sip-tools` (apt-get install -y kamailio)"
        if os.environ.get("CI"):
            pytest.fail("CI: " + message)
        pytest.skip(message)


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
