"""Registration against a real PBX: the emulator REGISTERs to Kamailio on 127.0.0.1, the modules wait for it.

Every test starts its own Kamailio (tests/tools/kamailio_pbx.py) and uses an emulator that registers
0.2 s after a change (``sip_emulator``), through Prism when the contract check is on, so the
registration-status answers are checked against the contract too.
"""

import re
from pathlib import Path

import pytest
import yaml

from tests.integration.sip.helpers import USERS

pytestmark = [pytest.mark.integration]

ROOT = Path(__file__).resolve().parents[3]
CONNECTION = "telnyx.sip.uac_connection"
FLEET = "telnyx.sip.uac_connections"
INFO = "telnyx.sip.uac_connection_info"
WAIT = {"wait_for_registration": True, "registration_timeout": 20, "registration_poll_interval": 0.3}


def trunk(name, pbx, username, password=None, **external):
    settings = {"proxy": pbx.proxy, "username": username, "password": password or USERS.get(username, "x-unknown"),
                "transport": "UDP"}
    settings.update(external)
    return {"connection_name": name, "external_uac_settings": settings}


def step(name, module, params, **keywords):
    return dict({"name": name, module: params, "register": name.replace(" ", "_")}, **keywords)


def status_of(emulator, connection_id):
    response = emulator.call("GET", "/sip_registration_status",
                             params={"credential_type": "uac_external_credential", "connection_id": connection_id})
    assert response.status_code == 200, response.text
    return response.json()


@pytest.mark.parametrize("transport", ["UDP", "TCP"])
def test_right_credentials_register_and_the_pbx_has_the_contact(kamailio, sip_emulator, run_sip_playbook, transport):
    params = dict(trunk("pbx-101", kamailio, "ext101", transport=transport, user_agent="Acme-UAC/2.1",
                        expiration_sec=120), **WAIT)
    result = run_sip_playbook.tasks([
        step("attach", CONNECTION, params),
        step("read", INFO, {"connection_name": "pbx-101", "registration": True}),
    ])
    assert result.rc == 0, result.stdout + result.stderr
    attached = result.task("attach")["uac_connection"]
    assert attached["registration_status"] == "Registered"
    assert attached["registration"]["sip_registration_status"] == "registered"
    assert attached["registration"]["last_registration_response"] == "200 OK"
    details = attached["registration"]["sip_registration_details"]
    assert details["sip_uri_user_host"] == "ext101@127.0.0.1" and details["auth_retries"] == 1
    read = result.task("read")["uac_connections"][0]
    assert read["registration"]["registered"] is True
    contacts = kamailio.contacts("ext101")
    assert len(contacts) == 1, kamailio.locations()
    contact = contacts[0]
    assert contact["User-Agent"] == "Acme-UAC/2.1" and 60 <= contact["Expires"] <= 120
    assert contact["Socket"] == f"{transport.lower()}:127.0.0.1:{kamailio.port}"
    assert ("transport=tcp" in contact["Address"]) == (transport == "TCP")


def test_wrong_password_and_disabled_extension_fail_with_the_pbx_answer(kamailio, sip_emulator, run_sip_playbook):
    result = run_sip_playbook.tasks([
        step("wrong password", CONNECTION, dict(trunk("pbx-102", kamailio, "ext102", "not-the-password"), **WAIT),
             ignore_errors=True),
        step("disabled", CONNECTION, dict(trunk("pbx-199", kamailio, "ext199", "whatever-pw"), **WAIT),
             ignore_errors=True),
    ])
    wrong = result.task("wrong password")
    assert wrong.get("failed") is True
    assert wrong["msg"].startswith("pbx-102 failed to register (status failed, PBX's last answer: 401 Unauthorized)")
    assert "refused the credentials" in wrong["msg"]
    assert wrong["uac_connection"]["registration"]["last_registration_response"] == "401 Unauthorized"
    assert wrong["uac_connection"]["registration_status"] == "Failed"
    disabled = result.task("disabled")
    assert "PBX's last answer: 403 Forbidden" in disabled["msg"] and "forbade" in disabled["msg"]
    assert kamailio.locations() == {}
    status = status_of(sip_emulator, wrong["uac_connection"]["id"])
    assert status["registered"] is False and status["sip_registration_details"]["failures"] >= 1


def test_nothing_listening_times_out(make_kamailio, sip_emulator, run_sip_playbook):
    from tests.tools.kamailio_pbx import free_port
    port = free_port()  # nothing answers there
    params = {"connection_name": "pbx-silent", "wait_for_registration": True, "registration_timeout": 3,
              "registration_poll_interval": 0.3,
              "external_uac_settings": {"proxy": f"127.0.0.1:{port}", "username": "ext101", "password": "pw-101x",
                                        "transport": "UDP"}}
    result = run_sip_playbook.tasks([step("attach", CONNECTION, params, ignore_errors=True)])
    attached = result.task("attach")
    assert attached.get("failed") is True
    assert re.match(r"pbx-silent did not register within 3 s \(status failed, PBX's last answer: 408 Request Timeout\)"
                    r": the PBX did not answer", attached["msg"]), attached["msg"]
    assert attached["uac_connection"]["registration"]["registered"] is False


def test_password_rotated_on_both_sides_registers_again(kamailio, sip_emulator, run_sip_playbook):
    first = run_sip_playbook.tasks([step("attach", CONNECTION, dict(trunk("pbx-103", kamailio, "ext103"), **WAIT))])
    assert first.rc == 0, first.stdout
    call_id = kamailio.contacts("ext103")[0]["Call-ID"]
    kamailio.set_password("ext103", "Rotated-103-pbx")  # the PBX side first, as an admin would
    rotated = dict(trunk("pbx-103", kamailio, "ext103", "Rotated-103-pbx"), update_password="always", **WAIT)
    second = run_sip_playbook.tasks([step("rotate", CONNECTION, rotated)])
    assert second.rc == 0, second.stdout
    assert second.task("rotate")["changed"] is True
    assert second.task("rotate")["uac_connection"]["registration_status"] == "Registered"
    assert any(contact["Call-ID"] != call_id for contact in kamailio.contacts("ext103"))


def test_deactivating_or_deleting_unregisters_at_the_pbx(kamailio, sip_emulator, run_sip_playbook):
    tcp, udp = trunk("pbx-104", kamailio, "ext104", transport="TCP"), trunk("pbx-105", kamailio, "ext105")
    first = run_sip_playbook.tasks([step("attach", FLEET, dict(connections=[tcp, udp], **WAIT))])
    assert first.rc == 0, first.stdout
    assert kamailio.contacts("ext104") and kamailio.contacts("ext105")
    second = run_sip_playbook.tasks([
        step("deactivate", CONNECTION, dict(tcp, active=False)),
        step("delete", CONNECTION, {"connection_name": "pbx-105", "state": "absent"}),
    ])
    assert second.rc == 0, second.stdout
    assert kamailio.wait_for(lambda pbx: not pbx.locations(), timeout=5), kamailio.locations()
    conn_id = second.task("deactivate")["uac_connection"]["id"]
    status = status_of(sip_emulator, conn_id)
    assert (status["registered"], status["sip_registration_status"]) == (False, "connection_disabled")
    got = sip_emulator.call("GET", f"/uac_connections/{conn_id}").json()["data"]
    assert got["registration_status"] == "Unregistered"


def fleet_trunks(pbx, count=20, wrong=(4, 13)):
    users = {"trunk%02d" % index: "Trunk-%02d-secret" % index for index in range(count)}
    for name, password in users.items():
        pbx.set_password(name, password)
    trunks = []
    for index, (name, password) in enumerate(users.items()):
        trunks.append({"connection_name": "fleet-" + name, "external_uac_settings": {
            "proxy": pbx.proxy, "username": name, "transport": "TCP" if index % 2 else "UDP",
            "password": "wrong-password-%d" % index if index in wrong else password}})
    return trunks


def test_twenty_trunks_on_one_pbx_two_with_a_wrong_password(kamailio, sip_emulator, run_sip_playbook):
    trunks = fleet_trunks(kamailio)
    result = run_sip_playbook.tasks([step("fleet", FLEET, dict(connections=trunks, **WAIT), ignore_errors=True)])
    fleet = result.task("fleet")
    assert fleet.get("failed") is True
    statuses = [line["registration_status"] for line in fleet["results"]]
    assert statuses.count("Registered") == 18, statuses
    assert sorted(item["connection_name"] for item in fleet["not_registered"]) == ["fleet-trunk04", "fleet-trunk13"]
    assert all("401 Unauthorized" in item["error"] for item in fleet["not_registered"])
    assert "fleet-trunk04" in fleet["msg"] and "fleet-trunk13" in fleet["msg"]
    assert len(kamailio.locations()) == 18


def test_role_over_twenty_trunks_reports_eighteen_registered(kamailio, sip_emulator, run_sip_playbook, tmp_path):
    trunks = []
    for item in fleet_trunks(kamailio):
        external = item["external_uac_settings"]
        trunks.append(dict(external, name=item["connection_name"], connection_name=item["connection_name"],
                           extension=external["username"][-2:] + "00",
                           application="assistant-3fa85f64-5717-4562-b3fc-2c963f66afa6"))
    # The role reads trunks from inventory variables, as a real fleet keeps them.
    inventory = tmp_path / "inventory.yml"
    inventory.write_text(yaml.safe_dump({"pbx": {"hosts": {"pbx-kamailio": {
        "ansible_connection": "local", "sip_attach_trunks": trunks}}}}))
    reports = tmp_path / "reports"
    play = {"name": "attach", "hosts": "pbx", "gather_facts": False,
            "vars": {"sip_attach_wait_for_registration": True, "sip_attach_registration_timeout": 20,
                     "sip_attach_registration_poll_interval": 0.5, "sip_attach_report_dir": str(reports)},
            "roles": [{"role": "telnyx.sip.sip_attach"}]}
    result = run_sip_playbook(play, "-i", str(inventory))
    output = result.stdout + result.stderr
    assert result.rc != 0, output[-3000:]
    assert "2 connections did not register" in output
    assert "fleet-trunk04" in output and "fleet-trunk13" in output and "401 Unauthorized" in output
    rows = (reports / "sip-attach-report.csv").read_text().splitlines()
    assert sum(1 for row in rows if "Registered" in row and "Not Registered" not in row) == 18, rows
    for row in rows:
        if "fleet-trunk04" in row or "fleet-trunk13" in row:
            assert "Failed" in row, row
    assert "Trunk-" not in (reports / "sip-attach-report.md").read_text()  # no password in the report
    assert len(kamailio.locations()) == 18


def test_check_action_answers_410_gone_when_asked(make_emulator):
    gone = make_emulator("--registration-action-gone", "--no-sip")
    conn_id = gone.call("POST", "/uac_connections", {"connection_name": "pbx-gone"}).json()["data"]["id"]
    response = gone.call("POST", f"/uac_connections/{conn_id}/actions/check_registration_status")
    assert response.status_code == 410 and response.json()["errors"][0]["title"] == "Gone"
    if gone.via_prism:  # not in the contract: Prism passes it on with a warning, not a 500
        assert "Unable to match the returned status code" in response.headers["sl-violations"]
