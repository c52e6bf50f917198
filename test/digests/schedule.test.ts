import schedule from 'node-schedule';
import { describe, expect, it } from 'vitest';
import {
  comparisonDates,
  deliverableAt,
  digestDates,
  latestSlot,
  nextSlot,
  recurrenceRuleFor,
  type SlotRule,
} from '../../src/digests/schedule.ts';

const daily = (timeZone: string, timeOfDay = '09:00'): SlotRule => ({
  kind: 'daily',
  timeOfDay,
  weekday: null,
  timeZone,
});

describe('digest slots in the subscriber’s time zone', () => {
  it('09:00 in Moscow is 06:00 UTC and in Yekaterinburg 04:00 UTC', () => {
    const from = new Date('2026-11-22T12:00:00Z');
    // Moscow is UTC+3 all year, Yekaterinburg UTC+5: 09:00 local on 23 November.
    expect(nextSlot(daily('Europe/Moscow'), from)?.toISOString()).toBe('2026-11-23T06:00:00.000Z');
    expect(nextSlot(daily('Asia/Yekaterinburg'), from)?.toISOString()).toBe('2026-11-23T04:00:00.000Z');
  });

  it('the latest slot is the one at or before now, never a later one', () => {
    const rule = daily('Europe/Moscow');
    expect(latestSlot(rule, new Date('2026-11-23T05:59:59Z'))?.toISOString()).toBe(
      '2026-11-22T06:00:00.000Z',
    );
    expect(latestSlot(rule, new Date('2026-11-23T06:00:00Z'))?.toISOString()).toBe(
      '2026-11-23T06:00:00.000Z',
    );
    expect(latestSlot(rule, new Date('2026-11-23T18:30:00Z'))?.toISOString()).toBe(
      '2026-11-23T06:00:00.000Z',
    );
  });

  it('a weekly digest is due on its weekday only', () => {
    const monday: SlotRule = { kind: 'weekly', timeOfDay: '09:00', weekday: 1, timeZone: 'Europe/Moscow' };
    // 23 November 2026 is a Monday; on Sunday 29th the latest slot is still that Monday.
    expect(latestSlot(monday, new Date('2026-11-29T20:00:00Z'))?.toISOString()).toBe(
      '2026-11-23T06:00:00.000Z',
    );
    expect(nextSlot(monday, new Date('2026-11-23T06:00:00Z'))?.toISOString()).toBe(
      '2026-11-30T06:00:00.000Z',
    );
    const friday: SlotRule = {
      kind: 'weekly',
      timeOfDay: '18:30',
      weekday: 5,
      timeZone: 'Asia/Yekaterinburg',
    };
    // Friday 27 November 18:30 at UTC+5.
    expect(nextSlot(friday, new Date('2026-11-23T00:00:00Z'))?.toISOString()).toBe(
      '2026-11-27T13:30:00.000Z',
    );
  });

  it('the live node-schedule timer fires at the instant computed from the injected clock', () => {
    for (const rule of [daily('Europe/Moscow'), daily('Asia/Yekaterinburg', '07:45')]) {
      const job = schedule.scheduleJob(recurrenceRuleFor(rule), () => {});
      try {
        expect(job.nextInvocation()?.getTime()).toBe(nextSlot(rule, new Date())?.getTime());
      } finally {
        job.cancel();
      }
    }
  });

  it('daily covers yesterday and weekly last Monday–Sunday, by the subscriber’s calendar', () => {
    const slot = new Date('2026-11-23T06:00:00Z');
    expect(digestDates('daily', slot, 'Europe/Moscow')).toEqual({
      from: '2026-11-22',
      to: '2026-11-22',
      name: 'yesterday',
    });
    expect(digestDates('weekly', slot, 'Europe/Moscow')).toEqual({
      from: '2026-11-16',
      to: '2026-11-22',
      name: 'last_week',
    });
    // 23:30 UTC on the 22nd is already 09:30 on the 23rd in Vladivostok (UTC+10): yesterday is the 22nd there.
    expect(digestDates('daily', new Date('2026-11-22T23:30:00Z'), 'Asia/Vladivostok').from).toBe(
      '2026-11-22',
    );
  });

  it('compares a day with the same weekday a week before, a week with the week before', () => {
    expect(comparisonDates({ from: '2026-11-23', to: '2026-11-23' })).toEqual({
      from: '2026-11-16',
      to: '2026-11-16',
    });
    expect(comparisonDates({ from: '2026-11-16', to: '2026-11-22' })).toEqual({
      from: '2026-11-09',
      to: '2026-11-15',
    });
  });
});

describe('quiet hours', () => {
  const night = { from: '21:00', to: '09:00' };

  it('hold an alert until they end, in the subscriber’s zone', () => {
    // 23:30 in Moscow (20:30 UTC) is inside 21:00–09:00: delivered at 09:00 Moscow = 06:00 UTC next day.
    expect(deliverableAt(night, 'Europe/Moscow', new Date('2026-11-23T20:30:00Z')).toISOString()).toBe(
      '2026-11-24T06:00:00.000Z',
    );
    // 08:59 Moscow is still quiet: 09:00 the same morning.
    expect(deliverableAt(night, 'Europe/Moscow', new Date('2026-11-24T05:59:00Z')).toISOString()).toBe(
      '2026-11-24T06:00:00.000Z',
    );
    // 20:30 UTC is 01:30 in Yekaterinburg: quiet until 09:00 there = 04:00 UTC.
    expect(deliverableAt(night, 'Asia/Yekaterinburg', new Date('2026-11-23T20:30:00Z')).toISOString()).toBe(
      '2026-11-24T04:00:00.000Z',
    );
  });

  it('let alerts through outside them, and a same-day window works too', () => {
    const noon = new Date('2026-11-24T09:00:00Z'); // 12:00 in Moscow
    expect(deliverableAt(night, 'Europe/Moscow', noon)).toEqual(noon);
    expect(deliverableAt(null, 'Europe/Moscow', noon)).toEqual(noon);
    const lunch = { from: '11:30', to: '13:00' };
    expect(deliverableAt(lunch, 'Europe/Moscow', noon).toISOString()).toBe('2026-11-24T10:00:00.000Z');
  });
});
