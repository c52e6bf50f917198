import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { importDirectory } from '../../src/ingest/import.ts';
import { silentLogger } from '../../src/logger.ts';
import { callTools } from '../../src/metrics/calls.ts';
import { managerTools } from '../../src/metrics/managers.ts';
import type { Caller, Envelope, ToolInput } from '../../src/metrics/types.ts';
import { createTestDb, drivers, type TestDb } from '../helpers/db.ts';

/*
 * The calls family reads settled days from the day rollups and the per-call
 * flags (new number, callback, answered after). These tests change the data
 * of test/fixtures/metrics-calls (see the table in test/metrics/calls.test.ts)
 * through later imports and check that March — long settled at now — follows.
 * Baseline March, by hand there: missed 5 (C03 C06 C09 C11 C13), called back 3
 * (C03 600 s, C09 86 400 s, C13 39 600 s), lost 1 (C06), new numbers 7, lost
 * new clients 1 (C06), 17 calls.
 */

const fixtureDir = fileURLToPath(new URL('../fixtures/metrics-calls', import.meta.url));
const NOW = new Date('2026-04-10T12:00:00+03:00');
const MARCH = { from: '2026-03-01', to: '2026-03-31' };
const ADMIN: Caller = { role: 'admin', managerId: null };

describe.each(drivers)('rollups follow later writes (%s)', (driver) => {
  let db: TestDb;
  let work: string;

  const run = (name: string, input: ToolInput, tz = 'Europe/Moscow'): Promise<Envelope> => {
    const t = [...callTools, ...managerTools].find((x) => x.name === name)!;
    return t.run({ db, caller: ADMIN, tz, now: NOW }, input);
  };

  /** Imports JSONL files given as {file: records}, the way a CRM sync writes a change. */
  const write = async (files: Record<string, unknown[]>) => {
    const dir = fs.mkdtempSync(path.join(work, 'change-'));
    for (const [file, records] of Object.entries(files)) {
      fs.writeFileSync(path.join(dir, file), records.map((r) => JSON.stringify(r)).join('\n'));
    }
    const report = await importDirectory(db, { dir, logger: silentLogger, tz: 'Europe/Moscow' });
    expect(report.rejected).toBe(0);
  };

  beforeAll(async () => {
    work = fs.mkdtempSync(path.join(os.tmpdir(), 'voronka-rollups-'));
    db = await createTestDb(driver);
    await importDirectory(db, { dir: fixtureDir, logger: silentLogger, tz: 'Europe/Moscow' });
  });

  afterAll(async () => {
    await db?.dispose();
    fs.rmSync(work, { recursive: true, force: true });
  });

  it('counts days in the company zone it is asked in, and back', async () => {
    // In Yekaterinburg (UTC+5) March ends at 19:00 UTC on 31 March: C13 (19:00 UTC) and C15
    // (20:30 UTC) fall into April there.
    expect((await run('calls_stats', { period: MARCH }, 'Asia/Yekaterinburg')).figures.calls).toBe(15);
    expect((await run('calls_stats', { period: MARCH })).figures.calls).toBe(17);
  });

  it('a new callback, a status change, a deletion and a new contact each change March', async () => {
    // An answered outgoing call to C06's number 30 min after it: called back and no longer lost.
    await write({
      'calls.jsonl': [
        {
          id: 'C30',
          direction: 'out',
          started_at: '2026-03-03T10:00:00+03:00',
          duration_sec: 45,
          status: 'answered',
          manager_id: 'M1',
          client_phone: '79250000005',
        },
      ],
    });
    let env = await run('missed_calls', { period: MARCH });
    expect(env.figures).toMatchObject({
      missed: 5,
      called_back: 4,
      // Delays 600, 1800, 39 600, 86 400: median (1800 + 39 600) / 2; p90 = 39 600 + 0.7 × 46 800.
      callback_delay_median: 20_700,
      callback_delay_p90: 72_360,
      lost_missed: 0,
      new_number_calls: 7,
      lost_new_clients: 0,
    });
    expect((await run('calls_stats', { period: MARCH })).figures.calls).toBe(18);

    // C09 turns out answered: one missed call fewer, and its 24 h callback goes with it.
    await write({
      'calls.jsonl': [
        {
          id: 'C09',
          direction: 'in',
          started_at: '2026-03-05T10:00:00+03:00',
          duration_sec: 60,
          status: 'answered',
          client_phone: '79160000002',
          line_number: '74959999999',
        },
      ],
    });
    env = await run('missed_calls', { period: MARCH });
    expect(env.figures).toMatchObject({
      missed: 4,
      called_back: 3,
      // Delays 600, 1800, 39 600: median 1800; p90 = 1800 + 0.8 × 37 800.
      callback_delay_median: 1800,
      callback_delay_p90: 32_040,
      lost_missed: 0,
    });

    // C05 deleted: C03's number had no other answered call within 24 h — C03 is lost, and it was new.
    await write({ 'calls.jsonl': [{ id: 'C05', deleted: true }] });
    env = await run('missed_calls', { period: MARCH });
    expect(env.figures).toMatchObject({ missed: 4, called_back: 3, lost_missed: 1, lost_new_clients: 1 });
    expect((await run('calls_stats', { period: MARCH })).figures.calls).toBe(17);

    // A contact created on 1 March lists C03's number: C03 is no longer a call from a new number.
    await write({
      'contacts.jsonl': [
        { id: 'K9', name: 'Новый Контакт', phones: ['79250000004'], created_at: '2026-03-01T09:00:00+03:00' },
      ],
    });
    env = await run('missed_calls', { period: MARCH });
    expect(env.figures).toMatchObject({ new_number_calls: 6, lost_missed: 1, lost_new_clients: 0 });
    expect((await run('calls_stats', { period: MARCH })).figures.new_number_calls).toBe(6);
  });

  it('a later activity on an unanswered lead changes the response speed', async () => {
    // March leads answered after 1200 s (L3), 1800 s (L1), 3600 s (L2); L4 had no response.
    expect((await run('calls_stats', { period: MARCH })).figures.first_response_median).toBe(1800);
    await write({
      'activities.jsonl': [
        {
          id: 'A9',
          type: 'email',
          entity: 'lead',
          entity_id: 'L4',
          manager_id: 'M3',
          created_at: '2026-03-05T09:00:00+03:00',
        },
      ],
    });
    // L4 answered after 3600 s: median of 1200, 1800, 3600, 3600.
    expect((await run('calls_stats', { period: MARCH })).figures.first_response_median).toBe(2700);
  });

  it('a completed meeting scores 5 for its manager the day it is completed, and leaves with its deletion', async () => {
    const score = async () => {
      const env = await run('manager_efficiency', { period: MARCH, group_by: 'manager' });
      const m3 = env.groups?.find((g) => g.key === 'M3');
      return { m3: m3?.figures.score ?? 0, company: env.figures.company_score ?? 0 };
    };
    const before = await score();
    const meeting = {
      id: 'A10',
      type: 'meeting',
      entity: 'lead',
      entity_id: 'L4',
      manager_id: 'M3',
      created_at: '2026-03-15T10:00:00+03:00',
      completed_at: '2026-03-15T11:00:00+03:00',
    };
    await write({ 'activities.jsonl': [meeting] });
    // Meeting weight 5 (METRICS.md "Балл активности").
    expect(await score()).toEqual({ m3: before.m3 + 5, company: before.company + 5 });
    // Completed in April instead: March loses it.
    await write({ 'activities.jsonl': [{ ...meeting, completed_at: '2026-04-02T11:00:00+03:00' }] });
    expect(await score()).toEqual(before);
    await write({ 'activities.jsonl': [{ ...meeting, completed_at: '2026-03-31T23:30:00+03:00' }] });
    expect(await score()).toEqual({ m3: before.m3 + 5, company: before.company + 5 });
    await write({ 'activities.jsonl': [{ id: 'A10', deleted: true }] });
    expect(await score()).toEqual(before);
  });
});
