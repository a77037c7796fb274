"""The UAC connection resource: defaults, generated fields, updates and the rendering of responses.

A stored connection is a plain JSON-able dict shaped like the `UacConnection` response, holding
clear passwords; `render` turns it into what a client sees (masked passwords, no `texml`).
"""

import copy
import string
from datetime import datetime, timezone

MASK = "********"
PASSWORD_FIELDS = ("password", "external_uac_settings.password")

# Defaults of the request schemas (CreateUacConnectionRequest and what it references). Where the
# spec gives none, the choice is noted: see docs/emulator.md.
TOP_DEFAULTS = {
    "active": True,
    "anchorsite_override": "Latency",
    "android_push_credential_id": None,
    "call_cost_in_webhooks": False,
    "default_on_hold_comfort_noise_enabled": False,
    "dtmf_type": "RFC 2833",
    "encode_contact_header_enabled": False,
    "encrypted_media": None,
    "ios_push_credential_id": None,
    "noise_suppression": "disabled",  # no default in the spec
    "onnet_t38_passthrough_enabled": False,
    "sip_uri_calling_preference": "disabled",  # no default in the spec
    "tags": [],
    "webhook_api_version": "1",
    "webhook_event_failover_url": None,  # the spec's '' fails its own `format: uri`
    "webhook_timeout_secs": None,
}

NESTED_DEFAULTS = {
    "external_uac_settings": {
        # Nullable fields are null until set; plain-string ones (username, password, proxy) absent.
        "auth_username": None,
        "expiration_sec": None,
        "from_user": None,
        "outbound_proxy": None,
        "transport": None,
        "user_agent": None,
    },
    "inbound": {
        "ani_number_format": "E.164-national",
        "channel_limit": None,
        "codecs": ["G722", "G711U", "G711A", "G729", "OPUS", "H.264"],
        "dnis_number_format": "e164",
        "generate_ringback_tone": False,
        "isup_headers_enabled": False,
        "prack_enabled": False,
        "shaken_stir_enabled": False,
        "simultaneous_ringing": "disabled",
        "sip_compact_headers_enabled": True,
        "sip_region": "US",
        "timeout_1xx_secs": 3,
        "timeout_2xx_secs": 90,
    },
    "internal_uac_settings": {},
    "jitter_buffer": {
        "enable_jitter_buffer": False,
        "jitterbuffer_msec_max": 200,
        "jitterbuffer_msec_min": 60,
    },
    "noise_suppression_details": {"engine": "denoiser"},
    "outbound": {
        "ani_override": "",
        "ani_override_type": "always",
        "call_parking_enabled": False,
        "channel_limit": None,
        "generate_ringback_tone": False,
        "instant_ringback_enabled": True,
        "localization": "US",
        "t38_reinvite_source": "telnyx",
    },
    "rtcp_settings": {"capture_enabled": False, "port": "rtp+1", "report_frequency_secs": 5},
}

# Per the description of noise_suppression_details.attenuation_limit.
ATTENUATION_DEFAULTS = {"denoiser": 0, "quail_voice_focus": 100}
ATTENUATION_DEFAULT_OTHER = 80

# Keys of a nested object that a PATCH giving that object without them leaves as they were:
# generated read-only fields and write-only secrets.
KEPT_ON_REPLACE = {
    "inbound": ("sip_subdomain", "sip_subdomain_receive_settings"),
    "external_uac_settings": ("password",),
}

_ALNUM = string.ascii_lowercase + string.digits
_PASSWORD_CHARS = string.ascii_letters + string.digits


def timestamp(moment=None):
    """ISO-8601 with milliseconds and a Z, like `2018-02-02T22:25:27.521Z`."""
    moment = moment or datetime.now(timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _nested(key, given, stored=None):
    """A nested object as the schema's defaults overlaid with what was given (strict replacement)."""
    value = copy.deepcopy(NESTED_DEFAULTS[key])
    value.update(copy.deepcopy(given))
    for kept in KEPT_ON_REPLACE.get(key, ()):
        if kept not in given and stored and kept in stored:
            value[kept] = stored[kept]
    if key == "noise_suppression_details" and "attenuation_limit" not in value:
        value["attenuation_limit"] = ATTENUATION_DEFAULTS.get(value["engine"], ATTENUATION_DEFAULT_OTHER)
    return value


def _apply(record, body):
    for key, value in body.items():
        if key in NESTED_DEFAULTS:
            record[key] = _nested(key, value, record.get(key))
        else:
            record[key] = copy.deepcopy(value)
    if record.get("webhook_event_failover_url") == "":
        record["webhook_event_failover_url"] = None


def generate_user_name(rng):
    """4-32 alphanumerics with a letter among the first 5 (here: a letter first, 12 in all)."""
    return rng.choice(string.ascii_lowercase) + "".join(rng.choice(_ALNUM) for unused in range(11))


def generate_password(rng):
    return "".join(rng.choice(_PASSWORD_CHARS) for unused in range(20))


def new_connection(body, connection_id, fqdn_id, label, rng, now=None):
    """A stored connection made from a validated create body and the generated identifiers."""
    created = timestamp(now)
    fqdn = f"{label}.uac.telnyx.com"
    record = copy.deepcopy(TOP_DEFAULTS)
    for key in NESTED_DEFAULTS:
        record[key] = _nested(key, {})
    record["inbound"].update(sip_subdomain=label, sip_subdomain_receive_settings="only_my_connections")
    _apply(record, body)
    record.setdefault("user_name", generate_user_name(rng))
    record.setdefault("password", generate_password(rng))
    record.update(
        id=connection_id,
        record_type="uac_connection",
        authentication="uac-authentication",
        fqdn=fqdn,
        fqdn_outbound_authentication="credential-authentication",
        fqdns=[{
            "connection_id": connection_id,
            "created_at": created,
            "dns_record_type": "srv",
            "fqdn": fqdn,
            "id": fqdn_id,
            "port": 5060,
            "record_type": "fqdn",
            "updated_at": created,
        }],
        registration_status=None,
        registration_status_updated_at=None,
        created_at=created,
        updated_at=created,
    )
    return record


def updated_connection(record, body, now=None):
    """A copy of a stored connection with a validated PATCH body applied."""
    record = copy.deepcopy(record)
    _apply(record, body)
    record["updated_at"] = timestamp(now)
    return record


def passwords_in(body):
    """The password fields (as in PASSWORD_FIELDS) that a request body sets."""
    given = set()
    if "password" in body:
        given.add("password")
    if "password" in (body.get("external_uac_settings") or {}):
        given.add("external_uac_settings.password")
    return given


def render(record, reveal=(), plaintext=False):
    """The connection as a client sees it.

    Passwords are masked except those in `reveal` (set by the request being answered), or all of
    them with `plaintext` (older accounts). `webhook_api_version` 'texml', accepted on create, is
    left out: the response schema admits only '1' and '2'.
    """
    out = copy.deepcopy(record)
    for field in PASSWORD_FIELDS:
        *parents, key = field.split(".")
        holder = out
        for parent in parents:
            holder = holder.get(parent) or {}
        if key in holder and not plaintext and field not in reveal:
            holder[key] = MASK
    if out.get("webhook_api_version") == "texml":
        del out["webhook_api_version"]
    return out
