"""Fixtures of the plugin unit tests. Fixtures only: the doubles they set up are in ``fakes.py`` beside this file
(import helpers from there, by package path, never from this file)."""
from __future__ import annotations

import functools
import json

import pytest

from ansible.module_utils import basic
from ansible.module_utils.common.parameters import PASS_VARS

from tests.unit.plugins.fakes import (
    API_KEY,
    API_URL,
    FakeClock,
    FakeRegistrar,
    FakeTransport,
    FakeUacApi,
    client_factory,
    clock_waiter,
    drive,
    patch_args,
    raise_exit,
    raise_fail,
)

# The collection's modules are imported inside the fixtures, never here: this
# file can be loaded before pytest-ansible installs Ansible's collection
# finder, and a collection package imported before it lacks its metadata.


@pytest.fixture
def transport(monkeypatch):
    """Every session the client builds gets this fake adapter (for http:// and https://)."""
    from ansible_collections.telnyx.sip.plugins.module_utils import _client

    fake = FakeTransport()
    monkeypatch.setattr(_client, "HTTPAdapter", lambda **kwargs: fake)
    return fake


@pytest.fixture
def api_key():
    """The API key every fake client and module run uses."""
    return API_KEY


@pytest.fixture
def clock():
    return FakeClock()


@pytest.fixture
def make_client(transport, clock):
    """``make_client(**options)``: a TelnyxClient on the fake transport, fake clock and jitter 1.0 (the top of the range)."""
    return client_factory(clock, api_key=API_KEY, api_url=API_URL, sleep=clock.sleep, jitter=lambda: 1.0)


@pytest.fixture
def api(transport):
    """A FakeUacApi answering every request that no queued response answers."""
    fake = FakeUacApi()
    transport.handler = fake
    return fake


@pytest.fixture
def validations(monkeypatch):
    """The rule checks a test makes: ``{"validate": [...], "validate_update": [...]}``, the connection_name of each call.

    ``_uac.validate`` is a connection's own rules (checked on input),
    ``_uac.validate_update`` those of an update of an existing connection (checked by the planner).
    """
    from ansible_collections.telnyx.sip.plugins.module_utils import _uac

    calls = dict(validate=[], validate_update=[])

    def record(name):
        real = getattr(_uac, name)

        def counted(desired, *args):
            calls[name].append(desired.get("connection_name"))
            return real(desired, *args)
        monkeypatch.setattr(_uac, name, counted)

    for name in calls:
        record(name)
    return calls


@pytest.fixture
def run_module(monkeypatch, transport, clock):
    """``run_module(module, args, check_mode=False, diff=False)`` -> (result, failed).

    Drives ``module.main()`` with ``exit_json``/``fail_json`` patched to raise,
    the API key and URL of the fake API, and the client's sleeps on the fake clock.
    """
    from ansible_collections.telnyx.sip.plugins.module_utils import _module

    monkeypatch.setattr(basic.AnsibleModule, "exit_json", raise_exit)
    monkeypatch.setattr(basic.AnsibleModule, "fail_json", raise_fail)
    monkeypatch.setattr(_module, "TelnyxClient", client_factory(clock, sleep=clock.sleep, jitter=lambda: 1.0))
    monkeypatch.delenv("TELNYX_API_KEY", raising=False)
    monkeypatch.delenv("TELNYX_BASE_URL", raising=False)

    def run(module, args, check_mode=False, diff=False, connection=True):
        args = dict(args)
        if connection:
            args.setdefault("api_key", API_KEY)
            args.setdefault("api_url", API_URL)
        args["_ansible_check_mode"] = check_mode
        args["_ansible_diff"] = diff
        return drive(module, args)

    return run


@pytest.fixture
def run(run_module, request):
    """``run(args, **options)``: ``run_module`` for the test file's ``MODULE``."""
    return functools.partial(run_module, request.module.MODULE)


# -- registration (GET /sip_registration_status) -------------------------------------------
@pytest.fixture
def registrar(api, transport):
    """A FakeRegistrar answering /sip_registration_status, the fake UAC API everything else."""
    fake = FakeRegistrar(api)
    transport.handler = fake
    return fake


@pytest.fixture
def registration_clock(monkeypatch, clock):
    """Registration waits run on the fake clock (``fakes.clock_waiter``)."""
    from ansible_collections.telnyx.sip.plugins.module_utils import _registration

    monkeypatch.setattr(_registration, "Waiter", clock_waiter(clock))
    return clock


@pytest.fixture
def run_module_output(monkeypatch, transport, clock, capsys):
    """``run_module_output(module, args)`` -> (result, failed) as the module prints it.

    Unlike ``run_module``, ``exit_json``/``fail_json`` run for real: the result
    gets its ``invocation`` and Ansible's ``no_log_values`` are removed from it,
    as a controller would receive it. ansible-core 2.22+ also sends the secrets
    the module registered (``_ansible_new_secrets``), which the controller takes
    out of the result before anything sees it: so does this, keeping them in
    ``run.new_secrets`` (None when the module sent none).
    """
    from ansible_collections.telnyx.sip.plugins.module_utils import _module

    monkeypatch.setattr(_module, "TelnyxClient", client_factory(clock, sleep=clock.sleep, jitter=lambda: 1.0))
    monkeypatch.delenv("TELNYX_API_KEY", raising=False)
    monkeypatch.delenv("TELNYX_BASE_URL", raising=False)

    def run(module, args, check_mode=False, diff=False):
        args = dict(args, api_key=API_KEY, api_url=API_URL, _ansible_check_mode=check_mode, _ansible_diff=diff)
        if "inject_invocation" in PASS_VARS:  # 2.21+ add the invocation only when asked (INJECT_INVOCATION)
            args["_ansible_inject_invocation"] = True
        capsys.readouterr()
        with patch_args(args):
            with pytest.raises(SystemExit) as exited:
                module.main()
        out = capsys.readouterr().out
        result = json.loads(out)
        run.new_secrets = result.pop("_ansible_new_secrets", None)
        return result, exited.value.code != 0

    run.new_secrets = None
    return run
