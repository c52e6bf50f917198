import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { importDirectory } from '../../src/ingest/import.ts';
import { type SyncDeps, syncSource, syncStatus, syncStatusText } from '../../src/ingest/sync.ts';
import { silentLogger } from '../../src/logger.ts';
import { b24Time, FakePortal } from '../fixtures/bitrix24/fake-portal.ts';
import { countRows, dumpCanonical, virtualClock, writeJsonl } from '../fixtures/bitrix24/sync-helpers.ts';
import { buildBitrixWorld } from '../fixtures/bitrix24/world.ts';
import { createTestDb, drivers, type TestDb } from '../helpers/db.ts';

// Whole syncs against a real database: generous for loaded CI machines.
vi.setConfig({ testTimeout: 180_000 });

type Rec = Record<string, unknown>;

async function importTruth(db: TestDb, truth: Record<string, Rec[]>) {
  const report = await importDirectory(db, { dir: writeJsonl(truth), logger: silentLogger });
  expect(report.firstRejects).toEqual([]);
}

describe.each(drivers)('Bitrix24 sync on %s', (driver) => {
  const clock = virtualClock();
  const world = buildBitrixWorld(7, 1);
  const portal = new FakePortal(world.data, clock.ms);
  let synced: TestDb;
  let imported: TestDb;
  const analysed: string[][] = [];
  let deps: SyncDeps;
  let cfg: { webhookUrl: string; appToken: string };

  beforeAll(async () => {
    [synced, imported] = await Promise.all([createTestDb(driver), createTestDb(driver)]);
    cfg = { webhookUrl: await portal.start(), appToken: 'app-token-1' };
    deps = {
      db: synced,
      logger: silentLogger,
      now: clock.now,
      sleep: clock.sleep,
      onCallsStored: async (ids) => {
        analysed.push(ids);
      },
    };
  });
  afterAll(async () => {
    await portal.stop();
    await synced?.dispose();
    await imported?.dispose();
  });

  it('a full sync gives the same tables as importing the same facts as JSONL, within the rate limit', async () => {
    const started = clock.ms();
    const report = await syncSource(deps, 'bitrix24', cfg, { full: true });
    await importTruth(imported, world.truth);
    expect(await dumpCanonical(synced)).toEqual(await dumpCanonical(imported));
    expect(report.rejected).toBe(0);
    expect(report.mode).toBe('full');

    // The leaky bucket was respected: the portal never had to refuse, and past the burst of 50 requests went at 2/s.
    expect(portal.limitRefusals).toBe(0);
    const elapsedSec = (clock.ms() - started) / 1000;
    expect(elapsedSec).toBeGreaterThanOrEqual((portal.httpRequests - 50) / 2);
    // Lists went through batch: far fewer HTTP requests than 50-record pages. Comments are listed per
    // lead or deal (crm.timeline.comment.list needs ENTITY_ID), 50 of them per request.
    const commentRequests = new Set(portal.methodCalls('crm.timeline.comment.list').map((c) => c.http)).size;
    expect(commentRequests).toBe(Math.ceil((world.data.leads.length + world.data.deals.length) / 50));
    const d = world.data;
    const lists = [
      d.companies,
      d.contacts,
      d.leads,
      d.deals,
      d.leadHistory,
      d.dealHistory,
      d.activities,
      d.stats,
      d.tasks,
    ];
    const pages = lists.reduce((n, l) => n + Math.ceil(l.length / 50), 0);
    expect(portal.httpRequests - commentRequests).toBeLessThan(pages / 5);

    // Full exports used the fast mode: id windows with start=-1 and no count.
    const leadCalls = portal.methodCalls('crm.lead.list');
    expect(
      leadCalls.some((c) => c.params.start === '-1' && (c.params.filter as Rec)['<=ID'] !== undefined),
    ).toBe(true);
    // PHONE (a multi-field) was asked for explicitly for contacts.
    expect(
      portal.methodCalls('crm.contact.list').every((c) => (c.params.select as string[]).includes('PHONE')),
    ).toBe(true);
    // Every new call went to analysis once.
    expect(new Set(analysed.flat()).size).toBe(world.truth.calls!.length);

    const [status] = await syncStatus(synced);
    expect(status).toMatchObject({ source: 'bitrix24', status: 'ok', lastError: null, pending: null });
  });

  it('a closed deal takes its close time from MOVED_TIME or the stage history, never CLOSEDATE', async () => {
    const noMoved = world.data.deals.find((d) => d.MOVED_TIME === null)!;
    const [row] = await synced.query<{ closed_at: Date; stage_id: string }>(
      `SELECT closed_at, stage_id FROM deals WHERE id = $1`,
      [noMoved.ID],
    );
    const last = world.data.dealHistory.filter((h) => String(h.OWNER_ID) === noMoved.ID).at(-1)!;
    expect(row!.closed_at.toISOString()).toBe(new Date(String(last.CREATED_TIME)).toISOString());
    // The second funnel's "Успешно: ждём оплату" is open; C2:WON is won.
    const stages = await synced.query<{ id: string; semantic: string }>(
      `SELECT id, semantic FROM stages WHERE id IN ('C2:PREPARATION', 'C2:WON', 'lead:CONVERTED', 'lead:JUNK') ORDER BY id`,
    );
    expect(stages).toEqual([
      { id: 'C2:PREPARATION', semantic: 'open' },
      { id: 'C2:WON', semantic: 'won' },
      { id: 'lead:CONVERTED', semantic: 'won' },
      { id: 'lead:JUNK', semantic: 'lost' },
    ]);
  });

  it('an incremental sync reads only what changed since the last one, and a replay changes nothing', async () => {
    clock.advance(3600_000);
    const now = clock.ms();
    const { data, truth } = world;
    // A lead is converted into a new deal; an open deal of the second funnel is won.
    const lead = data.leads.find((l) => l.STATUS_ID === 'IN_PROCESS')!;
    Object.assign(lead, {
      STATUS_ID: 'CONVERTED',
      STATUS_SEMANTIC_ID: 'S',
      MOVED_TIME: b24Time(now - 600_000),
      DATE_MODIFY: b24Time(now - 600_000),
    });
    const lastLeadHist = Number(data.leadHistory.at(-1)!.ID);
    data.leadHistory.push({
      ID: lastLeadHist + 1,
      TYPE_ID: 3,
      OWNER_ID: Number(lead.ID),
      CREATED_TIME: b24Time(now - 600_000),
      STATUS_SEMANTIC_ID: 'S',
      STATUS_ID: 'CONVERTED',
    });
    const newDealId = String(Number(data.deals.at(-1)!.ID) + 4);
    data.deals.push({
      ...data.deals[0]!,
      ID: newDealId,
      TITLE: 'Сделка из лида',
      STAGE_ID: 'NEW',
      CATEGORY_ID: '0',
      STAGE_SEMANTIC_ID: 'P',
      LEAD_ID: lead.ID,
      CONTACT_ID: '0',
      COMPANY_ID: '0',
      OPPORTUNITY: '150000.00',
      DATE_CREATE: b24Time(now - 500_000),
      DATE_MODIFY: b24Time(now - 500_000),
      MOVED_TIME: b24Time(now - 500_000),
      CLOSED: 'N',
    });
    const lastDealHist = Number(data.dealHistory.at(-1)!.ID);
    data.dealHistory.push({
      ID: lastDealHist + 1,
      TYPE_ID: 1,
      OWNER_ID: Number(newDealId),
      CREATED_TIME: b24Time(now - 500_000),
      CATEGORY_ID: 0,
      STAGE_SEMANTIC_ID: 'P',
      STAGE_ID: 'NEW',
    });
    const openDeal = data.deals.find((d) => d.STAGE_ID === 'C2:NEW')!;
    Object.assign(openDeal, {
      STAGE_ID: 'C2:WON',
      STAGE_SEMANTIC_ID: 'S',
      CLOSED: 'Y',
      MOVED_TIME: b24Time(now - 300_000),
      DATE_MODIFY: b24Time(now - 300_000),
    });
    data.dealHistory.push({
      ID: lastDealHist + 2,
      TYPE_ID: 3,
      OWNER_ID: Number(openDeal.ID),
      CREATED_TIME: b24Time(now - 300_000),
      CATEGORY_ID: 2,
      STAGE_SEMANTIC_ID: 'S',
      STAGE_ID: 'C2:WON',
    });
    // A comment on a deal that is otherwise unchanged moves its LAST_ACTIVITY_TIME only.
    const quietDeal = data.deals.find(
      (d) => d.STAGE_SEMANTIC_ID === 'P' && d !== openDeal && d.ID !== newDealId,
    )!;
    quietDeal.LAST_ACTIVITY_TIME = b24Time(now - 200_000);
    data.comments.push({
      ID: '9001',
      ENTITY_ID: quietDeal.ID,
      ENTITY_TYPE: 'deal',
      CREATED: b24Time(now - 200_000),
      COMMENT: 'Договорились о замере',
      AUTHOR_ID: '11',
      FILES: {},
    });
    // A new finished call.
    const stat = {
      ...data.stats.at(-1)!,
      ID: String(data.stats.length + 1),
      CALL_ID: 'externalCall.new.1',
      CALL_START_DATE: b24Time(now - 100_000),
      CALL_FAILED_CODE: '304',
      CALL_DURATION: '0',
      CALL_TYPE: '2',
      CRM_ACTIVITY_ID: null,
      CRM_ENTITY_TYPE: '',
      CRM_ENTITY_ID: null,
      PORTAL_NUMBER: '74951234567',
      PORTAL_USER_ID: '12',
      CALL_RECORD_URL: '',
    } as Rec;
    data.stats.push(stat);

    const leadTruth = truth.leads!.find((l) => l.id === lead.ID)!;
    Object.assign(leadTruth, {
      stage_id: 'lead:CONVERTED',
      closed_at: b24Time(now - 600_000),
      deal_id: newDealId,
    });
    truth.deals!.push({
      id: newDealId,
      title: 'Сделка из лида',
      pipeline_id: 'deal:0',
      stage_id: 'NEW',
      manager_id: data.deals[0]!.ASSIGNED_BY_ID,
      amount: 150000,
      currency: 'RUB',
      source_id: data.deals[0]!.SOURCE_ID,
      lead_id: lead.ID,
      contact_id: null,
      company_id: null,
      created_at: b24Time(now - 500_000),
      closed_at: null,
      lost_reason: null,
    });
    Object.assign(truth.deals!.find((d) => d.id === openDeal.ID)!, {
      stage_id: 'C2:WON',
      closed_at: b24Time(now - 300_000),
    });
    truth.stage_history!.push(
      {
        entity: 'lead',
        entity_id: lead.ID,
        stage_id: 'lead:CONVERTED',
        at: b24Time(now - 600_000),
        manager_id: null,
      },
      { entity: 'deal', entity_id: newDealId, stage_id: 'NEW', at: b24Time(now - 500_000), manager_id: null },
      {
        entity: 'deal',
        entity_id: openDeal.ID,
        stage_id: 'C2:WON',
        at: b24Time(now - 300_000),
        manager_id: null,
      },
    );
    truth.activities!.push({
      id: 'comment:9001',
      type: 'comment',
      entity: 'deal',
      entity_id: quietDeal.ID,
      manager_id: '11',
      created_at: b24Time(now - 200_000),
      deadline: null,
      completed_at: b24Time(now - 200_000),
    });
    truth.calls!.push({
      id: 'externalCall.new.1',
      direction: 'in',
      started_at: b24Time(now - 100_000),
      answered_at: null,
      ended_at: null,
      duration_sec: 0,
      status: 'missed',
      manager_id: '12',
      client_phone: stat.PHONE_NUMBER,
      line_number: '74951234567',
      entity: null,
      entity_id: null,
      recording_url: null,
      transcript: null,
    });

    const before = portal.httpRequests;
    const logFrom = portal.log.length;
    analysed.length = 0;
    const report = await syncSource(deps, 'bitrix24', cfg);
    expect(report.mode).toBe('incremental');
    await importTruth(imported, truth);
    expect(await dumpCanonical(synced)).toEqual(await dumpCanonical(imported));
    // Cheap: a handful of HTTP requests, CRM lists filtered by modification date.
    expect(portal.httpRequests - before).toBeLessThan(30);
    const newCalls = portal.log.slice(logFrom);
    const dealList = newCalls.find((c) => c.method === 'crm.deal.list')!;
    expect(Object.keys(dealList.params.filter as Rec)).toContain('>=DATE_MODIFY');
    // The two changed deals, and the commented one through LAST_ACTIVITY_TIME.
    expect(report.fetched.deals).toBe(2 + 1);
    expect(analysed.flat()).toEqual(['externalCall.new.1']);

    // The same run again: nothing new in the portal, nothing written.
    const again = await syncSource(deps, 'bitrix24', cfg);
    for (const c of Object.values(again.counts)) expect(c.inserted + c.updated + c.deleted).toBe(0);
    expect(await dumpCanonical(synced)).toEqual(await dumpCanonical(imported));
  });
});

describe.each(drivers)('Bitrix24 sync failures on %s', (driver) => {
  const world = buildBitrixWorld(11, 0.25);
  let db: TestDb;
  let imported: TestDb;

  beforeAll(async () => {
    [db, imported] = await Promise.all([createTestDb(driver), createTestDb(driver)]);
    await importTruth(imported, world.truth);
  });
  afterAll(async () => {
    await db?.dispose();
    await imported?.dispose();
  });

  it('backs off on QUERY_LIMIT_EXCEEDED and OPERATION_TIME_LIMIT and still completes', async () => {
    const clock = virtualClock();
    const portal = new FakePortal(world.data, clock.ms);
    const url = await portal.start();
    let limited = 0;
    let timeLimited = 0;
    portal.faults.push(({ method, http }) => {
      // Another application on the same address spends the budget: three refusals in a row.
      if (method === 'batch' && http >= 4 && limited < 3) {
        limited++;
        return {
          status: 503,
          body: { error: 'QUERY_LIMIT_EXCEEDED', error_description: 'Too many requests' },
        };
      }
      return undefined;
    });
    portal.faults.push(({ method }) => {
      if (method === 'crm.deal.list' && timeLimited < 1) {
        timeLimited++;
        return {
          status: 429,
          body: {
            error: 'OPERATION_TIME_LIMIT',
            error_description: 'Method is blocked due to operation time limit',
          },
        };
      }
      return undefined;
    });
    try {
      const report = await syncSource(
        { db, logger: silentLogger, now: clock.now, sleep: clock.sleep },
        'bitrix24',
        { webhookUrl: url, appToken: undefined },
      );
      expect(limited).toBe(3);
      expect(timeLimited).toBe(1);
      expect(report.rejected).toBe(0);
      // Backoff 1 s + 2 s + 4 s, and the blocked method paused a minute before its next call.
      expect(clock.slept()).toBeGreaterThanOrEqual(7_000 + 60_000);
      expect(await dumpCanonical(db)).toEqual(await dumpCanonical(imported));
    } finally {
      await portal.stop();
    }
  });

  it('a failure mid-sync is recorded and the next run resumes from the cursor without duplicates', async () => {
    await db.exec(
      `TRUNCATE leads, deals, contacts, companies, contact_phones, stage_history, activities, tasks, calls, sync_state`,
    );
    const clock = virtualClock();
    const portal = new FakePortal(world.data, clock.ms);
    const url = await portal.start();
    let broken = true;
    portal.faults.push(({ method, params }) => {
      // The portal fails on the second page of call statistics.
      const filter = params.FILTER as Rec | undefined;
      if (broken && method === 'voximplant.statistic.get' && filter && Number(filter['>ID']) > 0) {
        return {
          status: 500,
          body: { error: 'INTERNAL_SERVER_ERROR', error_description: 'Internal server error' },
        };
      }
      return undefined;
    });
    const deps = { db, logger: silentLogger, now: clock.now, sleep: clock.sleep };
    const cfg = { webhookUrl: url, appToken: undefined };
    try {
      await expect(syncSource(deps, 'bitrix24', cfg, { flushAt: 200 })).rejects.toThrow();
      const [failed] = await syncStatus(db);
      expect(failed!.status).toBe('error');
      expect(failed!.lastError).toMatch(/voximplant\.statistic\.get: INTERNAL_SERVER_ERROR/);
      expect(failed!.pending).toMatchObject({ mode: 'full' });
      expect(syncStatusText([failed!], 'Europe/Moscow')).toMatch(
        /^Битрикс24: ошибка 10\.03, 12:00; последняя успешная — —; прервана полная синхронизация: 9 из 11 частей, продолжится с места остановки; причина: voximplant\.statistic\.get: INTERNAL_SERVER_ERROR/,
      );
      // What was read before the failure is stored: every earlier stream and the first page of calls.
      expect(await countRows(db, 'deals')).toBe(world.truth.deals!.length);
      expect(await countRows(db, 'calls')).toBe(50);

      broken = false;
      const logFrom = portal.log.length;
      const report = await syncSource(deps, 'bitrix24', cfg, { flushAt: 200 });
      expect(report.resumed).toBe(true);
      const resumedCalls = portal.log.slice(logFrom);
      // Finished streams are not read again; calls continue after the last stored one.
      expect(resumedCalls.some((c) => c.method === 'crm.deal.list' || c.method === 'crm.lead.list')).toBe(
        false,
      );
      const statCalls = resumedCalls.filter((c) => c.method === 'voximplant.statistic.get');
      expect(Math.min(...statCalls.map((c) => Number((c.params.FILTER as Rec)['>ID'])))).toBe(50);
      expect(await dumpCanonical(db)).toEqual(await dumpCanonical(imported));
      const [ok] = await syncStatus(db);
      expect(ok).toMatchObject({ status: 'ok', lastError: null, pending: null });
    } finally {
      await portal.stop();
    }
  });
});
