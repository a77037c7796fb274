"""Kamailio PBXs managed with kamctl (subscribers in SQLite), registered to by the emulator as Telnyx would.

Real daemons: each PBX is a `KamailioDbPbx` (tests/tools/kamailio_db_pbx.py) with its own database, kamctl
settings and kamcmd socket; the subscribers are added, rotated and removed with that instance's kamctl,
the location table is read with its kamcmd, and the emulator registers to it through the collection's
modules, as tests/integration/sip does with the htable Kamailio.
"""

import json
import socket

import pytest

pytestmark = [pytest.mark.integration]

CONNECTION = "telnyx.sip.uac_connection"
FLEET = "telnyx.sip.uac_connections"
WAIT = {"wait_for_registration": True, "registration_timeout": 20, "registration_poll_interval": 0.3}


def kamctl(pbx, *args):
    """Run the instance's kamctl and return its stdout; its output holds the password, so a failure shows the code only."""
    result = pbx.kamctl_run(*args)
    assert result.returncode == 0, f"kamctl {args[0]} exited with {result.returncode}"
    return result.stdout


def trunk(name, pbx, username, password, **external):
    settings = {"proxy": pbx.proxy, "username": username, "password": password, "transport": "UDP"}
    settings.update(external)
    return {"connection_name": name, "external_uac_settings": settings}


def step(name, module, params, **keywords):
    return dict({"name": name, module: params, "register": name.replace(" ", "_")}, **keywords)


def test_three_pbxs_each_registers_its_own_kamctl_subscriber(kamailio_pbxs, run_kamailio_playbook):
    pbxs = kamailio_pbxs(3)
    assert len({pbx.port for pbx in pbxs}) == 3 and len({pbx.db_path for pbx in pbxs}) == 3
    passwords = {}
    for index, pbx in enumerate(pbxs):
        user, passwords[index] = f"300{index}", f"Kam-{index}-secret-pw"
        assert f"new user '{user}@127.0.0.1' added" in kamctl(pbx, "add", f"{user}@{pbx.domain}", passwords[index])
        assert list(pbx.subscribers()) == [user]  # in this instance's database only
    trunks = [trunk(f"kam-{index}", pbx, f"300{index}", passwords[index], transport="TCP" if index == 1 else "UDP")
              for index, pbx in enumerate(pbxs)]
    trunks.append(trunk("kam-0-wrong", pbxs[0], "3000", "not-the-password"))
    trunks.append(trunk("kam-2-unknown", pbxs[2], "3009", passwords[2]))
    result = run_kamailio_playbook.tasks([step("fleet", FLEET, dict(connections=trunks, **WAIT), ignore_errors=True)])
    fleet = result.task("fleet")
    statuses = {line["connection_name"]: line["registration_status"] for line in fleet["results"]}
    assert statuses == {"kam-0": "Registered", "kam-1": "Registered", "kam-2": "Registered",
                        "kam-0-wrong": "Failed", "kam-2-unknown": "Failed"}, statuses
    assert all("401 Unauthorized" in item["error"] for item in fleet["not_registered"]), fleet["not_registered"]
    for index, pbx in enumerate(pbxs):
        aor = f"300{index}@127.0.0.1"
        read = pbx.kamcmd_locations()  # what the role reads: kamcmd's text answer, parsed
        assert list(read) == [aor], read
        (contact,) = read[aor]
        (expected,) = pbx.locations()[aor]  # the same table through JSON-RPC
        assert contact["Address"] == expected["Address"] and contact["Call-ID"] == expected["Call-ID"]
        transport = "tcp" if index == 1 else "udp"
        assert contact["Socket"] == f"{transport}:127.0.0.1:{pbx.port}"
        shown = json.loads(kamctl(pbx, "ul", "show", aor))["result"]  # kamctl reaches this instance through its FIFO
        assert shown["AoR"] == aor and shown["Contacts"][0]["Contact"]["Call-ID"] == contact["Call-ID"]


def test_kamctl_passwd_rotation_then_rm(kamailio_pbxs, run_kamailio_playbook):
    (pbx,) = kamailio_pbxs(1)
    aor = f"3101@{pbx.domain}"
    old, new = "Old-3101-password", "New-3101-password"
    kamctl(pbx, "add", aor, old)
    first = run_kamailio_playbook.tasks([step("attach", CONNECTION, dict(trunk("kam-rot", pbx, "3101", old), **WAIT))])
    assert first.rc == 0, first.stdout[-3000:]
    (before,) = pbx.kamcmd_locations()[aor]

    assert "password change succeeded" in kamctl(pbx, "passwd", aor, new)
    rotate = dict(trunk("kam-rot", pbx, "3101", new), update_password="always", **WAIT)
    stale = dict(trunk("kam-stale", pbx, "3101", old), **WAIT)
    second = run_kamailio_playbook.tasks([step("rotate", CONNECTION, rotate),
                                          step("old password", CONNECTION, stale, ignore_errors=True)])
    assert second.task("rotate")["changed"] is True
    assert second.task("rotate")["uac_connection"]["registration_status"] == "Registered"
    refused = second.task("old password")
    assert refused.get("failed") is True and "401 Unauthorized" in refused["msg"], refused["msg"]
    contacts = pbx.kamcmd_locations()[aor]
    assert any(contact["Call-ID"] != before["Call-ID"] for contact in contacts), contacts

    out = kamctl(pbx, "rm", aor)
    assert "delete from subscriber" in out
    assert pbx.subscribers() == {}
    assert pbx.kamcmd_locations() == {}  # kamctl rm also dropped the contacts (ul rm through the FIFO)
    assert "3101" not in kamctl(pbx, "db", "show", "subscriber")
    gone = pbx.kamctl_run("passwd", aor, "Another-3101-pw")
    assert gone.returncode == 1 and f"non-existent user '{aor}'" in gone.stdout
    third = run_kamailio_playbook.tasks([
        step("after rm", CONNECTION, dict(trunk("kam-after-rm", pbx, "3101", new), **WAIT), ignore_errors=True)])
    after = third.task("after rm")
    assert after.get("failed") is True and "401 Unauthorized" in after["msg"], after["msg"]
    assert pbx.kamcmd_locations() == {}


def test_hashes_only_when_kamctl_does_not_store_the_password(kamailio_pbxs, run_kamailio_playbook):
    (pbx,) = kamailio_pbxs(1, plaintext=False)
    password = "Hashed-3201-pw"
    out = kamctl(pbx, "add", f"3201@{pbx.domain}", password)
    assert password not in out and "new user '3201@127.0.0.1' added" in out
    assert pbx.subscribers()["3201"]["has_password"] is False
    result = run_kamailio_playbook.tasks([
        step("attach", CONNECTION, dict(trunk("kam-ha1", pbx, "3201", password), **WAIT)),
        step("wrong", CONNECTION, dict(trunk("kam-ha1-wrong", pbx, "3201", "Hashed-3201-px"), **WAIT), ignore_errors=True)])
    assert result.task("attach")["uac_connection"]["registration_status"] == "Registered"
    assert "401 Unauthorized" in result.task("wrong")["msg"]
    assert list(pbx.kamcmd_locations()) == ["3201@127.0.0.1"]


def sip_request(pbx, caller, user, call_id):
    """An INVITE for user@domain sent from the `caller` UDP socket to the PBX."""
    local = "127.0.0.1:%d" % caller.getsockname()[1]
    caller.sendto((f"INVITE sip:{user}@{pbx.domain}:{pbx.port} SIP/2.0\r\n"
                   f"Via: SIP/2.0/UDP {local};branch=z9hG4bK-{call_id}\r\nMax-Forwards: 70\r\n"
                   f"From: <sip:caller@{pbx.domain}>;tag=c1\r\nTo: <sip:{user}@{pbx.domain}>\r\nCall-ID: {call_id}\r\n"
                   f"CSeq: 1 INVITE\r\nContact: <sip:caller@{local}>\r\nContent-Length: 0\r\n\r\n").encode(),
                  ("127.0.0.1", pbx.port))


def final_answer(sock, call_id):
    """The status line of the first final answer for call_id (the caller sends no ACK: retransmissions are skipped)."""
    while True:
        lines = sock.recv(65535).decode().split("\r\n")
        if f"Call-ID: {call_id}" in lines and not lines[0].startswith("SIP/2.0 1"):
            return lines[0]


def test_invite_is_routed_to_the_registered_contact(kamailio_pbxs):
    (pbx,) = kamailio_pbxs(1)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as phone, \
            socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as caller:
        for sock in (phone, caller):
            sock.bind(("127.0.0.1", 0))
            sock.settimeout(5)
        contact = "sip:3301@127.0.0.1:%d" % phone.getsockname()[1]
        kamctl(pbx, "ul", "add", f"3301@{pbx.domain}", contact, "60")  # kamctl's own usrloc command, over the FIFO
        assert pbx.kamcmd_locations()[f"3301@{pbx.domain}"][0]["Address"] == contact
        sip_request(pbx, caller, "3301", "call-1")
        relayed = phone.recv(65535).decode()
        lines = relayed.split("\r\n")
        assert lines[0] == f"INVITE {contact} SIP/2.0", lines[0]  # lookup("location") rewrote the R-URI
        assert f"Record-Route: <sip:127.0.0.1:{pbx.port};lr;ftag=c1>" in lines  # record_route()
        vias = [line for line in lines if line.startswith("Via:")]
        assert len(vias) == 2 and f"127.0.0.1:{pbx.port}" in vias[0]  # t_relay() added its own Via
        headers = [line for line in lines if line.split(":", 1)[0] in ("Via", "From", "Call-ID", "CSeq")]
        to = next(line for line in lines if line.startswith("To:"))
        phone.sendto(("SIP/2.0 486 Busy Here\r\n" + "\r\n".join(headers) + f"\r\n{to};tag=p1\r\nContent-Length: 0\r\n\r\n")
                     .encode(), ("127.0.0.1", pbx.port))
        assert final_answer(caller, "call-1") == "SIP/2.0 486 Busy Here"  # the answer went back through the transaction
        sip_request(pbx, caller, "3399", "call-2")
        assert final_answer(caller, "call-2") == "SIP/2.0 404 Not Found"  # nobody registered as 3399


def test_kamctl_exits_0_when_its_sql_fails_and_says_so_on_stdout(kamailio_pbxs):
    """What an adapter must look for: kamctl reports a failed statement with `** ERROR` and exit code 0."""
    (pbx,) = kamailio_pbxs(1)
    kamctl(pbx, "add", f"3401@{pbx.domain}", "Good-3401-pw")
    before = pbx.subscribers()["3401"]["ha1"]
    broken = pbx.kamctl_run("passwd", f"3401@{pbx.domain}", "quote'3401")  # the quote ends the SQL string
    assert broken.returncode == 0 and "** ERROR: password change failed" in broken.stdout
    assert pbx.subscribers()["3401"]["ha1"] == before
    added = pbx.kamctl_run("add", "3402", "quote'3402")
    assert added.returncode == 0 and "** ERROR: introducing the new user '3402' to the database failed" in added.stdout
    assert "3402" not in pbx.subscribers()
    assert "new user '3403' added" in kamctl(pbx, "add", "3403", "Plain-3403-pw")  # no @domain: SIP_DOMAIN
    assert pbx.subscribers()["3403"]["domain"] == pbx.domain
