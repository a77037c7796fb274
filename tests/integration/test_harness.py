"""Proves the integration harness: the emulator behind Prism, hooks, and ansible-playbook runs.

Uses only ansible.builtin.uri, so it runs before (and independently of) the collection's modules.
"""

import pytest

pytestmark = pytest.mark.integration

AUTH_HEADER = {"Authorization": "Bearer {{ lookup('env', 'TELNYX_API_KEY') }}"}
API = "{{ lookup('env', 'TELNYX_BASE_URL') }}"


def uri(name, path, method="GET", status=200, body=None, register=None):
    task = {"name": name, "ansible.builtin.uri": {
        "url": API + path, "method": method, "headers": AUTH_HEADER, "status_code": status}}
    if body is not None:
        task["ansible.builtin.uri"].update(body_format="json", body=body)
    if register:
        task["register"] = register
    return task


def test_playbook_creates_and_lists_through_the_contract_check(emulator, run_playbook):
    result = run_playbook.tasks([
        uri("create", "/uac_connections", "POST", 201, {
            "connection_name": "harness-check",
            "external_uac_settings": {"username": "ext1001", "password": "pbx-secret-1", "proxy": "pbx.example"},
            "internal_uac_settings": {"destination_uri": "1001@acme.sip.telnyx.com"},
        }, register="created"),
        uri("list", "/uac_connections?filter[connection_name][contains]=harness&sort=connection_name"),
        uri("get", "/uac_connections/{{ created.json.data.id }}"),
    ])
    assert result.rc == 0, result.stdout + result.stderr
    created = result.task("create")["json"]["data"]
    assert created["connection_name"] == "harness-check"
    assert created["external_uac_settings"]["password"] == "pbx-secret-1"
    listed = result.task("list")["json"]
    assert [item["id"] for item in listed["data"]] == [created["id"]]
    assert listed["meta"]["total_results"] == 1
    assert result.task("get")["json"]["data"]["external_uac_settings"]["password"] == "********"
    assert result.stats["localhost"]["failures"] == 0

    log = emulator.requests()
    assert [(entry["method"], entry["path"], entry["status"]) for entry in log] == [
        ("POST", "/v2/uac_connections", 201),
        ("GET", "/v2/uac_connections", 200),
        ("GET", f"/v2/uac_connections/{created['id']}", 200),
    ]
    assert log[1]["query"] == {"filter[connection_name][contains]": "harness", "sort": "connection_name"}
    assert [entry["method"] for entry in emulator.writes()] == ["POST"]


def test_contract_check_is_on_when_spec_and_prism_are_found(emulator, contract):
    if contract is None:
        pytest.skip("contract check off (see the terminal summary for why)")
    assert emulator.via_prism and not emulator.api_url.endswith("/v2")
    # Prism refuses a request that breaks the contract before it reaches the emulator.
    refused = emulator.call("POST", "/uac_connections", {"connection_name": 42})
    assert refused.status_code == 422
    assert emulator.requests() == []


def test_each_test_starts_with_a_clean_emulator(emulator):
    assert emulator.requests() == []
    assert emulator.call("GET", "/uac_connections").json()["meta"]["total_results"] == 0


def test_failed_task_results_are_reported(emulator, run_playbook):
    result = run_playbook.tasks([uri("missing", "/uac_connections/1234567890123456789")])
    assert result.rc != 0
    failed = result.task("missing")
    assert failed["failed"] is True and failed["status"] == 404
    assert failed["json"]["errors"][0]["code"] == "10005"
    assert emulator.requests()[0]["status"] == 404


def test_make_emulator_starts_other_options(make_emulator, run_playbook):
    locked = make_emulator("--api-key", "only-this-key", "--plaintext-passwords")
    assert locked.api_key == "only-this-key"
    assert locked.call("GET", "/uac_connections", headers={"Authorization": "Bearer wrong"}).status_code == 401
    created = locked.call("POST", "/uac_connections", {"connection_name": "clear", "password": "clear-secret"})
    assert created.status_code == 201
    got = locked.call("GET", f"/uac_connections/{created.json()['data']['id']}")
    assert got.json()["data"]["password"] == "clear-secret"
    assert [entry["status"] for entry in locked.requests()] == [401, 201, 200]
    # The playbook runner can aim at another emulator through the environment.
    result = run_playbook.tasks([uri("list", "/uac_connections")], base_url=locked.api_url, api_key=locked.api_key)
    assert result.rc == 0 and result.task("list")["json"]["meta"]["total_results"] == 1


def test_emulator_stops_cleanly_on_sigterm(make_emulator):
    handle = make_emulator(prism=False, fresh=True)
    assert handle.call("GET", "/uac_connections").status_code == 200
    assert handle.stop() == 0
