import { MEMBER_ROLES, type MemberRole } from "./schemas";

/**
 * The role the contract names for a member, from `member.role` as Better Auth stores it: one
 * role or several joined by commas. The highest of owner > admin > member wins; any other role
 * counts as member; null (not a member) stays null. Vectors: contract/member-roles.json.
 */
export function highestMemberRole(stored: string | null): MemberRole | null {
  if (stored === null) return null;
  const roles = stored.split(",").map((role) => role.trim());
  return MEMBER_ROLES.find((role) => roles.includes(role)) ?? "member";
}
