import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AppError } from '../../src/errors.ts';
import { importDirectory } from '../../src/ingest/import.ts';
import { silentLogger } from '../../src/logger.ts';
import { callTools } from '../../src/metrics/calls.ts';
import type { MetricContext } from '../../src/metrics/common.ts';
import type { Caller, Envelope, EnvelopeGroup, ToolInput } from '../../src/metrics/types.ts';
import { createTestDb, drivers, type TestDb } from '../helpers/db.ts';

/*
 * Data: test/fixtures/metrics-calls. Company time zone Europe/Moscow (UTC+3,
 * no DST), now = Fri 2026-04-10 12:00 MSK. All times below are MSK.
 *
 * Managers: M1 Алексей Чуркин and M2 Ольга Кузнецова in D2 «Группа Москва»
 * (child of D1 «Отдел продаж»); M3 Игорь Белов in D3 «Отдел сервиса»;
 * H1 Марина Соколова, head of D1; A1 admin.
 * Lines: …0001 «Авито», …0002 «Авито» (same name), …0003 «Сайт»; …9999 is unknown.
 * Contacts: K1 Иван Петров 79160000001 (created 10 Jan), K2 Светлана Ромашкина
 * 79160000002 (created 5 Mar 12:00), K3 Павел Зуев 79160000003 (created 1 Feb).
 *
 * id  dir status     when (MSK)        mgr  phone  line   dur
 * C00 in  answered   2026-02-20 10:00  M1   P10    Авито1  30
 * C01 in  answered   03-02 (Mon) 09:15 M1   P01    Авито1 120
 * C02 out answered   03-02 10:30       M1   P01    -      300  (linked to lead L1)
 * C03 in  missed     03-02 11:00       M2   P04    Авито2   0
 * C04 out no_answer  03-02 11:10       M2   P04    -        0
 * C05 out answered   03-02 12:00       M2   P04    -      200
 * C06 in  no_answer  03-03 (Tue) 09:30 M1   P05    Сайт     0
 * C07 out busy       03-04 (Wed) 09:31 M1   P05    -        0  (24 h 1 min after C06)
 * C08 out answered   03-03 10:00       M2   P03    -       60
 * C09 in  missed     03-05 (Thu) 10:00 -    P02    …9999    0
 * C10 out answered   03-06 (Fri) 10:00 M1   P02    -       90  (exactly 24 h after C09)
 * C11 in  busy       03-10 (Tue) 14:00 M1   P06    (none)   0
 * C12 in  answered   03-10 15:00       M2   P06    Авито1 240
 * C13 in  missed     03-31 (Tue) 22:00 M2   P07    Авито2   0
 * C14 out answered   04-01 (Wed) 09:00 M2   P07    -       30
 * C15 in  answered   03-31 23:30       M1   P08    Сайт   100  (20:30Z — still March locally)
 * C16 in  answered   04-01 00:30       M1   P08    Сайт    50  (21:30Z on 31 Mar UTC — April locally)
 * C17 out failed     03-12 (Thu) 11:00 M3   P09    -        0
 * C18 in  answered   03-12 11:30       M3   P10    Авито1 400
 * C19 out answered   03-20 (Fri) 16:00 M1   P01    -      150
 * C20 in  missed     04-09 (Thu) 20:00 M1   P11    Авито1   0
 * C21 out answered   04-10 (Fri) 13:00 M1   P11    -       45  (one hour after now)
 * C22 in  answered   04-08 (Wed) 11:00 M2   P12    Сайт    60  (the same instant as C23:
 * C23 in  missed     04-08 11:00       M3   P12    Сайт     0   one call rang two managers)
 *
 * P01..P03 = 7916000000{1,2,3}; P04..P12 = 79250000004..79250000012.
 *
 * March 2026 (1-31 Mar) holds C01-C13, C15, C17-C19: 17 calls.
 * Leads created in March: L1 (M1, K1, 03-02 10:00), L2 (M2, K3, 03-03 09:00),
 * L3 (M1, K1, 03-04 12:00), L4 (M3, no contact, 03-05 08:00); L5 is February.
 */

const fixtureDir = fileURLToPath(new URL('../fixtures/metrics-calls', import.meta.url));
const NOW = new Date('2026-04-10T12:00:00+03:00');
const MARCH = { from: '2026-03-01', to: '2026-03-31' };

const ADMIN: Caller = { role: 'admin', managerId: null };
const HEAD: Caller = { role: 'head', managerId: 'H1' };
const CHURKIN: Caller = { role: 'manager', managerId: 'M1' };

function tool(name: string) {
  const t = callTools.find((x) => x.name === name);
  if (!t) throw new Error(`no tool ${name}`);
  return t;
}

function group(env: Envelope, key: string): EnvelopeGroup {
  const g = env.groups?.find((x) => x.key === key);
  if (!g) throw new Error(`no group ${key} in ${JSON.stringify(env.groups?.map((x) => x.key))}`);
  return g;
}

describe.each(drivers)('calls metrics (%s)', (driver) => {
  let db: TestDb;
  const run = (name: string, input: ToolInput, caller: Caller = ADMIN, now: Date = NOW) => {
    const ctx: MetricContext = { db, caller, tz: 'Europe/Moscow', now };
    return tool(name).run(ctx, input);
  };

  beforeAll(async () => {
    db = await createTestDb(driver);
    const report = await importDirectory(db, {
      dir: fixtureDir,
      logger: silentLogger,
      rejectsFile: path.join(os.tmpdir(), `voronka-calls-test-rejects-${process.pid}.jsonl`),
    });
    expect(report.rejected).toBe(0);
  });

  afterAll(async () => {
    await db?.dispose();
  });

  it('exports the three tools of the calls family with their defaults', () => {
    expect(callTools.map((t) => t.name)).toEqual(['calls_stats', 'calls_by_time', 'missed_calls']);
    expect(tool('calls_stats').defaultPeriod).toBe('last_7_days');
    expect(tool('calls_by_time').defaultPeriod).toBe('last_30_days');
    expect(tool('missed_calls').defaultPeriod).toBe('last_7_days');
  });

  describe('calls_stats', () => {
    it('counts March for the admin', async () => {
      const env = await run('calls_stats', { period: MARCH });
      expect(env.metric).toBe('calls_stats');
      expect(env.period).toEqual(MARCH);
      expect(env.figures).toEqual({
        // 17 March calls (table above).
        calls: 17,
        // in: C01 C03 C06 C09 C11 C12 C13 C15 C18.
        incoming: 9,
        // out: C02 C04 C05 C07 C08 C10 C17 C19.
        outgoing: 8,
        // incoming answered: C01 C12 C15 C18.
        answered: 4,
        // incoming anything else (missed/no_answer/busy): C03 C06 C09 C11 C13.
        missed: 5,
        // outgoing answered: C02 C05 C08 C10 C19.
        connected: 5,
        // outgoing no_answer/busy/failed: C04 C07 C17.
        not_connected: 3,
        // 120+300+200+60+90+240+100+400+150 = 1660 s over the 9 answered/connected calls.
        talk_time_total: 1660,
        talk_time_avg: 1660 / 9,
        // First calls of numbers nobody had: C03 (P04), C06 (P05), C09 (P02: K2 was created
        // at 12:00, after the 10:00 call), C11 (P06), C13 (P07), C15 (P08), C17 (P09, outgoing).
        // Not new: C01 (P01 in K1 since January), C08 (P03 in K3 since February),
        // C18 (P10 called on 20 Feb, C00), and every repeat call of a number.
        new_number_calls: 7,
        // L1: 10:00 → C02 out linked to L1 at 10:30 = 1800 s (its comment at 10:45 is later).
        // L2: 09:00 → C08 out to K3's phone at 10:00 = 3600 s (the 09:10 comment is on the
        //     contact, not the lead, so it does not count).
        // L3: 12:00 → email activity at 12:20 = 1200 s (C02 to K1's phone was before L3 existed).
        // L4: no response — left out. L5 is a February lead.
        // median(1200, 1800, 3600) = 1800.
        first_response_median: 1800,
      });
      expect(env.notes).toEqual([]);
    });

    it('puts 23:30 on 31 March into March and 00:30 on 1 April into April (Moscow time)', async () => {
      const lastDay = await run('calls_stats', { period: { from: '2026-03-31', to: '2026-03-31' } });
      // C13 (22:00, missed) and C15 (23:30 MSK = 20:30Z, answered 100 s).
      expect(lastDay.figures.calls).toBe(2);
      expect(lastDay.figures.answered).toBe(1);
      expect(lastDay.figures.talk_time_total).toBe(100);
      const firstDay = await run('calls_stats', { period: { from: '2026-04-01', to: '2026-04-01' } });
      // C16 (00:30 MSK although 21:30Z on 31 March) and C14 (09:00).
      expect(firstDay.figures.calls).toBe(2);
      expect(firstDay.figures.incoming).toBe(1);
      expect(firstDay.figures.talk_time_total).toBe(80);
    });

    it('gives a null average talk time when nothing was answered', async () => {
      // Yesterday = 9 April: only C20, a missed incoming call.
      const env = await run('calls_stats', { period: { name: 'yesterday' } });
      expect(env.period).toEqual({ from: '2026-04-09', to: '2026-04-09' });
      expect(env.figures.calls).toBe(1);
      expect(env.figures.missed).toBe(1);
      expect(env.figures.talk_time_total).toBe(0);
      expect(env.figures.talk_time_avg).toBeNull();
      // No lead was created that day.
      expect(env.figures.first_response_median).toBeNull();
    });

    it('tells whether a number is new by the contact created before or after the call', async () => {
      // 5 March: only C09 from P02. K2 lists P02 but was created at 12:00, after the call → new.
      const mar5 = await run('calls_stats', { period: { from: '2026-03-05', to: '2026-03-05' } });
      expect(mar5.figures.new_number_calls).toBe(1);
      // 3 March: C06 (P05, unknown, first call) is new; C08 (P03, first call, but K3 has had the
      // number since February) is not.
      const mar3 = await run('calls_stats', { period: { from: '2026-03-03', to: '2026-03-03' } });
      expect(mar3.figures.calls).toBe(2);
      expect(mar3.figures.new_number_calls).toBe(1);
      // 6 March: C10 to P02 — not the first call of P02 (C09 was) → not new.
      const mar6 = await run('calls_stats', { period: { from: '2026-03-06', to: '2026-03-06' } });
      expect(mar6.figures.new_number_calls).toBe(0);
      // 12 March: C17 (outgoing to the never-seen P09) is new; C18 from P10 is not (C00 in February).
      const mar12 = await run('calls_stats', { period: { from: '2026-03-12', to: '2026-03-12' } });
      expect(mar12.figures.new_number_calls).toBe(1);
    });

    it('makes only one of two calls at the same instant new, whatever the filter', async () => {
      const day = { from: '2026-04-08', to: '2026-04-08' };
      // C22 and C23 are the first calls of P12 and started at the same second: the smaller id (C22)
      // is the first call, so only it is new.
      const all = await run('calls_stats', { period: day });
      expect(all.figures).toMatchObject({ calls: 2, new_number_calls: 1 });
      // Filtered to M3's department only C23 is counted, and it is still not new: C22 came "first".
      const service = await run('calls_stats', { period: day, filters: { departments: ['Отдел сервиса'] } });
      expect(service.figures).toMatchObject({ calls: 1, new_number_calls: 0 });
      // The head sees C22 (M2), which is new.
      const head = await run('calls_stats', { period: day }, HEAD);
      expect(head.figures).toMatchObject({ calls: 1, new_number_calls: 1 });
      // C23 is missed and nothing with P12 happened after it → lost, but it is not a new client.
      const missed = await run('missed_calls', { period: day });
      expect(missed.figures).toMatchObject({
        missed: 1,
        lost_missed: 1,
        new_number_calls: 1,
        lost_new_clients: 0,
      });
    });

    it('groups by manager with "Без менеджера" for the call without one', async () => {
      const env = await run('calls_stats', { period: MARCH, group_by: 'manager' });
      expect(env.groups?.map((g) => [g.key, g.label, g.figures.calls])).toEqual([
        // M1: C01 C02 C06 C07 C10 C11 C15 C19.
        ['M1', 'Алексей Чуркин', 8],
        // M2: C03 C04 C05 C08 C12 C13.
        ['M2', 'Ольга Кузнецова', 6],
        // M3: C17 C18.
        ['M3', 'Игорь Белов', 2],
        // C09 has no manager.
        ['none', 'Без менеджера', 1],
      ]);
      expect(group(env, 'M1').figures).toEqual({
        calls: 8,
        incoming: 4, // C01 C06 C11 C15
        outgoing: 4, // C02 C07 C10 C19
        answered: 2, // C01 C15
        missed: 2, // C06 C11
        connected: 3, // C02 C10 C19
        not_connected: 1, // C07
        talk_time_total: 760, // 120+300+90+100+150
        talk_time_avg: 152, // 760 / 5
        new_number_calls: 3, // C06 C11 C15
      });
      // M3: one answered incoming (400 s), one failed outgoing.
      expect(group(env, 'M3').figures.talk_time_avg).toBe(400);
      expect(group(env, 'none').figures.talk_time_avg).toBeNull();
      // The totals do not change with grouping.
      expect(env.figures.calls).toBe(17);
    });

    it('groups by department with "Без отдела"', async () => {
      const env = await run('calls_stats', { period: MARCH, group_by: 'department' });
      expect(env.groups?.map((g) => [g.key, g.label, g.figures.calls])).toEqual([
        ['D2', 'Группа Москва', 14], // M1 8 + M2 6
        ['D3', 'Отдел сервиса', 2], // M3
        ['none', 'Без отдела', 1], // C09
      ]);
    });

    it('groups incoming calls by channel: equal line names summed, unknown or no line as "Без канала"', async () => {
      const env = await run('calls_stats', { period: MARCH, group_by: 'channel' });
      expect(env.groups?.map((g) => [g.key, g.label])).toEqual([
        ['Авито', 'Авито'],
        ['Сайт', 'Сайт'],
        ['none', 'Без канала'],
      ]);
      // Авито = line …0001 (C01 120 s, C12 240 s, C18 400 s answered) + line …0002 (C03, C13 missed).
      expect(group(env, 'Авито').figures).toEqual({
        calls: 5,
        incoming: 5,
        answered: 3,
        missed: 2,
        talk_time_total: 760,
        talk_time_avg: 760 / 3,
      });
      // C09 on the unknown line …9999 and C11 with no line; neither answered.
      expect(group(env, 'none').figures).toEqual({
        calls: 2,
        incoming: 2,
        answered: 0,
        missed: 2,
        talk_time_total: 0,
        talk_time_avg: null,
      });
      // Сайт: C06 missed, C15 answered 100 s. 2 ties with "Без канала", which goes last among equals.
      expect(group(env, 'Сайт').figures.calls).toBe(2);
      // Outgoing calls are not in any channel: 5 + 2 + 2 = 9 = all incoming.
      expect(env.groups?.reduce((s, g) => s + (g.figures.calls ?? 0), 0)).toBe(9);
      expect(env.notes).toContain('По каналам считаются только входящие звонки.');
    });

    it('groups by client number with the contact name, sorted by total, capped by limit', async () => {
      const env = await run('calls_stats', { period: MARCH, group_by: 'client', limit: 3 });
      // Totals per number: P01 3 (C01 C02 C19), P04 3 (C03 C04 C05), P02 2, P05 2, P06 2,
      // then five numbers with one call: 10 numbers. Ties go by number.
      expect(env.groups?.map((g) => [g.key, g.label])).toEqual([
        ['79160000001', 'Иван Петров (+7 916 000-00-01)'],
        ['79250000004', '+7 925 000-00-04'],
        // K2 was created after the call, but the name is still known now.
        ['79160000002', 'Светлана Ромашкина (+7 916 000-00-02)'],
      ]);
      expect(group(env, '79160000001').figures).toMatchObject({
        calls: 3,
        answered: 1, // C01
        missed: 0,
        connected: 2, // C02 C19
        not_connected: 0,
      });
      expect(group(env, '79250000004').figures).toMatchObject({
        calls: 3,
        answered: 0,
        missed: 1, // C03
        connected: 1, // C05
        not_connected: 1, // C04
      });
      expect(env.notes).toContain('Показаны 3 клиента с наибольшим числом звонков из 10.');
      expect(env.figures.calls).toBe(17);
    });

    it('groups by day and week in local time, quiet days included', async () => {
      const days = await run('calls_stats', { period: MARCH, group_by: 'day' });
      expect(days.groups).toHaveLength(31);
      expect(days.groups?.[0]).toMatchObject({ key: '2026-03-01', label: '2026-03-01' });
      expect(group(days, '2026-03-01').figures.calls).toBe(0);
      expect(group(days, '2026-03-01').figures.talk_time_avg).toBeNull();
      expect(group(days, '2026-03-02').figures.calls).toBe(5); // C01-C05
      expect(group(days, '2026-03-31').figures.calls).toBe(2); // C13, C15 (23:30)

      const weeks = await run('calls_stats', { period: MARCH, group_by: 'week' });
      // Weeks start on Monday; 1 March is a Sunday, so the first week shows only that day.
      expect(weeks.groups?.map((g) => [g.key, g.label, g.figures.calls])).toEqual([
        ['2026-02-23', '2026-03-01', 0],
        ['2026-03-02', '2026-03-02 – 2026-03-08', 10], // C01-C10
        ['2026-03-09', '2026-03-09 – 2026-03-15', 4], // C11 C12 C17 C18
        ['2026-03-16', '2026-03-16 – 2026-03-22', 1], // C19
        ['2026-03-23', '2026-03-23 – 2026-03-29', 0],
        ['2026-03-30', '2026-03-30 – 2026-03-31', 2], // C13 C15
      ]);
    });

    it('fills day groups only up to today and months chronologically', async () => {
      // April is the current month: 1-10 April have begun, the other 20 days have not.
      const april = await run('calls_stats', { period: { name: 'this_month' }, group_by: 'day' });
      expect(april.groups?.map((g) => g.key)).toEqual([
        '2026-04-01',
        '2026-04-02',
        '2026-04-03',
        '2026-04-04',
        '2026-04-05',
        '2026-04-06',
        '2026-04-07',
        '2026-04-08',
        '2026-04-09',
        '2026-04-10',
      ]);
      expect(group(april, '2026-04-01').figures.calls).toBe(2); // C14, C16

      const months = await run('calls_stats', {
        period: { from: '2026-02-01', to: '2026-04-30' },
        group_by: 'month',
      });
      // February: C00; March: 17; April: C14 C16 C20 C21 C22 C23.
      expect(months.groups?.map((g) => [g.label, g.figures.calls])).toEqual([
        ['2026-02', 1],
        ['2026-03', 17],
        ['2026-04', 6],
      ]);
    });

    it('applies channel and source filters through the phone lines', async () => {
      const avito = await run('calls_stats', { period: MARCH, filters: { channels: ['авито'] } });
      // Both «Авито» lines: C01 C12 C18 (…0001), C03 C13 (…0002).
      expect(avito.figures.calls).toBe(5);
      expect(avito.filters).toEqual({ channels: ['Авито'] });
      // Leads are not tied to lines, so the response speed is not given under a channel filter.
      expect(avito.figures.first_response_median).toBeNull();
      expect(avito.notes?.some((n) => n.includes('Скорость ответа на заявку'))).toBe(true);

      const site = await run('calls_stats', { period: MARCH, filters: { sources: ['Сайт'] } });
      // Source «Сайт» owns line …0003: C06, C15. Its March lead is L2 → 3600 s.
      expect(site.figures.calls).toBe(2);
      expect(site.figures.first_response_median).toBe(3600);
    });

    it('says a pipeline filter does not apply to calls instead of pretending it does', async () => {
      const env = await run('calls_stats', { period: MARCH, filters: { pipelines: ['Заявки'] } });
      expect(env.figures.calls).toBe(17);
      expect(env.filters).toEqual({});
      expect(env.notes).toContain(
        'Фильтр по воронкам к звонкам не применяется: звонок не относится к воронке.',
      );
    });

    it('uses the last 7 days when no period is given and says so', async () => {
      const env = await run('calls_stats', {});
      // 4-10 April: C20 (missed), C21 (connected, 45 s), C22 (answered, 60 s), C23 (missed).
      expect(env.period).toEqual({ from: '2026-04-04', to: '2026-04-10' });
      expect(env.figures).toMatchObject({
        calls: 4,
        missed: 2,
        answered: 1,
        connected: 1,
        talk_time_avg: 105 / 2,
      });
      expect(env.notes).toContain('Период не указан — взяты последние 7 дней.');
    });

    it('refuses a grouping it does not support with a Russian message', async () => {
      const err = await run('calls_stats', { period: MARCH, group_by: 'pipeline' }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(AppError);
      expect((err as AppError).userMessage).toMatch(/^Этот показатель можно разбить только по: менеджерам/);
    });
  });

  describe('scope: manager, head and admin asking the same question', () => {
    it('shows a manager only their own calls and leads', async () => {
      const env = await run('calls_stats', { period: MARCH }, CHURKIN);
      expect(env.figures).toEqual({
        calls: 8,
        incoming: 4,
        outgoing: 4,
        answered: 2,
        missed: 2,
        connected: 3,
        not_connected: 1,
        talk_time_total: 760,
        talk_time_avg: 152,
        new_number_calls: 3,
        // Own leads L1 (1800 s) and L3 (1200 s): median 1500.
        first_response_median: 1500,
      });
      const grouped = await run('calls_stats', { period: MARCH, group_by: 'manager' }, CHURKIN);
      expect(grouped.groups?.map((g) => g.key)).toEqual(['M1']);
    });

    it('shows a head their department tree (M1, M2 and themselves, not M3)', async () => {
      const env = await run('calls_stats', { period: MARCH }, HEAD);
      expect(env.figures).toEqual({
        calls: 14, // 8 + 6
        incoming: 7,
        outgoing: 7,
        answered: 3,
        missed: 4,
        connected: 5,
        not_connected: 2,
        talk_time_total: 1260, // 760 + 500
        talk_time_avg: 1260 / 8,
        new_number_calls: 5, // C06 C11 C15 + C03 C13
        first_response_median: 1800, // L1 1800, L2 3600, L3 1200
      });
      // C09 has no manager, so only the admin sees it.
      const grouped = await run('calls_stats', { period: MARCH, group_by: 'manager' }, HEAD);
      expect(grouped.groups?.map((g) => g.key)).toEqual(['M1', 'M2']);
    });

    it('lets a head filter by a manager of their department', async () => {
      const env = await run(
        'calls_stats',
        { period: MARCH, filters: { managers: ['Ольга Кузнецова'] } },
        HEAD,
      );
      // M2: C03 C04 C05 C08 C12 C13; talk 200+60+240 = 500 over C05 C08 C12; her lead L2 = 3600 s.
      expect(env.figures).toMatchObject({
        calls: 6,
        answered: 1,
        missed: 2,
        connected: 2,
        not_connected: 1,
        talk_time_total: 500,
        talk_time_avg: 500 / 3,
        first_response_median: 3600,
      });
      expect(env.filters).toEqual({ managers: ['Ольга Кузнецова'] });
    });

    it('refuses a manager asking about a colleague, in Russian', async () => {
      const err = await run(
        'calls_stats',
        { period: MARCH, filters: { managers: ['Ольга Кузнецова'] } },
        CHURKIN,
      ).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(AppError);
      expect((err as AppError).userMessage).toBe(
        'Эти данные вам недоступны: можно смотреть только свои показатели.',
      );
      const missed = await run(
        'missed_calls',
        { period: MARCH, filters: { managers: ['M2'] } },
        CHURKIN,
      ).catch((e: unknown) => e);
      expect(missed).toBeInstanceOf(AppError);
      expect((missed as AppError).userMessage).toMatch(/недоступны/);
    });

    it('refuses a head asking about a manager outside their tree', async () => {
      const err = await run(
        'calls_by_time',
        { period: MARCH, filters: { managers: ['Игорь Белов'] } },
        HEAD,
      ).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(AppError);
      expect((err as AppError).userMessage).toBe(
        'Эти данные вам недоступны: можно смотреть только свои показатели и показатели своего отдела.',
      );
    });

    it('lets the admin filter by department', async () => {
      const env = await run('calls_stats', { period: MARCH, filters: { departments: ['Отдел сервиса'] } });
      // M3: C17 failed out, C18 answered in (400 s). M3's lead L4 got no response.
      expect(env.figures).toMatchObject({ calls: 2, answered: 1, not_connected: 1, talk_time_avg: 400 });
      expect(env.figures.first_response_median).toBeNull();
    });
  });

  describe('calls_by_time', () => {
    it('returns all 24 hours with per-day average and busiest day over March', async () => {
      const env = await run('calls_by_time', { period: MARCH, by: 'hour' });
      expect(env.groups?.map((g) => g.label)).toEqual(Array.from({ length: 24 }, (_, h) => String(h)));
      // Hour 11: C03 11:00 and C04 11:10 on 2 March, C17 11:00 and C18 11:30 on 12 March:
      // 4 calls / 31 days of March; the busiest day had 2.
      expect(group(env, '11').figures).toEqual({ calls: 4, calls_avg: 4 / 31, calls_max: 2 });
      // Hour 10: C02 (2nd), C08 (3rd), C09 (5th), C10 (6th) — 4 calls on 4 different days.
      expect(group(env, '10').figures).toEqual({ calls: 4, calls_avg: 4 / 31, calls_max: 1 });
      // Hour 9: C01, C06, C07.
      expect(group(env, '9').figures).toEqual({ calls: 3, calls_avg: 3 / 31, calls_max: 1 });
      // Hour 23: C15 at 23:30 MSK (20:30 UTC).
      expect(group(env, '23').figures.calls).toBe(1);
      expect(group(env, '20').figures.calls).toBe(0);
      expect(group(env, '0').figures).toEqual({ calls: 0, calls_avg: 0, calls_max: 0 });
      // Peak: hours 10 and 11 tie on the average; 11 had the busier day.
      expect(env.figures).toEqual({ calls: 17, calls_avg: 4 / 31, calls_max: 2 });
      expect(env.notes).toContain('Пик — 11:00–12:00.');
    });

    it('counts one direction when asked', async () => {
      const env = await run('calls_by_time', { period: MARCH, by: 'hour', direction: 'in' });
      // Incoming by hour: 9 → C01 C06; 10 → C09; 11 → C03 C18 (different days); 14 → C11;
      // 15 → C12; 22 → C13; 23 → C15. 9 calls.
      expect(group(env, '9').figures).toEqual({ calls: 2, calls_avg: 2 / 31, calls_max: 1 });
      expect(group(env, '11').figures).toEqual({ calls: 2, calls_avg: 2 / 31, calls_max: 1 });
      expect(group(env, '10').figures.calls).toBe(1);
      // 9 and 11 tie on average and maximum: the earlier hour is the peak.
      expect(env.figures).toEqual({ calls: 9, calls_avg: 2 / 31, calls_max: 1 });
    });

    it('divides each weekday by the number of such days in the period', async () => {
      const env = await run('calls_by_time', { period: MARCH, by: 'weekday' });
      // March 2026 has 5 Mondays, Tuesdays and Sundays, 4 of every other day.
      expect(
        env.groups?.map((g) => [g.key, g.label, g.figures.calls, g.figures.calls_avg, g.figures.calls_max]),
      ).toEqual([
        ['1', 'пн', 5, 5 / 5, 5], // all on Mon 2 March (C01-C05)
        ['2', 'вт', 6, 6 / 5, 2], // C06 C08 (3rd), C11 C12 (10th), C13 C15 (31st)
        ['3', 'ср', 1, 1 / 4, 1], // C07
        ['4', 'чт', 3, 3 / 4, 2], // C09 (5th), C17 C18 (12th)
        ['5', 'пт', 2, 2 / 4, 1], // C10 (6th), C19 (20th)
        ['6', 'сб', 0, 0, 0],
        ['7', 'вс', 0, 0, 0],
      ]);
      // The peak is by average: Tuesday (1.2), although Monday had the busiest single day.
      expect(env.figures).toEqual({ calls: 17, calls_avg: 1.2, calls_max: 2 });
    });

    it('counts only the days of the current period that have begun', async () => {
      const env = await run('calls_by_time', { period: { name: 'this_month' }, by: 'weekday' });
      // 1-10 April have begun: two Wednesdays (1, 8), Thursdays (2, 9), Fridays (3, 10).
      // Wed: C16 00:30 and C14 09:00 on 1 April, C22 and C23 on 8 April → 4 / 2, busiest day 2;
      // Thu: C20 → 1 / 2; Fri: C21 → 1 / 2. (Dividing by all 5 April Wednesdays would give 0.8.)
      expect(group(env, '3').figures).toEqual({ calls: 4, calls_avg: 2, calls_max: 2 });
      expect(group(env, '4').figures).toEqual({ calls: 1, calls_avg: 0.5, calls_max: 1 });
      expect(group(env, '5').figures).toEqual({ calls: 1, calls_avg: 0.5, calls_max: 1 });
      expect(group(env, '1').figures).toEqual({ calls: 0, calls_avg: 0, calls_max: 0 });
      expect(env.figures).toEqual({ calls: 6, calls_avg: 2, calls_max: 2 });
    });

    it('keeps to the caller scope and defaults to the last 30 days', async () => {
      const env = await run('calls_by_time', { by: 'hour' }, CHURKIN);
      // 12 March - 10 April (30 days). M1's calls in it: C19 16:00, C15 23:30, C16 00:30, C20 20:00, C21 13:00.
      expect(env.period).toEqual({ from: '2026-03-12', to: '2026-04-10' });
      expect(env.figures.calls).toBe(5);
      expect(group(env, '16').figures).toEqual({ calls: 1, calls_avg: 1 / 30, calls_max: 1 });
      expect(env.notes).toContain('Период не указан — взяты последние 30 дней.');
      expect(env.notes).toContain(
        'Среднее — на один календарный день: делим на число уже начавшихся дней периода (30).',
      );
    });

    it('refuses other groupings with a Russian message', async () => {
      const err = await run('calls_by_time', { period: MARCH, group_by: 'manager' }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(AppError);
      expect((err as AppError).userMessage).toBe(
        'Распределение звонков по времени строится по часам или по дням недели, без других разбивок.',
      );
    });
  });

  describe('missed_calls', () => {
    it('counts March missed calls, callbacks, delays and lost ones', async () => {
      const env = await run('missed_calls', { period: MARCH });
      expect(env.figures).toEqual({
        // C03 C06 C09 C11 C13.
        missed: 5,
        // C03 → C04 (no answer, still an attempt) 10 min later; C09 → C10 exactly 24 h later
        // (the window end is inclusive); C13 (31 Mar 22:00) → C14 (1 Apr 09:00): the window runs
        // past the period end. C06 → C07 came 24 h 1 min later: too late. C11 got no outgoing call.
        called_back: 3,
        not_called_back: 2,
        // Delays 600, 39600, 86400 s: median 39600; p90 = 39600 + 0.8 × (86400 − 39600) = 77040.
        callback_delay_median: 39600,
        callback_delay_p90: 77040,
        // Answered calls with the number within 24 h: C03 → C05, C09 → C10, C11 → C12 (incoming
        // answered counts too), C13 → C14. C06 has none → lost.
        lost_missed: 1,
        // Same 7 first calls of new numbers as in calls_stats, both directions.
        new_number_calls: 7,
        // C06 is from a new number and lost.
        lost_new_clients: 1,
      });
      // The not-called-back list, newest first.
      expect(env.items).toEqual([
        {
          id: 'C11',
          title: '+7 925 000-00-06',
          manager: 'Алексей Чуркин',
          started_at: '2026-03-10T11:00:00.000Z',
          client_phone: '+7 925 000-00-06',
          contact: null,
          channel: 'Без канала',
          lost: false,
          new_number: true,
        },
        {
          id: 'C06',
          title: '+7 925 000-00-05',
          manager: 'Алексей Чуркин',
          started_at: '2026-03-03T06:30:00.000Z',
          client_phone: '+7 925 000-00-05',
          contact: null,
          channel: 'Сайт',
          lost: true,
          new_number: true,
        },
      ]);
    });

    it('counts a callback at exactly 24 h and not one at 24 h 1 min', async () => {
      const mar5 = await run('missed_calls', { period: { from: '2026-03-05', to: '2026-03-05' } });
      // C09 at 10:00 on 5 March, C10 at 10:00 on 6 March.
      expect(mar5.figures).toMatchObject({
        missed: 1,
        called_back: 1,
        callback_delay_median: 86400,
        lost_missed: 0,
      });
      const mar3 = await run('missed_calls', { period: { from: '2026-03-03', to: '2026-03-03' } });
      // C06 at 09:30 on 3 March, C07 at 09:31 on 4 March.
      expect(mar3.figures).toMatchObject({
        missed: 1,
        called_back: 0,
        not_called_back: 1,
        callback_delay_median: null,
        lost_missed: 1,
        lost_new_clients: 1,
        new_number_calls: 1, // C06; C08 to P03 is known from K3
      });
    });

    it('follows a callback past the end of the period', async () => {
      const env = await run('missed_calls', { period: { from: '2026-03-31', to: '2026-03-31' } });
      // C13 at 22:00 on 31 March, called back by C14 at 09:00 on 1 April: 11 h = 39600 s.
      expect(env.figures).toMatchObject({
        missed: 1,
        called_back: 1,
        callback_delay_median: 39600,
        callback_delay_p90: 39600,
        lost_missed: 0,
        new_number_calls: 2, // C13, C15
        lost_new_clients: 0,
      });
      expect(env.items).toEqual([]);
    });

    it('does not look past now for a callback', async () => {
      // C20 was missed yesterday at 20:00; C21 calls back today at 13:00, after now (12:00).
      const atNoon = await run('missed_calls', { period: { name: 'yesterday' } });
      expect(atNoon.figures).toEqual({
        missed: 1,
        called_back: 0,
        not_called_back: 1,
        callback_delay_median: null,
        callback_delay_p90: null,
        lost_missed: 1,
        new_number_calls: 1,
        lost_new_clients: 1,
      });
      expect(atNoon.items?.map((i) => [i.id, i.channel, i.lost])).toEqual([['C20', 'Авито', true]]);
      // Asked at 14:00 the callback has happened: 17 h = 61200 s, and it was answered.
      const at2pm = await run(
        'missed_calls',
        { period: { name: 'yesterday' } },
        ADMIN,
        new Date('2026-04-10T14:00:00+03:00'),
      );
      expect(at2pm.figures).toEqual({
        missed: 1,
        called_back: 1,
        not_called_back: 0,
        callback_delay_median: 61200,
        callback_delay_p90: 61200,
        lost_missed: 0,
        new_number_calls: 1,
        lost_new_clients: 0,
      });
    });

    it('groups by manager', async () => {
      const env = await run('missed_calls', { period: MARCH, group_by: 'manager' });
      expect(env.groups?.map((g) => [g.key, g.label, g.figures.missed])).toEqual([
        ['M1', 'Алексей Чуркин', 2], // C06 C11
        ['M2', 'Ольга Кузнецова', 2], // C03 C13
        ['none', 'Без менеджера', 1], // C09
        ['M3', 'Игорь Белов', 0], // no missed calls, one new number (C17)
      ]);
      // M2: delays 600 and 39600 → median 20100, p90 = 600 + 0.9 × 39000 = 35700.
      expect(group(env, 'M2').figures).toEqual({
        missed: 2,
        called_back: 2,
        not_called_back: 0,
        callback_delay_median: 20100,
        callback_delay_p90: 35700,
        lost_missed: 0,
        new_number_calls: 2,
        lost_new_clients: 0,
      });
      expect(group(env, 'M1').figures).toMatchObject({
        called_back: 0,
        callback_delay_median: null,
        lost_missed: 1,
      });
    });

    it('groups by channel', async () => {
      const env = await run('missed_calls', { period: MARCH, group_by: 'channel' });
      expect(
        env.groups?.map((g) => [g.label, g.figures.missed, g.figures.called_back, g.figures.lost_missed]),
      ).toEqual([
        ['Авито', 2, 2, 0], // C03, C13
        ['Без канала', 2, 1, 0], // C09 (called back), C11 (answered incoming C12 later: not lost)
        ['Сайт', 1, 0, 1], // C06
      ]);
      // New numbers per channel count incoming calls only: Авито C03 C13; Сайт C06 C15.
      expect(group(env, 'Авито').figures.new_number_calls).toBe(2);
      expect(group(env, 'Сайт').figures.new_number_calls).toBe(2);
    });

    it('keeps to the caller scope and caps the list', async () => {
      const own = await run('missed_calls', { period: MARCH }, CHURKIN);
      // M1's missed: C06 (lost, not called back), C11 (not called back).
      expect(own.figures).toMatchObject({
        missed: 2,
        called_back: 0,
        not_called_back: 2,
        lost_missed: 1,
        new_number_calls: 3,
      });
      const capped = await run('missed_calls', { period: MARCH, limit: 1 });
      expect(capped.items?.map((i) => i.id)).toEqual(['C11']);
      expect(capped.figures.not_called_back).toBe(2);
      expect(capped.notes).toContain('В списке 1 из 2 пропущенных без перезвона — самые свежие.');
    });
  });
});
