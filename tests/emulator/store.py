"""The emulator's state: UAC connections in memory, behind one lock.

Every method returns deep copies, so callers never hold references into the store, except
``listing`` (for the list endpoint, which copies only the page it answers: a stored record is never
changed in place, an update stores a new one). The records are plain JSON-able dicts, so saving and restoring the state (a later `--state FILE`) is a matter
of `snapshot()` and `restore()`.
"""

import copy
import threading

from . import resource
from .errors import not_found
from .validation import check_merged

ID_LOW, ID_HIGH = 10 ** 18, 2 ** 63 - 1  # 19-digit numeric strings that fit an int64


class ConnectionStore:
    def __init__(self, rng):
        self._rng = rng
        self._lock = threading.RLock()
        self._connections = {}  # id -> record, in creation order
        self._ids = set()  # every id handed out (connections and fqdn records)
        self._labels = set()  # the sip_subdomain of every connection (generated, read-only)
        # listener(event, before, after), called under the lock after each change: event is create,
        # update, delete (before/after: copies of the record, or None) or reset (both None)
        self.listeners = []

    def _emit(self, event, before=None, after=None):
        for listener in self.listeners:
            listener(event, copy.deepcopy(before), copy.deepcopy(after))

    def _new_id(self):
        while True:
            candidate = str(self._rng.randint(ID_LOW, ID_HIGH))
            if candidate not in self._ids:
                self._ids.add(candidate)
                return candidate

    def _label(self):
        while True:
            label = f"{self._rng.getrandbits(48):012x}"
            if label not in self._labels:
                return label

    def _find(self, connection_id):
        try:
            return self._connections[connection_id]
        except KeyError:
            raise not_found() from None

    def create(self, body):
        with self._lock:
            record = resource.new_connection(
                body, self._new_id(), self._new_id(), self._label(), self._rng)
            check_merged(body, record)
            self._connections[record["id"]] = record
            self._labels.add(record["inbound"]["sip_subdomain"])
            self._emit("create", None, record)
            return copy.deepcopy(record)

    def get(self, connection_id):
        with self._lock:
            return copy.deepcopy(self._find(connection_id))

    def update(self, connection_id, body):
        with self._lock:
            before = self._find(connection_id)
            record = resource.updated_connection(before, body)
            check_merged(body, record)
            self._connections[connection_id] = record
            self._emit("update", before, record)
            return copy.deepcopy(record)

    def delete(self, connection_id):
        with self._lock:
            record = self._find(connection_id)
            del self._connections[connection_id]
            self._labels.discard(record["inbound"]["sip_subdomain"])
            self._emit("delete", record, None)
            return record

    def all(self):
        """Every connection, oldest first (the creation order breaks ties when sorting)."""
        with self._lock:
            return copy.deepcopy(list(self._connections.values()))

    def listing(self):
        """Every connection, oldest first, as stored: read them, never change them (``all`` gives copies)."""
        with self._lock:
            return list(self._connections.values())

    def reset(self):
        with self._lock:
            self._connections.clear()
            self._labels.clear()
            self._ids.clear()
            self._emit("reset")

    def snapshot(self):
        with self._lock:
            return {"connections": copy.deepcopy(list(self._connections.values()))}

    def restore(self, snapshot):
        with self._lock:
            self.reset()
            for record in snapshot["connections"]:
                self._connections[record["id"]] = copy.deepcopy(record)
                self._labels.add(record["inbound"]["sip_subdomain"])
                self._emit("create", None, record)
                self._ids.update([record["id"]] + [fqdn["id"] for fqdn in record["fqdns"]])
