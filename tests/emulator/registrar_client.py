"""The emulator's registrar client: registers each active UAC connection to its PBX, as Telnyx does.

`RegistrarClient.handle` listens to the store's events (create, update, delete, reset). For every
active connection whose `external_uac_settings` has a proxy, a username and a password, one
`Registration` thread REGISTERs it (`sip.RegisterClient`) `delay` seconds after the create or the
change, refreshes at half the granted expiry, retries every `retry` seconds after a failure, and
unregisters (Expires: 0) when the connection is deactivated, deleted or its PBX settings change
(then a new registration starts). Every outcome goes to the `RegistrationBook`, which the API reads.

Between its REGISTERs each registration reads its socket or connection: the INVITEs the PBX sends to
the contact are answered by a `calls.CallAnswerer` and written to the `CallLog`. After a deactivation
whose unregistration the PBX refused, the registration keeps its contact open until the binding
expires at the PBX, answering 480 to the calls still routed to it.

SIP goes only to loopback destinations: any other proxy is never contacted (the connection stays
`standby`, with the reason in the book's `note`, shown by GET /_emulator/registrations).
"""

import logging
import threading
import time

from . import calls, sip

LOG = logging.getLogger("telnyx_emulator.sip")
SETTINGS = ("proxy", "outbound_proxy", "transport", "username", "auth_username", "password", "from_user",
            "user_agent", "expiration_sec")
DEFAULT_EXPIRES = 600
UNREGISTER_TIMEOUT = 1.0  # seconds for the Expires: 0 transaction
RESERVED_SUFFIXES = (".example", ".invalid", "example.com", "example.net", "example.org")


def pbx_settings(record):
    """The PBX-facing settings of an active connection that can register, else None."""
    if not record or not record.get("active"):
        return None
    external = record.get("external_uac_settings") or {}
    if not (external.get("proxy") and external.get("username") and external.get("password")):
        return None
    return tuple((name, external.get(name)) for name in SETTINGS)


def account_of(settings):
    """A `sip.Account` from `pbx_settings` (SipError when the proxy is not a host[:port])."""
    values = dict(settings)
    domain = sip.parse_hostport(values["proxy"])
    destination = sip.parse_hostport(values["outbound_proxy"]) if values.get("outbound_proxy") else domain
    return sip.Account(
        username=values["username"], password=values["password"], domain=domain, destination=destination,
        transport=(values.get("transport") or "UDP").upper(), auth_username=values.get("auth_username") or None,
        from_user=values.get("from_user") or None, user_agent=values.get("user_agent") or None,
        expires=values.get("expiration_sec") or DEFAULT_EXPIRES)


def resolve(account, resolver=None):
    """(family, address) of where the account's REGISTERs go; SipError when not loopback."""
    host = account.destination.host
    if not sip.is_loopback(host) and any(host == suffix.lstrip(".") or host.endswith(suffix)
                                         for suffix in RESERVED_SUFFIXES):
        raise sip.SipError(f"{host} is a reserved example name, not a loopback address: the emulator sends SIP "
                           "only to 127.0.0.0/8, ::1 and localhost")
    port = account.destination.port or sip.DEFAULT_PORTS.get(account.transport, 5060)
    return sip.resolve_loopback(host, port, resolver or sip.socket.getaddrinfo)


class _NeedsDns(Exception):
    pass


def _no_dns(*args, **kwargs):
    raise _NeedsDns()


def refusal(settings):
    """Why these settings will never be contacted, when that is known without DNS (else None)."""
    try:
        resolve(account_of(settings), resolver=_no_dns)
    except _NeedsDns:
        return None
    except sip.SipError as exc:
        return str(exc)
    return None


class Registration:
    """One connection's registration, on its own daemon thread."""

    def __init__(self, client, connection_id, settings):
        self.client, self.connection_id, self.settings = client, connection_id, settings
        self._stop = threading.Event()
        self._halt = threading.Event()  # ends the lingering after a deactivation too
        self._interrupt = False  # aborts the transaction in flight
        self.unregister, self.record_unregister = True, False
        self.retired = False  # stopped by a deactivation: calls are answered 480
        self.bound_until = 0.0
        self.thread = threading.Thread(target=self._run, name=f"sip-register-{connection_id}", daemon=True)

    def start(self):
        self.thread.start()

    def stop(self, unregister=True, record=False):
        """Stop (the thread unregisters if bound); `record` (a deactivation): write the unregistration to the
        book, and keep answering calls (480) while the PBX may still have the binding."""
        self.unregister, self.record_unregister, self.retired = unregister, record, record
        if not record:
            self._halt.set()
        self._interrupt = True
        self._stop.set()

    def halt(self):
        """Stop for good, lingering included."""
        self._halt.set()
        self.stop(self.unregister, self.record_unregister)

    @property
    def alive(self):
        return self.thread.is_alive()

    # -- the book, only while this registration speaks for the connection --

    def _may_record(self):
        return self.client.current(self.connection_id) is self or (
            self.record_unregister and self.client.current(self.connection_id) is None)

    def _state(self, state, **details):
        if self._may_record():
            self.client.book.set_state(self.connection_id, state, **details)

    def _attempt(self, registered, response, **details):
        if self._may_record():
            self.client.book.record_attempt(self.connection_id, registered, response, **details)

    # -- the thread --

    def _run(self):
        try:
            self._register_loop()
        except Exception:  # noqa: BLE001 - a thread must not die silently
            LOG.exception("registration of connection %s failed unexpectedly", self.connection_id)

    def _register_loop(self):
        if self._stop.wait(self.client.delay):
            return
        try:
            account = account_of(self.settings)
            family, address = resolve(account)
        except sip.SipError as exc:
            LOG.warning("connection %s is not registered: %s", self.connection_id, exc)
            self._state("standby", note=str(exc))
            return
        transport = sip.Transport(account.transport, family, address, stopped=lambda: self._interrupt)
        try:
            ua = sip.RegisterClient(account, transport, timeout=self.client.timeout)
            transport.handler = self.client.answerer(self, account, transport, ua.contact_uri)
            common = {"sip_uri_user_host": f"{account.username}@{account.domain.uri_host}",
                      "transport": account.transport, "ip_address": address[0], "port": address[1],
                      "user_agent": ua.user_agent}
            self._state("trying", **common)
            while not self._stop.is_set():
                outcome = ua.register()
                if self._stop.is_set():
                    self.bound_until = max(self.bound_until, time.time() + (outcome.expires or 0))
                    break
                self._record(outcome, common)
                transport.serve(self._next_wait, self._stop.is_set)  # answering calls meanwhile
            self._unregister(ua, common)
            self._linger(transport)
        finally:
            transport.close()

    def _record(self, outcome, common):
        now = time.time()
        if outcome.ok and outcome.expires and outcome.expires > 0:
            self.bound_until = now + outcome.expires
            self._next_wait = max(0.5, outcome.expires / 2)
            self._attempt(True, outcome.response, expires=int(self.bound_until),
                          next_action_at=int(now + self._next_wait), auth_retries=outcome.auth_retries,
                          note=outcome.detail, **common)
        else:
            self._next_wait = self.client.retry
            response = outcome.response if not outcome.ok else f"{outcome.response} (expires 0: not bound)"
            self._attempt(False, response, next_action_at=int(now + self._next_wait),
                          auth_retries=outcome.auth_retries, note=outcome.detail, **common)

    def _unregister(self, ua, common):
        if not self.unregister or self.bound_until <= time.time():
            return
        self._interrupt = False
        self._state("unregistering")
        ua.timeout = min(self.client.timeout, UNREGISTER_TIMEOUT)
        outcome = ua.register(expires=0)
        LOG.info("connection %s unregistered: %s", self.connection_id, outcome.response)
        if outcome.ok:
            self.bound_until = 0.0  # the PBX dropped the binding: no call can come
        self._state("unregistered", response=outcome.response, **common)

    def _linger(self, transport):
        """After a deactivation the PBX routes calls to the contact until the binding it kept (it refused
        the unregistration) expires: answer them 480 until then, or until halted."""
        remaining = self.bound_until - time.time()
        if self.retired and remaining > 0 and not self._halt.is_set():
            self._interrupt = False
            transport.serve(remaining, self._halt.is_set)


class RegistrarClient:
    """Keeps one `Registration` per connection that should be registered."""

    def __init__(self, book, delay=1.0, timeout=4.0, retry=5.0, call_log=None, answer_delay=0.0, hangup_after=10.0):
        self.book, self.delay, self.timeout, self.retry = book, delay, timeout, retry
        self.calls = call_log if call_log is not None else calls.CallLog()
        self.answer_delay, self.hangup_after = answer_delay, hangup_after
        self._lock = threading.Lock()
        self._registrations = {}
        self._retired = []  # registrations stopped by a deactivation, still answering calls (480)
        self._connections = {}  # id -> what a call's log entry names: connection_name, destination_uri, active

    def current(self, connection_id):
        with self._lock:
            return self._registrations.get(connection_id)

    def connection_info(self, connection_id):
        """{"connection_name", "destination_uri", "active"} of a connection, None once deleted."""
        with self._lock:
            info = self._connections.get(connection_id)
            return dict(info) if info else None

    def answerer(self, registration, account, transport, contact):
        """The handler of the calls the PBX sends to a registration's contact."""
        return calls.CallAnswerer(registration.connection_id, account.username, transport, contact, self.calls,
                                  self.connection_info, retired=lambda: registration.retired,
                                  answer_delay=self.answer_delay, hangup_after=self.hangup_after)

    def _remember(self, event, before, after):
        with self._lock:
            if event == "reset":
                self._connections.clear()
            elif event == "delete":
                self._connections.pop(before["id"], None)
            else:
                self._connections[after["id"]] = {
                    "connection_name": after.get("connection_name"), "active": bool(after.get("active")),
                    "destination_uri": (after.get("internal_uac_settings") or {}).get("destination_uri")}

    def _halt_retired(self, connection_id=None):
        """Halt the lingering registrations (of one connection, or all)."""
        with self._lock:
            halting = [item for item in self._retired if connection_id in (None, item.connection_id)]
            self._retired = [item for item in self._retired if item not in halting and item.alive]
        for registration in halting:
            registration.halt()
        return halting

    def handle(self, event, before, after):
        """The store's listener: event is create, update, delete or reset."""
        self._remember(event, before, after)
        if event == "reset":
            self.reset()
        elif event == "delete":
            self._halt_retired(before["id"])
            self._apply(before["id"], None, deleted=True)
        else:
            self._apply(after["id"], after)

    def _apply(self, connection_id, record, deleted=False):
        settings = pbx_settings(record)
        with self._lock:
            current = self._registrations.get(connection_id)
            if current is not None and current.settings == settings:
                return  # nothing the PBX sees changed
            if current is not None:
                del self._registrations[connection_id]
                deactivated = record is not None and not record.get("active")
                current.stop(unregister=True, record=deactivated)
                if deactivated:
                    self._retired = [item for item in self._retired if item.alive] + [current]
            if settings is not None:
                self._registrations[connection_id] = registration = Registration(self, connection_id, settings)
                refused = refusal(settings)
                # standby at once, so that no reader sees the previous registration as the current one
                self.book.set_state(connection_id, "standby", note=refused,
                                    next_action_at=None if refused else int(time.time() + self.delay))
                if not refused:  # an address or a reserved name is refused: no thread, no packet
                    registration.start()
        if deleted or (settings is None and record is not None and record.get("active")):
            self.book.forget(connection_id)

    def reset(self):
        self._halt_retired()
        with self._lock:
            stopping, self._registrations = list(self._registrations.values()), {}
        for registration in stopping:
            registration.stop(unregister=True, record=False)

    def close(self, timeout=1.5):
        """Stop every registration; wait up to `timeout` s in all for their unregistrations (then leave them)."""
        lingering = self._halt_retired()
        with self._lock:
            stopping, self._registrations = list(self._registrations.values()), {}
        for registration in stopping:
            registration.stop(unregister=True, record=False)
        stopping += lingering
        deadline = time.monotonic() + timeout
        for registration in stopping:
            if registration.thread.is_alive():
                registration.thread.join(max(0.0, deadline - time.monotonic()))


def _seconds(text):
    value = float(text)
    if value < 0:
        raise ValueError(text)
    return value


def add_arguments(parser):
    group = parser.add_argument_group(
        "SIP registration",
        "The emulator REGISTERs each active connection whose external_uac_settings has a proxy, username and "
        "password, with digest authentication, over its transport (UDP, TCP or TLS), as Telnyx does. SIP goes "
        "ONLY to loopback addresses (127.0.0.0/8, ::1, localhost): any other proxy is never contacted (the "
        "connection stays standby; GET /_emulator/registrations says why).")
    group.add_argument("--no-sip", action="store_true",
                       help="never send SIP: every connection reads as not registered (unknown)")
    group.add_argument("--registration-delay", type=_seconds, default=1.0, metavar="SECONDS",
                       help="from a create or a change of the PBX settings to the first REGISTER (default 1; "
                            "the live service takes minutes)")
    group.add_argument("--sip-timeout", type=_seconds, default=4.0, metavar="SECONDS",
                       help="without a final answer a REGISTER fails as '408 Request Timeout' (default 4)")
    group.add_argument("--registration-retry", type=_seconds, default=5.0, metavar="SECONDS",
                       help="between attempts after a failure (default 5)")
    group.add_argument("--call-answer-delay", type=_seconds, default=0.0, metavar="SECONDS",
                       help="calls the PBX sends to a registered contact ring this long (180) before the 200 OK "
                            "(default 0: answered at once)")
    group.add_argument("--call-hangup-after", type=_seconds, default=10.0, metavar="SECONDS",
                       help="an answered call the caller has not hung up is ended by the emulator's BYE after "
                            "this long (default 10)")
    group.add_argument("--registration-action-gone", action="store_true",
                       help="POST .../actions/check_registration_status answers 410 Gone, as integrators "
                            "report of the live API")


def config_from_args(args):
    """The EmulatorConfig keyword arguments of the options above."""
    return {"sip": not args.no_sip, "registration_delay": args.registration_delay, "sip_timeout": args.sip_timeout,
            "registration_retry": args.registration_retry, "call_answer_delay": args.call_answer_delay,
            "call_hangup_after": args.call_hangup_after, "registration_action_gone": args.registration_action_gone}
