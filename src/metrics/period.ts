import { AppError } from '../errors.ts';
import type { PeriodInput } from './types.ts';

/**
 * A period ("Период") resolved in the company time zone: inclusive local dates
 * for people and the half-open instant interval `[start, end)` for SQL.
 */
export interface ResolvedPeriod {
  /** First local day, inclusive, `YYYY-MM-DD`. */
  from: string;
  /** Last local day, inclusive, `YYYY-MM-DD`. */
  to: string;
  /** The instant of `from` 00:00 local time. */
  start: Date;
  /** The instant of the day after `to`, 00:00 local time (exclusive). */
  end: Date;
  /** The named period it came from (`this_month`, `month:03`, ...), when it was named. */
  name?: string;
  /** Russian words with dates, e.g. "прошлая неделя (16–22 ноября 2026)". */
  label: string;
}

export interface ResolveOptions {
  now: Date;
  /** Company IANA time zone, e.g. `Europe/Moscow`. */
  tz: string;
  /** Used when `input` is omitted; `this_month` when not given. */
  defaultName?: string;
}

const MONTHS_NOM = [
  'январь',
  'февраль',
  'март',
  'апрель',
  'май',
  'июнь',
  'июль',
  'август',
  'сентябрь',
  'октябрь',
  'ноябрь',
  'декабрь',
];
/** Month names in the genitive ("1 марта"), shared with chart labels. */
export const MONTHS_GEN = [
  'января',
  'февраля',
  'марта',
  'апреля',
  'мая',
  'июня',
  'июля',
  'августа',
  'сентября',
  'октября',
  'ноября',
  'декабря',
];

// ---------------------------------------------------------------------------
// Civil (calendar) dates. A civil date is `YYYY-MM-DD`; arithmetic goes through
// UTC milliseconds, where every day has exactly 24 hours.

const DAY_MS = 86_400_000;

interface Civil {
  y: number;
  m: number;
  d: number;
}

function pad2(n: number): string {
  return n < 10 ? `0${n}` : String(n);
}

function fmtCivil(c: Civil): string {
  return `${String(c.y).padStart(4, '0')}-${pad2(c.m)}-${pad2(c.d)}`;
}

function parseCivil(iso: string): Civil {
  const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(iso);
  if (!m) throw badPeriod(`not a date: ${iso}`, iso);
  const c = { y: Number(m[1]), m: Number(m[2]), d: Number(m[3]) };
  if (c.m < 1 || c.m > 12 || c.d < 1 || c.d > daysInMonth(c.y, c.m))
    throw badPeriod(`not a date: ${iso}`, iso);
  return c;
}

function civilMs(c: Civil): number {
  return Date.UTC(c.y, c.m - 1, c.d);
}

function civilFromMs(ms: number): Civil {
  const d = new Date(ms);
  return { y: d.getUTCFullYear(), m: d.getUTCMonth() + 1, d: d.getUTCDate() };
}

function addDays(c: Civil, n: number): Civil {
  return civilFromMs(civilMs(c) + n * DAY_MS);
}

function daysInMonth(y: number, m: number): number {
  return new Date(Date.UTC(y, m, 0)).getUTCDate();
}

/** The first day of the month `n` months after the month of `c`. */
function addMonths(c: Civil, n: number): Civil {
  const idx = c.y * 12 + (c.m - 1) + n;
  return { y: Math.floor(idx / 12), m: (idx % 12) + 1, d: 1 };
}

function monthEnd(y: number, m: number): Civil {
  return { y, m, d: daysInMonth(y, m) };
}

/** ISO weekday, Monday = 1 ... Sunday = 7. */
function isoWeekday(c: Civil): number {
  const wd = new Date(civilMs(c)).getUTCDay();
  return wd === 0 ? 7 : wd;
}

function dayCount(from: Civil, to: Civil): number {
  return Math.round((civilMs(to) - civilMs(from)) / DAY_MS) + 1;
}

function compareCivil(a: Civil, b: Civil): number {
  return civilMs(a) - civilMs(b);
}

// ---------------------------------------------------------------------------
// Time zones through Intl only: the offset of a zone at an instant, the local
// date of an instant, and the instant a local day begins (DST-safe).

const formatters = new Map<string, Intl.DateTimeFormat>();

function formatterFor(tz: string): Intl.DateTimeFormat {
  let f = formatters.get(tz);
  if (!f) {
    try {
      f = new Intl.DateTimeFormat('en-US', {
        timeZone: tz,
        hourCycle: 'h23',
        year: 'numeric',
        month: '2-digit',
        day: '2-digit',
        hour: '2-digit',
        minute: '2-digit',
        second: '2-digit',
      });
    } catch (cause) {
      throw new AppError('bad_time_zone', `unknown time zone ${tz}`, `Неизвестный часовой пояс «${tz}».`, {
        cause,
      });
    }
    formatters.set(tz, f);
  }
  return f;
}

/** Local wall-clock time of an instant, expressed as "UTC milliseconds" (whole seconds). */
function wallClockMs(instantMs: number, tz: string): number {
  const parts = formatterFor(tz).formatToParts(new Date(instantMs));
  const get = (type: Intl.DateTimeFormatPartTypes): number => {
    const p = parts.find((x) => x.type === type);
    return p ? Number(p.value) : 0;
  };
  return Date.UTC(get('year'), get('month') - 1, get('day'), get('hour'), get('minute'), get('second'));
}

/** Zone offset (local − UTC) in milliseconds at an instant. */
function offsetMs(instantMs: number, tz: string): number {
  const whole = Math.floor(instantMs / 1000) * 1000;
  return wallClockMs(whole, tz) - whole;
}

/** The local calendar date of an instant in a zone. */
export function localDate(instant: Date, tz: string): string {
  return fmtCivil(civilFromMs(wallClockMs(instant.getTime(), tz)));
}

/**
 * The first instant whose local date is `day` — local midnight, or the end of
 * the DST gap on the rare days when midnight itself does not exist.
 */
export function startOfLocalDay(day: string, tz: string): Date {
  const wall = civilMs(parseCivil(day));
  // Offsets in force around that wall time: before and after any transition near it.
  const candidates = new Set<number>();
  for (const probe of [wall - DAY_MS, wall, wall + DAY_MS]) {
    const guess = wall - offsetMs(probe, tz);
    candidates.add(guess);
    candidates.add(wall - offsetMs(guess, tz));
  }
  let best: number | null = null;
  for (const c of candidates) {
    if (wallClockMs(c, tz) === wall && (best === null || c < best)) best = c;
  }
  if (best !== null) return new Date(best);
  // Midnight falls into a DST gap: find the first instant whose local date is `day`.
  let lo = wall - 16 * 3_600_000;
  let hi = wall + 16 * 3_600_000;
  while (hi - lo > 1000) {
    const mid = Math.floor((lo + hi) / 2000) * 1000;
    if (wallClockMs(mid, tz) >= wall) hi = mid;
    else lo = mid;
  }
  return new Date(hi);
}

// ---------------------------------------------------------------------------
// Russian words for periods.

/** Russian plural form for a count: `pluralRu(5, ['день', 'дня', 'дней'])` → "дней". */
export function pluralRu(n: number, forms: readonly [string, string, string]): string {
  const a = Math.abs(n) % 100;
  const b = a % 10;
  if (a > 10 && a < 20) return forms[2];
  if (b === 1) return forms[0];
  if (b >= 2 && b <= 4) return forms[1];
  return forms[2];
}

function dayWords(c: Civil): string {
  return `${c.d} ${MONTHS_GEN[c.m - 1]}`;
}

/** "15 марта 2026", "1–15 марта 2026", "28 февраля – 3 марта 2026", "30 декабря 2025 – 5 января 2026". */
function rangeWords(from: Civil, to: Civil): string {
  if (compareCivil(from, to) === 0) return `${dayWords(from)} ${from.y}`;
  if (from.y === to.y && from.m === to.m) return `${from.d}–${to.d} ${MONTHS_GEN[to.m - 1]} ${to.y}`;
  if (from.y === to.y) return `${dayWords(from)} – ${dayWords(to)} ${to.y}`;
  return `${dayWords(from)} ${from.y} – ${dayWords(to)} ${to.y}`;
}

/** Same as rangeWords but without the year, for labels that already name it. */
function rangeWordsNoYear(from: Civil, to: Civil): string {
  if (from.m === to.m) return `${from.d}–${to.d} ${MONTHS_GEN[to.m - 1]}`;
  return `${dayWords(from)} – ${dayWords(to)}`;
}

/** A label for dates alone: a whole month, quarter or year is named as such. */
function calendarLabel(from: Civil, to: Civil): string {
  const wholeMonths = from.d === 1 && to.d === daysInMonth(to.y, to.m);
  if (wholeMonths && from.y === to.y) {
    if (from.m === to.m) return `${MONTHS_NOM[from.m - 1]} ${from.y} (${rangeWordsNoYear(from, to)})`;
    if (from.m % 3 === 1 && to.m === from.m + 2) {
      return `${(from.m + 2) / 3}-й квартал ${from.y} (${rangeWordsNoYear(from, to)})`;
    }
    if (from.m === 1 && to.m === 12) return `${from.y} год (${rangeWordsNoYear(from, to)})`;
  }
  return rangeWords(from, to);
}

const NAME_PREFIX: Record<string, string> = {
  this_month: 'этот месяц',
  last_month: 'прошлый месяц',
  this_quarter: 'этот квартал',
  last_quarter: 'прошлый квартал',
  this_year: 'этот год',
  last_year: 'прошлый год',
};

/**
 * The Russian words for a period, with its dates:
 * "вчера, 22 ноября 2026", "март 2026 (1–31 марта)", "прошлая неделя (16–22 ноября 2026)".
 */
export function formatPeriodRu(p: { from: string; to: string; name?: string }): string {
  const from = parseCivil(p.from);
  const to = parseCivil(p.to);
  const name = p.name ?? '';
  if (name === 'today') return `сегодня, ${rangeWords(from, to)}`;
  if (name === 'yesterday') return `вчера, ${rangeWords(from, to)}`;
  if (name === 'this_week') return `эта неделя (${rangeWords(from, to)})`;
  if (name === 'last_week') return `прошлая неделя (${rangeWords(from, to)})`;
  const days = /^last_(\d+)_days$/.exec(name);
  if (days) {
    const n = Number(days[1]);
    return `последние ${n} ${pluralRu(n, ['день', 'дня', 'дней'])} (${rangeWords(from, to)})`;
  }
  const months = /^last_(\d+)_months$/.exec(name);
  if (months) {
    const n = Number(months[1]);
    return `последние ${n} ${pluralRu(n, ['месяц', 'месяца', 'месяцев'])} (${rangeWords(from, to)})`;
  }
  const prefix = NAME_PREFIX[name];
  return prefix ? `${prefix}, ${calendarLabel(from, to)}` : calendarLabel(from, to);
}

// ---------------------------------------------------------------------------
// Resolving named periods.

function badPeriod(internal: string, shown: string): AppError {
  return new AppError(
    'bad_period',
    internal,
    `Не понял период «${shown}». Например: «за март», «за прошлую неделю», «с 1 по 15 марта».`,
  );
}

interface Range {
  from: Civil;
  to: Civil;
}

/** The most recent month with this number that has started by `today`. */
function recentMonth(month: number, today: Civil): Range {
  const y = month <= today.m ? today.y : today.y - 1;
  return { from: { y, m: month, d: 1 }, to: monthEnd(y, month) };
}

function quarterRange(y: number, q: number): Range {
  const m = (q - 1) * 3 + 1;
  return { from: { y, m, d: 1 }, to: monthEnd(y, m + 2) };
}

/**
 * Dates of a named period relative to the local `today`.
 *
 * `last_N_months` (and so `last_6_months`, "за полгода") is N whole calendar
 * months ending with the current one: asked on 23 Nov 2026, `last_6_months` is
 * 1 Jun – 30 Nov 2026. Whole months keep it comparable with monthly plans and
 * with `this_month`, which is also the whole month even where it runs past today.
 */
function namedRange(name: string, today: Civil): Range | null {
  switch (name) {
    case 'today':
      return { from: today, to: today };
    case 'yesterday': {
      const y = addDays(today, -1);
      return { from: y, to: y };
    }
    case 'this_week': {
      const monday = addDays(today, 1 - isoWeekday(today));
      return { from: monday, to: addDays(monday, 6) };
    }
    case 'last_week': {
      const monday = addDays(today, 1 - isoWeekday(today) - 7);
      return { from: monday, to: addDays(monday, 6) };
    }
    case 'this_month':
      return { from: { y: today.y, m: today.m, d: 1 }, to: monthEnd(today.y, today.m) };
    case 'last_month': {
      const f = addMonths(today, -1);
      return { from: f, to: monthEnd(f.y, f.m) };
    }
    case 'this_quarter':
      return quarterRange(today.y, Math.ceil(today.m / 3));
    case 'last_quarter': {
      const q = Math.ceil(today.m / 3);
      return q === 1 ? quarterRange(today.y - 1, 4) : quarterRange(today.y, q - 1);
    }
    case 'this_year':
      return { from: { y: today.y, m: 1, d: 1 }, to: { y: today.y, m: 12, d: 31 } };
    case 'last_year':
      return { from: { y: today.y - 1, m: 1, d: 1 }, to: { y: today.y - 1, m: 12, d: 31 } };
  }
  let m = /^last_(\d{1,4})_days$/.exec(name);
  if (m) {
    const n = Number(m[1]);
    if (n < 1) return null;
    return { from: addDays(today, -(n - 1)), to: today };
  }
  m = /^last_(\d{1,3})_months$/.exec(name);
  if (m) {
    const n = Number(m[1]);
    if (n < 1) return null;
    const f = addMonths(today, -(n - 1));
    return { from: f, to: monthEnd(today.y, today.m) };
  }
  m = /^month:(\d{1,2})$/.exec(name);
  if (m) {
    const month = Number(m[1]);
    return month >= 1 && month <= 12 ? recentMonth(month, today) : null;
  }
  m = /^month:(\d{4})-(\d{1,2})$/.exec(name);
  if (m) {
    const y = Number(m[1]);
    const month = Number(m[2]);
    return month >= 1 && month <= 12 ? { from: { y, m: month, d: 1 }, to: monthEnd(y, month) } : null;
  }
  m = /^quarter:(\d{4})-([1-4])$/.exec(name);
  if (m) return quarterRange(Number(m[1]), Number(m[2]));
  m = /^year:(\d{4})$/.exec(name);
  if (m) {
    const y = Number(m[1]);
    return { from: { y, m: 1, d: 1 }, to: { y, m: 12, d: 31 } };
  }
  m = /^(\d{4}-\d{2}-\d{2})\.\.(\d{4}-\d{2}-\d{2})$/.exec(name);
  if (m) return { from: parseCivil(m[1]!), to: parseCivil(m[2]!) };
  return null;
}

function build(range: Range, tz: string, name: string | undefined): ResolvedPeriod {
  if (compareCivil(range.from, range.to) > 0) {
    throw badPeriod(
      `period starts after it ends: ${fmtCivil(range.from)}..${fmtCivil(range.to)}`,
      `${fmtCivil(range.from)} – ${fmtCivil(range.to)}`,
    );
  }
  const from = fmtCivil(range.from);
  const to = fmtCivil(range.to);
  const resolved: ResolvedPeriod = {
    from,
    to,
    start: startOfLocalDay(from, tz),
    end: startOfLocalDay(fmtCivil(addDays(range.to, 1)), tz),
    label: formatPeriodRu({ from, to, ...(name ? { name } : {}) }),
  };
  if (name) resolved.name = name;
  return resolved;
}

/**
 * The parts of a period that fall in each day, week (from Monday), month or
 * quarter, keyed as the time groups of the metric queries key them
 * (`YYYY-MM-DD`, the week's Monday, `YYYY-MM`, `YYYY-Q1`), in order.
 */
export function splitPeriod(
  period: ResolvedPeriod,
  unit: 'day' | 'week' | 'month' | 'quarter',
  tz: string,
): Array<{ key: string; period: ResolvedPeriod }> {
  const parts = new Map<string, Range>();
  const last = parseCivil(period.to);
  for (let c = parseCivil(period.from); compareCivil(c, last) <= 0; c = addDays(c, 1)) {
    const key =
      unit === 'day'
        ? fmtCivil(c)
        : unit === 'week'
          ? fmtCivil(addDays(c, 1 - isoWeekday(c)))
          : unit === 'month'
            ? fmtCivil(c).slice(0, 7)
            : `${c.y}-Q${Math.ceil(c.m / 3)}`;
    const part = parts.get(key);
    if (part) part.to = c;
    else parts.set(key, { from: c, to: c });
  }
  return [...parts].map(([key, range]) => ({ key, period: build(range, tz, undefined) }));
}

/**
 * Resolves a tool's period in the company time zone (METRICS.md "Period").
 * Accepts inclusive dates, the named periods of METRICS.md, `last_N_days`,
 * `last_N_months`, `month:MM`, `month:YYYY-MM`, `quarter:YYYY-Q`, `year:YYYY`
 * and the parser's explicit `YYYY-MM-DD..YYYY-MM-DD`.
 */
export function resolvePeriod(input: PeriodInput | undefined, opts: ResolveOptions): ResolvedPeriod {
  const today = parseCivil(localDate(opts.now, opts.tz));
  if (input && 'from' in input) {
    return build({ from: parseCivil(input.from), to: parseCivil(input.to) }, opts.tz, undefined);
  }
  const name = input?.name ?? opts.defaultName ?? 'this_month';
  const range = namedRange(name.trim(), today);
  if (!range) throw badPeriod(`unknown period name: ${name}`, name);
  // An explicit range given as a name is not a named period.
  const isExplicit = name.includes('..');
  return build(range, opts.tz, isExplicit ? undefined : name.trim());
}

/** The tool input for a parser period slot (`this_month`, `month:03`, `2026-03-01..2026-03-15`). */
export function periodInputFromSlot(slot: string): PeriodInput {
  const m = /^(\d{4}-\d{2}-\d{2})\.\.(\d{4}-\d{2}-\d{2})$/.exec(slot);
  return m ? { from: m[1]!, to: m[2]! } : { name: slot };
}

const PREVIOUS_NAME: Record<string, string> = {
  today: 'yesterday',
  this_week: 'last_week',
  this_month: 'last_month',
  this_quarter: 'last_quarter',
  this_year: 'last_year',
};

/**
 * The comparison period: as long as `p` and immediately before it. A period of
 * whole calendar months (a month, quarter, year, `last_6_months`) is compared
 * with the same number of calendar months before it (March → February, not
 * "the 31 days before March").
 */
export function previousPeriod(p: ResolvedPeriod, tz: string): ResolvedPeriod {
  const from = parseCivil(p.from);
  const to = parseCivil(p.to);
  let range: Range;
  if (from.d === 1 && to.d === daysInMonth(to.y, to.m)) {
    const months = (to.y - from.y) * 12 + (to.m - from.m) + 1;
    range = { from: addMonths(from, -months), to: addDays(from, -1) };
  } else {
    const len = dayCount(from, to);
    const newTo = addDays(from, -1);
    range = { from: addDays(newTo, -(len - 1)), to: newTo };
  }
  return build(range, tz, p.name ? PREVIOUS_NAME[p.name] : undefined);
}
