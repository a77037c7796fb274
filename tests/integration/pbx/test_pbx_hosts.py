"""PBX test hosts (tests/tools/pbx_host.py) reached the way the role reaches a fleet: Ansible over SSH, with become.

For each layout of /etc/asterisk (debian, rootowned, freepbx), real `ansible-playbook` runs log in as `deploy`,
become root, find Asterisk running as `asterisk` and the configuration owned as that layout owns it; FreePBX's
Apply Config (``freepbx_regenerate()``) drops a line added to a generated file and keeps the custom files; the
emulator's registrar client REGISTERs to a host's Asterisk, which lists the contact. A host left by a killed
session is cleaned up (its processes killed, its mounts gone) when the next one starts.
"""

import os
import re
import signal
import subprocess
import sys

import pytest
import yaml

from tests.integration.harness import PlaybookRunner
from tests.tools.asterisk_pbx import user_sections
from tests.tools.pbx_host import clean_stale, hosts_base, mounts_under, processes_in

pytestmark = [pytest.mark.integration]

LAYOUTS = ("debian", "rootowned", "freepbx")
# (owner, group, mode) of /etc/asterisk, then of the files in it, as each kind of installation leaves them
OWNERSHIP = {
    "debian": (("asterisk", "asterisk", "0755"), ("asterisk", "asterisk", "0640")),
    "rootowned": (("root", "asterisk", "0750"), ("root", "asterisk", "0640")),
    "freepbx": (("asterisk", "asterisk", "0775"), ("asterisk", "asterisk", "0664")),
}
FREEPBX_PJSIP_INCLUDES = [
    "pjsip_custom.conf", "pjsip.transports.conf", "pjsip.transports_custom_post.conf", "pjsip.endpoint.conf",
    "pjsip.endpoint_custom_post.conf", "pjsip.aor.conf", "pjsip.aor_custom_post.conf", "pjsip.auth.conf",
    "pjsip.auth_custom_post.conf", "pjsip.registration.conf", "pjsip.registration_custom_post.conf",
    "pjsip.identify.conf", "pjsip.identify_custom_post.conf"]
FREEPBX_CUSTOM = ["pjsip_custom.conf", "pjsip.endpoint_custom.conf", "pjsip.aor_custom.conf", "pjsip.auth_custom.conf",
                  "pjsip.transports_custom_post.conf", "pjsip.identify_custom.conf", "extensions_custom.conf"]
CONFIG_FILES = ["pjsip.conf", "extensions.conf", "modules.conf", "rtp.conf"]


def run_on(tmp_path, emulator, hosts, tasks, host_vars=None):
    """One play over `hosts` (inventory group `pbx`), through SSH as each host's inventory_vars() say, with the
    variables of ``host_vars[host.name]`` added."""
    inventory = tmp_path / "hosts.yml"
    inventory.write_text(yaml.safe_dump({"pbx": {"hosts": {host.name: dict(host.inventory_vars(), **(host_vars or {}).get(
        host.name, {})) for host in hosts}}}))
    runner = PlaybookRunner(tmp_path, emulator, local=False)
    play = {"name": "pbx hosts", "hosts": "pbx", "gather_facts": False, "tasks": tasks}
    return runner(play, "-i", str(inventory), env=hosts[0].ansible_env())


def config_files(layout):
    return CONFIG_FILES + (FREEPBX_CUSTOM + ["pjsip.endpoint.conf", "extensions_additional.conf"]
                           if layout == "freepbx" else [])


def test_ansible_logs_in_over_ssh_becomes_root_and_finds_asterisk_running_as_asterisk_in_each_layout(
        asterisk_hosts, make_emulator, tmp_path):
    hosts = asterisk_hosts.each_layout(LAYOUTS)  # started together; one run over the three at once
    stat_argv = dict((host.name, {"stat_argv": ["stat", "-c", "%U %G %04a %s %n", "/etc/asterisk"] + [
        f"/etc/asterisk/{name}" for name in config_files(layout)]}) for layout, host in hosts.items())
    tasks = [
        {"name": "ping", "ansible.builtin.ping": {}},
        {"name": "login user", "ansible.builtin.command": "id -un", "vars": {"ansible_become": False}},
        {"name": "become", "ansible.builtin.command": "id -u"},
        {"name": "settings", "ansible.builtin.command": "asterisk -rx 'core show settings'"},
        {"name": "stat", "ansible.builtin.command": {"argv": "{{ stat_argv }}"}},
    ]
    result = run_on(tmp_path, make_emulator(), list(hosts.values()), tasks, stat_argv)
    assert result.rc == 0, result.stdout + result.stderr
    for layout, host in hosts.items():
        assert result.task("ping", host.name)["ping"] == "pong"
        assert result.task("login user", host.name)["stdout"] == "deploy"
        assert result.task("become", host.name)["stdout"] == "0"
        settings = result.task("settings", host.name)["stdout"]
        assert re.search(r"^\s*User name and group:\s+asterisk/asterisk$", settings, re.M), (layout, settings)
        assert re.search(r"^\s*Configuration directory:\s+/etc/asterisk$", settings, re.M), (layout, settings)
        stats = {line.split()[-1]: line.split()[:4] for line in result.task("stat", host.name)["stdout_lines"]}
        folder, each_file = OWNERSHIP[layout]
        assert (layout, tuple(stats.pop("/etc/asterisk")[:3])) == (layout, folder)
        files = config_files(layout)
        assert {name: tuple(stats[f"/etc/asterisk/{name}"][:3]) for name in files} == {name: each_file for name in files}
        assert os.path.isfile(host.path("/etc/freepbx.conf")) is (layout == "freepbx")
        if layout == "freepbx":  # the custom files are there, and empty
            assert [name for name in FREEPBX_CUSTOM if stats[f"/etc/asterisk/{name}"][3] != "0"] == []
    freepbx = hosts["freepbx"]
    pjsip = freepbx.read("/etc/asterisk/pjsip.conf")
    assert "Do NOT edit this file as it is auto-generated by FreePBX" in pjsip
    assert re.findall(r"^#include (\S+)$", pjsip, re.M) == FREEPBX_PJSIP_INCLUDES
    assert re.search(r"Include =>\s+'from-internal-xfer'", freepbx.cli("dialplan show from-internal"))
    xfer = freepbx.cli("dialplan show from-internal-xfer")
    assert xfer.index("'from-internal-custom'") < xfer.index("'from-internal-additional'"), xfer


def test_freepbx_apply_config_drops_a_line_added_to_pjsip_conf_and_keeps_the_custom_file(
        asterisk_hosts, make_emulator, tmp_path):
    host, = asterisk_hosts(1, "freepbx")
    generated = host.read("/etc/asterisk/pjsip.conf")
    custom = "[custom-aor]\ntype=aor\nmax_contacts=1\n"
    tasks = [
        {"name": "append", "ansible.builtin.lineinfile": {"path": "/etc/asterisk/pjsip.conf",
                                                          "line": "#include sip_attach_pjsip.conf"}},
        {"name": "custom", "ansible.builtin.copy": {"dest": "/etc/asterisk/pjsip_custom.conf", "content": custom}},
    ]
    result = run_on(tmp_path, make_emulator(), [host], tasks)
    assert result.rc == 0, result.stdout + result.stderr
    try:
        assert host.read("/etc/asterisk/pjsip.conf") == generated + "#include sip_attach_pjsip.conf\n"
        output = host.freepbx_regenerate()
        assert host.read("/etc/asterisk/pjsip.conf") == generated
        assert host.stat("/etc/asterisk/pjsip.conf") == ("asterisk", "asterisk", 0o664)
        assert host.read("/etc/asterisk/pjsip_custom.conf") == custom
        # the reload read the custom file again: its section is loaded
        assert "custom-aor" in host.cli("pjsip show aor custom-aor"), output
    finally:
        host.write("/etc/asterisk/pjsip_custom.conf", "")
        host.cli("module reload res_pjsip.so")
    assert "Unable to find object custom-aor" in host.cli("pjsip show aor custom-aor")


@pytest.mark.parametrize("layout", LAYOUTS)
def test_the_emulator_registers_to_a_host_and_asterisk_lists_the_contact(asterisk_hosts, pbx_emulator, layout):
    host, = asterisk_hosts(1, layout)
    user, password = "2207", "pw-2207-host-secret"
    sections = user_sections(user, password, realm=host.address)
    if layout == "freepbx":  # where a FreePBX admin puts sections of their own
        restore = ("/etc/asterisk/pjsip_custom.conf", host.read("/etc/asterisk/pjsip_custom.conf"))
        host.write("/etc/asterisk/pjsip_custom.conf", sections)
    else:
        restore = ("/etc/asterisk/pjsip.conf", host.read("/etc/asterisk/pjsip.conf"))
        host.write("/etc/asterisk/test_users.conf", sections)
        host.write("/etc/asterisk/pjsip.conf", restore[1] + "#include test_users.conf\n")
    connection_id = None
    try:
        assert "reloaded successfully" in host.cli("module reload res_pjsip.so")
        created = pbx_emulator.call("POST", "/uac_connections", {"connection_name": f"host-{layout}", "external_uac_settings": {
            "proxy": host.proxy, "username": user, "password": password, "transport": "UDP"}})
        assert created.status_code == 201, created.text
        connection_id = created.json()["data"]["id"]
        contacts = host.wait_for(lambda pbx: pbx.contacts().get(user), timeout=15)
        assert contacts and contacts[0].startswith(f"sip:{user}@127.0.0.1:"), host.cli("pjsip show contacts")
        status = pbx_emulator.call("GET", "/sip_registration_status", params={
            "credential_type": "uac_external_credential", "connection_id": connection_id}).json()
        assert status["registered"] is True, status
    finally:
        if connection_id:
            pbx_emulator.call("DELETE", f"/uac_connections/{connection_id}")
        host.write(*restore)
        host.cli("module reload res_pjsip.so")
    assert "Unable to find object" in host.cli(f"pjsip show aor {user}")


def test_hosts_started_together_have_addresses_and_filesystems_of_their_own(asterisk_hosts, asterisk_root):
    first, second = asterisk_hosts(2, "debian")
    assert first.address != second.address and first.proxy != second.proxy
    assert first.key_path != second.key_path
    assert first.read("/etc/asterisk/pjsip.conf") != second.read("/etc/asterisk/pjsip.conf")
    first.write("/tmp/only-on-the-first-host", "first\n")
    try:
        assert os.path.exists(first.path("/tmp/only-on-the-first-host"))
        assert not os.path.exists(second.path("/tmp/only-on-the-first-host"))
        assert not os.path.exists(os.path.join(asterisk_root, "tmp", "only-on-the-first-host"))
    finally:
        os.unlink(first.path("/tmp/only-on-the-first-host"))
    # /var/run is an absolute link to /run: followed inside the host, not to the machine's /run
    assert first.path("/var/run/asterisk") == os.path.join(first.root_dir, "run", "asterisk")
    for host in (first, second):
        assert f"{host.address}:5060" in host.cli("pjsip show transports")


def test_a_host_left_by_a_killed_session_is_cleaned_up_by_the_next_one(asterisk_root):
    script = os.path.join(os.path.dirname(__file__), "..", "..", "tools", "pbx_host.py")
    process = subprocess.Popen([sys.executable, script, "--root", asterisk_root], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        lines = [process.stdout.readline() for _index in range(4)]  # two comments, [pbx], the host's line
        assert lines[3].startswith("pbx-"), (lines, process.stderr.read() if process.poll() is not None else "")
        address = re.search(r"ansible_host=(\S+)", lines[3])[1]
    finally:
        os.kill(process.pid, signal.SIGKILL)  # no cleanup of its own: sshd and Asterisk outlive it
        process.wait(10)
    folder = os.path.join(hosts_base(), address)
    assert len(mounts_under(folder)) == 4  # the overlay, /dev, /dev/pts, /proc
    assert processes_in(os.path.join(folder, "root")), "sshd and Asterisk run on after their session was killed"
    assert address in clean_stale()
    assert mounts_under(folder) == [] and not os.path.exists(folder)
    assert processes_in(os.path.join(folder, "root")) == []
