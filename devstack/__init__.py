"""The local stack: the Worker (workerd, local D1, Better Auth), the Stripe simulator and the
Connect backend as real processes on loopback — for `./scripts/dev`, the end-to-end tests and
the benchmark. Not part of the service.
"""
