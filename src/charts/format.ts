import { MONTHS_GEN } from '../metrics/period.ts';

/**
 * Russian formatting of what a chart shows: figure values, axis tick formats,
 * periods, time labels and shortened names. Everything here returns plain
 * strings or plain `Intl.NumberFormat` options, so a chart spec stays JSON and
 * renders the same locally and on a QuickChart server.
 */

/** How a figure is measured (METRICS.md "Result envelope": money in rubles, durations in seconds, shares in [0, 1]). */
export type FigureKind = 'count' | 'decimal' | 'money' | 'share' | 'seconds' | 'days';

const moneyCodes = new Set([
  'won_amount',
  'open_amount',
  'sales_amount',
  'revenue_per_lead',
  'avg_check',
  'forecast_amount',
  'amount',
]);
const shareCodes = new Set([
  'conv_to_deal',
  'conv_to_sale',
  'win_rate',
  'efficiency',
  'completion',
  'forecast_completion',
  'execution_coefficient',
  'stage_reach',
  'stage_conversion',
  'share',
  'talk_ratio',
]);
const secondCodes = new Set([
  'talk_time_avg',
  'talk_time_total',
  'callback_delay_median',
  'callback_delay_p90',
  'first_response_median',
]);
const dayCodes = new Set(['cycle_days', 'cycle_days_median', 'avg_processing_days', 'stage_time']);
const decimalCodes = new Set(['calls_avg', 'touch']);

/**
 * Figures whose group values do not add up to a total (averages, medians,
 * ratios); they get no "Другие" bucket and no "Всего".
 */
export function isAdditive(code: string, kind: FigureKind): boolean {
  if (kind !== 'count' && kind !== 'money') return false;
  if (/(_avg|_median|_p90|_max)$/.test(code) || code.startsWith('avg_')) return false;
  return code !== 'revenue_per_lead' && code !== 'calls_avg' && code !== 'company_score';
}

/** The unit of a figure code; `plan`/`fact` follow the plan's metric (amount unless count). */
export function figureKind(code: string, planUnit: 'amount' | 'count' = 'amount'): FigureKind {
  if (code === 'plan' || code === 'fact') return planUnit === 'count' ? 'count' : 'money';
  if (moneyCodes.has(code) || code.endsWith('_amount')) return 'money';
  if (shareCodes.has(code) || code.startsWith('conv_') || code.endsWith('_rate') || code.endsWith('_share')) {
    return 'share';
  }
  if (secondCodes.has(code) || code.startsWith('talk_time') || code.startsWith('callback_delay'))
    return 'seconds';
  if (dayCodes.has(code) || code.endsWith('_days')) return 'days';
  if (decimalCodes.has(code)) return 'decimal';
  return 'count';
}

const integer = new Intl.NumberFormat('ru-RU', { maximumFractionDigits: 0 });
const oneDecimal = new Intl.NumberFormat('ru-RU', { maximumFractionDigits: 1 });
const money = new Intl.NumberFormat('ru-RU', {
  style: 'currency',
  currency: 'RUB',
  notation: 'compact',
  maximumFractionDigits: 1,
  minimumFractionDigits: 0,
});
const percent = new Intl.NumberFormat('ru-RU', { style: 'percent', maximumFractionDigits: 1 });

/** Talk time as `m:ss` (`3:47`), or `h:mm:ss` from an hour up. */
export function formatDuration(seconds: number): string {
  const total = Math.round(seconds);
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = String(total % 60).padStart(2, '0');
  return h > 0 ? `${h}:${String(m).padStart(2, '0')}:${s}` : `${m}:${s}`;
}

/** A figure value as a user reads it: `1 398`, `1,2 млн ₽`, `18,4 %`, `3:47`, `4,5 дн.`; null is "—". */
export function formatValue(kind: FigureKind, value: number | null | undefined): string {
  if (value === null || value === undefined || !Number.isFinite(value)) return '—';
  switch (kind) {
    case 'count':
      return Number.isInteger(value) ? integer.format(value) : oneDecimal.format(value);
    case 'decimal':
      return oneDecimal.format(value);
    case 'money':
      return money.format(value);
    case 'share':
      return percent.format(value);
    case 'seconds':
      return formatDuration(value);
    case 'days':
      return `${oneDecimal.format(value)} дн.`;
  }
}

/**
 * "факт из плана" in one unit: `0,96 из 1,5 млн ₽`, `420 из 500 тыс. ₽`, `12 из 20`.
 * The unit follows the plan, so the two numbers compare at a glance.
 */
export function formatOutOf(kind: FigureKind, part: number | null, whole: number | null): string {
  if (kind !== 'money' || whole === null) return `${formatValue(kind, part)} из ${formatValue(kind, whole)}`;
  const [scale, unit] = whole >= 1e6 ? [1e6, 'млн ₽'] : whole >= 1e3 ? [1e3, 'тыс. ₽'] : [1, '₽'];
  const scaled = (v: number) =>
    new Intl.NumberFormat('ru-RU', { maximumFractionDigits: Math.abs(v / scale) < 10 ? 2 : 1 }).format(
      v / scale,
    );
  return `${part === null ? '—' : scaled(part)} из ${scaled(whole)} ${unit}`;
}

/**
 * Chart value for a figure: durations are drawn in minutes because an axis
 * can only label numbers with `Intl` (the exact `m:ss` goes into the labels).
 */
export function plotValue(kind: FigureKind, value: number | null | undefined): number | null {
  if (value === null || value === undefined || !Number.isFinite(value)) return null;
  return kind === 'seconds' ? Math.round((value / 60) * 100) / 100 : value;
}

/**
 * Axis tick options for a figure kind: `Intl.NumberFormat` options applied by
 * Chart.js' own tick formatter with `locale: 'ru-RU'`. The minimum fraction
 * digits are always set because Chart.js merges these over its own.
 */
export function tickOptions(
  kind: FigureKind,
): Record<string, string | number | Record<string, string | number>> {
  switch (kind) {
    case 'count':
      return { precision: 0, format: { maximumFractionDigits: 0, minimumFractionDigits: 0 } };
    case 'decimal':
      return { format: { maximumFractionDigits: 1, minimumFractionDigits: 0 } };
    case 'money':
      return {
        format: {
          style: 'currency',
          currency: 'RUB',
          notation: 'compact',
          maximumFractionDigits: 1,
          minimumFractionDigits: 0,
        },
      };
    case 'share':
      return { format: { style: 'percent', maximumFractionDigits: 1, minimumFractionDigits: 0 } };
    case 'seconds':
      return {
        format: {
          style: 'unit',
          unit: 'minute',
          unitDisplay: 'short',
          maximumFractionDigits: 1,
          minimumFractionDigits: 0,
        },
      };
    case 'days':
      return {
        format: {
          style: 'unit',
          unit: 'day',
          unitDisplay: 'short',
          maximumFractionDigits: 1,
          minimumFractionDigits: 0,
        },
      };
  }
}

const monthsGenitive = MONTHS_GEN;
const monthsShort = ['янв', 'фев', 'мар', 'апр', 'май', 'июн', 'июл', 'авг', 'сен', 'окт', 'ноя', 'дек'];

interface LocalDate {
  year: number;
  month: number;
  day: number;
}

function parseDate(iso: string): LocalDate | null {
  const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(iso);
  if (!m) return null;
  return { year: Number(m[1]), month: Number(m[2]), day: Number(m[3]) };
}

/** An inclusive period in words: "1–31 марта 2026", "1 февраля – 31 марта 2026", "15 марта 2026". */
export function formatPeriod(period: { from: string; to: string }): string {
  const a = parseDate(period.from);
  const b = parseDate(period.to);
  if (!a || !b) return `${period.from} – ${period.to}`;
  const genA = monthsGenitive[a.month - 1];
  const genB = monthsGenitive[b.month - 1];
  if (a.year !== b.year) return `${a.day} ${genA} ${a.year} – ${b.day} ${genB} ${b.year}`;
  if (a.month !== b.month) return `${a.day} ${genA} – ${b.day} ${genB} ${b.year}`;
  if (a.day !== b.day) return `${a.day}–${b.day} ${genA} ${b.year}`;
  return `${a.day} ${genA} ${a.year}`;
}

/** Which time unit a set of group labels is, if any (METRICS.md: ISO dates for days, `2026-03` for months, …). */
export type TimeUnit = 'day' | 'week' | 'month' | 'quarter';

const timePatterns: [TimeUnit, RegExp][] = [
  ['day', /^\d{4}-\d{2}-\d{2}$/],
  ['week', /^\d{4}-W\d{1,2}$/],
  ['month', /^\d{4}-\d{2}$/],
  ['quarter', /^\d{4}-Q[1-4]$/],
];

export function timeUnitOf(labels: readonly string[]): TimeUnit | null {
  if (labels.length === 0) return null;
  for (const [unit, pattern] of timePatterns) {
    if (labels.every((l) => pattern.test(l))) return unit;
  }
  return null;
}

const romanQuarters = ['I', 'II', 'III', 'IV'];

/** A time group label on an axis: "1 мар", "нед. 10", "мар" (or "мар 2025" when years differ), "I кв. 2026". */
export function formatTimeLabel(label: string, unit: TimeUnit, sameYear: boolean): string {
  switch (unit) {
    case 'day': {
      const d = parseDate(label);
      return d ? `${d.day} ${monthsShort[d.month - 1]}` : label;
    }
    case 'week':
      return `нед. ${Number(label.slice(label.indexOf('W') + 1))}`;
    case 'month': {
      const month = monthsShort[Number(label.slice(5, 7)) - 1] ?? label;
      return sameYear ? month : `${month} ${label.slice(0, 4)}`;
    }
    case 'quarter':
      return `${romanQuarters[Number(label.slice(6)) - 1]} кв. ${label.slice(0, 4)}`;
  }
}

export const weekdays = ['пн', 'вт', 'ср', 'чт', 'пт', 'сб', 'вс'] as const;

export function isHourLabels(labels: readonly string[]): boolean {
  return labels.length > 0 && labels.every((l) => /^\d{1,2}$/.test(l) && Number(l) <= 23);
}

export function isWeekdayLabels(labels: readonly string[]): boolean {
  return labels.length > 0 && labels.every((l) => (weekdays as readonly string[]).includes(l.toLowerCase()));
}

const nameWord = '[А-ЯЁ][а-яё]+(?:-[А-ЯЁ][а-яё]+)?';
const personName = new RegExp(`^${nameWord}(?: ${nameWord}){1,2}$`);
const patronymic = /(?:вич|вна|чна|ична|оглы|кызы)$/;

/** Whether a label reads as a person's name ("Алексей Чуркин", "Чуркин Алексей Петрович"). */
export function looksLikePerson(label: string): boolean {
  return personName.test(label.trim());
}

/**
 * "Алексей Чуркин" → "Алексей Ч."; "Чуркин Алексей Петрович" → "Алексей Ч.".
 * `surnameLetters` lengthens the surname part when two people would collide.
 */
function shortPerson(label: string, surnameLetters: number): string | null {
  const words = label.trim().split(' ');
  let first: string;
  let surname: string;
  if (words.length === 2) {
    [first, surname] = words as [string, string];
  } else if (words.length === 3 && patronymic.test(words[2] as string)) {
    [surname, first] = words as [string, string, string];
  } else {
    return null;
  }
  if (surnameLetters >= surname.length) return `${first} ${surname}`;
  return `${first} ${surname.slice(0, surnameLetters)}.`;
}

/**
 * Advance widths of DejaVu Sans in em, rounded up to 0.05 (measured with
 * @napi-rs/canvas): labels are fitted by width, not by character count,
 * because "Щ" is three times as wide as "i".
 */
const glyphWidths: Record<string, string> = {
  '0.3': "IJijl'",
  '0.35': ' \u00a0\u202f.,:;/·',
  '0.4': 'ft-()',
  '0.45': 'r!',
  '0.5': '–"',
  '0.55': 'гзсэcsz?',
  '0.6': 'втухчьFLkvxy',
  '0.65': 'ГЕЁЗРТУабеёийклоряEPSTYabdeghnopqu0123456789«»₽',
  '0.7': 'АБВСХЧЬЭЯднпцABCKRVXZ',
  '0.75': 'ИЙКъNU',
  '0.8': 'ДЛНОПЦмыDGHOQ',
  '0.85': 'Ъюw→↓+×',
  '0.9': 'МФЫфM',
  '0.95': 'жшщ',
  '1': 'Wm—%…',
  '1.05': '№',
  '1.1': 'ЖШЩЮ',
};
const glyphWidth = new Map<string, number>();
for (const [em, chars] of Object.entries(glyphWidths)) for (const ch of chars) glyphWidth.set(ch, Number(em));

/** The room a label gets: `width` CSS pixels of text at `size` px. */
export interface LabelFit {
  width: number;
  size: number;
}

/** Estimated width in CSS pixels of a line of DejaVu Sans at `size` px. */
export function textWidth(text: string, size: number): number {
  let em = 0;
  for (const ch of text) em += glyphWidth.get(ch) ?? 0.75;
  return em * size;
}

/** Cuts a label that does not fit, at a word boundary when one is near, with "…". */
export function truncateLabel(label: string, fit: LabelFit): string {
  const text = label.trim();
  if (textWidth(text, fit.size) <= fit.width) return text;
  let end = 0;
  while (end < text.length && textWidth(`${text.slice(0, end + 1)}…`, fit.size) <= fit.width) end++;
  const cut = text.slice(0, end);
  const space = text[end] === ' ' ? cut.length : cut.lastIndexOf(' ');
  return `${(space > cut.length / 3 ? cut.slice(0, space) : cut).replace(/[\s,.;:–-]+$/, '')}…`;
}

/** Splits a label into at most two lines that fit (stage names). */
export function wrapLabel(label: string, fit: LabelFit): string | string[] {
  const text = label.trim();
  if (textWidth(text, fit.size) <= fit.width) return text;
  const words = text.split(/\s+/);
  let first = '';
  let i = 0;
  for (; i < words.length; i++) {
    const next = first ? `${first} ${words[i]}` : (words[i] as string);
    if (textWidth(next, fit.size) > fit.width && first) break;
    first = next;
  }
  const rest = words.slice(i).join(' ');
  return rest ? [truncateLabel(first, fit), truncateLabel(rest, fit)] : truncateLabel(first, fit);
}

/**
 * Display labels for a set of group labels: people become "Имя Ф." (longer
 * surname prefixes when two people would read the same), other labels are
 * cut to fit. `keep` lists labels never treated as names.
 */
export function shortenLabels(
  labels: readonly string[],
  fit: LabelFit,
  keep: (label: string) => boolean,
): string[] {
  const out = labels.map((label) => {
    if (!keep(label) && looksLikePerson(label)) return shortPerson(label, 1) ?? truncateLabel(label, fit);
    return truncateLabel(label, fit);
  });
  for (let letters = 2; letters < 12; letters++) {
    const seen = new Map<string, number>();
    for (const s of out) seen.set(s, (seen.get(s) ?? 0) + 1);
    const clashes = out.map((s, i) => (seen.get(s) ?? 0) > 1 && labels[i] !== s);
    if (!clashes.some(Boolean)) break;
    clashes.forEach((clash, i) => {
      const label = labels[i] as string;
      if (!clash) return;
      const longer = looksLikePerson(label) ? shortPerson(label, letters) : null;
      out[i] = longer ? truncateLabel(longer, fit) : label;
    });
  }
  return out;
}

/** Lower case, `ё`→`е`, letters and digits only: the key for colours and known names. */
export function normalizeName(text: string): string {
  return text
    .toLowerCase()
    .replaceAll('ё', 'е')
    .replace(/[^\p{L}\p{N}]+/gu, '');
}
