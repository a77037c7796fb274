"""The fleet rollout run the way AWX runs it: ``ansible-runner run`` over a private data directory.

The credential comes from the shipped credential type (extensions/awx/credential_type_telnyx.yml): its
injectors are rendered with the inputs as AWX renders them (Jinja, a blank input -> an empty string) into
``env/envvars``. The run must succeed against the emulator, and the job events and stdout that
ansible-runner writes (what AWX stores and shows) must hold neither the API key nor any PBX password.
"""

import json
import secrets
import sys

import jinja2
import jinja2.sandbox
import pytest
import yaml

from tests.collection_path import collections_root
from tests.integration.ecosystem.helpers import REPO_ROOT, tool_env, venv_tool

pytestmark = pytest.mark.integration

CREDENTIAL_TYPE = REPO_ROOT / "extensions" / "awx" / "credential_type_telnyx.yml"

ROLLOUT = """\
- name: Roll SIP Attach out to the PBX fleet
  hosts: localhost
  gather_facts: false
  tasks:
    - name: Converge every trunk of every PBX
      telnyx.sip.uac_connections:
        purge_tag: sip-attach
        connections: "{{ groups['pbx'] | map('extract', hostvars, 'sip_attach_trunks') | flatten }}"
      register: rollout

    - name: Report
      ansible.builtin.debug:
        msg: "{{ rollout.counts }}"
"""


def credential_type():
    return yaml.safe_load(CREDENTIAL_TYPE.read_text())


def inject(inputs):
    """The environment AWX gives a job for a credential of this type with these inputs."""
    env = jinja2.sandbox.ImmutableSandboxedEnvironment(undefined=jinja2.ChainableUndefined)
    namespace = {field["id"]: inputs.get(field["id"], "") for field in credential_type()["inputs"]["fields"]}
    return {name: env.from_string(template).render(**namespace)
            for name, template in credential_type()["injectors"]["env"].items()}


def test_credential_type_is_a_valid_awx_definition():
    definition = credential_type()
    assert definition["kind"] == "cloud"
    fields = {field["id"]: field for field in definition["inputs"]["fields"]}
    assert set(fields) == {"api_key", "api_url"}
    assert fields["api_key"]["secret"] is True and fields["api_key"]["type"] == "string"
    assert not fields["api_url"].get("secret")
    assert definition["inputs"]["required"] == ["api_key"]
    assert set(definition["injectors"]) == {"env"}
    assert inject({"api_key": "KEY1", "api_url": "http://x/v2"}) == {
        "TELNYX_API_KEY": "KEY1", "TELNYX_BASE_URL": "http://x/v2"}
    # a blank URL is injected as an empty variable, which the modules treat as unset
    assert inject({"api_key": "KEY1"}) == {"TELNYX_API_KEY": "KEY1", "TELNYX_BASE_URL": ""}


def _private_data_dir(root, envvars, passwords):
    (root / "project").mkdir(parents=True)
    (root / "project" / "rollout.yml").write_text(ROLLOUT)
    hosts = {}
    for index, (pbx, extensions) in enumerate((("pbx-hq", ("1006", "1007")), ("pbx-branch", ("2001",)))):
        trunks = []
        for extension in extensions:
            trunks.append({
                "connection_name": f"{pbx}-{extension}",
                "external_uac_settings": {"proxy": f"sip:{pbx}.example.com:5060", "transport": "TCP",
                                          "username": f"ext{extension}", "password": passwords[extension]},
                "internal_uac_settings": {"destination_uri": f"{extension}@assistant-abc{index}.sip.telnyx.com"},
            })
        hosts[pbx] = {"sip_attach_trunks": trunks}
    inventory = {"all": {"children": {"pbx": {"hosts": hosts}},
                         "hosts": {"localhost": {"ansible_connection": "local",
                                                 "ansible_python_interpreter": sys.executable}}}}
    (root / "inventory").mkdir()
    (root / "inventory" / "hosts.yml").write_text(yaml.safe_dump(inventory, sort_keys=False))
    (root / "env").mkdir()
    (root / "env" / "envvars").write_text(yaml.safe_dump(envvars))
    return root


def _runner(private_data_dir, ident):
    import subprocess  # pylint: disable=import-outside-toplevel
    env = tool_env()
    for name in ("TELNYX_API_KEY", "TELNYX_BASE_URL", "ANSIBLE_COLLECTIONS_PATH"):
        env.pop(name, None)  # everything the job gets comes from env/envvars, as under AWX
    return subprocess.run([venv_tool("ansible-runner"), "run", str(private_data_dir), "-p", "rollout.yml",
                           "--ident", ident], capture_output=True, text=True, env=env, timeout=300,
                          stdin=subprocess.DEVNULL, check=False)


def _job_output(private_data_dir, ident):
    artifacts = private_data_dir / "artifacts" / ident
    events = sorted((artifacts / "job_events").glob("*.json"))
    return artifacts, events, [(path, path.read_text()) for path in events + [artifacts / "stdout"]]


@pytest.mark.leak
def test_fleet_rollout_under_ansible_runner_leaks_no_secret(make_emulator, tmp_path):
    api_key = "KEY" + secrets.token_hex(16)
    emulator = make_emulator("--api-key", api_key)  # only this key is accepted: the injected one is used
    passwords = {ext: "pbx-" + secrets.token_hex(8) for ext in ("1006", "1007", "2001")}
    envvars = inject({"api_key": api_key, "api_url": emulator.api_url})
    envvars.update({"ANSIBLE_COLLECTIONS_PATH": collections_root(), "ANSIBLE_COLLECTIONS_SCAN_SYS_PATH": "False",
                    "ANSIBLE_NOCOLOR": "1"})
    pdd = _private_data_dir(tmp_path / "pdd", envvars, passwords)

    completed = _runner(pdd, "first")
    artifacts, events, outputs = _job_output(pdd, "first")
    stdout = (artifacts / "stdout").read_text() if (artifacts / "stdout").is_file() else ""
    assert completed.returncode == 0 and (artifacts / "rc").read_text().strip() == "0", \
        f"ansible-runner rc={completed.returncode}\n{stdout}\n{completed.stderr}"
    assert (artifacts / "status").read_text().strip() == "successful"
    assert events, "ansible-runner wrote no job events"
    created = {c["connection_name"]: c for c in emulator.call("GET", "/uac_connections").json()["data"]}
    assert set(created) == {"pbx-hq-1006", "pbx-hq-1007", "pbx-branch-2001"}
    assert "changed=1" in stdout

    secrets_ = {"the API key": api_key, **{f"password of {ext}": value for ext, value in passwords.items()}}
    for path, text in outputs:
        for what, value in secrets_.items():
            assert value not in text, f"{what} appears in {path.relative_to(pdd)}"
    # ansible-runner records the job's environment (with the injected key) in artifacts/<ident>/command:
    # that file, and env/envvars, are the only places the key may be; AWX deletes both after the job
    holding = sorted(str(path.relative_to(pdd)) for path in pdd.rglob("*")
                     if path.is_file() and api_key in path.read_text(errors="replace"))
    assert holding == ["artifacts/first/command", "env/envvars"], holding
    # the runner did see the module's result, with the passwords masked
    results = [json.loads(text) for path, text in outputs if path.suffix == ".json"]
    ok = [e for e in results if e.get("event") == "runner_on_ok"
          and e["event_data"].get("task") == "Converge every trunk of every PBX"]
    assert ok and ok[0]["event_data"]["res"]["changed"] is True

    # AWX runs a job template again: nothing to change, and still nothing leaks
    completed = _runner(pdd, "second")
    artifacts, _events, outputs = _job_output(pdd, "second")
    assert completed.returncode == 0, (artifacts / "stdout").read_text()
    assert "changed=0" in (artifacts / "stdout").read_text()
    for path, text in outputs:
        for what, value in secrets_.items():
            assert value not in text, f"{what} appears in {path.relative_to(pdd)}"
