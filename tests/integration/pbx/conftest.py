"""Fixtures for the PBX adapters' tests: real PBX daemons on 127.0.0.1, one module per PBX kind."""

from tests.integration.pbx.kamailio_fixtures import kamailio_emulator, kamailio_pbxs, run_kamailio_playbook  # noqa: F401 pylint: disable=unused-import
