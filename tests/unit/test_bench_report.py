"""What a benchmark report says of the machine it ran on: its speed at the time, measured by a
fixed piece of work, so that two runs' figures are compared only as far as their speeds agree."""

from __future__ import annotations

import pytest

from bench import report


def test_the_calibration_is_the_same_work_every_time() -> None:
    """Every run times the same work: what it computes is fixed (and would change with it)."""
    assert report._calibration(100) == report._calibration(100) == 1498
    assert report._calibration(20_000) == 309_998


def test_the_speed_is_the_median_of_the_timed_repeats(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = iter([0.0, 0.3, 1.0, 1.1, 2.0, 2.2])  # three repeats: 300, 100 and 200 ms
    monkeypatch.setattr(report.time, "process_time", lambda: next(clock))

    assert report.machine_speed_ms(repeats=3) == pytest.approx(200.0)


def test_the_machine_info_carries_the_speed() -> None:
    info = report.machine_info()

    assert info["speed"].endswith(" ms")
    assert float(info["speed"].removesuffix(" ms")) > 0
