import type { StatusName } from "../backend/client";

/** Each status as people read it, in the order the console shows them. */
export const STATUS_LABELS: Record<StatusName, string> = {
  not_started: "Not started",
  pending: "Pending",
  active: "Active",
  disabled: "Disabled",
};

/** Not started / Pending / Active / Disabled. */
export function StatusBadge({ status }: { status: StatusName }) {
  return (
    <span className={`badge badge-${status}`} data-testid="connect-status" data-status={status}>
      {STATUS_LABELS[status]}
    </span>
  );
}
