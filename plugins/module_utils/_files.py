# -*- coding: utf-8 -*-
# Copyright (c) telnyx.sip contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""Writing a set of files into one folder, all or none, and nowhere else (the ``import_files`` module).

PRIVATE: internal to the telnyx.sip collection; may change without notice.

``plan`` decides, before anything is written, what becomes of each file: new,
unchanged (same content), replaced (only with ``overwrite``) or refused (it
exists with other content); a path that would leave the folder is a
``ValidationError``. ``write`` then creates the folders and writes the files,
each through a temporary file beside it and an atomic rename.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import tempfile

from ansible_collections.telnyx.sip.plugins.module_utils._resource import ValidationError

FILE_MODE = 0o644
FOLDER_MODE = 0o755


def _inside(root, path):
    return path == root or path.startswith(root.rstrip(os.sep) + os.sep)


def _target(root, relative):
    """The absolute path of ``relative`` in ``root``, or a ValidationError when it would lead out of it."""
    parts = relative.split("/") if isinstance(relative, str) else []
    if not parts or relative.startswith("/") or any(part in ("", ".", "..") for part in parts):
        raise ValidationError("files: %r is not a path inside the folder (relative, without . or .. parts)"
                              % (relative,))
    target = os.path.join(root, *parts)
    # a symbolic link on the way may lead elsewhere: what counts is where the file really lands
    if not _inside(os.path.realpath(root), os.path.realpath(target)):
        raise ValidationError("files: %s leads out of the folder %s (through a symbolic link)" % (relative, root))
    return target


def plan(root, files, overwrite=False):
    """``(entries, folders)``: each file's ``{path, status}`` with its target and bytes, and the folders to create.

    ``root`` is an absolute folder (it may not exist yet); ``files`` are
    ``{path, content}`` with ``path`` relative to it.
    """
    if os.path.lexists(root) and not os.path.isdir(root):
        raise ValidationError("path %s exists and is not a folder" % root)
    if not os.path.isdir(os.path.dirname(root)):
        raise ValidationError("path %s cannot be created: the folder that would hold it, %s, does not exist"
                              % (root, os.path.dirname(root)))
    entries = []
    seen = set()
    folders = []
    for item in files:
        relative = item.get("path")
        target = _target(root, relative)
        if relative in seen:
            raise ValidationError("files: %s is given twice" % relative)
        seen.add(relative)
        data = (item.get("content") or "").encode("utf-8")
        if os.path.isdir(target):
            raise ValidationError("files: %s is a folder in %s" % (relative, root))
        if not os.path.lexists(target):
            status = "new"
        else:
            with open(target, "rb") as handle:
                same = handle.read() == data
            status = "unchanged" if same else "replaced" if overwrite else "refused"
        entries.append(dict(path=relative, status=status, target=target, data=data))
        folder = os.path.dirname(target)
        while not os.path.isdir(folder) and folder not in folders and _inside(root, folder):
            folders.append(folder)
            folder = os.path.dirname(folder)
    folders.sort(key=len)
    return entries, folders


def write(entries, folders, mode=FILE_MODE, folder_mode=FOLDER_MODE):
    """Create ``folders`` and write every new or replaced entry."""
    for folder in folders:
        os.mkdir(folder, folder_mode)
    for entry in entries:
        if entry["status"] not in ("new", "replaced"):
            continue
        folder = os.path.dirname(entry["target"])
        handle, temporary = tempfile.mkstemp(dir=folder, prefix=".%s." % os.path.basename(entry["target"]))
        try:
            with os.fdopen(handle, "wb") as out:
                out.write(entry["data"])
            os.chmod(temporary, mode)
            os.rename(temporary, entry["target"])
        except BaseException:
            if os.path.lexists(temporary):
                os.unlink(temporary)
            raise


def run_import_files(module):
    """The whole of ``import_files``: plan, refuse or write, report."""
    root = os.path.abspath(module.params["path"])
    entries, folders = plan(root, module.params["files"], module.params["overwrite"])
    refused = [entry["path"] for entry in entries if entry["status"] == "refused"]
    result = dict(
        changed=bool(folders) or any(entry["status"] in ("new", "replaced") for entry in entries),
        files=[dict(path=entry["path"], status=entry["status"]) for entry in entries],
        folders=[os.path.relpath(folder, root) for folder in folders],
        refused=refused,
    )
    if refused:
        result["changed"] = False
        module.fail_json(msg="These files exist in %s and differ from what would be written: %s. Nothing was "
                             "written. Set overwrite to replace them." % (root, ", ".join(refused)), **result)
    if not module.check_mode:
        try:
            write(entries, folders)
        except (IOError, OSError) as exc:
            module.fail_json(msg="Writing into %s failed: %s" % (root, exc), **result)
    return result
