"""Test-wide settings: the run cache is off, so every test trains what it checks.

Tests of the cache turn it on for a temporary folder with ``run_cache_on``.
"""

import os

import pytest

os.environ["GP_CORE_RUN_CACHE"] = "off"


@pytest.fixture
def run_cache_on(tmp_path, monkeypatch):
    """Turn the run cache on, in a fresh folder; return that folder."""
    monkeypatch.setenv("GP_CORE_RUN_CACHE", "on")
    monkeypatch.setenv("GP_CORE_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache" / "runs"
