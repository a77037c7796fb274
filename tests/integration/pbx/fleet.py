"""A PBX fleet for the role's end-to-end tests: an inventory of real local PBXs, the play, and its outcome.

Each PBX host of the inventory is one local PBX daemon (Asterisk or Kamailio, tests/tools), reached with the
local connection; its trunks' passwords are vault-like variables in group_vars. A subclass says which
variables tell the role where the PBX is (``pbx_vars``).
"""

import csv
import io
import sys

import yaml

from tests.integration.harness import PlaybookRunner

APP = "assistant-3fa85f64-5717-4562-b3fc-2c963f66afa6"


class PbxFleet:
    kind = None
    local = True  # each PBX host through the local connection; False: through its own (SSH), as connection_vars say

    def __init__(self, tmp_path, pbxs, emulator, trunks):
        self.root = tmp_path / "inventory"
        self.reports = tmp_path / "reports"
        self.tmp_path = tmp_path
        self.pbxs = pbxs
        self.emulator = emulator
        self.runner = PlaybookRunner(tmp_path, emulator, local=self.local)
        (self.root / "group_vars").mkdir(parents=True)
        self.trunks = trunks
        self.secrets = dict((trunk["password"][3:-3].strip(), "Secret-%s-%s-pw" % (host, trunk["name"]))
                            for host, host_trunks in trunks.items() for trunk in host_trunks)
        self.write()

    def pbx_vars(self, host, pbx):
        raise NotImplementedError

    def connection_vars(self, host, pbx):
        """How Ansible reaches the PBX host: here, the local connection with this Python."""
        return dict(ansible_connection="local", ansible_python_interpreter=sys.executable)

    def env(self):
        """Environment variables of the ansible-playbook runs."""
        return None

    def write(self):
        (self.root / "group_vars" / "pbx.yml").write_text(yaml.safe_dump(dict(
            dict((name, value) for name, value in self.secrets.items() if name.startswith("vault_")),
            sip_attach_pbx=self.kind)))
        hosts = {}
        for host, pbx in self.pbxs.items():
            hosts[host] = dict(self.pbx_vars(host, pbx), **self.connection_vars(host, pbx),
                               sip_attach_defaults={"transport": "UDP", "application": APP, "proxy": pbx.proxy},
                               sip_attach_trunks=self.trunks[host])
        (self.root / "hosts.yml").write_text(yaml.safe_dump({"pbx": {"hosts": hosts}}))

    def run(self, *args, role_vars=None):
        role = {"role": "telnyx.sip.sip_attach", "vars": dict({
            "sip_attach_report_dir": str(self.reports), "sip_attach_registration_timeout": 30,
            "sip_attach_registration_poll_interval": 0.5}, **(role_vars or {}))}
        play = {"name": "sip attach", "hosts": "pbx", "gather_facts": False, "roles": [role]}
        return self.runner(play, "-i", str(self.root / "hosts.yml"), *args, env=self.env())

    def output(self, result):
        """The run's stdout and stderr, once checked to hold no password of the fleet."""
        text = result.stdout + result.stderr
        for secret in self.secrets.values():
            assert secret not in text
        return text

    def rows(self, name="sip-attach-report"):
        """The rows of the report's CSV (``sip-attach-drift-report`` for a check-mode run's)."""
        return list(csv.DictReader(io.StringIO((self.reports / (name + ".csv")).read_text())))

    def connections(self):
        data = self.emulator.call("GET", "/uac_connections", params={"page[size]": 250}).json()["data"]
        return dict((conn["connection_name"], conn) for conn in data)

    def writes_since(self, count):
        return [entry for entry in self.emulator.requests()[count:] if entry["method"] != "GET"]
