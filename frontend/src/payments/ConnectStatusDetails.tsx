import type { ConnectStatus } from "../backend/client";
import { formatDateTime } from "../kit/formatDate";
import { StatusBadge } from "../kit/StatusBadge";
import { describeRequirements } from "./describeRequirements";
import { describeStep } from "./describeStep";

/** Where onboarding stands, and what Stripe still needs and by when (from a live read). */
export function ConnectStatusDetails({ status }: { status: ConnectStatus }) {
  const requirements = status.requirements;
  const due = describeRequirements([...(requirements?.past_due ?? []), ...(requirements?.currently_due ?? [])]);
  const later = describeRequirements(requirements?.eventually_due ?? []).filter((r) => !due.includes(r));
  const pastDue = (requirements?.past_due ?? []).length > 0;
  return (
    <div className="status">
      <div className="status-line">
        <StatusBadge status={status.status} />
        <p className="step" data-testid="onboarding-step">
          {describeStep(status)}
        </p>
      </div>
      {due.length ? (
        <div className="requirements" data-testid="requirements">
          <p>
            <strong>{pastDue ? "Overdue — Stripe needs:" : "Stripe still needs:"}</strong>
          </p>
          <ul>
            {due.map((item) => (
              <li key={item}>{item}</li>
            ))}
          </ul>
          {requirements?.current_deadline ? (
            <p className="deadline">
              Due by <time dateTime={requirements.current_deadline}>{formatDateTime(requirements.current_deadline)}</time>
            </p>
          ) : null}
        </div>
      ) : null}
      {later.length && status.status !== "not_started" ? (
        <p className="muted">Later, Stripe will also ask for: {later.join(", ")}.</p>
      ) : null}
      {status.status !== "not_started" ? (
        <p className="muted small">Platform fee: {status.platform_fee_percent} % of each transfer.</p>
      ) : null}
    </div>
  );
}
