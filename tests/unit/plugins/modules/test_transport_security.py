"""Unit tests of the transport rules every module applies before its first request: plain http off this
machine is refused (option, environment, opt-in) and a weakened transport warns on every run."""
from __future__ import annotations

import pytest

from ansible.module_utils import basic

from ansible_collections.telnyx.sip.plugins.modules import uac_connection, uac_connection_info, uac_connections

MODULE = uac_connection_info  # what the run fixture drives
EVERY_MODULE = [(uac_connection, dict(connection_name="pbx-hq")), (uac_connection_info, {}),
                (uac_connections, dict(connections=[dict(connection_name="pbx-hq")]))]


@pytest.fixture
def warnings(monkeypatch):
    """The warnings the module run gave with ``module.warn``, in order."""
    given = []
    monkeypatch.setattr(basic.AnsibleModule, "warn", lambda self, warning: given.append(warning))
    return given


@pytest.mark.parametrize("module, args", EVERY_MODULE)
def test_every_module_refuses_plain_http_off_this_machine_before_any_request(run_module, transport, api_key,
                                                                             module, args):
    result, failed = run_module(module, dict(args, api_url="http://api.telnyx.com/v2"))
    assert failed and transport.calls == []
    assert result["msg"].startswith("api_url (the option, or TELNYX_BASE_URL) is plain http to api.telnyx.com, "
                                    "which is not this machine: the API key would travel in clear text.")
    assert "allow_insecure_http: true (or TELNYX_ALLOW_INSECURE_HTTP=true)" in result["msg"]
    assert api_key not in repr(result)


def test_the_url_from_telnyx_base_url_is_refused_too(run, transport, monkeypatch):
    monkeypatch.setenv("TELNYX_BASE_URL", "http://api.telnyx.com/v2")
    result, failed = run(dict(api_key="k"), connection=False)
    assert failed and "TELNYX_BASE_URL" in result["msg"] and "clear text" in result["msg"]
    assert transport.calls == []


def test_the_refusal_comes_with_the_other_bad_options(run, transport):
    result, failed = run(dict(api_url="http://api.telnyx.com/v2", timeout=0))
    assert failed and result["msg"].startswith("timeout must be greater than 0, got 0.0; api_url (the option")
    assert transport.calls == []


@pytest.mark.parametrize("opt_in", [dict(allow_insecure_http=True), "env"])
def test_the_opt_in_lets_plain_http_through_and_warns(run, api, transport, warnings, monkeypatch, opt_in):
    args = dict(api_url="http://emulator.ci:4010/v2")
    if opt_in == "env":
        monkeypatch.setenv("TELNYX_ALLOW_INSECURE_HTTP", "true")
    else:
        args.update(opt_in)
    result, failed = run(args)
    assert not failed and transport.calls[0].url.startswith("http://emulator.ci:4010/v2/uac_connections")
    assert len(warnings) == 1 and warnings[0].startswith("allow_insecure_http is true: the API key travels in "
                                                         "clear text to emulator.ci")


def test_an_empty_or_false_opt_in_from_the_environment_does_not_open_plain_http(run, transport, monkeypatch):
    for value in ("", "false"):
        monkeypatch.setenv("TELNYX_ALLOW_INSECURE_HTTP", value)
        result, failed = run(dict(api_url="http://emulator.ci:4010/v2"))
        assert failed and "clear text" in result["msg"]
    assert transport.calls == []


def test_loopback_http_runs_without_a_warning(run, api, transport, warnings):
    result, failed = run(dict(api_url="http://127.0.0.1:8081/v2", validate_certs=False))
    assert not failed and transport.calls and warnings == []


@pytest.mark.parametrize("check_mode", [False, True])
def test_validate_certs_false_warns_on_every_run_and_names_ca_path(run, api, transport, warnings, check_mode):
    for _run in range(2):
        result, failed = run(dict(validate_certs=False), check_mode=check_mode)
        assert not failed
    assert len(warnings) == 2 and warnings[0] == warnings[1]
    assert warnings[0].startswith("validate_certs is false: the TLS certificate of api.test is not checked")
    assert "read the API key" in warnings[0] and "ca_path" in warnings[0]
    assert transport.calls[0].verify is False


def test_validate_certs_true_is_silent(run, api, warnings):
    result, failed = run({})
    assert not failed and warnings == []
