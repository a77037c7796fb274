"""The integration tests' harness: the emulator behind Prism, and ansible-playbook runs against it.

Imported by package path (``from tests.integration.harness import PlaybookRunner``) by the fixtures of
``tests/integration/conftest.py`` and by the suites' own helpers; a conftest is never imported.

- ``Emulator``: one emulator process (and its Prism proxy when the contract check is on).
- ``PlaybookRunner`` / ``PlaybookResult``: ansible-playbook on localhost against an emulator, and what it did.
- ``contract_check()``: whether the spec and Prism are found; ``free_port()``.
"""

import json
import os
import select
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
import requests
import yaml

from tests.collection_path import collections_root

REPO_ROOT = Path(__file__).resolve().parents[2]
SPEC_NAME = "uac_connections.openapi.yaml"
DEFAULT_API_KEY = "integration-test-key"
START_TIMEOUT = 60  # seconds; Prism takes a few seconds to load the spec
WRITE_METHODS = ("POST", "PATCH", "PUT", "DELETE")


def spec_path():
    folder = os.environ.get("TELNYX_SPEC_DIR") or REPO_ROOT.parent / "shared" / "telnyx-api"
    return Path(folder) / SPEC_NAME


def prism_binary():
    if os.environ.get("PRISM"):  # a name on PATH or a path; one that is not there counts as missing
        return shutil.which(os.environ["PRISM"])
    local = REPO_ROOT / ".tools" / "node_modules" / ".bin" / "prism"
    if local.is_file():
        return str(local)
    return shutil.which("prism")


def contract_status():
    """((spec, prism), None) when the contract check can run, else (None, the reason it cannot)."""
    spec, prism = spec_path(), prism_binary()
    if not spec.is_file():
        return None, f"the spec {spec} was not found (set TELNYX_SPEC_DIR to the folder holding {SPEC_NAME})"
    if not prism:
        return None, ("Prism was not found (run `make prism`, or "
                      "`npm install --prefix .tools @stoplight/prism-cli@5`, or set PRISM)")
    return (str(spec), prism), None


def status_line(found, reason):
    if found is None:
        return f"contract check SKIPPED: {reason}; the API calls go to the emulator directly"
    return f"contract check ON: API calls cross `prism proxy --errors` ({found[1]}) on {found[0]}"


def contract_check():
    """(spec, prism) when the contract check can run, else (None, reason); fails in CI without Prism."""
    found, reason = contract_status()
    if found is None and spec_path().is_file() and os.environ.get("CI"):
        pytest.fail(f"CI: the spec is present but {reason}; refusing to skip the contract check")
    return found, reason


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_for(predicate, process, what, log_path):
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{what} exited with {process.returncode}:\n{Path(log_path).read_text()}")
        if predicate():
            return
        time.sleep(0.1)
    process.kill()
    raise RuntimeError(f"{what} did not start in {START_TIMEOUT}s:\n{Path(log_path).read_text()}")


def _stop(process):
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)
    return process.returncode


class Emulator:
    """A running emulator (``python -m tests.emulator``), optionally behind a Prism proxy.

    ``api_url`` is what clients use (Prism's root, or the emulator's ``/v2``); ``direct_url`` is the
    emulator itself, where the ``/_emulator/`` hooks are read.
    """

    def __init__(self, options=(), prism=None):
        self.options = tuple(options)
        self.api_key = self._option("--api-key") or DEFAULT_API_KEY
        self._logs = tempfile.mkdtemp(prefix="telnyx-emulator-")
        self._prism = None
        self._process = self._start_emulator()
        self.api_url = self.direct_url + "/v2"
        if prism:
            self._start_prism(*prism)

    def _option(self, name):
        if name in self.options:
            return self.options[self.options.index(name) + 1]
        return None

    @property
    def via_prism(self):
        return self._prism is not None

    @property
    def log_path(self):
        return os.path.join(self._logs, "emulator.log")

    def _start_emulator(self):
        command = [sys.executable, "-m", "tests.emulator", "--host", "127.0.0.1", "--port", "0", *self.options]
        with open(self.log_path, "wb") as log:
            process = subprocess.Popen(command, cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=log,
                                       stdin=subprocess.DEVNULL, text=True)
        ready = select.select([process.stdout], [], [], START_TIMEOUT)[0]
        line = process.stdout.readline() if ready else ""  # the one ready line ('' if it died or hung)
        process.stdout.close()
        if not line.startswith("telnyx-emulator listening on "):
            _stop(process)
            raise RuntimeError(f"emulator did not start: {line!r}\n{Path(self.log_path).read_text()}")
        self.direct_url = line.split(" on ", 1)[1].strip()
        return process

    def _start_prism(self, spec, binary):
        port = free_port()
        log_path = os.path.join(self._logs, "prism.log")
        command = [binary, "proxy", spec, self.api_url, "--errors", "--port", str(port), "--host", "127.0.0.1"]
        with open(log_path, "wb") as log:
            self._prism = subprocess.Popen(command, cwd=REPO_ROOT, stdout=log, stderr=subprocess.STDOUT,
                                           stdin=subprocess.DEVNULL)

        def listening():
            if "Prism is listening" not in Path(log_path).read_text(errors="replace"):
                return False
            with socket.socket() as sock:
                return sock.connect_ex(("127.0.0.1", port)) == 0

        _wait_for(listening, self._prism, "prism", log_path)
        self.api_url = f"http://127.0.0.1:{port}"

    # -- hooks (read from the emulator directly, never through Prism) --

    def requests(self):
        """Every API request since the last reset: dicts with method, path, query (dict), status, body."""
        response = requests.get(f"{self.direct_url}/_emulator/requests", timeout=10)
        response.raise_for_status()
        return response.json()["data"]

    def calls(self):
        """Every call a PBX sent to a contact the emulator registered: dicts with connection_id, connection_name,
        user, destination_uri, status (int), state, ended_by, call_id, from, transport, at."""
        response = requests.get(f"{self.direct_url}/_emulator/calls", timeout=10)
        response.raise_for_status()
        return response.json()["data"]

    def writes(self):
        """The logged requests that write: POST, PATCH and DELETE."""
        return [entry for entry in self.requests() if entry["method"] in WRITE_METHODS]

    def reset(self):
        requests.post(f"{self.direct_url}/_emulator/reset", timeout=10).raise_for_status()

    # -- the API, for setting up and inspecting state in tests --

    def call(self, method, path, json_body=None, params=None, headers=None, direct=False):
        """One API request (through Prism unless ``direct``); ``path`` is relative, e.g. '/uac_connections'."""
        base = self.direct_url + "/v2" if direct else self.api_url
        headers = dict({"Authorization": f"Bearer {self.api_key}"}, **(headers or {}))
        return requests.request(method, base + path, json=json_body, params=params, headers=headers, timeout=30)

    def stop(self):
        """Stop Prism and the emulator; returns the emulator's exit code (0 on a clean SIGTERM)."""
        if self._prism is not None:
            _stop(self._prism)
        code = _stop(self._process)
        shutil.rmtree(self._logs, ignore_errors=True)
        return code


# A callback plugin that records every task's result per host in a JSON file, so tests read results
# while stdout keeps Ansible's usual human-readable output. (ansible-core 2.19 has no built-in
# `json` callback: it moved to ansible.posix.) Written next to each run's playbook.
RESULTS_CALLBACK = """
import json
import os

from ansible.plugins.callback import CallbackBase
from ansible.vars.clean import module_response_deepcopy, strip_internal_keys


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = 'aggregate'
    CALLBACK_NAME = 'telnyx_test_results'
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.plays, self.tasks = [], {}
        # (task, host) -> each loop item's failed flag, in order: ansible-core 2.22 no longer shows callbacks
        # the `failed` key of an item's result (the item_on_failed call says it), which the tests read
        self.item_failed = {}

    def v2_playbook_on_play_start(self, play):
        self.plays.append({'play': {'name': play.get_name()}, 'tasks': []})

    def v2_playbook_on_task_start(self, task, is_conditional=False):
        entry = {'task': {'name': task.get_name(), 'action': task.action}, 'hosts': {}}
        self.tasks[task._uuid] = entry
        self.plays[-1]['tasks'].append(entry)

    v2_playbook_on_handler_task_start = v2_playbook_on_task_start

    def _record(self, result, **flags):
        data = strip_internal_keys(module_response_deepcopy(result._result))
        data.update(flags)
        failed = self.item_failed.pop((result._task._uuid, result._host.get_name()), [])
        for item, item_failed in zip(data.get('results') or [], failed):
            if item_failed and isinstance(item, dict):
                item.setdefault('failed', True)
        entry = self.tasks.get(result._task._uuid)
        if entry is not None:
            entry['hosts'][result._host.get_name()] = data

    def _item(self, result, failed):
        self.item_failed.setdefault((result._task._uuid, result._host.get_name()), []).append(failed)

    def v2_runner_item_on_ok(self, result):
        self._item(result, False)

    def v2_runner_item_on_failed(self, result):
        self._item(result, True)

    def v2_runner_item_on_skipped(self, result):
        self._item(result, False)

    def v2_runner_on_ok(self, result, **kwargs):
        self._record(result)

    def v2_runner_on_failed(self, result, ignore_errors=False, **kwargs):
        self._record(result, failed=True)

    def v2_runner_on_skipped(self, result, **kwargs):
        self._record(result, skipped=True)

    def v2_runner_on_unreachable(self, result, **kwargs):
        self._record(result, unreachable=True)

    def v2_playbook_on_stats(self, stats):
        summary = {host: stats.summarize(host) for host in sorted(stats.processed)}
        with open(os.environ['TELNYX_TEST_RESULTS'], 'w') as handle:
            json.dump({'plays': self.plays, 'stats': summary}, handle, default=str)
"""
RESULTS_CALLBACK_NAME = "telnyx_test_results"


class PlaybookResult:
    """The outcome of one ansible-playbook run: rc, stdout, stderr and per-task results.

    ``data`` is ``{"plays": [{"play": {...}, "tasks": [{"task": {"name", "action"}, "hosts": {host:
    result}}]}], "stats": {host: {"ok", "changed", "failures", ...}}}``, or None when the run ended
    before the playbook started (syntax error, missing collection...).
    """

    def __init__(self, command, completed, playbook_path, parsed):
        self.command, self.playbook_path = command, playbook_path
        self.rc, self.stdout, self.stderr = completed.returncode, completed.stdout, completed.stderr
        self.data = parsed

    def __repr__(self):
        return f"<PlaybookResult rc={self.rc} {self.playbook_path}>"

    def _require_data(self):
        if self.data is None:
            raise AssertionError(f"no task results (rc={self.rc}); stdout:\n{self.stdout}\nstderr:\n{self.stderr}")
        return self.data

    def tasks(self, name=None, host="localhost"):
        """Module results for ``host`` of every task run (named ``name`` if given), in order."""
        found = []
        for play in self._require_data()["plays"]:
            for task in play["tasks"]:
                if (name is None or task["task"]["name"] == name) and host in task["hosts"]:
                    found.append(task["hosts"][host])
        return found

    def task(self, name, host="localhost"):
        """The module result (a dict) of the last task named ``name`` for ``host``."""
        found = self.tasks(name, host)
        if not found:
            names = [task["task"]["name"] for play in self._require_data()["plays"] for task in play["tasks"]]
            raise KeyError(f"no result for task {name!r} on {host}; tasks run: {names}\n"
                           f"stdout:\n{self.stdout}\nstderr:\n{self.stderr}")
        return found[-1]

    @property
    def stats(self):
        """Per-host counters (ok, changed, failures, skipped, ...)."""
        return self._require_data()["stats"]


class PlaybookRunner:
    """Runs ``<venv>/bin/ansible-playbook -i localhost, -c local`` against an emulator.

    ``local=False``: no ``-i localhost, -c local -e ansible_python_interpreter=...``; the caller's ``-i`` names
    the hosts and their variables say how to reach them (e.g. the SSH hosts of tests/tools/pbx_host.py).
    """

    def __init__(self, tmp_path, emulator_handle, local=True):
        self.tmp_path, self.emulator, self.local = tmp_path, emulator_handle, local
        self.binary = str(Path(sys.executable).parent / "ansible-playbook")
        self.callbacks = tmp_path / "callback_plugins"
        self.callbacks.mkdir(exist_ok=True)
        (self.callbacks / f"{RESULTS_CALLBACK_NAME}.py").write_text(RESULTS_CALLBACK)
        self._count = 0

    def environment(self, results_path, api_key=None, base_url=None, extra=None):
        env = dict(os.environ)
        enabled = [name for name in env.get("ANSIBLE_CALLBACKS_ENABLED", "").split(",") if name.strip()]
        env.update({
            "ANSIBLE_COLLECTIONS_PATH": collections_root(),
            "ANSIBLE_COLLECTIONS_SCAN_SYS_PATH": "False",
            "ANSIBLE_CALLBACK_PLUGINS": str(self.callbacks),
            "ANSIBLE_CALLBACKS_ENABLED": ",".join(enabled + [RESULTS_CALLBACK_NAME]),
            "TELNYX_TEST_RESULTS": str(results_path),
            "ANSIBLE_NOCOLOR": "1",
            "ANSIBLE_FORCE_COLOR": "0",
            "ANSIBLE_HOST_KEY_CHECKING": "False",
            "ANSIBLE_LOCALHOST_WARNING": "False",
            "ANSIBLE_INVENTORY_UNPARSED_WARNING": "False",
            "ANSIBLE_RETRY_FILES_ENABLED": "False",
            "TELNYX_API_KEY": self.emulator.api_key if api_key is None else api_key,
            "TELNYX_BASE_URL": self.emulator.api_url if base_url is None else base_url,
        })
        env.update(extra or {})
        return env

    def __call__(self, playbook, *args, api_key=None, base_url=None, env=None, timeout=300):
        """Run ``playbook`` (YAML text, a play dict or a list of plays) with extra CLI ``args``.

        ``api_key``/``base_url`` override TELNYX_API_KEY/TELNYX_BASE_URL (default: the emulator's);
        ``env`` adds or overrides variables (e.g. ``{"ANSIBLE_STDOUT_CALLBACK": "ansible.builtin.minimal"}``).
        Returns a PlaybookResult; its ``rc`` is not checked.
        """
        self._count += 1
        path = self.tmp_path / f"playbook-{self._count}.yml"
        if not isinstance(playbook, str):
            playbook = yaml.safe_dump([playbook] if isinstance(playbook, dict) else playbook, sort_keys=False)
        path.write_text(playbook)
        return self._run(path, args, api_key, base_url, env, timeout, self.tmp_path)

    def named(self, name, *args, api_key=None, base_url=None, env=None, timeout=300, cwd=None):
        """Run a collection's playbook by its name, as users do (``ansible-playbook telnyx.sip.import``), in ``cwd``
        (default: the test's ``tmp_path``). Returns a PlaybookResult."""
        self._count += 1
        return self._run(name, args, api_key, base_url, env, timeout, cwd or self.tmp_path)

    def _run(self, playbook, args, api_key, base_url, env, timeout, cwd):
        results_path = self.tmp_path / f"results-{self._count}.json"
        local = ["-i", "localhost,", "-c", "local", "-e", json.dumps({"ansible_python_interpreter": sys.executable})]
        command = [self.binary, *(local if self.local else []), *args, str(playbook)]
        completed = subprocess.run(
            command, cwd=cwd, capture_output=True, text=True, timeout=timeout, check=False,
            stdin=subprocess.DEVNULL, env=self.environment(results_path, api_key, base_url, env))
        parsed = json.loads(results_path.read_text()) if results_path.is_file() else None
        return PlaybookResult(command, completed, playbook, parsed)

    def tasks(self, tasks, *args, **kwargs):
        """Run a list of tasks as one play on localhost without fact gathering."""
        play = {"name": "integration test", "hosts": "localhost", "gather_facts": False, "tasks": tasks}
        return self(play, *args, **kwargs)
