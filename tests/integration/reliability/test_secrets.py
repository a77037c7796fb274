"""The positive control of the leak checks, and generated passwords: the API generates a password when
none is given; it never shows in the output unless reveal_secrets asks for it."""

import pytest

from tests.integration.reliability.helpers import LeakChecked, PlaybookRunner

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.leak]


def test_a_generated_password_shows_only_with_reveal_secrets(faulty_with, tmp_path, record):
    faulty = faulty_with("--plaintext-passwords")  # the API answers every read with clear passwords
    playbook = LeakChecked(PlaybookRunner(tmp_path, faulty.handle))
    task = {"name": "create", "telnyx.sip.uac_connection": {"connection_name": "rel-gen"}, "register": "made"}
    hidden = playbook.tasks([task, dict(task, name="again"),
                             {"name": "read", "telnyx.sip.uac_connection_info": {"connection_name": "rel-gen"},
                              "register": "read"}])
    generated = faulty.connections_by_name("rel-gen")[0]["password"]
    assert generated and set(generated) != {"*"}
    playbook.check(hidden, [generated])  # not in the create, the no-op re-run, nor the info module's output

    shown = playbook.tasks([dict(task, **{"telnyx.sip.uac_connection": {
        "connection_name": "rel-gen", "reveal_secrets": True}})])
    assert shown.task("create")["uac_connection"]["password"] == generated
    playbook.check(shown, [generated], revealed=[generated])
    with pytest.raises(AssertionError):
        playbook.check(shown, [generated])  # the search does find it when it is there
    record(fault="secrets: generated password, reveal_secrets control", option="--plaintext-passwords", injected=0,
           runs=2, outcome="the API-generated password is absent from -vvv --diff output of create, re-run and "
                           "info; shown with reveal_secrets: true (and the leak search finds it)")
