"""`--state FILE`: the emulator's connections survive a restart.

The file is JSON (`{"connections": [...]}`, the store's `snapshot()`), read at start when it exists
and rewritten atomically (a temporary file in the same folder, flushed, then renamed over it) after
every request that may have changed something. A killed emulator therefore leaves either the state
before or the state after its last write, never half a file.
"""

import json
import os
import tempfile
import threading

WRITE_METHODS = ("POST", "PATCH", "DELETE")


class StateFile:
    def __init__(self, path, store):
        self.path = path
        self.store = store
        self._lock = threading.Lock()

    def load(self):
        """Restore the store from the file, if there is one; returns how many connections were loaded."""
        if not self.path or not os.path.exists(self.path):
            return 0
        with open(self.path, encoding="utf-8") as handle:
            snapshot = json.load(handle)
        self.store.restore(snapshot)
        return len(snapshot.get("connections", []))

    def save(self):
        if not self.path:
            return
        with self._lock:
            snapshot = self.store.snapshot()
            folder = os.path.dirname(os.path.abspath(self.path))
            fd, temporary = tempfile.mkstemp(prefix=".state-", suffix=".json", dir=folder)
            try:
                with os.fdopen(fd, "w", encoding="utf-8") as handle:
                    json.dump(snapshot, handle)
                    handle.flush()
                    os.fsync(handle.fileno())
                os.replace(temporary, self.path)
            except BaseException:
                if os.path.exists(temporary):
                    os.unlink(temporary)
                raise

    def after_request(self, method):
        """Save after a request that may have written (whatever its status: a dropped answer still acted)."""
        if self.path and method in WRITE_METHODS:
            self.save()


def attach(path, store):
    """A StateFile for `path` (None: a no-op one), with the saved state loaded into `store`."""
    state = StateFile(path, store)
    state.load()
    return state


def add_arguments(parser):
    parser.add_argument("--state", metavar="FILE",
                        help="keep the connections in this JSON file: loaded at start, rewritten after each change")
