"""A throw-away Kamailio whose subscribers live in SQLite and are managed with Kamailio's own `kamctl`.

The PBX of tests/integration/pbx (the `kamailio_pbxs` fixture): run the way Kamailio PBXs are run,
so that the sip_attach role's Kamailio adapter manages it with the same tools as a real one.

    with KamailioDbPbx() as pbx:
        subprocess.run([pbx.kamctl, "add", "3001@127.0.0.1", password])   # `kamctl` of THIS instance
        subprocess.run(pbx.kamcmd.split() + ["ul.dump"])                   # its location table

One instance is one Kamailio on 127.0.0.1:<port> (UDP and TCP) with its own folder, `rundir`:

- `kamailio.sqlite`: the database, made from /usr/share/kamailio/db_sqlite/{standard,auth_db,usrloc,alias_db}-create.sql
  (`kamctl rm` also deletes from `dbaliases`, so alias_db is needed).
- `.kamctlrc`: DBENGINE=SQLITE, DB_PATH, SIP_DOMAIN, and RPCFIFOPATH (the jsonrpcs FIFO of this instance,
  which `kamctl rm` and `kamctl ul ...` talk to). kamctl reads `~/.kamctlrc` after /etc/kamailio/kamctlrc,
  so `HOME=<rundir> kamctl ...` selects this instance; the `kamctl` script in the folder does just that.
- `ctl.sock`: the ctl module's binrpc socket, for `kamcmd -s unix:<rundir>/ctl.sock`.

The registrar (request_route below, shaped like Kamailio's sample config): REGISTER is challenged with
realm = the To domain and authenticated by auth_db against `subscriber` (the plain `password` column with
calculate_ha1, as kamctl writes it with its default STORE_PLAINTEXT_PW=1; with `plaintext=False` kamctl
stores only the hashes and Kamailio reads the `ha1` column), the auth user must be the To user, then
`save("location")` (usrloc in memory). An INVITE to a registered user is record-routed and relayed to its
contact (`lookup("location")`, `t_relay()`); 404 for anyone else.

kamctl prints every SQL statement it runs, the password included: never log its output.
"""

import os
import re
import shutil
import sqlite3
import stat
import subprocess

from tests.tools.kamailio_pbx import CONFIG_HEAD, MODULES, ROUTE_REQINIT, KamailioError, KamailioPbx, find_kamailio, modules_dir

SCHEMA_DIRS = ("/usr/share/kamailio/db_sqlite", "/usr/local/share/kamailio/db_sqlite")
SCHEMAS = ("standard", "auth_db", "usrloc", "alias_db")
DB_MODULES = tuple(name for name in MODULES if name != "htable") + ("tmx", "db_sqlite", "auth_db", "ctl")
PACKAGES = "kamailio kamailio-sqlite-modules sqlite3"

DB_CONFIG = CONFIG_HEAD + """modparam("jsonrpcs", "fifo_name", "{rpc_fifo}")
modparam("ctl", "binrpc", "unix:{ctl_socket}")
modparam("auth_db", "db_url", "sqlite://{db_path}")
modparam("auth_db", "use_domain", 1)
modparam("auth_db", "calculate_ha1", {calculate_ha1})
modparam("auth_db", "password_column", "{password_column}")
modparam("auth_db", "load_credentials", "")
modparam("rr", "enable_full_lr", 0)
""" + ROUTE_REQINIT + """
request_route {{
    route(REQINIT);
    if (is_method("CANCEL")) {{
        if (t_check_trans()) {{
            route(RELAY);
        }}
        exit;
    }}
    if (!is_method("ACK")) {{
        if (t_precheck_trans()) {{
            t_check_trans();
            exit;
        }}
        t_check_trans();
    }}
    if (has_totag()) {{
        route(WITHINDLG);
        exit;
    }}
    if (is_method("OPTIONS")) {{
        sl_send_reply("200", "OK");
        exit;
    }}
    remove_hf("Route");
    if (is_method("INVITE|SUBSCRIBE")) {{
        record_route();
    }}
    if (is_method("REGISTER")) {{
        route(REGISTRAR);
        exit;
    }}
    if ($rU == $null) {{
        sl_send_reply("484", "Address Incomplete");
        exit;
    }}
    route(LOCATION);
}}

route[WITHINDLG] {{
    if (loose_route()) {{
        route(RELAY);
        exit;
    }}
    if (is_method("ACK")) {{
        if (t_check_trans()) {{
            route(RELAY);
        }}
        exit;
    }}
    sl_send_reply("404", "Not here");
}}

route[REGISTRAR] {{
    if ($td != "{domain}") {{
        sl_send_reply("404", "Not Found");
        exit;
    }}
    if (!www_authenticate("$td", "subscriber")) {{
        xlog("L_INFO", "REGISTER $tU@$td: auth_db said $rc for auth user $au from $si:$sp\\n");
        www_challenge("$td", "{challenge_flags}");
        exit;
    }}
    if ($au != $tU) {{
        sl_send_reply("403", "Forbidden auth ID");
        exit;
    }}
    consume_credentials();
    if (!save("location")) {{
        sl_reply_error();
    }}
}}

route[LOCATION] {{
    if (!lookup("location")) {{
        switch ($rc) {{
            case -2:
                send_reply("405", "Method Not Allowed");
                exit;
            default:
                send_reply("404", "Not Found");
                exit;
        }}
    }}
    route(RELAY);
}}

route[RELAY] {{
    if (!t_relay()) {{
        sl_reply_error();
    }}
    exit;
}}
"""

KAMCTLRC = """# written by tests/tools/kamailio_db_pbx.py: kamctl settings of the test Kamailio in {rundir}
# (read as ~/.kamctlrc: run kamctl with HOME={rundir}, or {rundir}/kamctl)
SIP_DOMAIN={domain}
DBENGINE=SQLITE
DB_PATH="{db_path}"
CTLENGINE=RPCFIFO
RPCFIFOPATH="{rpc_fifo}"
PID_FILE="{pid_file}"
STORE_PLAINTEXT_PW={plaintext}
VERIFY_ACL=0
VERIFY_USER=0
NOHLPRINT=1
"""

KAMCTL_WRAPPER = """#!/bin/sh
# kamctl of the test Kamailio in {rundir}: it reads {rundir}/.kamctlrc as ~/.kamctlrc
HOME={rundir} exec {kamctl} "$@"
"""

# kamcmd's text answer to ul.dump: nested "Name: {" ... "}" blocks; an AoR's "Info" block holds "AoR: 3001@127.0.0.1"
# and "Contacts", with one "Contact" block per contact made of "Name: value" lines
UL_LINE = re.compile(r"^(?P<key>[A-Za-z][A-Za-z0-9_-]*):\s*(?P<value>.*)$")


def find_tool(name):
    return shutil.which(name) or next(
        (path for path in (f"/usr/sbin/{name}", f"/usr/bin/{name}", f"/usr/local/sbin/{name}") if os.access(path, os.X_OK)),
        None)


def schema_dir():
    return next((path for path in SCHEMA_DIRS if os.path.isfile(os.path.join(path, "auth_db-create.sql"))), None)


def missing_requirements():
    """None when a DB-backed Kamailio can run here, else what is missing (to install with `make sip-tools`)."""
    missing = [name for name, found in (
        ("kamailio", find_kamailio()), ("kamctl", find_tool("kamctl")), ("kamcmd", find_tool("kamcmd")),
        ("sqlite3", find_tool("sqlite3")), ("the db_sqlite module and its SQL scripts (kamailio-sqlite-modules)",
                                            schema_dir() and os.path.isfile(os.path.join(modules_dir() or "", "db_sqlite.so"))),
    ) if not found]
    if not missing:
        return None
    return f"{', '.join(missing)} not found: run `make sip-tools` (apt-get install -y {PACKAGES})"


def parse_ul_dump(text):
    """{aor: [contact dict]} from kamcmd's text answer to `ul.dump` (values as printed: strings).

    A contact dict holds the fields Kamailio 5.6's kamcmd prints for it: Address, Expires, Q, Call-ID, CSeq,
    User-Agent, Received, Path, State, Flags, CFlags, Socket, Methods, Ruid, Instance, Reg-Id, Server-Id,
    Tcpconn-Id, Keepalive, Last-Keepalive, KA-Roundtrip, Last-Modified ("[not set]" for an empty one).
    """
    table, blocks, contacts = {}, [], None
    for line in text.splitlines():
        line = line.strip()
        if line == "}":
            if blocks:
                blocks.pop()
            continue
        match = UL_LINE.match(line)
        key, value = (match.group("key"), match.group("value").strip()) if match else ("", line)
        if value == "{":
            blocks.append(key)
            if key == "Contact" and contacts is not None:
                contacts.append({})
        elif key == "AoR" and blocks and blocks[-1] == "Info":
            contacts = table.setdefault(value, [])
        elif key and blocks and blocks[-1] == "Contact" and contacts:
            contacts[-1][key] = value
    return table


class KamailioDbPbx(KamailioPbx):
    """One Kamailio with auth_db on SQLite, its kamctlrc, kamctl wrapper and kamcmd socket (see the module doc).

    Attributes for the role and the tests: `kamctl` (the wrapper script: a command line), `kamctl_home`
    (the HOME that selects this instance for a plain `kamctl`), `kamcmd` (`kamcmd -s unix:<socket>`), `port`,
    `domain` (the SIP domain), `db_path`, `kamctlrc_path`, `ctl_socket`; `proxy` (host:port) as for KamailioPbx.
    """

    template, modules, writer = DB_CONFIG, DB_MODULES, "kamailio_db_pbx.py"

    def __init__(self, port=None, domain="127.0.0.1", transports=("udp", "tcp"), qop=True, plaintext=True,
                 min_expires=1, min_expires_mode=0, debug=2, rundir=None):
        super().__init__(port=port, domain=domain, transports=transports, qop=qop, min_expires=min_expires,
                         min_expires_mode=min_expires_mode, debug=debug, rundir=rundir)
        self.plaintext = plaintext
        self.kamctl_home = self.rundir
        self.db_path = os.path.join(self.rundir, "kamailio.sqlite")
        self.kamctlrc_path = os.path.join(self.rundir, ".kamctlrc")
        self.kamctl = os.path.join(self.rundir, "kamctl")
        self.ctl_socket = os.path.join(self.rundir, "ctl.sock")
        self.rpc_fifo = os.path.join(self.rundir, "rpc.fifo")
        self.kamcmd = f"{find_tool('kamcmd') or 'kamcmd'} -s unix:{self.ctl_socket}"

    def config_values(self):
        values = super().config_values()
        values.update(rpc_transport=6, rpc_fifo=self.rpc_fifo, ctl_socket=self.ctl_socket, db_path=self.db_path,
                      calculate_ha1=1 if self.plaintext else 0, password_column="password" if self.plaintext else "ha1")
        return values

    def prepare(self):
        reason = missing_requirements()
        if reason:
            raise KamailioError(reason)
        folder = schema_dir()
        with sqlite3.connect(self.db_path) as database:
            for name in SCHEMAS:
                with open(os.path.join(folder, f"{name}-create.sql"), encoding="utf-8") as script:
                    database.executescript(script.read())
        with open(self.kamctlrc_path, "w", encoding="utf-8") as handle:
            handle.write(KAMCTLRC.format(rundir=self.rundir, domain=self.domain, db_path=self.db_path,
                                         rpc_fifo=self.rpc_fifo, pid_file=os.path.join(self.rundir, "kamailio.pid"),
                                         plaintext=1 if self.plaintext else 0))
        with open(self.kamctl, "w", encoding="utf-8") as handle:
            handle.write(KAMCTL_WRAPPER.format(rundir=self.rundir, kamctl=find_tool("kamctl")))
        os.chmod(self.kamctl, stat.S_IRWXU | stat.S_IRGRP | stat.S_IXGRP | stat.S_IROTH | stat.S_IXOTH)

    def provision(self):
        """The subscribers are added with kamctl (`kamctl_run`), not at start."""

    def set_password(self, user, password):
        raise KamailioError("the subscribers of a KamailioDbPbx are managed with its kamctl")

    def kamctl_run(self, *args, timeout=30):
        """Run this instance's kamctl; a CompletedProcess with text output, which may hold a password: never log it."""
        return subprocess.run([self.kamctl, *args], capture_output=True, text=True, stdin=subprocess.DEVNULL,
                              timeout=timeout, check=False)

    def kamcmd_run(self, *args, timeout=10):
        """Run kamcmd on this instance's ctl socket; a CompletedProcess with text output."""
        return subprocess.run([*self.kamcmd.split(), *args], capture_output=True, text=True,
                              stdin=subprocess.DEVNULL, timeout=timeout, check=False)

    def kamcmd_locations(self):
        """{aor: [contact dict]} read with `kamcmd ul.dump` (the way the role reads it), parsed by `parse_ul_dump`."""
        result = self.kamcmd_run("ul.dump")
        if result.returncode != 0:
            raise KamailioError(f"kamcmd ul.dump exited with {result.returncode}: {result.stderr.strip()}")
        return parse_ul_dump(result.stdout)

    def subscribers(self):
        """{username: {"domain", "has_password", "ha1"}} straight from the database (not through kamctl)."""
        with sqlite3.connect(self.db_path) as database:
            rows = database.execute("SELECT username, domain, password, ha1 FROM subscriber").fetchall()
        return {username: {"domain": domain, "has_password": bool(password), "ha1": ha1}
                for username, domain, password, ha1 in rows}
