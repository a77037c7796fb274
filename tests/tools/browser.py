"""Headless Chromium (Debian's `chromium`, `make browser-tools`) for the status page's tests, the docs'
screenshot and the benchmark: open a local file, give back the DOM after its script ran, or a screenshot.

Nothing may leave the machine: every run uses a fresh profile, the flags that turn Chromium's own
background traffic off, and a proxy for everything (loopback too). The proxy is ``RecordingProxy``: a
socket on 127.0.0.1 that records each connection attempt and answers nothing, so a page that tried to
fetch anything is caught (``attempts``).
"""
from __future__ import annotations

import re
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from html.parser import HTMLParser
from pathlib import Path

FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--no-first-run", "--no-default-browser-check", "--disable-sync",
         "--disable-extensions", "--disable-default-apps", "--metrics-recording-only", "--mute-audio",
         "--disable-features=OptimizationHints,MediaRouter,Translate,AutofillServerCommunication",
         "--disable-dev-shm-usage")


def find_chromium():
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    return None


_CHROMIUM_OWN = re.compile(r"^\S+ (?:https?://)?[a-z0-9.-]*\.(?:google\.com|googleapis\.com|gstatic\.com|gvt1\.com)[:/]")


class RecordingProxy:
    """A proxy that refuses everything and records what was attempted (the first line of each request)."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.attempts = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self):
        while not self._stop.is_set():
            try:
                conn, _peer = self.sock.accept()
            except OSError:
                continue
            with conn:
                conn.settimeout(1)
                try:
                    data = conn.recv(4096)
                except OSError:
                    data = b""
                self.attempts.append(data.split(b"\r\n", 1)[0].decode("latin-1") or "(connection)")

    def page_attempts(self):
        """The attempts that are not Chromium's own (its clock, update and account services, which it contacts
        whatever the page, flags or not): what a page tried to fetch."""
        return [line for line in self.attempts if not _CHROMIUM_OWN.search(line)]

    def close(self):
        self._stop.set()
        self._thread.join(2)
        self.sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def run_chromium(url, *args, proxy_port=None, timeout=120, window="1280,900"):
    """Run Chromium once on ``url`` with ``args``; returns (completed process, seconds it took)."""
    binary = find_chromium()
    if binary is None:
        raise RuntimeError("chromium is not installed: run `make browser-tools` (apt-get install -y chromium)")
    profile = tempfile.mkdtemp(prefix="telnyx-chromium-")
    command = [binary, *FLAGS, "--user-data-dir=" + profile, "--window-size=" + window]
    if proxy_port is not None:
        command += ["--proxy-server=http://127.0.0.1:%d" % proxy_port, "--proxy-bypass-list=<-loopback>"]
    command += [*args, url]
    started = time.monotonic()
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False,
                              stdin=subprocess.DEVNULL)
    finally:
        shutil.rmtree(profile, ignore_errors=True)
    return done, time.monotonic() - started


def file_url(path, fragment=""):
    return Path(path).resolve().as_uri() + (("#" + fragment) if fragment else "")


def dump_dom(path, fragment="", proxy_port=None):
    """The page's DOM once it has loaded and its script has run."""
    done, _seconds = run_chromium(file_url(path, fragment), "--dump-dom", proxy_port=proxy_port)
    if done.returncode != 0 or "<html" not in done.stdout:
        raise RuntimeError("chromium --dump-dom failed (%s): %s" % (done.returncode, done.stderr[-2000:]))
    return done.stdout


def screenshot(path, out, window="1280,900", proxy_port=None):
    """A PNG of the page (parsed, laid out and painted); returns the seconds Chromium took."""
    done, seconds = run_chromium(file_url(path), "--screenshot=" + str(out), "--hide-scrollbars",
                                 proxy_port=proxy_port, window=window)
    if done.returncode != 0 or not Path(out).is_file():
        raise RuntimeError("chromium --screenshot failed (%s): %s" % (done.returncode, done.stderr[-2000:]))
    return seconds


class _Rows(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.rows, self.counts, self.root = [], {}, {}
        self._count = None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "html":
            self.root = attrs
        if tag == "tr" and "data-state" in attrs:
            self.rows.append(attrs)
        if "data-count" in attrs:
            self._count = attrs["data-count"]

    def handle_data(self, data):
        if self._count is not None and data.strip():
            self.counts[self._count] = int(data.strip())
            self._count = None


def page_rows(dom):
    """(rows, counts, root attributes) of a status page's DOM: each row's data-* attributes and ``hidden``
    (present when the filter hides it), the counts at the top by state, and the <html> element's attributes."""
    parser = _Rows()
    parser.feed(dom)
    return parser.rows, parser.counts, parser.root
