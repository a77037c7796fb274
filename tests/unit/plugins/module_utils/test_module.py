"""Unit tests of the module glue: the connection options, their environment fallbacks and transport warnings."""
from __future__ import annotations

import pytest
from ansible.module_utils.common.parameters import AnsibleFallbackNotFound

from ansible_collections.telnyx.sip.plugins.module_utils._module import (
    connection_argument_spec,
    env_fallback_nonempty,
    transport_warnings,
)


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
