"""The emulator's injected faults (tests/emulator/faults.py) and --state (persistence.py)."""

import json
import subprocess
import sys
import time

import pytest
import requests

from tests.emulator import EmulatorConfig, create_app
from tests.emulator.__main__ import parse_args
from tests.emulator.faults import FaultSettings, settings_from_args

AUTH = {"Authorization": "Bearer k"}
URL = "/v2/uac_connections"


def app_with(**settings):
    return create_app(EmulatorConfig(seed=5, faults=FaultSettings(**settings)))


def emulator(app):
    return app.extensions["telnyx_emulator"]


def post(client, name="pbx-1"):
    return client.post(URL, json={"connection_name": name}, headers=AUTH)


@pytest.mark.parametrize("settings, status, fault", [
    (dict(error_burst=1), 500, "error_burst"),
    (dict(rate_limit_storm=1), 429, "rate_limit_storm"),
    (dict(rate_429=1.0), 429, "rate_429"),
    (dict(fail_rate=1.0), None, "fail_rate"),
    (dict(reset_rate=1.0), 0, "reset"),
    (dict(html_error_rate=1.0), 502, "html_error"),
    (dict(broken_json_rate=1.0), 200, "broken_json"),
    (dict(revoked_keys=("k",)), 403, "revoked_key"),
    (dict(redirect_to="http://other.example"), 307, "redirect"),
])
def test_each_fault_answers_before_acting_and_is_logged(settings, status, fault):
    app = app_with(**settings)
    response = post(app.test_client())
    entry = emulator(app).logged()[-1]
    assert entry["fault"] == fault and entry["time"] > 0
    assert entry["status"] == (status if status is not None else response.status_code)
    assert emulator(app).store.all() == []  # refused before acting: nothing stored
    if fault == "html_error":
        assert response.content_type.startswith("text/html") and b"Bad Gateway" in response.data
    if fault == "broken_json":
        with pytest.raises(ValueError):
            json.loads(response.data)
    if fault == "redirect":
        assert response.headers["Location"] == "http://other.example" + URL
    if fault == "revoked_key":
        assert response.get_json()["errors"][0]["code"] == "10010"


def test_a_dropped_answer_acts_then_logs_status_0():
    app = app_with(drop_response_rate=1.0)
    post(app.test_client())
    assert len(emulator(app).store.all()) == 1
    assert emulator(app).logged()[-1]["status"] == 0 and emulator(app).logged()[-1]["fault"] == "drop_response"


def test_burst_cycles_5xx_and_rearms_on_reset():
    app = app_with(error_burst=5)
    client = app.test_client()
    assert [post(client).status_code for _attempt in range(6)] == [500, 502, 503, 504, 500, 201]
    client.post("/_emulator/reset")
    assert post(client).status_code == 500


def test_429_retry_after_on_or_off_and_ratelimit_reset_always():
    on = post(app_with(rate_limit_storm=1, retry_after=3).test_client())
    off = post(app_with(rate_limit_storm=1, retry_after=None).test_client())
    assert on.headers["Retry-After"] == "3" and "Retry-After" not in off.headers
    assert off.headers["x-ratelimit-reset"]


def test_conflict_only_on_patch_and_vanish_before_delete():
    app = app_with(conflict_rate=1.0, vanish_before_delete=True)
    client = app.test_client()
    created = post(client).get_json()["data"]
    assert client.patch(URL + "/" + created["id"], json={"active": False}, headers=AUTH).status_code == 409
    assert client.delete(URL + "/" + created["id"], headers=AUTH).status_code == 404
    assert emulator(app).store.all() == []


def test_methods_limit_the_faults_and_hooks_are_exempt():
    app = app_with(fail_rate=1.0, methods=("POST",))
    client = app.test_client()
    assert client.get(URL, headers=AUTH).status_code == 200
    assert post(client).status_code in (500, 503)
    assert client.get("/_emulator/health").status_code == 200


def test_the_faults_hook_changes_settings_and_refuses_unknown_names():
    client = app_with().test_client()
    assert client.post("/_emulator/faults", json={"error_burst": 1}).get_json()["data"]["error_burst"] == 1
    assert post(client).status_code == 500
    refused = client.post("/_emulator/faults", json={"nope": 1})
    assert refused.status_code == 400 and "nope" in refused.get_json()["errors"][0]["detail"]


def test_share_faults_are_reproducible_with_a_seed():
    def run():
        client = app_with(fail_rate=0.5).test_client()
        return [post(client, "n%d" % i).status_code for i in range(30)]
    assert run() == run() and len(set(run())) > 1


def test_command_line_options():
    args = parse_args(["--error-burst", "3", "--429-rate", "0.1", "--no-retry-after", "--revoked-key", "a",
                       "--fault-methods", "post,patch", "--fail-rate", "0.2", "--state", "s.json"])
    settings = settings_from_args(args)
    assert (settings.error_burst, settings.rate_429, settings.retry_after, settings.revoked_keys,
            settings.methods, settings.fail_rate, args.state) == (
        3, 0.1, None, ("a",), ("POST", "PATCH"), 0.2, "s.json")
    with pytest.raises(SystemExit):
        parse_args(["--tls-cert", "c.pem"])


def test_state_file_survives_a_restart(tmp_path):
    state = str(tmp_path / "state.json")
    first = create_app(EmulatorConfig(seed=1, state_file=state))
    created = post(first.test_client()).get_json()["data"]
    second = create_app(EmulatorConfig(seed=1, state_file=state))
    client = second.test_client()
    assert client.get(URL + "/" + created["id"], headers=AUTH).status_code == 200
    assert post(client, "pbx-2").get_json()["data"]["id"] != created["id"]  # ids are not handed out twice
    assert len(json.loads((tmp_path / "state.json").read_text())["connections"]) == 2


def test_reset_and_drop_close_the_socket_without_an_answer():
    process = subprocess.Popen([sys.executable, "-m", "tests.emulator", "--port", "0", "--reset-rate", "1",
                                "--fault-methods", "GET"], stdout=subprocess.PIPE, text=True)
    try:
        base = process.stdout.readline().split(" on ", 1)[1].strip()
        with pytest.raises(requests.exceptions.ConnectionError):
            requests.get(base + URL, headers=AUTH, timeout=5)
        requests.post(base + "/_emulator/faults", json={"reset_rate": 0, "drop_response_rate": 1}, timeout=5)
        with pytest.raises(requests.exceptions.ConnectionError):
            requests.get(base + URL, headers=AUTH, timeout=5)
        time.sleep(0.2)
        log = requests.get(base + "/_emulator/requests", timeout=5).json()["data"]
        assert [(e["status"], e["fault"]) for e in log] == [(0, "reset"), (0, "drop_response")]
    finally:
        process.terminate()
        process.wait(10)
