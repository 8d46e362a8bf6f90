-- One membership per (organization, user). Better Auth's `member` table has no such unique
-- pair, so a duplicate row made a member's role depend on which row a query met first.
-- Keeps, per pair, the earliest row by (createdAt, id), the one getOrganizationForUser answers
-- with on a database that has not run this yet, then makes a duplicate impossible.
DELETE FROM member
 WHERE EXISTS (
   SELECT 1 FROM member AS earlier
    WHERE earlier.organizationId = member.organizationId
      AND earlier.userId = member.userId
      AND (earlier.createdAt < member.createdAt
           OR (earlier.createdAt = member.createdAt AND earlier.id < member.id))
 );
CREATE UNIQUE INDEX member_organization_user ON member (organizationId, userId);
