/**
 * Moscow time for the demo data. Moscow has had a fixed UTC+3 offset since
 * 2014, so local days are exactly 86 400 s apart and no tz database is needed.
 * All generator times are whole epoch seconds.
 */

import type { Rng } from './random.ts';

export const MSK_OFFSET = 3 * 3600;
export const DAY = 86_400;
export const HOUR = 3600;
export const MINUTE = 60;

/** Local (Moscow) day number since 1970-01-01. */
export function localDayNumber(t: number): number {
  return Math.floor((t + MSK_OFFSET) / DAY);
}

export function localMidnight(t: number): number {
  return localDayNumber(t) * DAY - MSK_OFFSET;
}

export function localHour(t: number): number {
  return Math.floor(((((t + MSK_OFFSET) % DAY) + DAY) % DAY) / HOUR);
}

/** 0 = Monday … 6 = Sunday (1970-01-01 was a Thursday). */
export function localWeekday(t: number): number {
  return (((localDayNumber(t) + 3) % 7) + 7) % 7;
}

/** Epoch seconds of local midnight on the first day of a month (month 0-based, may overflow). */
export function localMonthStart(year: number, month: number): number {
  return Date.UTC(year, month, 1) / 1000 - MSK_OFFSET;
}

/** Local calendar year and 0-based month of a moment. */
export function localYearMonth(t: number): { year: number; month: number } {
  const d = new Date((t + MSK_OFFSET) * 1000);
  return { year: d.getUTCFullYear(), month: d.getUTCMonth() };
}

export function monthKey(year: number, month: number): string {
  const d = new Date(Date.UTC(year, month, 1));
  return `${d.getUTCFullYear()}-${String(d.getUTCMonth() + 1).padStart(2, '0')}`;
}

const TWO_DIGITS = Array.from({ length: 60 }, (_, i) => String(i).padStart(2, '0'));

/**
 * Formats epoch seconds as ISO 8601. Millions of timestamps are written at the
 * large scale, so the date part is cached per day and only the clock is built.
 */
export class TimestampFormatter {
  private readonly mskDays = new Map<number, string>();
  private readonly utcDays = new Map<number, string>();

  /** `2026-03-02T10:15:00+03:00` */
  msk(t: number): string {
    const local = t + MSK_OFFSET;
    const day = Math.floor(local / DAY);
    let prefix = this.mskDays.get(day);
    if (prefix === undefined) {
      prefix = new Date(day * DAY * 1000).toISOString().slice(0, 11);
      this.mskDays.set(day, prefix);
    }
    const s = local - day * DAY;
    const h = Math.floor(s / HOUR);
    const m = Math.floor((s % HOUR) / MINUTE);
    return `${prefix}${TWO_DIGITS[h]}:${TWO_DIGITS[m]}:${TWO_DIGITS[s % MINUTE]}+03:00`;
  }

  /** `2026-03-02T07:15:00Z` */
  utc(t: number): string {
    const day = Math.floor(t / DAY);
    let prefix = this.utcDays.get(day);
    if (prefix === undefined) {
      prefix = new Date(day * DAY * 1000).toISOString().slice(0, 11);
      this.utcDays.set(day, prefix);
    }
    const s = t - day * DAY;
    const h = Math.floor(s / HOUR);
    const m = Math.floor((s % HOUR) / MINUTE);
    return `${prefix}${TWO_DIGITS[h]}:${TWO_DIGITS[m]}:${TWO_DIGITS[s % MINUTE]}Z`;
  }
}

/** Weights of the working hours 9..18 (weekdays): people call most at 11:00 and 15:00. */
const WORK_HOURS = [6, 10, 13, 10, 6, 10, 13, 10, 8, 5];
const WORK_HOURS_TOTAL = WORK_HOURS.reduce((s, w) => s + w, 0);

/** A moment within a working day, drawn from the hour profile (Saturdays: 10:00-16:00). */
function workingMoment(midnight: number, saturday: boolean, rng: Rng): number {
  let x = rng.next() * WORK_HOURS_TOTAL;
  let h = 0;
  while (h < WORK_HOURS.length - 1 && x >= (WORK_HOURS[h] as number)) {
    x -= WORK_HOURS[h] as number;
    h++;
  }
  const hour = saturday ? 10 + (h % 6) : 9 + h;
  return midnight + hour * HOUR + rng.int(0, HOUR - 1);
}

/**
 * Moves a moment a person would act at into working time: weekdays 9:00-19:00,
 * Saturdays 10:00-16:00, Sundays off. A moment already inside is kept; one
 * outside moves to the next working day, at an hour drawn from the daily
 * profile rather than all at opening time.
 */
export function toWorkingTime(t: number, rng: Rng): number {
  let midnight = localMidnight(t);
  const h = localHour(t);
  const wd = localWeekday(t);
  const open = wd === 6 ? -1 : wd === 5 ? 10 : 9;
  const close = wd === 5 ? 16 : 19;
  if (open >= 0 && h >= open && h < close) return t;
  if (open < 0 || h >= close) midnight += DAY;
  let day = localWeekday(midnight);
  if (day === 6) {
    midnight += DAY;
    day = 0;
  }
  return workingMoment(midnight, day === 5, rng);
}
