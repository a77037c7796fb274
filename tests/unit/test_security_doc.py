"""docs/security.md names the tests that hold each rule: every file and test it names exists."""

import re
from pathlib import Path

import pytest

from tests.collection_path import REPO_ROOT

pytestmark = pytest.mark.unit

PAGE = Path(REPO_ROOT) / "docs" / "security.md"


def test_every_test_the_security_page_names_exists():
    text = PAGE.read_text(encoding="utf-8")
    files = set(re.findall(r"`(tests/[\w/]+\.py)", text))
    names = set(re.findall(r"\b(test_\w+)`", text))
    assert files and len(names) >= 15, "the page no longer names its tests the way this check reads them"
    missing_files = [name for name in files if not (Path(REPO_ROOT) / name).is_file()]
    assert not missing_files, "docs/security.md names files that do not exist: %s" % missing_files
    defined = set()
    for path in Path(REPO_ROOT, "tests").rglob("test_*.py"):
        defined.update(re.findall(r"^def (test_\w+)\(", path.read_text(encoding="utf-8"), re.MULTILINE))
    missing = sorted(names - defined)
    assert not missing, "docs/security.md names tests that do not exist: %s" % missing
