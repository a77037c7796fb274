"""Unit tests of the import_files module: one folder, all files or none, nothing outside it."""

import os
import stat

import pytest

from ansible_collections.telnyx.sip.plugins.modules import import_files

MODULE = import_files

FILES = [dict(path="hosts.yml", content="pbx:\n  hosts:\n    a:\n"),
         dict(path="host_vars/a.yml", content="sip_attach_trunks: []\n"),
         dict(path="group_vars/all/vault.yml.example", content="vault_a_main_password: ''\n")]


def write(run, root, files=None, **options):
    return run(dict(dict(path=str(root), files=FILES if files is None else files), **options), connection=False)


def tree(root):
    """Every file under root with its text, and every folder."""
    found = {}
    for folder, dirs, files in os.walk(str(root)):
        for name in dirs:
            found[os.path.relpath(os.path.join(folder, name), str(root)) + "/"] = None
        for name in files:
            path = os.path.join(folder, name)
            with open(path) as handle:
                found[os.path.relpath(path, str(root))] = handle.read()
    return found


def mode(path):
    return stat.S_IMODE(os.stat(str(path)).st_mode)


def test_writes_every_file_and_the_folders_they_need(run, tmp_path):
    root = tmp_path / "inventory"
    result, failed = write(run, root)
    assert not failed and result["changed"] is True
    assert result["files"] == [dict(path=item["path"], status="new") for item in FILES]
    assert result["folders"] == [".", "host_vars", "group_vars", "group_vars/all"]
    assert result["refused"] == []
    assert tree(root) == {"host_vars/": None, "group_vars/": None, "group_vars/all/": None,
                          "hosts.yml": FILES[0]["content"], "host_vars/a.yml": FILES[1]["content"],
                          "group_vars/all/vault.yml.example": FILES[2]["content"]}
    assert mode(root) == 0o755 and mode(root / "group_vars" / "all") == 0o755
    assert mode(root / "hosts.yml") == 0o644 and mode(root / "host_vars" / "a.yml") == 0o644


def test_the_same_files_again_change_nothing(run, tmp_path):
    write(run, tmp_path / "inventory")
    result, failed = write(run, tmp_path / "inventory")
    assert not failed and result["changed"] is False
    assert [item["status"] for item in result["files"]] == ["unchanged"] * 3 and result["folders"] == []


def test_a_file_with_other_content_is_refused_and_nothing_is_written(run, tmp_path):
    root = tmp_path / "inventory"
    root.mkdir()
    (root / "hosts.yml").write_text("# mine\n")
    (root / "notes.txt").write_text("not the import's\n")
    result, failed = write(run, root)
    assert failed and result["changed"] is False
    assert result["msg"] == ("These files exist in %s and differ from what would be written: hosts.yml. Nothing was "
                             "written. Set overwrite to replace them." % root)
    assert result["refused"] == ["hosts.yml"]
    assert [item["status"] for item in result["files"]] == ["refused", "new", "new"]
    assert tree(root) == {"hosts.yml": "# mine\n", "notes.txt": "not the import's\n"}


def test_overwrite_replaces_what_differs_and_leaves_other_files_alone(run, tmp_path):
    root = tmp_path / "inventory"
    root.mkdir()
    (root / "hosts.yml").write_text("# mine\n")
    (root / "notes.txt").write_text("not the import's\n")
    result, failed = write(run, root, overwrite=True)
    assert not failed and result["changed"] is True
    assert [item["status"] for item in result["files"]] == ["replaced", "new", "new"]
    assert result["folders"] == ["host_vars", "group_vars", "group_vars/all"]
    assert tree(root)["hosts.yml"] == FILES[0]["content"] and tree(root)["notes.txt"] == "not the import's\n"
    assert not [name for name in os.listdir(str(root)) if name.startswith(".")]  # no temporary file left


def test_check_mode_writes_nothing_and_says_what_it_would(run, tmp_path):
    root = tmp_path / "inventory"
    result, failed = run(dict(path=str(root), files=FILES), check_mode=True, connection=False)
    assert not failed and result["changed"] is True
    assert [item["status"] for item in result["files"]] == ["new"] * 3
    assert not root.exists()


@pytest.mark.parametrize("path", ["../outside.yml", "/etc/outside.yml", "host_vars/../../outside.yml", "a//b.yml",
                                  "./hosts.yml", ""])
def test_a_path_that_leaves_the_folder_is_refused_before_anything_is_written(run, tmp_path, path):
    root = tmp_path / "inventory"
    result, failed = write(run, root, FILES + [dict(path=path, content="x")])
    assert failed
    assert result["msg"] == "files: %r is not a path inside the folder (relative, without . or .. parts)" % path
    assert sorted(os.listdir(str(tmp_path))) == []


def test_a_symbolic_link_out_of_the_folder_is_refused(run, tmp_path):
    root = tmp_path / "inventory"
    root.mkdir()
    (tmp_path / "elsewhere").mkdir()
    (root / "host_vars").symlink_to(tmp_path / "elsewhere")
    result, failed = write(run, root)
    assert failed
    assert result["msg"] == "files: host_vars/a.yml leads out of the folder %s (through a symbolic link)" % root
    assert os.listdir(str(tmp_path / "elsewhere")) == [] and sorted(os.listdir(str(root))) == ["host_vars"]


def test_the_folder_above_must_exist_and_the_folder_must_be_one(run, tmp_path):
    result, failed = write(run, tmp_path / "missing" / "inventory")
    assert failed and result["msg"] == (
        "path %s cannot be created: the folder that would hold it, %s, does not exist"
        % (tmp_path / "missing" / "inventory", tmp_path / "missing"))
    (tmp_path / "file").write_text("")
    result, failed = write(run, tmp_path / "file")
    assert failed and result["msg"] == "path %s exists and is not a folder" % (tmp_path / "file")
    assert sorted(os.listdir(str(tmp_path))) == ["file"]


def test_a_path_given_twice_is_refused(run, tmp_path):
    result, failed = write(run, tmp_path / "inventory", FILES + [FILES[0]])
    assert failed and result["msg"] == "files: hosts.yml is given twice"
    assert not (tmp_path / "inventory").exists()


def test_a_folder_where_a_file_goes_is_refused(run, tmp_path):
    root = tmp_path / "inventory"
    (root / "hosts.yml").mkdir(parents=True)
    result, failed = write(run, root)
    assert failed and result["msg"] == "files: hosts.yml is a folder in %s" % root
