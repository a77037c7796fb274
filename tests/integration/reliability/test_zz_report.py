"""Last of the reliability tests: docs/reliability.md must show what this run recorded.

With TELNYX_RELIABILITY_WRITE=1 (`make reliability-report`) it writes the page instead. Runs when every recording scenario of this directory ran in this session and recorded (it skips after a
partial run, e.g. -k, or when a scenario failed: that failure is reported already).
"""

import os

import pytest

import reliability_report

pytestmark = [pytest.mark.integration]


def test_docs_reliability_md_is_current(request, session_id):
    here = request.node.path.parent
    scenarios = [item.name for item in request.session.items
                 if item.path.parent == here and "record" in getattr(item, "fixturenames", ())]
    recorded = {r["scenario"] for r in reliability_report.load(session_id)}
    missing = [name for name in scenarios if name not in recorded]
    if not scenarios or missing:
        pytest.skip("partial run or failed scenarios, figures not compared: %s" % ", ".join(missing[:5]))
    expected = {item.name for item in request.session.items if item.path.parent == here} - {request.node.name}
    if not expected <= set(scenarios) | {i.name for i in request.session.items if "record" not in i.fixturenames}:
        pytest.skip("partial run")
    if os.environ.get("TELNYX_RELIABILITY_WRITE") == "1":  # make reliability-report: write the page
        assert reliability_report.main(["--session", session_id]) == 0
        return
    assert reliability_report.main(["--check", "--session", session_id]) == 0, \
        "docs/reliability.md is stale: run `make reliability-report` and commit it"
