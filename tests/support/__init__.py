"""Helpers shared by the tests that run real processes (the Worker, end to end)."""
