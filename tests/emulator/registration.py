"""Registration state of UAC connections: the one place that knows whether Telnyx is registered.

The registrar client (`registrar_client.py`) writes here what happened to each connection's
REGISTERs (`set_state`, `record_attempt`); both registration endpoints, the connection's
`registration_status` and the /_emulator/registrations hook read from here.

States (the contract's `sip_registration_status`): standby (waiting for the first attempt, or a
proxy the emulator will not contact), trying (first REGISTER in flight), registered, failed,
unregistering, unregistered (shown as standby while active, connection_disabled once inactive).
"""

import threading
import time

from .resource import timestamp

# sip_registration_details fields copied from the book when known
DETAIL_FIELDS = ("expires", "next_action_at", "sip_uri_user_host", "uptime")


class RegistrationBook:
    def __init__(self):
        self._lock = threading.Lock()
        self._attempts = {}  # connection id -> {"registered", "response", "at", "failures"}

    def record_attempt(self, connection_id, registered, response, **details):
        """Store the outcome of a REGISTER (e.g. True, '200 OK'); returns the time stamp.

        `details`: expires, next_action_at (Unix times), auth_retries, sip_uri_user_host, transport,
        ip_address, port, user_agent, note.
        """
        with self._lock:
            previous = self._attempts.get(connection_id, {"failures": 0})
            at = timestamp()
            entry = dict(previous, **details)
            entry.update({
                "state": "registered" if registered else "failed",
                "registered": registered,
                "response": response,
                "at": at,
                "failures": 0 if registered else previous.get("failures", 0) + 1,
            })
            if registered:
                if not previous.get("registered"):
                    entry["uptime"] = int(time.time() * 1_000_000)  # registered since (microseconds)
                entry["bound_until"] = details.get("expires")
            else:
                entry.pop("uptime", None)
                entry.pop("expires", None)
            self._attempts[connection_id] = entry
            return at

    def set_state(self, connection_id, state, **details):
        """A state without a REGISTER outcome: standby, trying, unregistering, unregistered."""
        with self._lock:
            entry = dict(self._attempts.get(connection_id, {"failures": 0, "response": None, "at": None}),
                         **details)
            entry["state"] = state
            if state == "standby":
                entry.setdefault("note", None)
            if state in ("unregistering", "unregistered"):
                entry["registered"] = False
                entry.pop("uptime", None)
                entry.pop("expires", None)
                entry.pop("next_action_at", None)
            if state == "unregistered":
                entry["at"] = timestamp()
                entry.pop("bound_until", None)
            self._attempts[connection_id] = entry

    def entries(self):
        """Every connection's entry (for the /_emulator/registrations hook)."""
        with self._lock:
            return {key: dict(value) for key, value in self._attempts.items()}

    def forget(self, connection_id):
        with self._lock:
            self._attempts.pop(connection_id, None)

    def reset(self):
        with self._lock:
            self._attempts.clear()

    def _attempt(self, connection_id):
        with self._lock:
            return dict(self._attempts.get(connection_id, {}))

    @staticmethod
    def _lapsed(attempt):
        bound_until = attempt.get("bound_until")
        return bool(bound_until) and time.time() >= bound_until

    def _connection_status(self, attempt):
        """The connection's `registration_status` words, or None before any outcome."""
        if not attempt or attempt.get("at") is None:
            return None
        if attempt.get("state") == "unregistered":
            return "Unregistered"
        if attempt.get("registered"):
            return "Expired" if self._lapsed(attempt) else "Registered"
        return "Expired" if self._lapsed(attempt) else "Failed"

    def connection_fields(self, record):
        """`registration_status` and `registration_status_updated_at` for the connection."""
        attempt = self._attempt(record["id"])
        status = self._connection_status(attempt)
        return {"registration_status": status,
                "registration_status_updated_at": attempt["at"] if status else None}

    def sip_registration_status(self, record):
        """The bare `SipRegistrationStatus` object for GET /sip_registration_status."""
        attempt = self._attempt(record["id"])
        external = record.get("external_uac_settings") or {}
        state = attempt.get("state")
        if not record["active"]:
            state = "unregistering" if state == "unregistering" else "connection_disabled"
        elif not attempt:
            state = "unknown"
        elif state == "unregistered":
            state = "standby"
        elif state == "registered" and self._lapsed(attempt):
            state = "failed"
        details = {"auth_retries": attempt.get("auth_retries", 0), "failures": attempt.get("failures", 0)}
        details.update({name: attempt[name] for name in DETAIL_FIELDS if attempt.get(name) is not None})
        if state != "registered":
            details.pop("uptime", None)
            details.pop("expires", None)
        status = {
            "connection_id": record["id"],
            "connection_name": record["connection_name"],
            "credential_type": "uac_external_credential",
            "registered": state == "registered",
            "sip_registration_status": state,
            "sip_registration_details": details,
        }
        if external.get("username"):
            status["credential_username"] = external["username"]
        if attempt.get("response"):
            status["last_registration_response"] = attempt["response"]
        return status

    def check(self, record):
        """The `data` of POST /uac_connections/{id}/actions/check_registration_status."""
        attempt = self._attempt(record["id"])
        external = record.get("external_uac_settings") or {}
        data = {"record_type": "registration_status", "status": "Not Registered"}
        status = self._connection_status(attempt)
        if status:
            data["status"] = status
            data["last_registration"] = attempt["at"]
        if external.get("username"):
            data["sip_username"] = external["username"]
        if external.get("transport"):
            data["transport"] = external["transport"]
        for name in ("ip_address", "port", "user_agent"):
            if status and attempt.get(name) is not None:
                data[name] = attempt[name]
        return data
