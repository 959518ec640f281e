"""Shared fixtures: the profile library, built once per test session."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

REPO = Path(__file__).resolve().parents[1]
PROFILES_DIR = REPO / "profiles"
PROFILE_PATHS = sorted(PROFILES_DIR.glob("*.toml"))

settings.register_profile(
    "ci",
    max_examples=25,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


@pytest.fixture(scope="session")
def library_tools():
    """Every profile in profiles/ as a built Tool, keyed by profile name."""
    from iastm_tools import Tool

    tools = {}
    for path in PROFILE_PATHS:
        tool = Tool.from_profile(path)
        _ = tool.solid  # build once for the whole session
        tools[tool.name] = tool
    return tools


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory, monkeypatch):
    """Keep cached derived files (meshes) out of the user's cache during tests."""
    cache = tmp_path_factory.getbasetemp() / "iastm_cache"
    monkeypatch.setenv("IASTM_CACHE_DIR", str(cache))
