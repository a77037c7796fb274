"""Build the collection artifact and run Galaxy's own importer on it, as Galaxy would on upload.

Usage: galaxy_import.py --importer-python .venv-importer/bin/python [--out tests/output/galaxy]

galaxy-importer runs ansible-doc and ansible-lint over the artifact; its ansible-test step needs a
container and is turned off here (RUN_ANSIBLE_TEST = False). Any line the importer logs at WARNING or
ERROR level, or a failed import, fails this script: an artifact Galaxy would import with a warning is not
clean. The importer's log is kept next to the artifact.
"""

import argparse
import glob
import os
import re
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CONFIG = """[galaxy-importer]
RUN_ANSIBLE_TEST = False
RUN_ANSIBLE_LINT = True
RUN_ANSIBLE_DOC = True
LOG_LEVEL_MAIN = INFO
"""
# what galaxy-importer logs for a problem, at the start of a line
PROBLEM = re.compile(r"^(WARNING|ERROR|CRITICAL)\b")


def problems(log):
    """The importer's WARNING/ERROR lines (the log is the only place it says them)."""
    return [line for line in log.splitlines() if PROBLEM.match(line.strip())]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--importer-python", required=True, help="the python of the importer's virtual environment")
    parser.add_argument("--out", default=os.path.join(ROOT, "tests", "output", "galaxy"))
    args = parser.parse_args(argv)

    os.makedirs(args.out, exist_ok=True)
    for old in glob.glob(os.path.join(args.out, "*.tar.gz")):
        os.remove(old)
    # the ansible-galaxy of the interpreter running this script (the test venv's), else PATH's
    galaxy = os.path.join(os.path.dirname(sys.executable), "ansible-galaxy")
    build = [galaxy if os.path.exists(galaxy) else "ansible-galaxy", "collection", "build", "--force", "--output-path", args.out, ROOT]
    print("+ " + " ".join(build), flush=True)
    subprocess.run(build, check=True)
    artifact = glob.glob(os.path.join(args.out, "*.tar.gz"))[0]

    config = os.path.join(args.out, "galaxy-importer.cfg")
    with open(config, "w") as handle:
        handle.write(CONFIG)
    bindir = os.path.dirname(os.path.abspath(args.importer_python))
    env = dict(os.environ,
               GALAXY_IMPORTER_CONFIG=config,
               # the importer finds ansible-doc and ansible-lint on PATH: its own, not the test venv's
               PATH=bindir + os.pathsep + os.environ.get("PATH", ""),
               ANSIBLE_LINT_SKIP_VERSION_CHECK="1",
               ANSIBLE_LINT_OFFLINE="1")
    command = [os.path.abspath(args.importer_python), "-m", "galaxy_importer.main", artifact]
    print("+ " + " ".join(command), flush=True)
    # the importer writes importer_result.json into its working directory: the output folder
    proc = subprocess.run(command, env=env, cwd=args.out, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          universal_newlines=True, check=False)
    log = proc.stdout
    with open(os.path.join(args.out, "importer.log"), "w") as handle:
        handle.write(log)
    print(log)
    found = problems(log)
    if proc.returncode != 0 or "Importer processing completed successfully" not in log:
        print("galaxy-importer failed (exit %d): see the log above" % proc.returncode, file=sys.stderr)
        return 1
    if found:
        print("galaxy-importer imported %s with %d warnings or errors:\n  %s"
              % (os.path.basename(artifact), len(found), "\n  ".join(found)), file=sys.stderr)
        return 1
    print("galaxy-importer: %s imports clean (no warning)" % os.path.basename(artifact))
    return 0


if __name__ == "__main__":
    sys.exit(main())
