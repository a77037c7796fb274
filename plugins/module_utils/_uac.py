# -*- coding: utf-8 -*-
# Copyright (c) telnyx.sip contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""The UAC connection (SIP Attach) resource: its fields, identity and rules, declared once.

PRIVATE: internal to the telnyx.sip collection; may change without notice.

Fields, choices, limits and API defaults come from the official contract
(``uac_connections.openapi.yaml``: CreateUacConnectionRequest,
UpdateUacConnectionRequest, UacExternalSettings, UacInternalSettings, ...).
Every module that manages UAC connections uses this one declaration; the
engine (``_engine``) plans and carries out changes from it, the info query
(``_query``) reads connections, and ``masked`` is the one way a connection
leaves the collection.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

from ansible_collections.telnyx.sip.plugins.module_utils._resource import (
    Field,
    ValidationError,
    managed,
    mask_changes,
    mask_secrets,
    secret_names,
    secret_paths,
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
    ani_number_format=Field(choices=["+E.164", "E.164", "+E.164-national", "E.164-national"],
                            api_default="E.164-national"),
    channel_limit=Field(type="int", minimum=0),
    codecs=Field(type="list", elements="str", api_default=["G722", "G711U", "G711A", "G729", "OPUS", "H.264"]),
    default_routing_method=Field(choices=["sequential", "round-robin"]),
    dnis_number_format=Field(choices=["+e164", "e164", "national", "sip_username"], api_default="e164"),
    generate_ringback_tone=Field(type="bool", api_default=False),
    isup_headers_enabled=Field(type="bool", api_default=False),
    prack_enabled=Field(type="bool", api_default=False),
    shaken_stir_enabled=Field(type="bool", api_default=False),
    simultaneous_ringing=Field(choices=["disabled", "enabled"], api_default="disabled"),
    sip_compact_headers_enabled=Field(type="bool", api_default=True),
    sip_region=Field(choices=["US", "Europe", "Australia"], api_default="US"),
    timeout_1xx_secs=Field(type="int", minimum=1, maximum=120, api_default=3),
    timeout_2xx_secs=Field(type="int", minimum=1, maximum=600, api_default=90),
)

OUTBOUND = dict(
    ani_override=Field(api_default=""),
    ani_override_type=Field(choices=["always", "normal", "emergency"], api_default="always"),
    call_parking_enabled=Field(type="bool", api_default=False),
    channel_limit=Field(type="int", minimum=0),
    generate_ringback_tone=Field(type="bool", api_default=False),
    instant_ringback_enabled=Field(type="bool", api_default=True),
    localization=Field(check=_check_localization, api_default="US"),
    outbound_voice_profile_id=Field(pattern=r"^\d+$", pattern_help="must be a numeric id"),
    t38_reinvite_source=Field(choices=["telnyx", "customer", "disabled", "passthru", "caller-passthru",
                                       "callee-passthru"], api_default="telnyx"),
)

FIELDS = dict(
    connection_name=Field(),
    active=Field(type="bool", api_default=True),  # the contract's description: "Defaults to true"
    user_name=Field(min_len=4, max_len=32, pattern=r"^[A-Za-z0-9]+$",
                    pattern_help="must hold only letters and digits (no spaces or special characters)",
                    check=_check_user_name),
    password=Field(compare="secret", min_len=8, max_len=128),
    anchorsite_override=Field(choices=ANCHORSITES, api_default="Latency"),
    dtmf_type=Field(choices=["RFC 2833", "Inband", "SIP INFO"], api_default="RFC 2833"),
    encrypted_media=Field(choices=["SRTP", "disabled"], null_value="disabled"),
    sip_uri_calling_preference=Field(choices=["disabled", "unrestricted", "internal"]),
    # the request schemas' default (the response schema says true)
    default_on_hold_comfort_noise_enabled=Field(type="bool", api_default=False),
    encode_contact_header_enabled=Field(type="bool", api_default=False),
    onnet_t38_passthrough_enabled=Field(type="bool", api_default=False),
    call_cost_in_webhooks=Field(type="bool", api_default=False),
    ios_push_credential_id=Field(null_value=""),
    android_push_credential_id=Field(null_value=""),
    noise_suppression=Field(choices=["inbound", "outbound", "both", "disabled"]),
    noise_suppression_details=Field(type="dict", options=dict(
        attenuation_limit=Field(type="int", minimum=0, maximum=100, multiple_of=10),
        engine=Field(choices=NOISE_ENGINES, api_default="denoiser"),
    )),
    jitter_buffer=Field(type="dict", options=dict(
        enable_jitter_buffer=Field(type="bool", api_default=False),
        jitterbuffer_msec_max=Field(type="int", minimum=40, maximum=400, api_default=200),
        jitterbuffer_msec_min=Field(type="int", minimum=40, maximum=400, api_default=60),
    )),
    rtcp_settings=Field(type="dict", options=dict(
        capture_enabled=Field(type="bool", api_default=False),
        port=Field(choices=["rtcp-mux", "rtp+1"], api_default="rtp+1"),
        report_frequency_secs=Field(type="int", minimum=5, maximum=3000, api_default=5),
    )),
    tags=Field(type="list", elements="str", compare="set"),
    webhook_event_url=Field(check=_check_url),
    webhook_event_failover_url=Field(null_value="", check=_check_url, api_default=""),
    webhook_api_version=Field(choices=["1", "2", "texml"], api_default="1"),
    webhook_timeout_secs=Field(type="int", minimum=0, maximum=30),
    inbound=Field(type="dict", options=INBOUND),
    outbound=Field(type="dict", options=OUTBOUND),
    external_uac_settings=Field(type="dict", options=EXTERNAL_UAC_SETTINGS),
    internal_uac_settings=Field(type="dict", options=INTERNAL_UAC_SETTINGS),
)

# Derived from the fields declared compare="secret", never listed by hand.
SECRET_NAMES = secret_names(FIELDS)
SECRET_PATHS = secret_paths(FIELDS)


SRTP_WITH_TLS = ("encrypted_media SRTP cannot be set when external_uac_settings.transport is TLS "
                 "(the API refuses the combination)")


def _media_and_transport(values):
    return values.get("encrypted_media"), (values.get("external_uac_settings") or {}).get("transport")


def validate(desired):
    """Raise ``ValidationError`` listing every problem with one connection's options, on their own.

    The static rules: each field's type, format, choices and limits, and the
    combinations of desired values alone. They are checked once, on input,
    before any request (``_module.check_connection`` for ``uac_connection``,
    ``_module.check_item`` for an item of ``uac_connections`` or a trunk of the
    role); the rules that need the connection as it is are ``validate_update``'s.
    """
    problems = validate_fields(FIELDS, desired)
    name = desired.get("connection_name")
    if name is not None and not name.strip():
        problems.append("connection_name must not be empty")
    if _media_and_transport(desired) == ("SRTP", "TLS"):
        problems.append(SRTP_WITH_TLS)
    if desired.get("webhook_api_version") == "texml" and not (desired.get("outbound") or {}).get(
            "call_parking_enabled"):
        problems.append("webhook_api_version texml needs outbound.call_parking_enabled: true")
    if problems:
        raise ValidationError(problems)


def validate_update(desired, current):
    """Raise ``ValidationError`` listing what ``desired`` may not do to ``current``, an existing connection.

    The rules that need the connection as it is, checked by the planner
    (``_engine.plan_connection``) once it is known; ``validate`` has checked
    the desired values on their own (a create has no other rule).
    """
    problems = []
    media, transport = _media_and_transport(desired)
    if media is None or transport is None:
        # What the connection will be: the desired values over the current
        # ones (both desired is validate's rule).
        current_media, current_transport = _media_and_transport(current)
        if (media or current_media, transport or current_transport) == ("SRTP", "TLS"):
            problems.append(SRTP_WITH_TLS)
    if desired.get("webhook_api_version") == "texml" and current.get("webhook_api_version") != "texml":
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
    """``obj`` (a connection, a diff, a result line) as it may leave the collection: secrets masked unless revealed.

    The one boundary on the way out: every module result goes through it.
    """
    return mask_secrets(obj, SECRET_NAMES, reveal=reveal)


def masked_changes(changes):
    """A plan's field-level changes as they may leave the collection: a secret only as ``(will be set)``."""
    return mask_changes(changes, SECRET_PATHS, SECRET_NAMES)
