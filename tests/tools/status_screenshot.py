"""The screenshots of docs/status.md: the status page of a made-up fleet of 200 trunks, in headless Chromium.

    .venv/bin/python tests/tools/status_screenshot.py      # writes docs/images/status-page*.png

The fleet: 100 PBX hosts in 10 sites, 2 trunks each, with what a fleet sees on a bad morning - a PBX refusing
Telnyx's credentials (401), one banning it (403, fail2ban), PBXs that do not answer (408), an inactive
connection, a trunk not rolled out yet - and the rest registered. The page is rendered by the collection's own
filter (plugins/filter/sip_attach_status.py), exactly as the check writes it.
"""
from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from tests.collection_path import collections_root  # noqa: E402

sys.path.insert(0, collections_root())

from ansible_collections.telnyx.sip.plugins.filter import sip_attach_status as status  # noqa: E402
from tests.tools.browser import screenshot  # noqa: E402

NOW = 1767258000.0  # 2026-01-01T09:00:00Z
SITES = ["london", "paris", "berlin", "madrid", "austin", "boston", "denver", "toronto", "sydney", "tokyo"]
APPS = ["assistant-3fa85f64-5717-4562-b3fc-2c963f66afa6", "cc-app-2046", "assistant-9b1deb4d-3b7d-4bad-9bdd-2b0d7b3dcb6d"]


def fleet():
    rows, connections, registrations = [], [], []
    for index in range(100):
        site = SITES[index % len(SITES)]
        host = "pbx-%s-%02d" % (site, index // len(SITES) + 1)
        for trunk, ext in (("reception", 1000 + index), ("sales", 2000 + index)):
            name = "%s-%s" % (host, trunk)
            destination = "%d@%s.sip.telnyx.com" % (ext, APPS[(index + len(trunk)) % len(APPS)])
            rows.append(dict(pbx_host=host, site=site, trunk=trunk, state="present", connection_name=name,
                             destination_uri=destination, proxy="%s.example.net" % host, username="ext%d" % ext))
            case = (index * 2 + (trunk == "sales")) % 200
            if case == 57:
                continue  # not rolled out
            connections.append(dict(id=str(4000 + len(connections)), connection_name=name, active=case != 91,
                                    internal_uac_settings=dict(destination_uri=destination),
                                    external_uac_settings=dict(proxy="%s.example.net" % host, username="ext%d" % ext)))
            details = dict(failures=0, uptime=int((NOW - 86400 * (1 + index % 9)) * 1e6))
            found = dict(registered=True, sip_registration_status="registered", last_registration_response="200 OK",
                         sip_registration_details=details)
            if case in (12, 13):
                found = dict(registered=False, sip_registration_status="failed",
                             last_registration_response="401 Unauthorized", sip_registration_details=dict(failures=212))
            elif case == 44:
                found = dict(registered=False, sip_registration_status="failed",
                             last_registration_response="403 Forbidden", sip_registration_details=dict(failures=35))
            elif case in (130, 131, 170):
                found = dict(registered=False, sip_registration_status="failed",
                             last_registration_response="408 Request Timeout", sip_registration_details=dict(failures=9))
            elif case == 91:
                found = dict(registered=False, sip_registration_status="connection_disabled")
            registrations.append(dict(connection_name=name, registration=found))
    return rows, connections, registrations


def main():
    out = ROOT / "tests" / "output" / "status-screenshot"
    out.mkdir(parents=True, exist_ok=True)
    for old in out.iterdir():
        old.unlink()
    rows, connections, registrations = fleet()
    # an earlier look, four hours before, saw every trunk registered
    earlier = status.sip_attach_status(rows, connections=connections, registrations=[
        dict(line, registration=dict(registered=True, sip_registration_status="registered"))
        for line in registrations], report_dir=str(out), now=NOW - 4 * 3600)
    for item in earlier["files"]:
        (out / item["name"]).write_text(item["content"])
    # and a look 40 minutes ago saw them refused already: since then, they are failed
    middle = status.sip_attach_status(rows, connections=connections, registrations=registrations,
                                      report_dir=str(out), now=NOW - 40 * 60)
    for item in middle["files"]:
        (out / item["name"]).write_text(item["content"])
    result = status.sip_attach_status(rows, connections=connections, registrations=registrations,
                                      report_dir=str(out), now=NOW)
    for item in result["files"]:
        (out / item["name"]).write_text(item["content"])
    page = out / status.PAGE_NAME
    images = ROOT / "docs" / "images"
    images.mkdir(exist_ok=True)
    screenshot(page, images / "status-page.png", window="1280,1000")
    screenshot(page, images / "status-page-phone.png", window="390,844")
    print("%s: %s" % (page, result["counts"]))
    print("screenshots: %s, %s" % (images / "status-page.png", images / "status-page-phone.png"))


if __name__ == "__main__":
    main()
