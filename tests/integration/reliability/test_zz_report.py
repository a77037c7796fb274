"""Last of the reliability tests: docs/reliability.md must show what this run recorded.

With TELNYX_RELIABILITY_WRITE=1 (`make reliability-report`) it writes the page instead.
Runs when every recording scenario of this directory ran in this session and recorded (it skips after a
partial run, e.g. -k, or when a scenario failed: that failure is reported already).
"""

import os

import pytest

import reliability_report

pytestmark = [pytest.mark.integration]


def test_docs_reliability_md_is_current(request, session_id):
    if os.environ.get("PYTEST_XDIST_WORKER"):
        pytest.skip("under pytest-xdist the other scenarios may still be running on another worker: `make "
                    "integration` runs this check (tests/tools/reliability_report.py --check) once they all finished")
    here = request.node.path.parent
    on_disk = {path.stem for path in here.glob("test_*.py")}
    collected = {item.path.stem for item in request.session.items if item.path.parent == here}
    if on_disk - collected:
        pytest.skip("partial run (%s not collected), figures not compared" % ", ".join(sorted(on_disk - collected)))
    scenarios = [item.name for item in request.session.items
                 if item.path.parent == here and "record" in getattr(item, "fixturenames", ())]
    recorded = {r["scenario"] for r in reliability_report.load(session_id)}
    missing = [name for name in scenarios if name not in recorded]
    if not scenarios or missing:
        pytest.skip("partial run or failed scenarios, figures not compared: %s" % ", ".join(missing[:5]))
    if os.environ.get("TELNYX_RELIABILITY_WRITE") == "1":  # make reliability-report: write the page
        assert reliability_report.main(["--session", session_id]) == 0
        return
    assert reliability_report.main(["--check", "--session", session_id]) == 0, \
        "docs/reliability.md is stale: run `make reliability-report` and commit it"
