"""The Flask app of the Telnyx API emulator (UAC connections) and the threaded server that runs it."""

import json
import logging
import signal
import sys
import threading

from flask import Blueprint, Flask, current_app, g, jsonify, request
from werkzeug.exceptions import HTTPException
from werkzeug.serving import make_server

from . import resource
from .auth import BearerAuth, bearer_token
from .calls import CallLog
from .config import EmulatorConfig
from .errors import ApiError, bad_request, error_object
from . import faults as fault_injection, persistence
from .faults import Call, FaultInjector, Latency, Pipeline, RateLimiter, RawAnswer
from .listing import list_page
from .registrar_client import RegistrarClient
from .registration import RegistrationBook
from .store import ConnectionStore
from .validation import CREATE_REQUEST, UPDATE_REQUEST, check_body

HOOKS_PREFIX = "/_emulator/"


class Emulator:
    """Everything the app holds: config, state, the request pipeline and the request log."""

    def __init__(self, config):
        self.config = config
        self.store = ConnectionStore(config.rng("store"))
        self.registrations = RegistrationBook()
        self.calls = CallLog()
        self.registrar = RegistrarClient(self.registrations, config.registration_delay, config.sip_timeout,
                                         config.registration_retry, self.calls, config.call_answer_delay,
                                         config.call_hangup_after)
        if config.sip:  # REGISTER the connections to their (loopback) PBXs as the store changes
            self.store.listeners.append(self.registrar.handle)
        self.state = persistence.attach(config.state_file, self.store)
        self.faults = FaultInjector.from_config(config)
        steps = [BearerAuth(config.api_key), *self.faults.auth_steps(), RateLimiter(config.rate_limit, config.rate_window),
                 *self.faults.steps()]
        if config.latency_ms:
            steps.append(Latency(config.latency_ms))
        self.pipeline = Pipeline(steps)
        self._log_lock = threading.Lock()
        self._log = []

    def log(self, entry):
        with self._log_lock:
            self._log.append(entry)

    def logged(self):
        with self._log_lock:
            return list(self._log)

    def reset(self):
        self.store.reset()
        self.registrations.reset()
        self.calls.reset()
        self.pipeline.reset()
        with self._log_lock:
            self._log.clear()
        self.state.after_request("DELETE")

    def present(self, record, reveal=()):
        """A stored connection as the API returns it."""
        out = resource.render(record, reveal, self.config.plaintext_passwords)
        out.update(self.registrations.connection_fields(record))
        return out


def _emulator():
    return current_app.extensions["telnyx_emulator"]


def _error_response(error):
    response = error.response() if isinstance(error, RawAnswer) else jsonify(error.body())
    response.status_code = error.status
    response.headers.update(error.headers)
    return response


def _json_body():
    """The request body as a JSON object, or 400 (code 10015) when it is not one."""
    try:
        body = json.loads(request.get_data(as_text=True) or "null")
    except ValueError:
        raise bad_request("The request failed because it was not well-formed.") from None
    if not isinstance(body, dict):
        raise bad_request("The request body must be a JSON object.")
    return body


api = Blueprint("api", __name__, url_prefix="/v2")


@api.get("/uac_connections")
def list_connections():
    emulator = _emulator()
    page, meta = list_page(emulator.store.listing(), request.args)  # present() copies the page's records
    return jsonify(data=[emulator.present(record) for record in page], meta=meta)


@api.post("/uac_connections")
def create_connection():
    body = _json_body()
    check_body(body, CREATE_REQUEST)
    emulator = _emulator()
    record = emulator.store.create(body)
    return jsonify(data=emulator.present(record, resource.PASSWORD_FIELDS)), 201


@api.get("/uac_connections/<connection_id>")
def get_connection(connection_id):
    emulator = _emulator()
    return jsonify(data=emulator.present(emulator.store.get(connection_id)))


@api.patch("/uac_connections/<connection_id>")
def update_connection(connection_id):
    body = _json_body()
    check_body(body, UPDATE_REQUEST)
    emulator = _emulator()
    record = emulator.store.update(connection_id, body)
    return jsonify(data=emulator.present(record, resource.passwords_in(body)))


@api.delete("/uac_connections/<connection_id>")
def delete_connection(connection_id):
    emulator = _emulator()
    record = emulator.store.delete(connection_id)
    data = emulator.present(record)
    emulator.registrations.forget(connection_id)
    return jsonify(data=data)


@api.post("/uac_connections/<connection_id>/actions/check_registration_status")
def check_registration_status(connection_id):
    emulator = _emulator()
    record = emulator.store.get(connection_id)
    if emulator.config.registration_action_gone:  # as integrators report of the live API
        raise ApiError.single(410, "10005", "This action is no longer available: read GET /sip_registration_status",
                              title="Gone")
    return jsonify(data=emulator.registrations.check(record))


@api.get("/sip_registration_status")
def sip_registration_status():
    credential_type = request.args.get("credential_type")
    if credential_type != "uac_external_credential":
        raise bad_request("credential_type must be uac_external_credential (the only type supported)",
                          "/credential_type")
    connection_id = request.args.get("connection_id")
    if not connection_id:
        raise bad_request("connection_id is required for uac_external_credential", "/connection_id")
    emulator = _emulator()
    return jsonify(emulator.registrations.sip_registration_status(emulator.store.get(connection_id)))


hooks = Blueprint("hooks", __name__, url_prefix=HOOKS_PREFIX.rstrip("/"))


@hooks.get("/requests")
def logged_requests():
    return jsonify(data=_emulator().logged())


@hooks.post("/reset")
def reset():
    _emulator().reset()
    return jsonify(data={"reset": True})


@hooks.get("/registrations")
def registrations():
    """The registrar client's book, per connection id (with the `note` saying why one is not contacted)."""
    return jsonify(data=_emulator().registrations.entries())


@hooks.get("/calls")
def calls():
    """Every call the PBXs sent to a registered contact since the last reset, oldest first."""
    return jsonify(data=_emulator().calls.entries())


@hooks.get("/health")
def health():
    return jsonify(data={"status": "ok"})


def _gate():
    """Run the pipeline (auth, rate limit, faults) on an API request before it acts."""
    if request.path.startswith(HOOKS_PREFIX):
        return None
    g.call = Call(request.method, request.path, bearer_token(request.headers.get("Authorization")))
    error = _emulator().pipeline.before(g.call)
    return _error_response(error) if error is not None else None


def _finish(response):
    call = g.get("call")
    if call is None:
        return response
    emulator = _emulator()
    emulator.pipeline.after(call, response)
    response.headers.update(call.headers)
    emulator.state.after_request(call.method)
    body = request.get_json(force=True, silent=True) if request.get_data() else None
    emulator.log({
        "method": call.method,
        "path": call.path,
        "query": request.args.to_dict(),
        "status": 0 if call.dropped else response.status_code,
        "body": body,
        "time": call.time,
        "fault": call.fault,
    })
    return response


def _http_error(error):
    if error.code == 404:
        return _error_response(ApiError.single(
            404, "10005", "The requested resource or URL could not be found.", "/"))
    return _error_response(ApiError(error.code, [error_object(str(error.code), error.description)]))


def _unexpected(error):
    logging.getLogger(__name__).exception("unexpected error")
    return _error_response(ApiError.single(500, "10007", f"Unexpected error: {error}"))


def create_app(config=None):
    """A Flask app emulating the Telnyx v2 API for UAC connections."""
    app = Flask("telnyx_emulator")
    app.extensions["telnyx_emulator"] = Emulator(config or EmulatorConfig())
    app.register_blueprint(api)
    app.register_blueprint(hooks)
    app.register_blueprint(fault_injection.hooks)
    app.before_request(_gate)
    app.after_request(_finish)
    app.register_error_handler(ApiError, _error_response)
    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(Exception, _unexpected)
    return app


def serve(config, host="127.0.0.1", port=0, verbose=False, out=None):
    """Serve until SIGTERM or SIGINT; print one ready line with the URL once listening."""
    logging.getLogger("werkzeug").setLevel(logging.INFO if verbose else logging.ERROR)
    tls = (config.tls_cert, config.tls_key) if config.tls_cert else None
    server = make_server(host, port, create_app(config), threaded=True, ssl_context=tls)
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *unused: stop.set())
    worker = threading.Thread(target=server.serve_forever, name="telnyx-emulator", daemon=True)
    worker.start()
    shown_host = f"[{host}]" if ":" in host else host
    print(f"telnyx-emulator listening on {'https' if tls else 'http'}://{shown_host}:{server.server_port}",
          file=out or sys.stdout, flush=True)
    while not stop.wait(0.5):
        pass
    server.app.extensions["telnyx_emulator"].registrar.close()  # unregisters, waiting at most 1.5 s
    server.shutdown()
    server.server_close()
    worker.join(5)
