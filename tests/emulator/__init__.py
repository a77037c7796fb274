"""A local, stateful emulator of the Telnyx v2 API for UAC connections (SIP Attach).

Run it with `python3 -m tests.emulator --port 0` from the repository root; see docs/emulator.md.
It shares no code with the collection: the OpenAPI contract is their only common ground.
"""

from .config import EmulatorConfig
from .server import create_app, serve

__all__ = ["EmulatorConfig", "create_app", "serve"]
