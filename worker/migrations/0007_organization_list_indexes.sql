-- The organization list at fleet size (issue 23): every filter and order of
-- `GET /organizations` and `GET /organization-counts` is served by an index, so neither the
-- console nor `reconcile` scans 10,000 rows a page. `src/internal/db.ts` writes its queries
-- with these exact expressions (an expression index is used only when the query repeats it),
-- and worker/test/organization-fleet.test.ts holds each query to its index with EXPLAIN QUERY
-- PLAN.

-- Last sync, never synced first: `order=synced_at` (either way) and `synced_before`.
CREATE INDEX organizations_by_sync
  ON organizations (COALESCE(stripe_connect_synced_at, ''), id);

-- `status=`, in id order (the console's default). With `organizations_by_step` it also serves
-- `unsettled=true` (pending, or at the step action_required or under_review): SQLite searches
-- each of the three in its index (a multi-index OR), never the whole table.
CREATE INDEX organizations_by_status
  ON organizations (stripe_connect_status, id);

-- `step=`, in id order.
CREATE INDEX organizations_by_step
  ON organizations (onboarding_step, id);

-- `name=`: names starting with it, ASCII case folded.
CREATE INDEX organizations_by_name
  ON organizations (name COLLATE NOCASE, id);
