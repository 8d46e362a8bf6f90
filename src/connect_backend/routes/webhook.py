"""`POST /api/connect/webhook`: Stripe's deliveries (`webhooks.py` verifies, `events.py` acts)."""

from __future__ import annotations

from fastapi import APIRouter

from connect_backend import events, metrics
from connect_backend.deps import SettingsDep, StripeDep, WorkerDep
from connect_backend.openapi import WEBHOOK_REQUEST, responses
from connect_backend.schemas import WebhookAck
from connect_backend.stripe_budget import StripeClass, stripe_class
from connect_backend.webhooks import MAX_BODY, VerifiedEvent

__all__ = ["MAX_BODY", "router"]

router = APIRouter(prefix="/api/connect", tags=["webhooks"])


@router.post(
    "/webhook",
    response_model=WebhookAck,
    responses=responses(400, 404, 409, 413, 502, 503),
    openapi_extra=WEBHOOK_REQUEST,
)
async def webhook(
    event: VerifiedEvent, settings: SettingsDep, worker: WorkerDep, stripe: StripeDep
) -> WebhookAck:
    """Verify a Stripe delivery and bring D1 up to date with what it announces."""
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
    return WebhookAck(event_id=event.id, action=action)
