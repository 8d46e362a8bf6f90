-- What the service is still owed by an organization: the part of a transfer reversal Stripe
-- refused because the organization had already paid the money out (worker/README.md,
-- "Claims"). Recorded once per (organization, cause, cause_id, transfer), settled first in,
-- first out from the organization's next transfers or by a later reversal, never twice
-- (one settlement per key) and never beyond its amount (settled <= amount).
CREATE TABLE connect_claims (
  id TEXT PRIMARY KEY,              -- 'clm_' + 32 random hex digits
  organization_id TEXT NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
  amount INTEGER NOT NULL CHECK (amount > 0),                    -- minor units
  currency TEXT NOT NULL CHECK (currency GLOB '[a-z][a-z][a-z]'),
  settled INTEGER NOT NULL DEFAULT 0 CHECK (settled >= 0 AND settled <= amount),
  cause TEXT NOT NULL CHECK (cause IN ('refund', 'dispute', 'manual')),
  cause_id TEXT NOT NULL,           -- the Stripe refund or dispute id, or the manual reversal's key
  transfer_id TEXT NOT NULL,        -- the transfer the refused reversal was for
  created_at TEXT NOT NULL,         -- ISO 8601 UTC with ms
  UNIQUE (organization_id, cause, cause_id, transfer_id)
);

-- First in, first out: an organization's open claims in one currency, oldest first.
CREATE INDEX connect_claims_open_fifo
  ON connect_claims (organization_id, currency, created_at, id) WHERE settled < amount;
-- The platform console's list: every organization's open claims, oldest first.
CREATE INDEX connect_claims_open_all ON connect_claims (created_at, id) WHERE settled < amount;

-- What settled each part of a claim; `settled` is always the sum of its rows.
CREATE TABLE connect_claim_settlements (
  claim_id TEXT NOT NULL REFERENCES connect_claims (id) ON DELETE CASCADE,
  key TEXT NOT NULL,                -- what settled it: the transfer sent net of it, or the reversal
  amount INTEGER NOT NULL CHECK (amount > 0),
  kind TEXT NOT NULL CHECK (kind IN ('transfer', 'reversal')),
  created_at TEXT NOT NULL,         -- ISO 8601 UTC with ms
  PRIMARY KEY (claim_id, key)
);
