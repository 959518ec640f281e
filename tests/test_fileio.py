"""Atomic output: modes of published files and directories, no overwrite, no leftovers."""

from __future__ import annotations

import os
import stat

import pytest

from iastm_tools.errors import OutputExistsError
from iastm_tools.fileio import atomic_directory, write_text_atomic


@pytest.fixture
def umask_027():
    """Run with umask 027 (group read, no world access), then restore the caller's."""
    old = os.umask(0o027)
    try:
        yield 0o027
    finally:
        os.umask(old)


def _mode(path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_new_file_and_directory_get_the_umask_mode_not_the_temporary_one(tmp_path, umask_027):
    """A new file is 0666 and a new directory 0777 less the umask (0640 / 0750 here), as
    open() and mkdir() would make them, not the private 0600 / 0700 of their temporaries;
    no temporary is left beside them."""
    f = write_text_atomic(tmp_path / "a.txt", "x")
    assert _mode(f) == 0o640
    with atomic_directory(tmp_path / "bundle") as d:
        (d / "b.txt").write_text("y")
    assert _mode(tmp_path / "bundle") == 0o750
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.txt", "bundle"]


def test_forced_replacement_keeps_the_replaced_file_mode(tmp_path, umask_027):
    """Overwriting with force keeps the old file's mode (here 0604); without force the
    file is kept and the error names it."""
    f = tmp_path / "a.txt"
    f.write_text("old")
    os.chmod(f, 0o604)
    with pytest.raises(OutputExistsError, match=r"a\.txt"):
        write_text_atomic(f, "new")
    assert f.read_text() == "old"
    write_text_atomic(f, "new", force=True)
    assert f.read_text() == "new" and _mode(f) == 0o604


def test_failed_write_leaves_nothing(tmp_path):
    """A writer that raises leaves neither the target nor a temporary file."""
    from iastm_tools.fileio import write_atomic

    def boom(p):
        p.write_text("half")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        write_atomic(tmp_path / "a.txt", boom)
    assert list(tmp_path.iterdir()) == []
