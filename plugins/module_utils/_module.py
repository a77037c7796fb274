# -*- coding: utf-8 -*-
# Copyright (c) telnyx.sip contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""Module glue: the options of every telnyx.sip module, their checks and hints, and ``TelnyxModule``.

PRIVATE: internal to the telnyx.sip collection; may change without notice.

The option specs live here (the connection options with their environment
fallbacks, the connection's fields from the ``_uac`` declaration, the waiting
for registration, the items of ``uac_connections``, the info filters), with
the checks Ansible cannot express (``check_connection``, ``validate_items``)
and the warnings weakened transport security deserves.
``TelnyxModule`` merges the connection options into the module's argument
spec, reports a missing ``requests`` with ``missing_required_lib``, builds the
one client, and turns bad input and API errors into ``fail_json`` without a
traceback and without secrets.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os

from ansible.module_utils.ansible_release import __version__ as ANSIBLE_VERSION
from ansible.module_utils.basic import AnsibleModule, missing_required_lib
from ansible.module_utils.common.arg_spec import ArgumentSpecValidator
from ansible.module_utils.common.parameters import AnsibleFallbackNotFound
from ansible.module_utils.errors import UnsupportedError
from collections.abc import Mapping

try:  # ansible-core 2.22+: secrets registered here are masked wherever Ansible writes output
    from ansible.module_utils.secrets import register_secrets as ansible_register_secrets
except ImportError:  # older releases only remove no_log values from the result (remove_values)
    ansible_register_secrets = None

from ansible_collections.telnyx.sip.plugins.module_utils import _uac as uac
from ansible_collections.telnyx.sip.plugins.module_utils._client import (
    DEFAULT_API_URL,
    HAS_REQUESTS,
    REQUESTS_IMPORT_ERROR,
    TelnyxClient,
    TelnyxError,
    insecure_url_problem,
    is_loopback_host,
    url_parts,
)
from ansible_collections.telnyx.sip.plugins.module_utils._query import SORT_CHOICES
from ansible_collections.telnyx.sip.plugins.module_utils._resource import ValidationError, fields_argument_spec

UPDATE_PASSWORD_CHOICES = ["always", "on_create"]
PURGE_SCOPES = ["all", "owners"]


# -- the connection options -----------------------------------------------------------------------
def env_fallback_nonempty(*names):
    """Like ``env_fallback``, but an empty variable counts as unset.

    AWX renders a credential input left blank as an empty variable.
    """
    for name in names:
        value = os.environ.get(name)
        if value:
            return value
    raise AnsibleFallbackNotFound


def connection_argument_spec():
    """The connection options every module of the collection takes."""
    return dict(
        api_key=dict(type="str", no_log=True, fallback=(env_fallback_nonempty, ["TELNYX_API_KEY"])),
        api_url=dict(type="str", fallback=(env_fallback_nonempty, ["TELNYX_BASE_URL"])),
        timeout=dict(type="float", default=30.0),
        validate_certs=dict(type="bool", default=True),
        ca_path=dict(type="path"),
        retries=dict(type="int", default=5),
        allow_insecure_http=dict(type="bool", default=False,
                                 fallback=(env_fallback_nonempty, ["TELNYX_ALLOW_INSECURE_HTTP"])),
    )


def transport_warnings(url, validate_certs=True, allow_insecure_http=False):
    """The warnings a run with these connection options deserves, every time."""
    scheme, host = url_parts(url or DEFAULT_API_URL)
    found = []
    if scheme == "https" and not validate_certs:
        found.append(
            "validate_certs is false: the TLS certificate of %s is not checked, so anyone on the network path can "
            "pose as the API, read the API key and change your connections. Trust the endpoint's CA with ca_path "
            "instead, and keep validate_certs: true" % host
        )
    if scheme == "http" and allow_insecure_http and not is_loopback_host(host):
        found.append(
            "allow_insecure_http is true: the API key travels in clear text to %s, readable by anything on the "
            "network path. Use https:// unless this network is trusted end to end" % host
        )
    return found


# -- the options of the connection modules --------------------------------------------------------
def connection_fields_spec():
    """The argument spec of the connection's own fields (shared by every module)."""
    return fields_argument_spec(uac.FIELDS)


def registration_spec():
    """The options of waiting for the registration (documented in the ``registration`` doc fragment)."""
    return dict(
        wait_for_registration=dict(type="bool", default=False),
        registration_timeout=dict(type="int", default=600),
        registration_poll_interval=dict(type="float", default=10.0),
    )


def check_registration_options(params):
    """Problems with the waiting options (empty when fine)."""
    problems = []
    if params.get("registration_timeout") is not None and params["registration_timeout"] < 1:
        problems.append("registration_timeout must be at least 1 second, got %s" % params["registration_timeout"])
    interval = params.get("registration_poll_interval")
    if interval is not None and interval <= 0:
        problems.append("registration_poll_interval must be greater than 0, got %s" % interval)
    return problems


def concurrency_problems(concurrency):
    """The concurrency option's bound, for every module that has it."""
    if not 1 <= concurrency <= 64:
        return ["concurrency must be between 1 and 64, got %s" % concurrency]
    return []


def check_poll_options(params):
    """Problems with the options of uac_registration_info (empty when fine)."""
    problems = check_registration_options(params) + concurrency_problems(params["concurrency"])
    for index, conn in enumerate(params["connections"]):
        if not isinstance(conn, dict) or conn.get("id") in (None, ""):
            problems.append("connections[%d] needs the id of a connection (for example a line of the results of "
                            "telnyx.sip.uac_connections), got %r" % (index, conn))
    return problems


def behaviour_spec():
    """Options about how a connection is managed, not what it holds."""
    return dict(
        update_password=dict(type="str", default="on_create", choices=UPDATE_PASSWORD_CHOICES, no_log=False),
        reveal_secrets=dict(type="bool", default=False),
    )


def connection_spec():
    """The options of ``uac_connection``."""
    spec = connection_fields_spec()
    spec.update(behaviour_spec())
    spec.update(registration_spec())
    spec.update(
        state=dict(type="str", default="present", choices=["present", "absent"]),
        id=dict(type="str"),
    )
    return spec


def item_spec():
    """The options of one item of ``connections``: the connection's fields plus its state."""
    spec = connection_fields_spec()
    spec["connection_name"] = dict(spec["connection_name"], required=True)
    spec["state"] = dict(type="str", default="present", choices=["present", "absent"])
    # per item, over the module's options of the same name
    spec["update_password"] = dict(type="str", choices=UPDATE_PASSWORD_CHOICES, no_log=False)
    spec["wait_for_registration"] = dict(type="bool")
    # who owns the connection (the sip_attach role: the PBX host), recorded in a tag beside purge_tag
    spec["owner"] = dict(type="str")
    return spec


def fleet_spec():
    """The options of ``uac_connections``."""
    return dict(
        connections=dict(type="list", elements="dict", required=True),
        purge=dict(type="bool", default=False),
        purge_tag=dict(type="str"),
        purge_force_all=dict(type="bool", default=False),
        purge_scope=dict(type="str", default="all", choices=PURGE_SCOPES),
        purge_owners=dict(type="list", elements="str"),
        purge_departed=dict(type="bool", default=False),
        known_owners=dict(type="list", elements="str"),
        concurrency=dict(type="int", default=8),
        **dict(behaviour_spec(), **registration_spec())
    )


def registration_info_spec():
    """The options of ``uac_registration_info``."""
    return dict(
        connections=dict(type="list", elements="dict", required=True),
        registration_timeout=dict(type="int"),
        wait_started=dict(type="float"),
        concurrency=dict(type="int", default=8),
    )


def info_spec():
    """The options of ``uac_connection_info`` (filters the API supports)."""
    return dict(
        id=dict(type="str"),
        connection_name=dict(type="str"),
        name_contains=dict(type="str"),
        fqdn=dict(type="str"),
        outbound_voice_profile_id=dict(type="str"),
        sort=dict(type="str", choices=SORT_CHOICES),
        registration=dict(type="bool", default=False),
        reveal_secrets=dict(type="bool", default=False),
    )


def import_files_spec():
    """The options of ``import_files``."""
    return dict(
        path=dict(type="path", required=True),
        files=dict(type="list", elements="dict", required=True, options=dict(
            path=dict(type="str", required=True),
            content=dict(type="str", required=True),
        )),
        overwrite=dict(type="bool", default=False),
    )


def check_connection(params):
    """The desired fields of ``uac_connection``, once its options pass their checks (``ValidationError`` if not).

    The connection's own rules (``uac.validate``) run here, once, before any
    request; the rules of an update run in the planner (``uac.validate_update``).
    """
    uac.validate_id(params["id"])
    desired = uac.desired_state(params)
    if params["state"] == "present":
        uac.validate(desired)
    problems = check_registration_options(params)
    if problems:
        raise ValidationError(problems)
    return desired


# -- the items of uac_connections -----------------------------------------------------------------
def _name(item):
    """The item's connection_name as Ansible will type it (YAML reads ``1006`` as a number), or None."""
    name = item.get("connection_name") if isinstance(item, dict) else None
    if isinstance(name, (int, float)) and not isinstance(name, bool):
        name = str(name)
    return name if isinstance(name, str) else None


def _label(index, item):
    name = _name(item)
    return "connections[%d]%s" % (index, " (%s)" % name if name is not None else "")


def secret_values(item):
    """Every password an item carries, so the module can keep them out of its output.

    A number counts too: YAML reads an all-digit password as one, and Ansible
    turns it into the string that is sent.
    """
    values = []
    for path in uac.SECRET_PATHS:
        node = item
        for key in path:
            node = node.get(key) if isinstance(node, dict) else None
        if isinstance(node, (int, float)) and not isinstance(node, bool):
            node = str(node)
        if isinstance(node, str) and node:
            values.append(node)
    return values


# What Ansible puts in place of a value that is a secret, and of a secret found inside a longer value
NO_LOG_PLACEHOLDER = "VALUE_SPECIFIED_IN_NO_LOG_PARAMETER"
NO_LOG_MASK = "********"


class Secrets:
    """Many secrets (a password per item of a long list), removed from a result in one pass.

    Ansible's ``remove_values`` checks every string of a result against every
    ``no_log`` value: with a password per item that is (strings x items), about
    a minute of CPU at 4,000 items and five at 10,000. This does the same
    removal in time linear in the result: a value equal to a secret becomes
    Ansible's placeholder, a secret inside a longer value becomes ``********``,
    and numbers are compared as the text Ansible sends.

    The one place that decides what is secret: where ansible-core has its own
    registry of secrets (2.22+: ``ansible.module_utils.secrets``), every value
    added here is registered there too, so Ansible masks it (``$REDACTED$``)
    in what it writes itself (display, callbacks, module logs), while the
    result keeps this removal on every release.
    """

    def __init__(self):
        self._values = set()
        self._index = None  # the first `_width` characters of each secret -> the secrets, longest first
        self._width = 0

    def add(self, values):
        new = set(value for value in values if isinstance(value, str) and value) - self._values
        if new:
            self._values |= new
            self._index = None
            if ansible_register_secrets is not None:
                ansible_register_secrets(new)

    def __len__(self):
        return len(self._values)

    def _build(self):
        self._width = min(len(value) for value in self._values)
        index = {}
        for value in sorted(self._values, key=len, reverse=True):
            index.setdefault(value[:self._width], []).append(value)
        self._index = index

    def _text(self, text):
        if text in self._values:
            return NO_LOG_PLACEHOLDER
        width, index = self._width, self._index
        parts, start, at, end = [], 0, 0, len(text) - width
        while at <= end:
            for secret in index.get(text[at:at + width], ()):
                if text.startswith(secret, at):
                    parts.extend((text[start:at], NO_LOG_MASK))
                    at = start = at + len(secret)
                    break
            else:
                at += 1
        if not parts:
            return text
        parts.append(text[start:])
        return "".join(parts)

    def scrub(self, value):
        """``value`` (any JSON-like data) with every secret removed; the same object when there are none."""
        if not self._values:
            return value
        if self._index is None:
            self._build()
        done = {}  # each distinct string is looked at once

        def walk(node):
            if isinstance(node, str):
                if node not in done:
                    done[node] = self._text(node)
                return done[node]
            if isinstance(node, bool) or node is None:
                return node
            if isinstance(node, (int, float)):
                text = str(node)
                return NO_LOG_PLACEHOLDER if self._text(text) != text else node
            if isinstance(node, Mapping):
                return dict((key, walk(item)) for key, item in node.items())
            if isinstance(node, (list, tuple)):
                return [walk(item) for item in node]
            if isinstance(node, (set, frozenset)):
                return set(walk(item) for item in node)
            return node

        return walk(value)


def item_validator():
    """The validator of one item (build it once for many items)."""
    return ArgumentSpecValidator(item_spec())


def check_item(item, validator=None):
    """One item typed by the item spec, and every problem with it as clauses that name its options.

    The typed item is None when there are problems. The item's own rules
    (``uac.validate``) run here once; the rules of an update run in the
    planner (``uac.validate_update``). The sip_attach role's input filter
    checks each trunk with this in the controller, so a trunk's error names
    its host and trunk; the module, another process, checks its items again
    (``validate_items``), once each.
    """
    result = (validator or item_validator()).validate(item)
    if result.error_messages:
        return None, [_describe(error) for error in result.errors.errors]
    params = result.validated_parameters
    if params["state"] == "present":
        try:
            uac.validate(uac.desired_state(params))
        except ValidationError as exc:
            return None, exc.problems
    return params, []


def validate_items(items, purge, purge_tag, concurrency, options=None):
    """Typed items, or ``ValidationError`` naming every bad item and option."""
    options = options or {}
    problems = check_registration_options(options)
    if purge and not purge_tag:
        problems.append("purge needs purge_tag: only connections that carry the managed tag are ever deleted")
    if purge_tag is not None and not purge_tag.strip():
        problems.append("purge_tag must not be empty")
    problems.extend(_purge_scope_problems(purge, purge_tag, options))
    owners_only = options.get("purge_scope") == "owners" and not options.get("purge_departed")
    if purge and purge_tag and not owners_only and not options.get("purge_force_all") and not any(
            isinstance(item, dict) and item.get("state", "present") == "present" for item in items):
        problems.append("purge with no connection in state present would delete every connection tagged %r in the "
                        "account: list the connections to keep, or set purge_force_all: true to delete them all"
                        % (purge_tag,))
    problems.extend(concurrency_problems(concurrency))
    validator = item_validator()
    typed = []
    seen = {}
    for index, item in enumerate(items):
        label = _label(index, item)
        if not isinstance(item, dict):
            problems.append("%s must be a dict of connection options, got %r" % (label, type(item).__name__))
            continue
        name = _name(item)
        if name is not None and name in seen:
            problems.append("%s: connection_name %r is also given by connections[%d]; each name may appear once"
                            % (label, name, seen[name]))
            continue
        if name is not None:
            seen[name] = index
        params, errors = check_item(item, validator)
        if params is not None and params.get("owner") is not None:
            errors = errors + _owner_problems(params["owner"], purge_tag)
        problems.extend("%s: %s" % (label, error) for error in errors)
        if params is not None:
            typed.append(params)
    if problems:
        raise ValidationError(problems)
    return typed


def _owner_problems(owner, purge_tag):
    if not purge_tag:
        return ["owner needs purge_tag: the owner is recorded in the tag <purge_tag>:owner=<owner>"]
    if not owner.strip():
        return ["owner must not be empty"]
    return []


def _purge_scope_problems(purge, purge_tag, options):
    """The purge_scope, purge_owners, purge_departed and known_owners options that do not go together."""
    problems = []
    owners_scope = options.get("purge_scope") == "owners"
    if options.get("purge_owners") is not None and not owners_scope:
        problems.append("purge_owners is only used with purge_scope: owners")
    if options.get("purge_departed"):
        if not (purge and owners_scope):
            problems.append("purge_departed needs purge: true and purge_scope: owners")
        if not options.get("known_owners"):
            problems.append("purge_departed needs known_owners, every owner that still exists (the other owners' "
                            "connections are deleted)")
    elif options.get("known_owners") is not None:
        problems.append("known_owners is only used with purge_departed: true")
    for name in ("purge_owners", "known_owners"):
        if any(not (owner or "").strip() for owner in options.get(name) or []):
            problems.append("%s must not hold an empty owner" % name)
    return problems


def _describe(error):
    """An argument-spec error as one clause (unsupported options say so)."""
    if isinstance(error, UnsupportedError):
        return "unsupported option %s" % error.msg
    return error.msg


# -- the module --------------------------------------------------------------------------------------


class TelnyxModule(AnsibleModule):
    """An AnsibleModule with the Telnyx connection options and one client.

    Secrets carried inside list or dict options (the passwords of the items of
    ``uac_connections``) go to ``hide``, not ``no_log_values``: the module
    removes them from its result, warnings and invocation in one linear pass
    (``Secrets``). The values of the ``no_log`` options go there too: up to
    ansible-core 2.21 Ansible's own removal found them again in the result, but
    2.22 no longer removes them from it (it registers them and masks only its
    own output), and a registered result must not hold them on any release.
    """

    def __init__(self, argument_spec, **kwargs):
        spec = connection_argument_spec()
        spec.update(argument_spec)
        self.secrets = Secrets()
        super(TelnyxModule, self).__init__(argument_spec=spec, **kwargs)
        self._client = None

    def hide(self, values):
        """Keep these values (secrets inside an option's data) out of everything the module returns."""
        self.secrets.add(values)

    def _all_secrets(self):
        # the no_log values are known once the arguments are validated, which may fail (in __init__)
        self.secrets.add(getattr(self, "no_log_values", ()))
        return self.secrets

    def _scrubbed(self, result):
        # ansible-core 2.21+ put the invocation in the result only when INJECT_INVOCATION asks, and 2.22 puts the
        # arguments there as they are: so the module puts them there itself, scrubbed. Older releases always add
        # it, without the no_log values: the module adds it first only when it holds other secrets too
        inject = getattr(self, "_inject_invocation", None)
        if inject if inject is not None else len(self.secrets):
            result.setdefault("invocation", dict(module_args=self.params))
        return self._all_secrets().scrub(result)

    def warn(self, warning):
        super(TelnyxModule, self).warn(self._all_secrets().scrub(warning))

    def exit_json(self, **kwargs):
        super(TelnyxModule, self).exit_json(**self._scrubbed(kwargs))

    def fail_json(self, msg, **kwargs):
        kwargs = self._scrubbed(dict(kwargs, msg=msg))
        super(TelnyxModule, self).fail_json(**kwargs)

    @property
    def client(self):
        if self._client is None:
            if not HAS_REQUESTS:
                self.fail_json(msg=missing_required_lib("requests"), exception=REQUESTS_IMPORT_ERROR)
            try:
                self._client = TelnyxClient(
                    api_key=self.params["api_key"],
                    api_url=self.params["api_url"],
                    timeout=self.params["timeout"],
                    validate_certs=self.params["validate_certs"],
                    ca_path=self.params["ca_path"],
                    retries=self.params["retries"],
                    ansible_version=ANSIBLE_VERSION,
                    allow_insecure_http=self.params["allow_insecure_http"],
                )
            except TelnyxError as exc:
                self.fail_json(**exc.to_result())
        return self._client

    def check_connection_options(self):
        """Bad connection options fail before any request; weakened transport security warns, every run."""
        problems = []
        if self.params["timeout"] <= 0:
            problems.append("timeout must be greater than 0, got %s" % self.params["timeout"])
        if self.params["retries"] < 0:
            problems.append("retries must be 0 or more, got %s" % self.params["retries"])
        url = self.params.get("api_url")
        if url is not None and not url.lower().startswith(("http://", "https://")):
            problems.append("api_url must be an http(s) URL such as https://api.telnyx.com/v2, got %r" % url)
        else:
            insecure = insecure_url_problem(url, self.params["allow_insecure_http"])
            if insecure:
                problems.append(insecure)
        if problems:
            self.fail_json(msg="; ".join(problems))
        for warning in transport_warnings(url, self.params["validate_certs"], self.params["allow_insecure_http"]):
            self.warn(warning)

    def run(self, body):
        """Run ``body(module)``; exit with what it returns, fail cleanly on errors."""
        self.check_connection_options()
        try:
            result = body(self)
        except ValidationError as exc:
            self.fail_json(msg=str(exc))
        except TelnyxError as exc:
            self.fail_json(**exc.to_result())
        self.exit_json(**result)
