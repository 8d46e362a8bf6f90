"""Benchmarks of the local stack (`python -m bench.run`); not tests."""
