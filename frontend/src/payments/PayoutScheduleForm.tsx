import { useId, useState, type FormEvent } from "react";
import type { BackendClient, PayoutInterval, PayoutSchedule, WeeklyAnchor } from "../backend/client";
import { ErrorNotice } from "./ErrorNotice";
import { useAction } from "./useAsync";

const INTERVALS: { value: PayoutInterval; label: string }[] = [
  { value: "manual", label: "Manual (Pay out now)" },
  { value: "daily", label: "Daily" },
  { value: "weekly", label: "Weekly" },
  { value: "monthly", label: "Monthly" },
];
const WEEKDAYS: WeeklyAnchor[] = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"];
const capitalize = (word: string) => word.charAt(0).toUpperCase() + word.slice(1);

/** A schedule in words, e.g. "weekly on Friday". */
export function describeSchedule(schedule: Pick<PayoutSchedule, "interval" | "weekly_anchor" | "monthly_anchor">): string {
  if (schedule.interval === "weekly" && schedule.weekly_anchor) return `weekly on ${capitalize(schedule.weekly_anchor)}`;
  if (schedule.interval === "monthly" && schedule.monthly_anchor) return `monthly on day ${schedule.monthly_anchor}`;
  return schedule.interval === "manual" ? "manual: only when you press Pay out now" : schedule.interval;
}

/** Chooses how often Stripe pays the account out (new accounts start on manual). */
export function PayoutScheduleForm({ backend, orgId }: { backend: BackendClient; orgId: string }) {
  const [interval, setInterval] = useState<PayoutInterval>("manual");
  const [weekday, setWeekday] = useState<WeeklyAnchor>("monday");
  const [monthDay, setMonthDay] = useState(1);
  const [saved, setSaved] = useState<PayoutSchedule | null>(null);
  const id = useId();
  const save = useAction(async () => {
    setSaved(
      await backend.setPayoutSchedule(orgId, {
        interval,
        ...(interval === "weekly" ? { weekly_anchor: weekday } : {}),
        ...(interval === "monthly" ? { monthly_anchor: monthDay } : {}),
      }),
    );
  });
  const submit = (event: FormEvent) => {
    event.preventDefault();
    void save.run();
  };

  return (
    <section className="card" aria-labelledby="schedule-title">
      <h2 id="schedule-title">Payout schedule</h2>
      <form className="schedule" onSubmit={submit}>
        <label htmlFor={`${id}-interval`}>Pay out</label>
        <select
          id={`${id}-interval`}
          value={interval}
          onChange={(e) => setInterval(e.target.value as PayoutInterval)}
          name="interval"
        >
          {INTERVALS.map(({ value, label }) => (
            <option key={value} value={value}>
              {label}
            </option>
          ))}
        </select>
        {interval === "weekly" ? (
          <>
            <label htmlFor={`${id}-weekday`}>on</label>
            <select
              id={`${id}-weekday`}
              value={weekday}
              onChange={(e) => setWeekday(e.target.value as WeeklyAnchor)}
              name="weekly_anchor"
            >
              {WEEKDAYS.map((day) => (
                <option key={day} value={day}>
                  {capitalize(day)}
                </option>
              ))}
            </select>
          </>
        ) : null}
        {interval === "monthly" ? (
          <>
            <label htmlFor={`${id}-day`}>on day</label>
            <input
              id={`${id}-day`}
              type="number"
              name="monthly_anchor"
              min={1}
              max={31}
              value={monthDay}
              onChange={(e) => setMonthDay(Number(e.target.value))}
            />
          </>
        ) : null}
        <button type="submit" disabled={save.busy}>
          {save.busy ? "Saving…" : "Save schedule"}
        </button>
      </form>
      {save.error ? <ErrorNotice error={save.error} /> : null}
      {saved ? (
        <p className="notice notice-ok" role="status" data-testid="schedule-result">
          Stripe now pays out {describeSchedule(saved)}.
        </p>
      ) : (
        <p className="muted small">New accounts start on manual payouts.</p>
      )}
    </section>
  );
}
