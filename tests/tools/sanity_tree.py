"""Copy the collection into ``<dest>/ansible_collections/<namespace>/<name>``.

ansible-test only runs inside a directory laid out as
``ansible_collections/NAMESPACE/NAME``.  This copies the files git knows about
(tracked, plus untracked files that are not ignored: ``git ls-files -co
--exclude-standard``) so the tree under test is exactly what would be
committed, and prints the collection path.  Files that disappeared from the
source are removed from the copy; unchanged files are left alone, so re-runs
are cheap.

ansible-test walks up from the collection looking for a ``.git`` to list the
files with; finding the work tree's own ``.git`` (where the copy is ignored)
would make it see no files at all.  So the copy gets an empty ``git init``
of its own: nothing is committed there, ansible-test lists the untracked
files with ``git ls-files --others --exclude-standard``.

Usage: python tests/tools/sanity_tree.py [--src REPO] [--dest DIR]
"""
from __future__ import annotations

import argparse
import filecmp
import os
import shutil
import subprocess
import sys

import yaml


# left alone in the copy: its own git marker and ansible-test's output
KEEP = ('.git' + os.sep, '.git', os.path.join('tests', 'output'))


def git_files(src: str) -> list[str]:
    """Return the tracked and untracked-not-ignored files of the work tree."""
    out = subprocess.run(
        ['git', '-C', src, 'ls-files', '-co', '--exclude-standard', '-z'],
        check=True, stdout=subprocess.PIPE,
    ).stdout.decode('utf-8')
    # deleted-but-tracked files are still listed by ls-files: keep what exists
    return sorted(p for p in out.split('\0') if p and os.path.lexists(os.path.join(src, p)))


def sync(src: str, dest: str, files: list[str]) -> None:
    """Make dest hold exactly files (copied from src)."""
    wanted = set(files)
    for rel in files:
        source = os.path.join(src, rel)
        target = os.path.join(dest, rel)
        os.makedirs(os.path.dirname(target), exist_ok=True)
        if os.path.islink(source):
            if os.path.lexists(target):
                os.remove(target)
            os.symlink(os.readlink(source), target)
        elif not (os.path.isfile(target) and filecmp.cmp(source, target, shallow=False)):
            shutil.copy2(source, target)
    for root, dirs, names in os.walk(dest, topdown=False):
        for name in names:
            path = os.path.join(root, name)
            rel = os.path.relpath(path, dest)
            if rel not in wanted and not rel.startswith(KEEP):
                os.remove(path)
        for name in dirs:
            path = os.path.join(root, name)
            rel = os.path.relpath(path, dest)
            if not rel.startswith(KEEP) and not os.path.islink(path) and not os.listdir(path):
                os.rmdir(path)


def main() -> int:
    here = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--src', default=here, help='collection root (default: this repo)')
    parser.add_argument('--dest', default=None, help='parent of ansible_collections/ (default: SRC/tests/output/.sanity)')
    opts = parser.parse_args()

    src = os.path.abspath(opts.src)
    with open(os.path.join(src, 'galaxy.yml'), encoding='utf-8') as handle:
        galaxy = yaml.safe_load(handle)
    dest_root = os.path.abspath(opts.dest or os.path.join(src, 'tests', 'output', '.sanity'))
    dest = os.path.join(dest_root, 'ansible_collections', galaxy['namespace'], galaxy['name'])
    if os.path.commonpath([dest, src]) == src and not os.path.relpath(dest, src).startswith(os.path.join('tests', 'output')):
        print('refusing to copy into the work tree outside tests/output: %s' % dest, file=sys.stderr)
        return 2

    files = [f for f in git_files(src) if not f.startswith('tests/output/')]
    os.makedirs(dest, exist_ok=True)
    sync(src, dest, files)
    if not os.path.isdir(os.path.join(dest, '.git')):
        subprocess.run(['git', 'init', '-q', dest], check=True)
    print(dest)
    return 0


if __name__ == '__main__':
    sys.exit(main())
