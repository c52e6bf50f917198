import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { crmWebhookRoutes, syncSource } from '../../src/ingest/sync.ts';
import { silentLogger } from '../../src/logger.ts';
import { createHttpServer, type HttpServer } from '../../src/server/http.ts';
import { b24Time, eventBody, FakePortal } from '../fixtures/bitrix24/fake-portal.ts';
import { countRows, virtualClock } from '../fixtures/bitrix24/sync-helpers.ts';
import { buildBitrixWorld } from '../fixtures/bitrix24/world.ts';
import { createTestDb, drivers, type TestDb } from '../helpers/db.ts';

// Whole syncs against a real database: generous for loaded CI machines.
vi.setConfig({ testTimeout: 180_000 });

type Rec = Record<string, unknown>;
const TOKEN = '51610fefc120afg4b628cc82d6298cce';

describe.each(drivers)('Bitrix24 event webhooks on %s', (driver) => {
  const clock = virtualClock();
  const world = buildBitrixWorld(3, 0.1);
  const portal = new FakePortal(world.data, clock.ms);
  let db: TestDb;
  let server: HttpServer;
  let base: string;
  const analysed: string[][] = [];

  const post = (body: string) =>
    fetch(`${base}/hooks/bitrix24`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body,
    });

  beforeAll(async () => {
    db = await createTestDb(driver);
    const webhookUrl = await portal.start();
    const deps = {
      db,
      logger: silentLogger,
      now: clock.now,
      sleep: clock.sleep,
      onCallsStored: async (ids: string[]) => {
        analysed.push(ids);
      },
    };
    await syncSource(deps, 'bitrix24', { webhookUrl, appToken: TOKEN }, { full: true });
    server = createHttpServer({
      logger: silentLogger,
      routes: crmWebhookRoutes({
        ...deps,
        config: { bitrix24: { webhookUrl, appToken: TOKEN }, amocrm: undefined },
      }),
    });
    base = (await server.listen(0, '127.0.0.1')).url;
  });
  afterAll(async () => {
    await server?.close();
    await portal.stop();
    await db?.dispose();
  });

  it('refuses an event without the right application token and fetches nothing', async () => {
    const deal = world.data.deals[0]!;
    const logged = portal.log.length;
    const bad = await post(eventBody('ONCRMDEALUPDATE', { FIELDS: { ID: deal.ID } }, 'not-the-token'));
    expect(bad.status).toBe(401);
    const none = await post(`event=ONCRMDEALUPDATE&data%5BFIELDS%5D%5BID%5D=${deal.ID}`);
    expect(none.status).toBe(401);
    expect(portal.log.length).toBe(logged);
  });

  it('a deal update fetches the deal at once; the same event twice changes nothing more', async () => {
    const deal = world.data.deals.find((d) => d.STAGE_ID === 'NEW' && d.CATEGORY_ID === '0')!;
    const movedAt = clock.ms() - 60_000;
    Object.assign(deal, {
      STAGE_ID: 'WON',
      STAGE_SEMANTIC_ID: 'S',
      CLOSED: 'Y',
      MOVED_TIME: b24Time(movedAt),
      DATE_MODIFY: b24Time(movedAt),
    });
    const histId = Number(world.data.dealHistory.at(-1)!.ID) + 1;
    world.data.dealHistory.push({
      ID: histId,
      TYPE_ID: 3,
      OWNER_ID: Number(deal.ID),
      CREATED_TIME: b24Time(movedAt),
      CATEGORY_ID: 0,
      STAGE_SEMANTIC_ID: 'S',
      STAGE_ID: 'WON',
    });

    const event = eventBody('ONCRMDEALUPDATE', { FIELDS: { ID: deal.ID } }, TOKEN);
    for (let i = 0; i < 2; i++) {
      const res = await post(event);
      expect(res.status).toBe(200);
    }
    const [row] = await db.query<{ stage_id: string; closed_at: Date }>(
      `SELECT stage_id, closed_at FROM deals WHERE id = $1`,
      [deal.ID],
    );
    expect(row).toEqual({ stage_id: 'WON', closed_at: new Date(movedAt - (movedAt % 1000)) });
    const entries = await db.query(
      `SELECT stage_id FROM stage_history WHERE entity = 'deal' AND entity_id = $1 AND stage_id = 'WON'`,
      [deal.ID],
    );
    expect(entries).toHaveLength(1);
  });

  it('a new deal naming a contact the sync has not seen brings the contact along', async () => {
    const contactId = String(Number(world.data.contacts.at(-1)!.ID) + 5);
    world.data.contacts.push({
      ...world.data.contacts[0]!,
      ID: contactId,
      NAME: 'Новый',
      LAST_NAME: 'Клиент',
      COMPANY_ID: '0',
      PHONE: [{ ID: '99999', VALUE_TYPE: 'MOBILE', VALUE: '8 (903) 555-12-12', TYPE_ID: 'PHONE' }],
    });
    const dealId = String(Number(world.data.deals.at(-1)!.ID) + 3);
    world.data.deals.push({
      ...world.data.deals[0]!,
      ID: dealId,
      CONTACT_ID: contactId,
      COMPANY_ID: '0',
      LEAD_ID: null,
      STAGE_ID: 'NEW',
      CATEGORY_ID: '0',
      STAGE_SEMANTIC_ID: 'P',
      DATE_CREATE: b24Time(clock.ms()),
    });
    const res = await post(eventBody('ONCRMDEALADD', { FIELDS: { ID: dealId } }, TOKEN));
    expect(res.status).toBe(200);
    const [deal] = await db.query<{ contact_id: string }>(`SELECT contact_id FROM deals WHERE id = $1`, [
      dealId,
    ]);
    expect(deal).toEqual({ contact_id: contactId });
    const phones = await db.query(`SELECT phone FROM contact_phones WHERE contact_id = $1`, [contactId]);
    expect(phones).toEqual([{ phone: '79035551212' }]);
  });

  it('a call-end event stores the call and queues it for analysis; a repeat stores nothing new', async () => {
    const callId = 'externalCall.7b0c7de811455ef32b18dc5917e4306a.1773239327';
    const startedAt = clock.ms() - 120_000;
    world.data.stats.push({
      ...world.data.stats[0]!,
      ID: String(world.data.stats.length + 1),
      CALL_ID: callId,
      CALL_TYPE: '3',
      PHONE_NUMBER: '+79061234567',
      PORTAL_NUMBER: '74951234567',
      PORTAL_USER_ID: '12',
      CALL_DURATION: '95',
      CALL_START_DATE: b24Time(startedAt),
      CALL_FAILED_CODE: '200',
      CALL_RECORD_URL: 'https://records.okna.example/last.mp3',
      CRM_ACTIVITY_ID: null,
      CRM_ENTITY_TYPE: '',
      CRM_ENTITY_ID: null,
    });
    analysed.length = 0;
    const data = {
      CALL_ID: callId,
      CALL_TYPE: '3',
      PHONE_NUMBER: '+79061234567',
      PORTAL_NUMBER: '74951234567',
      PORTAL_USER_ID: '12',
      CALL_DURATION: '95',
      CALL_START_DATE: b24Time(startedAt),
      COST: '0',
      COST_CURRENCY: '',
      CALL_FAILED_CODE: '200',
      CALL_FAILED_REASON: '',
      CRM_ACTIVITY_ID: '',
    };
    const calls = await countRows(db, 'calls');
    for (let i = 0; i < 2; i++)
      expect((await post(eventBody('ONVOXIMPLANTCALLEND', data, TOKEN))).status).toBe(200);
    expect(await countRows(db, 'calls')).toBe(calls + 1);
    const [row] = await db.query<Rec>(
      `SELECT direction, status, duration_sec, client_phone, line_number, manager_id, recording_url FROM calls WHERE id = $1`,
      [callId],
    );
    // CALL_TYPE 3 (incoming, redirected) is incoming.
    expect(row).toEqual({
      direction: 'in',
      status: 'answered',
      duration_sec: 95,
      client_phone: '79061234567',
      line_number: '74951234567',
      manager_id: '12',
      recording_url: 'https://records.okna.example/last.mp3',
    });
    expect(analysed).toEqual([[callId], [callId]]);
  });

  it('a deal deletion removes the deal and its history; unknown events are acknowledged and ignored', async () => {
    const deal = world.data.deals[1]!;
    const res = await post(eventBody('ONCRMDEALDELETE', { FIELDS: { ID: deal.ID } }, TOKEN));
    expect(res.status).toBe(200);
    expect(await db.query(`SELECT id FROM deals WHERE id = $1`, [deal.ID])).toEqual([]);
    expect(
      await db.query(`SELECT 1 FROM stage_history WHERE entity = 'deal' AND entity_id = $1`, [deal.ID]),
    ).toEqual([]);
    const other = await post(eventBody('ONAPPINSTALL', { VERSION: '1' }, TOKEN));
    expect(other.status).toBe(200);
    expect(await other.json()).toEqual({ ok: true, ignored: 'ONAPPINSTALL' });
  });
});
