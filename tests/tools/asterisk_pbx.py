"""A throw-away Asterisk 22 on loopback, from the Debian sid root of tests/tools/asterisk_root.py.

Used by the `asterisk_pbxs` pytest fixture (tests/integration/pbx/conftest.py), and by hand:

    python tests/tools/asterisk_pbx.py --port 5090 --user 1006:pw-1006-secret

prints `asterisk-pbx NAME listening on 127.0.0.1:PORT (udp, tcp) config DIR cli COMMAND` once it
answers, and runs until SIGTERM/SIGINT (then stops Asterisk and removes its folder).

Each instance has its own folder in the root, /srv/pbx/NAME/ (etc, run, lib, log, spool), and its own
asterisk.conf whose [directories] point there, so several run at once from one root: Asterisk runs as
`chroot ROOT asterisk -C /srv/pbx/NAME/etc/asterisk.conf -f -U asterisk -G asterisk` and is driven with
`chroot ROOT asterisk -C /srv/pbx/NAME/etc/asterisk.conf -rx COMMAND` (its control socket is in
/srv/pbx/NAME/run). After `-U` Asterisk has no capability left to read files it does not own, so the
folder belongs to the root's `asterisk` user. PJSIP listens on 127.0.0.1:PORT with one UDP and one TCP
transport; pjsip.conf includes pjsip.d/*.conf and extensions.conf includes extensions.d/*.conf, where a
test (or the sip_attach role) writes its sections, then `module reload res_pjsip.so` loads them.
"""

import argparse
import itertools
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
if ROOT not in sys.path:  # run as a script
    sys.path.insert(0, ROOT)

from tests.tools.asterisk_root import HOST_STAMP, STAMP, is_ready, root_path  # noqa: E402
from tests.tools.kamailio_pbx import Polling, free_port, run_until_signal, user_password  # noqa: E402

INSTANCES = "/srv/pbx"  # in the root
CHROOT_PATH = "/usr/sbin:/usr/bin:/sbin:/bin"
_NAMES = itertools.count(1)

# Modules that would listen on fixed ports (several instances collide), want a service the root does
# not have, or duplicate another one; autoload loads the rest.
NOLOAD = ("chan_dahdi", "codec_dahdi", "res_timing_dahdi", "chan_iax2", "chan_unistim", "chan_motif", "res_xmpp",
          "pbx_dundi", "chan_console", "app_jack", "pbx_lua", "res_snmp", "res_hep", "res_hep_pjsip", "res_hep_rtcp",
          "res_stun_monitor", "res_prometheus", "res_statsd", "res_phoneprov", "res_pjsip_phoneprov_provider",
          "res_config_ldap", "res_config_pgsql", "res_config_odbc", "res_odbc", "res_odbc_transaction", "func_odbc",
          "cdr_odbc", "cdr_adaptive_odbc", "cdr_pgsql", "cdr_radius", "cdr_tds", "cel_odbc", "cel_pgsql", "cel_radius",
          "cel_tds", "app_voicemail_odbc", "res_calendar", "res_calendar_caldav", "res_calendar_ews",
          "res_calendar_exchange", "res_calendar_icalendar")

ASTERISK_CONF = """; written by tests/tools/asterisk_pbx.py: one loopback test instance
[directories]
astetcdir => {home}/etc
astrundir => {home}/run
astdbdir => {home}/lib
astlogdir => {home}/log
astspooldir => {home}/spool

[options]
runuser = asterisk
rungroup = asterisk
hideconnect = yes
"""

MODULES_CONF = """[modules]
autoload = yes
{noload}
"""

LOGGER_CONF = """[general]
dateformat = %F %T

[logfiles]
messages.log => notice,warning,error
"""

# PJSIP's UDP and TCP transports on one address and port (the PBX hosts of tests/tools/pbx_host.py too)
PJSIP_TRANSPORTS = """[transport-udp]
type = transport
protocol = udp
bind = {host}:{port}

[transport-tcp]
type = transport
protocol = tcp
bind = {host}:{port}
"""

PJSIP_CONF = """; written by tests/tools/asterisk_pbx.py: PJSIP on {host}:{port}, UDP and TCP
[global]
type = global
user_agent = asterisk-test-pbx

""" + PJSIP_TRANSPORTS + """
#tryinclude pjsip.d/*.conf
"""

EXTENSIONS_CONF = """[general]
static = yes
writeprotect = yes

[default]
exten => _X.,1,Hangup()

; the context of the phones (the sip_attach role routes its trunks' extensions from here)
[from-internal]
exten => 100,1,Answer()
 same => n,Hangup()

#tryinclude extensions.d/*.conf
"""

USER_SECTIONS = """[{user}]
type = auth
auth_type = userpass
username = {user}
password = {password}
realm = {realm}

[{user}]
type = aor
max_contacts = 1
remove_existing = yes

[{user}]
type = endpoint
context = default
disallow = all
allow = ulaw,alaw
auth = {user}
aors = {user}
"""

CONTACT_LINE = re.compile(r"^\s*Contact:\s+(?P<aor>[^</\s][^/\s]*)/(?P<uri>\S+)")


class AsteriskError(RuntimeError):
    pass


def user_sections(user, password, realm="127.0.0.1"):
    """PJSIP auth, aor and endpoint sections named after `user` (PJSIP finds the AOR by the REGISTER's To
    user and the endpoint by its From user, so the sections carry the username Telnyx registers as)."""
    return USER_SECTIONS.format(user=user, password=password, realm=realm)


def modules_conf():
    """modules.conf: autoload, with a `noload` line for each module of NOLOAD."""
    return MODULES_CONF.format(noload="\n".join(f"noload => {module}.so" for module in NOLOAD))


def parse_contacts(output):
    """{aor: [contact URI, ...]} from the output of `pjsip show contacts`."""
    contacts = {}
    for line in output.splitlines():
        match = CONTACT_LINE.match(line)
        if match:
            contacts.setdefault(match["aor"], []).append(match["uri"])
    return contacts


def _entry(path, name):
    """The fields of `name`'s line in a passwd or group file, None when it has none."""
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            fields = line.rstrip("\n").split(":")
            if fields[0] == name and len(fields) > 3:
                return fields
    return None


def root_ids(root, user="asterisk", group=None):
    """(uid, gid) of `user` in the root's /etc/passwd, the gid being that of `group` in its /etc/group (default:
    the user's primary group)."""
    fields = _entry(os.path.join(root, "etc", "passwd"), user)
    if fields is None:
        raise AsteriskError(f"no {user} user in {root}/etc/passwd: is {root} an Asterisk root?")
    if group is None:
        return int(fields[2]), int(fields[3])
    group_fields = _entry(os.path.join(root, "etc", "group"), group)
    if group_fields is None:
        raise AsteriskError(f"no {group} group in {root}/etc/group")
    return int(fields[2]), int(group_fields[2])


class AsteriskDaemon(Polling):
    """One Asterisk process in a root, run through chroot as the root's `asterisk` user: start, readiness, CLI,
    contacts, stop. Shared by the instances below and the PBX hosts of tests/tools/pbx_host.py.

    ``root``: the folder Asterisk is chrooted into; ``host``/``port``: where PJSIP listens (UDP and TCP);
    ``config_file``: asterisk.conf as Asterisk sees it (None: the stock /etc/asterisk/asterisk.conf);
    ``log_path``: its console output (a path of the machine); ``log_dir``: its astlogdir seen from the machine
    (for messages.log). ``cli_argv``/``cli``: the command, as a list and as a shell string, that runs one CLI
    command given as its last argument.
    """

    def __init__(self, name, root, host, port, config_file=None, log_path=None, log_dir=None):
        self.name, self.root, self.host, self.port = name, root, host, port
        self.config_file, self.log_path, self.log_dir = config_file, log_path, log_dir
        self._config_option = ["-C", config_file] if config_file else []
        self.cli_argv = ["chroot", self.root, "asterisk", *self._config_option, "-rx"]
        self.cli = shlex.join(self.cli_argv)
        self.process = None

    @property
    def proxy(self):
        """The `external_uac_settings.proxy` value for this PBX: host:port."""
        return f"{self.host}:{self.port}"

    # -- the process --

    def launch(self):
        """Start Asterisk in the background, in its own session (`wait_ready` waits for it)."""
        command = ["chroot", self.root, "asterisk", *self._config_option, "-f", "-n", "-U", "asterisk", "-G", "asterisk"]
        env = {"PATH": CHROOT_PATH, "LANG": "C.UTF-8", "HOME": "/var/lib/asterisk"}
        with open(self.log_path, "wb") as log:
            self.process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                            env=env, start_new_session=True)
        return self

    def wait_ready(self, timeout=60):
        """Wait until Asterisk answers `core show version`, is fully booted and listens on its port."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AsteriskError(f"asterisk {self.name} exited with {self.process.returncode}:\n{self.log_tail()}")
            try:
                version = self.command("core show version", timeout=5)
            except AsteriskError:
                time.sleep(0.2)
                continue
            if version.startswith("Asterisk "):
                self.command("core waitfullybooted", timeout=max(1, deadline - time.monotonic()))
                self._check_listening()
                return self
            time.sleep(0.2)
        raise AsteriskError(f"asterisk {self.name} did not answer `core show version` in {timeout}s:\n"
                            f"{self.log_tail()}")

    def _check_listening(self):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as tcp:
            tcp.settimeout(2)
            if tcp.connect_ex((self.host, self.port)) != 0:
                raise AsteriskError(f"asterisk {self.name} does not listen on tcp:{self.proxy}:\n{self.log_tail()}")
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
            try:
                udp.bind((self.host, self.port))
            except OSError:
                return
        raise AsteriskError(f"asterisk {self.name} does not listen on udp:{self.proxy}:\n{self.log_tail()}")

    def start(self, timeout=60):
        """launch() then wait_ready(); on failure it is stopped (stop(): an instance also removes its folder)."""
        try:
            return self.launch().wait_ready(timeout)
        except BaseException:
            self.stop()
            raise

    def stop(self, timeout=10):
        """`core stop now`, then SIGKILL to its session if it is still there. Returns the exit code (None if it
        never started)."""
        if self.process is None:
            return None
        if self.process.poll() is None:
            try:
                self.command("core stop now", timeout=timeout)
            except AsteriskError:
                pass  # it may close the socket before it answers; the wait tells
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)  # its own session: only Asterisk
                self.process.wait(timeout)
        return self.process.returncode

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    def log_tail(self, lines=40):
        """The last lines of the console output and of messages.log."""
        parts = []
        paths = [self.log_path] + ([os.path.join(self.log_dir, "messages.log")] if self.log_dir else [])
        for path in paths:
            try:
                with open(path, encoding="utf-8", errors="replace") as handle:
                    text = handle.read().splitlines()[-lines:]
            except OSError:
                continue
            parts.append(f"--- {os.path.basename(path)}\n" + "\n".join(text))
        return "\n".join(parts) or "(no log)"

    # -- the CLI --

    def command(self, text, timeout=20):
        """The output of one CLI command (AsteriskError when the CLI cannot reach Asterisk)."""
        try:
            completed = subprocess.run(self.cli_argv + [text], capture_output=True, text=True, timeout=timeout,
                                       env={"PATH": CHROOT_PATH, "LANG": "C.UTF-8", "HOME": "/root"},
                                       stdin=subprocess.DEVNULL, check=False)
        except subprocess.TimeoutExpired:
            raise AsteriskError(f"`{text}` to asterisk {self.name}: no answer in {timeout}s")
        output = completed.stdout + completed.stderr
        if completed.returncode != 0 or output.startswith("Unable to connect to remote asterisk"):
            raise AsteriskError(f"`{text}` to asterisk {self.name} failed ({completed.returncode}): {output.strip()}")
        return output

    def reload_pjsip(self):
        """`module reload res_pjsip.so`: new and changed sections of pjsip.conf and its includes apply."""
        output = self.command("module reload res_pjsip.so")
        if "not found" in output.lower() or "error" in output.lower():
            raise AsteriskError(f"module reload res_pjsip.so: {output.strip()}")
        return output

    def contacts(self):
        """{aor: [contact URI, ...]} of the registered contacts (`pjsip show contacts`)."""
        return parse_contacts(self.command("pjsip show contacts"))


class AsteriskPbx(AsteriskDaemon):
    """One Asterisk process in the shared root, with its own folder there: config, start, CLI, contacts, stop.

    Attributes: ``name``, ``root``, ``host``, ``port``, ``proxy`` (host:port), ``home`` (/srv/pbx/NAME, as
    Asterisk sees it), ``host_dir`` (the same folder from the host), ``config_dir`` (its etc, from the host),
    ``config_file`` (asterisk.conf, as Asterisk sees it), ``cli_argv`` and ``cli`` (the command, as a list and
    as a shell string, that runs one CLI command given as its last argument), ``log_path``; ``wait_for`` polls.
    """

    def __init__(self, name=None, root=None, port=None, host="127.0.0.1"):
        name = name or f"pbx{os.getpid()}-{next(_NAMES)}"
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,40}", name):
            raise AsteriskError(f"instance name {name!r}: letters, digits, '_', '.', '-' only")
        root = root_path(root)
        self.home = f"{INSTANCES}/{name}"
        self.host_dir = root + self.home
        self.config_dir = os.path.join(self.host_dir, "etc")
        super().__init__(name, root, host, port or free_port(), config_file=f"{self.home}/etc/asterisk.conf",
                         log_path=os.path.join(self.host_dir, "log", "console.log"),
                         log_dir=os.path.join(self.host_dir, "log"))
        self._ids = None
        self._created = False  # the instance folder is this object's: stop() removes it

    # -- files --

    def _own(self, path):
        os.chown(path, *self._ids)

    def write_config(self, relative, text, mode=0o640):
        """Write `relative` (e.g. 'pjsip.d/users.conf') under config_dir, owned by asterisk; returns its path."""
        path = os.path.join(self.config_dir, relative)
        if os.path.commonpath([os.path.realpath(path), self.config_dir]) != self.config_dir:
            raise AsteriskError(f"{relative} is outside {self.config_dir}")
        folder = os.path.dirname(path)
        if not os.path.isdir(folder):
            os.makedirs(folder, mode=0o750)
            self._own(folder)
        with open(path, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.chmod(path, mode)
        self._own(path)
        return path

    def _write_instance(self):
        self._ids = root_ids(self.root)
        if os.path.lexists(self.host_dir):
            raise AsteriskError(f"{self.host_dir} exists: another instance is named {self.name}")
        os.makedirs(os.path.dirname(self.host_dir), mode=0o755, exist_ok=True)
        os.mkdir(self.host_dir, 0o750)
        self._created = True
        self._own(self.host_dir)
        for folder in ("etc", "etc/pjsip.d", "etc/extensions.d", "run", "lib", "log", "spool"):
            os.mkdir(os.path.join(self.host_dir, folder), 0o750)
            self._own(os.path.join(self.host_dir, folder))
        self.write_config("asterisk.conf", ASTERISK_CONF.format(home=self.home))
        self.write_config("modules.conf", modules_conf())
        self.write_config("logger.conf", LOGGER_CONF)
        self.write_config("pjsip.conf", PJSIP_CONF.format(host=self.host, port=self.port))
        self.write_config("extensions.conf", EXTENSIONS_CONF)

    # -- the process --

    def launch(self):
        """Write the instance's folder and start Asterisk in the background (`wait_ready` waits for it)."""
        if not is_ready(self.root):
            raise AsteriskError(f"{self.root} is not a complete Asterisk root (no {STAMP} or {HOST_STAMP}): "
                                "run `make asterisk` (tests/tools/asterisk_root.py)")
        self._write_instance()
        return super().launch()

    def stop(self, timeout=10):
        """`core stop now`, then SIGKILL to its session if it is still there; removes the instance folder.

        Returns the exit code (None if it never started)."""
        code = super().stop(timeout)
        if self._created:
            shutil.rmtree(self.host_dir, ignore_errors=True)
        return code


def main(argv=None):
    parser = argparse.ArgumentParser(description="A throw-away Asterisk 22 on 127.0.0.1 (tests, demo).")
    parser.add_argument("--name", help="instance name: its folder is /srv/pbx/NAME in the root (default: pbxPID-N)")
    parser.add_argument("--root", help="the Asterisk root (default: $TELNYX_ASTERISK_ROOT or ~/.cache/telnyx.sip/...)")
    parser.add_argument("--port", type=int, default=0, help="UDP and TCP port (default: a free one)")
    parser.add_argument("--user", type=user_password, action="append", default=[], metavar="USER:PASSWORD",
                        help="a PJSIP auth/aor/endpoint named USER, realm 127.0.0.1 (pjsip.d/users.conf)")
    parser.add_argument("--show-contacts", type=float, default=0, metavar="SECONDS",
                        help="print the registered contacts every SECONDS (default: never)")
    args = parser.parse_args(argv)
    pbx = AsteriskPbx(args.name, root=args.root, port=args.port or None)
    shown = [time.monotonic()]

    def tick():
        if pbx.process.poll() is not None:
            print(pbx.log_tail(), file=sys.stderr)
            return 1
        if args.show_contacts and time.monotonic() - shown[0] >= args.show_contacts:
            shown[0] = time.monotonic()
            for aor, uris in sorted(pbx.contacts().items()):
                print(f"  {aor}: {', '.join(uris)}", flush=True)
        return None

    try:
        pbx.start()
        if args.user:
            pbx.write_config("pjsip.d/users.conf", "\n".join(user_sections(user, password) for user, password in args.user))
            pbx.reload_pjsip()
        print(f"asterisk-pbx {pbx.name} listening on {pbx.proxy} (udp, tcp) config {pbx.config_dir} cli {pbx.cli}",
              flush=True)
        return run_until_signal(tick)
    except AsteriskError as exc:
        print(f"asterisk_pbx: {exc}", file=sys.stderr)
        return 1
    finally:
        pbx.stop()


if __name__ == "__main__":
    sys.exit(main())
