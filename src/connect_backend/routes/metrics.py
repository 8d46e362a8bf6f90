"""`GET /metrics`: the Prometheus scrape (`metrics.py`), for whoever holds `METRICS_TOKEN`.

Off (404) unless `METRICS_TOKEN` is set; with it, only `Authorization: Bearer <token>` is
answered (401 otherwise). The service's one port is the one Railway exposes, so the token, not
the network, keeps the numbers private. Not in the OpenAPI: it is for operators, not clients.
"""

from __future__ import annotations

import hmac

from fastapi import APIRouter, Request, Response

from connect_backend import metrics
from connect_backend.deps import SettingsDep
from connect_backend.errors import NotFound, Unauthorized

router = APIRouter()


@router.get("/metrics", include_in_schema=False)
async def scrape(request: Request, settings: SettingsDep) -> Response:
    """Every metric in the Prometheus text format (summed over this replica's workers)."""
    if settings.metrics_token is None:
        raise NotFound("Not found.", code="not_found")
    scheme, _, given = request.headers.get("authorization", "").partition(" ")
    wanted = settings.metrics_token.get_secret_value()
    if scheme.lower() != "bearer" or not hmac.compare_digest(given.encode(), wanted.encode()):
        raise Unauthorized(
            "A valid metrics token is required.", headers={"WWW-Authenticate": "Bearer"}
        )
    return Response(metrics.exposition(), media_type=metrics.CONTENT_TYPE)
