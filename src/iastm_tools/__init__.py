"""iastm_tools: design, check and export IASTM instruments.

Pipeline (one module per stage): ``profile`` (TOML format, validation) -> ``solid``
(CadQuery) -> ``contours`` -> ``body`` (meshes, sites, tissue) -> ``contact`` (solvers)
-> ``fit`` (pose optimisation) -> outputs (``export``, preview, report) -> ``cli``.

Public units: millimetres, newtons, kilopascals, degrees.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("iastm_tools")
except PackageNotFoundError:  # pragma: no cover - running from a source tree
    __version__ = "0.0.0+local"

from .errors import IastmError, ProfileError

__all__ = ["Body", "IastmError", "ProfileError", "Tool", "__version__", "fit", "fit_stroke"]


def __getattr__(name: str):  # lazy: importing CadQuery costs ~1 s
    if name == "Tool":
        from .tool import Tool

        return Tool
    if name == "Body":
        from .body import Body

        return Body
    if name in ("fit", "fit_stroke"):
        import importlib

        module = importlib.import_module(".fit", __name__)  # sets this package's `fit`
        return module if name == "fit" else module.fit_stroke
    raise AttributeError(name)
