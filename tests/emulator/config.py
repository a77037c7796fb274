"""The emulator's settings, shared by the CLI and the app factory."""

import random
from dataclasses import dataclass
from typing import Any, Optional


@dataclass
class EmulatorConfig:
    api_key: Optional[str] = None  # only this bearer token is accepted; None: any non-empty one
    latency_ms: int = 0  # added to every API response
    rate_limit: Optional[int] = None  # requests a window per key (shared by every client of it); None: unlimited
    rate_window: float = 1.0  # seconds of a rate-limit window
    fail_rate: float = 0.0  # share of API requests answered with 500 or 503
    seed: Optional[int] = None  # seeds ids, passwords and faults
    plaintext_passwords: bool = False  # serve passwords in clear, as older accounts see them
    faults: Any = None  # a faults.FaultSettings (injected faults); None: only fail_rate
    state_file: Optional[str] = None  # --state: connections kept in this JSON file across restarts
    tls_cert: Optional[str] = None  # serve HTTPS with this certificate and key
    tls_key: Optional[str] = None

    def rng(self, purpose):
        """A random generator of its own for each purpose, reproducible under a seed."""
        return random.Random(None if self.seed is None else f"{self.seed}:{purpose}")

    # real SIP registration to the connections' PBXs (registrar_client.py; loopback PBXs only)
    sip: bool = True  # False (--no-sip): never REGISTER; every connection reads as not registered
    registration_delay: float = 1.0  # seconds from a create or a PBX-settings change to the first REGISTER
    sip_timeout: float = 4.0  # seconds without a final answer before a REGISTER counts as 408
    registration_retry: float = 5.0  # seconds between attempts after a failure
    registration_action_gone: bool = False  # check_registration_status answers 410 Gone
    # calls the PBX sends to a registered contact (calls.py)
    call_answer_delay: float = 0.0  # seconds of 180 Ringing before the 200 OK
    call_hangup_after: float = 10.0  # seconds after the answer before the emulator hangs up (BYE)
