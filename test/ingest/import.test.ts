import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { importDirectory } from '../../src/ingest/import.ts';
import { silentLogger } from '../../src/logger.ts';
import { createTestDb, drivers, type TestDb } from '../helpers/db.ts';

const basic = path.resolve('test/fixtures/import-basic');

function tmpDir(files: Record<string, string[]>): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'voronka-import-'));
  for (const [name, lines] of Object.entries(files))
    fs.writeFileSync(path.join(dir, name), `${lines.join('\n')}\n`);
  return dir;
}

const tables = [
  'departments',
  'managers',
  'pipelines',
  'stages',
  'sources',
  'phone_lines',
  'companies',
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

describe.each(drivers)('import on %s', (driver) => {
  let db: TestDb;
  beforeAll(async () => {
    db = await createTestDb(driver);
  });
  afterAll(async () => {
    await db?.dispose();
  });

  it('loads good records and rejects each bad one with file, line and reason', async () => {
    const rejectsFile = path.join(os.tmpdir(), `rejects-${driver}-${Date.now()}.jsonl`);
    const report = await importDirectory(db, { dir: basic, logger: silentLogger, rejectsFile });
    // In load order; an earlier duplicate line is reported once its file is done.
    const got = report.firstRejects.map((r) => `${r.file}:${r.line}: ${r.reason}`);
    expect(got).toEqual([
      'oportunities.jsonl:0: unknown file',
      'managers.jsonl:3: dangling reference: department_id → departments "D9"',
      'stages.jsonl:8: dangling reference: pipeline_id → pipelines "NOPE"',
      expect.stringMatching(/^contacts\.jsonl:2: created_at: timestamp without an offset/),
      // L2 points at M3, which was rejected in the same import; L3 at the rejected contact K2.
      'leads.jsonl:2: dangling reference: manager_id → managers "M3"',
      'leads.jsonl:3: dangling reference: contact_id → contacts "K2"',
      expect.stringMatching(/^deals\.jsonl:2: amount: /),
      'stage_history.jsonl:3: dangling reference: entity_id → deals "DL404"',
      expect.stringMatching(/^activities\.jsonl:2: type: .*calls go to calls\.jsonl/),
      'tasks.jsonl:1: dangling reference: entity_id → leads "L3"',
      'tasks.jsonl:2: missing required field responsible_id',
      expect.stringMatching(/^calls\.jsonl:3: started_at: timestamp without an offset/),
      expect.stringMatching(/^calls\.jsonl:6: direction: /),
      expect.stringMatching(/^calls\.jsonl:7: invalid JSON/),
      'calls.jsonl:8: dangling reference: manager_id → managers "M404"',
      'calls.jsonl:4: duplicate id',
      expect.stringMatching(/^plans\.jsonl:3: month: month must be YYYY-MM/),
    ]);
    expect(report.rejected).toBe(17);
    expect(report.warnings).toEqual(['README.md: not a .jsonl file, ignored']);

    // The reject file holds every reject with the record as it was.
    const lines = fs
      .readFileSync(rejectsFile, 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(lines).toHaveLength(17);
    const dup = lines.find((l) => l.file === 'calls.jsonl' && l.line === 4);
    expect(dup).toMatchObject({ reason: 'duplicate id', record: { id: 'CL4', status: 'missed' } });
    expect(lines.find((l) => l.line === 7 && l.file === 'calls.jsonl').record).toBe('not json at all');

    // The rest went in: the later CL4 line won, departments resolved whatever the line order.
    const calls = await db.query<{ id: string; status: string }>('SELECT id, status FROM calls ORDER BY id');
    expect(calls).toEqual([
      { id: 'CL1', status: 'missed' },
      { id: 'CL2', status: 'answered' },
      { id: 'CL4', status: 'busy' },
    ]);
    const deps = await db.query('SELECT id, parent_id FROM departments ORDER BY id');
    expect(deps).toEqual([
      { id: 'D0', parent_id: null },
      { id: 'D1', parent_id: 'D0' },
      { id: 'D2', parent_id: 'D0' },
    ]);
    expect(report.counts.calls).toMatchObject({ inserted: 3, rejected: 5 });
  });

  it('normalizes phones, keeps unknown fields and money exactly', async () => {
    const [call] = await db.query<{ client_phone: string; line_number: string }>(
      `SELECT client_phone, line_number FROM calls WHERE id = 'CL1'`,
    );
    expect(call).toEqual({ client_phone: '79161234567', line_number: '74951112233' });
    const [m] = await db.query<{ extra: unknown }>(`SELECT extra FROM managers WHERE id = 'M2'`);
    expect(m?.extra).toEqual({ telegram: '@marina' });
    const [d] = await db.query<{ amount: number }>(`SELECT amount FROM deals WHERE id = 'DL1'`);
    expect(d?.amount).toBe(150000.5);
    const phones = await db.query('SELECT phone, contact_id FROM contact_phones');
    expect(phones).toEqual([{ phone: '79161234567', contact_id: 'K1' }]);
  });

  it('keeps last activity current: a call to the contact phone counts for the deal', async () => {
    // DL3 (contact K1) was created 3 March, had a meeting completed 5 March, and K1's phone
    // got an outgoing call at 10 March 11:20 Moscow = 08:20 UTC: that is its last activity.
    const rows = await db.query<{ id: string; last_activity_at: Date }>(
      'SELECT id, last_activity_at FROM deals ORDER BY id',
    );
    expect(rows.map((r) => [r.id, r.last_activity_at.toISOString()])).toEqual([
      ['DL1', '2026-03-20T09:00:00.000Z'],
      ['DL3', '2026-03-10T08:20:00.000Z'],
    ]);
  });

  it('is idempotent: a second import changes nothing', async () => {
    const before = await dump(db);
    const report = await importDirectory(db, { dir: basic, logger: silentLogger });
    expect(await dump(db)).toEqual(before);
    for (const c of Object.values(report.counts)) {
      expect(c.inserted).toBe(0);
      expect(c.updated).toBe(0);
    }
    expect(report.counts.calls?.unchanged).toBe(3);
  });

  it('updates a record that comes again with the same id, and deletes on "deleted": true', async () => {
    const dir = tmpDir({
      'deals.jsonl': [
        '{"id":"DL3","pipeline_id":"PD","stage_id":"D_WON","manager_id":"M2","amount":95000,"contact_id":"K1","created_at":"2026-03-03T09:00:00+03:00","closed_at":"2026-04-01T10:00:00+03:00"}',
      ],
      'calls.jsonl': ['{"id":"CL1","deleted":true}'],
    });
    const report = await importDirectory(db, { dir, logger: silentLogger });
    expect(report.rejected).toBe(0);
    expect(report.counts.deals).toMatchObject({ inserted: 0, updated: 1 });
    expect(report.counts.calls).toMatchObject({ deleted: 1 });
    const [d] = await db.query(`SELECT stage_id, amount FROM deals WHERE id = 'DL3'`);
    expect(d).toEqual({ stage_id: 'D_WON', amount: 95000 });
    expect(await db.query(`SELECT id FROM calls WHERE id = 'CL1'`)).toEqual([]);
  });

  it('a deleted record cannot be referred to, in the same import or later', async () => {
    const dir = tmpDir({
      'deals.jsonl': ['{"id":"DL1","deleted":true}'],
      'activities.jsonl': [
        '{"id":"A9","type":"email","entity":"deal","entity_id":"DL1","created_at":"2026-04-02T10:00:00+03:00"}',
      ],
    });
    const report = await importDirectory(db, { dir, logger: silentLogger });
    expect(report.firstRejects.map((r) => `${r.file}:${r.line}: ${r.reason}`)).toEqual([
      'activities.jsonl:1: dangling reference: entity_id → deals "DL1"',
    ]);
    expect(await db.query(`SELECT id FROM deals WHERE id = 'DL1'`)).toEqual([]);
    // Its stage history went with it.
    expect(await db.query(`SELECT * FROM stage_history WHERE entity_id = 'DL1'`)).toEqual([]);
    const later = tmpDir({
      'tasks.jsonl': [
        '{"id":"T9","responsible_id":"M1","created_at":"2026-04-02T10:00:00+03:00","entity":"deal","entity_id":"DL1"}',
      ],
    });
    const r2 = await importDirectory(db, { dir: later, logger: silentLogger });
    expect(r2.firstRejects[0]?.reason).toBe('dangling reference: entity_id → deals "DL1"');
  });

  it('accepts references to records already in the database, and identical duplicate lines', async () => {
    const line =
      '{"id":"CL9","direction":"out","started_at":"2026-04-03T10:00:00Z","duration_sec":0,"status":"no_answer","client_phone":"79161234567","manager_id":"M1","entity":"deal","entity_id":"DL3"}';
    const dir = tmpDir({ 'calls.jsonl': [line, line] });
    const report = await importDirectory(db, { dir, logger: silentLogger });
    expect(report.rejected).toBe(0);
    expect(report.counts.calls).toMatchObject({ inserted: 1 });
  });

  it('keeps an admin override of a stage semantic across re-imports', async () => {
    await db.query(`UPDATE stages SET semantic_override = 'won', semantic = 'won' WHERE id = 'D_KP'`);
    await importDirectory(db, { dir: basic, logger: silentLogger });
    const [s] = await db.query(`SELECT semantic, imported_semantic FROM stages WHERE id = 'D_KP'`);
    expect(s).toEqual({ semantic: 'won', imported_semantic: 'open' });
  });
});
