"""Make this work tree importable as ``ansible_collections.telnyx.sip``.

Python (and Ansible's collection loader) only finds a collection under a
directory named ``ansible_collections/<namespace>/<name>``.  Instead of laying
that out inside the repository (which would put a symlink loop in the work
tree), :func:`collections_root` creates it once per checkout under the
system temp dir::

    <tmp>/telnyx-sip-<hash of repo path>/ansible_collections/telnyx/sip -> <repo>

and returns ``<tmp>/telnyx-sip-<hash>`` (the directory to put on ``sys.path``
and in ``ANSIBLE_COLLECTIONS_PATH``).  Safe to call from several processes at
once (pytest-xdist workers): the symlink is swapped in atomically.
"""
from __future__ import annotations

import hashlib
import os
import tempfile

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NAMESPACE = 'telnyx'
NAME = 'sip'


def collections_root() -> str:
    """Return the directory holding ``ansible_collections/telnyx/sip`` (created if needed)."""
    digest = hashlib.sha256(REPO_ROOT.encode('utf-8')).hexdigest()[:10]
    root = os.path.join(tempfile.gettempdir(), '%s-%s-%s' % (NAMESPACE, NAME, digest))
    parent = os.path.join(root, 'ansible_collections', NAMESPACE)
    link = os.path.join(parent, NAME)

    if os.path.islink(link) and os.readlink(link) == REPO_ROOT:
        return root

    os.makedirs(parent, exist_ok=True)
    tmp_link = '%s.%d.tmp' % (link, os.getpid())
    if os.path.lexists(tmp_link):
        os.remove(tmp_link)
    os.symlink(REPO_ROOT, tmp_link)
    os.replace(tmp_link, link)  # atomic; replaces a stale link to an older checkout
    return root
