"""Helpers the tests share, one module per subject (fixtures stay in the conftest.py files):

- `service`: the service in process, its settings, its callers' headers (tests/service, unit, fuzz)
- `stripe_account`: Stripe's example Account object and the fake Stripe's accounts built from it
- `stack`: the whole system as real processes (tests/e2e)
- `worker_stack`: the real Worker and Better Auth's API on it (tests/worker)
- `contract`: the Worker's internal API contract as validators
- `redis_server`: a real Redis for the tests of shared state
"""
