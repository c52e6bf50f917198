import schedule from 'node-schedule';
import { AppError } from '../errors.ts';
import { localDate, resolvePeriod } from '../metrics/period.ts';

/*
 * When digests are due, in the subscriber's time zone. The instants come from
 * node-schedule's RecurrenceRule (the cron rule with a time zone that also
 * drives the live timers), evaluated against an injected clock: the scheduler
 * never asks the wall clock what time it is.
 */

export type DigestKind = 'daily' | 'weekly';

/** The schedule fields of a subscription. */
export interface SlotRule {
  kind: DigestKind;
  /** Local `HH:MM`. */
  timeOfDay: string;
  /** ISO weekday of a weekly digest, 1 = Monday; ignored for daily ones. */
  weekday: number | null;
  timeZone: string;
}

export const DEFAULT_TIME_OF_DAY = '09:00';
export const DEFAULT_WEEKDAY = 1;

/** Short Russian weekday names, ISO order (1 = пн). */
export const WEEKDAYS_RU = ['пн', 'вт', 'ср', 'чт', 'пт', 'сб', 'вс'] as const;

const DAY_MS = 86_400_000;

/** Parses `9:00` / `09:00` into hours and minutes, or explains the format in Russian. */
export function parseTimeOfDay(s: string): { hour: number; minute: number } {
  const m = /^(\d{1,2}):(\d{2})$/.exec(s.trim());
  const hour = m ? Number(m[1]) : Number.NaN;
  const minute = m ? Number(m[2]) : Number.NaN;
  if (!m || hour > 23 || minute > 59) {
    throw new AppError(
      'bad_time',
      `Bad time of day "${s}"`,
      `Время «${s}» не понял: нужно ЧЧ:ММ, например 09:00.`,
    );
  }
  return { hour, minute };
}

/** `9:5` → `09:05`, after validation. */
export function normalizeTimeOfDay(s: string): string {
  const { hour, minute } = parseTimeOfDay(s);
  return `${String(hour).padStart(2, '0')}:${String(minute).padStart(2, '0')}`;
}

/** Checks an IANA zone name; the Russian message names the expected form. */
export function checkTimeZone(tz: string): string {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: tz });
    return tz;
  } catch {
    throw new AppError(
      'bad_time_zone',
      `Unknown time zone ${tz}`,
      `Часовой пояс «${tz}» не знаю. Пример: Europe/Moscow, Asia/Yekaterinburg.`,
    );
  }
}

/** The node-schedule rule of a digest: its local time, on its weekday for weekly ones, in its zone. */
export function recurrenceRuleFor(rule: SlotRule): schedule.RecurrenceRule {
  const { hour, minute } = parseTimeOfDay(rule.timeOfDay);
  const r = new schedule.RecurrenceRule();
  r.hour = hour;
  r.minute = minute;
  r.second = 0;
  r.tz = rule.timeZone;
  // node-schedule counts weekdays from Sunday = 0; ours are ISO (7 = Sunday).
  if (rule.kind === 'weekly') r.dayOfWeek = (rule.weekday ?? DEFAULT_WEEKDAY) % 7;
  return r;
}

/** The next instant strictly after `after` at which the digest is due. */
export function nextSlot(rule: SlotRule, after: Date): Date | null {
  return recurrenceRuleFor(rule).nextInvocationDate(new Date(Math.floor(after.getTime() / 1000) * 1000));
}

/**
 * The latest instant at or before `now` at which the digest was due. Only the
 * latest: after a downtime, older missed slots are not worth sending.
 */
export function latestSlot(rule: SlotRule, now: Date): Date | null {
  const r = recurrenceRuleFor(rule);
  const lookback = rule.kind === 'weekly' ? 8 * DAY_MS : 2 * DAY_MS;
  let cursor: Date | null = r.nextInvocationDate(new Date(now.getTime() - lookback));
  let latest: Date | null = null;
  while (cursor && cursor.getTime() <= now.getTime()) {
    latest = cursor;
    cursor = r.nextInvocationDate(cursor);
  }
  return latest;
}

/** `YYYY-MM-DD` shifted by whole days. */
export function shiftDate(iso: string, days: number): string {
  const [y, m, d] = iso.split('-').map(Number) as [number, number, number];
  return new Date(Date.UTC(y, m - 1, d) + days * DAY_MS).toISOString().slice(0, 10);
}

/** Inclusive local dates a digest covers, with the named period it is. */
export interface DigestDates {
  from: string;
  to: string;
  name: 'yesterday' | 'last_week';
}

/**
 * What a digest due at `slot` covers: daily — yesterday, weekly — last week
 * (Mon–Sun), both by the subscriber's calendar.
 */
export function digestDates(kind: DigestKind, slot: Date, timeZone: string): DigestDates {
  const name = kind === 'daily' ? 'yesterday' : 'last_week';
  const p = resolvePeriod({ name }, { now: slot, tz: timeZone });
  return { from: p.from, to: p.to, name };
}

/**
 * The period a digest's "what changed" compares with. Weekly: the week before.
 * Daily: the same weekday a week earlier — the day before would compare a
 * Monday with a Sunday every week and report the weekend as a collapse.
 */
export function comparisonDates(dates: { from: string; to: string }): { from: string; to: string } {
  return { from: shiftDate(dates.from, -7), to: shiftDate(dates.to, -7) };
}

/** Local date and minutes since local midnight of an instant. */
export function localClock(instant: Date, tz: string): { date: string; minutes: number; weekday: number } {
  const parts = new Intl.DateTimeFormat('en-US', {
    timeZone: tz,
    hourCycle: 'h23',
    hour: '2-digit',
    minute: '2-digit',
    weekday: 'short',
  }).formatToParts(instant);
  const get = (t: string) => parts.find((p) => p.type === t)?.value ?? '';
  const weekday = ['Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat', 'Sun'].indexOf(get('weekday')) + 1;
  return { date: localDate(instant, tz), minutes: Number(get('hour')) * 60 + Number(get('minute')), weekday };
}

export interface QuietHours {
  /** Local `HH:MM` the quiet time starts. */
  from: string;
  /** Local `HH:MM` it ends; earlier than `from` means it runs past midnight. */
  to: string;
}

/**
 * When an alert raised at `now` may be delivered: `now` outside the quiet
 * hours, else the instant they end (the next local `to`).
 */
export function deliverableAt(quiet: QuietHours | null, tz: string, now: Date): Date {
  if (!quiet) return now;
  const f = parseTimeOfDay(quiet.from);
  const t = parseTimeOfDay(quiet.to);
  const from = f.hour * 60 + f.minute;
  const to = t.hour * 60 + t.minute;
  if (from === to) return now;
  const m = localClock(now, tz).minutes;
  const inside = from < to ? m >= from && m < to : m >= from || m < to;
  if (!inside) return now;
  const end = new schedule.RecurrenceRule();
  end.hour = t.hour;
  end.minute = t.minute;
  end.second = 0;
  end.tz = tz;
  return end.nextInvocationDate(now) ?? now;
}
