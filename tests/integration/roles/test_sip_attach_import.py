"""The round trip of an existing account: made by hand, imported with telnyx.sip.import, adopted by the role.

Real ansible-playbook runs against the emulator (through Prism when the contract check is on). The account is
made through the API as a user would with curl: 50 connections over 6 proxies with varied settings, some tagged
(some with the managed tag already), some inactive, passwords set by hand, plus a pair that shares a name and a
connection without a proxy (the proxies are example names and an address the emulator never registers to).
Then, as users do: ``ansible-playbook telnyx.sip.import -e sip_attach_import_dir=DIR``, the vault variables
filled (and encrypted), and the role over the imported inventory. The first run adopts: one
PATCH per adoptable connection, with the managed tag and the password and nothing else that changes; the second
run writes nothing.
"""

import csv
import io
import json
import os
import subprocess

import pytest
import yaml

pytestmark = [pytest.mark.integration]

TAG = "sip-attach"
HAND_MADE_PASSWORD = "hand-made-pw"
PROXIES = ("sip:pbx-hq.example.com:5060", "pbx-paris.example.net", "pbx-austin.example.org:5080",
           "sips:pbx-tokyo.example.com:5061;transport=tls", "PBX-Oslo.example.com", "10.20.30.40")
APPS = ("assistant-3fa85f64-5717-4562-b3fc-2c963f66afa6", "cc-app-2151338474", "stt-5511")


def hand_made(index):
    """The create body of connection ``index``: a different mix of settings for each."""
    proxy = PROXIES[index % len(PROXIES)]
    extension = str(1000 + index)
    external = {"proxy": proxy, "username": extension if index % 3 else "ext%s" % extension,
                "password": HAND_MADE_PASSWORD}
    if index % 4:
        external["transport"] = ("UDP", "TCP", "TLS")[index % 3] if "sips:" not in proxy else "TLS"
    if index % 5 == 1:
        external.update(auth_username="auth%s" % extension, expiration_sec=300 + index)
    if index % 9 == 2:
        external.update(outbound_proxy="sip:edge.example.com:5060", from_user=extension, user_agent="PBX-%d" % index)
    if index % 6 == 5:
        destination = "x_%s@sipdev-app.sipdev.telnyx.com" % extension  # not of the extension@app form: kept whole
    else:
        destination = "%s@%s.sip.telnyx.com" % (extension, APPS[index % len(APPS)])
    host = proxy.split(":")[1] if proxy.startswith(("sip:", "sips:")) else proxy.split(":")[0]
    name = "%s-%s" % (host.lower(), extension) if index % 2 else "Trunk %s (%s)" % (extension, host)
    body = {"connection_name": name, "external_uac_settings": external,
            "internal_uac_settings": {"destination_uri": destination}}
    if index % 7 == 3:
        body["active"] = False
    tags = ([["hq"], [TAG], ["branch", TAG], ["floor-2", "hq"]] + [[]] * 4)[index % 8]
    if tags:
        body["tags"] = tags
    if index % 5 == 2:
        body["inbound"] = {"channel_limit": index, "codecs": ["G711U", "G722"], "sip_region": "Europe"}
    if index % 5 == 3:
        body["outbound"] = {"localization": "GB", "ani_override": "+4420%07d" % index, "channel_limit": 2}
    if index % 6 == 1:
        body.update(dtmf_type="Inband", anchorsite_override="Frankfurt, Germany", webhook_api_version="2",
                    webhook_event_url="https://hooks.example.com/%d" % index)
    if index % 6 == 4 and external.get("transport") != "TLS":
        body["encrypted_media"] = "SRTP"
    if index % 8 == 6:
        body.update(jitter_buffer={"enable_jitter_buffer": True, "jitterbuffer_msec_max": 300},
                    rtcp_settings={"port": "rtcp-mux", "report_frequency_secs": 10},
                    noise_suppression="both", noise_suppression_details={"engine": "deep_filter_net"})
    return body


class Account:
    """The account made by hand, then the import folder, the vault and the role over it."""

    def __init__(self, tmp_path, emulator, run_playbook):
        self.tmp_path, self.emulator, self.run_playbook = tmp_path, emulator, run_playbook
        self.dir = tmp_path / "imported"
        self.work = tmp_path / "work"  # where the import runs (its relative sip_attach_import_dir points at dir)
        self.work.mkdir()
        self.reports = tmp_path / "reports"
        self.vault_password_file = tmp_path / "vault-pass"
        self.passwords = {}
        self.seen = 0

    def create(self, body):
        created = self.emulator.call("POST", "/uac_connections", body)
        assert created.status_code == 201, created.text

    def make(self):
        for index in range(50):
            self.create(hand_made(index))
        shared = dict(hand_made(50), connection_name="shared-trunk")
        self.create(shared)
        self.create(dict(shared, external_uac_settings=dict(shared["external_uac_settings"], username="ext2051")))
        self.create({"connection_name": "no-proxy-yet", "internal_uac_settings": {"destination_uri": "9@stt-1.sip.telnyx.com"}})

    def connections(self):
        listed = self.emulator.call("GET", "/uac_connections", params={"page[size]": 250}).json()["data"]
        return dict((conn["id"], conn) for conn in listed)

    def mark(self):
        self.seen = len(self.emulator.requests())

    def writes(self):
        return [entry for entry in self.emulator.requests()[self.seen:] if entry["method"] != "GET"]

    def tree(self):
        """Every path under tmp_path but the import folder and the runner's own result files."""
        found = set()
        for folder, dirs, files in os.walk(self.tmp_path):
            for name in dirs + files:
                path = os.path.join(folder, name)
                if not path.startswith(str(self.dir)) and not name.startswith("results-"):
                    found.add(path)
        return found

    def run_import(self, *args):
        return self.run_playbook.named("telnyx.sip.import", "-e", "sip_attach_import_dir=../imported", *args,
                                       cwd=self.work)

    def fill_vault(self):
        template = yaml.safe_load((self.dir / "group_vars/all/vault.yml.example").read_text())
        assert template and all(value == "" for value in template.values())
        self.passwords = dict((name, "vault-pw-%03d-Xq" % number) for number, name in enumerate(sorted(template)))
        vault = self.dir / "group_vars/all/vault.yml"
        vault.write_text(yaml.safe_dump(self.passwords))
        self.vault_password_file.write_text("a vault password\n")
        binary = os.path.join(os.path.dirname(self.run_playbook.binary), "ansible-vault")
        subprocess.run([binary, "encrypt", "--vault-password-file", str(self.vault_password_file), str(vault)],
                       check=True, capture_output=True, text=True, timeout=60)
        assert vault.read_text().startswith("$ANSIBLE_VAULT;")

    def run_role(self):
        play = {"name": "adopt", "hosts": "pbx", "gather_facts": False, "roles": [
            {"role": "telnyx.sip.sip_attach", "vars": {"sip_attach_report_dir": str(self.reports)}}]}
        result = self.run_playbook(play, "-i", str(self.dir / "hosts.yml"),
                                   "--vault-password-file", str(self.vault_password_file))
        text = result.stdout + result.stderr
        for secret in list(self.passwords.values()) + [HAND_MADE_PASSWORD]:
            assert secret not in text
        return result

    def report_rows(self):
        return list(csv.DictReader(io.StringIO((self.reports / "sip-attach-report.csv").read_text())))


@pytest.fixture
def account(tmp_path, emulator, run_playbook):
    made = Account(tmp_path, emulator, run_playbook)
    made.make()
    return made


def test_an_account_made_by_hand_is_imported_adopted_once_then_left_alone(account):
    before = account.connections()
    assert len(before) == 53 and len(set(sip_host(conn) for conn in before.values() if sip_host(conn))) == 6

    # An existing file is not replaced without the option, and then nothing at all is written
    account.dir.mkdir()
    (account.dir / "hosts.yml").write_text("# mine\n")
    outside = account.tree()
    account.mark()
    refused = account.run_import()
    assert refused.rc != 0
    assert ("These files exist in %s and differ from what the import would write: hosts.yml. Nothing was written. "
            "Set sip_attach_import_overwrite=true" % account.dir) in refused.stdout
    assert sorted(os.listdir(account.dir)) == ["hosts.yml"] and (account.dir / "hosts.yml").read_text() == "# mine\n"

    imported = account.run_import("-e", "sip_attach_import_overwrite=true")
    assert imported.rc == 0, imported.stdout + imported.stderr
    assert account.writes() == []  # the import only reads
    assert account.tree() == outside  # nothing written outside the import folder
    assert sorted(os.listdir(account.dir)) == ["group_vars", "host_vars", "hosts.yml", "not-imported.yml"]
    hosts = yaml.safe_load((account.dir / "hosts.yml").read_text())["pbx"]["hosts"]
    assert sorted(hosts) == ["10.20.30.40", "pbx-austin.example.org", "pbx-hq.example.com", "pbx-oslo.example.com",
                             "pbx-paris.example.net", "pbx-tokyo.example.com"]
    assert sorted(os.listdir(account.dir / "host_vars")) == sorted("%s.yml" % host for host in hosts)

    # The connections that cannot be trunks are listed (in the file and in the output), never dropped silently
    not_imported = yaml.safe_load((account.dir / "not-imported.yml").read_text())
    assert sorted(entry["connection_name"] for entry in not_imported) == ["no-proxy-yet", "shared-trunk", "shared-trunk"]
    shared_ids = sorted(entry["id"] for entry in not_imported if entry["connection_name"] == "shared-trunk")
    assert all("2 UAC connections are named 'shared-trunk' (ids: %s, %s)" % tuple(shared_ids) in entry["reason"]
               for entry in not_imported if entry["connection_name"] == "shared-trunk")
    output = imported.task("Say what was imported, what was not, and what comes next")["msg"]
    assert output[0] == "Read 53 UAC connections; imported 50 as trunks of 6 PBX hosts into %s." % account.dir
    assert "3 connections not imported (listed in not-imported.yml):" in output
    assert any(line.startswith("shared-trunk: 2 UAC connections are named 'shared-trunk'") for line in output)

    # Every trunk names its connection's password as a vault variable; the template lists exactly those
    trunks = dict((host, yaml.safe_load((account.dir / "host_vars" / ("%s.yml" % host)).read_text())["sip_attach_trunks"])
                  for host in hosts)
    references = sorted(trunk["password"] for host_trunks in trunks.values() for trunk in host_trunks)
    account.fill_vault()
    assert references == sorted("{{ %s }}" % name for name in account.passwords)
    assert len(references) == 50
    # the connection each trunk manages (its connection_name, else <host>-<name>) -> its vault variable
    variable_of = dict((trunk.get("connection_name") or "%s-%s" % (host, trunk["name"]), trunk["password"].strip("{} "))
                       for host, host_trunks in trunks.items() for trunk in host_trunks)

    # A second import with nothing new changes no file
    again = account.run_import()
    assert again.rc == 0, again.stdout + again.stderr
    assert all(line.endswith(": unchanged") for line in again.task(
        "Say what was imported, what was not, and what comes next")["msg"][1:5])

    # First run of the role: one PATCH per imported connection. Adoption (the managed tag was missing) sends the
    # managed tag, the owner tag (the PBX host the trunk was imported under) and the password, nothing else; a
    # connection that already had the managed tag (made by an older release) only gains its owner tag.
    account.mark()
    first = account.run_role()
    assert first.rc == 0, first.stdout + first.stderr
    imported = dict((cid, conn) for cid, conn in before.items()
                    if conn["connection_name"] not in ("shared-trunk", "no-proxy-yet"))
    adoptable = dict((cid, conn) for cid, conn in imported.items() if TAG not in conn["tags"])
    owned_only = dict((cid, conn) for cid, conn in imported.items() if TAG in conn["tags"])
    assert 30 < len(adoptable) < 50 and len(owned_only) > 0
    writes = account.writes()
    assert sorted(entry["path"] for entry in writes) == sorted("/v2/uac_connections/%s" % cid for cid in imported)
    for entry in writes:
        assert entry["method"] == "PATCH" and entry["status"] == 200
        cid = entry["path"].rsplit("/", 1)[1]
        current = imported[cid]
        body = entry["body"]
        owner = "%s:owner=%s" % (TAG, sip_host(current))
        if cid in owned_only:
            assert body == {"tags": current["tags"] + [owner]}, body
            continue
        assert sorted(body) == ["external_uac_settings", "tags"], body
        assert body["tags"] == current["tags"] + [TAG, owner]
        sent = dict(body["external_uac_settings"])
        assert sent.pop("password") == account.passwords[variable_of[current["connection_name"]]]
        # the nested object is sent whole (the API replaces it): every other value exactly as it was
        assert sent == dict((key, value) for key, value in current["external_uac_settings"].items()
                            if value is not None and key != "password")
    # the role's run_once tasks run on the play's first host
    shown = first.task("telnyx.sip.sip_attach : Show what changed (or would change, in check mode)",
                       host=next(iter(hosts)))["msg"]
    assert int(shown["adopted"]) == len(adoptable) and shown["counts"]["updated"] == len(imported)
    rows = account.report_rows()
    assert sorted(row["id"] for row in rows if row["adopted"] == "True") == sorted(adoptable)
    assert sorted(row["id"] for row in rows if row["action"] == "updated") == sorted(imported)
    after = account.connections()
    assert all(TAG in after[cid]["tags"] for cid in adoptable)
    assert [after[cid] for cid in shared_ids] == [before[cid] for cid in shared_ids]  # listed, and left alone

    # Second run: nothing to change, nothing sent
    account.mark()
    second = account.run_role()
    assert second.rc == 0, second.stdout + second.stderr
    assert account.writes() == []
    assert all(stats["changed"] == 0 for stats in second.stats.values())
    assert all(row["action"] == "unchanged" and row["adopted"] == "" for row in account.report_rows())


def sip_host(conn):
    proxy = (conn.get("external_uac_settings") or {}).get("proxy")
    if not proxy:
        return None
    proxy = proxy.split(";", 1)[0]
    if proxy.startswith(("sip:", "sips:")):
        proxy = proxy.split(":", 1)[1]
    return proxy.split(":", 1)[0].lower()


def test_the_import_refuses_bad_options_before_any_request(emulator, run_playbook, tmp_path):
    result = run_playbook.named("telnyx.sip.import", "-e", json.dumps({"sip_attach_import_overwrite": "maybe"}))
    assert result.rc != 0
    assert ("sip_attach_import_dir is required: the folder to write the inventory into (ansible-playbook "
            "telnyx.sip.import -e sip_attach_import_dir=DIR); sip_attach_import_overwrite must be true or false, got "
            "maybe") in result.stdout
    assert emulator.requests() == []
    assert sorted(name for name in os.listdir(tmp_path) if not name.startswith("results-")) == ["callback_plugins"]
