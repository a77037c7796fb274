"""Fixtures for Kamailio PBXs run the way real ones are: subscribers in SQLite, managed with kamctl.

- ``kamailio_pbxs(count=1, **options)``: a list of ``count`` started `KamailioDbPbx`
  (tests/tools/kamailio_db_pbx.py; options: ``qop``, ``plaintext``, ``domain``, ``transports``...), each on
  its own port with its own database, kamctl settings and kamcmd socket; all stopped after the test.
- ``kamailio_emulator``: the emulator with the fast registration options of tests/integration/sip.
- ``run_kamailio_playbook``: ``run_playbook`` aimed at ``kamailio_emulator``.

Without kamailio, kamailio-sqlite-modules or sqlite3 the tests skip, saying what is missing
(``make sip-tools`` installs them); in CI (``CI`` set) they fail.
"""

import os

import pytest

from tests.integration.harness import PlaybookRunner
from tests.integration.sip.helpers import SIP_OPTIONS
from tests.tools.kamailio_db_pbx import KamailioDbPbx, missing_requirements


def require_kamailio_db():
    reason = missing_requirements()
    if reason:
        if os.environ.get("CI"):
            pytest.fail("CI: " + reason)
        pytest.skip(reason)


@pytest.fixture
def kamailio_pbxs():
    started = []

    def make(count=1, **options):
        require_kamailio_db()
        pbxs = []
        for _index in range(count):
            pbx = KamailioDbPbx(**options)
            started.append(pbx)
            pbxs.append(pbx.start())
        return pbxs

    yield make
    for pbx in started:
        pbx.stop()


@pytest.fixture
def kamailio_emulator(make_emulator):
    require_kamailio_db()
    return make_emulator(*SIP_OPTIONS)


@pytest.fixture
def run_kamailio_playbook(tmp_path, kamailio_emulator):
    return PlaybookRunner(tmp_path, kamailio_emulator)
