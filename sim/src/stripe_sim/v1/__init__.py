"""The Stripe API (``/v1``): the request pipeline and the handlers, by resource.

``pipeline.py`` takes every call through Stripe's steps (authentication, faults, a restricted
key's permissions, ``Stripe-Account``, idempotency, latency, parameters) and hands it to a
handler; ``endpoints.py`` is the table of routes; ``call.py`` is what a handler receives;
``accounts.py``, ``links.py``, ``balance.py``, ``transfers.py`` (with their reversals),
``charges.py``, ``refunds.py``, ``disputes.py``, ``payouts.py`` and ``events.py`` are the
handlers, plain synchronous functions of the store and a call.
"""
