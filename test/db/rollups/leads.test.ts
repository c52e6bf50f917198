import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { refreshLeadRollups } from '../../../src/db/rollups/leads.ts';
import { importDirectory } from '../../../src/ingest/import.ts';
import { silentLogger } from '../../../src/logger.ts';
import type { MetricContext } from '../../../src/metrics/common.ts';
import { leadTools } from '../../../src/metrics/leads.ts';
import type { Caller, Envelope, ToolInput } from '../../../src/metrics/types.ts';
import { createTestDb, drivers, type TestDb } from '../../helpers/db.ts';
import { DEMO_NOW, loadDemo } from '../../helpers/demo.ts';

/*
 * The lead rollups follow imports that change and delete records: the figures
 * of lead_stats / lead_stage_reach after a second import are worked out by hand
 * from test/fixtures/metrics-sales (see test/metrics/leads.test.ts for the
 * April cohort before the change), and on the small demo the rollup path
 * matches counts computed here straight from the leads table.
 */

const fixtureDir = fileURLToPath(new URL('../../fixtures/metrics-sales', import.meta.url));
const TZ = 'Europe/Moscow';
const ADMIN: Caller = { role: 'admin', managerId: null };

const run = (
  db: TestDb,
  name: string,
  input: ToolInput,
  now: Date,
  caller: Caller = ADMIN,
): Promise<Envelope> => {
  const tool = leadTools.find((t) => t.name === name);
  if (!tool) throw new Error(`no tool ${name}`);
  const ctx: MetricContext = { db, caller, tz: TZ, now };
  return tool.run(ctx, input);
};

function writeImport(files: Record<string, unknown[]>): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'voronka-lead-rollups-'));
  for (const [name, rows] of Object.entries(files))
    fs.writeFileSync(path.join(dir, name), `${rows.map((r) => JSON.stringify(r)).join('\n')}\n`);
  return dir;
}

describe.each(drivers)('lead rollups on %s', (driver) => {
  describe('after an import that changes and deletes records', () => {
    let db: TestDb;
    const NOW = new Date('2026-04-10T12:00:00+03:00');
    beforeAll(async () => {
      db = await createTestDb(driver);
      const report = await importDirectory(db, { dir: fixtureDir, logger: silentLogger });
      expect(report.rejected).toBe(0);
    });
    afterAll(async () => {
      await db?.dispose();
    });

    it('the figures follow a later import that changes a stage and deletes a lead and a deal', async () => {
      const before = await run(db, 'lead_stats', {}, NOW);
      expect(before.figures.received).toBe(7);
      expect(before.figures.junk).toBe(1);

      // LD2 (M1, created 04-02 10:00) is now junk, closed a day later; LD7 is deleted; deal DA
      // (won, 100 000, linked to LD3 only through leads.deal_id) is deleted.
      const dir = writeImport({
        'leads.jsonl': [
          {
            id: 'LD2',
            title: 'Заявка с Авито 2',
            pipeline_id: 'PL',
            stage_id: 'L_JUNK',
            source_id: 'S1',
            utm: { source: 'avito', campaign: 'spring' },
            manager_id: 'M1',
            contact_id: 'K2',
            created_at: '2026-04-02T10:00:00+03:00',
            closed_at: '2026-04-03T10:00:00+03:00',
          },
          { id: 'LD7', deleted: true },
        ],
        'deals.jsonl': [{ id: 'DA', deleted: true }],
      });
      const report = await importDirectory(db, { dir, logger: silentLogger });
      expect(report.rejected).toBe(0);

      const after = await run(db, 'lead_stats', {}, NOW);
      // Cohort LD1..LD6 = 6; new: LD1; in work: none (LD2 junk, LD7 gone); qualified LD3, LD4, LD6;
      // junk LD5, LD2. Deals: LD3 lost DA → LD4 (DB), LD6 (DC) = 2/6; sale only LD6 (DC 50 000) = 1/6.
      // Processing: LD3 2, LD4 0.5, LD5 1, LD6 3, LD2 1 → 7.5 / 5 = 1.5 days.
      expect(after.figures).toEqual({
        received: 6,
        new: 1,
        in_work: 0,
        qualified: 3,
        junk: 2,
        conv_to_deal: 2 / 6,
        conv_to_sale: 1 / 6,
        sales_amount: 50000,
        revenue_per_lead: 50000 / 6,
        avg_processing_days: 1.5,
      });
      // M1 now: LD1 new, LD2 junk.
      const m1 = await run(db, 'lead_stats', { group_by: 'manager' }, NOW);
      expect(m1.groups?.find((g) => g.key === 'M1')?.figures).toMatchObject({ received: 2, new: 1, junk: 1 });

      // Stage reach: L_JUNK was reached by LD5 only; LD2's current stage adds it → 2 of 6.
      const reach = await run(db, 'lead_stage_reach', {}, NOW);
      expect(reach.figures.received).toBe(6);
      expect(reach.groups?.find((g) => g.key === 'L_JUNK')?.figures).toEqual({
        reached: 2,
        stage_reach: 2 / 6,
      });
    });

    it('rebuilds for another company time zone', async () => {
      // LD1 is created 04-01 01:00 Moscow = 03-31 22:00 UTC: in UTC it belongs to March.
      const tool = leadTools.find((t) => t.name === 'lead_stats')!;
      const ctx: MetricContext = { db, caller: ADMIN, tz: 'UTC', now: NOW };
      const env = await tool.run(ctx, { period: { from: '2026-04-01', to: '2026-04-30' } });
      expect(env.figures.received).toBe(5);
      const moscow = await run(db, 'lead_stats', {}, NOW);
      expect(moscow.figures.received).toBe(6);
    });
  });

  describe('on the small demo', () => {
    let db: TestDb;
    beforeAll(async () => {
      db = await createTestDb(driver);
      await loadDemo(db);
      await refreshLeadRollups(db, TZ);
    }, 180_000);
    afterAll(async () => {
      await db?.dispose();
    });

    it('matches counts taken straight from the leads table', async () => {
      for (const [from, to] of [
        ['2026-01-01', '2026-12-31'],
        ['2026-08-15', '2026-10-03'],
      ] as const) {
        const env = await run(db, 'lead_stats', { period: { from, to }, group_by: 'manager' }, DEMO_NOW);
        const direct = await db.query<{ m: string; n: number; won: number; lost: number }>(
          `SELECT coalesce(l.manager_id, 'none') AS m, count(*) AS n,
                  count(*) FILTER (WHERE s.semantic = 'won') AS won, count(*) FILTER (WHERE s.semantic = 'lost') AS lost
             FROM leads l JOIN stages s ON s.id = l.stage_id
            WHERE (l.created_at AT TIME ZONE 'Europe/Moscow')::date BETWEEN $1::date AND $2::date
            GROUP BY 1`,
          [from, to],
        );
        expect(direct.length).toBeGreaterThan(1);
        const byManager = new Map(env.groups?.map((g) => [g.key, g.figures]));
        for (const d of direct) {
          expect(byManager.get(d.m)).toMatchObject({ received: d.n, qualified: d.won, junk: d.lost });
        }
        expect(env.figures.received).toBe(direct.reduce((s, d) => s + Number(d.n), 0));
        const byWeek = await run(db, 'lead_stats', { period: { from, to }, group_by: 'week' }, DEMO_NOW);
        expect(byWeek.figures).toEqual(env.figures);
      }
    });
  });
});
