import type { StatusName } from "../backend/client";
import { STATUS_LABELS } from "./format";

/** Not started / Pending / Active / Disabled. */
export function StatusBadge({ status }: { status: StatusName }) {
  return (
    <span className={`badge badge-${status}`} data-testid="connect-status" data-status={status}>
      {STATUS_LABELS[status]}
    </span>
  );
}
