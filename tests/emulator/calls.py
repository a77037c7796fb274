"""Calls a PBX sends to a contact the emulator registered: answered as Telnyx would, and recorded.

When the emulator has registered a connection to a PBX (registrar_client.py), the PBX may send an
INVITE to that Contact, on the registration's own socket (UDP) or connection (TCP, TLS). One
`CallAnswerer` per registration answers, after a 100 Trying:

- 480 Temporarily Unavailable when the connection is inactive (a binding that outlived the
  deactivation: the PBX refused the unregistration);
- 404 Not Found when the Request-URI user is not the user registered on that contact, or the
  connection is gone;
- 400 Bad Request without Via, From, To, Call-ID or a valid CSeq;
- otherwise 200 OK with a minimal SDP (PCMU/8000 on a loopback port: no media flows), after
  `answer_delay` seconds of 180 Ringing when asked (a CANCEL meanwhile: 200 for it, 487 for the INVITE).

It waits for the ACK (over UDP it sends the final answer again until then: RFC 3261 timer G,
simplified), answers the caller's BYE with 200 OK, and hangs up itself (a BYE, sent once) when the
caller has not `hangup_after` seconds after the answer. Each INVITE that starts a call is one
`CallLog` entry (GET /_emulator/calls), updated as the call goes on.
"""

import logging
import threading
import time

from . import sip
from .resource import timestamp

RTP_PORT = 40000  # announced in the SDP; nothing listens there and no media flows
ALLOW = "INVITE, ACK, CANCEL, BYE, OPTIONS"
MANDATORY = ("via", "from", "to", "call-id", "cseq")  # RFC 3261 8.1.1: without them, 400 Bad Request
MAX_RESENDS = 6  # final answers sent again over UDP until the ACK: 0.5, 1, 2, 4, 4, 4 s
FORGET_AFTER = 32.0  # seconds an ended call is kept to absorb retransmissions (RFC 3261 64*T1)
LOG = logging.getLogger("telnyx_emulator.sip")
REASONS = {200: "OK", 404: "Not Found", 480: "Temporarily Unavailable", 487: "Request Terminated"}


class CallLog:
    """Every call received, oldest first; entries are updated in place as their calls go on."""

    def __init__(self):
        self._lock = threading.Lock()
        self._entries = []

    def add(self, **entry):
        with self._lock:
            self._entries.append(entry)
            return entry

    def update(self, entry, **fields):
        with self._lock:
            entry.update(fields)

    def entries(self):
        with self._lock:
            return [dict(entry) for entry in self._entries]

    def reset(self):
        with self._lock:
            self._entries.clear()


def sdp(session_id):
    """A minimal SDP offer/answer: one PCMU/8000 audio stream on 127.0.0.1."""
    lines = ["v=0", f"o=telnyx-emulator {session_id} {session_id} IN IP4 127.0.0.1", "s=telnyx-emulator",
             "c=IN IP4 127.0.0.1", "t=0 0", f"m=audio {RTP_PORT} RTP/AVP 0", "a=rtpmap:0 PCMU/8000", "a=sendrecv"]
    return ("\r\n".join(lines) + "\r\n").encode()


class _Call:
    """One call (one INVITE's dialog) on a contact."""

    def __init__(self, invite, peer, entry):
        self.invite, self.peer, self.entry = invite, peer, entry
        self.branch = _branch(invite)
        self.local_tag = sip.random_token(6)
        self.session_id = str(int(time.time()))
        self.last = None  # the last response to the INVITE (sent again for a retransmitted INVITE)
        self.acked = False
        self.resends, self.interval, self.next_resend = 0, sip.T1, None
        self.answer_at = self.hangup_at = self.ended_at = None


def _branch(message):
    return sip.header_params(message.get("via") or "").get("branch")


class CallAnswerer:
    """Answers the requests a PBX sends to one registration's contact (the transport's handler).

    `lookup(connection_id)`: the connection's {"connection_name", "destination_uri", "active"}, or None once
    deleted; `retired()`: true once this registration was stopped by a deactivation (then every call is 480).
    """

    def __init__(self, connection_id, username, transport, contact, log, lookup, retired=lambda: False,
                 answer_delay=0.0, hangup_after=10.0, clock=time.monotonic):
        self.connection_id, self.username, self.transport = connection_id, username, transport
        self.contact, self.log, self.lookup, self.retired = contact, log, lookup, retired
        self.answer_delay, self.hangup_after, self.clock = answer_delay, hangup_after, clock
        self._calls = {}  # Call-ID -> _Call

    # -- requests --

    def handle(self, message, peer):
        try:
            method = message.method.upper()
            handler = getattr(self, f"_on_{method.lower()}") if method in ALLOW.split(", ") else None
            cseq = (message.get("cseq") or "").split()
            if any(not message.get(name) for name in MANDATORY) or len(cseq) != 2 or not cseq[0].isdigit():
                if method != "ACK":  # an ACK is never answered
                    self._send(sip.build_response(message, 400, "Bad Request"), peer)
            elif handler is None:
                self._send(sip.build_response(message, 405, "Method Not Allowed", [("Allow", ALLOW)]), peer)
            else:
                handler(message, peer)
        except (sip.SipError, sip.TransportError, OSError):
            pass  # the PBX went away or sent nonsense: nothing to answer on
        except Exception:  # noqa: BLE001 - a strange request must not end the registration reading it
            LOG.exception("connection %s: cannot handle %s", self.connection_id, message.start)

    def _send(self, data, peer):
        self.transport.send(data, peer)

    def _on_options(self, message, peer):
        self._send(sip.build_response(message, 200, "OK", [("Allow", ALLOW), ("Accept", "application/sdp")]), peer)

    def _on_invite(self, message, peer):
        call = self._calls.get(message.get("call-id"))
        to_tag = sip.header_params(message.get("to") or "").get("tag")
        if call is not None and not to_tag and _branch(message) == call.branch:
            if call.last is not None:  # a retransmission: the same answer again
                self._send(call.last, peer)
            return
        if to_tag:
            if call is None or call.entry.get("state") not in ("answered", "confirmed"):
                self._send(sip.build_response(message, 481, "Call/Transaction Does Not Exist"), peer)
            else:  # a re-INVITE: the same media again
                self._send(self._answer_bytes(call, message), peer)
            return
        self._send(sip.build_response(message, 100, "Trying"), peer)
        info = self.lookup(self.connection_id)
        user = sip.uri_user(message.uri)
        entry = self.log.add(
            connection_id=self.connection_id, connection_name=(info or {}).get("connection_name"), user=user,
            destination_uri=(info or {}).get("destination_uri"), status=None, state="ringing", ended_by=None,
            call_id=message.get("call-id"), transport=self.transport.name, at=timestamp(),
            **{"from": _uri_of(message.get("from"))})
        call = self._calls[message.get("call-id")] = _Call(message, peer, entry)
        if info is None or user != self.username:
            self._final(call, 404)
        elif self.retired() or not info.get("active"):
            self._final(call, 480)
        elif self.answer_delay > 0:
            call.last = sip.build_response(message, 180, "Ringing", [("Contact", f"<{self.contact()}>")],
                                           to_tag=call.local_tag, record_route=True)
            self._send(call.last, peer)
            call.answer_at = self.clock() + self.answer_delay
        else:
            self._final(call, 200)

    def _answer_bytes(self, call, request):
        headers = [("Contact", f"<{self.contact()}>"), ("Allow", ALLOW), ("Content-Type", "application/sdp")]
        return sip.build_response(request, 200, "OK", headers, sdp(call.session_id), to_tag=call.local_tag,
                                  record_route=True)

    def _final(self, call, code):
        """Send the INVITE's final answer (kept to send again until the ACK) and log it."""
        if code == 200:
            call.last = self._answer_bytes(call, call.invite)
            call.hangup_at = self.clock() + self.hangup_after
            state = "answered"
        else:
            call.last = sip.build_response(call.invite, code, REASONS[code], to_tag=call.local_tag)
            state = "cancelled" if code == 487 else "rejected"
            call.ended_at = self.clock()
        call.answer_at = None
        self.log.update(call.entry, status=code, state=state)
        if self.transport.name == "UDP":
            call.next_resend = self.clock() + call.interval
        self._send(call.last, call.peer)

    def _on_ack(self, message, peer):
        call = self._calls.get(message.get("call-id"))
        if call is None or call.acked:
            return
        call.acked = True
        if call.entry.get("state") == "answered":
            self.log.update(call.entry, state="confirmed")

    def _on_bye(self, message, peer):
        call = self._calls.get(message.get("call-id"))
        if call is None or call.entry.get("status") != 200:
            self._send(sip.build_response(message, 481, "Call/Transaction Does Not Exist"), peer)
            return
        self._send(sip.build_response(message, 200, "OK"), peer)
        if call.entry.get("state") in ("answered", "confirmed"):
            call.acked, call.ended_at = True, self.clock()
            self.log.update(call.entry, state="ended", ended_by="caller")

    def _on_cancel(self, message, peer):
        call = self._calls.get(message.get("call-id"))
        if call is None or _branch(message) != call.branch:
            self._send(sip.build_response(message, 481, "Call/Transaction Does Not Exist"), peer)
            return
        self._send(sip.build_response(message, 200, "OK"), peer)
        if call.answer_at is not None:  # still ringing: the INVITE ends with 487
            self._final(call, 487)

    # -- timers --

    def tick(self):
        now = self.clock()
        for call_id, call in list(self._calls.items()):
            try:
                if call.answer_at is not None and now >= call.answer_at:
                    self._final(call, 200)
                if not call.acked and call.next_resend is not None and now >= call.next_resend:
                    self._resend(call, now)
                if call.hangup_at is not None and now >= call.hangup_at and call.entry.get("state") in (
                        "answered", "confirmed"):
                    self._hang_up(call)
            except (sip.SipError, sip.TransportError, OSError):
                call.ended_at = call.ended_at or now  # the PBX went away: nothing more to send
            except Exception:  # noqa: BLE001 - nor a broken call
                LOG.exception("connection %s: call %s failed", self.connection_id, call_id)
                call.ended_at = call.ended_at or now
                call.next_resend = call.hangup_at = call.answer_at = None
            if call.ended_at is not None and now - call.ended_at > FORGET_AFTER:
                del self._calls[call_id]

    def _resend(self, call, now):
        if call.resends >= MAX_RESENDS:
            call.next_resend = None
            return
        call.resends += 1
        call.interval = min(call.interval * 2, sip.T2)
        call.next_resend = now + call.interval
        self._send(call.last, call.peer)

    def _hang_up(self, call):
        """Our BYE, sent once (loopback does not lose it); its answer is not awaited."""
        invite = call.invite
        contacts = sip.contact_entries(invite)
        target = contacts[0][0] if contacts else _uri_of(invite.get("from"))
        host, port = self.transport.local
        host = f"[{host}]" if ":" in host else host
        headers = [("Via", f"{sip.SIP_VERSION}/{self.transport.name} {host}:{port};branch=z9hG4bK{sip.random_token(8)};"
                           "rport"),
                   ("Max-Forwards", "70")]
        headers += [("Route", value) for value in invite.all("record-route")]
        headers += [("From", f"{invite.get('to')};tag={call.local_tag}"), ("To", invite.get("from")),
                    ("Call-ID", invite.get("call-id")), ("CSeq", "1 BYE"), ("User-Agent", "telnyx-emulator")]
        call.acked, call.ended_at = True, self.clock()
        self.log.update(call.entry, state="ended", ended_by="emulator")
        self._send(sip.build_request("BYE", target, headers), call.peer)


def _uri_of(value):
    """The URI of a From/To/Contact value (`"A" <sip:a@h>;tag=1` -> `sip:a@h`)."""
    value = (value or "").strip()
    if "<" in value and ">" in value:
        return value[value.index("<") + 1:value.index(">")]
    return value.split(";", 1)[0]
