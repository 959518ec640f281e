"""Where the body data lives (``body_scans/``) and where built meshes are cached.

``body_scans/`` sits at the repository root (the package is installed in editable mode);
``IASTM_BODY_SCANS`` points elsewhere. Built meshes go to
``platformdirs.user_cache_dir("iastm_tools")/bodies`` unless ``IASTM_CACHE_DIR`` is set.
"""

from __future__ import annotations

import os
from pathlib import Path

from ..errors import IastmError

__all__ = ["body_cache_dir", "body_scans_dir"]


def body_scans_dir() -> Path:
    """The ``body_scans/`` data folder (env ``IASTM_BODY_SCANS`` overrides)."""
    env = os.environ.get("IASTM_BODY_SCANS")
    path = Path(env) if env else Path(__file__).resolve().parents[3] / "body_scans"
    if not (path / "makehuman").is_dir():
        raise IastmError(
            f"{path}: body data folder not found or incomplete (needs makehuman/ and "
            "openlimbtt/); set IASTM_BODY_SCANS to the repository's body_scans/ folder"
        )
    return path


def body_cache_dir() -> Path:
    """Cache folder for built bodies (env ``IASTM_CACHE_DIR`` overrides); created if missing."""
    from ..fileio import cache_dir

    path = cache_dir() / "bodies"
    path.mkdir(parents=True, exist_ok=True)
    return path
