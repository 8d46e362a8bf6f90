-- The service's record of each transfer, payout or reversal made under a caller's
-- Idempotency-Key, found again by that exact key, forever (worker/README.md, "Idempotency
-- records"). Claimed before Stripe is called, completed with Stripe's object id, and released
-- (deleted) only while it names no object.
CREATE TABLE connect_idempotency_keys (
  organization_id TEXT NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
  operation TEXT NOT NULL,          -- 'transfer' | 'payout' | 'reversal'
  key TEXT NOT NULL,                -- the caller's Idempotency-Key (1..255 chars)
  fingerprint TEXT NOT NULL,        -- the service's hash of what the caller sent (1..128)
  decision TEXT NOT NULL,           -- JSON object: the parameters the service decided (<= 8 KiB)
  stripe_object_id TEXT,            -- null until Stripe answered
  created_at TEXT NOT NULL,         -- ISO 8601 UTC with ms
  completed_at TEXT,
  PRIMARY KEY (organization_id, operation, key)
);
