"""Fixtures of the transport security tests: a recording proxy, a TLS emulator, proxy environments.

- ``recording_proxy``: a started ``RecordingProxy`` (tests/tools/recording_proxy.py) on 127.0.0.1, stopped
  after the test. ``seen()`` is every byte it relayed; ``connects`` and ``forwards`` what it was asked.
- ``proxied(proxy)``: the environment that sends a playbook's traffic to ``proxy`` (every proxy variable,
  both cases, NO_PROXY empty), for ``env=`` of a run.
- ``security_emulator``: an emulator over plain http on 127.0.0.1 accepting only ``API_KEY`` (no Prism:
  the proxy must see the client's own requests).
- ``tls_emulator``: the same over TLS with a certificate for ``API_HOST`` and 127.0.0.1 (``.cert`` is its
  path, which is also the test process's REQUESTS_CA_BUNDLE so that the test can read the emulator's log).
- ``runner``: a ``PlaybookRunner`` against ``security_emulator`` whose every run is checked: the API key
  is nowhere in stdout, stderr or the results. ``play(tasks, *args, **kwargs)`` is its ``tasks``.
- ``tls_play``: ``play`` against ``tls_emulator``.

The clients name ``API_HOST`` (``api.telnyx.test``, a reserved name that resolves nowhere) and reach it only
through the recording proxy, which connects every request to 127.0.0.1: nothing leaves the machine.
"""

import subprocess

import pytest

from tests.integration.harness import PlaybookRunner
from tests.tools.recording_proxy import RecordingProxy
from tests.integration.security.helpers import API_HOST, API_KEY, output_text


@pytest.fixture
def recording_proxy():
    with RecordingProxy(max_connections=16, timeout=20) as proxy:
        yield proxy
    assert not proxy.truncated and proxy.refused == 0, "the recording proxy dropped traffic: the test saw too little"


@pytest.fixture
def security_emulator(make_emulator):
    return make_emulator("--api-key", API_KEY, prism=False)


@pytest.fixture
def tls_emulator(make_emulator, tmp_path_factory, monkeypatch):
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-subj", "/CN=" + API_HOST, "-addext", "subjectAltName=DNS:%s,IP:127.0.0.1" % API_HOST,
                    "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True)
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(cert))  # for the test's own calls to the emulator
    handle = make_emulator("--api-key", API_KEY, "--tls-cert", str(cert), "--tls-key", str(key),
                           prism=False, fresh=True)
    assert handle.direct_url.startswith("https://127.0.0.1:")
    handle.cert = str(cert)
    return handle


class CheckedRunner(PlaybookRunner):
    """A PlaybookRunner whose every run is searched for the API key."""

    def __call__(self, *args, **kwargs):
        result = super().__call__(*args, **kwargs)
        assert API_KEY not in output_text(result), f"the API key leaked into the output of {result.playbook_path}"
        return result


@pytest.fixture
def runner(tmp_path, security_emulator):
    return CheckedRunner(tmp_path, security_emulator)


@pytest.fixture
def play(runner):
    return runner.tasks


@pytest.fixture
def tls_play(tmp_path, tls_emulator):
    """``play`` against ``tls_emulator``; the modules trust its certificate only through ``ca_path``."""
    folder = tmp_path / "tls-runs"
    folder.mkdir()
    runner = CheckedRunner(folder, tls_emulator)

    def run(tasks, *args, env=None, **kwargs):
        env = dict({"REQUESTS_CA_BUNDLE": "", "CURL_CA_BUNDLE": ""}, **(env or {}))
        return runner.tasks(tasks, *args, env=env, **kwargs)

    return run
