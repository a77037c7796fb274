"""Unit tests of the module glue: the connection options, their environment fallbacks and transport warnings, and the
checks of the modules' own options."""
from __future__ import annotations

import pytest
import time

from ansible.module_utils.common.parameters import AnsibleFallbackNotFound, remove_values

from ansible_collections.telnyx.sip.plugins.module_utils._module import (
    NO_LOG_MASK,
    NO_LOG_PLACEHOLDER,
    Secrets,
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


# -- secrets inside options' data ----------------------------------------------------
def secrets(*values):
    found = Secrets()
    found.add(values)
    return found


def test_secrets_are_removed_as_ansible_removes_no_log_values():
    result = {
        "msg": "connections[0] (pbx-a): Pw-pbx-a-secret is not allowed; again Pw-pbx-a-secret",
        "same": "Pw-pbx-b-secret",
        "pin": 73914682,
        "lines": [{"name": "pbx-a", "proxy": "sip:u:Pw-pbx-b-secret@pbx.example.com", "ok": True, "n": None}],
        "tags": ("x", "Pw-pbx-a-secret"),
    }
    found = secrets("Pw-pbx-a-secret", "Pw-pbx-b-secret", "73914682", "")
    scrubbed = found.scrub(result)
    assert scrubbed == {
        "msg": "connections[0] (pbx-a): ******** is not allowed; again ********",
        "same": NO_LOG_PLACEHOLDER,
        "pin": NO_LOG_PLACEHOLDER,
        "lines": [{"name": "pbx-a", "proxy": "sip:u:********@pbx.example.com", "ok": True, "n": None}],
        "tags": ["x", NO_LOG_PLACEHOLDER],
    }
    # what Ansible's own remove_values gives for the same data and values (it keeps tuples as tuples)
    assert scrubbed == dict(remove_values(result, {"Pw-pbx-a-secret", "Pw-pbx-b-secret", "73914682"}),
                            tags=["x", NO_LOG_PLACEHOLDER])
    assert result["same"] == "Pw-pbx-b-secret", "the input is not changed"
    assert NO_LOG_MASK == "********"


def test_the_longest_secret_wins_where_secrets_overlap_and_short_ones_are_found_too():
    found = secrets("abcd", "abcdefgh", "xy")
    assert found.scrub("0abcdefgh1abcd2xy") == "0********1********2********"
    assert found.scrub("a") == "a" and found.scrub("") == ""


def test_without_secrets_the_result_is_the_same_object():
    result = {"a": ["b"]}
    assert Secrets().scrub(result) is result


def test_removing_ten_thousand_secrets_from_a_fleet_result_is_linear():
    """A password per item of 10,000: Ansible's remove_values would compare every string with every password."""
    passwords = ["bench-secret-%d-%d" % (host, trunk) for host in range(5000) for trunk in range(2)]
    lines = [{"connection_name": "pbx-%04d-t%d" % (host, trunk), "action": "unchanged", "id": str(10 ** 12 + host),
              "proxy": "pbx-%04d.example.net" % host, "username": "ext%d%04d" % (trunk, host),
              "destination_uri": "%d@assistant-3fa85f64.sip.telnyx.com" % (1000 + trunk)}
             for host in range(5000) for trunk in range(2)]
    result = {"results": lines, "by_name": dict((line["connection_name"], line) for line in lines),
              "error": "sent %s by mistake" % passwords[-1]}
    found = secrets(*passwords)
    started = time.process_time()
    scrubbed = found.scrub(result)
    elapsed = time.process_time() - started
    assert scrubbed["error"] == "sent ******** by mistake"
    assert scrubbed["results"][-1] == lines[-1]
    assert elapsed < 5, "%.1f s of CPU" % elapsed
