"""A Debian unstable (sid) root with Asterisk 22, built once and cached: the PBX of tests/integration/pbx.

    python tests/tools/asterisk_root.py            # build it unless it is there (make asterisk)
    python tests/tools/asterisk_root.py --print    # only print where it is, or exit 1 when it is not built

Debian 12 has no Asterisk package; unstable has Asterisk 22. The root is built with
`debootstrap --variant=minbase sid DIR MIRROR` (MIRROR: the Debian URI of this machine's own apt
sources), then `apt-get install --no-install-recommends asterisk asterisk-modules` inside it, with
`openssh-server`, `sudo` and `python3` for the PBX hosts that Ansible reaches over SSH
(tests/tools/pbx_host.py). It lives outside the work tree, in ~/.cache/telnyx.sip/asterisk-sid (TELNYX_ASTERISK_ROOT overrides),
is built in a temporary folder beside it and renamed only once complete, with a stamp file: a second
run does nothing and a half-built root is never used. A root built before the host packages were part of it
gets them in place (under the same lock), and a second stamp, written once they are installed, says so. A lock serialises concurrent builds (pytest-xdist
workers). Needs root (debootstrap, chroot); installs debootstrap with apt-get when it is missing.
"""

import argparse
import fcntl
import glob
import os
import shutil
import subprocess
import sys
import tempfile
import time

DEFAULT_ROOT = os.path.join("~", ".cache", "telnyx.sip", "asterisk-sid")
ROOT_ENV = "TELNYX_ASTERISK_ROOT"
STAMP = "telnyx-asterisk-root.stamp"  # in the root's top folder, written last
SUITE = "sid"
PACKAGES = ("asterisk", "asterisk-modules")
# what a PBX host (tests/tools/pbx_host.py) needs besides Asterisk: Ansible logs in over SSH, becomes root with sudo
# and runs its modules with python3
HOST_PACKAGES = ("openssh-server", "sudo", "python3")
HOST_BINARIES = ("usr/sbin/sshd", "usr/bin/sudo", "usr/bin/python3")
HOST_STAMP = "telnyx-asterisk-root.hosts.stamp"  # written once HOST_PACKAGES are installed
SOURCES = ("/etc/apt/sources.list.d/debian.sources", "/etc/apt/sources.list")
FALLBACK_MIRROR = "http://deb.debian.org/debian"
# invoke-rc.d asks this before starting a service: the package must not start Asterisk while it installs
POLICY_RC_D = "#!/bin/sh\n# written by tests/tools/asterisk_root.py: no daemon starts while packages install\nexit 101\n"


class AsteriskRootError(RuntimeError):
    pass


def root_path(path=None):
    """The root's folder: `path`, else $TELNYX_ASTERISK_ROOT, else ~/.cache/telnyx.sip/asterisk-sid."""
    return os.path.abspath(os.path.expanduser(path or os.environ.get(ROOT_ENV) or DEFAULT_ROOT))


def _has_asterisk(root):
    return os.path.isfile(os.path.join(root, STAMP)) and os.path.isfile(os.path.join(root, "usr", "sbin", "asterisk"))


def _has_host_packages(root):
    return os.path.isfile(os.path.join(root, HOST_STAMP)) and all(
        os.path.isfile(os.path.join(root, binary)) for binary in HOST_BINARIES)


def is_ready(root):
    """True when `root` is a complete build: Asterisk (STAMP, written after it installed) and the host packages
    (HOST_STAMP, written after they installed)."""
    return _has_asterisk(root) and _has_host_packages(root)


def _deb822_mirror(text):
    """The first URI of the first stanza serving a main suite (not -security, -updates, -backports)."""
    for stanza in text.split("\n\n"):
        fields = {}
        for line in stanza.splitlines():
            name, colon, value = line.partition(":")
            if colon and not line.startswith((" ", "#")):
                fields[name.strip().lower()] = value.strip()
        suites = fields.get("suites", "").split()
        if "deb" in fields.get("types", "").split() and any("-" not in suite for suite in suites):
            uris = fields.get("uris", "").split()
            if uris:
                return uris[0]
    return None


def _one_line_mirror(text):
    for line in text.splitlines():
        words = [word for word in line.split("#", 1)[0].split() if not word.startswith("[")]
        if len(words) >= 3 and words[0] == "deb" and "-" not in words[2]:
            return words[1]
    return None


def apt_mirror(sources=SOURCES):
    """The Debian mirror of this machine's apt sources (the main suite's URI), else deb.debian.org."""
    for path in sources:
        try:
            with open(path, encoding="utf-8") as handle:
                text = handle.read()
        except OSError:
            continue
        mirror = _deb822_mirror(text) if path.endswith(".sources") else _one_line_mirror(text)
        if mirror:
            return mirror.rstrip("/")
    return FALLBACK_MIRROR


def run(command, **options):
    """Run a command, printing it first; AsteriskRootError when it fails."""
    print("+ " + " ".join(command), flush=True)
    try:
        subprocess.run(command, check=True, stdin=subprocess.DEVNULL, **options)
    except (OSError, subprocess.CalledProcessError) as exc:
        raise AsteriskRootError(f"{command[0]} failed: {exc}")


def debootstrap():
    """The debootstrap binary, installed with apt-get when missing."""
    found = shutil.which("debootstrap") or next(
        (path for path in ("/usr/sbin/debootstrap", "/sbin/debootstrap") if os.access(path, os.X_OK)), None)
    if found:
        return found
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    run(["apt-get", "update"], env=env)
    run(["apt-get", "install", "-y", "--no-install-recommends", "debootstrap"], env=env)
    found = shutil.which("debootstrap") or "/usr/sbin/debootstrap"
    if not os.access(found, os.X_OK):
        raise AsteriskRootError("debootstrap is still missing after apt-get install debootstrap")
    return found


def asterisk_version(root):
    """`asterisk -V` in the root, e.g. 'Asterisk 22.10.1+dfsg+~cs6.15.60671435-1'."""
    completed = subprocess.run(["chroot", root, "asterisk", "-V"], capture_output=True, text=True, check=False,
                               stdin=subprocess.DEVNULL)
    return (completed.stdout or completed.stderr).strip()


def _apt_env():
    return dict(os.environ, DEBIAN_FRONTEND="noninteractive", LC_ALL="C.UTF-8", LANG="C.UTF-8")


def _install(folder, packages, env):
    # the mirror's unstable Release file may be past its Valid-Until date: a plain update refuses it
    run(["chroot", folder, "apt-get", "-o", "Acquire::Check-Valid-Until=false", "update"], env=env)
    run(["chroot", folder, "apt-get", "install", "-y", "--no-install-recommends", *packages], env=env)
    run(["chroot", folder, "apt-get", "clean"], env=env)


def _finish_host_packages(folder):
    """Check HOST_PACKAGES are installed, drop the SSH host keys their install generated (each host generates its
    own) and write HOST_STAMP."""
    missing = [binary for binary in HOST_BINARIES if not os.path.isfile(os.path.join(folder, binary))]
    if missing:
        raise AsteriskRootError(f"{', '.join(missing)} missing in {folder} after apt-get install {' '.join(HOST_PACKAGES)}")
    for key in glob.glob(os.path.join(folder, "etc", "ssh", "ssh_host_*")):
        os.unlink(key)
    with open(os.path.join(folder, HOST_STAMP), "w", encoding="utf-8") as handle:
        handle.write(f"{' '.join(HOST_PACKAGES)}\ninstalled {time.strftime('%Y-%m-%dT%H:%M:%S%z')}\n")


def add_host_packages(root):
    """Install HOST_PACKAGES into a root built without them (in place; the caller holds the build lock)."""
    env = _apt_env()
    run(["chroot", root, "dpkg", "--configure", "-a"], env=env)  # an earlier run that was killed half-way
    _install(root, HOST_PACKAGES, env)
    _finish_host_packages(root)


def _build_into(folder, mirror):
    env = _apt_env()
    started = time.monotonic()
    run([debootstrap(), "--variant=minbase", SUITE, folder, mirror], env=env)
    bootstrapped = time.monotonic()
    policy = os.path.join(folder, "usr", "sbin", "policy-rc.d")
    with open(policy, "w", encoding="utf-8") as handle:
        handle.write(POLICY_RC_D)
    os.chmod(policy, 0o755)
    _install(folder, PACKAGES + HOST_PACKAGES, env)
    _finish_host_packages(folder)
    version = asterisk_version(folder)
    if not version.startswith("Asterisk "):
        raise AsteriskRootError(f"asterisk -V in the new root printed {version!r}")
    with open(os.path.join(folder, STAMP), "w", encoding="utf-8") as handle:
        handle.write(f"{version}\nsuite {SUITE} from {mirror}\nbuilt {time.strftime('%Y-%m-%dT%H:%M:%S%z')}\n"
                     f"debootstrap {bootstrapped - started:.0f}s, apt-get {time.monotonic() - bootstrapped:.0f}s\n")
    return version


def ensure_root(path=None, mirror=None):
    """The path of a complete Asterisk root, building it first when needed (AsteriskRootError on failure)."""
    root = root_path(path)
    if is_ready(root):
        return root
    if os.geteuid() != 0:
        raise AsteriskRootError(f"building the Asterisk root {root} needs root (debootstrap, chroot)")
    parent, name = os.path.split(root)
    os.makedirs(parent, exist_ok=True)
    with open(os.path.join(parent, f".{name}.lock"), "w", encoding="utf-8") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # another process may be building it: wait for it
        if is_ready(root):
            return root
        if _has_asterisk(root):  # built before the host packages were part of the root
            add_host_packages(root)
            print(f"{asterisk_version(root)} in {root}, with {' '.join(HOST_PACKAGES)}", flush=True)
            return root
        if os.path.lexists(root):
            raise AsteriskRootError(f"{root} exists but is not a complete Asterisk root (no {STAMP}): remove it")
        for stale in glob.glob(os.path.join(parent, f".{name}.build-*")):  # a build that was killed
            print(f"+ rm -rf {stale}", flush=True)
            shutil.rmtree(stale, ignore_errors=True)
        folder = tempfile.mkdtemp(prefix=f".{name}.build-", dir=parent)
        try:
            os.chmod(folder, 0o755)
            version = _build_into(folder, mirror or apt_mirror())
            print(f"+ mv {folder} {root}", flush=True)
            os.rename(folder, root)
        except BaseException:
            shutil.rmtree(folder, ignore_errors=True)
            raise
    print(f"{version} in {root}", flush=True)
    return root


def main(argv=None):
    parser = argparse.ArgumentParser(description="Build (once) the Debian sid root with Asterisk 22 for the tests.")
    parser.add_argument("--root", help=f"where (default: ${ROOT_ENV}, else {DEFAULT_ROOT})")
    parser.add_argument("--mirror", help="Debian mirror (default: the main URI of this machine's apt sources)")
    parser.add_argument("--print", dest="print_only", action="store_true",
                        help="print the root's path if it is built, else exit 1; build nothing")
    args = parser.parse_args(argv)
    root = root_path(args.root)
    if args.print_only:
        print(root)
        return 0 if is_ready(root) else 1
    if is_ready(root):
        print(f"{asterisk_version(root)} in {root} (already built; remove the folder to rebuild)")
        return 0
    try:
        ensure_root(root, args.mirror)
    except AsteriskRootError as exc:
        print(f"asterisk_root: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
