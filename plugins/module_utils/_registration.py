# -*- coding: utf-8 -*-
# Copyright (c) telnyx.sip contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""Whether Telnyx has registered to the PBX, and waiting until it has.

PRIVATE: internal to the telnyx.sip collection; may change without notice.

The source is ``GET /sip_registration_status`` (credential type
``uac_external_credential``): integrators of the live API report that the
connection's own ``registration_status`` goes stale and that the
``check_registration_status`` action answers 410, so neither is used here.
"Registered" is believed only when ``registered`` is true *and*
``sip_registration_status`` is ``registered``.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import math
import re
import time
from concurrent.futures import ThreadPoolExecutor

from ansible_collections.telnyx.sip.plugins.module_utils._client import TelnyxError

STATUS_PATH = "/sip_registration_status"
REGISTERED, FAILED, PENDING = "registered", "failed", "pending"

HINTS = {
    401: "the PBX refused the credentials: check external_uac_settings.username, auth_username and password, and that "
         "the PBX serves the SIP domain (realm) named by the proxy host",
    403: "the PBX forbade the registration: check its ACL or fail2ban for Telnyx's addresses, and that the extension "
         "is enabled",
    404: "the PBX does not know this user or domain: check external_uac_settings.username and that the PBX serves "
         "the proxy host as its SIP domain",
    408: "the PBX did not answer: check that it is reachable from Telnyx (firewall, NAT), and the transport and port",
    423: "the PBX wants a longer registration interval: raise external_uac_settings.expiration_sec",
}
NO_ANSWER_HINT = HINTS[408]

# How the registrar's states read in the connection's own vocabulary ("registered"
# alone is not enough: see connection_status).
CONNECTION_STATUS = {
    "failed": "Failed",
    "connection_disabled": "Unregistered",
    "unregistering": "Unregistered",
}


def read(client, connection_id):
    """The live registration status of one connection (the API's bare object)."""
    try:
        return client.get(STATUS_PATH, params={"credential_type": "uac_external_credential",
                                               "connection_id": str(connection_id)})
    except TelnyxError as exc:
        if exc.status == 404:
            return {}
        raise


def response_code(status):
    """The SIP code of the PBX's last answer (``"403 Forbidden"`` -> 403), or None."""
    match = re.match(r"^\s*(\d{3})\b", str((status or {}).get("last_registration_response") or ""))
    return int(match.group(1)) if match else None


def classify(status):
    """registered, failed (will not fix itself) or pending."""
    state = (status or {}).get("sip_registration_status")
    if (status or {}).get("registered") is True and state == "registered":
        return REGISTERED
    if state == "connection_disabled":
        return FAILED
    code = response_code(status)
    if state == "failed" and code is not None and 400 <= code < 500 and code != 408:
        return FAILED
    return PENDING


def connection_status(status):
    """The status in the words of the connection's ``registration_status`` field."""
    state = (status or {}).get("sip_registration_status")
    if classify(status) == REGISTERED:
        return "Registered"
    return CONNECTION_STATUS.get(state, "Not Registered")


def hint(status):
    code = response_code(status)
    if code in HINTS:
        return HINTS[code]
    if code is None:
        return NO_ANSWER_HINT
    return "the PBX answered %s" % status.get("last_registration_response")


def failure_message(name, status, timed_out=False, timeout=None):
    """One sentence naming the connection, the status, the PBX's last answer and the likely cause."""
    status = status or {}
    if status.get("read_error"):
        return "%s: its registration status could not be read: %s" % (name, status["read_error"])
    last = status.get("last_registration_response") or "no answer"
    state = status.get("sip_registration_status") or "unknown"
    if timed_out:
        why = "did not register within %s s" % timeout if timeout is not None else "did not register in time"
    else:
        why = "failed to register"
    if state == "connection_disabled":
        return "%s is not active (active: false), so Telnyx does not register it" % name
    return "%s %s (status %s, PBX's last answer: %s): %s" % (name, why, state, last, hint(status))


class Waiter:
    """Polls the registration of many connections at once until each settles.

    Every round reads the still-pending connections on ``workers`` threads
    through the one client, so all reads share its rate-limit pause.
    """

    def __init__(self, client, timeout, interval, workers=8, clock=time.monotonic, sleep=time.sleep):
        self.client = client
        self.timeout = timeout
        self.interval = interval
        self.workers = max(1, workers)
        self.clock = clock
        self.sleep = sleep

    def wait(self, connection_ids):
        """{id: (state, status)} where state is registered, failed or pending (timed out)."""
        deadline = self.clock() + self.timeout
        settled = {}
        pending = list(dict.fromkeys(str(cid) for cid in connection_ids))
        last = {}
        while pending:
            for cid, status in self._read_all(pending):
                last[cid] = status
                state = FAILED if status.get("read_error") else classify(status)
                if state != PENDING:
                    settled[cid] = (state, status)
            pending = [cid for cid in pending if cid not in settled]
            remaining = deadline - self.clock()
            if not pending or remaining <= 0:
                break
            # The last read comes at the deadline, not an interval before it.
            self.sleep(min(self.interval, remaining))
        for cid in pending:
            settled[cid] = (PENDING, last.get(cid, {}))
        return settled

    def _read_all(self, ids):
        if len(ids) == 1 or self.workers == 1:
            return [(cid, self._read_one(cid)) for cid in ids]
        with ThreadPoolExecutor(max_workers=min(self.workers, len(ids))) as pool:
            return list(zip(ids, pool.map(self._read_one, ids)))

    def _read_one(self, cid):
        """One connection's status; a read that fails (after retries) settles that connection only."""
        try:
            return read(self.client, cid)
        except TelnyxError as exc:
            return {"read_error": exc.msg}


class Registration:
    """What a wait found for one connection.

    ``status``: the status word, in the vocabulary of the connection's
    ``registration_status`` field. ``details``: the live status object the
    wait ended on (None when none was read). ``error``: why the connection did
    not register (None when it did).
    """

    def __init__(self, status, details=None, error=None):
        self.status = status
        self.details = details
        self.error = error


def wait_for_connections(client, named, params, workers=8):
    """Wait for the registration of ``named`` ((name, connection) pairs); nothing given is changed.

    Returns one ``Registration`` per pair, in order, or None for a connection
    that is not waited for (inactive, or not created).
    """
    found = [None] * len(named)
    waitable = []
    for index, (name, conn) in enumerate(named):
        if not conn or conn.get("id") is None or conn.get("active") is False:
            continue
        external = conn.get("external_uac_settings") or {}
        if not (external.get("proxy") and external.get("username")):
            found[index] = Registration("Not Registered", error="%s has no PBX to register to: set "
                                                                "external_uac_settings.proxy, username and password"
                                                                % name)
            continue
        waitable.append((index, name, str(conn["id"])))
    if not waitable:
        return found
    waiter = Waiter(client, params["registration_timeout"], params["registration_poll_interval"], workers=workers)
    outcome = waiter.wait([cid for _index, _name, cid in waitable])
    for index, name, cid in waitable:
        state, status = outcome[cid]
        error = None
        if state != REGISTERED:
            error = failure_message(name, status, timed_out=state == PENDING, timeout=params["registration_timeout"])
        found[index] = Registration(connection_status(status), status, error)
    return found


def annotate(client, connections, workers=8):
    """Add each connection's live ``registration`` details (for the info module)."""
    ids = [conn.get("id") for conn in connections if conn.get("id") is not None]
    if not ids:
        return connections
    with ThreadPoolExecutor(max_workers=min(workers, len(ids))) as pool:
        statuses = dict(zip(ids, pool.map(lambda cid: read(client, cid), ids)))
    for conn in connections:
        if conn.get("id") in statuses:
            conn["registration"] = statuses[conn["id"]]
    return connections


# -- a wait driven from outside: one read per run, the task retried with until ---------------------------
def progress(counts, seconds_left=None, done=False):
    """``3 of 10 registered (1 failed, 6 pending), 410 s left``: one line a person reads while waiting."""
    text = "%d of %d registered" % (counts["registered"], counts["total"])
    if done:
        missing = counts["total"] - counts["registered"]
        return text + (", %d did not register" % missing if missing else "")
    others = ["%d %s" % (counts[state], state) for state in (FAILED, PENDING) if counts[state]]
    if others:
        text += " (%s)" % ", ".join(others)
    if seconds_left is not None:
        text += ", %d s left" % seconds_left
    return text


def poll(client, named, workers=8, deadline=None, timeout=None, clock=time.time):
    """One read of the registration of each of ``named`` ((name, id) pairs), for a wait driven from outside.

    A task that runs this again and again (``until: result.done``) waits the
    Ansible way, one line per retry. ``deadline`` (a ``clock`` time) ends the
    wait: from then on a connection still pending did not register (within
    ``timeout`` seconds, for its message). Returns the lines (name, id, state,
    registration_status, the live ``registration``, and ``error`` for each
    connection that failed, or is pending when the wait is over), the counts,
    ``seconds_left``, ``done``, ``not_registered`` and the progress ``msg``.
    """
    outcome = Waiter(client, timeout=0, interval=1, workers=workers).wait([cid for _name, cid in named])
    seconds_left = None if deadline is None else max(0, int(math.ceil(deadline - clock())))
    counts = dict(total=len(named), registered=0, failed=0, pending=0)
    for _name, cid in named:
        counts[outcome[str(cid)][0]] += 1
    done = counts[PENDING] == 0 or seconds_left == 0
    lines = []
    for name, cid in named:
        state, status = outcome[str(cid)]
        line = dict(connection_name=name, id=str(cid), state=state, registration_status=connection_status(status),
                    registration=status)
        if state == FAILED or (state == PENDING and done):
            line["error"] = failure_message(name, status, timed_out=state == PENDING, timeout=timeout)
        lines.append(line)
    not_registered = [dict(connection_name=line["connection_name"], error=line["error"])
                      for line in lines if "error" in line] if done else []
    return dict(changed=False, registrations=lines, counts=counts, seconds_left=seconds_left, done=done,
                not_registered=not_registered, msg=progress(counts, seconds_left, done))
