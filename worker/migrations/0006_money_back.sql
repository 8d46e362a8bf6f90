-- Money comes back (issue 21, worker/README.md "Payout failures" and "Claims").

-- The organization's last failed payout, until a later payout is paid (`payout-outcome`):
-- Stripe's payout id, its failure_code and failure_message (either may be null), and the
-- payout's own `created` (ISO 8601 UTC with ms), which orders the writes. The id and created
-- are both null (nothing to show) or both set.
ALTER TABLE organizations ADD COLUMN stripe_payout_failure_id TEXT;
ALTER TABLE organizations ADD COLUMN stripe_payout_failure_code TEXT;
ALTER TABLE organizations ADD COLUMN stripe_payout_failure_message TEXT;
ALTER TABLE organizations ADD COLUMN stripe_payout_failed_created TEXT;
-- The latest `created` of a payout reported paid, so a failure of an older payout arriving
-- after it is not shown (not in the organization object).
ALTER TABLE organizations ADD COLUMN stripe_payout_paid_created TEXT;

-- A settlement's kind also allows 'waived': a won dispute voids what its claim still held.
-- SQLite cannot alter a CHECK, so the table is rebuilt with every row (and its rowid, which
-- breaks ties of created_at in a claim's settlements) kept; it has no index but its key.
CREATE TABLE connect_claim_settlements_0006 (
  claim_id TEXT NOT NULL REFERENCES connect_claims (id) ON DELETE CASCADE,
  key TEXT NOT NULL,                -- what settled it: the transfer sent net of it, the reversal, the dispute
  amount INTEGER NOT NULL CHECK (amount > 0),
  kind TEXT NOT NULL CHECK (kind IN ('transfer', 'reversal', 'waived')),
  created_at TEXT NOT NULL,         -- ISO 8601 UTC with ms
  PRIMARY KEY (claim_id, key)
);
INSERT INTO connect_claim_settlements_0006 (rowid, claim_id, key, amount, kind, created_at)
  SELECT rowid, claim_id, key, amount, kind, created_at FROM connect_claim_settlements;
DROP TABLE connect_claim_settlements;
ALTER TABLE connect_claim_settlements_0006 RENAME TO connect_claim_settlements;
