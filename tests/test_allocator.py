"""glibc allocator settings for the fit (iastm_tools.allocator)."""

from __future__ import annotations

import sys

from iastm_tools import allocator


def test_tuning_is_applied_once_and_can_be_refused(monkeypatch):
    """On Linux with glibc the settings are in force (mallopt accepts each one); the
    outcome is decided once per process; IASTM_MALLOC_TUNING=0 leaves the allocator alone."""
    monkeypatch.setenv("IASTM_MALLOC_TUNING", "0")
    assert allocator._apply() is False
    monkeypatch.delenv("IASTM_MALLOC_TUNING")
    applied = allocator._apply()
    if sys.platform.startswith("linux"):
        import platform

        if platform.libc_ver()[0] == "glibc":
            assert applied is True
    monkeypatch.setattr(allocator, "_DONE", [])
    calls = []
    monkeypatch.setattr(allocator, "_apply", lambda: calls.append(1) or True)
    assert allocator.tune_allocator() is True
    assert allocator.tune_allocator() is True
    assert calls == [1]

