import { describe, expect, it } from 'vitest';
import { AppError } from '../../src/errors.ts';
import {
  formatPeriodRu,
  periodInputFromSlot,
  previousPeriod,
  resolvePeriod,
  splitPeriod,
  startOfLocalDay,
} from '../../src/metrics/period.ts';

const MSK = 'Europe/Moscow';
/** Monday 23 November 2026, 10:00 in Moscow. */
const now = new Date('2026-11-23T10:00:00+03:00');
const named = (name: string, at = now, tz = MSK) => resolvePeriod({ name }, { now: at, tz });

describe('resolvePeriod: named periods in Moscow', () => {
  it.each([
    ['today', '2026-11-23', '2026-11-23'],
    ['yesterday', '2026-11-22', '2026-11-22'],
    ['last_7_days', '2026-11-17', '2026-11-23'],
    ['last_30_days', '2026-10-25', '2026-11-23'],
    ['last_14_days', '2026-11-10', '2026-11-23'],
    ['this_week', '2026-11-23', '2026-11-29'],
    ['last_week', '2026-11-16', '2026-11-22'],
    ['this_month', '2026-11-01', '2026-11-30'],
    ['last_month', '2026-10-01', '2026-10-31'],
    ['this_quarter', '2026-10-01', '2026-12-31'],
    ['last_quarter', '2026-07-01', '2026-09-30'],
    ['this_year', '2026-01-01', '2026-12-31'],
    ['last_year', '2025-01-01', '2025-12-31'],
    ['last_6_months', '2026-06-01', '2026-11-30'],
    ['last_3_months', '2026-09-01', '2026-11-30'],
    ['month:03', '2026-03-01', '2026-03-31'],
    ['month:11', '2026-11-01', '2026-11-30'],
    ['month:12', '2025-12-01', '2025-12-31'],
    ['month:2025-02', '2025-02-01', '2025-02-28'],
    ['quarter:2026-1', '2026-01-01', '2026-03-31'],
    ['year:2024', '2024-01-01', '2024-12-31'],
    ['2026-03-01..2026-03-15', '2026-03-01', '2026-03-15'],
  ])('%s → %s..%s', (name, from, to) => {
    const p = named(name);
    expect([p.from, p.to]).toEqual([from, to]);
  });

  it('gives the half-open instants of local midnights', () => {
    const p = named('month:03');
    expect(p.start.toISOString()).toBe('2026-02-28T21:00:00.000Z');
    expect(p.end.toISOString()).toBe('2026-03-31T21:00:00.000Z');
  });

  it('keeps the name of a named period and drops it for explicit dates', () => {
    expect(named('last_week').name).toBe('last_week');
    expect(named('2026-03-01..2026-03-15').name).toBeUndefined();
    expect(resolvePeriod({ from: '2026-03-01', to: '2026-03-15' }, { now, tz: MSK }).name).toBeUndefined();
  });

  it('uses the default name when no period is given', () => {
    expect(resolvePeriod(undefined, { now, tz: MSK }).from).toBe('2026-11-01');
    const p = resolvePeriod(undefined, { now, tz: MSK, defaultName: 'last_30_days' });
    expect([p.from, p.to, p.name]).toEqual(['2026-10-25', '2026-11-23', 'last_30_days']);
  });
});

describe('resolvePeriod: boundaries and time zones', () => {
  it('puts a question at 23:30 Moscow on 31 March into March', () => {
    const late = new Date('2026-03-31T23:30:00+03:00');
    const month = named('this_month', late);
    expect([month.from, month.to]).toEqual(['2026-03-01', '2026-03-31']);
    expect(named('today', late).from).toBe('2026-03-31');
    const call = new Date('2026-03-31T20:30:00Z');
    expect(call >= month.start && call < month.end).toBe(true);
    const nextMidnight = new Date('2026-03-31T21:00:00Z');
    expect(nextMidnight < month.end).toBe(false);
  });

  it('uses the local date in Asia/Yekaterinburg (UTC+5), not the UTC one', () => {
    const at = new Date('2026-11-23T20:30:00Z'); // 01:30 on 24 November in Yekaterinburg
    const p = named('today', at, 'Asia/Yekaterinburg');
    expect(p.from).toBe('2026-11-24');
    expect(p.start.toISOString()).toBe('2026-11-23T19:00:00.000Z');
    expect(p.end.toISOString()).toBe('2026-11-24T19:00:00.000Z');
  });

  it('makes the spring-forward day in Berlin 23 hours long', () => {
    const p = resolvePeriod({ from: '2026-03-29', to: '2026-03-29' }, { now, tz: 'Europe/Berlin' });
    expect(p.start.toISOString()).toBe('2026-03-28T23:00:00.000Z');
    expect(p.end.toISOString()).toBe('2026-03-29T22:00:00.000Z');
  });

  it('makes the fall-back day in Berlin 25 hours long', () => {
    const p = resolvePeriod({ from: '2026-10-25', to: '2026-10-25' }, { now, tz: 'Europe/Berlin' });
    expect(p.start.toISOString()).toBe('2026-10-24T22:00:00.000Z');
    expect(p.end.toISOString()).toBe('2026-10-25T23:00:00.000Z');
  });

  it('starts a day whose midnight is skipped by DST at the end of the gap (Santiago)', () => {
    // Chile moves clocks from 00:00 to 01:00 on Sunday 6 September 2026.
    expect(startOfLocalDay('2026-09-06', 'America/Santiago').toISOString()).toBe('2026-09-06T04:00:00.000Z');
    expect(startOfLocalDay('2026-09-07', 'America/Santiago').toISOString()).toBe('2026-09-07T03:00:00.000Z');
  });

  it('takes the Berlin date at 00:30 local on the switch day', () => {
    const at = new Date('2026-03-28T23:30:00Z');
    expect(named('today', at, 'Europe/Berlin').from).toBe('2026-03-29');
    expect(named('today', at, MSK).from).toBe('2026-03-29');
    expect(named('today', at, 'UTC').from).toBe('2026-03-28');
  });
});

describe('resolvePeriod: months and weeks', () => {
  it('resolves "в марте" to the most recent March not in the future', () => {
    expect(named('month:03', new Date('2026-11-20T12:00:00+03:00')).from).toBe('2026-03-01');
    expect(named('month:03', new Date('2026-02-10T12:00:00+03:00')).from).toBe('2025-03-01');
  });

  it('resolves month names in January: January is this year, November the last one', () => {
    const jan = new Date('2026-01-05T12:00:00+03:00');
    expect(named('month:01', jan).from).toBe('2026-01-01');
    expect(named('month:11', jan).from).toBe('2025-11-01');
    expect(named('last_month', jan).from).toBe('2025-12-01');
    expect([named('last_quarter', jan).from, named('last_quarter', jan).to]).toEqual([
      '2025-10-01',
      '2025-12-31',
    ]);
  });

  it('starts weeks on Monday, also when asked on Sunday', () => {
    const sunday = new Date('2026-11-29T22:00:00+03:00');
    expect([named('this_week', sunday).from, named('this_week', sunday).to]).toEqual([
      '2026-11-23',
      '2026-11-29',
    ]);
    expect(named('last_week', sunday).from).toBe('2026-11-16');
  });

  it('handles a leap February', () => {
    expect(named('month:2028-02').to).toBe('2028-02-29');
  });
});

describe('splitPeriod: the parts of a period per time group', () => {
  const period = resolvePeriod({ from: '2026-02-17', to: '2026-04-02' }, { now, tz: MSK });
  const bounds = (unit: 'day' | 'week' | 'month' | 'quarter') =>
    splitPeriod(period, unit, MSK).map((x) => [x.key, x.period.from, x.period.to]);

  it('cuts months and quarters at the ends of the period', () => {
    expect(bounds('month')).toEqual([
      ['2026-02', '2026-02-17', '2026-02-28'],
      ['2026-03', '2026-03-01', '2026-03-31'],
      ['2026-04', '2026-04-01', '2026-04-02'],
    ]);
    expect(bounds('quarter')).toEqual([
      ['2026-Q1', '2026-02-17', '2026-03-31'],
      ['2026-Q2', '2026-04-01', '2026-04-02'],
    ]);
  });

  it('keys a week by its Monday, also when the period starts mid-week', () => {
    // 17 February 2026 is a Tuesday: its week began on Monday the 16th.
    expect(bounds('week').slice(0, 2)).toEqual([
      ['2026-02-16', '2026-02-17', '2026-02-22'],
      ['2026-02-23', '2026-02-23', '2026-03-01'],
    ]);
    expect(bounds('day')).toHaveLength(45);
  });

  it('gives each part its instants in the company zone', () => {
    const [march] = splitPeriod(period, 'month', MSK).filter((x) => x.key === '2026-03');
    expect(march?.period.start.toISOString()).toBe('2026-02-28T21:00:00.000Z');
    expect(march?.period.end.toISOString()).toBe('2026-03-31T21:00:00.000Z');
  });
});

describe('labels', () => {
  it('names periods in Russian with their dates', () => {
    expect(named('yesterday').label).toBe('вчера, 22 ноября 2026');
    expect(named('month:03').label).toBe('март 2026 (1–31 марта)');
    expect(named('last_week').label).toBe('прошлая неделя (16–22 ноября 2026)');
    expect(named('last_7_days').label).toBe('последние 7 дней (17–23 ноября 2026)');
    expect(named('last_30_days').label).toBe('последние 30 дней (25 октября – 23 ноября 2026)');
    expect(named('this_month').label).toBe('этот месяц, ноябрь 2026 (1–30 ноября)');
    expect(named('quarter:2026-3').label).toBe('3-й квартал 2026 (1 июля – 30 сентября)');
    expect(named('last_year').label).toBe('прошлый год, 2025 год (1 января – 31 декабря)');
  });

  it('formats explicit ranges within a month, across months and across years', () => {
    expect(formatPeriodRu({ from: '2026-03-01', to: '2026-03-15' })).toBe('1–15 марта 2026');
    expect(formatPeriodRu({ from: '2026-02-25', to: '2026-03-03' })).toBe('25 февраля – 3 марта 2026');
    expect(formatPeriodRu({ from: '2025-12-30', to: '2026-01-05' })).toBe('30 декабря 2025 – 5 января 2026');
    expect(formatPeriodRu({ from: '2026-05-09', to: '2026-05-09' })).toBe('9 мая 2026');
    expect(formatPeriodRu({ from: '2026-11-10', to: '2026-11-30', name: 'last_21_days' })).toBe(
      'последние 21 день (10–30 ноября 2026)',
    );
  });
});

describe('previousPeriod', () => {
  it('compares a calendar month with the previous calendar month', () => {
    const prev = previousPeriod(named('month:03'), MSK);
    expect([prev.from, prev.to]).toEqual(['2026-02-01', '2026-02-28']);
    expect(prev.label).toBe('февраль 2026 (1–28 февраля)');
  });

  it('names the previous of this_month, this_week and today', () => {
    expect(previousPeriod(named('this_month'), MSK).name).toBe('last_month');
    const week = previousPeriod(named('this_week'), MSK);
    expect([week.from, week.to, week.name]).toEqual(['2026-11-16', '2026-11-22', 'last_week']);
    expect(previousPeriod(named('today'), MSK).label).toBe('вчера, 22 ноября 2026');
  });

  it('takes the same number of days right before a day range', () => {
    const prev = previousPeriod(named('last_7_days'), MSK);
    expect([prev.from, prev.to]).toEqual(['2026-11-10', '2026-11-16']);
    const range = previousPeriod(named('2026-03-01..2026-03-15'), MSK);
    expect([range.from, range.to]).toEqual(['2026-02-14', '2026-02-28']);
  });

  it('steps quarters, years and half-years back as whole months', () => {
    const q = previousPeriod(named('quarter:2026-1'), MSK);
    expect([q.from, q.to]).toEqual(['2025-10-01', '2025-12-31']);
    const half = previousPeriod(named('last_6_months'), MSK);
    expect([half.from, half.to]).toEqual(['2025-12-01', '2026-05-31']);
  });

  it('computes instants in the given zone', () => {
    const prev = previousPeriod(
      resolvePeriod({ name: 'month:04' }, { now, tz: 'Europe/Berlin' }),
      'Europe/Berlin',
    );
    expect(prev.start.toISOString()).toBe('2026-02-28T23:00:00.000Z');
    expect(prev.end.toISOString()).toBe('2026-03-31T22:00:00.000Z');
  });
});

describe('errors and slots', () => {
  it('rejects unknown names, reversed ranges, impossible dates and zones with Russian messages', () => {
    expect(() => named('next_century')).toThrow(AppError);
    expect(() => resolvePeriod({ from: '2026-03-15', to: '2026-03-01' }, { now, tz: MSK })).toThrow(AppError);
    expect(() => resolvePeriod({ from: '2026-02-30', to: '2026-03-01' }, { now, tz: MSK })).toThrow(AppError);
    expect(() => named('today', now, 'Mars/Olympus')).toThrow(AppError);
    const error = (() => {
      try {
        named('month:13');
        return null;
      } catch (e) {
        return e;
      }
    })();
    expect(error).toBeInstanceOf(AppError);
    expect((error as AppError).userMessage).toContain('Не понял период «month:13»');
  });

  it('turns parser period slots into tool inputs', () => {
    expect(periodInputFromSlot('2026-03-01..2026-03-15')).toEqual({ from: '2026-03-01', to: '2026-03-15' });
    expect(periodInputFromSlot('month:03')).toEqual({ name: 'month:03' });
  });
});
