"""Fixtures of the module integration tests (the harness itself is tests/integration/conftest.py)."""

import pytest

from .helpers import CLEAR_API_KEY

# An emulator serving passwords in clear (as older accounts see them) and accepting only this key:
# shared by every test that asks for it, so Prism starts once for them all.
CLEAR_OPTIONS = ("--plaintext-passwords", "--api-key", CLEAR_API_KEY)


@pytest.fixture
def clear(make_emulator):
    """The emulator with clear passwords and a fixed API key, reset."""
    return make_emulator(*CLEAR_OPTIONS)


@pytest.fixture
def run_clear(clear, run_playbook):
    """run_clear(tasks, *args): run_playbook.tasks against the ``clear`` emulator with its key."""

    def run(tasks, *args, **kwargs):
        return run_playbook.tasks(tasks, *args, api_key=clear.api_key, base_url=clear.api_url, **kwargs)

    return run
