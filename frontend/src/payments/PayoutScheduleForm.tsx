import { useId, useState, type FormEvent } from "react";
import type {
  BackendClient,
  PayoutInterval,
  PayoutSchedule,
  WeeklyAnchor,
} from "../backend/client";
import { ErrorNotice } from "../kit/ErrorNotice";
import { useAction } from "../kit/useAction";
import { useResource } from "../kit/useResource";

const INTERVALS: { value: PayoutInterval; label: string }[] = [
  { value: "manual", label: "Manual (Pay out now)" },
  { value: "daily", label: "Daily" },
  { value: "weekly", label: "Weekly" },
  { value: "monthly", label: "Monthly" },
];
const WEEKDAYS: WeeklyAnchor[] = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"];
const capitalize = (word: string) => word.charAt(0).toUpperCase() + word.slice(1);
const isInterval = (value: string): value is PayoutInterval => INTERVALS.some((i) => i.value === value);
const isWeekday = (value: string | null): value is WeeklyAnchor => WEEKDAYS.some((day) => day === value);

type Schedule = Pick<PayoutSchedule, "interval" | "weekly_anchor" | "monthly_anchor" | "delay_days">;

/** A schedule in words, e.g. "weekly on Friday". */
export function describeSchedule(schedule: Pick<Schedule, "interval" | "weekly_anchor" | "monthly_anchor">): string {
  if (schedule.interval === "weekly" && schedule.weekly_anchor) return `weekly on ${capitalize(schedule.weekly_anchor)}`;
  if (schedule.interval === "monthly" && schedule.monthly_anchor) return `monthly on day ${schedule.monthly_anchor}`;
  return schedule.interval === "manual" ? "manual: only when you press Pay out now" : schedule.interval;
}

/** Chooses how often Stripe pays the account out, starting at the schedule Stripe holds now. */
export function PayoutScheduleForm({ backend, orgId }: { backend: BackendClient; orgId: string }) {
  const held = useResource(orgId, () => backend.payoutSchedule(orgId));
  return (
    <section className="card" aria-labelledby="schedule-title" aria-busy={held.state === "loading"}>
      <h2 id="schedule-title">Payout schedule</h2>
      {held.state === "loading" && !held.data ? <p className="muted">Loading the payout schedule…</p> : null}
      {held.state === "failed" ? <ErrorNotice error={held.error} onRetry={() => void held.reload()} /> : null}
      {held.data ? <ScheduleChooser backend={backend} orgId={orgId} held={held.data} /> : null}
    </section>
  );
}

function ScheduleChooser({ backend, orgId, held }: { backend: BackendClient; orgId: string; held: PayoutSchedule }) {
  const [interval, setInterval] = useState<PayoutInterval>(isInterval(held.interval) ? held.interval : "manual");
  const [weekday, setWeekday] = useState<WeeklyAnchor>(isWeekday(held.weekly_anchor) ? held.weekly_anchor : "monday");
  const [monthDay, setMonthDay] = useState(held.monthly_anchor ?? 1);
  const [saved, setSaved] = useState<PayoutSchedule | null>(null);
  const id = useId();
  const save = useAction(async () => {
    const now = await backend.setPayoutSchedule(orgId, {
      interval,
      ...(interval === "weekly" ? { weekly_anchor: weekday } : {}),
      ...(interval === "monthly" ? { monthly_anchor: monthDay } : {}),
    });
    // Show what Stripe answered it holds, which is what a reload will read back.
    if (isInterval(now.interval)) setInterval(now.interval);
    if (isWeekday(now.weekly_anchor)) setWeekday(now.weekly_anchor);
    if (now.monthly_anchor !== null) setMonthDay(now.monthly_anchor);
    setSaved(now);
  });
  const submit = (event: FormEvent) => {
    event.preventDefault();
    void save.run();
  };
  const current: Schedule = saved ?? held;

  return (
    <>
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
          Saved: Stripe now pays out {describeSchedule(saved)}.
        </p>
      ) : (
        <p className="muted small" data-testid="schedule-current">
          Stripe pays out {describeSchedule(held)}.
        </p>
      )}
      {current.delay_days !== null && current.interval !== "manual" ? (
        <p className="muted small">A payment waits {current.delay_days} days before it is paid out.</p>
      ) : null}
    </>
  );
}
