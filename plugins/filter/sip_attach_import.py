# -*- coding: utf-8 -*-
# Copyright (c) telnyx.sip contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""The import of an existing account: UAC connections -> a sip_attach inventory (the files to write).

The documentation of the filter is in ``sip_attach_import.yml`` beside this
one; the ``telnyx.sip.import`` playbook (``playbooks/import.yml``) reads the
connections, calls it and writes the files it returns (``import_files``).

Each connection becomes a trunk of the PBX host named after its proxy's host.
What a trunk holds is exactly what the connection has: the registration
settings (the password as a reference to a vault variable), where its calls
go, and under ``settings`` every other field the connection holds that is not
the API's default (the defaults are declared once, on the fields of
``module_utils/_uac.py``). Every trunk is then read back the way the role
reads it (``Gathered``, the role's own checks) and compared with its
connection (the engine's ``plan_update``): a trunk the role would refuse or
that would change its connection is not written, and is listed instead, like
the connections that cannot be trunks at all (several with one name, no
proxy, ...).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import re

try:
    from collections.abc import Mapping
except ImportError:  # pragma: no cover - Python 2 is not supported by the collection anyway
    Mapping = dict

import yaml

from ansible.errors import AnsibleFilterError
from ansible.utils.unsafe_proxy import wrap_var

from ansible_collections.telnyx.sip.plugins.filter.sip_attach import (
    EXTERNAL_KEYS,
    RESERVED_SETTINGS,
    TELNYX_SIP_DOMAIN,
    TRUNKS_VAR,
    Gathered,
    _Problems,
    destination,
    sip_domain,
    string_types,
)
from ansible_collections.telnyx.sip.plugins.module_utils import _uac as uac
from ansible_collections.telnyx.sip.plugins.module_utils._module import check_item, item_validator
from ansible_collections.telnyx.sip.plugins.module_utils._query import duplicate_error
from ansible_collections.telnyx.sip.plugins.module_utils._resource import non_defaults, plan_update

GROUP = "pbx"
INVENTORY_FILE = "hosts.yml"
VAULT_TEMPLATE = "group_vars/all/vault.yml.example"
NOT_IMPORTED_FILE = "not-imported.yml"
# the connection's fields a trunk keeps under settings (the others are the trunk's own keys)
SETTINGS_FIELDS = dict((name, field) for name, field in uac.FIELDS.items() if name not in RESERVED_SETTINGS)


def _pure(value):
    """Plain dicts, lists and builtin scalars (what the YAML writer and the comparisons take).

    Unlike ``sip_attach._plain``, which keeps Ansible's string types (and their trust) for later templating,
    this makes every string, key and number a builtin: ``yaml.safe_dump`` refuses Ansible's own types.
    """
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, string_types):
        return str(value)
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value)
    if isinstance(value, Mapping):
        return dict((_pure(key), _pure(item)) for key, item in value.items())
    if isinstance(value, (list, tuple)):
        return [_pure(item) for item in value]
    return value


def _slug(text, keep=r"A-Za-z0-9_-", joiner="-"):
    return re.sub(r"[^%s]+" % keep, joiner, text).strip("-_.")


def _unique(name, used, joiner="-"):
    candidate, number = name, 2
    while candidate in used:
        candidate = "%s%s%d" % (name, joiner, number)
        number += 1
    used.add(candidate)
    return candidate


def _split_destination(uri):
    """``(extension, application)`` when the role composes ``uri`` from them, else None."""
    extension, dummy, domain = uri.partition("@")
    application = domain[:-len(TELNYX_SIP_DOMAIN) - 1]
    if not extension or domain != "%s.%s" % (application, TELNYX_SIP_DOMAIN) or "." in application:
        return None
    try:
        return (extension, application) if destination(extension, application) == uri else None
    except _Problems:
        return None


def _why_not(conn, named):
    """Why a connection cannot be a trunk (None when it can)."""
    name = conn.get("connection_name")
    if not isinstance(name, str) or not name.strip():
        return "it has no connection_name: the role finds connections by name"
    if len(named[name]) > 1:
        return duplicate_error(name, named[name]) + "; the role finds connections by name, so none of them is imported"
    external = conn.get("external_uac_settings") or {}
    internal = conn.get("internal_uac_settings") or {}
    if not external.get("proxy"):
        return "external_uac_settings.proxy is not set: a trunk needs the PBX address Telnyx registers to"
    if not sip_domain(external["proxy"]):
        return "external_uac_settings.proxy %r has no host part to name a PBX host after" % external["proxy"]
    if not external.get("username"):
        return "external_uac_settings.username is not set: a trunk needs the SIP user Telnyx registers as"
    if not internal.get("destination_uri"):
        return "internal_uac_settings.destination_uri is not set: a trunk needs where its calls go"
    return None


class _Import:
    """The trunks of every PBX host, the vault variables, and what was left out."""

    def __init__(self, connections, managed_tag):
        self.managed_tag = managed_tag
        self.hosts = {}         # host -> [(trunk, connection, its vault variable)]
        self.vault = {}         # vault variable -> (host, trunk name, connection name)
        self.not_imported = []  # {connection_name, id, proxy, tagged, reason}
        named = {}
        for conn in connections:
            named.setdefault(conn.get("connection_name"), []).append(conn)
        host_names = {}         # proxy host (lower case) -> inventory host name
        used_hosts = set()
        used_vault = set()
        used_trunks = {}
        for conn in connections:
            reason = _why_not(conn, named)
            if reason is not None:
                self.skip(conn, reason)
                continue
            domain = sip_domain(conn["external_uac_settings"]["proxy"]).lower()
            if domain not in host_names:
                host_names[domain] = _unique(_slug(domain, r"a-z0-9.-") or "pbx", used_hosts)
            host = host_names[domain]
            self.hosts.setdefault(host, []).append(self.trunk(host, conn, used_trunks.setdefault(host, set()),
                                                              used_vault))
        self.validator = item_validator()
        self.check()

    def skip(self, conn, reason):
        tags = conn.get("tags") or []
        self.not_imported.append(dict(
            connection_name=conn.get("connection_name"), id=conn.get("id"),
            proxy=(conn.get("external_uac_settings") or {}).get("proxy"),
            tagged=bool(self.managed_tag) and self.managed_tag in tags, reason=reason))

    def trunk(self, host, conn, used_trunks, used_vault):
        name = conn["connection_name"]
        prefix = host + "-"
        base = name[len(prefix):] if name.startswith(prefix) and len(name) > len(prefix) else name
        trunk_name = _unique(_slug(base.lower()) or "trunk", used_trunks)
        variable = _unique("vault_%s_%s" % (_slug(host, "a-z0-9", "_"), _slug(trunk_name, "a-z0-9", "_")), used_vault,
                           "_") + "_password"
        self.vault[variable] = (host, trunk_name, name)
        trunk = dict(name=trunk_name)
        if name != prefix + trunk_name:
            trunk["connection_name"] = name
        external = conn["external_uac_settings"]
        for key in EXTERNAL_KEYS:
            if key == "password":
                trunk[key] = "{{ %s }}" % variable
            elif external.get(key) not in (None, ""):
                trunk[key] = external[key]
        uri = conn["internal_uac_settings"]["destination_uri"]
        split = _split_destination(uri)
        if split is None:
            trunk["destination_uri"] = uri
        else:
            trunk["extension"], trunk["application"] = split
            if trunk["username"] == trunk["extension"]:
                del trunk["username"]  # the role's default username is the extension
        settings = non_defaults(SETTINGS_FIELDS, conn)
        tags = [tag for tag in settings.pop("tags", []) if tag != self.managed_tag]
        if tags:
            settings["tags"] = tags
        if settings:
            trunk["settings"] = settings
        return trunk, conn, variable

    def check(self):
        """Read every trunk as the role does; a trunk it would refuse, or that would change its connection, is left
        out and listed."""
        hosts = sorted(self.hosts)
        gathered = Gathered(dict((host, {TRUNKS_VAR: self.trunks(host)}) for host in hosts), hosts)
        entries = iter(gathered.trunks)  # host by host, in the order of their trunks
        for host in hosts:
            kept = []
            for trunk, conn, variable in self.hosts[host]:
                entry = next(entries)
                problems = list(entry.problems) or self.changes(entry.item(), conn)
                if problems:
                    self.skip(conn, "the trunk made from it would not manage it as it is: %s" % "; ".join(problems))
                    del self.vault[variable]
                else:
                    kept.append((trunk, conn, variable))
            if kept:
                self.hosts[host] = kept
            else:
                del self.hosts[host]

    def changes(self, item, conn):
        """What the role's item would change on the connection, beyond adoption (the tag, the password)."""
        params, errors = check_item(item, self.validator)
        if errors:
            return errors
        desired = uac.desired_state(params)
        desired["external_uac_settings"].pop("password", None)
        current = dict(conn, tags=[tag for tag in conn.get("tags") or [] if tag != self.managed_tag])
        changes = plan_update(uac.FIELDS, desired, current).changes
        return ["%s would change from %s to %s" % (change["field"], json.dumps(change["before"]), json.dumps(change["after"]))
                for change in changes]

    def trunks(self, host):
        return [trunk for trunk, conn, variable in self.hosts[host]]

    def adoptions(self):
        """How many imported connections lack the managed tag: the role's first run takes them over."""
        if not self.managed_tag:
            return 0
        return sum(1 for made in self.hosts.values() for trunk, conn, variable in made
                   if self.managed_tag not in (conn.get("tags") or []))


def _dump(data):
    return yaml.safe_dump(data, default_flow_style=False, sort_keys=False, allow_unicode=True, width=120)


def _comment(lines):
    return "".join("# %s\n" % line if line else "#\n" for line in lines)


def _files(found, group):
    hosts = sorted(found.hosts)
    files = [dict(path=INVENTORY_FILE, content="---\n" + _comment([
        "PBX hosts of the UAC connections read by telnyx.sip.import: one per proxy host, its trunks in",
        "host_vars/<host>.yml. The sip_attach role never connects to them (sip_attach_pbx: none).",
        "Review, fill the vault (%s), then see docs/adopting.md for the first run." % VAULT_TEMPLATE,
    ]) + _dump({group: {"hosts": dict((host, None) for host in hosts)}}))]
    for host in hosts:
        files.append(dict(path="host_vars/%s.yml" % host, content="---\n" + _comment([
            "Written by telnyx.sip.import: the UAC connections whose proxy host is %s, as they are" % host,
            "(settings at the API's default left out). The role's first run takes each over: it adds the managed",
            "tag and sends the password of the vault variable, once (docs/adopting.md); then nothing changes.",
        ]) + _dump({TRUNKS_VAR: found.trunks(host)})))
    vault = "---\n" + _comment([
        "Vault template written by telnyx.sip.import (Ansible does not read this file: the .example suffix).",
        "One variable per trunk: the password Telnyx registers with on the PBX (external_uac_settings.password).",
        "The API does not return passwords: take each from its PBX. The first run of the role sends them, once.",
        "  cp %s group_vars/all/vault.yml      # then fill in every value" % VAULT_TEMPLATE,
        "  ansible-vault encrypt group_vars/all/vault.yml",
        "and run the role with --ask-vault-pass (or --vault-password-file).",
    ])
    for variable in sorted(found.vault):
        host, trunk, name = found.vault[variable]
        vault += "# host %s, trunk %s: connection %s\n" % (host, trunk, json.dumps(name))
        vault += _dump({variable: ""})
    files.append(dict(path=VAULT_TEMPLATE, content=vault))
    files.append(dict(path=NOT_IMPORTED_FILE, content="---\n" + _comment([
        "UAC connections that telnyx.sip.import did not turn into trunks, and why. The role does not manage them;",
        "but purge (sip_attach_purge) deletes those that carry the managed tag (tagged: true), as they are in no",
        "trunk. Fix them (rename, set what is missing), then import again.",
    ]) + _dump(sorted(found.not_imported, key=lambda entry: (str(entry["connection_name"]), str(entry["id"]))))))
    return files


def sip_attach_import(connections, managed_tag="sip-attach", group=GROUP):
    """The files of a sip_attach inventory for ``connections`` (as uac_connection_info returns them), and what was
    left out."""
    if not isinstance(connections, (list, tuple)) or not all(isinstance(conn, Mapping) for conn in connections):
        raise AnsibleFilterError("sip_attach_import takes the list of connections of telnyx.sip.uac_connection_info "
                                 "(its uac_connections)")
    conns = sorted(_pure(list(connections)), key=lambda conn: (str(conn.get("connection_name")), str(conn.get("id"))))
    found = _Import(conns, _pure(managed_tag) or None)
    return wrap_var(dict(
        hosts=sorted(found.hosts),
        trunks=sum(len(made) for made in found.hosts.values()),
        adoptions=found.adoptions(),
        vault_variables=sorted(found.vault),
        not_imported=sorted(found.not_imported, key=lambda entry: (str(entry["connection_name"]), str(entry["id"]))),
        files=_files(found, _pure(group)),
    ))


class FilterModule(object):
    def filters(self):
        return {"sip_attach_import": sip_attach_import}
