"""Shared pytest configuration: the session-wide secrets guard (tests/secrets_guard.py)."""

from tests.secrets_guard import pytest_configure, pytest_sessionfinish, pytest_unconfigure

__all__ = ["pytest_configure", "pytest_sessionfinish", "pytest_unconfigure"]
