"""A throw-away Kamailio registrar on loopback: the PBX Telnyx (the emulator) registers to.

Used by the `kamailio` pytest fixture (tests/integration/sip/conftest.py) and by `make demo`:

    python3 tests/tools/kamailio_pbx.py --port 5080 --user ext101:secret101 --user ext102:secret102

prints `kamailio-pbx listening on 127.0.0.1:5080 (udp, tcp) domain 127.0.0.1` once it answers,
and runs until SIGTERM/SIGINT (then stops Kamailio). Debian's `kamailio` package (main modules
only) is all it needs: no database; users and passwords live in an htable, the location table in
memory (usrloc db_mode 0), and JSON-RPC over a Unix datagram socket reads and changes both.

The PBX serves one SIP domain, `domain` (default 127.0.0.1: the proxy host Telnyx is given, which
is also the digest realm), answers REGISTERs with digest authentication (qop=auth unless
`qop=False`), 404 for another domain, 403 for a disabled user, and 401 again for a wrong password.
It routes calls as a PBX routes them to a registered extension: an INVITE for user@domain goes to
the user's registered contacts (`lookup("location")`, record-routed, over the transport the contact
registered with: on its TCP connection for TCP), 480 when the user has none, 404 for an unknown
user; in-dialog requests follow the Route set (or, without one, the user's contact again), CANCEL
its INVITE. No authentication on calls.
"""

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

MODULES_DIRS = ("/usr/lib/x86_64-linux-gnu/kamailio/modules", "/usr/lib/aarch64-linux-gnu/kamailio/modules",
                "/usr/lib/kamailio/modules", "/usr/local/lib64/kamailio/modules")
MODULES = ("jsonrpcs", "kex", "corex", "tm", "sl", "rr", "pv", "maxfwd", "textops", "siputils", "xlog",
           "sanity", "usrloc", "registrar", "auth", "htable")

# The part every test Kamailio shares (kamailio_db_pbx.py too): globals, modules, JSON-RPC, location table.
CONFIG_HEAD = """#!KAMAILIO
# written by tests/tools/{writer}: a loopback test registrar
debug={debug}
log_stderror=yes
children=2
tcp_children=2
auto_aliases=no
dns=no
rev_dns=no
{listen}
alias="{domain}"
server_header="Server: kamailio-test-pbx"
mpath="{mpath}"

{loadmodules}

modparam("jsonrpcs", "transport", {rpc_transport})
modparam("jsonrpcs", "dgram_socket", "{rpc_socket}")
modparam("usrloc", "db_mode", 0)
modparam("usrloc", "use_domain", {use_domain})
modparam("registrar", "min_expires", {min_expires})
modparam("registrar", "min_expires_mode", {min_expires_mode})
modparam("registrar", "max_expires", 3600)
"""

# The checks every test Kamailio makes first, as Kamailio's sample config does: `route(REQINIT);`
ROUTE_REQINIT = """
route[REQINIT] {{
    if (!mf_process_maxfwd_header("10")) {{
        sl_send_reply("483", "Too Many Hops");
        exit;
    }}
    if (!sanity_check("17895", "7")) {{
        xlog("L_WARN", "malformed request from $si:$sp\\n");
        exit;
    }}
}}
"""

CONFIG = CONFIG_HEAD + """modparam("htable", "htable", "users=>size=8;")
modparam("htable", "htable", "disabled=>size=4;")
""" + ROUTE_REQINIT + """
request_route {{
    route(REQINIT);
    if (is_method("OPTIONS")) {{
        sl_send_reply("200", "OK");
        exit;
    }}
    if (has_totag()) {{
        # in-dialog requests of a call routed to a registered contact
        if (loose_route()) {{
            if (!t_relay()) {{
                sl_reply_error();
            }}
            exit;
        }}
        if (is_method("ACK") && t_check_trans()) {{
            t_relay();
            exit;
        }}
        # a caller that keeps no route set (SIPp's built-in uac scenario): to the user's contact again
        if ($rd == "{domain}" && lookup("location")) {{
            t_relay();
            exit;
        }}
        if (!is_method("ACK")) {{
            sl_send_reply("404", "Not Found");
        }}
        exit;
    }}
    if (is_method("CANCEL")) {{
        if (t_check_trans()) {{
            t_relay();
        }}
        exit;
    }}
    if (is_method("INVITE")) {{
        route(CALL);
        exit;
    }}
    if (!is_method("REGISTER")) {{
        sl_send_reply("405", "Method Not Allowed");
        exit;
    }}
    if ($td != "{domain}") {{
        sl_send_reply("404", "Not Found");
        exit;
    }}
    if ($sht(disabled=>$tU) != $null) {{
        sl_send_reply("403", "Forbidden");
        exit;
    }}
    if (!has_credentials("{domain}") || $sht(users=>$au) == $null) {{
        www_challenge("{domain}", "{challenge_flags}");
        exit;
    }}
    if (!pv_www_authenticate("{domain}", "$sht(users=>$au)", "0")) {{
        xlog("L_INFO", "REGISTER $tU@$td refused for auth user $au from $si:$sp\\n");
        www_challenge("{domain}", "{challenge_flags}");
        exit;
    }}
    consume_credentials();
    if (!save("location")) {{
        sl_reply_error();
    }}
    exit;
}}

# a call to an extension: to its registered contacts (Telnyx, for a UAC connection)
route[CALL] {{
    if ($rd != "{domain}") {{
        sl_send_reply("404", "Not Found");
        exit;
    }}
    record_route();
    if (!lookup("location")) {{
        if ($sht(users=>$rU) != $null) {{
            sl_send_reply("480", "Temporarily Unavailable");
        }} else {{
            sl_send_reply("404", "Not Found");
        }}
        exit;
    }}
    if (!t_relay()) {{
        sl_reply_error();
    }}
    exit;
}}
"""


class KamailioError(RuntimeError):
    pass


def find_kamailio():
    return shutil.which("kamailio") or next(
        (path for path in ("/usr/sbin/kamailio", "/usr/local/sbin/kamailio") if os.access(path, os.X_OK)), None)


def modules_dir():
    return next((path for path in MODULES_DIRS if os.path.isfile(os.path.join(path, "registrar.so"))), None)


def free_port(transports=("udp", "tcp"), host="127.0.0.1"):
    """A port free on `host` (default 127.0.0.1) for both UDP and TCP."""
    for _attempt in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as tcp:
            tcp.bind((host, 0))
            port = tcp.getsockname()[1]
            try:
                with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
                    udp.bind((host, port))
            except OSError:
                continue
            return port
    raise KamailioError(f"no free port on {host}")


class Polling:
    """`wait_for`, shared by the test PBXs (this one and tests/tools/asterisk_pbx.py)."""

    def wait_for(self, predicate, timeout=10, interval=0.1):
        """Poll `predicate(self)` until it is true; returns its last value."""
        deadline = time.monotonic() + timeout
        while True:
            value = predicate(self)
            if value or time.monotonic() >= deadline:
                return value
            time.sleep(interval)


def run_until_signal(tick, interval=0.2):
    """The main loop of the test PBXs run by hand (this one, asterisk_pbx.py, pbx_host.py): call `tick()` every
    `interval` seconds until SIGTERM or SIGINT (then 0) or until `tick()` returns an exit status (returned)."""
    stop = []
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *unused: stop.append(True))
    while not stop:
        status = tick()
        if status is not None:
            return status
        time.sleep(interval)
    return 0


class KamailioPbx(Polling):
    """One Kamailio process: config, start, stop, and JSON-RPC to read locations and change users."""

    def __init__(self, users=None, port=None, domain="127.0.0.1", transports=("udp", "tcp"), qop=True,
                 disabled=(), min_expires=1, min_expires_mode=0, debug=2, rundir=None):
        self.users = dict(users or {})
        self.disabled = list(disabled)
        self.port = port or free_port()
        self.domain = domain
        self.transports = tuple(transports)
        self.qop = qop
        self.min_expires, self.min_expires_mode, self.debug = min_expires, min_expires_mode, debug
        # a short folder: Unix socket paths are limited to about 100 bytes
        self.rundir = rundir or tempfile.mkdtemp(prefix="kam-")
        self.process = None
        self.log_path = os.path.join(self.rundir, "kamailio.log")
        self.config_path = os.path.join(self.rundir, "kamailio.cfg")
        self.rpc_socket = os.path.join(self.rundir, "rpc.sock")

    @property
    def proxy(self):
        """The `external_uac_settings.proxy` value for this PBX: host:port."""
        return f"{self.domain}:{self.port}"

    # what a subclass changes: its config template, the modules it loads, the values it fills in
    template, modules, writer = CONFIG, MODULES, "kamailio_pbx.py"

    def config_values(self):
        """The values `template` is formatted with."""
        mpath = modules_dir()
        if not mpath:
            raise KamailioError("Kamailio's modules were not found: apt-get install -y kamailio")
        listen = "\n".join(f"listen={transport}:127.0.0.1:{self.port}" for transport in self.transports)
        return dict(
            writer=self.writer, debug=self.debug, listen=listen, domain=self.domain, mpath=mpath,
            rpc_transport=4, rpc_socket=self.rpc_socket, use_domain=1,
            loadmodules="\n".join(f'loadmodule "{name}.so"' for name in self.modules),
            min_expires=self.min_expires, min_expires_mode=self.min_expires_mode,
            challenge_flags="1" if self.qop else "0")

    def config(self):
        return self.template.format(**self.config_values())

    def prepare(self):
        """Called before Kamailio starts: write what the config refers to besides itself."""

    def provision(self):
        """Called once Kamailio answers JSON-RPC: the users and the disabled ones go into the htables."""
        for user, password in self.users.items():
            self.set_password(user, password)
        for user in self.disabled:
            self.disable(user)

    def start(self, timeout=20):
        binary = find_kamailio()
        if not binary:
            raise KamailioError("kamailio is not installed: apt-get install -y kamailio (make sip-tools)")
        self.prepare()
        with open(self.config_path, "w", encoding="utf-8") as handle:
            handle.write(self.config())
        command = [binary, "-DD", "-E", "-f", self.config_path, "-Y", self.rundir, "-m", "32", "-M", "4",
                   "-P", os.path.join(self.rundir, "kamailio.pid")]
        if "tcp" not in self.transports:
            command.append("-T")
        with open(self.log_path, "wb") as log:
            self.process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                            start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise KamailioError(f"kamailio exited with {self.process.returncode}:\n{self.log()}")
            try:
                self.rpc("core.version", timeout=0.5)
            except (OSError, KamailioError):
                time.sleep(0.1)
                continue
            self.provision()
            return self
        self.stop()
        raise KamailioError(f"kamailio did not answer in {timeout}s:\n{self.log()}")

    def stop(self):
        """Stop Kamailio (SIGTERM to its pid, then SIGKILL) and remove its folder; returns the exit code."""
        code = None
        if self.process is not None:
            if self.process.poll() is None:
                self.process.terminate()
                try:
                    self.process.wait(10)
                except subprocess.TimeoutExpired:
                    os.killpg(self.process.pid, signal.SIGKILL)  # its own session: only its children
                    self.process.wait(10)
            code = self.process.returncode
        shutil.rmtree(self.rundir, ignore_errors=True)
        return code

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    def log(self):
        try:
            with open(self.log_path, encoding="utf-8", errors="replace") as handle:
                return handle.read()
        except OSError:
            return ""

    # -- JSON-RPC over the Unix datagram socket --

    def rpc(self, method, *params, timeout=5.0):
        """The `result` of one JSON-RPC command (KamailioError on an error answer)."""
        client_path = os.path.join(self.rundir, f"c{os.getpid()}-{time.monotonic_ns() % 10 ** 9}.sock")
        request = {"jsonrpc": "2.0", "method": method, "params": list(params), "id": 1}
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
            sock.bind(client_path)
            try:
                sock.settimeout(timeout)
                sock.sendto(json.dumps(request).encode(), self.rpc_socket)
                try:
                    answer = json.loads(sock.recv(1 << 20).decode())
                except socket.timeout:
                    raise KamailioError(f"no answer to {method}")
            finally:
                os.unlink(client_path)
        if "error" in answer:
            raise KamailioError(f"{method}: {answer['error']}")
        return answer.get("result")

    def set_password(self, user, password):
        """Add a user or change its password (digest username)."""
        self.users[user] = password
        self.rpc("htable.sets", "users", user, password)

    def disable(self, user):
        """The user's REGISTERs get 403 Forbidden."""
        self.rpc("htable.sets", "disabled", user, "1")

    def enable(self, user):
        self.rpc("htable.delete", "disabled", user)

    def locations(self):
        """{aor: [contact dict (Address, Expires, User-Agent, ...)]} from usrloc's location table."""
        result = self.rpc("ul.dump") or {}
        table = {}
        for domain in result.get("Domains", []):
            for entry in (domain.get("Domain") or {}).get("AoRs", []) or []:
                info = entry.get("Info", entry)
                contacts = [item.get("Contact", item) for item in info.get("Contacts", []) or []]
                table[info.get("AoR")] = contacts
        return table

    def contacts(self, user):
        """The contacts bound to user@domain."""
        return self.locations().get(f"{user}@{self.domain}", [])


def user_password(text):
    """argparse type of USER:PASSWORD -> (user, password)."""
    user, colon, password = text.partition(":")
    if not colon or not user or not password:
        raise argparse.ArgumentTypeError("USER:PASSWORD")
    return user, password


def main(argv=None):
    parser = argparse.ArgumentParser(description="A throw-away Kamailio registrar on 127.0.0.1 (tests, demo).")
    parser.add_argument("--port", type=int, default=0, help="UDP and TCP port (default: a free one)")
    parser.add_argument("--domain", default="127.0.0.1", help="SIP domain and digest realm (default 127.0.0.1)")
    parser.add_argument("--user", type=user_password, action="append", default=[], metavar="USER:PASSWORD")
    parser.add_argument("--disabled", action="append", default=[], metavar="USER", help="answer 403 to USER")
    parser.add_argument("--no-qop", action="store_true", help="challenge without qop (RFC 2069 style digest)")
    parser.add_argument("--show-locations", type=float, default=0, metavar="SECONDS",
                        help="print the location table every SECONDS (default: never)")
    args = parser.parse_args(argv)
    pbx = KamailioPbx(dict(args.user), port=args.port or None, domain=args.domain, qop=not args.no_qop,
                      disabled=args.disabled)
    pbx.start()
    shown = [time.monotonic()]

    def tick():
        if pbx.process.poll() is not None:
            print(pbx.log(), file=sys.stderr)
            return 1
        if args.show_locations and time.monotonic() - shown[0] >= args.show_locations:
            shown[0] = time.monotonic()
            for aor, contacts in sorted(pbx.locations().items()):
                print(f"  {aor}: {', '.join(c.get('Address', '?') for c in contacts)}", flush=True)
        return None

    try:
        print(f"kamailio-pbx listening on 127.0.0.1:{pbx.port} ({', '.join(pbx.transports)}) domain {pbx.domain}",
              flush=True)
        return run_until_signal(tick)
    finally:
        pbx.stop()


if __name__ == "__main__":
    sys.exit(main())
