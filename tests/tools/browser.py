"""Headless Chromium (Debian's `chromium`, `make browser-tools`) for the status page's tests, the docs'
screenshot and the benchmark: open a local file, give back the DOM after its script ran, a screenshot, or how long
it took to open (measured inside Chromium through its DevTools protocol on a pipe: ``open_times``).

Nothing may leave the machine: every run uses a fresh profile, the flags that turn Chromium's own
background traffic off, and a proxy for everything (loopback too). The proxy is ``RecordingProxy``: a
socket on 127.0.0.1 that records each connection attempt and answers nothing, so a page that tried to
fetch anything is caught (``attempts``).
"""
from __future__ import annotations

import json
import os
import re
import select
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


# Run in the page once it has loaded: the time when the next frame is done (every style, layout and paint that
# the page needs to show what it shows: requestAnimationFrame runs before that frame's rendering, the task after it
# once it is done), the first contentful paint, and the page's own timings (ms since navigation start).
_OPENED = """new Promise(function(done){requestAnimationFrame(function(){setTimeout(function(){
 var nav=performance.getEntriesByType('navigation')[0]||{},fcp=performance.getEntriesByName('first-contentful-paint')[0];
 done({frame:performance.now(),fcp:fcp?fcp.startTime:null,dom_interactive:nav.domInteractive,
  loaded:nav.loadEventEnd,ready:parseFloat(document.documentElement.getAttribute('data-ready-ms'))});},0);});})"""
# Then one interaction: ``action`` (a script), timed to the end of the frame that shows its outcome.
_ACTED = """new Promise(function(done){var t0=performance.now();%s;requestAnimationFrame(function(){setTimeout(function(){
 done(performance.now()-t0);},0);});})"""


class _Pipe:
    """Chromium's DevTools protocol over --remote-debugging-pipe (fd 3 in, fd 4 out, messages ending in NUL):
    no port is opened and no library is needed."""

    def __init__(self, out_fd, in_fd, timeout):
        self.out_fd, self.in_fd, self.timeout = out_fd, in_fd, timeout
        self.buffer, self.events, self.last = b"", [], 0

    def _message(self):
        while b"\0" not in self.buffer:
            ready, _w, _x = select.select([self.in_fd], [], [], self.timeout)
            chunk = os.read(self.in_fd, 1 << 20) if ready else b""
            if not chunk:
                raise RuntimeError("chromium stopped answering on the DevTools pipe")
            self.buffer += chunk
        raw, self.buffer = self.buffer.split(b"\0", 1)
        return json.loads(raw)

    def call(self, method, session=None, **params):
        self.last += 1
        message = dict(id=self.last, method=method, params=params)
        if session:
            message["sessionId"] = session
        os.write(self.out_fd, json.dumps(message).encode() + b"\0")
        while True:
            answer = self._message()
            if answer.get("id") == self.last:
                if "error" in answer:
                    raise RuntimeError("%s: %s" % (method, answer["error"]))
                return answer.get("result", {})
            self.events.append(answer)

    def wait_event(self, method):
        while True:
            found = [e for e in self.events if e.get("method") == method]
            if found:
                self.events.remove(found[0])
                return found[0]
            self.events.append(self._message())

    def evaluate(self, session, expression):
        found = self.call("Runtime.evaluate", session, expression=expression, awaitPromise=True, returnByValue=True)
        if "exceptionDetails" in found:
            raise RuntimeError("the page's script failed: %s" % found["exceptionDetails"])
        return found["result"].get("value")


def open_times(path, actions=(), window="1280,900", timeout=120):
    """How long the page takes to open in Chromium, measured inside it (DevTools protocol), in seconds since
    navigation start: ``fcp`` (first contentful paint), ``ready`` (the page's own script done: its data-ready-ms),
    ``loaded`` (the load event done), ``frame`` (the first frame after the load event rendered: what is on the screen
    laid out and painted, the script's changes included: the page open and interactive); then, for each
    ``(name, script)`` of ``actions``, the seconds from running the script to the end of the frame that shows it.
    Every request goes to a proxy on 127.0.0.1:9, where nothing listens: nothing leaves the machine."""
    binary = find_chromium()
    if binary is None:
        raise RuntimeError("chromium is not installed: run `make browser-tools` (apt-get install -y chromium)")
    to_chromium, from_chromium = os.pipe(), os.pipe()

    def pipes():  # Chromium reads the protocol on fd 3 and writes on fd 4
        os.dup2(to_chromium[0], 100)
        os.dup2(from_chromium[1], 101)
        os.dup2(100, 3)
        os.dup2(101, 4)

    profile = tempfile.mkdtemp(prefix="telnyx-chromium-")
    command = [binary, *FLAGS, "--user-data-dir=" + profile, "--window-size=" + window, "--remote-debugging-pipe",
               "--proxy-server=http://127.0.0.1:9", "--proxy-bypass-list=<-loopback>", "about:blank"]
    proc = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            preexec_fn=pipes, pass_fds=(3, 4))  # pylint: disable=subprocess-popen-preexec-fn
    os.close(to_chromium[0])
    os.close(from_chromium[1])
    cdp = _Pipe(to_chromium[1], from_chromium[0], timeout)
    try:
        target = [t for t in cdp.call("Target.getTargets")["targetInfos"] if t["type"] == "page"][0]["targetId"]
        session = cdp.call("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]
        cdp.call("Page.enable", session)
        cdp.call("Page.navigate", session, url=file_url(path))
        cdp.wait_event("Page.loadEventFired")
        found = dict((key, None if value is None else value / 1000.0)
                     for key, value in cdp.evaluate(session, _OPENED).items())
        for name, script in actions:
            found[name] = cdp.evaluate(session, _ACTED % script) / 1000.0
        try:
            cdp.call("Browser.close")
        except RuntimeError:
            pass
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        os.close(to_chromium[1])
        os.close(from_chromium[0])
        shutil.rmtree(profile, ignore_errors=True)
    return found


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
