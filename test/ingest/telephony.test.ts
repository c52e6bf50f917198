import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { importDirectory } from '../../src/ingest/import.ts';
import { telephonyRoutes } from '../../src/ingest/telephony/index.ts';
import { silentLogger } from '../../src/logger.ts';
import { parseForm } from '../../src/server/body.ts';
import { createHttpServer, type HttpServer } from '../../src/server/http.ts';
import { countRows, writeJsonl } from '../fixtures/bitrix24/sync-helpers.ts';
import { createTestDb, drivers, type TestDb } from '../helpers/db.ts';

const SECRET = 'tel-secret-7f3a';

describe('form bodies with PHP-style keys', () => {
  it('nests brackets, appends [] and turns 0..n keys into lists', () => {
    expect(
      parseForm(
        'event=ONCRMDEALUPDATE&data%5BFIELDS%5D%5BID%5D=759&auth%5Bapplication_token%5D=t&a%5B%5D=x&a%5B%5D=y&l%5B0%5D%5Bid%5D=5&l%5B1%5D%5Bid%5D=6',
      ),
    ).toEqual({
      event: 'ONCRMDEALUPDATE',
      data: { FIELDS: { ID: '759' } },
      auth: { application_token: 't' },
      a: ['x', 'y'],
      l: [{ id: '5' }, { id: '6' }],
    });
  });
});

describe.each(drivers)('telephony webhooks on %s', (driver) => {
  let db: TestDb;
  let server: HttpServer;
  let base: string;
  const queued: Array<{ ids: string[]; ms: number }> = [];
  let postedAt = 0;

  const post = (path: string, body: string, headers: Record<string, string> = {}) => {
    postedAt = performance.now();
    return fetch(`${base}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...headers },
      body,
    });
  };

  beforeAll(async () => {
    db = await createTestDb(driver);
    await importDirectory(db, {
      dir: writeJsonl({
        managers: [
          { id: 'M1', name: 'Алексей Чуркин', phone: '111' },
          { id: 'M2', name: 'Марина Белова', phone: '+7 916 000-00-02' },
        ],
      }),
      logger: silentLogger,
    });
    server = createHttpServer({
      logger: silentLogger,
      routes: telephonyRoutes({
        db,
        logger: silentLogger,
        secret: SECRET,
        tz: 'Europe/Moscow',
        onCallsStored: async (ids) => {
          queued.push({ ids, ms: performance.now() - postedAt });
        },
      }),
    });
    base = (await server.listen(0, '127.0.0.1')).url;
  });
  afterAll(async () => {
    await server?.close();
    await db?.dispose();
  });

  const generic = {
    id: 'pbx-1001',
    direction: 'in',
    started_at: '2026-03-10T12:15:00+03:00',
    answered_at: '2026-03-10T12:15:09+03:00',
    ended_at: '2026-03-10T12:19:10+03:00',
    duration_sec: 241,
    status: 'answered',
    manager_id: 'M1',
    client_phone: '8 (916) 123-45-67',
    line_number: '+7 495 123-45-67',
    recording_url: 'https://pbx.example/rec/1001.mp3',
  };

  it('refuses a request without the shared secret and stores nothing', async () => {
    expect((await post('/hooks/telephony/generic', JSON.stringify(generic))).status).toBe(401);
    expect(
      (await post('/hooks/telephony/generic', JSON.stringify(generic), { 'x-voronka-secret': 'nope' }))
        .status,
    ).toBe(401);
    expect(await countRows(db, 'calls')).toBe(0);
    expect(queued).toEqual([]);
  });

  it('stores a finished call and queues it for analysis before answering; a repeat adds no row', async () => {
    const res = await post('/hooks/telephony/generic', JSON.stringify(generic), {
      'x-voronka-secret': SECRET,
    });
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ ok: true, id: 'pbx-1001' });
    expect(queued.map((q) => q.ids)).toEqual([['pbx-1001']]);
    const again = await post('/hooks/telephony/generic', JSON.stringify(generic), {
      authorization: `Bearer ${SECRET}`,
    });
    expect(again.status).toBe(200);
    expect(await countRows(db, 'calls')).toBe(1);
    const [row] = await db.query(
      `SELECT client_phone, line_number, status, duration_sec, manager_id FROM calls WHERE id = 'pbx-1001'`,
    );
    expect(row).toEqual({
      client_phone: '79161234567',
      line_number: '74951234567',
      status: 'answered',
      duration_sec: 241,
      manager_id: 'M1',
    });
  });

  it('answers 422 with the reason for a record the import format rejects', async () => {
    const res = await post(
      '/hooks/telephony/generic',
      JSON.stringify({ ...generic, id: 'pbx-1002', started_at: '2026-03-10 12:15:00' }),
      {
        'x-voronka-secret': SECRET,
      },
    );
    expect(res.status).toBe(422);
    expect(((await res.json()) as { error: string }).error).toMatch(/timestamp without an offset/);
    expect(await db.query(`SELECT id FROM calls WHERE id = 'pbx-1002'`)).toEqual([]);
  });

  it('reads an Asterisk CDR: local times in the company zone, the extension finds the manager', async () => {
    const cdr = new URLSearchParams({
      accountcode: '',
      src: '79035550101',
      dst: '111',
      dcontext: 'from-internal',
      clid: '"Клиент" <79035550101>',
      channel: 'PJSIP/trunk-mts-00000012',
      dstchannel: 'PJSIP/111-00000013',
      lastapp: 'Dial',
      lastdata: 'PJSIP/111,30',
      start: '2026-03-10 12:15:00',
      answer: '2026-03-10 12:15:07',
      end: '2026-03-10 12:17:07',
      duration: '127',
      billsec: '120',
      disposition: 'ANSWERED',
      amaflags: 'DOCUMENTATION',
      uniqueid: '1773134100.42',
      linkedid: '1773134100.42',
      userfield: '',
      did: '74951234567',
    });
    const res = await post('/hooks/telephony/asterisk', cdr.toString(), {
      'content-type': 'application/x-www-form-urlencoded',
      'x-voronka-secret': SECRET,
    });
    expect(res.status).toBe(200);
    const [row] = await db.query<Record<string, unknown>>(
      `SELECT direction, status, started_at, answered_at, ended_at, duration_sec, client_phone, line_number, manager_id FROM calls WHERE id = '1773134100.42'`,
    );
    expect(row).toEqual({
      direction: 'in',
      status: 'answered',
      started_at: new Date('2026-03-10T09:15:00Z'),
      answered_at: new Date('2026-03-10T09:15:07Z'),
      ended_at: new Date('2026-03-10T09:17:07Z'),
      duration_sec: 120,
      client_phone: '79035550101',
      line_number: '74951234567',
      manager_id: 'M1',
    });
  });

  it('reads the AMI Cdr event names too; an unanswered outgoing call is "no answer" with no talk time', async () => {
    const ami = {
      Event: 'Cdr',
      AccountCode: '',
      Source: '111',
      Destination: '89161234567',
      DestinationContext: 'from-internal',
      CallerID: '"Алексей" <111>',
      Channel: 'PJSIP/111-0000001a',
      DestinationChannel: 'PJSIP/trunk-mts-0000001b',
      LastApplication: 'Dial',
      LastData: 'PJSIP/89161234567@trunk-mts,60',
      StartTime: '2026-07-01 10:00:00',
      AnswerTime: '',
      EndTime: '2026-07-01 10:00:31',
      Duration: '31',
      BillableSeconds: '0',
      Disposition: 'NO ANSWER',
      AMAFlags: 'DOCUMENTATION',
      UniqueID: '1782889200.77',
      UserField: '',
    };
    const res = await post(`/hooks/telephony/asterisk?secret=${SECRET}`, JSON.stringify(ami));
    expect(res.status).toBe(200);
    const [row] = await db.query<Record<string, unknown>>(
      `SELECT direction, status, duration_sec, client_phone, manager_id, started_at FROM calls WHERE id = '1782889200.77'`,
    );
    expect(row).toEqual({
      direction: 'out',
      status: 'no_answer',
      duration_sec: 0,
      client_phone: '79161234567',
      manager_id: 'M1',
      started_at: new Date('2026-07-01T07:00:00Z'),
    });
  });

  it('404 for an unknown provider, 413 above 1 MB, and a health route', async () => {
    expect((await post('/hooks/telephony/mango', '{}', { 'x-voronka-secret': SECRET })).status).toBe(404);
    const huge = JSON.stringify({ ...generic, id: 'huge', pad: 'x'.repeat(1024 * 1024) });
    expect((await post('/hooks/telephony/generic', huge, { 'x-voronka-secret': SECRET })).status).toBe(413);
    expect(await db.query(`SELECT id FROM calls WHERE id = 'huge'`)).toEqual([]);
    const health = await fetch(`${base}/health`);
    expect(health.status).toBe(200);
    expect(await health.json()).toEqual({ status: 'ok' });
    expect((await fetch(`${base}/hooks/telephony/generic`)).status).toBe(405);
    expect((await fetch(`${base}/nowhere`)).status).toBe(404);
  });
});
