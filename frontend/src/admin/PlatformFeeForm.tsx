import { useId, useState, type FormEvent } from "react";
import type { BackendClient, ConnectStatus } from "../backend/client";
import { ErrorNotice } from "../kit/ErrorNotice";
import { formatPercent } from "../kit/formatPercent";
import { useAction } from "../kit/useAction";

interface Props {
  backend: BackendClient;
  organization: ConnectStatus;
  /** The organization as the service answered after the change. */
  onUpdated: (status: ConnectStatus) => void;
}

/** Sets the organization's platform fee (PUT platform-fee) and says what it now is. */
export function PlatformFeeForm({ backend, organization, onUpdated }: Props) {
  const orgId = organization.organization_id;
  const [text, setText] = useState(String(organization.platform_fee_percent));
  const [invalid, setInvalid] = useState(false);
  const [saved, setSaved] = useState<number | null>(null);
  const id = useId();
  const save = useAction(async (percent: number) => {
    const now = await backend.setPlatformFee(orgId, percent);
    setSaved(now.platform_fee_percent);
    setText(String(now.platform_fee_percent));
    onUpdated(now);
  });
  const submit = (event: FormEvent) => {
    event.preventDefault();
    const percent = text.trim() === "" ? Number.NaN : Number(text);
    const valid = Number.isFinite(percent) && percent >= 0 && percent <= 100;
    setInvalid(!valid);
    setSaved(null);
    if (valid) void save.run(percent);
  };

  return (
    <form className="schedule" onSubmit={submit} aria-label="Platform fee">
      <label htmlFor={`${id}-fee`}>Platform fee (%)</label>
      <input
        id={`${id}-fee`}
        name="platform_fee_percent"
        inputMode="decimal"
        size={6}
        value={text}
        onChange={(e) => setText(e.target.value)}
        aria-invalid={invalid}
      />
      <button type="submit" disabled={save.busy}>
        {save.busy ? "Saving…" : "Save fee"}
      </button>
      {invalid ? (
        <p className="notice notice-error" role="alert">
          Enter a percent from 0 to 100, e.g. 12.5.
        </p>
      ) : null}
      {save.error ? <ErrorNotice error={save.error} /> : null}
      {saved !== null ? (
        <p className="notice notice-ok" role="status" data-testid="fee-result">
          The platform fee is now {formatPercent(saved)} of each transfer.
        </p>
      ) : null}
    </form>
  );
}
