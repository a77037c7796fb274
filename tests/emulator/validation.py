"""Request-body validation for UAC connections, hand-written from the OpenAPI contract.

The emulator must run without the spec file, so the rules of `CreateUacConnectionRequest` and
`UpdateUacConnectionRequest` (and the schemas they reference) are restated here as small rule
objects. Each rule appends one error object per invalid field, with a JSON pointer to it, so a
request with three bad fields gets three entries in `errors`, as the live API does.
"""

import re
from urllib.parse import urlsplit

from .errors import ApiError, error_object

_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*$")
_USER_NAME = re.compile(r"^[A-Za-z0-9]{4,32}$")
_EXTERNAL_USERNAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]*$")
_DESTINATION_URI = re.compile(
    r"^[A-Za-z0-9_-]+@(?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?\.)*(?:sip|sipdev)\.telnyx\.com$",
    re.IGNORECASE,
)


def _name(pointer):
    """`/external_uac_settings/transport` -> `external_uac_settings.transport`."""
    return pointer.strip("/").replace("/", ".") or "body"


def invalid(pointer, problem):
    return error_object("10015", f"{_name(pointer)} {problem}", pointer)


class Rule:
    """A JSON value's rule; `nullable` admits null (the schema's `type: [..., 'null']`)."""

    type_name = "a value"

    def __init__(self, nullable=False):
        self.nullable = nullable

    def validate(self, value, pointer, errors):
        if value is None:
            if not self.nullable:
                errors.append(invalid(pointer, "must not be null"))
            return
        if not self.has_type(value):
            errors.append(invalid(pointer, f"must be {self.type_name}"))
            return
        self.check(value, pointer, errors)

    def has_type(self, value):
        return True

    def check(self, value, pointer, errors):
        """Constraints beyond the type; the value is known not to be null and to have the type."""


class Bool(Rule):
    type_name = "a boolean"

    def has_type(self, value):
        return isinstance(value, bool)


class Int(Rule):
    type_name = "an integer"

    def __init__(self, minimum=None, maximum=None, multiple_of=None, nullable=False):
        super().__init__(nullable)
        self.minimum, self.maximum, self.multiple_of = minimum, maximum, multiple_of

    def has_type(self, value):
        # JSON booleans are not integers, though Python's bool is an int.
        return isinstance(value, int) and not isinstance(value, bool)

    def check(self, value, pointer, errors):
        if self.minimum is not None and value < self.minimum:
            errors.append(invalid(pointer, f"must be greater than or equal to {self.minimum}"))
        elif self.maximum is not None and value > self.maximum:
            errors.append(invalid(pointer, f"must be less than or equal to {self.maximum}"))
        elif self.multiple_of and value % self.multiple_of:
            errors.append(invalid(pointer, f"must be a multiple of {self.multiple_of}"))


class Str(Rule):
    type_name = "a string"

    def __init__(self, min_len=None, max_len=None, pattern=None, hint=None, nullable=False, extra=None):
        super().__init__(nullable)
        self.min_len, self.max_len = min_len, max_len
        self.pattern, self.hint = pattern, hint
        self.extra = extra  # callable(value) -> problem text or None

    def has_type(self, value):
        return isinstance(value, str)

    def check(self, value, pointer, errors):
        if self.min_len is not None and len(value) < self.min_len:
            errors.append(invalid(pointer, f"must be at least {self.min_len} characters long"
                                  if self.min_len > 1 else "must not be empty"))
        elif self.max_len is not None and len(value) > self.max_len:
            errors.append(invalid(pointer, f"must be at most {self.max_len} characters long"))
        elif self.pattern is not None and not self.pattern.match(value):
            errors.append(invalid(pointer, self.hint or "has an invalid format"))
        elif self.extra is not None:
            problem = self.extra(value)
            if problem:
                errors.append(invalid(pointer, problem))


class Enum(Rule):
    type_name = "a string"

    def __init__(self, *values, nullable=False):
        super().__init__(nullable)
        self.values = values

    def has_type(self, value):
        return isinstance(value, str)

    def check(self, value, pointer, errors):
        if value not in self.values:
            errors.append(error_object(
                "10015",
                f"Invalid {_name(pointer)}: {value}, was provided. "
                f"Acceptable values are {', '.join(self.values)}",
                pointer,
            ))


class List(Rule):
    type_name = "an array"

    def __init__(self, items, nullable=False):
        super().__init__(nullable)
        self.items = items

    def has_type(self, value):
        return isinstance(value, list)

    def check(self, value, pointer, errors):
        for index, item in enumerate(value):
            self.items.validate(item, f"{pointer}/{index}", errors)


class Obj(Rule):
    """An object whose keys are all known: any other key is refused (read-only ones too)."""

    type_name = "an object"

    def __init__(self, fields, required=(), nullable=False):
        super().__init__(nullable)
        self.fields, self.required = fields, required

    def has_type(self, value):
        return isinstance(value, dict)

    def check(self, value, pointer, errors):
        for key in self.required:
            if key not in value:
                errors.append(invalid(f"{pointer}/{key}", "is required"))
        for key, item in value.items():
            rule = self.fields.get(key)
            if rule is None:
                errors.append(error_object(
                    "10015", f"{_name(f'{pointer}/{key}')} is not a valid attribute",
                    f"{pointer}/{key}", title="Invalid attribute",
                ))
            else:
                rule.validate(item, f"{pointer}/{key}", errors)


def _uri_problem(value):
    parts = urlsplit(value)
    if not _SCHEME.match(parts.scheme or "") or not parts.netloc:
        return "must be a URI with a scheme, such as 'https://example.com'"
    return None


def _user_name_problem(value):
    if not any(char.isalpha() for char in value[:5]):
        return "must have a letter among its first 5 characters"
    return None


def _url(nullable=False):
    return Str(nullable=nullable, extra=_uri_problem)


JITTER_BUFFER = Obj({
    "enable_jitter_buffer": Bool(),
    "jitterbuffer_msec_max": Int(40, 400),
    "jitterbuffer_msec_min": Int(40, 400),
})

NOISE_SUPPRESSION_DETAILS = Obj({
    "attenuation_limit": Int(0, 100, multiple_of=10),
    "engine": Enum("denoiser", "deep_filter_net", "deep_filter_net_large", "krisp_viva_tel",
                   "krisp_viva_tel_lite", "krisp_viva_promodel", "krisp_viva_ss", "quail_voice_focus"),
})

RTCP_SETTINGS = Obj({
    "capture_enabled": Bool(),
    "port": Enum("rtcp-mux", "rtp+1"),
    "report_frequency_secs": Int(5, 3000),
})

EXTERNAL_UAC_SETTINGS = Obj({
    "auth_username": Str(nullable=True),
    "expiration_sec": Int(minimum=1, nullable=True),
    "from_user": Str(nullable=True),
    "outbound_proxy": Str(nullable=True),
    "password": Str(),
    "proxy": Str(),
    "transport": Enum("UDP", "TLS", "TCP", nullable=True),
    "user_agent": Str(nullable=True),
    "username": Str(4, 32, _EXTERNAL_USERNAME,
                    "must start with a letter or digit and contain only letters, digits, hyphens "
                    "and underscores"),
})

INTERNAL_UAC_SETTINGS = Obj({
    "destination_uri": Str(pattern=_DESTINATION_URI, hint=(
        "must look like userinfo@<subdomain.>sip.telnyx.com or userinfo@<subdomain.>sipdev.telnyx.com, "
        "without a sip: prefix, the userinfo made of letters, digits, hyphens and underscores")),
})

INBOUND = Obj({
    "ani_number_format": Enum("+E.164", "E.164", "+E.164-national", "E.164-national"),
    "channel_limit": Int(nullable=True),
    "codecs": List(Str()),
    "default_routing_method": Enum("sequential", "round-robin"),
    "dnis_number_format": Enum("+e164", "e164", "national", "sip_username"),
    "generate_ringback_tone": Bool(),
    "isup_headers_enabled": Bool(),
    "prack_enabled": Bool(),
    "shaken_stir_enabled": Bool(),
    "simultaneous_ringing": Enum("disabled", "enabled"),
    "sip_compact_headers_enabled": Bool(),
    "sip_region": Enum("US", "Europe", "Australia"),
    "timeout_1xx_secs": Int(1, 120),
    "timeout_2xx_secs": Int(1, 600),
})

OUTBOUND = Obj({
    "ani_override": Str(),
    "ani_override_type": Enum("always", "normal", "emergency"),
    "call_parking_enabled": Bool(nullable=True),
    "channel_limit": Int(nullable=True),
    "generate_ringback_tone": Bool(),
    "instant_ringback_enabled": Bool(),
    "localization": Str(),
    "outbound_voice_profile_id": Str(),
    "t38_reinvite_source": Enum("telnyx", "customer", "disabled", "passthru", "caller-passthru",
                                "callee-passthru"),
})

ANCHORSITES = ("Latency", "Chicago, IL", "Ashburn, VA", "San Jose, CA", "Sydney, Australia",
               "Amsterdam, Netherlands", "London, UK", "Toronto, Canada", "Vancouver, Canada",
               "Frankfurt, Germany")

_COMMON_FIELDS = {
    "active": Bool(),
    "anchorsite_override": Enum(*ANCHORSITES),
    "android_push_credential_id": Str(nullable=True),
    "call_cost_in_webhooks": Bool(),
    "connection_name": Str(min_len=1),
    "default_on_hold_comfort_noise_enabled": Bool(),
    "dtmf_type": Enum("RFC 2833", "Inband", "SIP INFO"),
    "encode_contact_header_enabled": Bool(),
    "encrypted_media": Enum("SRTP", nullable=True),
    "external_uac_settings": EXTERNAL_UAC_SETTINGS,
    "inbound": INBOUND,
    "internal_uac_settings": INTERNAL_UAC_SETTINGS,
    "ios_push_credential_id": Str(nullable=True),
    "jitter_buffer": JITTER_BUFFER,
    "noise_suppression": Enum("inbound", "outbound", "both", "disabled"),
    "noise_suppression_details": NOISE_SUPPRESSION_DETAILS,
    "onnet_t38_passthrough_enabled": Bool(),
    "outbound": OUTBOUND,
    "password": Str(8, 128),
    "rtcp_settings": RTCP_SETTINGS,
    "sip_uri_calling_preference": Enum("disabled", "unrestricted", "internal"),
    "tags": List(Str()),
    "user_name": Str(4, 32, _USER_NAME, "must be 4-32 letters and digits only", extra=_user_name_problem),
    # '' is the spec's default for "no failover URL": accepted and stored as null.
    "webhook_event_failover_url": Str(nullable=True, extra=lambda v: v and _uri_problem(v)),
    "webhook_event_url": _url(),
    "webhook_timeout_secs": Int(0, 30, nullable=True),
}

# The create schema alone admits 'texml' (and only with outbound.call_parking_enabled true).
CREATE_REQUEST = Obj(
    dict(_COMMON_FIELDS, webhook_api_version=Enum("1", "2", "texml")),
    required=("connection_name",),
)
UPDATE_REQUEST = Obj(dict(_COMMON_FIELDS, webhook_api_version=Enum("1", "2")))


def _cross_field_errors(body, merged):
    """Rules that tie two fields together, checked on the connection as it would be after the write."""
    errors = []
    if body.get("webhook_api_version") == "texml" and not (merged.get("outbound") or {}).get(
            "call_parking_enabled"):
        errors.append(invalid("/webhook_api_version",
                              "can be texml only when outbound.call_parking_enabled is true"))
    transport = (merged.get("external_uac_settings") or {}).get("transport")
    if merged.get("encrypted_media") == "SRTP" and transport == "TLS" and (
            "encrypted_media" in body or "external_uac_settings" in body):
        errors.append(invalid("/encrypted_media",
                              "cannot be SRTP when external_uac_settings.transport is TLS"))
    return errors


def check_body(body, rule):
    """Validate a parsed JSON body against CREATE_REQUEST or UPDATE_REQUEST; raise 422 on errors."""
    errors = []
    rule.validate(body, "", errors)
    if errors:
        raise ApiError(422, errors)


def check_merged(body, merged):
    """Validate the cross-field rules on the would-be connection; raise 422 on errors."""
    errors = _cross_field_errors(body, merged)
    if errors:
        raise ApiError(422, errors)
