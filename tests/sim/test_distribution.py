"""The simulator is a dev-only distribution: the service's wheel and image never hold it.

The service's wheel is built here as the Docker image builds it (pyproject.toml, README.md
and src/, through setuptools in uv's isolated build), in a temporary copy so nothing is
written into the repository.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _uv() -> list[str]:
    """uv as scripts/bootstrap finds it: the command, or ``python3 -m uv``."""
    if found := shutil.which("uv"):
        return [found]
    python = shutil.which("python3")
    if python:
        probe = subprocess.run(  # noqa: S603 - a fixed command line
            [python, "-m", "uv", "--version"], capture_output=True, check=False
        )
        if probe.returncode == 0:
            return [python, "-m", "uv"]
    pytest.fail("uv is missing: run ./scripts/bootstrap")


def _build_wheel(project: Path, out: Path) -> Path:
    """Build one wheel; offline first (setuptools is in uv's cache after bootstrap)."""
    for offline in (["--offline"], []):
        done = subprocess.run(  # noqa: S603 - uv on a copy of our own project
            [*_uv(), "build", *offline, "--wheel", "--out-dir", str(out), str(project)],
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        if done.returncode == 0:
            [wheel] = out.glob("*.whl")
            return wheel
    pytest.fail(f"uv build failed:\n{done.stderr}")


def _copy_project(source: Path, target: Path, *names: str) -> Path:
    ignore = shutil.ignore_patterns("*.egg-info", "__pycache__", "build", "dist")
    target.mkdir()
    for name in names:
        if (source / name).is_dir():
            shutil.copytree(source / name, target / name, ignore=ignore)
        else:
            shutil.copy2(source / name, target / name)
    return target


def _top_level(wheel: Path) -> set[str]:
    with zipfile.ZipFile(wheel) as archive:
        return {name.split("/", 1)[0] for name in archive.namelist()}


def test_the_service_wheel_holds_connect_backend_alone(tmp_path: Path) -> None:
    project = _copy_project(ROOT, tmp_path / "service", "pyproject.toml", "README.md", "src")

    wheel = _build_wheel(project, tmp_path / "dist")

    packages = {name for name in _top_level(wheel) if not name.endswith(".dist-info")}
    assert packages == {"connect_backend"}


def test_the_simulator_wheel_holds_stripe_sim_alone(tmp_path: Path) -> None:
    project = _copy_project(ROOT / "sim", tmp_path / "sim", "pyproject.toml", "README.md", "src")

    wheel = _build_wheel(project, tmp_path / "dist")

    assert wheel.name.startswith("stripe_sim-")
    assert {n for n in _top_level(wheel) if not n.endswith(".dist-info")} == {"stripe_sim"}


def test_the_image_copies_the_service_package_and_nothing_of_the_simulator() -> None:
    copies = re.findall(r"^COPY\s+(?!--from)(.+)$", (ROOT / "Dockerfile").read_text(), re.M)
    sources = {source for line in copies for source in line.split()[:-1]}

    assert "src/connect_backend" in sources
    assert not {s for s in sources if s in ("src", "src/", ".", "sim") or s.startswith("sim/")}
