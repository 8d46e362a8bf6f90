-- The account's requirements deadline (issue 23): when what Stripe currently needs must be
-- provided, or Stripe disables the account (v1 `requirements.current_deadline`, v2
-- `requirements.summary.minimum_deadline.time`). Stored like `stripe_connect_synced_at`:
-- ISO 8601 UTC with milliseconds, so text order is time order. Null when Stripe names none
-- (and for every row synced before this column existed, until its next sync). Written only
-- with a view of the account (`update-organization` with `synced_at`), under the same
-- ordering as the status and step it came with.
ALTER TABLE organizations ADD COLUMN stripe_connect_requirements_deadline TEXT;

-- `order=deadline`: nearest deadline first, none last ('~' sorts after every digit, so after
-- every stored time), then last sync (never synced first), then id. `src/internal/db.ts`
-- repeats these exact expressions (an expression index is used only for the same one).
CREATE INDEX organizations_by_deadline
  ON organizations (COALESCE(stripe_connect_requirements_deadline, '~'), COALESCE(stripe_connect_synced_at, ''), id);

-- `step=` in deadline order, reconcile's first group (`step=action_required&order=deadline`):
-- the step's rows read in the order asked, page after page, without sorting them all.
CREATE INDEX organizations_by_step_deadline
  ON organizations (onboarding_step, COALESCE(stripe_connect_requirements_deadline, '~'), COALESCE(stripe_connect_synced_at, ''), id);
