"""Atomic file output: write to a temporary file beside the target, then rename.

A crash or error never leaves a half-written file under the final name, and an existing
file or directory is never replaced unless the caller says ``force``. The temporary file
(directory) is created private (0600 / 0700); before the rename it gets the mode a plain
``open`` (``mkdir``) would have given it, 0666 (0777) less the umask, or the mode of the
file it replaces, so that exported files are as readable as any other (a machinist's
shared folder).
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import stat
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

from .errors import OutputExistsError


def cache_dir() -> Path:
    """Folder for derived, rebuildable files: ``$IASTM_CACHE_DIR`` or the user cache dir."""
    env = os.environ.get("IASTM_CACHE_DIR")
    if env:
        return Path(env)
    import platformdirs

    return Path(platformdirs.user_cache_dir("iastm_tools"))


def _umask() -> int:
    """The process umask, read without changing it where the OS shows it (Linux: a
    thread-safe read of /proc/self/status); elsewhere set and restored at once."""
    with contextlib.suppress(OSError):
        m = re.search(r"^Umask:\s*([0-7]+)", Path("/proc/self/status").read_text(), re.M)
        if m:
            return int(m.group(1), 8)
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _publish_mode(tmp: Path, target: Path, base: int) -> None:
    """Give ``tmp`` the mode of the ``target`` it replaces, else ``base`` less the umask."""
    try:
        mode = stat.S_IMODE(target.stat().st_mode)
    except FileNotFoundError:
        mode = base & ~_umask()
    os.chmod(tmp, mode)


def write_atomic(path: Path, write: Callable[[Path], None], *, force: bool = False) -> Path:
    """Call ``write(tmp_path)`` then rename ``tmp_path`` to ``path``.

    ``write`` receives a path in the same directory (same filesystem, so the rename is
    atomic) whose suffix equals ``path``'s, because some writers pick the format by suffix.
    """
    path = Path(path)
    if path.exists() and not force:
        raise OutputExistsError(f"{path}: exists; pass --force (force=True) to overwrite")
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(
        prefix=f".{path.stem}.", suffix=f".tmp{path.suffix}", dir=path.parent
    )
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        write(tmp_path)
        _publish_mode(tmp_path, path, 0o666)
        os.replace(tmp_path, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp_path.unlink()
    return path


def write_text_atomic(path: Path, text: str, *, force: bool = False) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    return write_atomic(path, lambda p: p.write_text(text, encoding="utf-8"), force=force)


def write_bytes_atomic(path: Path, data: bytes, *, force: bool = False) -> Path:
    """Write ``data`` to ``path`` atomically."""
    return write_atomic(path, lambda p: p.write_bytes(data), force=force)


@contextlib.contextmanager
def atomic_directory(path: Path, *, force: bool = False) -> Iterator[Path]:
    """Build a directory in a temporary sibling and move it into place when done.

    If the body raises, the temporary directory is removed and ``path`` is untouched.
    With ``force`` an existing ``path`` is replaced only after the new one is complete.
    """
    path = Path(path)
    if path.exists() and not force:
        raise OutputExistsError(f"{path}: exists; pass --force (force=True) to overwrite")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent))
    try:
        yield tmp
        _publish_mode(tmp, path, 0o777)
        if path.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".old", dir=path.parent))
            os.replace(path, old / path.name)
            os.replace(tmp, path)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, path)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
