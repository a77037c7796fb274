# -*- coding: utf-8 -*-
# Copyright (c) telnyx.sip contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""The UAC connection (SIP Attach) resource: its fields, identity and rules.

PRIVATE: internal to the telnyx.sip collection; may change without notice.

Fields, choices and limits come from the official contract
(``uac_connections.openapi.yaml``: CreateUacConnectionRequest,
UpdateUacConnectionRequest, UacExternalSettings, UacInternalSettings, ...).
Every module that manages UAC connections uses this one declaration and the
planning functions below.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

from ansible_collections.telnyx.sip.plugins.module_utils._client import TelnyxError
from ansible_collections.telnyx.sip.plugins.module_utils._resource import (
    Field,
    ValidationError,
    apply_change,
    create_payload,
    diff_secrets_for_create,
    fields_argument_spec,
    managed,
    mask_secrets,
    plan_update,
    validate_fields,
)

PATH = "/uac_connections"
NAME_FILTER_MIN = 3

ANCHORSITES = [
    "Latency", "Chicago, IL", "Ashburn, VA", "San Jose, CA", "Sydney, Australia",
    "Amsterdam, Netherlands", "London, UK", "Toronto, Canada", "Vancouver, Canada", "Frankfurt, Germany",
]
NOISE_ENGINES = [
    "denoiser", "deep_filter_net", "deep_filter_net_large", "krisp_viva_tel", "krisp_viva_tel_lite",
    "krisp_viva_promodel", "krisp_viva_ss", "quail_voice_focus",
]

_HOST = (
    r"(?:\[[0-9A-Fa-f:.]+\]"  # [IPv6]
    r"|(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)*[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)"
)
_PORT = r"(?::(?:6553[0-5]|655[0-2]\d|65[0-4]\d\d|6[0-4]\d{3}|[1-5]\d{4}|[1-9]\d{0,3}))?"
_URI_PARAMS = r"(?:;[A-Za-z0-9_.!~*'()%-]+(?:=[A-Za-z0-9_.!~*'()%+-]+)?)*"
PROXY_RE = re.compile(r"^(?:(?:sips?:)" + _HOST + _PORT + _URI_PARAMS + r"|" + _HOST + _PORT + r")$")
OUTBOUND_PROXY_RE = re.compile(r"^sips?:" + _HOST + _PORT + _URI_PARAMS + r"$")
DESTINATION_RE = re.compile(r"^[A-Za-z0-9_-]+@(?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?\.)*sip(?:dev)?\.telnyx\.com$")
URL_RE = re.compile(r"^https?://[^\s/$.?#][^\s]*$", re.IGNORECASE)
ID_RE = re.compile(r"^[A-Za-z0-9-]+$")


def _check_proxy(value):
    if not PROXY_RE.match(value):
        return ("must be a host, host:port or sip: URI (for example pbx.example.com, pbx.example.com:5060 or "
                "sip:pbx.example.com:5060), got %r" % value)
    return None


def _check_outbound_proxy(value):
    if not OUTBOUND_PROXY_RE.match(value):
        hint = " (add the sip: scheme: sip:%s)" % value if PROXY_RE.match(value) \
            and not value.lower().startswith(("sip:", "sips:")) else ""
        return "must be a SIP URI with its sip: scheme, such as sip:proxy.example.com:5060, got %r%s" % (value, hint)
    return None


def _check_destination(value):
    if value.lower().startswith(("sip:", "sips:")):
        return ("must not carry a sip: prefix: give %r, of the form <extension>@<application>.sip.telnyx.com"
                % value.split(":", 1)[1])
    if not DESTINATION_RE.match(value):
        return ("must be of the form <userinfo>@<application>.sip.telnyx.com (or sipdev.telnyx.com), the userinfo "
                "made of letters, digits, hyphens and underscores, for example "
                "1006@assistant-<uuid>.sip.telnyx.com, got %r" % value)
    return None


def _check_user_name(value):
    if not re.search(r"[A-Za-z]", value[:5]):
        return "needs a letter among its first 5 characters (Telnyx refuses all-digit user names), got %r" % value
    return None


def _check_url(value):
    if not URL_RE.match(value):
        return "must be an http(s) URL with its scheme, such as https://example.com/webhooks, got %r" % value
    return None


def _check_localization(value):
    if value and not re.match(r"^[A-Z]{2}$", value):
        return "must be a 2-letter country code such as US or GB, got %r" % value
    return None


EXTERNAL_UAC_SETTINGS = dict(
    proxy=Field(check=_check_proxy),
    username=Field(min_len=4, max_len=32, pattern=r"^[A-Za-z0-9][A-Za-z0-9_-]*$",
                   pattern_help="must start with a letter or digit and hold only letters, digits, hyphens "
                                "and underscores"),
    password=Field(compare="secret", min_len=1),
    auth_username=Field(null_value=""),
    transport=Field(choices=["UDP", "TCP", "TLS"]),
    expiration_sec=Field(type="int", minimum=1),
    from_user=Field(null_value=""),
    outbound_proxy=Field(null_value="", check=_check_outbound_proxy),
    user_agent=Field(null_value=""),
)

INTERNAL_UAC_SETTINGS = dict(
    destination_uri=Field(check=_check_destination),
)

INBOUND = dict(
    ani_number_format=Field(choices=["+E.164", "E.164", "+E.164-national", "E.164-national"]),
    channel_limit=Field(type="int", minimum=0),
    codecs=Field(type="list", elements="str"),
    default_routing_method=Field(choices=["sequential", "round-robin"]),
    dnis_number_format=Field(choices=["+e164", "e164", "national", "sip_username"]),
    generate_ringback_tone=Field(type="bool"),
    isup_headers_enabled=Field(type="bool"),
    prack_enabled=Field(type="bool"),
    shaken_stir_enabled=Field(type="bool"),
    simultaneous_ringing=Field(choices=["disabled", "enabled"]),
    sip_compact_headers_enabled=Field(type="bool"),
    sip_region=Field(choices=["US", "Europe", "Australia"]),
    timeout_1xx_secs=Field(type="int", minimum=1, maximum=120),
    timeout_2xx_secs=Field(type="int", minimum=1, maximum=600),
)

OUTBOUND = dict(
    ani_override=Field(),
    ani_override_type=Field(choices=["always", "normal", "emergency"]),
    call_parking_enabled=Field(type="bool"),
    channel_limit=Field(type="int", minimum=0),
    generate_ringback_tone=Field(type="bool"),
    instant_ringback_enabled=Field(type="bool"),
    localization=Field(check=_check_localization),
    outbound_voice_profile_id=Field(pattern=r"^\d+$", pattern_help="must be a numeric id"),
    t38_reinvite_source=Field(choices=["telnyx", "customer", "disabled", "passthru", "caller-passthru",
                                       "callee-passthru"]),
)

FIELDS = dict(
    connection_name=Field(),
    active=Field(type="bool"),
    user_name=Field(min_len=4, max_len=32, pattern=r"^[A-Za-z0-9]+$",
                    pattern_help="must hold only letters and digits (no spaces or special characters)",
                    check=_check_user_name),
    password=Field(compare="secret", min_len=8, max_len=128),
    anchorsite_override=Field(choices=ANCHORSITES),
    dtmf_type=Field(choices=["RFC 2833", "Inband", "SIP INFO"]),
    encrypted_media=Field(choices=["SRTP", "disabled"], null_value="disabled"),
    sip_uri_calling_preference=Field(choices=["disabled", "unrestricted", "internal"]),
    default_on_hold_comfort_noise_enabled=Field(type="bool"),
    encode_contact_header_enabled=Field(type="bool"),
    onnet_t38_passthrough_enabled=Field(type="bool"),
    call_cost_in_webhooks=Field(type="bool"),
    ios_push_credential_id=Field(null_value=""),
    android_push_credential_id=Field(null_value=""),
    noise_suppression=Field(choices=["inbound", "outbound", "both", "disabled"]),
    noise_suppression_details=Field(type="dict", options=dict(
        attenuation_limit=Field(type="int", minimum=0, maximum=100, multiple_of=10),
        engine=Field(choices=NOISE_ENGINES),
    )),
    jitter_buffer=Field(type="dict", options=dict(
        enable_jitter_buffer=Field(type="bool"),
        jitterbuffer_msec_max=Field(type="int", minimum=40, maximum=400),
        jitterbuffer_msec_min=Field(type="int", minimum=40, maximum=400),
    )),
    rtcp_settings=Field(type="dict", options=dict(
        capture_enabled=Field(type="bool"),
        port=Field(choices=["rtcp-mux", "rtp+1"]),
        report_frequency_secs=Field(type="int", minimum=5, maximum=3000),
    )),
    tags=Field(type="list", elements="str", compare="set"),
    webhook_event_url=Field(check=_check_url),
    webhook_event_failover_url=Field(null_value="", check=_check_url),
    webhook_api_version=Field(choices=["1", "2", "texml"]),
    webhook_timeout_secs=Field(type="int", minimum=0, maximum=30),
    inbound=Field(type="dict", options=INBOUND),
    outbound=Field(type="dict", options=OUTBOUND),
    external_uac_settings=Field(type="dict", options=EXTERNAL_UAC_SETTINGS),
    internal_uac_settings=Field(type="dict", options=INTERNAL_UAC_SETTINGS),
)

SECRET_PATHS = (("password",), ("external_uac_settings", "password"))


def connection_fields_spec():
    """The argument spec of the connection's own fields (shared by every module)."""
    return fields_argument_spec(FIELDS)


def behaviour_spec():
    """Options about how a connection is managed, not what it holds."""
    return dict(
        update_password=dict(type="str", default="on_create", choices=["always", "on_create"], no_log=False),
        reveal_secrets=dict(type="bool", default=False),
    )


def validate(desired, creating=None, current=None):
    """Raise ``ValidationError`` listing every problem with one connection's options.

    ``creating`` is True/False when known, None while the object is still to
    be looked up (rules that depend on it are checked again later).
    ``current`` is the connection being updated, when there is one.
    """
    problems = validate_fields(FIELDS, desired)
    name = desired.get("connection_name")
    if name is not None and not name.strip():
        problems.append("connection_name must not be empty")
    # The combination is checked on what the connection will be: the desired
    # values over the current ones.
    media = desired.get("encrypted_media", (current or {}).get("encrypted_media"))
    transport = (desired.get("external_uac_settings") or {}).get(
        "transport", ((current or {}).get("external_uac_settings") or {}).get("transport"))
    if media == "SRTP" and transport == "TLS":
        problems.append("encrypted_media SRTP cannot be set when external_uac_settings.transport is TLS "
                        "(the API refuses the combination)")
    if desired.get("webhook_api_version") == "texml":
        if not (desired.get("outbound") or {}).get("call_parking_enabled"):
            problems.append("webhook_api_version texml needs outbound.call_parking_enabled: true")
        if creating is False and (current or {}).get("webhook_api_version") != "texml":
            problems.append("webhook_api_version texml can only be set when the connection is created; "
                            "allowed on update: 1, 2")
    if problems:
        raise ValidationError(problems)


def validate_id(value):
    if value is not None and not ID_RE.match(value):
        raise ValidationError("id must be a Telnyx connection id (letters, digits and hyphens), got %r" % value)


def desired_state(params):
    """The managed fields of a connection, from module parameters."""
    return managed(dict((name, params.get(name)) for name in FIELDS))


def item_path(connection_id):
    return "%s/%s" % (PATH, connection_id)


def masked(obj, reveal=False):
    return mask_secrets(obj, reveal=reveal)


class Lookup:
    """Finds connections by id or exact name, from the API or a preloaded list."""

    def __init__(self, client, preloaded=None):
        self.client = client
        self.preloaded = preloaded

    def all(self):
        if self.preloaded is None:
            self.preloaded = self.client.paginate(PATH)
        return self.preloaded

    def by_name(self, name):
        """Every connection whose name is exactly ``name``."""
        if self.preloaded is not None:
            candidates = self.preloaded
        elif len(name) >= NAME_FILTER_MIN:
            # The API filter is a case-insensitive substring match: narrow
            # with it, then match exactly here.
            candidates = self.client.paginate(PATH, {"filter[connection_name][contains]": name})
        else:
            candidates = self.all()
        return [conn for conn in candidates if conn.get("connection_name") == name]

    def by_id(self, connection_id):
        if self.preloaded is not None:
            for conn in self.preloaded:
                if str(conn.get("id")) == str(connection_id):
                    return conn
            return None
        try:
            return self.client.get(item_path(connection_id)).get("data")
        except TelnyxError as exc:
            if exc.status == 404:
                return None
            raise


def duplicate_error(name, matches):
    return ("%d UAC connections are named %r (ids: %s): the API does not keep names unique. Delete the extra "
            "ones, or manage each by id" % (len(matches), name, ", ".join(sorted(str(m.get("id")) for m in matches))))


class Outcome:
    """The result of bringing one connection to its desired state."""

    def __init__(self, action, connection=None, before=None, after=None):
        self.action = action  # created, updated, deleted, unchanged
        self.connection = connection
        self.before = before if before is not None else {}
        self.after = after if after is not None else {}

    @property
    def changed(self):
        return self.action in ("created", "updated", "deleted")


def find_current(lookup, connection_id=None, name=None):
    """The connection that ``id``/``connection_name`` identify, or None.

    Raises ``ValidationError`` for several connections with the name.
    """
    if connection_id is not None:
        return lookup.by_id(connection_id)
    matches = lookup.by_name(name)
    if len(matches) > 1:
        raise ValidationError(duplicate_error(name, matches))
    return matches[0] if matches else None


def plan(desired, current, state="present", update_password="on_create"):
    """What to do for one connection: an ``Outcome`` with the request to send.

    Returns (outcome, method, payload): method is POST, PATCH, DELETE or None.
    """
    if state == "absent":
        if current is None:
            return Outcome("unchanged"), None, None
        return Outcome("deleted", current, before=masked(current), after={}), "DELETE", None
    if current is None:
        validate(desired, creating=True)
        payload = create_payload(FIELDS, desired)
        return Outcome("created", payload, before={}, after=diff_secrets_for_create(FIELDS, payload)), \
            "POST", payload
    validate(desired, creating=False, current=current)
    change = plan_update(FIELDS, desired, current, update_password=update_password)
    if not change.changed:
        return Outcome("unchanged", current), None, None
    ident = dict(id=current.get("id"), connection_name=current.get("connection_name"))
    before = dict(ident, **change.before)
    after = dict(ident, **masked(change.after))
    return Outcome("updated", apply_change(current, change.payload), before=before, after=after), \
        "PATCH", change.payload


def execute(client, outcome, method, payload, current):
    """Send the planned request; returns the outcome with the API's object."""
    if method == "POST":
        name = payload.get("connection_name")

        def recover():
            # The POST may have been carried out even though no answer came.
            # Any connection with the name now (there was none when planned)
            # is the one it made: sending it again could only add another.
            matches = Lookup(client).by_name(name)
            return matches[0] if matches else None

        outcome.connection = client.post(PATH, payload, recover=recover).get("data")
    elif method == "PATCH":
        outcome.connection = client.patch(item_path(current["id"]), payload).get("data")
    elif method == "DELETE":
        try:
            outcome.connection = client.delete(item_path(current["id"])).get("data") or current
        except TelnyxError as exc:
            if exc.status != 404:
                raise
            # Deleted meanwhile: the goal is met.
            outcome.connection = current
    return outcome


def check_rename(lookup, current, desired):
    """With both id and connection_name: refuse a name another connection has."""
    name = desired.get("connection_name")
    if current is None or name is None or name == current.get("connection_name"):
        return
    others = [conn for conn in lookup.by_name(name) if str(conn.get("id")) != str(current.get("id"))]
    if others:
        raise ValidationError(
            "connection_name %r is already used by connection id %s: cannot rename connection id %s to it"
            % (name, ", ".join(str(o.get("id")) for o in others), current.get("id")))


def outcome_result(outcome, want_diff, reveal=False):
    """The module result for one connection: secrets masked unless revealed."""
    result = dict(
        changed=outcome.changed,
        action=outcome.action,
        uac_connection=masked(outcome.connection or {}, reveal=reveal),
    )
    if want_diff and outcome.changed:
        result["diff"] = dict(before=outcome.before, after=outcome.after)
    return result


SORT_CHOICES = ["created_at", "-created_at", "connection_name", "-connection_name", "active", "-active"]


def info_spec():
    """The options of the info module (filters the API supports)."""
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


def read_connections(client, params):
    """The connections the info options select, every page read."""
    validate_id(params.get("id"))
    contains = params.get("name_contains")
    if contains is not None and len(contains) < NAME_FILTER_MIN:
        raise ValidationError("name_contains needs at least %d characters (an API limit), got %r"
                              % (NAME_FILTER_MIN, contains))
    if params.get("id") is not None:
        found = Lookup(client).by_id(params["id"])
        connections = [found] if found is not None else []
        return [c for c in connections if _matches(c, params)]
    query = {}
    name = params.get("connection_name")
    if contains is not None:
        query["filter[connection_name][contains]"] = contains
    elif name is not None and len(name) >= NAME_FILTER_MIN:
        query["filter[connection_name][contains]"] = name
    if params.get("fqdn") is not None:
        query["filter[fqdn]"] = params["fqdn"]
    if params.get("outbound_voice_profile_id") is not None:
        query["filter[outbound_voice_profile_id]"] = params["outbound_voice_profile_id"]
    if params.get("sort") is not None:
        query["sort"] = params["sort"]
    return [c for c in client.paginate(PATH, query) if _matches(c, params)]


def _matches(conn, params):
    """Client-side checks on top of the API's filters (exact name, and the rest for a look-up by id)."""
    if params.get("connection_name") is not None and conn.get("connection_name") != params["connection_name"]:
        return False
    contains = params.get("name_contains")
    if contains is not None and contains.lower() not in (conn.get("connection_name") or "").lower():
        return False
    if params.get("fqdn") is not None and conn.get("fqdn") != params["fqdn"]:
        return False
    profile = params.get("outbound_voice_profile_id")
    if profile is not None and (conn.get("outbound") or {}).get("outbound_voice_profile_id") != profile:
        return False
    return True
