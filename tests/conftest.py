"""Shared pytest setup for the unit and integration tests.

At import time (before pytest-ansible's ``pytest_configure`` runs, which with
``--ansible-unit-inject-only`` from pytest.ini only reads
``ANSIBLE_COLLECTIONS_PATH``) the collection is made importable as
``ansible_collections.telnyx.sip`` from a directory outside the work tree;
see :mod:`tests.collection_path`.
"""
from __future__ import annotations

import os
import sys

import pytest

from tests.collection_path import collections_root

_ROOT = collections_root()
if _ROOT not in sys.path:
    sys.path.insert(0, _ROOT)
_paths = [p for p in os.environ.get('ANSIBLE_COLLECTIONS_PATH', '').split(os.pathsep) if p and p != _ROOT]
os.environ['ANSIBLE_COLLECTIONS_PATH'] = os.pathsep.join([_ROOT] + _paths)

MARKERS = (
    'integration: runs modules/playbooks against the local emulator or Prism mock server',
    'slow: takes more than a few seconds; deselect with -m "not slow"',
    'unit: fast tests with no server and no subprocess',
    'leak: a secret-leak test (results, diffs, warnings, -vvv, reports); make matrix runs these under every '
    'supported ansible-core',
    'smoke: the example playbooks, every module and the role end to end against the emulator; make matrix runs '
    'these under the oldest supported ansible-core',
)


def pytest_configure(config: pytest.Config) -> None:
    """Register the project's markers (pytest.ini runs with --strict-markers)."""
    for marker in MARKERS:
        config.addinivalue_line('markers', marker)
