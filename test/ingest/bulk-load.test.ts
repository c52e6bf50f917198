import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { entitySpecs } from '../../src/ingest/entities.ts';
import { importDirectory } from '../../src/ingest/import.ts';
import { copyLine, openBulkWriter } from '../../src/ingest/upsert.ts';
import { silentLogger } from '../../src/logger.ts';
import { createTestDb, drivers, type TestDb } from '../helpers/db.ts';
import { loadDemo } from '../helpers/demo.ts';

/*
 * A large file into an empty table is loaded in one transaction with the
 * table's secondary indexes built afterwards. Forcing that path on the small
 * fixture (threshold 0) must give exactly what the batch-by-batch path gives,
 * leave every index in place, and a failure must roll the table back whole.
 */

const basic = path.resolve('test/fixtures/import-basic');
/** Every file bulk-loaded, PGlite included (as the first start's demo load does). */
const forced = { bulkLoadBytes: 0, exclusive: true };
const tables = [
  'departments',
  'managers',
  'stages',
  'contacts',
  'contact_phones',
  'leads',
  'deals',
  'stage_history',
  'activities',
  'tasks',
  'calls',
  'plans',
];

async function dump(db: TestDb): Promise<Record<string, unknown[]>> {
  const out: Record<string, unknown[]> = {};
  for (const t of tables) out[t] = await db.query(`SELECT * FROM ${t} ORDER BY 1, 2, 3`);
  return out;
}

async function indexes(db: TestDb): Promise<string[]> {
  const rows = await db.query<{ def: string }>(
    `SELECT indexdef AS def FROM pg_indexes WHERE schemaname = current_schema() ORDER BY indexname`,
  );
  return rows.map((r) => r.def);
}

describe.each(drivers)('bulk load on %s', (driver) => {
  let bulk: TestDb;
  let batched: TestDb;
  beforeAll(async () => {
    [bulk, batched] = await Promise.all([createTestDb(driver), createTestDb(driver)]);
  });
  afterAll(async () => {
    await Promise.all([bulk?.dispose(), batched?.dispose()]);
  });

  it('gives the same rows, counts, rejects and indexes as the batch-by-batch path', async () => {
    const indexesBefore = await indexes(bulk);
    const a = await importDirectory(bulk, { dir: basic, logger: silentLogger, ...forced });
    const b = await importDirectory(batched, {
      dir: basic,
      logger: silentLogger,
      bulkLoadBytes: Number.POSITIVE_INFINITY,
    });
    expect(a.counts).toEqual(b.counts);
    expect(a.firstRejects).toEqual(b.firstRejects);
    expect(a.counts.calls).toMatchObject({ inserted: 3, rejected: 5 });
    expect(await dump(bulk)).toEqual(await dump(batched));
    expect(await indexes(bulk)).toEqual(indexesBefore);
  });

  it('a second import into the now filled tables updates in place', async () => {
    const again = await importDirectory(bulk, { dir: basic, logger: silentLogger, ...forced });
    for (const c of Object.values(again.counts)) expect(c.inserted + c.updated).toBe(0);
    expect(again.counts.calls?.unchanged).toBe(3);
  });

  it('carries tabs, newlines, backslashes, quotes and non-ASCII text through COPY unchanged', async () => {
    const db = await createTestDb(driver);
    try {
      const title = 'Окна\tбалкон\nвторая строка \\ "кавычки" \r конец';
      const transcript = 'Менеджер: Добрый день!\nКлиент: Сколько стоит «окно» 1\\2?\tПауза';
      const extra = { note: 'путь C:\\temp\\x', nested: { q: 'a"b' } };
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'voronka-bulk-'));
      const line = (o: unknown) => `${JSON.stringify(o)}\n`;
      fs.writeFileSync(path.join(dir, 'pipelines.jsonl'), line({ id: 'P', name: 'Продажи', entity: 'deal' }));
      fs.writeFileSync(
        path.join(dir, 'stages.jsonl'),
        line({ id: 'S', pipeline_id: 'P', name: 'Новая', sort: 1, semantic: 'open' }),
      );
      fs.writeFileSync(
        path.join(dir, 'contacts.jsonl'),
        line({
          id: 'K',
          name: 'Тёма\t"Т"',
          phones: ['+7 916 000-00-01', '8 (916) 000-00-02'],
          created_at: '2026-03-01T10:00:00+03:00',
        }),
      );
      fs.writeFileSync(
        path.join(dir, 'deals.jsonl'),
        line({
          id: 'D',
          title,
          pipeline_id: 'P',
          stage_id: 'S',
          amount: 10.5,
          contact_id: 'K',
          created_at: '2026-03-01T10:00:00+03:00',
          lost_reason: 'цена\\скидка',
          ...extra,
        }),
      );
      fs.writeFileSync(
        path.join(dir, 'calls.jsonl'),
        line({
          id: 'C',
          direction: 'in',
          started_at: '2026-03-02T10:00:00+03:00',
          duration_sec: 5,
          status: 'answered',
          client_phone: '79160000001',
          transcript,
        }),
      );
      const report = await importDirectory(db, { dir, logger: silentLogger, bulkLoadBytes: 0 });
      expect(report.rejected).toBe(0);
      const [deal] = await db.query<{ title: string; lost_reason: string; extra: unknown }>(
        `SELECT title, lost_reason, extra FROM deals WHERE id = 'D'`,
      );
      expect(deal).toEqual({ title, lost_reason: 'цена\\скидка', extra });
      const [contact] = await db.query<{ name: string; phones: string[] }>(
        `SELECT name, phones FROM contacts WHERE id = 'K'`,
      );
      expect(contact).toEqual({ name: 'Тёма\t"Т"', phones: ['79160000001', '79160000002'] });
      const [call] = await db.query<{ transcript: unknown }>(`SELECT transcript FROM calls WHERE id = 'C'`);
      expect(call?.transcript).toBe(transcript);
    } finally {
      await db.dispose();
    }
  });

  it('a failed load rolls back whole, indexes intact', async () => {
    const db = await createTestDb(driver);
    try {
      const before = await indexes(db);
      const writer = openBulkWriter(db, 0, true);
      const spec = entitySpecs.calls;
      await writer.begin(spec, 1);
      const good = {
        id: 'CLX',
        direction: 'in',
        started_at: '2026-03-01T10:00:00.000Z',
        duration_sec: 5,
        status: 'answered',
        client_phone: '79160000000',
      };
      const first = writer.write(spec, [copyLine(spec, good)], []);
      // NOT NULL violated: the importer never sends this, the database refuses it.
      const second = writer.write(spec, [copyLine(spec, { ...good, id: 'CLY', direction: null })], []);
      await expect(first).resolves.toMatchObject({ inserted: 1 });
      await expect(second).rejects.toThrow();
      await writer.close();
      expect(await db.query('SELECT id FROM calls')).toEqual([]);
      expect(await indexes(db)).toEqual(before);
    } finally {
      await db.dispose();
    }
  });
});

/*
 * A bulk load derives the call flags while rewriting the new calls, and skips
 * the per-statement rollup marks; the batch-by-batch path updates the flags
 * and marks as it goes. On the small demo company both must end with the same
 * flags, last activity and rollups.
 */
const derived = [
  'SELECT id, is_new, callback_at, answered_after_at FROM calls ORDER BY id',
  'SELECT id, last_activity_at FROM leads ORDER BY id',
  'SELECT id, last_activity_at FROM deals ORDER BY id',
  'SELECT * FROM call_days r ORDER BY r',
  'SELECT * FROM call_line_days r ORDER BY r',
  'SELECT * FROM activity_days r ORDER BY r',
  'SELECT * FROM call_months r ORDER BY r',
  'SELECT * FROM activity_months r ORDER BY r',
  'SELECT * FROM delay_months r ORDER BY r',
  'SELECT * FROM record_gaps r ORDER BY r',
  'SELECT * FROM deal_facts r ORDER BY r',
  'SELECT * FROM deal_stays r ORDER BY r',
  'SELECT * FROM deal_rollup r ORDER BY r',
  'SELECT * FROM deal_stay_rollup r ORDER BY r',
  'SELECT * FROM lead_responses r ORDER BY r',
  'SELECT * FROM lead_cohort_rollup r ORDER BY r',
  'SELECT * FROM lead_reach_rollup r ORDER BY r',
  'SELECT * FROM lead_sale_rollup r ORDER BY r',
];

describe.each(drivers)('bulk load of the demo on %s', (driver) => {
  let bulk: TestDb;
  let batched: TestDb;
  beforeAll(async () => {
    [bulk, batched] = await Promise.all([createTestDb(driver), createTestDb(driver)]);
  });
  afterAll(async () => {
    await Promise.all([bulk?.dispose(), batched?.dispose()]);
  });

  it('derives the same call flags, last activity and rollups as the batch-by-batch path', async () => {
    await loadDemo(bulk, forced);
    await loadDemo(batched, { bulkLoadBytes: Number.POSITIVE_INFINITY });
    const [flagged] = await bulk.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM calls WHERE is_new OR callback_at IS NOT NULL`,
    );
    expect(flagged!.n).toBeGreaterThan(1000);
    for (const sql of derived) expect(await bulk.query(sql), sql).toEqual(await batched.query(sql));
  }, 240_000);
});
