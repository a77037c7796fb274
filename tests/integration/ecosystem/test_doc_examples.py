"""Every EXAMPLES block that ansible-doc shows works as written against the emulator.

Each module's (and filter plugin's) EXAMPLES is wrapped in a play on localhost, with TELNYX_API_KEY and
TELNYX_BASE_URL pointing at the emulator, the ``vault_*`` variables it references given as extra vars, and
the connections it expects to exist created first. A task that cannot run against the emulator is taken out
of the play, with the reason; ``LEFT_OUT`` names each such task, so none drops out of testing unnoticed.
"""

import ast
import json
import re

import pytest
import yaml

from tests.integration.ecosystem.helpers import REPO_ROOT, run, tool_env, venv_tool

pytestmark = pytest.mark.integration

# connections an example expects to find (it reads or changes them without creating them)
EXISTING = {
    "uac_connection_info": ["pbx-hq-1006", "pbx-hq-1007"],
}
# a task that names a connection by a literal id only exists in the account the example was written for
FIXED_ID = re.compile(r"^\s*id:\s*[\"']?\d{6,}", re.M)


def _examples_of(path):
    if path.suffix == ".py":
        for node in ast.parse(path.read_text()).body:
            if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "EXAMPLES" for t in node.targets):
                return ast.literal_eval(node.value)
        return None
    return (yaml.safe_load(path.read_text()) or {}).get("EXAMPLES")


def _blocks():
    found = []
    for kind, folder, pattern in (("module", "modules", "*.py"), ("filter", "filter", "*.py"),
                                  ("filter", "filter", "*.yml")):
        for path in sorted((REPO_ROOT / "plugins" / folder).glob(pattern)):
            if path.name.startswith("_"):
                continue
            text = _examples_of(path)
            if text and text.strip():
                found.append((kind, path.stem, text))
    return found


BLOCKS = _blocks()


def _split(text):
    """(runnable tasks, [(task name, reason)]) of one EXAMPLES block."""
    tasks = yaml.safe_load(text)
    runnable, skipped = [], []
    for task in tasks:
        dumped = yaml.safe_dump(task)
        if "sip_attach_result" in dumped:
            skipped.append((task.get("name"), "reads sip_attach_result, which only a sip_attach role run over an "
                                              "inventory of PBXs sets (test_packaging runs examples/ with the role)"))
        elif "until" in task and "telnyx.sip.uac_registration_info" in task:
            skipped.append((task.get("name"), "waits until Telnyx registers to the PBX, which the emulator does only "
                                              "for a PBX on loopback (tests/integration/roles/test_sip_attach.py runs "
                                              "this wait against one)"))
        elif FIXED_ID.search(dumped):
            skipped.append((task.get("name"), "names a connection by a literal id, which exists only in the "
                                              "account the example was written for (the emulator makes its own ids)"))
        else:
            runnable.append(task)
    return runnable, skipped


def _complete_connection(name):
    return {"connection_name": name,
            "external_uac_settings": {"proxy": "sip:pbx-hq.example.com:5060", "transport": "TCP",
                                      "username": "ext" + name[-4:], "password": "existing-" + name},
            "internal_uac_settings": {"destination_uri": name[-4:] + "@assistant-abc123.sip.telnyx.com"}}


RUNNABLE = [(k, n, text) for k, n, text in BLOCKS if _split(text)[0]]
# The example tasks that cannot run alone against the emulator (see _split for why): a new one must be added here.
LEFT_OUT = [
    ("module", "uac_connection", "Rename a connection by id"),
    ("module", "uac_registration_info", "Wait until Telnyx has registered every connection (a line per retry says how "
                                        "many have)"),
    ("filter", "sip_attach_host_results", 'Show the Telnyx FQDN of this PBX\'s trunk "main"'),
    ("filter", "sip_attach_report", "Write the report files"),
    ("filter", "sip_attach_worksheet", "List what each PBX must configure"),
]


@pytest.mark.smoke
@pytest.mark.parametrize("kind, name, text", RUNNABLE, ids=[f"{k}:{n}" for k, n, _text in RUNNABLE])
def test_examples_run_against_the_emulator(emulator, run_playbook, kind, name, text):
    runnable = _split(text)[0]
    for existing in EXISTING.get(name, []):
        created = emulator.call("POST", "/uac_connections", _complete_connection(existing))
        assert created.status_code == 201, created.text
    names = set(re.findall(r"\b(vault_\w+)", text))
    extra = {var: (emulator.api_key if var == "vault_telnyx_api_key" else "doc-example-" + var) for var in names}
    result = run_playbook.tasks(runnable, "-e", json.dumps(extra))
    assert result.rc == 0, f"{kind} {name} EXAMPLES failed:\n{result.stdout}\n{result.stderr}"
    assert result.stats["localhost"].get("failures", 0) == 0


def test_only_the_listed_examples_are_left_out_each_with_its_reason():
    left_out = [(k, n, task, reason) for k, n, text in BLOCKS for task, reason in _split(text)[1]]
    assert [(k, n, task) for k, n, task, _reason in left_out] == LEFT_OUT
    assert all(reason for *_names, reason in left_out)


def test_every_module_has_examples_that_ansible_doc_shows():
    modules = sorted(p.stem for p in (REPO_ROOT / "plugins" / "modules").glob("*.py") if not p.stem.startswith("_"))
    assert modules and all(("module", m) in {(k, n) for k, n, _text in BLOCKS} for m in modules)
    doc = run([venv_tool("ansible-doc"), "--json", "-t", "module", *[f"telnyx.sip.{m}" for m in modules]],
              env=tool_env())
    shown = json.loads(doc.stdout)
    for kind, name, text in BLOCKS:
        if kind == "module":
            assert shown[f"telnyx.sip.{name}"]["examples"].strip() == text.strip()


def test_role_entry_point_is_documented():
    if not (REPO_ROOT / "roles" / "sip_attach" / "meta" / "argument_specs.yml").is_file():
        pytest.skip("roles/sip_attach/meta/argument_specs.yml does not exist yet")
    doc = run([venv_tool("ansible-doc"), "--json", "-t", "role", "telnyx.sip.sip_attach"], env=tool_env())
    entry_points = json.loads(doc.stdout)["telnyx.sip.sip_attach"]["entry_points"]
    assert "main" in entry_points and entry_points["main"].get("short_description")
