-- Stripe Connect columns on Better Auth's organization table (worker-internal-api.md),
-- plus stripe_connect_synced_at, which orders writes from Stripe's view of the account.
ALTER TABLE organizations ADD COLUMN stripe_connect_account_id TEXT;
ALTER TABLE organizations ADD COLUMN stripe_connect_status TEXT; -- 'pending', 'active', 'disabled'
ALTER TABLE organizations ADD COLUMN platform_fee_percent REAL DEFAULT 10.0;
ALTER TABLE organizations ADD COLUMN onboarding_step TEXT DEFAULT 'account_creation';
ALTER TABLE organizations ADD COLUMN onboarding_rejection_reason TEXT;
ALTER TABLE organizations ADD COLUMN stripe_connect_synced_at TEXT; -- ISO 8601 UTC with ms
CREATE UNIQUE INDEX organizations_stripe_connect_account_id
  ON organizations (stripe_connect_account_id) WHERE stripe_connect_account_id IS NOT NULL;
