"""Unit tests of the module glue: the connection options, their environment fallbacks and transport warnings, and the
checks of the modules' own options."""
from __future__ import annotations

import pytest
from ansible.module_utils.common.parameters import AnsibleFallbackNotFound

from ansible_collections.telnyx.sip.plugins.module_utils._module import (
    check_connection,
    check_registration_options,
    connection_argument_spec,
    env_fallback_nonempty,
    registration_spec,
    transport_warnings,
)
from ansible_collections.telnyx.sip.plugins.module_utils._resource import ValidationError


# -- env fallback --------------------------------------------------------------
def test_env_fallback_nonempty(monkeypatch):
    monkeypatch.setenv("FIRST", "")
    monkeypatch.delenv("SECOND", raising=False)
    with pytest.raises(AnsibleFallbackNotFound):
        env_fallback_nonempty("FIRST", "SECOND")
    monkeypatch.setenv("SECOND", "key-2")
    assert env_fallback_nonempty("FIRST", "SECOND") == "key-2"
    monkeypatch.setenv("FIRST", "key-1")
    assert env_fallback_nonempty("FIRST", "SECOND") == "key-1"


def test_connection_spec_uses_the_nonempty_fallback():
    spec = connection_argument_spec()
    assert spec["api_key"]["no_log"] is True
    assert spec["api_key"]["fallback"] == (env_fallback_nonempty, ["TELNYX_API_KEY"])
    assert spec["api_url"]["fallback"] == (env_fallback_nonempty, ["TELNYX_BASE_URL"])
    assert spec["allow_insecure_http"] == dict(type="bool", default=False,
                                               fallback=(env_fallback_nonempty, ["TELNYX_ALLOW_INSECURE_HTTP"]))


# -- transport warnings ------------------------------------------------------------
@pytest.mark.parametrize("url, validate_certs, allow, expected", [
    ("https://api.telnyx.com/v2", True, False, []),
    (None, True, False, []),
    (None, False, False, ["validate_certs is false: the TLS certificate of api.telnyx.com is not checked"]),
    ("https://10.1.2.3:8443/v2", False, True, ["validate_certs is false: the TLS certificate of 10.1.2.3 is"]),
    ("http://127.0.0.1:8081/v2", False, True, []),  # no TLS to weaken, nothing leaves the machine
    ("http://emulator.ci/v2", True, True, ["allow_insecure_http is true: the API key travels in clear text to "
                                           "emulator.ci"]),
])
def test_transport_warnings(url, validate_certs, allow, expected):
    found = transport_warnings(url, validate_certs, allow)
    assert len(found) == len(expected)
    for warning, start in zip(found, expected):
        assert warning.startswith(start)
    if not validate_certs and found:
        assert "pose as the API, read the API key" in found[0] and "ca_path" in found[0]


# -- check_registration_options, check_connection -----------------------------------------------
def test_check_registration_options_accepts_the_defaults_and_absent_values():
    spec = registration_spec()
    assert check_registration_options(dict((k, v["default"]) for k, v in spec.items())) == []
    assert check_registration_options({}) == []
    assert check_registration_options(dict(registration_timeout=1, registration_poll_interval=0.01)) == []


def test_check_registration_options_reports_every_problem():
    assert check_registration_options(dict(registration_timeout=0, registration_poll_interval=-1)) == [
        "registration_timeout must be at least 1 second, got 0",
        "registration_poll_interval must be greater than 0, got -1",
    ]
    assert check_registration_options(dict(registration_poll_interval=0)) == [
        "registration_poll_interval must be greater than 0, got 0"]


CONNECTION = dict(id=None, connection_name="pbx", state="present", registration_timeout=600,
                  registration_poll_interval=10.0)


def test_check_connection_returns_the_desired_fields():
    assert check_connection(dict(CONNECTION, active=False, tags=None)) == dict(connection_name="pbx", active=False)


@pytest.mark.parametrize("params, message", [
    (dict(CONNECTION, id="1/2"), "id must be a Telnyx connection id (letters, digits and hyphens), got '1/2'"),
    (dict(CONNECTION, user_name="12"), "user_name must be at least 4 characters long, got 2"),
    (dict(CONNECTION, registration_timeout=0), "registration_timeout must be at least 1 second, got 0"),
])
def test_check_connection_refuses_bad_options(params, message):
    with pytest.raises(ValidationError) as caught:
        check_connection(params)
    assert str(caught.value) == message


def test_check_connection_does_not_check_the_fields_of_an_absent_connection():
    assert check_connection(dict(CONNECTION, state="absent", user_name="12")) == dict(connection_name="pbx",
                                                                                      user_name="12")
