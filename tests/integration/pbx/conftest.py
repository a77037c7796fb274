"""Fixtures for real Asterisk 22 PBXs on 127.0.0.1 (tests/tools/asterisk_pbx.py), from the cached sid root.

- ``asterisk_root`` (session): the path of the Debian sid root with Asterisk 22 (and openssh-server, sudo and
  python3 for ``asterisk_hosts``), built on first use
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
- ``asterisk_hosts`` (session): a factory, ``asterisk_hosts(count=1, layout="debian", fresh=False)`` -> a list
  of ``count`` started `PbxHost` (tests/tools/pbx_host.py): PBX hosts as found in a fleet, each with its own
  overlay of the root, its own 127.0.0.N, sshd (Ansible logs in as ``deploy`` and becomes root) and Asterisk as a
  daemon with the stock paths; ``layout`` is ``debian``, ``rootowned`` or ``freepbx``.
  ``asterisk_hosts.each_layout(layouts=LAYOUTS, fresh=False)`` -> ``{layout: host}``, one host of each. Hosts
  are started in parallel, once per session: a later call gets the same hosts of that layout (more are started
  when it asks for more), so a test leaves them as it found them, or asks ``fresh=True`` for hosts of its own. All share one
  SSH control folder (``ansible_env()``); at the end of the session every host is stopped and unmounted. Needs
  what ``asterisk_root`` needs, and ``ssh``; stale hosts of a killed session are cleaned up first.
- ``pbx_emulator``: an emulator that registers 0.2 s after a change and retries every second.
"""

import os
import shutil
import warnings

import pytest

from tests.tools.asterisk_pbx import AsteriskError, AsteriskPbx
from tests.tools.pbx_host import LAYOUTS, PbxHostError, clean_stale, mounts_under, start_hosts
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


@pytest.fixture(scope="session")
def asterisk_hosts(asterisk_root, tmp_path_factory):
    if not shutil.which("ssh"):
        _unavailable("the PBX hosts are reached over SSH and `ssh` is not on PATH (apt-get install openssh-client)")
    try:
        clean_stale()
    except PbxHostError as exc:
        _unavailable(f"the PBX hosts a killed session left could not be cleaned up: {exc}")
    control_dir = str(tmp_path_factory.mktemp("pbx-ssh-cp"))
    pools, started = {}, []

    def hosts(wanted, fresh):
        """{layout: [host, ...]}: `wanted` maps a layout to a count; the missing hosts start in parallel."""
        pool = {} if fresh else pools
        missing = [layout for layout, count in wanted.items() for _index in range(count - len(pool.get(layout, [])))]
        new = start_hosts(layouts=missing, root=asterisk_root, control_dir=control_dir)
        started.extend(new)
        for host in new:
            pool.setdefault(host.layout, []).append(host)
        return dict((layout, pool[layout][:count]) for layout, count in wanted.items())

    def make(count=1, layout="debian", fresh=False):
        return hosts({layout: count}, fresh)[layout]

    make.each_layout = lambda layouts=LAYOUTS, fresh=False: dict(
        (layout, found[0]) for layout, found in hosts(dict.fromkeys(layouts, 1), fresh).items())

    yield make
    errors = []
    for host in started:
        folder = host.folder
        try:
            host.stop()
        except PbxHostError as exc:
            errors.append(str(exc))
        if mounts_under(folder):
            errors.append(f"{host.name}: still mounted: {mounts_under(folder)}")
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
