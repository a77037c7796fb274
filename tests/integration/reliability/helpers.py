"""What the reliability tests share besides fixtures: the fault-injecting emulator handle, leak-checked runs.

Import these from here (``from tests.integration.reliability.helpers import ...``), never from conftest.
"""

import json
import time

import requests

from tests.integration.harness import PlaybookRunner

__all__ = ["API_KEY", "Faulty", "LeakChecked", "PlaybookRunner"]

API_KEY = "rel-KEY-7f3a9c2e51d84b06"  # distinctive, so that a leak is found by a substring search
FAULT_DEFAULTS = None  # FaultSettings().as_dict(), filled at first use


class Faulty:
    """An emulator handle plus its fault hook: ``arm(**settings)``, ``disarm()``, log helpers."""

    def __init__(self, handle):
        self.handle = handle

    def __getattr__(self, name):
        return getattr(self.handle, name)

    def faults(self, **settings):
        response = requests.post(f"{self.handle.direct_url}/_emulator/faults", json=settings, timeout=10)
        assert response.status_code == 200, response.text
        return response.json()["data"]

    def disarm(self):
        global FAULT_DEFAULTS
        if FAULT_DEFAULTS is None:
            from tests.emulator.faults import FaultSettings
            FAULT_DEFAULTS = FaultSettings().as_dict()
        return self.faults(**FAULT_DEFAULTS)

    def injected(self, log=None, fault=None):
        """Logged requests that carried an injected fault (of that name)."""
        log = self.handle.requests() if log is None else log
        return [e for e in log if e.get("fault") and (fault is None or e["fault"] == fault)]

    def connections(self):
        response = self.handle.call("GET", "/uac_connections", params={"page[size]": 250}, direct=True)
        data, pages = response.json()["data"], response.json()["meta"]["total_pages"]
        for page in range(2, pages + 1):
            data += self.handle.call("GET", "/uac_connections", params={"page[size]": 250, "page[number]": page},
                                     direct=True).json()["data"]
        return data

    def connections_by_name(self, name):
        return [c for c in self.connections() if c["connection_name"] == name]

    def create(self, body):
        response = self.handle.call("POST", "/uac_connections", json_body=body, direct=True)
        assert response.status_code == 201, response.text
        return response.json()["data"]


class LeakChecked:
    """Runs playbooks with ``-vvv --diff`` and checks that no secret shows, unless revealed on purpose."""

    def __init__(self, runner):
        self.runner = runner
        self.checks = 0
        self.seconds = 0.0

    def tasks(self, tasks, *args, secrets=(), revealed=(), module_defaults=None, hosts="localhost", **kwargs):
        """Run ``tasks`` (each with ``register``) as one play, print every registered result, check leaks."""
        printed = []
        for task in tasks:
            printed.append(task)
            if task.get("register"):
                printed.append({"name": f"print {task['register']}",
                                "ansible.builtin.debug": {"var": task["register"]}})
        play = {"name": "reliability", "hosts": hosts, "gather_facts": False, "tasks": printed}
        if module_defaults:
            play["module_defaults"] = module_defaults
        return self.play(play, *args, secrets=secrets, revealed=revealed, **kwargs)

    def play(self, play, *args, secrets=(), revealed=(), **kwargs):
        start = time.monotonic()
        result = self.runner(play, "-vvv", "--diff", *args, **kwargs)
        self.seconds += time.monotonic() - start
        self.check(result, secrets, revealed)
        return result

    def check(self, result, secrets, revealed=()):
        """No secret of ``secrets`` (plus the API key) in stdout, stderr or the results; ``revealed`` may show."""
        text = "\n".join([result.stdout, result.stderr, json.dumps(result.data, default=str)])
        for secret in {API_KEY, *secrets}:
            if secret in revealed:
                continue
            self.checks += 1
            assert secret not in text, f"secret {secret[:4]}... leaked into the output of {result.playbook_path}"
