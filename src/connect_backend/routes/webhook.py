"""`POST /api/connect/webhook`: Stripe's deliveries (`webhooks.py` verifies, `events.py` acts).

A `DirectRoute`: the handler takes the request and answers it itself, since it needs nothing
FastAPI would do for it per request (no parameters, no body model; its clients come from the
lifespan's state). Its OpenAPI entry is the decorator's, as for any route."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from connect_backend import events, metrics
from connect_backend.json_body import DirectRoute, json_answer
from connect_backend.openapi import WEBHOOK_REQUEST, responses
from connect_backend.schemas import WebhookAck
from connect_backend.settings import Settings
from connect_backend.stripe_budget import StripeClass, stripe_class
from connect_backend.stripe_gateway import StripeGateway
from connect_backend.webhooks import MAX_BODY, verified_event
from connect_backend.worker import WorkerClient

__all__ = ["MAX_BODY", "router"]

router = APIRouter(prefix="/api/connect", tags=["webhooks"], route_class=DirectRoute)


@router.post(
    "/webhook",
    response_model=WebhookAck,
    responses=responses(400, 404, 409, 413, 502, 503),
    openapi_extra=WEBHOOK_REQUEST,
)
async def webhook(request: Request) -> Response:
    """Verify a Stripe delivery and bring D1 up to date with what it announces."""
    settings: Settings = request.state.settings
    worker: WorkerClient = request.state.worker
    stripe: StripeGateway = request.state.stripe
    event = await verified_event(request, settings, stripe)
    stripe_class.set(StripeClass.EVENT)
    event_type = metrics.event_type_label(event.type)
    try:
        action = await events.handle(
            event,
            livemode=settings.livemode,
            worker=worker,
            gateway=stripe,
            refund_fee_policy=settings.refund_fee_policy,
        )
    except Exception:
        metrics.count_webhook(event_type, "failed")  # Stripe delivers it again
        raise
    metrics.count_webhook(event_type, action)
    return json_answer(WebhookAck(event_id=event.id, action=action))
