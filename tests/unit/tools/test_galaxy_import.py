"""The galaxy-importer gate: which lines of the importer's log count as problems."""

from tests.tools.galaxy_import import problems

LOG = """Importing with galaxy-importer 0.4.44
Getting doc strings via ansible-doc
Loading module uac_connection
Linting collection via ansible-lint 26.10.1...
WARNING: roles/sip_attach/tasks/passwords.yml:29: name[missing][/]: All tasks should be named.
  ERROR: something the importer could not load
...ansible-lint run complete
Collection loading complete
Importer processing completed successfully
"""


def test_warning_and_error_lines_are_problems():
    assert problems(LOG) == [
        "WARNING: roles/sip_attach/tasks/passwords.yml:29: name[missing][/]: All tasks should be named.",
        "  ERROR: something the importer could not load",
    ]


def test_a_clean_import_has_no_problem():
    clean = "\n".join(line for line in LOG.splitlines() if "WARNING" not in line and "ERROR" not in line)
    assert problems(clean) == []
