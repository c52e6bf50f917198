import { NUMBER_RE, numberValue, rx, type Work } from './text.ts';

/** Local "today" of the company, as numbers. */
export interface Today {
  y: number;
  m: number;
  d: number;
}

const MONTH_FORMS: [number, string[]][] = [
  [1, ['январь', 'января', 'январе', 'январю', 'янв']],
  [2, ['февраль', 'февраля', 'феврале', 'февралю', 'фев']],
  [3, ['март', 'марта', 'марте', 'марту']],
  [4, ['апрель', 'апреля', 'апреле', 'апрелю', 'апр']],
  [5, ['май', 'мая', 'мае', 'маю']],
  [6, ['июнь', 'июня', 'июне', 'июню']],
  [7, ['июль', 'июля', 'июле', 'июлю']],
  [8, ['август', 'августа', 'августе', 'августу', 'авг']],
  [9, ['сентябрь', 'сентября', 'сентябре', 'сентябрю', 'сен', 'сент']],
  [10, ['октябрь', 'октября', 'октябре', 'октябрю', 'окт']],
  [11, ['ноябрь', 'ноября', 'ноябре', 'ноябрю', 'ноя', 'нояб']],
  [12, ['декабрь', 'декабря', 'декабре', 'декабрю', 'дек']],
];
const MONTH_OF = new Map<string, number>(
  MONTH_FORMS.flatMap(([n, forms]) => forms.map((f) => [f, n] as const)),
);
/** Every month word, for the gibberish check. */
export const monthWords: ReadonlySet<string> = new Set(MONTH_OF.keys());

const MONTH = `(${[...MONTH_OF.keys()].sort((a, b) => b.length - a.length).join('|')})`;
const YEAR = `(20\\d\\d)(?: (?:года|году|год|г))?`;
const NUM = `(${NUMBER_RE})`;
const DMY = `(\\d{1,2})\\.(\\d{1,2})(?:\\.(\\d{2,4}))?`;
const ORDINAL_Q: Record<string, number> = {
  первый: 1,
  первом: 1,
  первого: 1,
  '1': 1,
  '1-й': 1,
  '1-м': 1,
  второй: 2,
  втором: 2,
  второго: 2,
  '2': 2,
  '2-й': 2,
  '2-м': 2,
  третий: 3,
  третьем: 3,
  третьего: 3,
  '3': 3,
  '3-й': 3,
  '3-м': 3,
  четвертый: 4,
  четвертом: 4,
  четвертого: 4,
  '4': 4,
  '4-й': 4,
  '4-м': 4,
};

function pad2(n: number): string {
  return n < 10 ? `0${n}` : String(n);
}

function iso(y: number, m: number, d: number): string {
  return `${y}-${pad2(m)}-${pad2(d)}`;
}

function ms(y: number, m: number, d: number): number {
  return Date.UTC(y, m - 1, d);
}

function shift(t: Today, days: number): Today {
  const x = new Date(ms(t.y, t.m, t.d) + days * 86_400_000);
  return { y: x.getUTCFullYear(), m: x.getUTCMonth() + 1, d: x.getUTCDate() };
}

function validDay(y: number, m: number, d: number): boolean {
  return m >= 1 && m <= 12 && d >= 1 && d <= new Date(Date.UTC(y, m, 0)).getUTCDate();
}

function fullYear(s: string | undefined): number | null {
  if (!s) return null;
  const n = Number(s);
  return s.length === 2 ? 2000 + n : n;
}

/** A day without a year is the most recent such day not in the future. */
function yearFor(m: number, d: number, today: Today): number {
  return ms(today.y, m, d) <= ms(today.y, today.m, today.d) ? today.y : today.y - 1;
}

function range(a: Today, b: Today): string {
  return `${iso(a.y, a.m, a.d)}..${iso(b.y, b.m, b.d)}`;
}

/** `last_N_days` for a count of days; the two standard spans keep their own names. */
function lastDays(n: number): string {
  return `last_${n}_days`;
}

function lastMonths(n: number): string {
  return n === 1 ? 'last_30_days' : `last_${n}_months`;
}

const UNIT_DAYS = (unit: string): number => {
  if (unit.startsWith('нед')) return 7;
  if (unit.startsWith('мес')) return 30;
  if (unit.startsWith('год') || unit.startsWith('лет')) return 365;
  return 1;
};

interface Rule {
  re: RegExp;
  period: (m: RegExpExecArray, today: Today) => string | null;
}

function explicitRange(
  d1: number,
  m1: number,
  y1: number | null,
  d2: number,
  m2: number,
  y2: number | null,
  today: Today,
): string | null {
  const endYear = y2 ?? y1 ?? yearFor(m2, Math.min(d2, 28), today);
  let startYear = y1 ?? endYear;
  if (!y1 && (m1 > m2 || (m1 === m2 && d1 > d2))) startYear = endYear - 1;
  if (!validDay(startYear, m1, d1) || !validDay(endYear, m2, d2)) return null;
  if (ms(startYear, m1, d1) > ms(endYear, m2, d2)) return null;
  return `${iso(startYear, m1, d1)}..${iso(endYear, m2, d2)}`;
}

function relativeYear(word: string | undefined, today: Today): number | null {
  if (!word) return null;
  if (/^прошл/.test(word)) return today.y - 1;
  if (/^(эт|текущ|нынешн)/.test(word)) return today.y;
  return null;
}

const RULES: Rule[] = [
  // 2026-03-01..2026-03-15, с 2026-03-01 по 2026-03-15
  {
    re: rx(
      `(?:\\bс |\\bот )?\\b(\\d{4})-(\\d{2})-(\\d{2}) (?:(?:по|до|-) )?(\\d{4})-(\\d{2})-(\\d{2})\\b`,
      'gu',
    ),
    period: (m) =>
      explicitRange(Number(m[3]), Number(m[2]), Number(m[1]), Number(m[6]), Number(m[5]), Number(m[4]), {
        y: 0,
        m: 0,
        d: 0,
      }),
  },
  // с 01.03 по 15.03, 01.03.2026-15.03.2026
  {
    re: rx(`(?:\\bс |\\bот )?\\b${DMY}\\s*(?:по|до|-)\\s*${DMY}\\b`, 'gu'),
    period: (m, t) =>
      explicitRange(
        Number(m[1]),
        Number(m[2]),
        fullYear(m[3]),
        Number(m[4]),
        Number(m[5]),
        fullYear(m[6]),
        t,
      ),
  },
  // с 1 по 15 марта, с 25 февраля по 5 марта 2026, 1-15 марта
  {
    re: rx(
      `(?:\\bс |\\bот )?\\b(\\d{1,2})(?: ${MONTH})?(?: ${YEAR})?\\s*(?:по|до|-)\\s*(\\d{1,2}) ${MONTH}\\b(?: ${YEAR})?`,
      'gu',
    ),
    period: (m, t) => {
      const m2 = MONTH_OF.get(m[5]!)!;
      const m1 = m[2] ? MONTH_OF.get(m[2])! : m2;
      return explicitRange(Number(m[1]), m1, fullYear(m[3]), Number(m[4]), m2, fullYear(m[6]), t);
    },
  },
  // с 1 марта (по сегодня)
  {
    re: rx(`\\b(?:начиная )?с (\\d{1,2}) ${MONTH}\\b(?: ${YEAR})?`, 'gu'),
    period: (m, t) => {
      const month = MONTH_OF.get(m[2]!)!;
      const d = Number(m[1]);
      const y = fullYear(m[3]) ?? yearFor(month, Math.min(d, 28), t);
      if (!validDay(y, month, d) || ms(y, month, d) > ms(t.y, t.m, t.d)) return null;
      return range({ y, m: month, d }, t);
    },
  },
  {
    re: rx(`\\b(?:начиная )?с ${DMY}\\b`, 'gu'),
    period: (m, t) => {
      const d = Number(m[1]);
      const month = Number(m[2]);
      const y = fullYear(m[3]) ?? yearFor(month, Math.min(d, 28), t);
      if (!validDay(y, month, d) || ms(y, month, d) > ms(t.y, t.m, t.d)) return null;
      return range({ y, m: month, d }, t);
    },
  },
  // первый квартал 2025, в 3 квартале, за 4-й квартал
  {
    re: rx(
      `\\b(первый|первом|первого|второй|втором|второго|третий|третьем|третьего|четвертый|четвертом|четвертого|[1-4](?:-й|-м)?) квартал[а-я]*(?: ${YEAR}| (прошлого|этого|текущего) года)?`,
      'gu',
    ),
    period: (m, t) => {
      const q = ORDINAL_Q[m[1]!];
      if (!q) return null;
      const currentQ = Math.ceil(t.m / 3);
      const y = fullYear(m[2]) ?? relativeYear(m[3], t) ?? (q <= currentQ ? t.y : t.y - 1);
      return `quarter:${y}-${q}`;
    },
  },
  // 15 марта, 15 марта 2025
  {
    re: rx(`\\b(\\d{1,2}) ${MONTH}\\b(?: ${YEAR})?`, 'gu'),
    period: (m, t) => {
      const month = MONTH_OF.get(m[2]!)!;
      const d = Number(m[1]);
      const y = fullYear(m[3]) ?? yearFor(month, Math.min(d, 28), t);
      if (!validDay(y, month, d)) return null;
      return `${iso(y, month, d)}..${iso(y, month, d)}`;
    },
  },
  // 15.03.2026, за 15.03
  {
    re: rx(`\\b(?:(?:за|на) )?${DMY}\\b`, 'gu'),
    period: (m, t) => {
      const d = Number(m[1]);
      const month = Number(m[2]);
      const y = fullYear(m[3]) ?? yearFor(month, Math.min(d, 28), t);
      if (!validDay(y, month, d)) return null;
      return `${iso(y, month, d)}..${iso(y, month, d)}`;
    },
  },
  // в марте, за март 2025, в марте прошлого года
  {
    re: rx(`(?:\\b(?:в|за|на) )?\\b${MONTH}\\b(?: ${YEAR}| (прошлого|этого|текущего) года)?`, 'gu'),
    period: (m, t) => {
      const month = MONTH_OF.get(m[1]!)!;
      const y = fullYear(m[2]) ?? relativeYear(m[3], t);
      return y ? `month:${y}-${pad2(month)}` : `month:${pad2(month)}`;
    },
  },
  { re: rx(`\\bпозавчера[а-я]*`, 'gu'), period: (_m, t) => range(shift(t, -2), shift(t, -2)) },
  { re: rx(`(?:\\bза )?\\b(?:сегодня|сегодняшн[а-я]*)\\b`, 'gu'), period: () => 'today' },
  { re: rx(`(?:\\bза )?\\b(?:вчера|вчерашн[а-я]*)\\b`, 'gu'), period: () => 'yesterday' },
  { re: rx(`\\bза (?:сутки|день)\\b`, 'gu'), period: () => 'today' },
  // weeks
  {
    re: rx(`(?:\\b(?:на|за|в) )?\\b(?:эт[а-я]*|текущ[а-я]*|нынешн[а-я]*) недел[а-я]*`, 'gu'),
    period: () => 'this_week',
  },
  {
    re: rx(`(?:\\b(?:на|за|в) )?\\bпозапрошл[а-я]* недел[а-я]*`, 'gu'),
    period: (_m, t) => {
      const wd = new Date(ms(t.y, t.m, t.d)).getUTCDay() || 7;
      return range(shift(t, 1 - wd - 14), shift(t, 1 - wd - 8));
    },
  },
  {
    re: rx(`(?:\\b(?:на|за|в) )?\\b(?:прошл[а-я]*|предыдущ[а-я]*) недел[а-я]*`, 'gu'),
    period: () => 'last_week',
  },
  // months, quarters, years by name
  {
    re: rx(
      `(?:\\b(?:в|за|на) )?\\b(?:эт[а-я]*|текущ[а-я]*|нынешн[а-я]*) месяц[а-я]*|\\bс начала месяца`,
      'gu',
    ),
    period: () => 'this_month',
  },
  {
    re: rx(`(?:\\b(?:в|за|на) )?\\bпозапрошл[а-я]* месяц[а-я]*`, 'gu'),
    period: (_m, t) => `month:${pad2(t.m <= 2 ? t.m + 10 : t.m - 2)}`,
  },
  {
    re: rx(`(?:\\b(?:в|за|на) )?\\b(?:прошл[а-я]*|предыдущ[а-я]*) месяц[а-я]*`, 'gu'),
    period: () => 'last_month',
  },
  {
    re: rx(
      `(?:\\b(?:в|за|на) )?\\b(?:эт[а-я]*|текущ[а-я]*|нынешн[а-я]*) квартал[а-я]*|\\bс начала квартала`,
      'gu',
    ),
    period: () => 'this_quarter',
  },
  {
    re: rx(`(?:\\b(?:в|за|на) )?\\b(?:прошл[а-я]*|предыдущ[а-я]*) квартал[а-я]*`, 'gu'),
    period: () => 'last_quarter',
  },
  {
    re: rx(`(?:\\b(?:в|за|на) )?\\b(?:эт[а-я]*|текущ[а-я]*|нынешн[а-я]*) год[а-я]*|\\bс начала года`, 'gu'),
    period: () => 'this_year',
  },
  {
    re: rx(`(?:\\b(?:в|за|на) )?\\b(?:прошл[а-я]*|предыдущ[а-я]*) год[а-я]*`, 'gu'),
    period: () => 'last_year',
  },
  {
    re: rx(`(?:\\b(?:в|за|на) )?\\b(20\\d\\d)(?: (?:года|году|год|г))?\\b`, 'gu'),
    period: (m) => `year:${m[1]}`,
  },
  // spans: за последние 14 дней, за 2 недели, последние три месяца, за полгода
  {
    re: rx(`(?:\\bза |\\bв течение )?(?:\\bпоследн[а-я]* )?\\bпол ?года\\b`, 'gu'),
    period: () => 'last_6_months',
  },
  {
    re: rx(
      `(?:\\bза |\\bв течение )?(?:\\bпоследн[а-я]* )?${NUM} (дн[а-я]*|день|сут[а-я]*|недел[а-я]*|месяц[а-я]*)`,
      'gu',
    ),
    period: (m) => {
      if (!/(за|течение|последн)/.test(m[0])) return null;
      const n = numberValue(m[1]!);
      if (!n) return null;
      const unit = m[2]!;
      if (unit.startsWith('мес')) return lastMonths(n);
      return lastDays(n * UNIT_DAYS(unit));
    },
  },
  { re: rx(`(?:\\bза |\\bв течение )?\\bпоследн[а-я]* недел[а-я]*`, 'gu'), period: () => 'last_7_days' },
  { re: rx(`(?:\\bза |\\bв течение )?\\bпоследн[а-я]* месяц[а-я]*`, 'gu'), period: () => 'last_30_days' },
  // "за неделю" is the last 7 days; "за месяц", "на квартал" the current calendar month or quarter.
  { re: rx(`\\b(?:за|на) неделю\\b`, 'gu'), period: () => 'last_7_days' },
  { re: rx(`\\b(?:за|на) месяц\\b`, 'gu'), period: () => 'this_month' },
  { re: rx(`\\b(?:за|на) квартал\\b`, 'gu'), period: () => 'this_quarter' },
  { re: rx(`\\b(?:за|на) год\\b`, 'gu'), period: () => 'this_year' },
];

/**
 * Takes the first period phrase out of the question and returns its slot:
 * a named period, `month:03`, `quarter:2026-1`, `last_14_days` or an explicit
 * `YYYY-MM-DD..YYYY-MM-DD` (the year of a date without one is the most recent
 * one not in the future).
 */
export function takePeriod(work: Work, today: Today): string | null {
  for (const rule of RULES) {
    // Assigned inside the callback; the cast keeps TypeScript from narrowing it to null.
    let slot = null as string | null;
    work.take(rule.re, (m) => {
      slot = rule.period(m, today);
      return slot !== null;
    });
    if (slot) return slot;
  }
  return null;
}

const UNIT = `(дн[а-я]*|день|сут[а-я]*|недел[а-я]*|месяц[а-я]*)`;

/** Threshold phrases; `whole` says whether the whole match is taken out or only the count and unit. */
const THRESHOLD_RULES: { re: RegExp; whole: boolean }[] = [
  {
    re: rx(
      `\\b(?:больше|более|дольше|свыше|старше|от|не меньше|не менее|хотя бы|>=?) (?:чем )?(?:${NUM} )?${UNIT}\\b`,
      'gud',
    ),
    whole: true,
  },
  {
    re: rx(
      `\\b(?:без активности|без движения|без касаний|не трогали|не трогал[а-я]*|не было активности|нет активности|висят|висит|зависли|не двигались|не обновлял[а-я]*)(?: уже)?(?: (?:больше|более|дольше|свыше))?(?: чем)? ${NUM} ${UNIT}\\b`,
      'gud',
    ),
    whole: false,
  },
  {
    re: rx(`\\b${NUM} ${UNIT} (?:и (?:больше|более|дольше)|без активности|без движения|без касаний)`, 'gud'),
    whole: false,
  },
];

/**
 * "Forgotten" thresholds ("больше 30 дней", "дольше двух недель",
 * "без активности 10 дней") as a number of days. The count is taken out of
 * the question; activity words ("без активности") stay for the intent.
 */
export function takeThresholdDays(work: Work): number | null {
  for (const rule of THRESHOLD_RULES) {
    let hit = null as { days: number; from: number; to: number } | null;
    work.take(rule.re, (m) => {
      const count = m[1] ? numberValue(m[1]) : 1;
      if (!count) return false;
      const unitEnd = m.indices?.[2]?.[1] ?? m.index + m[0].length;
      const countStart = m.indices?.[1]?.[0] ?? m.indices?.[2]?.[0] ?? m.index;
      hit = rule.whole
        ? { days: count * UNIT_DAYS(m[2]!), from: m.index, to: m.index + m[0].length }
        : { days: count * UNIT_DAYS(m[2]!), from: countStart, to: unitEnd };
      return false;
    });
    if (hit) {
      work.blank(hit.from, hit.to);
      return hit.days;
    }
  }
  return null;
}
