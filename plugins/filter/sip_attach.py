# -*- coding: utf-8 -*-
# Copyright (c) telnyx.sip contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""Filters of the telnyx.sip.sip_attach role: PBX trunks of an inventory -> UAC connections.

The documentation of each filter is in the YAML file of the same name beside
this one (``sip_attach_input`` in ``sip_attach_input.yml``, and so on for
every filter that ``FilterModule.filters`` lists).

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

import difflib
import re

try:
    from collections.abc import Mapping
except ImportError:  # pragma: no cover - Python 2 is not supported by the collection anyway
    Mapping = dict

from ansible.errors import AnsibleError, AnsibleFilterError
from ansible.utils.display import Display

from ansible_collections.telnyx.sip.plugins.module_utils import _uac as uac
from ansible_collections.telnyx.sip.plugins.module_utils._engine import ACTIONS, not_registered_message
from ansible_collections.telnyx.sip.plugins.module_utils._module import check_item, item_validator
from ansible_collections.telnyx.sip.plugins.module_utils._resource import SECRET_SHOWN

# Python 3's str: ansible-core 2.22 deprecates ansible.module_utils.six (removal in 2.24)
string_types = (str,)

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
                                        "application", "settings", "rotate"))
DEFAULT_KEYS = frozenset(EXTERNAL_KEYS + ("state", "application", "settings"))
# connection options that the named keys build: settings must not give them
RESERVED_SETTINGS = frozenset(("connection_name", "external_uac_settings", "internal_uac_settings"))
SETTINGS_FIELDS = frozenset(uac.FIELDS) - RESERVED_SETTINGS
CHOICES = dict(transport=("UDP", "TCP", "TLS"), state=("present", "absent"))
# the keys of a trunk (and of sip_attach_defaults) that are not strings; every other key is a string
KEY_TYPES = dict(expiration_sec="int", rotate="bool", settings="dict")
PBX_KINDS = ("none", "asterisk", "kamailio")
PBX_VAR = "sip_attach_pbx"
# every variable of the role (its options in meta/argument_specs.yml and its outputs): a host variable named
# sip_attach_* that is none of these is a typo, and the role warns about it
ROLE_VARIABLES = frozenset((
    "sip_attach_trunks", "sip_attach_defaults", "sip_attach_pbx", "sip_attach_password_dir",
    "sip_attach_rotate_passwords", "sip_attach_verify_calls", "sip_attach_asterisk_config_dir",
    "sip_attach_asterisk_cli", "sip_attach_asterisk_context", "sip_attach_asterisk_inbound_context",
    "sip_attach_asterisk_flavor", "sip_attach_asterisk_endpoint_options", "sip_attach_asterisk_qualify_frequency",
    "sip_attach_registration_acl",
    "sip_attach_kamailio_kamctl", "sip_attach_kamailio_kamcmd", "sip_attach_pbx_state_dir", "sip_attach_api_key",
    "sip_attach_api_url", "sip_attach_allow_insecure_http", "sip_attach_managed_tag", "sip_attach_purge",
    "sip_attach_purge_departed", "sip_attach_purge_force_hosts_without_trunks", "sip_attach_purge_force_all",
    "sip_attach_report_dir", "sip_attach_no_log", "sip_attach_concurrency", "sip_attach_update_password",
    "sip_attach_show_changes", "sip_attach_wait_for_registration", "sip_attach_registration_timeout",
    "sip_attach_registration_poll_interval", "sip_attach_result", "sip_attach_my_results", "sip_attach_hosts",
    "sip_attach_status_group_by", "sip_attach_status_grace", "sip_attach_status_max_unhealthy",
    "sip_attach_status_metrics_file",
))
# variables of the collection's playbooks that an inventory may set too (telnyx.sip.status): not typos either
PLAYBOOK_VARIABLES = frozenset(("sip_attach_status_title",))
KNOWN_VARIABLES = ROLE_VARIABLES | PLAYBOOK_VARIABLES
MAX_LISTED = 25
PLACEHOLDER_PASSWORD = "(generated on the first real run)"

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
        self.raw = raw_get(host) if raw_get is not None else (hostvars[host] if host in hostvars else None)
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


def destination(extension, application):
    """``<extension>@<application>.sip.telnyx.com`` (an application given as a full domain is kept)."""
    application = _text(application)
    if not isinstance(application, string_types) or not application:
        raise _Problems("extension %s needs an application (in the trunk or in sip_attach_defaults): "
                        "assistant-<uuid>, cc-app-<id>, stt-<id> or another application label" % extension)
    if "." in application:
        if not _FQDN.match(application):
            raise _Problems("application %r is neither an application label nor a domain" % application)
        domain = application
    else:
        if not _LABEL.match(application):
            raise _Problems("application %r must be an application label such as assistant-<uuid>, cc-app-<id> or "
                            "stt-<id> (letters, digits and hyphens)" % application)
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


def sip_port(proxy, transport=None):
    """The port of a proxy, else SIP's default for the transport (5061 for TLS, 5060 otherwise)."""
    default = 5061 if (transport or "").upper() == "TLS" else 5060
    if not isinstance(proxy, string_types):
        return default
    value = re.sub(r"^sips?:", "", proxy, flags=re.IGNORECASE).split(";", 1)[0]
    if value.startswith("["):
        value = value.split("]", 1)[1]
    port = value.rpartition(":")[2] if ":" in value else ""
    return int(port) if port.isdigit() else default


class _Problems(Exception):
    """One or more problems with one trunk (or a host's defaults), each a short sentence."""

    def __init__(self, problems):
        self.problems = [problems] if isinstance(problems, string_types) else list(problems)
        super(_Problems, self).__init__("; ".join(self.problems))


def _suggest(key, allowed):
    close = difflib.get_close_matches(str(key), sorted(allowed), n=1)
    return " (did you mean %s?)" % close[0] if close else ""


def _check_fields(data, allowed, what):
    """Key, type and choice checks of a trunk or of sip_attach_defaults: problems, each naming the field."""
    if not isinstance(data, Mapping):
        return ["%s must be a dict, got %s" % (what, type(data).__name__)]
    problems = []
    for key in sorted(data, key=str):
        value = data[key]
        if key not in allowed:
            problems.append("unknown key %s%s; allowed: %s" % (key, _suggest(key, allowed), ", ".join(sorted(allowed))))
        elif value is None:
            continue
        elif key in CHOICES:
            if _text(value) not in CHOICES[key]:
                hint = " (in upper case)" if str(value).upper() in CHOICES[key] else ""
                problems.append("%s must be one of %s%s, got %r" % (key, ", ".join(CHOICES[key]), hint, value))
        elif KEY_TYPES.get(key) == "bool":
            if not isinstance(value, bool):
                problems.append("%s must be true or false, got %r" % (key, value))
        elif KEY_TYPES.get(key) == "int":
            if isinstance(value, bool) or not isinstance(value, int):
                problems.append("%s must be a whole number of seconds, got %r" % (key, value))
        elif KEY_TYPES.get(key) == "dict":
            if not isinstance(value, Mapping):
                problems.append("settings must be a dict of connection options, got %s" % type(value).__name__)
            else:
                reserved = sorted(name for name in value if name in RESERVED_SETTINGS)
                if reserved:
                    problems.append("settings must not set %s: the role builds them from the trunk's own keys "
                                    "(connection_name, proxy, username, destination_uri, ...)" % ", ".join(reserved))
        elif isinstance(value, bool) or not isinstance(value, string_types + (int, float)):
            problems.append("%s must be a string, got %s" % (key, type(value).__name__))
    return problems


def _api_problem(message, trunk):
    """A problem found by the connection's own validation, in the trunk's words (its keys, not the API's paths)."""
    message = message.replace("external_uac_settings.", "")
    field = message.split(" ", 1)[0]
    if field == "internal_uac_settings.destination_uri":
        made = trunk.get("destination_uri") is None
        message = ("destination_uri (made from extension and application)" if made else "destination_uri") + \
            message[len(field):]
    elif field.split(".", 1)[0] in SETTINGS_FIELDS:
        message = "settings." + message
    if field == "username" and trunk.get("username") is None and trunk.get("extension") is not None:
        message += ("; the username defaults to the extension: set username in the trunk (for example ext%s) "
                    "and use the same user on the PBX" % _text(trunk["extension"]))
    return message


class Trunk:
    """One trunk of one host: its item for the module, its report row, and what is wrong with it."""

    def __init__(self, view, index, trunk, defaults, address, trunks_var, defaults_var):
        self.view = view
        self.host = view.host
        self.index = index
        self.trunk = trunk
        self.defaults = defaults
        self.address = address
        self.trunks_var = trunks_var
        self.defaults_var = defaults_var
        name = _text(trunk.get("name"))
        self.name = name if isinstance(name, string_types) and name else None
        custom = _text(trunk.get("connection_name"))
        if custom is not None and not isinstance(custom, string_types):
            self.connection_name = None  # the key check names the problem
        else:
            self.connection_name = connection_name(self.host, trunk) if self.name or custom else None
        self.problems = []
        self.pbx = "none"          # the kind of PBX the role manages on this trunk's host
        self.password_file = None  # where its generated password is kept on the controller, when it has one
        self.rotate = False
        self._item = None          # the connections item, built once

    @property
    def label(self):
        return "host %s, trunk %s" % (self.host, self.name if self.name else "%s[%d]" % (self.trunks_var, self.index))

    def value(self, key):
        value = self.trunk.get(key)
        return self.defaults.get(key) if value is None else value

    @property
    def state(self):
        return _text(self.value("state")) or "present"

    @property
    def present(self):
        return self.state == "present"

    @property
    def proxy(self):
        return _text(self.value("proxy") or self.address)

    def wanted_destination(self):
        trunk = self.trunk
        if trunk.get("destination_uri") is not None and trunk.get("extension") is not None:
            raise _Problems("destination_uri and extension are both set: give destination_uri, or extension with "
                            "application")
        if trunk.get("destination_uri") is not None and trunk.get("application") is not None:
            raise _Problems("destination_uri and application are both set: application is only used with extension")
        if trunk.get("destination_uri") is not None:
            return _text(trunk["destination_uri"])
        if trunk.get("extension") is not None:
            return destination(_text(trunk["extension"]), self.value("application"))
        raise _Problems("destination_uri is missing: give destination_uri, or extension with application")

    def item(self):
        """The ``connections`` item of M(telnyx.sip.uac_connections), built once (``_Problems`` when it cannot be)."""
        if self._item is None:
            self._item = self._build_item()
        return self._item

    def _build_item(self):
        if not self.present:
            return dict(connection_name=self.connection_name, state="absent")
        uri = self.wanted_destination()
        external = dict(proxy=self.proxy)
        for key in EXTERNAL_KEYS[1:]:
            value = self.value(key)
            if value is not None:
                external[key] = value if key == "expiration_sec" else _text(value)
        if external.get("username") is None and self.trunk.get("extension") is not None:
            external["username"] = _text(self.trunk["extension"])
        missing = [key for key in ("username", "password") if external.get(key) in (None, "")
                   and not (key == "password" and self.password_file)]
        if missing:
            raise _Problems(["%s is missing (set it in the trunk or in %s)" % (key, self.defaults_var)
                             for key in missing])
        settings = _merge(self.defaults.get("settings") or {}, self.trunk.get("settings") or {})
        item = dict(settings)
        item.update(connection_name=self.connection_name, state="present",
                    external_uac_settings=external, internal_uac_settings=dict(destination_uri=uri))
        return item

    def pbx_account(self, item):
        """What the PBX adapter needs to hold this trunk's account (its password included)."""
        account = dict(name=self.name, connection_name=self.connection_name, state=self.state)
        if item.get("state") != "present":
            # the user it had, when the inventory still says: its PBX account goes once Telnyx deleted the connection
            gone = _text(self.value("username")) or _text(self.trunk.get("extension"))
            if gone:
                account["username"] = gone
            return account
        external = item["external_uac_settings"]
        username = external["username"]
        account.update(
            username=username, auth_username=external.get("auth_username") or username,
            password=external.get("password"), domain=sip_domain(external["proxy"]),
            extension=_text(self.trunk.get("extension")) or username, transport=external.get("transport") or "UDP",
            port=sip_port(external["proxy"], external.get("transport")),
            media_encryption="sdes" if item.get("encrypted_media") == "SRTP" else None,
            dtmf=item.get("dtmf_type"), codecs=_pbx_codecs((item.get("inbound") or {}).get("codecs")))
        return account

    def password_source(self):
        """Where the password comes from, in words (never the value)."""
        if self.password_file and self.trunk.get("password") is None and self.defaults.get("password") is None:
            return "generated: %s (on the controller)" % self.password_file
        view = self.view
        if self.trunk.get("password") is not None:
            raw = _raw_item(view.raw.get(self.trunks_var), self.index, "password")
            return view.password_source(raw, "%s[%s].password" % (self.trunks_var, self.name))
        if self.defaults.get("password") is not None:
            raw = view.raw.get(self.defaults_var)
            raw = raw.get("password") if isinstance(raw, Mapping) else None
            return view.password_source(raw, "%s.password" % self.defaults_var)
        return None

    def row(self):
        """The trunk's row of the report, before the result is known. No password."""
        present = self.present
        try:
            wanted = self.wanted_destination() if present else _text(self.trunk.get("destination_uri"))
        except _Problems:
            wanted = None
        username = _text(self.value("username")) or (_text(self.trunk.get("extension")) if present else None)
        proxy = self.proxy if present else None
        return dict(
            pbx_host=self.host, trunk=self.name, state=self.state, connection_name=self.connection_name,
            action=None, id=None, fqdn=None, user_name=None, destination_uri=wanted, registration_status=None,
            proxy=proxy, sip_domain=sip_domain(proxy), transport=_text(self.value("transport")) if present else None,
            username=username, auth_username=_text(self.value("auth_username")),
            password_source=self.password_source() if present else None,
            error="; ".join(self.problems) if self.problems else None,
            pbx=None if self.pbx == "none" else self.pbx, pbx_registration=None, test_call=None,
        )


def _raw_item(raw_trunks, index, key):
    if isinstance(raw_trunks, (list, tuple)) and index < len(raw_trunks) and isinstance(raw_trunks[index], Mapping):
        return raw_trunks[index].get(key)
    return None


def _hosts_list(hosts, what="hosts"):
    if isinstance(hosts, string_types) or not isinstance(hosts, (list, tuple)):
        raise AnsibleFilterError("the %s must be a list of inventory host names, such as ansible_play_hosts" % what)
    return list(hosts)


class Gathered:
    """The trunks of many hosts, read in one pass and checked against every rule the API enforces."""

    def __init__(self, hostvars, hosts, trunks_var=TRUNKS_VAR, defaults_var=DEFAULTS_VAR, password_dir=None,
                 rotate_all=False):
        self.trunks_var = trunks_var
        self.defaults_var = defaults_var
        self.password_dir = password_dir or None
        self.rotate_all = rotate_all
        self.pbx_hosts = {}              # host -> kind, for the hosts whose PBX the role manages
        self.trunks = []
        self.problems = []               # problems that are not one trunk's (a host's defaults, unreadable vars)
        self.hosts_without_trunks = []   # hosts that do not define trunks_var at all
        self.unknown_variables = {}      # sip_attach_* variables that are not the role's: name -> hosts
        self.views = {}
        self._validator = None
        for host in _hosts_list(hosts):
            self._read_host(hostvars, host)
        self._check_names()

    def _read_host(self, hostvars, host):
        try:
            view = HostView(hostvars, host)
        except AnsibleFilterError as exc:
            self.problems.append(str(exc))
            return
        self.views[host] = view
        for name in view.raw:
            if isinstance(name, string_types) and name.startswith("sip_attach_") and name not in KNOWN_VARIABLES:
                self.unknown_variables.setdefault(name, []).append(host)
        if self.trunks_var not in view.raw:
            self.hosts_without_trunks.append(host)
            return
        try:
            trunks = view.get(self.trunks_var)
            defaults = view.get(self.defaults_var)
        except AnsibleError as exc:  # an undefined variable in a template, a vault that cannot be opened
            self.problems.append("host %s: %s cannot be read: %s" % (host, self.trunks_var, _first_line(exc)))
            return
        if trunks is None:
            trunks = []
        if not isinstance(trunks, list):
            self.problems.append("host %s: %s must be a list of trunks, got %s"
                                 % (host, self.trunks_var, type(trunks).__name__))
            return
        defaults = {} if defaults is None else defaults
        defaults_problems = _check_fields(defaults, DEFAULT_KEYS, self.defaults_var) if trunks else []
        if not isinstance(defaults, Mapping):
            defaults = {}
        address = view.get("ansible_host") or host
        pbx = self._pbx_kind(view)
        for index, trunk in enumerate(trunks):
            entry = Trunk(view, index, trunk if isinstance(trunk, Mapping) else {}, defaults, address,
                          self.trunks_var, self.defaults_var)
            self.trunks.append(entry)
            if pbx:
                self._manage_password(entry, pbx)
            if not isinstance(trunk, Mapping):
                entry.problems.append("each trunk must be a dict, got %s" % type(trunk).__name__)
                continue
            entry.problems.extend(_check_fields(trunk, TRUNK_KEYS, "the trunk"))
            if entry.name is None:
                entry.problems.append("name is missing: every trunk needs a name, unique on its host")
            entry.problems.extend("%s: %s" % (self.defaults_var, problem) for problem in defaults_problems)
            if not entry.problems:
                self._check_api_rules(entry)

    def _pbx_kind(self, view):
        """The kind of PBX the role manages on this host (None for none), or a problem."""
        try:
            kind = _text(view.get(PBX_VAR)) or "none"
        except AnsibleError as exc:
            self.problems.append("host %s: %s cannot be read: %s" % (view.host, PBX_VAR, _first_line(exc)))
            return None
        if kind not in PBX_KINDS:
            self.problems.append("host %s: %s must be one of %s, got %r"
                                 % (view.host, PBX_VAR, ", ".join(PBX_KINDS), kind))
            return None
        if kind == "none":
            return None
        self.pbx_hosts[view.host] = kind
        return kind

    def _manage_password(self, entry, pbx):
        """A trunk on a managed PBX: a password it lacks is generated, and kept in sip_attach_password_dir."""
        entry.pbx = pbx
        trunk = entry.trunk if isinstance(entry.trunk, Mapping) else {}
        if not entry.present:
            return
        given = entry.value("password") not in (None, "")
        entry.rotate = bool(trunk.get("rotate") is True or self.rotate_all)
        if given:
            if trunk.get("rotate") is True:
                entry.problems.append("rotate needs a generated password, and this one comes from the inventory: "
                                      "change it there (the role sets the new one on the PBX, then on Telnyx)")
            entry.rotate = False
            return
        if self.password_dir is None:
            entry.problems.append("password is missing: give one (a vault variable), or set sip_attach_password_dir "
                                  "so the role generates one for both the PBX and Telnyx")
            return
        entry.password_file = "%s/%s/%s" % (self.password_dir.rstrip("/"), _file_name(entry.host),
                                            _file_name(entry.name or "trunk-%d" % entry.index))

    def pbx(self):
        """The managed PBX hosts: host -> {kind, trunks: [account, ...]} (passwords included)."""
        out = dict((host, dict(kind=kind, trunks=[])) for host, kind in self.pbx_hosts.items())
        for entry in self.trunks:
            if entry.host in out and not entry.problems:
                out[entry.host]["trunks"].append(entry.pbx_account(entry.item()))
        return out

    def generate(self):
        """The passwords to generate (or read back) on the controller: [{connection_name, file, rotate}]."""
        return [dict(connection_name=entry.connection_name, file=entry.password_file, rotate=entry.rotate)
                for entry in self.trunks if entry.password_file and not entry.problems and entry.present]

    def _check_api_rules(self, entry):
        try:
            item = entry.item()
        except _Problems as exc:
            entry.problems.extend(exc.problems)
            return
        if self._validator is None:
            self._validator = item_validator()
        dummy, errors = check_item(item, self._validator)
        entry.problems.extend(_api_problem(error, entry.trunk) for error in errors)

    def _check_names(self):
        seen_trunks = set()
        seen_names = {}
        for entry in self.trunks:
            if entry.name is not None:
                if (entry.host, entry.name) in seen_trunks:
                    entry.problems.append("two trunks of this host are named %r" % entry.name)
                seen_trunks.add((entry.host, entry.name))
            if entry.connection_name is not None:
                if entry.connection_name in seen_names:
                    entry.problems.append("connection name %r is also used by %s; each trunk needs its own"
                                          % (entry.connection_name, seen_names[entry.connection_name].label))
                else:
                    seen_names[entry.connection_name] = entry

    def all_problems(self):
        return self.problems + ["%s: %s" % (entry.label, problem)
                                for entry in self.trunks for problem in entry.problems]

    def items(self, owners=False):
        """The connections items; with ``owners``, each present one names its host as its owner."""
        if not owners:
            return [entry.item() for entry in self.trunks]
        return [dict(entry.item(), owner=entry.host) if entry.present else entry.item() for entry in self.trunks]

    def rows(self):
        return [entry.row() for entry in self.trunks]

    def warn_unknown_variables(self):
        for name in sorted(self.unknown_variables):
            hosts = self.unknown_variables[name]
            Display().warning(
                "%s is not a variable of the telnyx.sip.sip_attach role%s; the role ignores it (host%s %s)"
                % (name, _suggest(name, KNOWN_VARIABLES), "s" if len(hosts) > 1 else "", _listed(hosts)))


# Telnyx's codec names -> the PBX's (Asterisk's), for the audio codecs a PBX can offer
PBX_CODECS = {"G711U": "ulaw", "G711A": "alaw", "G722": "g722", "G729": "g729", "OPUS": "opus"}


def _pbx_codecs(codecs):
    """The connection's inbound codecs the PBX knows, in order (None: the PBX's default, G.711)."""
    names = [PBX_CODECS[codec.upper()] for codec in codecs or [] if isinstance(codec, string_types)
             and codec.upper() in PBX_CODECS]
    return names or None


def _file_name(name):
    return re.sub(r"[^A-Za-z0-9._-]", "_", str(name)).lstrip(".") or "_"


def _first_line(exc):
    text = str(getattr(exc, "message", None) or exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _listed(names, limit=MAX_LISTED):
    names = list(names)
    shown = ", ".join(str(name) for name in names[:limit])
    return shown + (" and %d more" % (len(names) - limit) if len(names) > limit else "")


def summary(problems, limit=MAX_LISTED):
    """Every problem on a line of its own (at most ``limit``), under one sentence that says nothing was sent."""
    lines = ["Nothing was sent: %d problem%s in the input of the sip_attach role." % (
        len(problems), "" if len(problems) == 1 else "s")]
    lines.extend("- %s" % problem for problem in problems[:limit])
    if len(problems) > limit:
        lines.append("- ... and %d more (the report in sip_attach_report_dir lists every trunk's error)"
                     % (len(problems) - limit))
    return "\n".join(lines)


def sip_attach_connections(hostvars, hosts, trunks_var=TRUNKS_VAR, defaults_var=DEFAULTS_VAR):
    """The ``connections`` of M(telnyx.sip.uac_connections) for the trunks of ``hosts``; fails on any bad trunk."""
    gathered = Gathered(hostvars, hosts, trunks_var, defaults_var)
    problems = gathered.all_problems()
    if problems:
        raise AnsibleFilterError(summary(problems))
    return gathered.items()


def _play_level_problems(gathered, hostvars, play_host, play_trunks, play_defaults, play_pbx=_MISSING):
    """Trunks, defaults or the PBX kind that the play sets above the inventory, where the role cannot read them per
    host (in the localhost mode, ``play_host`` is the controller, not one of the hosts read)."""
    view = gathered.views.get(play_host)
    if view is None and play_host is not None:
        try:
            view = HostView(hostvars, play_host)
        except AnsibleFilterError:
            return []
    if view is None:
        return []
    problems = []
    for var, value, empty in ((gathered.trunks_var, play_trunks, []), (gathered.defaults_var, play_defaults, {}),
                              (PBX_VAR, play_pbx, "none")):
        if value is _MISSING:
            continue
        try:
            inventory = view.get(var, empty)
        except AnsibleError:
            continue  # reported with the host's trunks
        if _plain(value) != (empty if inventory is None else inventory):
            problems.append(
                "%s is set in the play (play vars, role vars or role parameters), where the role cannot read it per "
                "host; it reads each PBX host's own inventory variables. Put %s in host_vars/<host>.yml, the "
                "inventory or group_vars (or -e for one run)." % (var, var))
    return problems


def _purge_problems(gathered, purge, force_hosts_without_trunks):
    """Why sip_attach_purge (the connections of the play's own hosts) may not run."""
    if not purge or not gathered.hosts_without_trunks or force_hosts_without_trunks:
        return []
    return [
        "sip_attach_purge would delete the connections of hosts that do not define %s: %s. Give each of them "
        "its %s (an empty list states that a host has no trunks), take them out of the play, or set "
        "sip_attach_purge_force_hosts_without_trunks: true."
        % (gathered.trunks_var, _listed(gathered.hosts_without_trunks), gathered.trunks_var)]


def _departed_problems(hostvars, gathered, inventory_hosts, limit, workflow, force_all, managed_tag):
    """Why sip_attach_purge_departed (the connections of PBX hosts that left the inventory) may not run: it is only
    safe where the play's hosts are provably every PBX host there is."""
    problems = []
    refused = "sip_attach_purge_departed is refused"
    if limit:
        problems.append(
            "%s in a play limited with --limit (%s): the trunks of the hosts outside the limit are not listed, so "
            "what they own cannot be told from what departed hosts left. Run it without --limit." % (refused, limit))
    if workflow is not None:
        problems.append(
            "%s in an AWX workflow job (awx_workflow_job_id %s): a sliced job template runs as a workflow whose "
            "slices each see only their part of the inventory, and AWX gives a playbook no way to tell a slice from "
            "another workflow node. Run it from a job template that is neither sliced nor in a workflow."
            % (refused, workflow))
    if inventory_hosts is None:
        problems.append("%s without the inventory's hosts (groups['all']) to compare the play with." % refused)
    else:
        play = set(gathered.views)
        outside = [host for host in _hosts_list(inventory_hosts, "inventory hosts")
                   if host not in play and _defines(hostvars, host, gathered.trunks_var)]
        if outside:
            problems.append(
                "%s: the play does not cover every PBX host of the inventory (a hosts: pattern?); these define %s "
                "and are not in it: %s. Run it from a play over every PBX host."
                % (refused, gathered.trunks_var, _listed(outside)))
    if not any(entry.present for entry in gathered.trunks) and not force_all:
        problems.append(
            "%s with no trunk in state present in the whole play: it would delete every connection tagged %r in "
            "the account. List the trunks to keep, or set sip_attach_purge_force_all: true to take the whole fleet "
            "off Telnyx." % (refused, managed_tag))
    return problems


def _defines(hostvars, host, name):
    """Whether ``host`` defines the variable ``name`` in the inventory (read raw, nothing templated)."""
    try:
        return name in HostView(hostvars, host).raw
    except AnsibleFilterError:
        return False


FLEET_VAR = "sip_attach_hosts"


def fleet_hosts_of_play(play_hosts, fleet_hosts=None, limit_hosts=None):
    """The hosts whose trunks the role converges (its own hosts, for purge too), and the problems of choosing them.

    The per-host mode: the play's hosts. The localhost mode (``fleet_hosts``,
    from ``sip_attach_hosts``): a play of one host (the controller) converges
    the trunks of the hosts it lists, less those outside ``--limit``
    (``limit_hosts``: the hosts the limit matches, None when there is none).
    """
    play_hosts = _hosts_list(play_hosts)
    if fleet_hosts is None:
        return play_hosts, []
    problems = []
    if isinstance(fleet_hosts, string_types) or not isinstance(fleet_hosts, (list, tuple)) \
            or not all(isinstance(host, string_types) for host in fleet_hosts):
        return [], ["%s must be a list of inventory host names, such as \"{{ groups['pbx'] }}\"" % FLEET_VAR]
    if len(play_hosts) != 1:
        problems.append(
            "%s (the localhost mode) runs the role once, on the controller, for the hosts it lists: run it in a play "
            "on localhost (hosts: localhost), or leave it unset to run the role on the PBX hosts themselves; this "
            "play has %d hosts (%s)" % (FLEET_VAR, len(play_hosts), _listed(play_hosts)))
    hosts = list(dict.fromkeys(fleet_hosts))
    if limit_hosts is not None:
        limited = set(_hosts_list(limit_hosts, "hosts of the limit"))
        hosts = [host for host in hosts if host in limited]
    return hosts, problems


def _localhost_mode_problems(gathered):
    """Managed PBXs need tasks on their own hosts, which the localhost mode does not run."""
    if not gathered.pbx_hosts:
        return []
    return ["%s (the localhost mode) converges the Telnyx side only, and these hosts have a PBX the role configures "
            "through their own connection (%s: asterisk or kamailio): %s. Roll them out with a play on the PBX hosts "
            "(leave %s unset), or converge only their Telnyx side with -e %s=none."
            % (FLEET_VAR, PBX_VAR, _listed(sorted(gathered.pbx_hosts)), FLEET_VAR, PBX_VAR)]


def sip_attach_input(hostvars, hosts, failed_hosts=None, play_host=None, play_trunks=_MISSING, play_defaults=_MISSING,
                     purge=False, purge_force_all=False, purge_force_hosts_without_trunks=False, managed_tag=None,
                     limit=None, trunks_var=TRUNKS_VAR, defaults_var=DEFAULTS_VAR,
                     play_pbx=_MISSING, password_dir=None, rotate_passwords=False, rows=True, purge_departed=False,
                     inventory_hosts=None, workflow=None, fleet_hosts=None, limit_hosts=None):
    """Everything the sip_attach role needs before it sends anything, from one pass over the hosts.

    ``hosts`` are the play's hosts; with ``fleet_hosts`` (the localhost mode)
    the trunks are those of the hosts it lists (see ``fleet_hosts_of_play``).
    Returns ``hosts`` (the hosts whose trunks were read: the role's own),
    ``problems`` (why nothing may be sent; empty when all is well),
    ``connections`` (the module's items, empty when there are problems: they
    hold passwords), ``rows`` (one report row per trunk, no password; only
    when ``rows`` is true or there are problems: the report needs them), and for
    the managed PBXs ``pbx_hosts``, ``pbx`` (host -> kind and accounts) and
    ``generate`` (the passwords to generate on the controller). For the
    purges: ``purge_owners`` (the hosts whose connections sip_attach_purge
    may delete: the hosts read, the play's own PBX hosts in any mode) and
    ``known_owners`` (with ``purge_departed``: every host of
    ``inventory_hosts``; the connections of any other owner are departed).
    """
    hosts, problems = fleet_hosts_of_play(hosts, fleet_hosts, limit_hosts)
    gathered = Gathered(hostvars, hosts, trunks_var, defaults_var, password_dir, rotate_passwords)
    gathered.warn_unknown_variables()
    if fleet_hosts is not None:
        problems.extend(_localhost_mode_problems(gathered))
    failed = _hosts_list(failed_hosts or [], "failed hosts")
    if failed:
        problems.append("These hosts failed before the rollout (see their errors above): %s." % _listed(failed))
    problems.extend(_play_level_problems(gathered, hostvars, play_host, play_trunks, play_defaults, play_pbx))
    problems.extend(_purge_problems(gathered, purge or purge_departed, purge_force_hosts_without_trunks))
    if purge_departed:
        problems.extend(_departed_problems(hostvars, gathered, inventory_hosts, limit, workflow, purge_force_all,
                                           managed_tag))
    problems.extend(gathered.all_problems())
    return dict(
        problems=problems,
        message=summary(problems) if problems else None,
        connections=[] if problems else gathered.items(owners=True),
        rows=gathered.rows() if rows or problems else [],
        hosts=list(gathered.views),
        pbx_hosts=[] if problems else sorted(gathered.pbx_hosts),
        pbx={} if problems else gathered.pbx(),
        generate=[] if problems else gathered.generate(),
        purge_owners=[] if problems or not purge else _purge_owners(gathered, purge_force_hosts_without_trunks),
        known_owners=sorted(set(inventory_hosts or ()) | set(gathered.views)) if purge_departed and not problems
        else [],
    )


def _purge_owners(gathered, force_hosts_without_trunks):
    """The owners whose connections sip_attach_purge may delete: the play's own hosts (the hosts read), those
    that do not define their trunks only when forced."""
    owners = set(gathered.views)
    if not force_hosts_without_trunks:
        owners -= set(gathered.hosts_without_trunks)
    return sorted(owners)


def sip_attach_with_passwords(data, passwords):
    """The input of sip_attach_input with the generated passwords (connection name -> password) filled in."""
    if not isinstance(data, Mapping) or not isinstance(passwords, Mapping):
        raise AnsibleFilterError("sip_attach_with_passwords takes the result of sip_attach_input and a dict of passwords")
    data = dict(data)
    passwords = dict(passwords)
    for entry in data.get("generate") or []:
        # check mode reads back only the passwords that exist: the others are a placeholder for the plan
        passwords.setdefault(entry["connection_name"], PLACEHOLDER_PASSWORD)
    connections = []
    for item in data.get("connections") or []:
        password = passwords.get(item.get("connection_name"))
        if password is not None and item.get("state") == "present":
            item = dict(item, external_uac_settings=dict(item["external_uac_settings"], password=password))
        connections.append(item)
    pbx = {}
    for host, managed in (data.get("pbx") or {}).items():
        accounts = [dict(account, password=passwords[account["connection_name"]])
                    if account.get("connection_name") in passwords and account.get("state") == "present" else account
                    for account in managed["trunks"]]
        pbx[host] = dict(managed, trunks=accounts)
    data.update(connections=connections, pbx=pbx)
    return data


def _host_fact(hostvars, host, name):
    try:
        return HostView(hostvars, host).get(name)
    except (AnsibleError, AnsibleFilterError):
        return None


def sip_attach_after_pbx(data, hostvars, alive=None, wait_for_registration=False):
    """What to send to Telnyx once the PBX side has run on every managed PBX host.

    The trunks of a host whose PBX side failed (``_sip_attach_pbx_failed``)
    are left out, and so is the host from the owners whose connections purge
    may delete (its connections must survive it; the other hosts' purge goes
    on). A trunk whose password changed on its PBX gets its password
    sent to Telnyx whatever update_password says, and the trunks of managed
    PBXs are waited for (registration) when asked. A managed PBX host that is
    no longer in ``alive`` (the play's hosts) counts as failed.
    """
    failed = {}
    changed = set()
    for host in data.get("pbx_hosts") or []:
        message = _host_fact(hostvars, host, "_sip_attach_pbx_failed")
        if not message and alive is not None and host not in alive:
            message = "the host failed during the PBX side (see its errors above)"
        if message:
            failed[host] = _text(message)
            continue
        outcome = _host_fact(hostvars, host, "_sip_attach_pbx_outcome") or {}
        changed.update((host, name) for name in outcome.get("password_changed") or [])
    names = dict((account["connection_name"], (host, account.get("name")))
                 for host, managed in (data.get("pbx") or {}).items() for account in managed["trunks"])
    connections = []
    for item in data.get("connections") or []:
        owner = names.get(item.get("connection_name"))
        if owner is not None:
            if owner[0] in failed:
                continue
            item = dict(item)
            if owner in changed:
                item["update_password"] = "always"
            if wait_for_registration and item.get("state") == "present":
                item["wait_for_registration"] = True
        connections.append(item)
    # a failed PBX host holds back the purge of its own connections only: the other hosts' purge goes on
    owners = [owner for owner in data.get("purge_owners") or [] if owner not in failed]
    return dict(connections=connections, pbx_failed=failed, purge_owners=owners,
                purge_held=bool(failed) and not owners)


def sip_attach_pbx_checks(hostvars, hosts):
    """What each managed PBX saw: host -> {failed, registration: {trunk: text}, calls: {trunk: text}}."""
    checks = {}
    for host in _hosts_list(hosts):
        checks[host] = dict(
            failed=_host_fact(hostvars, host, "_sip_attach_pbx_failed"),
            registration=_host_fact(hostvars, host, "_sip_attach_pbx_view") or {},
            calls=_host_fact(hostvars, host, "_sip_attach_pbx_calls") or {},
        )
    return checks


def sip_attach_pbx_problems(checks, verify_calls=False):
    """The PBX hosts that failed, the trunks their PBX does not see registered and the test calls not answered."""
    problems = []
    for host in sorted(checks or {}):
        check = checks[host]
        if check.get("failed"):
            problems.append("host %s: the PBX side failed, nothing of this host was sent to Telnyx: %s"
                            % (host, check["failed"]))
            continue
        for trunk, seen in sorted((check.get("registration") or {}).items()):
            if seen != "registered":
                problems.append("host %s, trunk %s: the PBX does not see Telnyx registered (%s)" % (host, trunk, seen))
        if verify_calls:
            for trunk, call in sorted((check.get("calls") or {}).items()):
                if call != "answered":
                    problems.append("host %s, trunk %s: the test call was not answered (%s)" % (host, trunk, call))
    return problems


def _result_lines(result):
    if not isinstance(result, Mapping):
        return {}, []
    lines = result.get("results")
    if not isinstance(lines, list):
        return {}, []
    return dict((line.get("connection_name"), line) for line in lines if isinstance(line, Mapping)), lines


def sip_attach_to_register(result, connections):
    """The connections of the rollout result that Telnyx is to register: the present ones the run left (with an id),
    but those the play made inactive. For telnyx.sip.uac_registration_info."""
    inactive = set(item.get("connection_name") for item in connections or []
                   if isinstance(item, Mapping) and item.get("active") is False)
    return [dict(id=line["id"], connection_name=line.get("connection_name")) for line in _result_lines(result)[1]
            if isinstance(line, Mapping) and line.get("id") and line.get("action") in ("created", "updated", "unchanged")
            and line.get("connection_name") not in inactive]


def sip_attach_with_registration(result, registration):
    """The rollout result with what the wait for the registrations found (telnyx.sip.uac_registration_info).

    Each waited line gets its ``registration_status`` (and
    ``registration_error``), ``not_registered`` lists the connections that did
    not register, and then the result is failed with the message that names
    them, as telnyx.sip.uac_connections words it when it waits itself.
    """
    if not isinstance(result, Mapping) or not isinstance(registration, Mapping):
        raise AnsibleFilterError("sip_attach_with_registration takes the rollout result and the registered result of "
                                 "telnyx.sip.uac_registration_info")
    found = dict((line.get("connection_name"), line) for line in registration.get("registrations") or [])
    lines = []
    for line in _result_lines(result)[1]:
        seen = found.get(line.get("connection_name")) if isinstance(line, Mapping) else None
        if seen is not None:
            line = dict(line, registration_status=seen.get("registration_status"))
            if seen.get("error"):
                line["registration_error"] = seen["error"]
        lines.append(line)
    not_registered = list(registration.get("not_registered") or [])
    result = dict(result, results=lines, by_name=_result_lines(dict(results=lines))[0],
                  not_registered=not_registered)
    if not_registered:
        result.update(failed=True, msg=not_registered_message(not_registered))
    return result


RESULT_KEYS = ("action", "id", "fqdn", "user_name", "destination_uri", "registration_status", "proxy", "username",
               "auth_username", "error", "adopted")


def _shown(value):
    """A value of a change in words: ``UDP``, ``null``, ``true``, ``[a, b]``, ``{k: v}``, ``""``."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Mapping):
        return "{%s}" % ", ".join("%s: %s" % (key, _shown(item)) for key, item in value.items())
    if isinstance(value, (list, tuple)):
        return "[%s]" % ", ".join(_shown(item) for item in value)
    text = str(value)
    return text if text else '""'


def _secret_change(change):
    """A password's change, as the modules give it: no before, after only ``(will be set)``."""
    return change.get("before") is None and change.get("after") == SECRET_SHOWN


def change_text(change):
    """One field's change: ``external_uac_settings.transport: UDP -> TCP`` (a password: ``password: (will be set)``)."""
    if _secret_change(change):
        return "%s: %s" % (change.get("field"), SECRET_SHOWN)
    return "%s: %s -> %s" % (change.get("field"), _shown(change.get("before")), _shown(change.get("after")))


def changes_text(changes):
    return "; ".join(change_text(change) for change in changes or [] if isinstance(change, Mapping))


def drift(line):
    """The changed fields of an updated connection's result line (an update is the only action that has drift)."""
    if not isinstance(line, Mapping) or line.get("action") != "updated":
        return []
    return [change for change in line.get("changes") or [] if isinstance(change, Mapping)]


def change_line(line):
    """``pbx-1006: updated (external_uac_settings.transport: UDP -> TCP; tags: [a] -> [a, b])``."""
    text = "%s: %s" % (line.get("connection_name"), line.get("action"))
    detail = line.get("error") if line.get("action") == "failed" else changes_text(drift(line))
    return "%s (%s)" % (text, detail) if detail else text


def sip_attach_summary(result, limit=20):
    """What the play shows after the rollout: the counts, one line per connection that is not unchanged (at most
    ``limit``, each update naming its changed fields), how many lines were left out, and how many connections
    were adopted."""
    dummy, lines = _result_lines(result)
    changed = [line for line in lines if isinstance(line, Mapping) and line.get("action") != "unchanged"]
    limit = max(int(limit or 0), 0)
    return dict(
        counts=result.get("counts") if isinstance(result, Mapping) else None,
        changes=[change_line(line) for line in changed[:limit]],
        not_shown=max(len(changed) - limit, 0),
        adopted=sum(1 for line in changed if line.get("adopted")),
    )


def join_result(rows, result, pbx=None):
    """The rows with what the run did to each (``not sent`` where it has no line), plus one row per purged connection.

    ``pbx`` (from sip_attach_pbx_checks) adds what each managed PBX saw.
    """
    by_name, lines = _result_lines(result)
    joined = []
    names = set()
    for row in rows:
        row = dict(row)
        names.add(row.get("connection_name"))
        line = by_name.get(row.get("connection_name"))
        check = (pbx or {}).get(row.get("pbx_host"))
        if check is not None:
            row["pbx_registration"] = (check.get("registration") or {}).get(row.get("trunk"))
            row["test_call"] = (check.get("calls") or {}).get(row.get("trunk"))
            if check.get("failed"):
                row["error"] = "; ".join(part for part in (row.get("error"), "PBX side failed: %s" % check["failed"])
                                         if part)
        if line is None:
            row["action"] = row.get("action") or "not sent"
        else:
            for key in RESULT_KEYS:
                if line.get(key) is not None:
                    row[key] = line[key]
            row["sip_domain"] = sip_domain(row.get("proxy"))
            row["changes"] = drift(line)
        joined.append(row)
    for line in lines:
        if isinstance(line, Mapping) and line.get("connection_name") not in names:
            row = dict((column, None) for column in REPORT_COLUMNS)
            row.update((key, line.get(key)) for key in RESULT_KEYS)
            row.update(state="absent", connection_name=line.get("connection_name"), sip_domain=sip_domain(line.get("proxy")),
                       changes=drift(line))
            joined.append(row)
    return joined


def sip_attach_worksheet(hostvars, hosts, result=None, trunks_var=TRUNKS_VAR, defaults_var=DEFAULTS_VAR):
    """One row per trunk (and per purged connection): the report and the PBX team's worksheet. No passwords."""
    rows = Gathered(hostvars, hosts, trunks_var, defaults_var).rows()
    return rows if result is None else join_result(rows, result)


REPORT_COLUMNS = ("pbx_host", "trunk", "connection_name", "state", "action", "id", "fqdn", "user_name",
                  "destination_uri", "registration_status", "sip_domain", "proxy", "transport", "username",
                  "auth_username", "password_source", "error", "pbx", "pbx_registration", "test_call", "changes",
                  "adopted")
REPORT_ACTIONS = ACTIONS + ("not sent",)
IN_PROGRESS = "in progress"
# the files of a real run (the PBX team's worksheet), and of a check-mode run (the drift report): each its own names
REPORT_NAME = "sip-attach-report"
DRIFT_REPORT_NAME = "sip-attach-drift-report"


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


def _report_value(row, column):
    return changes_text(row.get("changes")) if column == "changes" else row.get(column)


def report_csv(rows):
    lines = [",".join(REPORT_COLUMNS)]
    lines.extend(",".join(_csv_cell(_report_value(row, column)) for column in REPORT_COLUMNS) for row in rows)
    return "\n".join(lines) + "\n"


def _what_drifted(rows, check_mode):
    """The "What drifted" section: each updated connection, one table row per changed field."""
    changed = [(row, change) for row in rows for change in row.get("changes") or []]
    lines = ["", "## What drifted", ""]
    if not changed:
        lines.append("No existing connection differs from the inventory." if check_mode else
                     "No existing connection differed from the inventory.")
        return lines
    lines.extend([
        "Each connection whose settings differ from the inventory, one row per field: before is the value Telnyx had,",
        "after the inventory's. %s A password is never shown: \"%s\" means it %s sent." % (
            "Check mode: nothing was changed, a real run would set these." if check_mode else "This run set them.",
            SECRET_SHOWN, "would be" if check_mode else "was"),
        ""])
    lines.extend(_md_table(
        ("connection name", "PBX host", "trunk", "field", "before", "after"),
        [(row.get("connection_name"), row.get("pbx_host") or "(purged)", row.get("trunk"), change.get("field"),
          "" if _secret_change(change) else _shown(change.get("before")),
          _shown(change.get("after")))
         for row, change in changed]))
    return lines


def _run_lines(started, finished, in_progress):
    if in_progress:
        return ["**In progress**: this run started at %s and has not finished. If this is still here after the run,"
                % (started or "an unknown time"),
                "the run was interrupted (stopped, killed, or its controller lost): connections may have changed since",
                "the last complete report, which this file replaces. Run the role again (or with `--check`) to see",
                "where every connection stands.", ""]
    if started:
        return ["- Run started %s, finished %s" % (started, finished or "(unknown)")]
    return []


def report_markdown(rows, check_mode=False, managed_tag=None, purge=False, limit=None, run_error=None, started=None,
                    finished=None, in_progress=False):
    title = ("SIP Attach drift report (check mode: nothing was changed; each action is what a real run would do)"
             if check_mode else "SIP Attach rollout report")
    trunk_rows = [row for row in rows if row.get("pbx_host")]
    lines = ["# %s" % title, ""]
    lines.extend(_run_lines(started, finished, in_progress))
    if in_progress:
        return "\n".join(lines)
    if run_error:
        if started:
            lines.append("")
        lines.extend(["**The run failed**: %s" % _md_cell(run_error), ""])
    limited = " (play limited to `%s`)" % limit if limit else ""
    lines.append("- Managed tag: `%s`; purge: %s%s" % (managed_tag, "on" if purge else "off", limited))
    lines.append("- PBX hosts: %d; trunks: %d" % (len(set(row["pbx_host"] for row in trunk_rows)), len(trunk_rows)))
    for action in REPORT_ACTIONS:
        lines.append("- %s: %d" % (action, sum(1 for row in rows if row.get("action") == action)))
    unknown = sum(1 for row in rows if not row.get("action"))
    if unknown:
        lines.append("- no result: %d" % unknown)
    adopted = sum(1 for row in rows if row.get("adopted"))
    if adopted:
        lines.append("- adopted: %d (connections that lacked the managed tag: tagged, and their passwords set from the "
                     "inventory this once)" % adopted)
    lines.extend(_what_drifted(rows, check_mode))
    lines.extend(["", "## Connections", ""])
    managed = any(row.get("pbx") for row in rows)
    pbx_headers = ("PBX", "registered as the PBX sees it", "test call") if managed else ()
    lines.extend(_md_table(
        ("PBX host", "trunk", "connection name", "action", "id", "fqdn", "destination_uri",
         "registration status") + pbx_headers,
        [(row.get("pbx_host") or "(purged)", row.get("trunk"), row.get("connection_name"),
          "%s: %s" % (row.get("action"), row["error"]) if row.get("error")
          else "%s (adopted)" % row.get("action") if row.get("adopted") else row.get("action"),
          row.get("id"), row.get("fqdn"), row.get("destination_uri"), row.get("registration_status"))
         + ((row.get("pbx") or "none", row.get("pbx_registration"), row.get("test_call")) if managed else ())
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


def sip_attach_report(rows, check_mode=False, managed_tag=None, purge=False, limit=None, result=None, run_error=None,
                      pbx=None, started=None, finished=None, in_progress=False):
    """The report files: a list of {name, content} (Markdown and CSV) from report rows.

    With ``result`` (the registered result of the connections task, or ``{}``
    when it did not run), the rows are joined with it first: a trunk without
    a line is ``not sent``. A real run's files are ``sip-attach-report.*``,
    a check-mode run's ``sip-attach-drift-report.*``. ``in_progress``: the
    files a run writes before it sends anything, so that an interrupted run
    leaves no older report looking current (every row's action is
    ``in progress``).
    """
    if not isinstance(rows, list):
        raise AnsibleFilterError("sip_attach_report takes the list of rows of sip_attach_worksheet")
    if in_progress:
        rows = [dict(row, action=IN_PROGRESS, changes=None) for row in rows]
    else:
        rows = join_result(rows, result, pbx) if result is not None else [dict(row) for row in rows]
    name = DRIFT_REPORT_NAME if check_mode else REPORT_NAME
    return [
        dict(name=name + ".md", content=report_markdown(rows, check_mode, managed_tag, purge, limit, run_error,
                                                        started, finished, in_progress)),
        dict(name=name + ".csv", content=report_csv(rows)),
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
            "sip_attach_input": sip_attach_input,
            "sip_attach_with_passwords": sip_attach_with_passwords,
            "sip_attach_after_pbx": sip_attach_after_pbx,
            "sip_attach_pbx_checks": sip_attach_pbx_checks,
            "sip_attach_pbx_problems": sip_attach_pbx_problems,
            "sip_attach_connections": sip_attach_connections,
            "sip_attach_worksheet": sip_attach_worksheet,
            "sip_attach_host_results": sip_attach_host_results,
            "sip_attach_to_register": sip_attach_to_register,
            "sip_attach_with_registration": sip_attach_with_registration,
            "sip_attach_report": sip_attach_report,
            "sip_attach_summary": sip_attach_summary,
        }
