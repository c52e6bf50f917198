import fs from 'node:fs';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CallBreakdown } from '../../src/analysis/schema.ts';
import { AppError } from '../../src/errors.ts';
import { importDirectory } from '../../src/ingest/import.ts';
import { silentLogger } from '../../src/logger.ts';
import type { MetricContext } from '../../src/metrics/common.ts';
import { qualityTools } from '../../src/metrics/quality.ts';
import type { Caller, Envelope, ToolInput } from '../../src/metrics/types.ts';
import { createTestDb, drivers, type TestDb } from '../helpers/db.ts';

/*
 * Data: test/fixtures/metrics-quality. Company time zone Europe/Moscow (UTC+3),
 * now = Fri 2026-04-10 12:00 MSK.
 *
 * Managers: M1 Ольга Кузнецова and M2 Алексей Чуркин in D2 «Группа Москва»
 * (child of D1 «Отдел продаж», head H1 Марина Соколова); M3 Игорь Белов in
 * D3 «Отдел сервиса». Lines: …0001 «Авито» (source S1), …0002 «Сайт» (S2);
 * …0009 is unknown. Leads L1, L2 have source Сайт; deal DL1 has source Авито.
 *
 * A call's source = its lead's / deal's source, else its line's source:
 *
 * call started (MSK)   mgr  source             readiness risk   objections (handled?)   script g n p ns s  needs                 target talk
 * Q01  03-02 10:00     M1   Авито (line)       80        low    price(+)                1 1 1 1 1          замер, рассрочка      yes    .6
 * Q02  03-03 11:00     M1   Сайт  (lead L1)    55        medium price(−), think(+)      1 1 0 1 0          замер                 yes    .5
 * Q03  03-05 12:00     M1   Сайт  (lead L2; its line is Авито)
 *                                              30        high   competitor(−), price(−) 1 0 0 0 0          доставка              yes    .7
 * Q04  03-10 10:00     M2   Авито (line)       72        low    —                       1 1 1 1 0          замер                 yes    .4
 *      (Q04 also has an older offline breakdown: 20, high, think(−), not target — the later LLM one counts)
 * Q05  03-12 15:00     M2   Авито (deal DL1)   38        medium timing(+)               1 1 1 0 0          рассрочка, замер      yes    .55
 * Q06  03-16 09:00     M2   none (line …0009)  10        high   need(−)                 0 0 0 0 0          —                     no     .3
 * Q07  03-15 16:00     M3   Сайт  (line)       65        medium price(+), price(−)      1 1 1 1 1          монтаж                yes    .5
 * Q08  03-20 13:00     —    Авито (line)        5        high   —                       0 0 0 0 0          —                     no     null
 * Q09  03-31 23:30     M1   Авито (line)       90        low    think(+)                1 1 1 1 1          "Замер " (= замер)    yes    .65
 * Q10  04-01 00:30     M1   Авито              40        high   price(−)                1 0 1 0 0          замер                 yes    .5
 *      (20:30Z / 21:30Z on 31 March in UTC: Q09 is March locally, Q10 is April)
 * Q11  03-25 10:00     M2   Сайт               — no breakdown —
 * Q12  02-20 10:00     M1   Авито              100 (February)
 *
 * March (1–31 March local) = Q01–Q09: 9 analyzed calls.
 *   readiness sum 80+55+30+72+38+10+65+5+90 = 445 → readiness_avg 445/9;
 *   high risk Q03, Q06, Q08 = 3; target 7 (all but Q06, Q08) → 7/9.
 */

const fixtureDir = fileURLToPath(new URL('../fixtures/metrics-quality', import.meta.url));
const NOW = new Date('2026-04-10T12:00:00+03:00');
const MARCH = { from: '2026-03-01', to: '2026-03-31' };

const ADMIN: Caller = { role: 'admin', managerId: null };
const HEAD: Caller = { role: 'head', managerId: 'H1' };
const OLGA: Caller = { role: 'manager', managerId: 'M1' };

interface FixtureBreakdown {
  call_id: string;
  analyzer: string;
  model: string | null;
  created_at: string;
  breakdown: CallBreakdown;
}
const fixtureBreakdowns = JSON.parse(
  fs.readFileSync(`${fixtureDir}/breakdowns.json`, 'utf8'),
) as FixtureBreakdown[];
const breakdownOf = (callId: string, analyzer = 'offline@1.0') =>
  fixtureBreakdowns.find((b) => b.call_id === callId && b.analyzer === analyzer)!.breakdown;

function tool(name: string) {
  const t = qualityTools.find((x) => x.name === name);
  if (!t) throw new Error(`no tool ${name}`);
  return t;
}

/** Groups as [key, label, figures] for compact comparisons. */
const rowsOf = (env: Envelope) => (env.groups ?? []).map((g) => [g.key, g.label, g.figures]);

describe.each(drivers)('call quality tools (%s)', (driver) => {
  let db: TestDb;
  const run = (name: string, input: ToolInput, caller: Caller = ADMIN) => {
    const ctx: MetricContext = { db, caller, tz: 'Europe/Moscow', now: NOW };
    return tool(name).run(ctx, input);
  };

  beforeAll(async () => {
    db = await createTestDb(driver);
    const report = await importDirectory(db, { dir: fixtureDir, logger: silentLogger });
    expect(report.rejected).toBe(0);
    for (const b of fixtureBreakdowns) {
      await db.query(
        `INSERT INTO call_analyses (call_id, analyzer, model, breakdown, confidence, readiness, churn_risk, created_at)
         VALUES ($1, $2, $3, $4::text::jsonb, $5, $6, $7, $8::timestamptz)`,
        [
          b.call_id,
          b.analyzer,
          b.model,
          JSON.stringify(b.breakdown),
          b.breakdown.confidence,
          b.breakdown.readiness,
          b.breakdown.churn_risk,
          b.created_at,
        ],
      );
    }
  });
  afterAll(async () => {
    await db?.dispose();
  });

  describe('call_quality', () => {
    it('counts the analyzed calls of the period by their latest breakdown', async () => {
      const env = await run('call_quality', { period: MARCH });
      expect(env.metric).toBe('call_quality');
      expect(env.period).toEqual(MARCH);
      expect(env.filters).toEqual({});
      // Q01–Q09; Q10 is April locally, Q11 has no breakdown, Q12 is February. Q04 counts once, by its
      // LLM breakdown (72, low, target): with the offline one it would be 20, high, not target.
      expect(env.figures.analyzed).toBe(9);
      expect(env.figures.readiness_avg).toBeCloseTo(445 / 9, 10);
      expect(env.figures.high_risk).toBe(3);
      expect(env.figures.target_share).toBeCloseTo(7 / 9, 12);
      expect(env.groups).toBeUndefined();
      expect(env.items).toBeUndefined();
      expect(env.notes).toBeUndefined();
    });

    it('defaults to this month', async () => {
      const env = await run('call_quality', {});
      // April 2026 so far holds one analyzed call, Q10 (00:30 MSK on 1 April): readiness 40, high risk, target.
      expect(env.period).toEqual({ from: '2026-04-01', to: '2026-04-30' });
      expect(env.figures).toEqual({ analyzed: 1, readiness_avg: 40, high_risk: 1, target_share: 1 });
      expect(tool('call_quality').defaultPeriod).toBe('this_month');
    });

    it('ranks objections by the calls that had them, with the share of analyzed calls', async () => {
      const env = await run('call_quality', { period: MARCH, aspect: 'objections' });
      // price: Q01, Q02, Q03, Q07 = 4 calls (Q07 twice, counted once); not handled in Q02, Q03, Q07 (one of two) = 3.
      // think: Q02, Q09 = 2, both handled (Q04's unhandled "think" is in the superseded offline breakdown).
      // competitor Q03 (−), timing Q05 (+), need Q06 (−): 1 each, in the order of the objection types.
      expect(rowsOf(env)).toEqual([
        ['price', 'Дорого', { count: 4, share: 4 / 9, unhandled: 3 }],
        ['think', 'Подумаю', { count: 2, share: 2 / 9, unhandled: 0 }],
        ['competitor', 'У других дешевле / конкуренты', { count: 1, share: 1 / 9, unhandled: 1 }],
        ['timing', 'Не сейчас', { count: 1, share: 1 / 9, unhandled: 0 }],
        ['need', 'Не нужно', { count: 1, share: 1 / 9, unhandled: 1 }],
      ]);
      expect(env.figures.analyzed).toBe(9);
    });

    it('breaks objections down by manager, keeping the overall top as a series', async () => {
      const env = await run('call_quality', { period: MARCH, aspect: 'objections', group_by: 'manager' });
      // Groups in label order: Алексей Чуркин (Q04–Q06, 3 calls), Игорь Белов (Q07, 1), Ольга Кузнецова
      // (Q01–Q03, Q09, 4); Без менеджера (Q08) had no objections.
      expect(rowsOf(env)).toEqual([
        ['M2:timing', 'Алексей Чуркин · Не сейчас', { count: 1, share: 1 / 3, analyzed: 3, unhandled: 0 }],
        ['M2:need', 'Алексей Чуркин · Не нужно', { count: 1, share: 1 / 3, analyzed: 3, unhandled: 1 }],
        ['M3:price', 'Игорь Белов · Дорого', { count: 1, share: 1, analyzed: 1, unhandled: 1 }],
        ['M1:price', 'Ольга Кузнецова · Дорого', { count: 3, share: 3 / 4, analyzed: 4, unhandled: 2 }],
        ['M1:think', 'Ольга Кузнецова · Подумаю', { count: 2, share: 2 / 4, analyzed: 4, unhandled: 0 }],
        [
          'M1:competitor',
          'Ольга Кузнецова · У других дешевле / конкуренты',
          { count: 1, share: 1 / 4, analyzed: 4, unhandled: 1 },
        ],
      ]);
      expect(env.series?.objections?.map((g) => [g.key, g.figures.count])).toEqual([
        ['price', 4],
        ['think', 2],
        ['competitor', 1],
        ['timing', 1],
        ['need', 1],
      ]);
    });

    it('shows script adherence per step', async () => {
      const env = await run('call_quality', { period: MARCH, aspect: 'script' });
      // Done: greeting — all but Q06, Q08 = 7; need identified — Q01, Q02, Q04, Q05, Q07, Q09 = 6;
      // price named — Q01, Q04, Q05, Q07, Q09 = 5; next step — Q01, Q02, Q04, Q07, Q09 = 5;
      // summary agreed — Q01, Q07, Q09 = 3.
      expect(rowsOf(env)).toEqual([
        ['greeting', 'Приветствие и представление', { count: 7, share: 7 / 9 }],
        ['need_identified', 'Выявление потребности', { count: 6, share: 6 / 9 }],
        ['price_named', 'Цена названа', { count: 5, share: 5 / 9 }],
        ['next_step_offered', 'Предложен следующий шаг', { count: 5, share: 5 / 9 }],
        ['summary_agreed', 'Итог проговорён', { count: 3, share: 3 / 9 }],
      ]);
      expect(env.figures['script.price_named']).toBeCloseTo(5 / 9, 12);
      expect(env.figures['script.summary_agreed']).toBeCloseTo(3 / 9, 12);
    });

    it('finds who does not name the price (one step by manager)', async () => {
      const env = await run('call_quality', {
        period: MARCH,
        aspect: 'script.price_named',
        group_by: 'manager',
      });
      // Ольга: Q01 yes, Q02 no, Q03 no, Q09 yes → 2/4; Алексей: Q04 yes, Q05 yes, Q06 no → 2/3;
      // Игорь: Q07 yes → 1/1; Без менеджера: Q08 no → 0/1. Sorted by the share, largest first.
      expect(rowsOf(env)).toEqual([
        ['M3', 'Игорь Белов', { share: 1, count: 1, analyzed: 1 }],
        ['M2', 'Алексей Чуркин', { share: 2 / 3, count: 2, analyzed: 3 }],
        ['M1', 'Ольга Кузнецова', { share: 0.5, count: 2, analyzed: 4 }],
        ['none', 'Без менеджера', { share: 0, count: 0, analyzed: 1 }],
      ]);
      expect(env.figures['script.price_named']).toBeCloseTo(5 / 9, 12);
      expect(env.figures.count).toBe(5);
      expect(env.notes).toEqual(['Доля разобранных звонков, в которых выполнен шаг «Цена названа».']);
    });

    it('shows overall script adherence per manager', async () => {
      const env = await run('call_quality', { period: MARCH, aspect: 'script', group_by: 'manager' });
      // Steps done of 5 per call: Ольга 5+3+1+5 = 14 of 20 → 0.7; Алексей 4+3+0 = 7 of 15;
      // Игорь 5 of 5 → 1; Без менеджера 0 of 5 → 0.
      expect(env.groups?.map((g) => [g.key, g.figures.share, g.figures.analyzed])).toEqual([
        ['M3', 1, 1],
        ['M1', 0.7, 4],
        ['M2', 7 / 15, 3],
        ['none', 0, 1],
      ]);
      // Ольга's price step: Q01 and Q09 of her 4 calls.
      expect(env.groups?.find((g) => g.key === 'M1')?.figures['script.price_named']).toBe(0.5);
    });

    it('gives the churn risk and readiness distributions', async () => {
      const risk = await run('call_quality', { period: MARCH, aspect: 'churn_risk' });
      // high Q03, Q06, Q08; medium Q02, Q05, Q07; low Q01, Q04 (LLM breakdown), Q09.
      expect(rowsOf(risk)).toEqual([
        ['high', 'Высокий риск', { count: 3, share: 3 / 9 }],
        ['medium', 'Средний риск', { count: 3, share: 3 / 9 }],
        ['low', 'Низкий риск', { count: 3, share: 3 / 9 }],
      ]);
      const readiness = await run('call_quality', { period: MARCH, aspect: 'readiness' });
      // low (<40): Q03 30, Q05 38, Q06 10, Q08 5; medium (40–69): Q02 55, Q07 65; high (≥70): Q01 80, Q04 72, Q09 90.
      expect(rowsOf(readiness)).toEqual([
        ['low', 'Готовность низкая (меньше 40)', { count: 4, share: 4 / 9 }],
        ['medium', 'Готовность средняя (40–69)', { count: 2, share: 2 / 9 }],
        ['high', 'Готовность высокая (70 и выше)', { count: 3, share: 3 / 9 }],
      ]);
      expect(readiness.notes).toContain(
        'Готовность: низкая — меньше 40, средняя — 40–69, высокая — 70 и выше.',
      );
    });

    it('averages readiness per manager', async () => {
      const env = await run('call_quality', { period: MARCH, aspect: 'readiness', group_by: 'manager' });
      // Игорь 65; Ольга (80+55+30+90)/4 = 63.75; Алексей (72+38+10)/3 = 40; Без менеджера 5.
      // High band (≥70): Ольга Q01, Q09; Алексей Q04.
      expect(env.groups?.map((g) => [g.key, g.figures.readiness_avg, g.figures.high])).toEqual([
        ['M3', 65, 0],
        ['M1', 63.75, 2],
        ['M2', 40, 1],
        ['none', 5, 0],
      ]);
    });

    it('lists the high-risk calls, newest first, capped by limit', async () => {
      const env = await run('call_quality', { period: MARCH, aspect: 'churn_risk.high' });
      expect(env.figures.count).toBe(3);
      expect(env.figures.share).toBeCloseTo(3 / 9, 12);
      // Q08 (20 Mar, no manager), Q06 (16 Mar, Алексей), Q03 (5 Mar, Ольга).
      expect(env.items?.map((i) => [i.id, i.manager, i.started_at, i.client_phone, i.readiness])).toEqual([
        ['Q08', null, '2026-03-20T10:00:00.000Z', '+7 916 000-00-08', 5],
        ['Q06', 'Алексей Чуркин', '2026-03-16T06:00:00.000Z', '+7 916 000-00-06', 10],
        ['Q03', 'Ольга Кузнецова', '2026-03-05T09:00:00.000Z', '+7 916 000-00-03', 30],
      ]);
      expect(env.items?.[2]).toMatchObject({
        churn_risk: 'high',
        summary: breakdownOf('Q03').summary,
        next_step: breakdownOf('Q03').next_step,
        stage: 'price_negotiation',
      });
      const capped = await run('call_quality', { period: MARCH, aspect: 'churn_risk.high', limit: 2 });
      expect(capped.items?.map((i) => i.id)).toEqual(['Q08', 'Q06']);
      expect(capped.figures.count).toBe(3);
      expect(capped.notes).toContain('В списке 2 из 3 звонков — самые свежие.');
    });

    it('ranks managers by the share of high-risk calls', async () => {
      const env = await run('call_quality', {
        period: MARCH,
        aspect: 'churn_risk.high',
        group_by: 'manager',
      });
      // Без менеджера Q08 1/1; Алексей Q06 1/3; Ольга Q03 1/4; Игорь 0/1.
      expect(rowsOf(env)).toEqual([
        ['none', 'Без менеджера', { share: 1, count: 1, analyzed: 1 }],
        ['M2', 'Алексей Чуркин', { share: 1 / 3, count: 1, analyzed: 3 }],
        ['M1', 'Ольга Кузнецова', { share: 0.25, count: 1, analyzed: 4 }],
        ['M3', 'Игорь Белов', { share: 0, count: 0, analyzed: 1 }],
      ]);
    });

    it('gives the top needs, overall and by source', async () => {
      const all = await run('call_quality', { period: MARCH, aspect: 'needs' });
      // замер: Q01, Q02, Q04, Q05, Q09 ("Замер " is the same need) = 5; рассрочка: Q01, Q05 = 2;
      // доставка Q03, монтаж Q07 = 1 each (alphabetical at a tie).
      expect(rowsOf(all)).toEqual([
        ['замер', 'замер', { count: 5, share: 5 / 9 }],
        ['рассрочка', 'рассрочка', { count: 2, share: 2 / 9 }],
        ['доставка', 'доставка', { count: 1, share: 1 / 9 }],
        ['монтаж', 'монтаж', { count: 1, share: 1 / 9 }],
      ]);
      const bySource = await run('call_quality', { period: MARCH, aspect: 'needs', group_by: 'source' });
      // Авито = Q01, Q04, Q05 (deal DL1), Q08, Q09: 5 calls; Сайт = Q02 (lead L1), Q03 (lead L2, though it came
      // in on the Авито line), Q07: 3 calls; Q06 (unknown line) has no source and no needs.
      expect(rowsOf(bySource)).toEqual([
        ['S1:замер', 'Авито · замер', { count: 4, share: 4 / 5, analyzed: 5 }],
        ['S1:рассрочка', 'Авито · рассрочка', { count: 2, share: 2 / 5, analyzed: 5 }],
        ['S2:доставка', 'Сайт · доставка', { count: 1, share: 1 / 3, analyzed: 3 }],
        ['S2:замер', 'Сайт · замер', { count: 1, share: 1 / 3, analyzed: 3 }],
        ['S2:монтаж', 'Сайт · монтаж', { count: 1, share: 1 / 3, analyzed: 3 }],
      ]);
    });

    it('gives the share of target leads by source and lists the non-target calls', async () => {
      const bySource = await run('call_quality', {
        period: MARCH,
        aspect: 'lead_quality',
        group_by: 'source',
      });
      // Сайт: Q02, Q03, Q07 all target → 1; Авито: Q01, Q04, Q05, Q09 of 5 (Q08 spam) → 0.8;
      // Без источника: Q06 (wrong number) → 0.
      expect(rowsOf(bySource)).toEqual([
        ['S2', 'Сайт', { share: 1, count: 3, analyzed: 3 }],
        ['S1', 'Авито', { share: 0.8, count: 4, analyzed: 5 }],
        ['none', 'Без источника', { share: 0, count: 0, analyzed: 1 }],
      ]);
      const notTarget = await run('call_quality', { period: MARCH, aspect: 'lead_quality.not_target' });
      expect(notTarget.items?.map((i) => [i.id, i.lead_quality_reason])).toEqual([
        ['Q08', 'Спам'],
        ['Q06', 'Ошиблись номером'],
      ]);
      expect(rowsOf(notTarget)).toEqual([
        ['target', 'Целевые', { count: 7, share: 7 / 9 }],
        ['not_target', 'Нецелевые', { count: 2, share: 2 / 9 }],
      ]);
    });

    it("averages the manager's talk ratio over calls where the sides are known", async () => {
      const env = await run('call_quality', { period: MARCH, aspect: 'talk_ratio', group_by: 'manager' });
      // Overall: (.6+.5+.7+.4+.55+.3+.5+.65)/8 = 4.2/8 (Q08 has none). Ольга (.6+.5+.7+.65)/4 = .6125;
      // Игорь .5; Алексей (.4+.55+.3)/3; Без менеджера — nothing to average, last.
      expect(env.figures.talk_ratio_avg).toBeCloseTo(4.2 / 8, 10);
      expect(env.groups?.map((g) => g.key)).toEqual(['M1', 'M3', 'M2', 'none']);
      expect(env.groups?.[0]?.figures.talk_ratio_avg).toBeCloseTo(0.6125, 10);
      expect(env.groups?.[2]?.figures.talk_ratio_avg).toBeCloseTo(1.25 / 3, 10);
      expect(env.groups?.[3]?.figures.talk_ratio_avg).toBeNull();
    });

    it("filters by the call's source and groups by department", async () => {
      const site = await run('call_quality', { period: MARCH, filters: { sources: ['сайт'] } });
      // Q02, Q03, Q07: readiness (55+30+65)/3 = 50, high risk Q03, all target.
      expect(site.filters).toEqual({ sources: ['Сайт'] });
      expect(site.figures).toEqual({ analyzed: 3, readiness_avg: 50, high_risk: 1, target_share: 1 });

      const byDept = await run('call_quality', { period: MARCH, group_by: 'department' });
      // Группа Москва = Ольга + Алексей: Q01–Q06, Q09 = 7, readiness 375/7, high Q03, Q06, target 6/7;
      // Отдел сервиса = Q07; Без отдела = Q08 (no manager). Ties on 1 call go by label.
      expect(byDept.groups?.map((g) => [g.key, g.label, g.figures.analyzed, g.figures.high_risk])).toEqual([
        ['D2', 'Группа Москва', 7, 2],
        ['none', 'Без отдела', 1, 1],
        ['D3', 'Отдел сервиса', 1, 0],
      ]);
      expect(byDept.groups?.[0]?.figures.readiness_avg).toBeCloseTo(375 / 7, 10);
      expect(byDept.groups?.[0]?.figures.target_share).toBeCloseTo(6 / 7, 12);
    });

    it('applies the scope of the caller: manager, head, admin', async () => {
      const admin = await run('call_quality', { period: MARCH });
      expect(admin.figures.analyzed).toBe(9);
      // Марина heads Отдел продаж and its Группа Москва: Ольга's and Алексей's calls, as above.
      const head = await run('call_quality', { period: MARCH }, HEAD);
      expect(head.figures.analyzed).toBe(7);
      expect(head.figures.readiness_avg).toBeCloseTo(375 / 7, 10);
      expect(head.figures.high_risk).toBe(2);
      // Ольга sees her own: Q01, Q02, Q03, Q09 → (80+55+30+90)/4, high risk Q03, all target.
      const own = await run('call_quality', { period: MARCH }, OLGA);
      expect(own.figures).toEqual({ analyzed: 4, readiness_avg: 63.75, high_risk: 1, target_share: 1 });
      await expect(
        run('call_quality', { period: MARCH, filters: { managers: ['Алексей Чуркин'] } }, OLGA),
      ).rejects.toThrow(AppError);
    });

    it('says so when nothing was analyzed', async () => {
      const env = await run('call_quality', {
        period: { from: '2026-01-01', to: '2026-01-31' },
        aspect: 'objections',
      });
      expect(env.figures).toEqual({ analyzed: 0, readiness_avg: null, high_risk: 0, target_share: null });
      expect(env.groups).toEqual([]);
      expect(env.notes).toContain('За период нет разобранных звонков.');
    });
  });

  describe('call_breakdown', () => {
    it("returns one call's breakdown with the call's details", async () => {
      const env = await run('call_breakdown', { call_id: 'Q03' });
      expect(env.metric).toBe('call_breakdown');
      expect(env.period).toEqual({ from: '2026-03-05', to: '2026-03-05' });
      // readiness 30, confidence 0.7, talk ratio .7; two objections; of the script only the greeting.
      expect(env.figures).toEqual({
        readiness: 30,
        confidence: 0.7,
        talk_ratio: 0.7,
        objections: 2,
        script_done: 1,
      });
      expect(env.items).toEqual([
        {
          id: 'Q03',
          title: 'Звонок +7 916 000-00-03',
          manager: 'Ольга Кузнецова',
          manager_id: 'M1',
          started_at: '2026-03-05T09:00:00.000Z',
          client_phone: '+7 916 000-00-03',
          direction: 'in',
          duration_sec: 120,
          analyzed_at: '2026-04-01T09:00:00.000Z',
          ...breakdownOf('Q03'),
        },
      ]);
      // The breakdown's fields in the order METRICS.md shows them, after the call's details.
      expect(Object.keys(env.items![0]!).slice(9)).toEqual([
        'call_id',
        'analyzer',
        'confidence',
        'company_speaker',
        'summary',
        'readiness',
        'readiness_band',
        'churn_risk',
        'stage',
        'objections',
        'script',
        'strengths',
        'misses',
        'next_step',
        'needs',
        'lead_quality',
        'talk_ratio',
      ]);
    });

    it('shows the latest breakdown of a call analyzed twice', async () => {
      const env = await run('call_breakdown', { call_id: 'Q04' });
      expect(env.items?.[0]).toMatchObject(breakdownOf('Q04', 'llm:gpt-4o-mini@1'));
      expect(env.figures.readiness).toBe(72);
    });

    it("finds the latest analyzed call of a manager, within the caller's scope", async () => {
      // Алексей's analyzed calls: Q04 (10 Mar), Q05 (12 Mar), Q06 (16 Mar); Q11 (25 Mar) has no breakdown.
      const alexey = await run('call_breakdown', { filters: { managers: ['Алексей Чуркин'] } });
      expect(alexey.items?.[0]?.id).toBe('Q06');
      expect(alexey.filters).toEqual({ managers: ['Алексей Чуркин'] });
      // Ольга's latest is Q10 (1 April); within March it is Q09.
      expect((await run('call_breakdown', {}, OLGA)).items?.[0]?.id).toBe('Q10');
      expect((await run('call_breakdown', { period: MARCH }, OLGA)).items?.[0]?.id).toBe('Q09');
      // Марина sees Ольга's and Алексей's calls: the latest of them is Q10.
      expect((await run('call_breakdown', {}, HEAD)).items?.[0]?.id).toBe('Q10');
    });

    it('refuses calls outside the scope and says when there is no breakdown', async () => {
      await expect(run('call_breakdown', { call_id: 'Q04' }, OLGA)).rejects.toMatchObject({
        code: 'out_of_scope',
      });
      await expect(run('call_breakdown', { call_id: 'Q08' }, HEAD)).rejects.toMatchObject({
        code: 'out_of_scope',
      });
      await expect(run('call_breakdown', { call_id: 'Q11' })).rejects.toMatchObject({
        code: 'breakdown_not_found',
        userMessage: 'Звонок Q11 ещё не разобран.',
      });
      await expect(run('call_breakdown', { call_id: 'Q99' })).rejects.toMatchObject({
        userMessage: 'Не нашёл звонок Q99.',
      });
      await expect(
        run('call_breakdown', {
          period: { from: '2026-01-01', to: '2026-01-31' },
          filters: { managers: ['M3'] },
        }),
      ).rejects.toMatchObject({ userMessage: 'У менеджера Игорь Белов пока нет разобранных звонков.' });
    });
  });
});
