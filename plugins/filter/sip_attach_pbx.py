# -*- coding: utf-8 -*-
# Copyright (c) telnyx.sip contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""Filters of the sip_attach role's PBX adapters: what a PBX's own tools print, read into results.

Each filter takes the text a PBX command printed on the PBX host and the
host's accounts (``_sip_attach_pbx.trunks``) and answers per trunk. The
documentation of each filter is in the YAML file of the same name beside
this one.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import ipaddress
import json
import re
import time

from ansible.errors import AnsibleFilterError

# Python 3's str: ansible-core 2.22 deprecates ansible.module_utils.six (removal in 2.24)
string_types = (str,)

# `pjsip show contacts`: "  Contact:  1006/sip:1006@127.0.0.1:5062;transport=udp  4bc2b1e3c7 Avail  12.345"
_AST_CONTACT = re.compile(r"^\s*Contact:\s+(?P<aor>[^</\s][^/\s]*)/(?P<uri>\S+)")
# `grep -rn '^\[' DIR`: "/etc/asterisk/pjsip.conf:12:[1006](some-template)"
_GREP_SECTION = re.compile(r"^(?P<file>.+?):(?P<line>\d+):\[(?P<name>[^\]]+)\]")
# `database show sip_attach_test`: "/sip_attach_test/call/1006   : ANSWER|SIP 200 OK"
_AST_DB_LINE = re.compile(r"^/(?P<family>[^/\s]+)/(?P<key>[^\s:]+)\s*:\s*(?P<value>.*?)\s*$")
# `database show registrar/contact`: "/registrar/contact/1006;@89903b...: {json}"
_AST_REGISTRAR = re.compile(r"^/registrar/contact/(?P<aor>[^;\s]+);@\S+:\s*(?P<json>\{.*\})\s*$")
# `dialplan show 1006@from-internal`
_DP_CONTEXT = re.compile(r"^\[ (?:Included )?[Cc]ontext '(?P<name>[^']+)'")
_DP_EXTEN = re.compile(r"^\s+'(?P<pattern>[^']+)' =>\s+(?P<app>.*?)\s+\[(?P<where>[^\]]+)\]\s*$")
_DP_INCLUDE = re.compile(r"^\s+Include =>\s+'(?P<name>[^']+)'")
_DP_SWITCH = re.compile(r"^\s+Alt\. Switch =>\s+'(?P<name>[^']+)'")
# `pjsip show transports`: "Transport:  transport-udp   udp   0   0  0.0.0.0:5060"
_AST_TRANSPORT = re.compile(r"^Transport:\s+(?P<name>\S+)\s+(?P<type>[a-z0-9]+)\s+\d+\s+\d+\s+(?P<bind>\S+)\s*$")
# `pjsip list endpoints|aors|auths`: " Endpoint:  1006/...   Unavailable  0 of inf"
_AST_OBJECT = re.compile(r"^\s*(?P<kind>Endpoint|Aor|Auth):\s+(?P<name>[^\s</][^\s/]*)")
_MARK = "@@sip_attach@@ "
ROLE_FILES = ("sip_attach_pjsip.conf", "sip_attach_extensions.conf")
ROLE_FOLDER = "sip_attach_auth"
ROUTES = "sip-attach-routes"
# the versions of Asterisk the role's tests run (docs/pbx-adapters.md): others are refused
SUPPORTED_ASTERISK = ("22",)
# FreePBX's hook for local dialplan that from-internal reaches first (through from-internal-xfer)
FREEPBX_CONTEXT_HOOKS = {"from-internal": "from-internal-custom"}
# endpoint options the role sets itself: sip_attach_asterisk_endpoint_options may not override them
ROLE_ENDPOINT_OPTIONS = frozenset(("type", "aors", "auth", "context", "transport", "identify_by", "disallow", "allow",
                                   "dtmf_mode", "media_encryption", "contact_permit", "contact_deny", "contact_acl"))
# the characters a value in an Asterisk config file cannot hold as they are (';' is written as '\;')
_UNWRITABLE = re.compile(r"[\x00-\x1f\x7f]")
_ENDPOINT_OPTION = re.compile(r"^[a-z][a-z0-9_]*$")


def _present(trunks):
    if not isinstance(trunks, list):
        raise AnsibleFilterError("the trunks must be the list _sip_attach_pbx.trunks")
    return [trunk for trunk in trunks if isinstance(trunk, dict) and trunk.get("state") == "present"]


def _text(value):
    if not isinstance(value, string_types):
        raise AnsibleFilterError("expected the text a PBX command printed, got %s" % type(value).__name__)
    return value


def _role_file(path, config_dir):
    relative = path[len(config_dir.rstrip("/")) + 1:] if path.startswith(config_dir.rstrip("/") + "/") else path
    return relative in ROLE_FILES or relative.startswith(ROLE_FOLDER + "/")


def sections(output):
    """{label: text} of the output of a script that prints ``@@sip_attach@@ LABEL`` before each command's output."""
    parts, label, lines = {}, None, []
    for line in _text(output).splitlines():
        if line.startswith(_MARK):
            if label is not None:
                parts[label] = "\n".join(lines)
            label, lines = line[len(_MARK):].strip(), []
        elif label is not None:
            lines.append(line)
    if label is not None:
        parts[label] = "\n".join(lines)
    return parts


def config_value(value):
    """A value as an Asterisk config file must hold it for Asterisk to load exactly it (';' as '\\;')."""
    return _text(value).replace(";", "\\;")


def value_problem(value):
    """Why a value cannot be written into an Asterisk config file so that Asterisk loads it as it is, or None."""
    value = _text(value)
    bad = _UNWRITABLE.search(value)
    if bad:
        return "it holds the control character %r, which an Asterisk config line cannot carry" % bad.group(0)
    if value != value.strip():
        return "it starts or ends with a blank, which Asterisk strips when it reads the file"
    if "\\;" in value:
        return "it holds a backslash before ';', which Asterisk reads as an escaped ';'"
    return None


def sip_attach_asterisk_foreign(grep_output, trunks, host, config_dir, inbound_context="sip-attach-from-telnyx"):
    """Sections that the role does not own but that carry a name it needs: one message each."""
    needed = {}
    for trunk in _present(trunks):
        why = "trunk %s needs it (PJSIP finds Telnyx's REGISTER by the user %s)" % (trunk.get("name"), trunk["username"])
        needed[trunk["username"]] = why
        needed["%s-auth" % trunk["username"]] = "trunk %s keeps its credentials there" % trunk.get("name")
    for context in (ROUTES, "sip-attach-test-call", "sip-attach-test-answered"):
        needed[context] = "the role keeps its dialplan there"
    if inbound_context == "sip-attach-from-telnyx":
        needed[inbound_context] = "the role's context of the calls that come from Telnyx"
    messages = []
    for line in _text(grep_output).splitlines():
        match = _GREP_SECTION.match(line)
        if not match or _role_file(match.group("file"), config_dir):
            continue
        name = match.group("name").strip()
        if name in needed:
            messages.append("host %s: %s line %s defines [%s], which the sip_attach role does not own; %s. Rename or "
                            "remove that section, or give the trunk another username: the role never overwrites it."
                            % (host, match.group("file"), match.group("line"), name, needed[name]))
    return messages


def _dialplan_matches(output):
    """[(context, pattern, where)] of `dialplan show EXT@CONTEXT`, in the order Asterisk searches them."""
    matches, context = [], None
    for line in output.splitlines():
        header = _DP_CONTEXT.match(line)
        if header:
            context = header.group("name")
            continue
        exten = _DP_EXTEN.match(line)
        if exten and context:
            matches.append((context, exten.group("pattern"), exten.group("where")))
            continue
        switch = _DP_SWITCH.match(line)
        if switch and context:
            matches.append((context, "switch %s" % switch.group("name"), "a switch: Asterisk asks it before includes"))
    return matches


def _includes(parts):
    """{context: [included context, ...]} of the `dialplan show CONTEXT` parts of the probe (the include walk)."""
    includes = {}
    for label, text in parts.items():
        if label.startswith("dialplan show ") and "@" not in label:
            context = label[len("dialplan show "):]
            if "There is no existence of" not in text:
                includes[context] = [match.group("name") for match in map(_DP_INCLUDE.match, text.splitlines()) if match]
    return includes


def _search_order(context, route_context, includes):
    """The contexts in the order Asterisk searches them for a call in `context` (each once, depth first: a context's
    own extensions, then its includes in order), with ROUTES where the role's route is or will be: where
    route_context includes it already, else after route_context's own includes (the role appends its include)."""
    order, seen = [], set()

    def walk(name):
        if name in seen:
            return
        seen.add(name)
        if name == ROUTES:
            order.append(ROUTES)
            return
        order.append(name)
        for included in includes.get(name, []):
            walk(included)
        if name == route_context and ROUTES not in seen:
            seen.add(ROUTES)
            order.append(ROUTES)

    walk(context)
    return order


def _route_problems(host, trunk, context, route_context, parts):
    """Why the role's route of a trunk's extension would not be the one a phone's call in `context` takes."""
    ext = trunk["extension"]
    output = parts.get("dialplan show %s@%s" % (ext, context), "")
    if "There is no existence of '%s' context" % context in output:
        return ["host %s: trunk %s: the context %s does not exist in this PBX's dialplan, so no phone's call reaches "
                "the route to Telnyx. Set sip_attach_asterisk_context to the context your phones dial from."
                % (host, trunk.get("name"), context)]
    first = {}
    for found, pattern, where in _dialplan_matches(output):
        first.setdefault(found, (pattern, where))
    order = _search_order(context, route_context, _includes(parts))
    if ROUTES not in order:
        return ["host %s: trunk %s: the role's routes would be included from %s, which a call in context %s never "
                "reaches: set sip_attach_asterisk_flavor or sip_attach_asterisk_context to match this PBX"
                % (host, trunk.get("name"), route_context, context)]
    for found in order:
        if found == ROUTES:
            return []
        if found not in first:
            continue
        pattern, where = first[found]
        file_name, colon, line = where.rpartition(":")
        place = "%s line %s" % (file_name, line) if colon and line.isdigit() else where
        return ["host %s: trunk %s: a call to %s in context %s would take %s in context %s (%s), not the role's route "
                "to Telnyx (Asterisk searches a context's own extensions, then its includes in order). Move that "
                "extension or pattern into a context included after sip-attach-routes, or give the trunk another "
                "extension." % (host, trunk.get("name"), ext, context, "'%s'" % pattern if not pattern.startswith(
                    "switch ") else pattern, found, place)]
    return []


def _context_exists(output, context):
    """Whether `dialplan show CONTEXT` shows the context with something of the PBX's own in it."""
    if "There is no existence of" in output:
        return False
    own = [line for line in output.splitlines()
           if (_DP_EXTEN.match(line) or _DP_INCLUDE.match(line) or _DP_SWITCH.match(line))
           and "'%s'" % ROUTES not in line]
    return bool(own)


def _transports(output):
    found = []
    for line in output.splitlines():
        match = _AST_TRANSPORT.match(line.strip())
        if match:
            bind = match.group("bind")
            port = bind.rpartition(":")[2]
            found.append(dict(name=match.group("name"), type=match.group("type").lower(),
                              port=int(port) if port.isdigit() else None, bind=bind))
    return found


def _sorcery_problems(text):
    """The PJSIP object types that sorcery.conf maps away from the config files (so pjsip.conf objects are ignored)."""
    problems, section, wizards, lines = [], None, {}, {}
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.split(";", 1)[0].strip()
        if line.startswith("["):
            section = line.strip("[]").split("]", 1)[0].strip()
            continue
        name, equals, value = line.partition("=")
        if section == "res_pjsip" and equals and name.strip() in ("endpoint", "aor", "auth"):
            wizards.setdefault(name.strip(), []).append(value.strip().lstrip(">").split(",", 1)[0].strip())
            lines.setdefault(name.strip(), number)
    for kind in ("endpoint", "aor", "auth"):
        if kind in wizards and "config" not in wizards[kind]:
            problems.append("sorcery.conf line %d maps PJSIP %s objects to %s only, so Asterisk ignores the %ss of "
                            "pjsip.conf files (the role's included): add a config wizard for them, or manage this PBX's "
                            "trunks in its realtime database" % (lines[kind], kind, "/".join(wizards[kind]), kind))
    return problems


def _pending_files(parts, config_dir):
    """The PBX's own config files changed after Asterisk last loaded its configuration: [(path, module)]."""
    try:
        now = float(parts.get("now", "").strip())
        since = float(re.search(r"Last reload:\s*(\d+)", parts.get("core show uptime seconds", "")).group(1))
    except (ValueError, AttributeError):
        return []
    loaded_at = now - since
    mtimes = {}
    for line in parts.get("files", "").splitlines():
        stamp, dummy, path = line.partition(" ")
        try:
            mtimes[path] = float(stamp)
        except ValueError:
            continue
    pending = []
    for line in parts.get("config list", "").splitlines():
        words = line.split()
        if len(words) != 2 or not words[1].startswith("/"):
            continue
        module, path = words
        which = "dialplan" if module == "pbx_config" else "pjsip" if re.match(r"^[0-9a-f]{8}-", module) else None
        if which and not _role_file(path, config_dir) and mtimes.get(path, 0) > loaded_at + 1:
            pending.append((path, which))
    return sorted(set(pending))


def _blocks(text):
    """{username: its block} of the role's sip_attach_pjsip.conf (a block starts at its '; trunk' comment)."""
    blocks, lines, user = {}, [], None
    for line in text.splitlines() + ["; trunk"]:
        if line.startswith("; trunk"):
            if user and lines:
                blocks[user] = "\n".join(lines).strip()
            lines, user = [line], None
            continue
        if lines:
            lines.append(line)
            if user is None and line.startswith("["):
                user = line[1:].split("]", 1)[0]
    return blocks


def _acl_problems(host, acl):
    problems = []
    if not isinstance(acl, list):
        return ["host %s: sip_attach_registration_acl must be a list of networks (e.g. 192.0.2.0/24), got %s"
                % (host, type(acl).__name__)]
    for network in acl:
        try:
            ipaddress.ip_network(u"%s" % network, strict=False)
        except ValueError:
            problems.append("host %s: sip_attach_registration_acl: %r is not a network (address/prefix, e.g. "
                            "192.0.2.0/24)" % (host, network))
    return problems


def probe_commands(trunks, context="from-internal"):
    """The Asterisk CLI commands of the preflight read (roles/sip_attach/templates/asterisk/probe.sh.j2)."""
    commands = ["core show version", "core show settings", "core show uptime seconds", "config list",
                "module show like res_pjsip.so", "module show like chan_sip.so", "sip show settings",
                "pjsip show transports"]
    commands.extend("dialplan show %s@%s" % (trunk["extension"], context) for trunk in _present(trunks))
    return commands


def sip_attach_asterisk_preflight(output, trunks, host, config_dir="/etc/asterisk", context="from-internal",
                                  flavor="auto", endpoint_options=None, acl=None,
                                  inbound_context="sip-attach-from-telnyx"):
    """What the Asterisk of a host is, and why the role must not write on it: from the preflight script's output.

    Returns {problems: [...], version, user, group (Asterisk's), owner (of the config folder), flavor
    (asterisk|freepbx), route_context (the context the role's file includes its routes from), include_files
    ({pjsip, extensions}: the PBX's files that include the role's), transports ({username: transport name}),
    departed (usernames of the role's accounts that no present trunk has), kept ({username: pjsip block})}."""
    parts = sections(output)
    present = _present(trunks)
    problems, result = [], dict(version=None, user=None, group=None, transports={}, flavor="asterisk")
    owner = parts.get("owner", "").split()
    result["owner"] = owner[0] if len(owner) == 2 else None
    result["departed"] = sip_attach_asterisk_departed(parts.get("auth files", "").split(), trunks)
    blocks = _blocks(parts.get("role pjsip", ""))
    result["kept"] = dict((user, blocks[user]) for user in result["departed"] if user in blocks)
    version = parts.get("core show version", "")
    match = re.match(r"^Asterisk (\d+)\.(\S+)", version.strip())
    if not match:
        problems.append("host %s: Asterisk does not answer its CLI (%s): %s" % (
            host, "core show version", version.strip().splitlines()[-1] if version.strip() else "no output"))
        result["problems"] = problems
        return result
    result["version"] = "%s.%s" % (match.group(1), match.group(2))
    if match.group(1) not in SUPPORTED_ASTERISK:
        problems.append("host %s: Asterisk %s is not a version the role supports (%s: the versions its tests run)"
                        % (host, result["version"], ", ".join(SUPPORTED_ASTERISK)))
    running = re.search(r"User name and group:\s*(\S*)/(\S*)", parts.get("core show settings", ""))
    if running:
        result["user"], result["group"] = running.group(1) or None, running.group(2) or None
    # the group the role's files get: Asterisk's own when the host knows it, else the config folder's
    if result["group"] not in parts.get("run group", "").split():
        result["group"] = owner[1] if len(owner) == 2 else None
    if "res_pjsip.so" not in parts.get("module show like res_pjsip.so", "") or \
            "Running" not in parts.get("module show like res_pjsip.so", ""):
        problems.append("host %s: res_pjsip.so is not loaded: the role configures PJSIP accounts (load it in "
                        "modules.conf, or run the role on a PBX that uses PJSIP)" % host)
    chan_sip = "1 modules loaded" in parts.get("module show like chan_sip.so", "")
    sip_port = re.search(r"UDP Bindaddress:\s*\S*:(\d+)", parts.get("sip show settings", ""))
    detected = "yes" in parts.get("freepbx", "").split()
    if flavor not in ("auto", "asterisk", "freepbx"):
        problems.append("host %s: sip_attach_asterisk_flavor must be auto, asterisk or freepbx, got %s" % (host, flavor))
    result["flavor"] = "freepbx" if flavor == "freepbx" or flavor == "auto" and detected else "asterisk"
    freepbx = result["flavor"] == "freepbx"
    result["route_context"] = FREEPBX_CONTEXT_HOOKS.get(context, context) if freepbx else context
    result["include_files"] = dict(pjsip="pjsip_custom.conf" if freepbx else "pjsip.conf",
                                   extensions="extensions_custom.conf" if freepbx else "extensions.conf")
    problems.extend(sip_attach_asterisk_foreign(parts.get("sections", ""), trunks, host, config_dir, inbound_context))
    problems.extend(_acl_problems(host, acl if acl is not None else []))
    transports = _transports(parts.get("pjsip show transports", ""))
    for trunk in present:
        kind, port = (trunk.get("transport") or "UDP").lower(), trunk.get("port") or 5060
        if chan_sip and sip_port and int(sip_port.group(1)) == port:
            problems.append("host %s: trunk %s: chan_sip.so owns port %d, where Telnyx registers (%s): move it or "
                            "unload chan_sip" % (host, trunk.get("name"), port, trunk.get("transport")))
        matching = [item for item in transports if item["type"] == kind and item["port"] == port]
        if matching:
            result["transports"][trunk["username"]] = matching[0]["name"]
        else:
            problems.append("host %s: trunk %s: no PJSIP transport of type %s listens on port %d, where Telnyx "
                            "registers (transports: %s). Add one in pjsip.conf, or fix the trunk's proxy or transport."
                            % (host, trunk.get("name"), kind, port, ", ".join(
                                "%s %s %s" % (item["name"], item["type"], item["bind"]) for item in transports) or "none"))
        why = value_problem(trunk.get("password") or "")
        if why:
            problems.append("host %s: trunk %s: its password cannot be written for Asterisk: %s. Choose another "
                            "password." % (host, trunk.get("name"), why))
        if trunk.get("media_encryption") and kind == "tls":
            problems.append("host %s: trunk %s: SRTP with TLS is refused by the Telnyx API" % (host, trunk.get("name")))
        problems.extend(_route_problems(host, trunk, context, result["route_context"], parts))
    if present and not _context_exists(parts.get("dialplan show %s" % context, ""), context) and not any(
            "does not exist in this PBX's dialplan" in problem for problem in problems):
        problems.append("host %s: the context %s has nothing of this PBX's own (no extension, no include), so no "
                        "phone's call reaches the route to Telnyx. Set sip_attach_asterisk_context to the context your "
                        "phones dial from." % (host, context))
    problems.extend("host %s: %s" % (host, problem) for problem in _sorcery_problems(parts.get("sorcery", "")))
    for name in sorted(endpoint_options or {}):
        if name in ROLE_ENDPOINT_OPTIONS or not _ENDPOINT_OPTION.match(name):
            problems.append("host %s: sip_attach_asterisk_endpoint_options: %s cannot be set there (%s)" % (
                host, name, "the role sets it from the trunk" if name in ROLE_ENDPOINT_OPTIONS
                else "a PJSIP endpoint option is lower-case letters, digits and '_'"))
        else:
            why = value_problem(str((endpoint_options or {})[name]))
            if why:
                problems.append("host %s: sip_attach_asterisk_endpoint_options: %s: %s" % (host, name, why))
    for path, which in _pending_files(parts, config_dir):
        problems.append("host %s: %s changed after Asterisk last loaded its configuration: the role's %s reload would "
                        "make that change live too. Reload it yourself once it is meant (%s), or undo it; then run "
                        "the role again." % (host, path, which, "module reload res_pjsip.so" if which == "pjsip"
                                             else "dialplan reload"))
    result["problems"] = problems
    return result


def sip_attach_asterisk_loaded(output, trunks, host):
    """After a reload: one message per present trunk whose endpoint, aor or auth Asterisk did not load."""
    loaded = {}
    for line in _text(output).splitlines():
        match = _AST_OBJECT.match(line)
        if match:
            loaded.setdefault(match.group("kind").lower(), set()).add(match.group("name"))
    messages = []
    for trunk in _present(trunks):
        wanted = (("endpoint", trunk["username"]), ("aor", trunk["username"]), ("auth", "%s-auth" % trunk["username"]))
        missing = [kind for kind, name in wanted if name not in loaded.get(kind, set())]
        if missing:
            messages.append("host %s: trunk %s: Asterisk did not load its %s after the reload (is every file of the "
                            "role readable by the user Asterisk runs as? see its log)" % (
                                host, trunk.get("name"), ", ".join(missing)))
    return messages


def _registrar(text):
    """{aor: [contact fields, ...]} of `database show registrar/contact`."""
    contacts = {}
    for line in text.splitlines():
        match = _AST_REGISTRAR.match(line.strip())
        if match:
            try:
                contacts.setdefault(match.group("aor"), []).append(json.loads(match.group("json")))
            except ValueError:
                continue
    return contacts


def _database(text):
    """{family: {key: value}} of `database show ...`."""
    values = {}
    for line in text.splitlines():
        match = _AST_DB_LINE.match(line.strip())
        if match:
            values.setdefault(match.group("family"), {})[match.group("key")] = match.group("value")
    return values


def sip_attach_asterisk_bindings(output, trunks):
    """The marks of a credential change: {username: contact's expiration_time then, or ''} (`database put` args)."""
    registrar = _registrar(sections(output).get("registrar", _text(output)))
    marks = {}
    for trunk in trunks if isinstance(trunks, list) else []:
        contacts = registrar.get(trunk.get("username"), []) if isinstance(trunk, dict) else []
        marks[trunk["username"]] = ",".join(sorted(str(item.get("expiration_time", "")) for item in contacts)) or "none"
    return marks


def sip_attach_asterisk_view(contacts_output, trunks):
    """{trunk name: 'registered' | 'not registered: ...'}: a contact that registered after the last change of the
    trunk's credentials (the role marks each change with the expiration time of the binding it found then)."""
    parts = sections(contacts_output)
    contacts = {}
    for line in parts.get("contacts", contacts_output).splitlines():
        match = _AST_CONTACT.match(line)
        if match:
            contacts.setdefault(match.group("aor"), []).append(match.group("uri"))
    registrar = _registrar(parts.get("registrar", ""))
    marks = _database(parts.get("marks", "")).get("sip_attach_cred", {})
    view = {}
    for trunk in _present(trunks):
        user = trunk["username"]
        if not contacts.get(user):
            view[trunk["name"]] = "not registered: Asterisk has no contact for %s" % user
            continue
        mark = marks.get(user)
        now = sorted(str(item.get("expiration_time", "")) for item in registrar.get(user, []))
        if mark and mark != "none" and registrar.get(user) and ",".join(now) == mark:
            view[trunk["name"]] = ("not registered: the contact of %s is from before its credentials last changed "
                                   "(Telnyx has not registered with the new ones; the old binding expires at %s)"
                                   % (user, _when(now[-1])))
        else:
            view[trunk["name"]] = "registered"
    return view


def _when(epoch):
    try:
        return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(int(float(epoch))))
    except ValueError:
        return epoch


def sip_attach_asterisk_calls(db_output, trunks, context="from-internal"):
    """{trunk name: 'answered' | why not} from `database show sip_attach_test`: the role's route records each test
    call it carries (call/USER); the test-call context records how each call ended (end/USER)."""
    values = _database(_text(db_output)).get("sip_attach_test", {})
    calls = {}
    for trunk in _present(trunks):
        user = trunk["username"]
        routed, ended = values.get("call/%s" % user), values.get("end/%s" % user)
        if routed is not None:
            status, dummy, cause = routed.partition("|")
            if status == "ANSWER":
                calls[trunk["name"]] = "answered"
            else:
                calls[trunk["name"]] = ("%s (%s)" % (cause, status) if cause else status) or "not answered"
        elif ended is not None:
            calls[trunk["name"]] = ("not answered by Telnyx: the call to %s in context %s did not take the role's "
                                    "route (it ended %s elsewhere in the dialplan)" % (
                                        trunk.get("extension"), context, ended or "without a status"))
        else:
            calls[trunk["name"]] = "no outcome: the test call did not end in time"
    return calls


def sip_attach_asterisk_departed(auth_files, trunks):
    """The usernames whose auth file the role wrote but that no present trunk of the host has (sorted)."""
    present = set(trunk["username"] for trunk in _present(trunks))
    names = []
    for path in auth_files if isinstance(auth_files, list) else []:
        base = path.rsplit("/", 1)[-1]
        if base.endswith(".conf") and base[:-5] not in present:
            names.append(base[:-5])
    return sorted(names)


class FilterModule(object):
    def filters(self):
        return {
            "sip_attach_asterisk_foreign": sip_attach_asterisk_foreign,
            "sip_attach_asterisk_view": sip_attach_asterisk_view,
            "sip_attach_asterisk_calls": sip_attach_asterisk_calls,
            "sip_attach_asterisk_preflight": sip_attach_asterisk_preflight,
            "sip_attach_asterisk_loaded": sip_attach_asterisk_loaded,
            "sip_attach_asterisk_bindings": sip_attach_asterisk_bindings,
            "sip_attach_asterisk_value": config_value,
            "sip_attach_asterisk_probe_commands": probe_commands,
        }
