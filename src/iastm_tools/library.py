"""The profile library: where profiles live, finding one by name, and cached key figures.

Profiles are looked up in ``$IASTM_PROFILES`` if set, else ``./profiles`` when it exists,
else the ``profiles/`` folder of the source tree this package was installed from.
"""

from __future__ import annotations

import hashlib
import json
import os
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

from . import __version__
from .errors import IastmError
from .fileio import cache_dir, write_text_atomic
from .profile import Profile, load_profile

_PACKAGE_ROOT = Path(__file__).resolve().parent


def profiles_dir() -> Path:
    """The folder of library profiles."""
    env = os.environ.get("IASTM_PROFILES")
    if env:
        return Path(env)
    local = Path.cwd() / "profiles"
    if local.is_dir():
        return local
    return _PACKAGE_ROOT.parents[1] / "profiles"


def library_paths(directory: Path | None = None) -> list[Path]:
    """Sorted profile files of the library (raises IastmError if there are none)."""
    directory = Path(directory) if directory else profiles_dir()
    if not directory.is_dir():
        raise IastmError(
            f"{directory}: profile folder not found (set IASTM_PROFILES or pass --dir)"
        )
    paths = sorted(directory.glob("*.toml"))
    if not paths:
        raise IastmError(f"{directory}: no *.toml profiles in this folder")
    return paths


def find_profile(name_or_path: str | Path, directory: Path | None = None) -> Path:
    """A profile file from a path, or from a library name (``blade-large-cc``)."""
    p = Path(name_or_path)
    if p.suffix == ".toml" or p.exists() or os.sep in str(name_or_path):
        if not p.exists():
            raise IastmError(f"{p}: profile file not found")
        return p
    directory = Path(directory) if directory else profiles_dir()
    candidate = directory / f"{name_or_path}.toml"
    if candidate.exists():
        return candidate
    names = ", ".join(q.stem for q in sorted(directory.glob("*.toml")))
    raise IastmError(
        f"{name_or_path}: no such profile in {directory}; available: {names or 'none'}"
    )


def profile_key(profile: Profile) -> str:
    """Content hash of a resolved profile and the software version (cache key)."""
    blob = json.dumps(profile.to_dict(), sort_keys=True) + __version__
    return hashlib.sha256(blob.encode()).hexdigest()[:24]


def _figures(path: str) -> dict[str, Any]:
    from .tool import Tool

    return Tool.from_profile(path).summary()


def library_summaries(
    paths: list[Path], workers: int = 2, progress: Any = None
) -> list[dict[str, Any]]:
    """Key figures (dimensions, volume, mass) of each profile, cached by content.

    The volume needs the CAD solid; figures are cached under :func:`cache_dir` keyed by
    :func:`profile_key`, and missing ones are built in ``workers`` processes.
    """
    profiles = [load_profile(p) for p in paths]
    store = cache_dir() / "summaries"
    out: list[dict[str, Any] | None] = []
    missing: list[int] = []
    for i, prof in enumerate(profiles):
        f = store / f"{profile_key(prof)}.json"
        if f.exists():
            try:
                out.append(json.loads(f.read_text()))
                continue
            except (OSError, json.JSONDecodeError):
                pass
        out.append(None)
        missing.append(i)
    if missing:
        if len(missing) == 1 or workers <= 1:
            results = [_figures(str(paths[i])) for i in missing]
        else:
            import multiprocessing as mp

            # spawn, not fork: forking a process that already holds OCCT state deadlocks
            with ProcessPoolExecutor(max_workers=workers, mp_context=mp.get_context("spawn")) as ex:
                results = list(ex.map(_figures, [str(paths[i]) for i in missing]))
        for i, res in zip(missing, results, strict=True):
            out[i] = res
            write_text_atomic(
                store / f"{profile_key(profiles[i])}.json",
                json.dumps(res, sort_keys=True),
                force=True,
            )
            if progress is not None:
                progress()
    return [o for o in out if o is not None]
