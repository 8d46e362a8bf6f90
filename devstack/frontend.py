"""The demo frontend (frontend/, React on Vite) as a Process of the local stack."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

from devstack.procs import Process

FRONTEND = Path(__file__).resolve().parent.parent / "frontend"
VITE = FRONTEND / "node_modules" / ".bin" / "vite"


def origin(url: str) -> str:
    """`scheme://host[:port]` of `url`."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def vite_process(
    *, frontend_url: str, worker_url: str, service_url: str, log_path: Path
) -> Process:
    """Vite's dev server on 127.0.0.1 at `frontend_url`'s port, told where the two services are."""
    port = urlsplit(frontend_url).port or 80
    return Process(
        "frontend",
        [str(VITE), "--host", "127.0.0.1", "--port", str(port), "--strictPort"],
        cwd=FRONTEND,
        log_path=log_path,
        env={"VITE_WORKER_URL": worker_url, "VITE_BACKEND_URL": service_url, "BROWSER": "none"},
    )
