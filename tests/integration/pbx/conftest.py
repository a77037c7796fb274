"""Fixtures for real Asterisk 22 PBXs on 127.0.0.1 (tests/tools/asterisk_pbx.py), from the cached sid root.

- ``asterisk_root`` (session): the path of the Debian sid root with Asterisk 22, built on first use
  (tests/tools/asterisk_root.py, `make asterisk`; about 30-70 s and 450-600 MB, in
  ~/.cache/telnyx.sip/asterisk-sid or $TELNYX_ASTERISK_ROOT). Not root, or the build fails: every test
  that needs it SKIPS with the reason, a warning and a line in the terminal summary; in CI (``CI`` set)
  it fails instead.
- ``asterisk_pbxs`` (module): a factory, ``asterisk_pbxs(count=1, **options)`` -> a list of ``count``
  started `AsteriskPbx` (options: ``port``, ``name``, ``host``), each on its own free port with its own
  folder /srv/pbx/NAME in the root; all are stopped (``core stop now``) and their folders removed when
  the module ends. Each has ``proxy``, ``port``, ``config_dir`` (the sip_attach role's
  ``sip_attach_asterisk_config_dir``), ``cli`` (its ``sip_attach_asterisk_cli``), ``command(text)``,
  ``write_config(relative, text)``, ``reload_pjsip()``, ``contacts()`` and ``wait_for(predicate)``.
- ``pbx_emulator``: an emulator that registers 0.2 s after a change and retries every second.
"""

import os
import warnings

import pytest

from tests.tools.asterisk_pbx import AsteriskError, AsteriskPbx
from tests.tools.asterisk_root import AsteriskRootError, ensure_root, root_path

SIP_OPTIONS = ("--registration-delay", "0.2", "--sip-timeout", "1", "--registration-retry", "1")
_SUMMARY = []


def _unavailable(message):
    message = "Asterisk PBX tests SKIPPED: " + message
    _SUMMARY.append(message)
    warnings.warn(message)
    if os.environ.get("CI"):
        pytest.fail("CI: " + message)
    pytest.skip(message)


@pytest.fixture(scope="session")
def asterisk_root():
    if os.geteuid() != 0:
        _unavailable(f"they run Asterisk in a chroot, which needs root (uid {os.geteuid()}); "
                     f"run them as root (`make asterisk` builds {root_path()})")
    try:
        return ensure_root()
    except AsteriskRootError as exc:
        _unavailable(f"the Asterisk root could not be built ({exc}); `make asterisk` shows why")


@pytest.fixture(scope="module")
def asterisk_pbxs(asterisk_root):
    started = []

    def make(count=1, **options):
        pbxs = [AsteriskPbx(root=asterisk_root, **options) for _index in range(count)]
        started.extend(pbxs)
        for pbx in pbxs:  # all boot at once
            pbx.launch()
        for pbx in pbxs:
            pbx.wait_ready()
        return pbxs

    yield make
    errors = []
    for pbx in started:
        try:
            pbx.stop()
        except (AsteriskError, OSError) as exc:
            errors.append(f"{pbx.name}: {exc}")
    assert not errors, errors


@pytest.fixture
def pbx_emulator(make_emulator):
    return make_emulator(*SIP_OPTIONS)


def pytest_terminal_summary(terminalreporter, config):
    if _SUMMARY:
        terminalreporter.section("Asterisk PBX")
        for line in dict.fromkeys(_SUMMARY):
            terminalreporter.write_line(line)


# the DB-backed Kamailio PBXs (tests/tools/kamailio_db_pbx.py) of the same tests
from tests.integration.pbx.kamailio_fixtures import kamailio_emulator, kamailio_pbxs, run_kamailio_playbook  # noqa: E402,F401 pylint: disable=unused-import,wrong-import-position
