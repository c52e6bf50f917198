import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { importDirectory } from '../../src/ingest/import.ts';
import { crmWebhookRoutes, type SyncDeps, syncSource, syncStatus } from '../../src/ingest/sync.ts';
import { silentLogger } from '../../src/logger.ts';
import { createHttpServer, type HttpServer } from '../../src/server/http.ts';
import { amoWebhookBody, FakeAmocrm } from '../fixtures/amocrm/fake-amocrm.ts';
import { AMO_T0, buildAmoWorld } from '../fixtures/amocrm/world.ts';
import { countRows, dumpCanonical, virtualClock, writeJsonl } from '../fixtures/bitrix24/sync-helpers.ts';
import { createTestDb, drivers, type TestDb } from '../helpers/db.ts';

// Whole syncs against a real database: generous for loaded CI machines.
vi.setConfig({ testTimeout: 180_000 });

type Rec = Record<string, unknown>;

async function importTruth(db: TestDb, truth: Record<string, Rec[]>) {
  const report = await importDirectory(db, { dir: writeJsonl(truth), logger: silentLogger });
  expect(report.firstRejects).toEqual([]);
}

describe.each(drivers)('amoCRM sync on %s', (driver) => {
  const clock = virtualClock();
  const world = buildAmoWorld();
  const amo = new FakeAmocrm(world.data, clock.ms);
  let synced: TestDb;
  let imported: TestDb;
  let deps: SyncDeps;
  let cfg: { baseUrl: string; token: string; webhookSecret: string };
  const analysed: string[][] = [];

  beforeAll(async () => {
    [synced, imported] = await Promise.all([createTestDb(driver), createTestDb(driver)]);
    cfg = { baseUrl: await amo.start(), token: amo.token, webhookSecret: 'hook-secret-42' };
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
    await amo.stop();
    await synced?.dispose();
    await imported?.dispose();
  });

  it('a full sync gives the same tables as importing the same facts as JSONL, at most 7 requests a second', async () => {
    const report = await syncSource(deps, 'amocrm', cfg, { full: true });
    await importTruth(imported, world.truth);
    expect(await dumpCanonical(synced)).toEqual(await dumpCanonical(imported));
    expect(report.rejected).toBe(0);
    expect(amo.refusals).toBe(0);
    // Pages of 250 (events: 100) with _links.next; the 300 leads edited in one second took two pages of one anchor.
    const leadPages = amo.requests('/api/v4/leads');
    expect(
      leadPages.every((r) => r.query.limit === '250' && (r.query.order as Rec).updated_at === 'asc'),
    ).toBe(true);
    expect(leadPages.some((r) => r.query.page === '2')).toBe(true);
    expect(amo.requests('/api/v4/events').every((r) => r.query.limit === '100')).toBe(true);
    expect(new Set(analysed.flat()).size).toBe(world.truth.calls!.length);
    // 142 and 143 close every pipeline: one stage per (pipeline, status).
    const won = await synced.query(`SELECT id, pipeline_id FROM stages WHERE semantic = 'won' ORDER BY id`);
    expect(won).toEqual([
      { id: '3398059:142', pipeline_id: '3398059' },
      { id: '3398060:142', pipeline_id: '3398060' },
    ]);
  });

  it('an incremental sync asks for records updated since the last one; a replay changes nothing', async () => {
    clock.advance(3600_000);
    const now = Math.floor(clock.ms() / 1000);
    const lead = world.data.leads.find((l) => l.status_id === 34604122)!;
    Object.assign(lead, { status_id: 142, updated_at: now - 300, closed_at: now - 300 });
    world.data.events.push({
      id: '01hnewwonevent',
      type: 'lead_status_changed',
      entity_id: lead.id,
      entity_type: 'lead',
      created_by: lead.responsible_user_id,
      created_at: now - 300,
      value_after: [{ lead_status: { id: 142, pipeline_id: lead.pipeline_id } }],
      value_before: [{ lead_status: { id: 34604122, pipeline_id: lead.pipeline_id } }],
      account_id: 29085955,
    });
    world.data.notes.contacts.push({
      id: 88_000_001,
      entity_id: world.data.contacts[0]!.id,
      created_by: 6412346,
      updated_by: 6412346,
      created_at: now - 200,
      updated_at: now - 200,
      responsible_user_id: 6412346,
      group_id: 0,
      note_type: 'call_in',
      params: {
        uniq: 'uniq-new',
        duration: 0,
        source: 'Sipuni',
        link: '',
        phone: '+7 916 000-11-22',
        call_status: 6,
        call_result: '',
      },
      account_id: 29085955,
    });
    const dealTruth = world.truth.deals!.find((d) => d.id === String(lead.id))!;
    Object.assign(dealTruth, {
      stage_id: `${lead.pipeline_id}:142`,
      closed_at: new Date((now - 300) * 1000).toISOString(),
    });
    world.truth.stage_history!.push({
      entity: 'deal',
      entity_id: String(lead.id),
      stage_id: `${lead.pipeline_id}:142`,
      at: new Date((now - 300) * 1000).toISOString(),
      manager_id: String(lead.responsible_user_id),
    });
    world.truth.calls!.push({
      id: '88000001',
      direction: 'in',
      started_at: new Date((now - 200) * 1000).toISOString(),
      answered_at: null,
      ended_at: null,
      duration_sec: 0,
      status: 'missed',
      manager_id: '6412346',
      client_phone: '+7 916 000-11-22',
      line_number: null,
      entity: 'contact',
      entity_id: String(world.data.contacts[0]!.id),
      recording_url: null,
      transcript: null,
    });

    const logFrom = amo.log.length;
    analysed.length = 0;
    const report = await syncSource(deps, 'amocrm', cfg);
    expect(report.mode).toBe('incremental');
    await importTruth(imported, world.truth);
    expect(await dumpCanonical(synced)).toEqual(await dumpCanonical(imported));
    const leadReq = amo.log.slice(logFrom).find((r) => r.path === '/api/v4/leads')!;
    expect(Number(((leadReq.query.filter as Rec).updated_at as Rec).from)).toBeGreaterThanOrEqual(AMO_T0);
    expect(analysed.flat()).toEqual(['88000001']);
    // Only the newest records were read again: the leads at the last anchor plus the changed one.
    expect(report.fetched.leads).toBeLessThan(20);

    const again = await syncSource(deps, 'amocrm', cfg);
    for (const c of Object.values(again.counts)) expect(c.inserted + c.updated + c.deleted).toBe(0);
    const [status] = await syncStatus(synced);
    expect(status).toMatchObject({ source: 'amocrm', status: 'ok', lastError: null });
  });

  it('answers 429 with backoff and treats 204 as an empty page', async () => {
    const db = await createTestDb(driver);
    const local = virtualClock();
    const fake = new FakeAmocrm(world.data, local.ms);
    const url = await fake.start();
    let tooMany = 0;
    fake.faults.push(({ path }) => {
      if (path === '/api/v4/contacts' && tooMany < 2) {
        tooMany++;
        return { status: 429, body: { title: 'Too Many Requests', status: 429 } };
      }
      return undefined;
    });
    try {
      await syncSource({ db, logger: silentLogger, now: local.now, sleep: local.sleep }, 'amocrm', {
        baseUrl: url,
        token: fake.token,
        webhookSecret: undefined,
      });
      expect(tooMany).toBe(2);
      expect(local.slept()).toBeGreaterThanOrEqual(1000 + 2000);
      // The companies' notes list is empty: amoCRM answers 204 and the stream simply ends.
      expect(fake.requests('/api/v4/companies/notes')).toHaveLength(1);
      expect(await countRows(db, 'deals')).toBe(world.data.leads.length);
    } finally {
      await fake.stop();
      await db.dispose();
    }
  });

  it('a failure mid-sync is recorded; the next run resumes after the last stored page without duplicates', async () => {
    const fresh = buildAmoWorld();
    const [db, expected] = await Promise.all([createTestDb(driver), createTestDb(driver)]);
    const local = virtualClock();
    const fake = new FakeAmocrm(fresh.data, local.ms);
    const url = await fake.start();
    let broken = true;
    fake.faults.push(({ path, query }) => {
      // The account fails on every page of leads after the first one.
      const from = ((query.filter as Rec | undefined)?.updated_at as Rec | undefined)?.from;
      return broken && path === '/api/v4/leads' && (from !== undefined || query.page !== '1')
        ? { status: 502 }
        : undefined;
    });
    const localDeps = { db, logger: silentLogger, now: local.now, sleep: local.sleep };
    const localCfg = { baseUrl: url, token: fake.token, webhookSecret: undefined };
    try {
      await importTruth(expected, fresh.truth);
      await expect(syncSource(localDeps, 'amocrm', localCfg, { flushAt: 100 })).rejects.toThrow(
        /after 6 attempts/,
      );
      const [failed] = await syncStatus(db);
      expect(failed).toMatchObject({ status: 'error', pending: { mode: 'full' } });
      expect(await countRows(db, 'deals')).toBe(250);

      broken = false;
      const logFrom = fake.log.length;
      const report = await syncSource(localDeps, 'amocrm', localCfg, { flushAt: 100 });
      expect(report.resumed).toBe(true);
      const resumed = fake.log.slice(logFrom);
      expect(resumed.some((r) => r.path === '/api/v4/contacts' || r.path === '/api/v4/users')).toBe(false);
      const firstLeads = resumed.find((r) => r.path === '/api/v4/leads')!;
      expect(((firstLeads.query.filter as Rec).updated_at as Rec).from).toBeDefined();
      expect(await dumpCanonical(db)).toEqual(await dumpCanonical(expected));
    } finally {
      await fake.stop();
      await db.dispose();
      await expected.dispose();
    }
  });

  it('a wrong token is a clear error kept in the sync status', async () => {
    const db = await createTestDb(driver);
    try {
      await expect(syncSource({ ...deps, db }, 'amocrm', { ...cfg, token: 'wrong' })).rejects.toThrow(
        /HTTP 401/,
      );
      const [status] = await syncStatus(db);
      expect(status).toMatchObject({ status: 'error', lastError: expect.stringMatching(/401/) });
    } finally {
      await db.dispose();
    }
  });

  describe('webhooks', () => {
    let server: HttpServer;
    let base: string;
    const post = (secret: string, body: string) =>
      fetch(`${base}/hooks/amocrm/${secret}`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body,
      });

    beforeAll(async () => {
      server = createHttpServer({
        logger: silentLogger,
        routes: crmWebhookRoutes({ ...deps, config: { amocrm: cfg, bitrix24: undefined } }),
      });
      base = (await server.listen(0, '127.0.0.1')).url;
    });
    afterAll(async () => {
      await server?.close();
    });

    it('refuses a wrong secret or another account, and fetches nothing', async () => {
      const logged = amo.log.length;
      const lead = world.data.leads[5]!;
      const body = amoWebhookBody({ leads: { update: [{ id: lead.id }] } }, '29085955');
      expect((await post('wrong-secret', body)).status).toBe(401);
      expect(
        (await post(cfg.webhookSecret, amoWebhookBody({ leads: { update: [{ id: lead.id }] } }, '11111111')))
          .status,
      ).toBe(401);
      expect(amo.log.length).toBe(logged);
    });

    it('a status change fetches the lead and its events at once; a duplicate changes nothing', async () => {
      const lead = world.data.leads.find((l) => l.status_id === 34604119)!;
      const at = Math.floor(clock.ms() / 1000) - 30;
      Object.assign(lead, { status_id: 143, updated_at: at, closed_at: at, loss_reason_id: 11 });
      (lead._embedded as Rec).loss_reason = [{ id: 11, name: 'Дорого', sort: 1 }];
      world.data.events.push({
        id: '01hlostevent',
        type: 'lead_status_changed',
        entity_id: lead.id,
        entity_type: 'lead',
        created_by: 0,
        created_at: at,
        value_after: [{ lead_status: { id: 143, pipeline_id: lead.pipeline_id } }],
        value_before: [{ lead_status: { id: 34604119, pipeline_id: lead.pipeline_id } }],
        account_id: 29085955,
      });
      const body = amoWebhookBody(
        {
          leads: {
            status: [
              {
                id: lead.id,
                status_id: 143,
                pipeline_id: lead.pipeline_id,
                old_status_id: 34604119,
                old_pipeline_id: lead.pipeline_id,
              },
            ],
          },
        },
        '29085955',
      );
      for (let i = 0; i < 2; i++) expect((await post(cfg.webhookSecret, body)).status).toBe(200);
      const [deal] = await synced.query(`SELECT stage_id, lost_reason, closed_at FROM deals WHERE id = $1`, [
        String(lead.id),
      ]);
      expect(deal).toEqual({
        stage_id: `${lead.pipeline_id}:143`,
        lost_reason: 'Дорого',
        closed_at: new Date(at * 1000),
      });
      const entries = await synced.query(
        `SELECT manager_id FROM stage_history WHERE entity_id = $1 AND stage_id = $2`,
        [String(lead.id), `${lead.pipeline_id}:143`],
      );
      expect(entries).toEqual([{ manager_id: null }]);
    });

    it('a deleted lead is removed; a call note stores the call and queues it', async () => {
      const lead = world.data.leads[10]!;
      expect(
        (
          await post(
            cfg.webhookSecret,
            amoWebhookBody(
              {
                leads: {
                  delete: [{ id: lead.id, status_id: lead.status_id, pipeline_id: lead.pipeline_id }],
                },
              },
              '29085955',
            ),
          )
        ).status,
      ).toBe(200);
      expect(await synced.query(`SELECT id FROM deals WHERE id = $1`, [String(lead.id)])).toEqual([]);

      const target = world.data.leads[20]!;
      world.data.notes.leads.push({
        id: 88_000_002,
        entity_id: target.id,
        created_by: 6412347,
        updated_by: 6412347,
        created_at: AMO_T0 + 100,
        updated_at: AMO_T0 + 100,
        responsible_user_id: 6412347,
        group_id: 0,
        note_type: 'call_out',
        params: {
          uniq: 'u2',
          duration: 125,
          source: 'Sipuni',
          link: 'https://records.okna.example/amo/new.mp3',
          phone: '89161112233',
          call_status: 4,
        },
        account_id: 29085955,
      });
      analysed.length = 0;
      const body = amoWebhookBody(
        {
          notes: {
            add: [{ note: { id: 88_000_002, element_id: target.id, element_type: 2, note_type: 11 } }],
          },
        },
        '29085955',
      );
      expect((await post(cfg.webhookSecret, body)).status).toBe(200);
      const [call] = await synced.query(
        `SELECT direction, status, duration_sec, client_phone, entity, entity_id FROM calls WHERE id = '88000002'`,
      );
      expect(call).toEqual({
        direction: 'out',
        status: 'answered',
        duration_sec: 125,
        client_phone: '79161112233',
        entity: 'deal',
        entity_id: String(target.id),
      });
      expect(analysed).toEqual([['88000002']]);
    });
  });
});
