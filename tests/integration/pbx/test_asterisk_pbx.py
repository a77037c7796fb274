"""Real Asterisk 22 on 127.0.0.1: three instances at once, and the emulator registering to them.

The PJSIP sections of user 1006 go into an include file of one instance (pjsip.d/), `module reload
res_pjsip.so` loads them, then the emulator's registrar client (a UAC connection created through its
API, as Telnyx registers to a customer's PBX) REGISTERs there; `pjsip show contacts` shows the binding.
"""

import subprocess
import time

import pytest

from tests.tools.asterisk_pbx import user_sections

pytestmark = [pytest.mark.integration]

USER, PASSWORD, REALM = "1006", "pw-1006-secret", "127.0.0.1"
INCLUDE = "pjsip.d/telnyx-1006.conf"


@pytest.fixture(scope="module")
def three(asterisk_pbxs):
    return asterisk_pbxs(3)


def add_user_1006(pbx):
    pbx.write_config(INCLUDE, user_sections(USER, PASSWORD, REALM))
    assert "reloaded successfully" in pbx.reload_pjsip()
    assert f"InAuth:  {USER}/{USER}" in pbx.command(f"pjsip show endpoint {USER}")


def attach(emulator, name, pbx, transport, right_password=True):
    """A UAC connection registering as 1006 to `pbx` (with a wrong password unless `right_password`)."""
    settings = {"proxy": pbx.proxy, "username": USER, "transport": transport,
                "password": PASSWORD if right_password else "not-the-1006-password"}
    response = emulator.call("POST", "/uac_connections", {"connection_name": name, "external_uac_settings": settings})
    assert response.status_code == 201, response.status_code
    return response.json()["data"]["id"]


def wait_status(emulator, connection_id, done, timeout=15):
    """GET /sip_registration_status until done(status) or timeout; returns the last status."""
    deadline = time.monotonic() + timeout
    while True:
        response = emulator.call("GET", "/sip_registration_status",
                                 params={"credential_type": "uac_external_credential", "connection_id": connection_id})
        assert response.status_code == 200, response.text
        status = response.json()
        if done(status) or time.monotonic() >= deadline:
            return status
        time.sleep(0.2)


def test_three_instances_run_at_once_on_their_own_ports_and_config_dirs(three):
    assert len({pbx.port for pbx in three}) == 3
    assert len({pbx.config_dir for pbx in three}) == 3 and len({pbx.cli for pbx in three}) == 3
    for pbx in three:
        assert pbx.process.poll() is None, pbx.log_tail()
        assert pbx.command("core show version").startswith("Asterisk 22."), pbx.log_tail()
        transports = pbx.command("pjsip show transports")
        for protocol in ("udp", "tcp"):
            assert f"transport-{protocol}             {protocol}      0      0  {pbx.proxy}" in transports, transports
        with open(f"{pbx.config_dir}/pjsip.conf", encoding="utf-8") as handle:
            assert f"bind = {pbx.proxy}" in handle.read()
        # `cli` is a shell command line: the role runs it with the CLI command appended, quoted
        shell = subprocess.run(f"{pbx.cli} 'core show settings'", shell=True, capture_output=True, text=True,
                               check=False)
        assert shell.returncode == 0, shell.stderr
        assert f"{pbx.home}/etc/asterisk.conf" in shell.stdout and f"{pbx.home}/run" in shell.stdout


@pytest.mark.parametrize("index, transport", [(0, "UDP"), (1, "TCP")])
def test_emulator_registers_to_asterisk_and_the_contact_shows(three, pbx_emulator, index, transport):
    pbx = three[index]
    add_user_1006(pbx)
    assert pbx.contacts() == {}
    connection_id = attach(pbx_emulator, f"asterisk-{index}", pbx, transport)
    status = wait_status(pbx_emulator, connection_id, lambda status: status["registered"])
    assert status["registered"] is True, (status, pbx.log_tail())
    assert status["last_registration_response"] == "200 OK"
    assert status["sip_registration_details"]["auth_retries"] == 1  # challenged once, as Asterisk does
    contacts = pbx.contacts()
    assert list(contacts) == [USER] and len(contacts[USER]) == 1, contacts
    uri = contacts[USER][0]
    assert uri.startswith(f"sip:{USER}@127.0.0.1:"), uri
    assert ("transport=tcp" in uri) == (transport == "TCP"), uri
    # the other instances have their own configuration and registrations
    for other in three:
        if other is not pbx and USER not in other.command("pjsip show endpoints"):
            assert other.contacts() == {}
    # deleting the connection unregisters (Expires: 0) and Asterisk drops the contact
    assert pbx_emulator.call("DELETE", f"/uac_connections/{connection_id}").status_code == 200
    assert pbx.wait_for(lambda instance: instance.contacts() == {}, timeout=10), pbx.contacts()


def test_wrong_password_is_refused(three, pbx_emulator):
    pbx = three[2]
    add_user_1006(pbx)
    connection_id = attach(pbx_emulator, "asterisk-wrong-password", pbx, "UDP", right_password=False)
    status = wait_status(pbx_emulator, connection_id, lambda status: status["sip_registration_details"]["failures"])
    assert status["registered"] is False and status["sip_registration_status"] == "failed", status
    assert status["last_registration_response"] in ("401 Unauthorized", "403 Forbidden"), status
    assert pbx.contacts() == {}
