"""Shared pieces of the SIP tests: the PBX's users and the emulator's SIP options.

Import them from here (``from tests.integration.sip.helpers import USERS``), never from a conftest.
"""


USERS = {"ext%d" % number: "Secret-%d-pbx" % number for number in range(101, 106)}


SIP_OPTIONS = ("--registration-delay", "0.2", "--sip-timeout", "1", "--registration-retry", "1")
