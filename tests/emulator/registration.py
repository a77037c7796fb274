"""Registration state of UAC connections: the one place that knows whether Telnyx is registered.

Today nothing registers: every connection reads as not registered. A later SIP client (REGISTER
against a real registrar) only has to call `RegistrationBook.record_attempt` with the outcome;
both registration endpoints and the connection's `registration_status` read from here.
"""

import threading

from .resource import timestamp


class RegistrationBook:
    def __init__(self):
        self._lock = threading.Lock()
        self._attempts = {}  # connection id -> {"registered", "response", "at", "failures"}

    def record_attempt(self, connection_id, registered, response):
        """Store the outcome of a REGISTER (e.g. True, '200 OK'); returns the time stamp."""
        with self._lock:
            previous = self._attempts.get(connection_id, {"failures": 0})
            at = timestamp()
            self._attempts[connection_id] = {
                "registered": registered,
                "response": response,
                "at": at,
                "failures": 0 if registered else previous["failures"] + 1,
            }
            return at

    def forget(self, connection_id):
        with self._lock:
            self._attempts.pop(connection_id, None)

    def reset(self):
        with self._lock:
            self._attempts.clear()

    def _attempt(self, connection_id):
        with self._lock:
            return dict(self._attempts.get(connection_id, {}))

    def connection_fields(self, record):
        """`registration_status` and `registration_status_updated_at` for the connection."""
        attempt = self._attempt(record["id"])
        if not attempt:
            return {"registration_status": None, "registration_status_updated_at": None}
        return {
            "registration_status": "Registered" if attempt["registered"] else "Failed",
            "registration_status_updated_at": attempt["at"],
        }

    def sip_registration_status(self, record):
        """The bare `SipRegistrationStatus` object for GET /sip_registration_status."""
        attempt = self._attempt(record["id"])
        external = record.get("external_uac_settings") or {}
        if not record["active"]:
            state = "connection_disabled"
        elif not attempt:
            state = "unknown"
        else:
            state = "registered" if attempt["registered"] else "failed"
        status = {
            "connection_id": record["id"],
            "connection_name": record["connection_name"],
            "credential_type": "uac_external_credential",
            "registered": state == "registered",
            "sip_registration_status": state,
            "sip_registration_details": {"auth_retries": 0, "failures": attempt.get("failures", 0)},
        }
        if external.get("username"):
            status["credential_username"] = external["username"]
        if attempt:
            status["last_registration_response"] = attempt["response"]
        return status

    def check(self, record):
        """The `data` of POST /uac_connections/{id}/actions/check_registration_status."""
        attempt = self._attempt(record["id"])
        external = record.get("external_uac_settings") or {}
        data = {"record_type": "registration_status", "status": "Not Registered"}
        if attempt:
            data["status"] = "Registered" if attempt["registered"] else "Failed"
            data["last_registration"] = attempt["at"]
        if external.get("username"):
            data["sip_username"] = external["username"]
        if external.get("transport"):
            data["transport"] = external["transport"]
        return data
