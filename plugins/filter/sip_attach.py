# -*- coding: utf-8 -*-
# Copyright (c) telnyx.sip contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""Filters of the telnyx.sip.sip_attach role: PBX trunks of an inventory -> UAC connections.

The documentation of each filter is in the YAML file of the same name beside
this one (``sip_attach_connections.yml``, ``sip_attach_worksheet.yml``,
``sip_attach_host_results.yml``).

Speed matters here: the role gathers the trunks of every host of a play
(thousands of trunks) in one controller-side pass. Reading a host's
variables (``hostvars.raw_get``) is cheap; what is costly is Jinja compiling
one template per value (about half a millisecond each, with no cache across
hosts). So values are read raw and only templated when they need it: plain
values are used as they are, and a value that is exactly ``{{ some_var }}``
(the usual vault reference) is resolved by reading ``some_var`` the same way.
Anything else falls back to Ansible's own templating of the whole variable
for that host, so the result is always what ``hostvars[host][var]`` gives.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

try:
    from collections.abc import Mapping
except ImportError:  # pragma: no cover - Python 2 is not supported by the collection anyway
    Mapping = dict

from ansible.errors import AnsibleFilterError
from ansible.module_utils.six import string_types

try:  # ansible-core >= 2.19: only strings trusted as templates are templated
    from ansible.template import is_trusted_as_template as _trusted
except ImportError:  # pragma: no cover - older ansible-core templates every string but !unsafe ones
    try:
        from ansible.utils.unsafe_proxy import AnsibleUnsafe
    except ImportError:
        AnsibleUnsafe = ()

    def _trusted(value):
        return not isinstance(value, AnsibleUnsafe)


TRUNKS_VAR = "sip_attach_trunks"
DEFAULTS_VAR = "sip_attach_defaults"
TELNYX_SIP_DOMAIN = "sip.telnyx.com"

# external_uac_settings keys a trunk (or sip_attach_defaults) gives by name
EXTERNAL_KEYS = ("proxy", "transport", "username", "password", "auth_username", "expiration_sec",
                 "outbound_proxy", "from_user", "user_agent")
TRUNK_KEYS = frozenset(EXTERNAL_KEYS + ("name", "state", "connection_name", "destination_uri", "extension",
                                        "application", "settings"))
DEFAULT_KEYS = frozenset(EXTERNAL_KEYS + ("state", "application", "settings"))
# connection options that the named keys build: settings must not give them
RESERVED_SETTINGS = frozenset(("connection_name", "external_uac_settings", "internal_uac_settings"))

_SIMPLE_REF = re.compile(r"^\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}$")
_LABEL = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?$")
_FQDN = re.compile(r"^(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?$")
_SCALARS = (bool, int, float, type(None))
_MISSING = object()


class _NeedsTemplating(Exception):
    """A raw value holds more than plain data and ``{{ var }}`` references."""


def _plain(value):
    """Deep copy of templated data as plain dicts, lists and scalars (lazy containers resolved)."""
    if isinstance(value, string_types):
        return value
    if isinstance(value, Mapping):
        return dict((key, _plain(item)) for key, item in value.items())
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    return value


class HostView:
    """The variables of one host, read raw and templated only where needed."""

    def __init__(self, hostvars, host):
        self.hostvars = hostvars
        self.host = host
        raw_get = getattr(hostvars, "raw_get", None)
        # a plain dict of dicts (unit tests, or already templated data) has no raw_get
        self.raw = raw_get(host) if raw_get is not None else hostvars[host]
        if not isinstance(self.raw, Mapping):
            raise AnsibleFilterError("host %r is not in the inventory" % (host,))
        self._templated = None

    def get(self, name, default=None):
        value = self._lookup(name, 0)
        return default if value is _MISSING else value

    def _lookup(self, name, depth):
        if name not in self.raw:
            return _MISSING
        try:
            return self._resolve(self.raw[name], depth)
        except _NeedsTemplating:
            return self.templated(name)

    def templated(self, name):
        """``hostvars[host][name]``: Ansible's full templating (the slow, general path)."""
        if self._templated is None:
            self._templated = self.hostvars[self.host]
        return _plain(self._templated[name])

    def _resolve(self, value, depth):
        if isinstance(value, string_types):
            if "{" not in value or not _trusted(value):
                return value
            match = _SIMPLE_REF.match(value)
            if match is None or depth > 8:
                raise _NeedsTemplating()
            resolved = self._lookup(match.group(1), depth + 1)
            if resolved is _MISSING:
                raise _NeedsTemplating()  # let Ansible report the undefined variable
            return resolved
        if isinstance(value, _SCALARS):
            return value
        if isinstance(value, Mapping):
            return dict((key, self._resolve(item, depth)) for key, item in value.items())
        if isinstance(value, (list, tuple)):
            return [self._resolve(item, depth) for item in value]
        raise _NeedsTemplating()  # vault-encrypted values and anything unexpected

    def password_source(self, raw_value, where):
        """Where a password comes from, in words (never the value)."""
        if isinstance(raw_value, string_types) and _trusted(raw_value):
            match = _SIMPLE_REF.match(raw_value)
            if match is not None:
                return "inventory var %s (via %s)" % (match.group(1), where)
            if "{" in raw_value:
                return "template in %s" % where
            return "%s (plain text in the inventory: move it to a vault var)" % where
        if isinstance(raw_value, string_types):
            return "%s (plain text in the inventory: move it to a vault var)" % where
        return "%s (vault-encrypted value)" % where


def _merge(base, override):
    """``override`` on top of ``base``; nested dicts are merged key by key."""
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _text(value):
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, (int, float)):
        return str(value)
    return value


def connection_name(host, trunk):
    """The connection name of a trunk: its ``connection_name``, or ``<host>-<trunk name>``."""
    name = trunk.get("connection_name")
    if name:
        return _text(name)
    return "%s-%s" % (host, _text(trunk.get("name")))


def destination(extension, application, label):
    """``<extension>@<application>.sip.telnyx.com`` (an application given as a full domain is kept)."""
    application = _text(application)
    if not isinstance(application, string_types) or not application:
        raise AnsibleFilterError("%s: extension %s needs an application (in the trunk or in sip_attach_defaults): "
                                 "assistant-<uuid>, cc-app-<id>, stt-<id> or another application label"
                                 % (label, extension))
    if "." in application:
        if not _FQDN.match(application):
            raise AnsibleFilterError("%s: application %r is neither an application label nor a domain"
                                     % (label, application))
        domain = application
    else:
        if not _LABEL.match(application):
            raise AnsibleFilterError("%s: application %r must be an application label such as assistant-<uuid>, "
                                     "cc-app-<id> or stt-<id> (letters, digits and hyphens)" % (label, application))
        domain = "%s.%s" % (application, TELNYX_SIP_DOMAIN)
    return "%s@%s" % (extension, domain)


def sip_domain(proxy):
    """The host part of a proxy (``sip:pbx.example.com:5060;transport=tcp`` -> ``pbx.example.com``)."""
    if not isinstance(proxy, string_types):
        return None
    value = re.sub(r"^sips?:", "", proxy, flags=re.IGNORECASE).split(";", 1)[0]
    if value.startswith("["):
        return value.split("]", 1)[0] + "]"
    return value.split(":", 1)[0]


def _check_keys(data, allowed, label):
    if not isinstance(data, Mapping):
        raise AnsibleFilterError("%s must be a dict, got %s" % (label, type(data).__name__))
    unknown = sorted(str(key) for key in data if key not in allowed)
    if unknown:
        raise AnsibleFilterError("%s: unknown key(s) %s; allowed: %s"
                                 % (label, ", ".join(unknown), ", ".join(sorted(allowed))))


def _check_settings(settings, label):
    if not isinstance(settings, Mapping):
        raise AnsibleFilterError("settings of %s must be a dict of connection options, got %s"
                                 % (label, type(settings).__name__))
    reserved = sorted(key for key in settings if key in RESERVED_SETTINGS)
    if reserved:
        raise AnsibleFilterError("settings of %s must not set %s: the role builds them from the trunk's own keys "
                                 "(connection_name, proxy, username, destination_uri, ...)" % (label, ", ".join(reserved)))


class Trunk:
    """One trunk of one host, with everything the filters return about it."""

    def __init__(self, host, index, trunk, defaults, address, label):
        self.host = host
        self.index = index
        self.trunk = trunk
        self.defaults = defaults
        self.address = address
        self.label = label
        self.name = _text(trunk.get("name"))
        self.connection_name = connection_name(host, trunk)

    def value(self, key):
        value = self.trunk.get(key)
        return self.defaults.get(key) if value is None else value

    @property
    def state(self):
        return self.value("state") or "present"

    def item(self):
        """The ``connections`` item of M(telnyx.sip.uac_connections)."""
        if self.state == "absent":
            return dict(connection_name=self.connection_name, state="absent")
        trunk, label = self.trunk, self.label
        if trunk.get("destination_uri") is not None and trunk.get("extension") is not None:
            raise AnsibleFilterError("%s sets both destination_uri and extension: give destination_uri, or "
                                     "extension with application" % label)
        if trunk.get("destination_uri") is not None and trunk.get("application") is not None:
            raise AnsibleFilterError("%s sets both destination_uri and application: application is only used "
                                     "with extension" % label)
        if trunk.get("destination_uri") is not None:
            uri = _text(trunk["destination_uri"])
        elif trunk.get("extension") is not None:
            uri = destination(_text(trunk["extension"]), self.value("application"), label)
        else:
            raise AnsibleFilterError("%s needs destination_uri, or extension with application" % label)
        external = dict(proxy=self.proxy)
        for key in EXTERNAL_KEYS[1:]:
            value = self.value(key)
            if value is not None:
                external[key] = value if key == "expiration_sec" else _text(value)
        if external.get("username") is None and trunk.get("extension") is not None:
            external["username"] = _text(trunk["extension"])
        for key in ("username", "password"):
            if external.get(key) in (None, ""):
                raise AnsibleFilterError("%s needs a %s (in the trunk or in sip_attach_defaults)" % (label, key))
        settings = _merge(self.defaults.get("settings") or {}, trunk.get("settings") or {})
        item = dict(settings)
        item.update(connection_name=self.connection_name, state="present",
                    external_uac_settings=external, internal_uac_settings=dict(destination_uri=uri))
        return item

    @property
    def proxy(self):
        return _text(self.value("proxy") or self.address)


def _trunks(hostvars, hosts, trunks_var, defaults_var):
    """Every trunk of ``hosts``, checked, in order: (HostView, Trunk) pairs."""
    if isinstance(hosts, string_types) or not isinstance(hosts, (list, tuple)):
        raise AnsibleFilterError("the hosts must be a list of inventory host names, such as ansible_play_hosts")
    out = []
    seen = {}
    for host in hosts:
        view = HostView(hostvars, host)
        trunks = view.get(trunks_var)
        if trunks is None:
            continue
        if not isinstance(trunks, list):
            raise AnsibleFilterError("%s of host %s must be a list of trunks, got %s"
                                     % (trunks_var, host, type(trunks).__name__))
        if not trunks:
            continue
        defaults = view.get(defaults_var) or {}
        _check_keys(defaults, DEFAULT_KEYS, "%s of host %s" % (defaults_var, host))
        if defaults.get("settings") is not None:
            _check_settings(defaults["settings"], "%s of host %s" % (defaults_var, host))
        address = view.get("ansible_host") or host
        names = set()
        for index, trunk in enumerate(trunks):
            label = "%s[%d] of host %s" % (trunks_var, index, host)
            _check_keys(trunk, TRUNK_KEYS, label)
            name = _text(trunk.get("name"))
            if not isinstance(name, string_types) or not name:
                raise AnsibleFilterError("%s needs a name" % label)
            label = "trunk %r of host %s" % (name, host)
            if name in names:
                raise AnsibleFilterError("%s: two trunks of this host are named %r" % (label, name))
            names.add(name)
            settings = trunk.get("settings")
            if settings is not None:
                _check_settings(settings, label)
            entry = Trunk(host, index, trunk, defaults, address, label)
            if entry.connection_name in seen:
                raise AnsibleFilterError("%s: connection name %r is also used by %s; each trunk needs its own "
                                         "connection name" % (label, entry.connection_name, seen[entry.connection_name]))
            seen[entry.connection_name] = label
            out.append((view, entry))
    return out


def sip_attach_connections(hostvars, hosts, trunks_var=TRUNKS_VAR, defaults_var=DEFAULTS_VAR):
    """The ``connections`` of M(telnyx.sip.uac_connections) for the trunks of ``hosts``."""
    return [entry.item() for dummy, entry in _trunks(hostvars, hosts, trunks_var, defaults_var)]


def _password_source(view, entry, trunks_var, defaults_var):
    if entry.trunk.get("password") is not None:
        raw_trunks = view.raw.get(trunks_var)
        raw = _raw_item(raw_trunks, entry.index, "password")
        return view.password_source(raw, "%s[%s].password" % (trunks_var, entry.name))
    if entry.defaults.get("password") is not None:
        raw = view.raw.get(defaults_var)
        raw = raw.get("password") if isinstance(raw, Mapping) else None
        return view.password_source(raw, "%s.password" % defaults_var)
    return None


def _raw_item(raw_trunks, index, key):
    if isinstance(raw_trunks, (list, tuple)) and index < len(raw_trunks) and isinstance(raw_trunks[index], Mapping):
        return raw_trunks[index].get(key)
    return None


def _result_lines(result):
    if not isinstance(result, Mapping):
        return {}, []
    lines = result.get("results")
    if not isinstance(lines, list):
        return {}, []
    return dict((line.get("connection_name"), line) for line in lines if isinstance(line, Mapping)), lines


def sip_attach_worksheet(hostvars, hosts, result=None, trunks_var=TRUNKS_VAR, defaults_var=DEFAULTS_VAR):
    """One row per trunk (and per purged connection): the report and the PBX team's worksheet. No passwords."""
    by_name, lines = _result_lines(result)
    rows = []
    names = set()
    for view, entry in _trunks(hostvars, hosts, trunks_var, defaults_var):
        line = by_name.get(entry.connection_name) or {}
        names.add(entry.connection_name)
        present = entry.state == "present"
        username = _text(entry.value("username")) or (_text(entry.trunk.get("extension")) if present else None)
        if present and entry.trunk.get("destination_uri") is None and entry.trunk.get("extension") is not None:
            try:
                wanted = destination(_text(entry.trunk["extension"]), entry.value("application"), entry.label)
            except AnsibleFilterError:
                wanted = None
        else:
            wanted = _text(entry.trunk.get("destination_uri"))
        proxy = line.get("proxy") or (entry.proxy if present else None)
        rows.append(dict(
            pbx_host=entry.host,
            trunk=entry.name,
            state=entry.state,
            connection_name=entry.connection_name,
            action=line.get("action"),
            id=line.get("id"),
            fqdn=line.get("fqdn"),
            user_name=line.get("user_name"),
            destination_uri=line.get("destination_uri") or wanted,
            registration_status=line.get("registration_status"),
            proxy=proxy,
            sip_domain=sip_domain(proxy),
            transport=_text(entry.value("transport")) if present else None,
            username=line.get("username") or username,
            auth_username=line.get("auth_username") or _text(entry.value("auth_username")),
            password_source=_password_source(view, entry, trunks_var, defaults_var) if present else None,
            error=line.get("error"),
        ))
    for line in lines:
        if isinstance(line, Mapping) and line.get("connection_name") not in names:
            rows.append(dict(
                pbx_host=None, trunk=None, state="absent", connection_name=line.get("connection_name"),
                action=line.get("action"), id=line.get("id"), fqdn=line.get("fqdn"), user_name=line.get("user_name"),
                destination_uri=line.get("destination_uri"), registration_status=line.get("registration_status"),
                proxy=line.get("proxy"), sip_domain=sip_domain(line.get("proxy")), transport=None,
                username=line.get("username"), auth_username=line.get("auth_username"), password_source=None,
                error=line.get("error"),
            ))
    return rows


REPORT_COLUMNS = ("pbx_host", "trunk", "connection_name", "state", "action", "id", "fqdn", "user_name",
                  "destination_uri", "registration_status", "sip_domain", "proxy", "transport", "username",
                  "auth_username", "password_source", "error")
ACTIONS = ("created", "updated", "deleted", "unchanged", "failed")


def _csv_cell(value):
    text = "" if value is None else str(value)
    # quote what CSV needs quoted, and what a spreadsheet would read as a formula
    if re.search(r'[",\r\n]', text) or text[:1] in ("=", "+", "-", "@", " "):
        return '"%s"' % text.replace('"', '""')
    return text


def _md_cell(value):
    return "" if value is None else str(value).replace("|", "\\|").replace("\r", " ").replace("\n", " ")


def _md_table(headers, rows):
    lines = ["| %s |" % " | ".join(headers), "|%s" % (" --- |" * len(headers))]
    lines.extend("| %s |" % " | ".join(_md_cell(cell) for cell in row) for row in rows)
    return lines


def report_csv(rows):
    lines = [",".join(REPORT_COLUMNS)]
    lines.extend(",".join(_csv_cell(row.get(column)) for column in REPORT_COLUMNS) for row in rows)
    return "\n".join(lines) + "\n"


def report_markdown(rows, check_mode=False, managed_tag=None, purge=False, limit=None):
    title = ("SIP Attach drift report (check mode: nothing was changed; each action is what a real run would do)"
             if check_mode else "SIP Attach rollout report")
    trunk_rows = [row for row in rows if row.get("pbx_host")]
    lines = ["# %s" % title, ""]
    limited = " (play limited to `%s`)" % limit if limit else ""
    lines.append("- Managed tag: `%s`; purge: %s%s" % (managed_tag, "on" if purge else "off", limited))
    lines.append("- PBX hosts: %d; trunks: %d" % (len(set(row["pbx_host"] for row in trunk_rows)), len(trunk_rows)))
    for action in ACTIONS:
        lines.append("- %s: %d" % (action, sum(1 for row in rows if row.get("action") == action)))
    unknown = sum(1 for row in rows if not row.get("action"))
    if unknown:
        lines.append("- no result (the run stopped before these were sent): %d" % unknown)
    lines.extend(["", "## Connections", ""])
    lines.extend(_md_table(
        ("PBX host", "trunk", "connection name", "action", "id", "fqdn", "destination_uri", "registration status"),
        [(row.get("pbx_host") or "(purged)", row.get("trunk"), row.get("connection_name"),
          "%s: %s" % (row.get("action"), row["error"]) if row.get("error") else row.get("action"),
          row.get("id"), row.get("fqdn"), row.get("destination_uri"), row.get("registration_status"))
         for row in rows]))
    lines.extend(["", "## PBX worksheet", "",
                  "For each PBX: Telnyx registers to the proxy as the username below. The PBX must serve the SIP",
                  "domain (Telnyx uses the proxy host as AOR domain and digest realm) and hold a SIP user with this",
                  "username, this auth username and the password from the named source. No password is written here.",
                  ""])
    lines.extend(_md_table(
        ("PBX host", "trunk", "SIP domain", "proxy", "transport", "username (extension)", "auth username",
         "password from", "Telnyx user_name", "fqdn"),
        [(row["pbx_host"], row.get("trunk"), row.get("sip_domain"), row.get("proxy"), row.get("transport"),
          row.get("username"), row.get("auth_username") or row.get("username"), row.get("password_source"),
          row.get("user_name"), row.get("fqdn"))
         for row in trunk_rows if row.get("state") == "present"]))
    return "\n".join(lines) + "\n"


def sip_attach_report(rows, check_mode=False, managed_tag=None, purge=False, limit=None):
    """The report files: a list of {name, content} (Markdown and CSV) from the rows of sip_attach_worksheet."""
    if not isinstance(rows, list):
        raise AnsibleFilterError("sip_attach_report takes the list of rows of sip_attach_worksheet")
    rows = [dict(row) for row in rows]
    return [
        dict(name="sip-attach-report.md", content=report_markdown(rows, check_mode, managed_tag, purge, limit)),
        dict(name="sip-attach-report.csv", content=report_csv(rows)),
    ]


def sip_attach_host_results(result, host, trunks):
    """This host's lines of the rollout result, keyed by trunk name."""
    by_name, dummy = _result_lines(result)
    out = {}
    for trunk in trunks or []:
        if isinstance(trunk, Mapping) and trunk.get("name") is not None:
            line = by_name.get(connection_name(host, trunk))
            if line is not None:
                out[_text(trunk["name"])] = line
    return out


class FilterModule(object):
    def filters(self):
        return {
            "sip_attach_connections": sip_attach_connections,
            "sip_attach_worksheet": sip_attach_worksheet,
            "sip_attach_host_results": sip_attach_host_results,
            "sip_attach_report": sip_attach_report,
        }
