-- Which Stripe API an organization's account is used through (issue 22): 'v1' (Accounts v1,
-- with a legacy type or controller properties) or 'v2' (Accounts v2). One organization's
-- account is one or the other, never both; a platform may run a mixed fleet. Null while the
-- organization has no account; set with the link (create-connect-account). Accounts linked
-- before this column existed were all made through v1.
ALTER TABLE organizations ADD COLUMN stripe_connect_account_api TEXT
  CHECK (stripe_connect_account_api IN ('v1', 'v2'));
UPDATE organizations SET stripe_connect_account_api = 'v1'
  WHERE stripe_connect_account_id IS NOT NULL;
