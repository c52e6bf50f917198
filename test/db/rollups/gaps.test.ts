import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { importDirectory } from '../../../src/ingest/import.ts';
import { silentLogger } from '../../../src/logger.ts';
import type { MetricContext } from '../../../src/metrics/common.ts';
import { dealTools } from '../../../src/metrics/deals.ts';
import { leadTools } from '../../../src/metrics/leads.ts';
import type { Caller, Envelope, ToolInput } from '../../../src/metrics/types.ts';
import { createTestDb, drivers, type TestDb } from '../../helpers/db.ts';
import { DEMO_NOW, loadDemo } from '../../helpers/demo.ts';

/*
 * forgotten_leads / forgotten_deals as of the end of a past period read the
 * inactivity gaps (record_gaps) for records touched after it. On the small
 * demo every month end must give what a plain query over the raw tables
 * says (the last activity as of R straight from METRICS.md "Precise
 * readings"); on test/fixtures/metrics-sales later imports that add an
 * activity inside a gap or move a stage change the lists as worked out by hand.
 */

const TZ = 'Europe/Moscow';
const ADMIN: Caller = { role: 'admin', managerId: null };
const DAY_MS = 86_400_000;
const tools = [...leadTools, ...dealTools];

function run(
  db: TestDb,
  name: string,
  input: ToolInput,
  now: Date,
  caller: Caller = ADMIN,
): Promise<Envelope> {
  const tool = tools.find((t) => t.name === name);
  if (!tool) throw new Error(`no tool ${name}`);
  const ctx: MetricContext = { db, caller, tz: TZ, now };
  return tool.run(ctx, input);
}

/**
 * Every lead and deal open at R (open stage now, or closed after R) and
 * created by R, with its last activity as of R: the latest of its creation,
 * stage-history entries, linked activities (created, completed), linked tasks
 * (created, started, closed), linked calls and calls to its contact's numbers,
 * each only when not after R.
 */
const OPEN_AT_SQL = `
  WITH recs AS (
    SELECT 'lead'::text AS kind, id, manager_id, NULL::numeric AS amount, stage_id, contact_id, created_at, closed_at FROM leads
    UNION ALL SELECT 'deal', id, manager_id, amount, stage_id, contact_id, created_at, closed_at FROM deals
  ), moments AS (
    SELECT kind, id, created_at AS at FROM recs
    UNION ALL SELECT entity, entity_id, at FROM stage_history
    UNION ALL SELECT entity, entity_id, created_at FROM activities
    UNION ALL SELECT entity, entity_id, completed_at FROM activities
    UNION ALL SELECT entity, entity_id, created_at FROM tasks
    UNION ALL SELECT entity, entity_id, started_at FROM tasks
    UNION ALL SELECT entity, entity_id, closed_at FROM tasks
    UNION ALL SELECT entity, entity_id, started_at FROM calls
    UNION ALL SELECT r.kind, r.id, c.started_at FROM recs r
      JOIN contact_phones cp ON cp.contact_id = r.contact_id JOIN calls c ON c.client_phone = cp.phone
  ), last AS (
    SELECT kind, id, max(at) AS la FROM moments WHERE at <= $1::timestamptz GROUP BY kind, id
  )
  SELECT r.kind, r.id, coalesce(r.manager_id, 'none') AS manager, r.amount::float8 AS amount, l.la
    FROM recs r JOIN stages s ON s.id = r.stage_id JOIN last l ON l.kind = r.kind AND l.id = r.id
   WHERE r.created_at <= $1::timestamptz AND (s.semantic = 'open' OR r.closed_at > $1::timestamptz)
   ORDER BY l.la, r.id`;

interface OpenRecord {
  kind: 'lead' | 'deal';
  id: string;
  manager: string;
  amount: number | null;
  la: Date;
}

const MONTHS = Array.from({ length: 10 }, (_, i) => {
  const m = String(i + 1).padStart(2, '0');
  const last = new Date(Date.UTC(2026, i + 1, 0)).getUTCDate();
  return { from: `2026-${m}-01`, to: `2026-${m}-${last}` };
});

function writeImport(files: Record<string, unknown[]>): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'voronka-gaps-'));
  for (const [name, rows] of Object.entries(files))
    fs.writeFileSync(path.join(dir, name), `${rows.map((r) => JSON.stringify(r)).join('\n')}\n`);
  return dir;
}

describe.each(drivers)('forgotten records as of a past moment (%s)', (driver) => {
  describe('on the small demo', () => {
    let db: TestDb;
    beforeAll(async () => {
      db = await createTestDb(driver);
      await loadDemo(db);
    }, 180_000);
    afterAll(async () => {
      await db?.dispose();
    });

    it.each(MONTHS)('at the end of $from – $to, every threshold and manager', async (period) => {
      // The end of the month in the company zone.
      const [row] = await db.query<{ r: Date }>(
        `SELECT (($1::date + 1)::timestamp AT TIME ZONE '${TZ}') AS r`,
        [period.to],
      );
      const r = new Date(row!.r);
      const open = await db.query<OpenRecord>(OPEN_AT_SQL, [r]);
      // The case the gaps serve is there: forgotten records touched again after R.
      const [later] = await db.query<{ n: number }>(
        `SELECT count(*)::int AS n FROM leads WHERE last_activity_at > $1::timestamptz AND id = ANY($2::text[])`,
        [
          r,
          open
            .filter((o) => o.kind === 'lead' && new Date(o.la).getTime() < r.getTime() - 3 * DAY_MS)
            .map((o) => o.id),
        ],
      );
      expect(later?.n).toBeGreaterThan(0);
      for (const [kind, tool] of [
        ['lead', 'forgotten_leads'],
        ['deal', 'forgotten_deals'],
      ] as const) {
        for (const days of [1, 3, 7, 14, 30]) {
          const cut = r.getTime() - days * DAY_MS;
          const want = open.filter((o) => o.kind === kind && new Date(o.la).getTime() < cut);
          const env = await run(db, tool, { period, days, group_by: 'manager', limit: 1000 }, DEMO_NOW);
          const label = `${tool} ${period.to} ${days} d`;
          expect(env.figures[tool], label).toBe(want.length);
          if (kind === 'deal')
            expect(env.figures.forgotten_amount, label).toBeCloseTo(
              want.reduce((s, o) => s + (o.amount ?? 0), 0),
              6,
            );
          const byManager = new Map<string, number>();
          for (const o of want) byManager.set(o.manager, (byManager.get(o.manager) ?? 0) + 1);
          const groups = new Map(
            (env.groups ?? [])
              .filter((g) => Number(g.figures[tool]) > 0)
              .map((g) => [g.key, g.figures[tool]]),
          );
          expect(groups, label).toEqual(byManager);
          expect(
            env.items?.map((i) => [i.id, i.last_activity_at]),
            label,
          ).toEqual(want.slice(0, 1000).map((o) => [o.id, new Date(o.la).toISOString()]));
          // A short page: the longest idle first, whichever way each record was found (the gap or not).
          const page = await run(db, tool, { period, days, limit: 3 }, DEMO_NOW);
          expect(
            page.items?.map((i) => i.id),
            label,
          ).toEqual(want.slice(0, 3).map((o) => o.id));
          expect(page.figures[tool], label).toBe(want.length);
        }
      }
      // A manager sees their own records only.
      const [top] = [...open.filter((o) => o.kind === 'lead' && o.manager !== 'none')];
      if (top) {
        const cut = r.getTime() - 3 * DAY_MS;
        const want = open.filter(
          (o) => o.kind === 'lead' && o.manager === top.manager && new Date(o.la).getTime() < cut,
        );
        const env = await run(db, 'forgotten_leads', { period, limit: 1000 }, DEMO_NOW, {
          role: 'manager',
          managerId: top.manager,
        });
        expect(env.items?.map((i) => i.id)).toEqual(want.map((o) => o.id));
      }
    });
  });

  describe('after imports that touch a record inside its gap or move its stage', () => {
    const fixtureDir = fileURLToPath(new URL('../../fixtures/metrics-sales', import.meta.url));
    const NOW = new Date('2026-04-10T12:00:00+03:00');
    const MARCH = { from: '2026-03-01', to: '2026-03-31' };
    let db: TestDb;
    beforeAll(async () => {
      db = await createTestDb(driver);
      const report = await importDirectory(db, { dir: fixtureDir, logger: silentLogger });
      expect(report.rejected).toBe(0);
    });
    afterAll(async () => {
      await db?.dispose();
    });

    it('follows the new moments', async () => {
      // As in test/metrics/deals.test.ts: March (R = 04-01 00:00, cut 03-18 00:00) → DI (last 02-10 12:00),
      // DP (its meeting completed 03-12 10:00; next the call of 04-08), DA (moved 03-15 10:00; next calls 04-01 12:00).
      const before = await run(db, 'forgotten_deals', { period: MARCH }, NOW);
      expect(before.items?.map((i) => [i.id, i.days_idle])).toEqual([
        ['DI', 49],
        ['DP', 19],
        ['DA', 16],
      ]);

      // A comment on DP on 03-20 10:00 falls inside its gap: its last activity as of R is 03-20 → not forgotten.
      // DI moves to "КП отправлено" on 03-16 12:00: 15 days 12 h before R → still forgotten with 15 days idle.
      // A call on DI after R (04-05) changes nothing as of March.
      const dir = writeImport({
        'activities.jsonl': [
          {
            id: 'AC_GAP',
            type: 'comment',
            entity: 'deal',
            entity_id: 'DP',
            manager_id: 'M2',
            created_at: '2026-03-20T10:00:00+03:00',
          },
        ],
        'deals.jsonl': [
          {
            id: 'DI',
            title: 'Коттедж Дмитрия',
            pipeline_id: 'PD',
            stage_id: 'D_KP',
            manager_id: 'M1',
            amount: 50000,
            contact_id: 'K7',
            created_at: '2026-02-10T12:00:00+03:00',
          },
        ],
        'stage_history.jsonl': [
          { entity: 'deal', entity_id: 'DI', stage_id: 'D_KP', at: '2026-03-16T12:00:00+03:00' },
        ],
        'calls.jsonl': [
          {
            id: 'CL_GAP',
            direction: 'out',
            status: 'answered',
            started_at: '2026-04-05T12:00:00+03:00',
            duration_sec: 60,
            client_phone: '79990000000',
            manager_id: 'M1',
            entity: 'deal',
            entity_id: 'DI',
          },
        ],
      });
      const report = await importDirectory(db, { dir, logger: silentLogger });
      expect(report.rejected).toBe(0);

      const march = await run(db, 'forgotten_deals', { period: MARCH }, NOW);
      // Most idle first: DA (03-15 10:00, 16 days), DI (R − 03-16 12:00 = 15 d 12 h → 15, in its new stage).
      expect(march.items?.map((i) => [i.id, i.days_idle, i.stage])).toEqual([
        ['DA', 16, 'КП отправлено'],
        ['DI', 15, 'КП отправлено'],
      ]);
      expect(march.figures).toEqual({ forgotten_deals: 2, forgotten_amount: 150000 });

      // With 16 days (cut 03-16 00:00) DI's move of 03-16 12:00 is recent enough; DA (03-15 10:00) is not.
      const sixteen = await run(db, 'forgotten_deals', { period: MARCH, days: 16 }, NOW);
      expect(sixteen.items?.map((i) => i.id)).toEqual(['DA']);

      // Now (R = 04-10 12:00, cut 03-27 12:00): DI was called on 04-05 → only DJ is left.
      const now = await run(db, 'forgotten_deals', {}, NOW);
      expect(now.items?.map((i) => i.id)).toEqual(['DJ']);
    });
  });
});
