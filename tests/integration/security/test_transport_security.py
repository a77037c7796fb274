"""The API key never travels in clear text, and weakened TLS is never silent (docs/security.md).

Every test runs real ansible-playbook against the emulator on 127.0.0.1, with every proxy variable
pointing at a recording proxy on 127.0.0.1 that connects whatever host is named to 127.0.0.1: what the
proxy records is what a proxy (or anyone on the path) would have seen of the key.
"""

import pytest
import yaml

from tests.integration.security.helpers import API_HOST, API_KEY, output_text, proxied

pytestmark = [pytest.mark.integration, pytest.mark.slow]

CLEAR_TEXT = "the API key would travel in clear text"
OPT_IN = "allow_insecure_http: true (or TELNYX_ALLOW_INSECURE_HTTP=true)"
CERT_WARNING = "validate_certs is false: the TLS certificate of"
HTTP_WARNING = "allow_insecure_http is true: the API key travels in clear text to " + API_HOST


def every_module(**options):
    """One task of each module (the writes are idempotent, so a play can repeat them), each registered."""
    conn = dict(connection_name="sec-hq",
                external_uac_settings={"proxy": "pbx.example.net", "password": "sec-PBX-pw-91d2"})
    return [
        {"name": "create", "telnyx.sip.uac_connection": dict(options, **conn), "register": "made",
         "ignore_errors": True},
        {"name": "read", "telnyx.sip.uac_connection_info": dict(options, connection_name="sec-hq"),
         "register": "read", "ignore_errors": True},
        {"name": "fleet", "telnyx.sip.uac_connections": dict(options, connections=[conn]),
         "register": "fleet", "ignore_errors": True},
    ]


def plain_url(emulator):
    """A plain-http URL to a host that is not loopback, which the proxy would carry to ``emulator``."""
    return "http://%s:%s/v2" % (API_HOST, emulator.direct_url.rsplit(":", 1)[1])


def test_plain_http_off_this_machine_is_refused_before_any_request(play, security_emulator, recording_proxy):
    url = plain_url(security_emulator)
    by_option = play(every_module(api_url=url), env=proxied(recording_proxy))
    by_env = play(every_module(), base_url=url, env=proxied(recording_proxy))
    for run in (by_option, by_env):
        for name in ("create", "read", "fleet"):
            result = run.task(name)
            assert result.get("failed") is True, result
            assert result["msg"].startswith("api_url (the option, or TELNYX_BASE_URL) is plain http to " + API_HOST)
            assert CLEAR_TEXT in result["msg"] and OPT_IN in result["msg"] and "Use https://" in result["msg"]
    assert recording_proxy.seen() == b"" and security_emulator.requests() == []


def test_the_opt_in_carries_plain_http_warns_and_the_proxy_sees_the_key(play, security_emulator, recording_proxy):
    # The positive control of the proxy's recording: in clear text, the key is there to read.
    url = plain_url(security_emulator)
    by_option = play(every_module(api_url=url, allow_insecure_http=True), env=proxied(recording_proxy))
    by_env = play(every_module(), base_url=url, env=dict(proxied(recording_proxy), TELNYX_ALLOW_INSECURE_HTTP="true"))
    for run in (by_option, by_env):
        assert [run.task(name).get("failed") for name in ("create", "read", "fleet")] == [None] * 3, run.task("fleet")
        assert output_text(run).count("[WARNING]: " + HTTP_WARNING) >= 1, run.stdout + run.stderr
    assert by_option.task("create")["action"] == "created" and by_env.task("create")["action"] == "unchanged"
    assert ("Authorization: Bearer " + API_KEY).encode() in recording_proxy.seen()
    assert recording_proxy.connects == [] and recording_proxy.forwards
    assert all(line.split()[1].startswith("http://" + API_HOST) for line in recording_proxy.forwards)
    assert len(security_emulator.requests()) >= 6


def test_loopback_http_is_reached_directly_never_through_a_proxy(play, security_emulator, recording_proxy):
    run = play(every_module(), env=proxied(recording_proxy))  # TELNYX_BASE_URL: http://127.0.0.1:PORT/v2
    assert security_emulator.api_url.startswith("http://127.0.0.1:")
    assert [run.task(name).get("failed") for name in ("create", "read", "fleet")] == [None] * 3
    assert run.task("create")["action"] == "created"
    assert "[WARNING]" not in output_text(run)
    assert recording_proxy.seen() == b"" and len(security_emulator.requests()) >= 3


def test_https_through_a_connect_proxy_keeps_the_key_inside_tls(tls_play, tls_emulator, recording_proxy):
    port = tls_emulator.direct_url.rsplit(":", 1)[1]
    url = "https://%s:%s/v2" % (API_HOST, port)
    run = tls_play(every_module(ca_path=tls_emulator.cert), base_url=url, env=proxied(recording_proxy))
    assert [run.task(name).get("failed") for name in ("create", "read", "fleet")] == [None] * 3, output_text(run)
    assert run.task("create")["action"] == "created" and run.task("fleet")["results"][0]["action"] == "unchanged"
    assert "[WARNING]" not in output_text(run)
    logged = tls_emulator.requests()
    assert len(logged) >= 3 and {entry["method"] for entry in logged} >= {"GET", "POST"}
    # every request crossed the proxy, as a CONNECT tunnel to the name the client was given
    assert recording_proxy.connects and set(recording_proxy.connects) == {"%s:%s" % (API_HOST, port)}
    assert recording_proxy.forwards == []
    seen = recording_proxy.seen()
    assert len(seen) > 4096 and API_HOST.encode() in seen  # the tunnels' bytes (the name is in the TLS hello)
    for secret in (API_KEY, "Bearer", "sec-PBX-pw-91d2", "/v2/uac_connections", "sec-hq"):
        assert secret.encode() not in seen, "%r crossed the proxy in clear text" % secret


def test_validate_certs_false_works_and_warns_on_every_run(tls_play, tls_emulator):
    url = tls_emulator.direct_url + "/v2"
    runs = [tls_play(every_module(validate_certs=False), base_url=url) for _run in range(2)]
    for run in runs:
        assert [run.task(name).get("failed") for name in ("create", "read", "fleet")] == [None] * 3, run.task("fleet")
        text = output_text(run)
        assert "[WARNING]: %s 127.0.0.1 is not checked" % CERT_WARNING in text, run.stdout + run.stderr
        assert "read the API key" in text and "Trust the endpoint's CA with ca_path instead" in text
    assert runs[0].task("create")["action"] == "created" and runs[1].task("create")["action"] == "unchanged"
    # the same endpoint with ca_path: verified, and nothing to warn about
    trusted = tls_play(every_module(ca_path=tls_emulator.cert), base_url=url)
    assert trusted.task("read").get("failed") is None and "[WARNING]" not in output_text(trusted)


def test_the_sip_attach_role_refuses_plain_http_and_takes_its_opt_in(runner, security_emulator, recording_proxy,
                                                                     tmp_path):
    inventory = tmp_path / "hosts.yml"
    inventory.write_text(yaml.safe_dump({"pbx": {"hosts": {"pbx001": {"sip_attach_trunks": [
        {"name": "t0", "destination_uri": "1000@cc-app-1.sip.telnyx.com", "proxy": "pbx.example.net",
         "username": "u1000", "password": "sec-PBX-pw-91d2"}]}}}}))

    def role(**role_vars):
        role_vars["sip_attach_api_url"] = plain_url(security_emulator)
        play_ = {"name": "sip attach", "hosts": "pbx", "gather_facts": False,
                 "roles": [{"role": "telnyx.sip.sip_attach", "vars": role_vars}]}
        return runner(play_, "-i", str(inventory), env=proxied(recording_proxy))

    refused = role()
    assert refused.rc != 0 and recording_proxy.seen() == b"" and security_emulator.requests() == []
    text = output_text(refused)
    assert "is plain http to " + API_HOST in text and CLEAR_TEXT in text and OPT_IN in text, text
    allowed = role(sip_attach_allow_insecure_http=True)
    assert allowed.rc == 0, allowed.stdout + allowed.stderr
    assert "[WARNING]: " + HTTP_WARNING in output_text(allowed)
    assert [entry["method"] for entry in security_emulator.writes()] == ["POST"]
    assert recording_proxy.forwards
