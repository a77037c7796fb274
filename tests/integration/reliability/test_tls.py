"""validate_certs is on by default: an emulator over TLS with a self-signed certificate is refused with a
message about the certificate, and accepted with validate_certs: false or with ca_path."""

import subprocess

import pytest

from tests.integration.reliability.helpers import LeakChecked, PlaybookRunner

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def self_signed(folder):
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True)
    return str(cert), str(key)


def test_self_signed_tls_is_refused_by_default_and_accepted_with_ca_path_or_validate_certs_false(
        faulty_with, tmp_path, monkeypatch, record):
    cert, key = self_signed(tmp_path)
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", cert)  # for the test's own calls to the emulator
    faulty = faulty_with("--tls-cert", cert, "--tls-key", key, fresh=True)
    assert faulty.direct_url.startswith("https://")
    playbook = LeakChecked(PlaybookRunner(tmp_path, faulty.handle))
    base = {"connection_name": "rel-tls", "external_uac_settings": {"proxy": "pbx.example.net"}}
    run = playbook.tasks([
        {"name": "default", "telnyx.sip.uac_connection": base, "register": "default", "ignore_errors": True},
        {"name": "no validation", "telnyx.sip.uac_connection": dict(base, validate_certs=False), "register": "off"},
        {"name": "ca_path", "telnyx.sip.uac_connection": dict(base, ca_path=cert), "register": "ca"},
    ], env={"REQUESTS_CA_BUNDLE": "", "CURL_CA_BUNDLE": ""})  # the modules must not trust it from the environment
    refused = run.task("default")
    assert refused.get("failed") is True
    assert "TLS certificate check failed" in refused["msg"] and "ca_path" in refused["msg"], refused["msg"]
    assert "Traceback" not in repr(refused)
    assert run.task("no validation")["action"] == "created"
    assert run.task("ca_path")["action"] == "unchanged"
    record(fault="self-signed TLS certificate", option="--tls-cert/--tls-key", injected=1, runs=1,
           outcome="refused by default with a certificate message; works with validate_certs: false and ca_path")
