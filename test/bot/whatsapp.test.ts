import ExcelJS from 'exceljs';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { callBreakdownSchema } from '../../src/analysis/schema.ts';
import { createInvite } from '../../src/bot/access.ts';
import { breakdownReply } from '../../src/bot/breakdowns.ts';
import { STRANGER_REPLY } from '../../src/bot/core.ts';
import {
  createWhatsAppAdapter,
  UNSUPPORTED_REPLY,
  type WhatsAppAdapter,
  type WhatsAppSettings,
} from '../../src/bot/whatsapp/index.ts';
import { loadConfig } from '../../src/config.ts';
import { silentLogger } from '../../src/logger.ts';
import type { App } from '../../src/main.ts';
import { createHttpServer, type HttpServer } from '../../src/server/http.ts';
import { createServices } from '../../src/services.ts';
import { createTestDb, drivers, type TestDb } from '../helpers/db.ts';
import { DEMO_NOW, loadDemo } from '../helpers/demo.ts';
import {
  type FakeWhatsApp,
  type MessageSpec,
  metaJson,
  type SentMessage,
  type StatusSpec,
  signature,
  startFakeWhatsApp,
  webhookBody,
} from '../helpers/fake-whatsapp.ts';

const driver = drivers.at(-1)!;
const APP_SECRET = 'wa-app-secret-1';
const VERIFY_TOKEN = 'verify-me-please';
const TEMPLATE = 'voronka_breakdown';
const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
const XLSX_MIME = 'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet';
const HOUR = 3_600_000;

const breakdown = (callId: string) =>
  callBreakdownSchema.parse({
    call_id: callId,
    analyzer: 'offline@1.0',
    confidence: 0.8,
    company_speaker: 'SPK00',
    summary: 'Клиент хочет окна в загородный дом до зимы.\nДоговорились о замере в четверг.',
    readiness: 72,
    readiness_band: 'high',
    churn_risk: 'low',
    stage: 'presentation',
    objections: [{ type: 'price', quote: 'Дороговато выходит', handled: true }],
    script: {
      greeting: { done: true, quote: 'Здравствуйте, компания Окна Плюс' },
      need_identified: { done: true, quote: null },
      price_named: { done: true, quote: null },
      next_step_offered: { done: true, quote: null },
      summary_agreed: { done: false, quote: null },
    },
    strengths: [],
    misses: [{ text: 'Не подвёл итог разговора', quote: null }],
    next_step: 'Подтвердить замер в среду вечером',
    needs: ['замер'],
    lead_quality: { target: true, reason: 'нужны окна' },
    talk_ratio: 0.5,
  });

describe(`WhatsApp adapter on ${driver}`, () => {
  let db: TestDb;
  let fake: FakeWhatsApp;
  let app: App;
  let settings: WhatsAppSettings;
  let adapter: WhatsAppAdapter;
  let server: HttpServer;
  let url: string;
  let clock = DEMO_NOW;
  let seq = 0;
  const now = () => clock;
  const unix = () => Math.floor(clock.getTime() / 1000);

  function makeAdapter(overrides: Partial<WhatsAppSettings> = {}) {
    const { core } = createServices(app);
    return createWhatsAppAdapter({
      settings: { ...settings, ...overrides },
      db,
      core,
      logger: silentLogger,
      now,
    });
  }

  const post = (body: string | Buffer, sig: string | null = signature(body, APP_SECRET), base = url) =>
    fetch(`${base}/hooks/whatsapp`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...(sig ? { 'x-hub-signature-256': sig } : {}) },
      body,
    });

  async function deliver(
    parts: { messages?: MessageSpec[]; statuses?: StatusSpec[] },
    to = adapter,
    base = url,
  ) {
    const res = await post(metaJson(webhookBody(fake.phoneNumberId, parts)), undefined, base);
    expect(res.status).toBe(200);
    await to.idle();
  }
  const message = (from: string, spec: Partial<MessageSpec>): MessageSpec => ({
    from,
    id: `wamid.IN${++seq}`,
    timestamp: unix(),
    ...spec,
  });
  const say = (from: string, text: string) => deliver({ messages: [message(from, { text })] });
  const status = (s: Omit<StatusSpec, 'timestamp'>) => deliver({ statuses: [{ ...s, timestamp: unix() }] });

  async function bind(
    from: string,
    role: 'admin' | 'head' | 'manager',
    managerId: string | null,
    form = (c: string) => c,
  ) {
    const { code } = await createInvite(db, { role, managerId, expiresInMs: 7 * 24 * HOUR, now: clock });
    await say(from, form(code));
    return code;
  }
  async function userIdOf(from: string): Promise<number> {
    const [row] = await db.query<{ user_id: number }>(
      `SELECT user_id FROM messenger_identities WHERE channel = 'whatsapp' AND external_id = $1`,
      [from],
    );
    return row!.user_id;
  }
  async function deliveryRows(keyPrefix: string) {
    return db.query<{
      key: string;
      kind: string;
      status: string;
      attempts: number;
      external_id: string | null;
      last_error: string | null;
      payload: { awaitingReply?: boolean };
    }>(
      `SELECT key, kind, status, attempts, external_id, last_error, payload FROM deliveries WHERE key LIKE $1 ORDER BY id`,
      [`${keyPrefix}%`],
    );
  }
  /** The interactive message of the last answer: the text itself when it fits 1024 characters, or a prompt after it. */
  const menuOf = (wa: string) => fake.to(wa).find((m) => m.type === 'interactive');
  const listRows = (m: SentMessage | undefined) =>
    (
      (m?.body.action as { sections?: Array<{ rows: Array<{ id: string; title: string }> }> } | undefined)
        ?.sections ?? []
    ).flatMap((s) => s.rows);

  beforeAll(async () => {
    db = await createTestDb(driver);
    await loadDemo(db);
    fake = await startFakeWhatsApp();
    app = { config: loadConfig({}), logger: silentLogger, db, now, close: async () => {} };
    settings = {
      token: fake.token,
      phoneNumberId: fake.phoneNumberId,
      appSecret: APP_SECRET,
      verifyToken: VERIFY_TOKEN,
      graphUrl: fake.graphUrl,
      breakdownTemplate: TEMPLATE,
    };
    // Wired as `voronka start` does: the router reaches WhatsApp users through the adapter.
    const services = createServices(app);
    adapter = createWhatsAppAdapter({ settings, db, core: services.core, logger: silentLogger, now });
    services.router.register('whatsapp', adapter.sendToChat);
    server = createHttpServer({ logger: silentLogger, routes: adapter.routes });
    ({ url } = await server.listen(0, '127.0.0.1'));
  }, 180_000);
  afterAll(async () => {
    await adapter?.stop();
    await server?.close();
    await fake?.close();
    await db?.dispose();
  });
  beforeEach(() => {
    fake.clear();
    fake.setDelay(0);
  });

  describe('webhook', () => {
    it('answers the verification handshake only with the right verify token', async () => {
      const get = (q: string) => fetch(`${url}/hooks/whatsapp?${q}`);
      const good = await get(`hub.mode=subscribe&hub.verify_token=${VERIFY_TOKEN}&hub.challenge=1158201444`);
      expect(good.status).toBe(200);
      expect(await good.text()).toBe('1158201444');
      expect((await get('hub.mode=subscribe&hub.verify_token=guess&hub.challenge=1')).status).toBe(403);
      expect((await get('hub.challenge=1')).status).toBe(400);
    });

    it('refuses bad and missing signatures with 401 and processes nothing', async () => {
      const body = metaJson(
        webhookBody(fake.phoneNumberId, { messages: [message('79990000900', { text: '/start ABCDEFGH' })] }),
      );
      expect((await post(body, null)).status).toBe(401);
      expect((await post(body, signature(body, 'another-secret'))).status).toBe(401);
      expect((await post(body, 'sha256=zz')).status).toBe(401);
      // Signed over other bytes than the ones sent: a tampered body.
      expect((await post(body.replace('ABCDEFGH', 'ABCDEFGJ'), signature(body, APP_SECRET))).status).toBe(
        401,
      );
      await adapter.idle();
      expect(fake.calls).toHaveLength(0);
      const seen = await db.query(`SELECT 1 FROM whatsapp_inbound`);
      expect(seen).toHaveLength(0);
    });

    it('answers malformed JSON with 400, an oversized body with 413, and keeps serving', async () => {
      expect((await post('{"object": "whatsapp_business_account", "entry": [')).status).toBe(400);
      expect((await post('{"hello": "world"}')).status).toBe(400);
      const huge = Buffer.alloc(10 * 1024 * 1024, 0x20);
      const res = await post(huge).catch((err: Error) => err);
      expect(res instanceof Error ? res.message : res.status).toBe(413);
      const after = await fetch(
        `${url}/hooks/whatsapp?hub.mode=subscribe&hub.verify_token=${VERIFY_TOKEN}&hub.challenge=42`,
      );
      expect(await after.text()).toBe('42');
      expect(fake.calls).toHaveLength(0);
    });

    it('acknowledges at once and answers after the acknowledgement', async () => {
      await bind('79990000111', 'admin', null);
      fake.clear();
      fake.setDelay(1_500);
      const body = metaJson(
        webhookBody(fake.phoneNumberId, { messages: [message('79990000111', { text: '/me' })] }),
      );
      const t0 = performance.now();
      const res = await post(body);
      const ms = performance.now() - t0;
      expect(res.status).toBe(200);
      expect(ms).toBeLessThan(1_000);
      expect(fake.to('79990000111')).toHaveLength(0);
      await adapter.idle();
      expect(fake.saidTo('79990000111')).toContain('Роль: администратор');
    });

    it('acknowledges statuses of messages it does not know with 200', async () => {
      const res = await post(
        metaJson(
          webhookBody(fake.phoneNumberId, {
            statuses: [{ id: 'wamid.UNKNOWN', status: 'read', recipient: '79990000999', timestamp: unix() }],
          }),
        ),
      );
      expect(res.status).toBe(200);
      await adapter.idle();
      expect(fake.calls).toHaveLength(0);
    });
  });

  describe('identity', () => {
    it('refuses a stranger once, politely, and shows no data', async () => {
      await say('79990000200', 'сколько звонков вчера?');
      await say('79990000200', 'ну ответь');
      await deliver({ messages: [message('79990000200', { type: 'image' })] });
      expect(fake.to('79990000200').map((m) => m.body.body)).toEqual([STRANGER_REPLY]);
      expect(fake.uploads()).toHaveLength(0);
    });

    it('binds a number by the invite code alone or after /start, and refuses a used code', async () => {
      const code = await bind('79990000301', 'head', 'M-1');
      expect(fake.saidTo('79990000301')).toContain('Доступ открыт');
      await bind('79990000302', 'manager', 'M-5', (c) => `/start ${c}`);
      expect(fake.saidTo('79990000302')).toContain('Доступ открыт');
      await say('79990000303', code);
      expect(fake.saidTo('79990000303')).toMatch(/недействителен/);
      const [identity] = await db.query<{ last_inbound_at: Date; role: string }>(
        `SELECT i.last_inbound_at, u.role FROM messenger_identities i JOIN bot_users u ON u.id = i.user_id
         WHERE i.channel = 'whatsapp' AND i.external_id = '79990000301'`,
      );
      expect(identity!.role).toBe('head');
      expect(new Date(identity!.last_inbound_at).getTime()).toBe(unix() * 1000);
    });

    it('tells a bound user that only text and buttons are understood', async () => {
      await deliver({ messages: [message('79990000301', { type: 'audio' })] });
      expect(fake.saidTo('79990000301')).toBe(UNSUPPORTED_REPLY);
    });
  });

  describe('questions', () => {
    const head = '79990000301';
    // A minute between tests: the core's per-minute question limit counts by this clock.
    beforeEach(() => {
      clock = new Date(clock.getTime() + 60_000);
    });

    it('answers with the text under a list of actions, then the chart as an uploaded image', async () => {
      await say(head, 'звонки за неделю по менеджерам');
      const sent = fake.to(head);
      expect(sent.map((m) => m.type)).toEqual(['interactive', 'image']);
      const [answer, image] = sent;
      expect(answer!.body.type).toBe('list');
      const text = String((answer!.body.body as { text: string }).text);
      expect(text).toContain('Звонки');
      expect(text).toMatch(/17–23 ноября 2026/);
      expect(listRows(answer).map((r) => r.title)).toEqual(
        expect.arrayContaining(['Сегодня', 'Вчера', '7 дней', 'Месяц', 'Excel', 'Как считается?']),
      );
      const [upload] = fake.uploads();
      expect(upload!.form!.fields.messaging_product).toBe('whatsapp');
      expect(upload!.form!.file!.type).toBe('image/png');
      expect(upload!.form!.file!.bytes.subarray(0, 8).equals(PNG_SIGNATURE)).toBe(true);
      expect(image!.body.id).toBe(upload!.mediaId);
    });

    it('re-runs the answer for another period when a list row is picked', async () => {
      await say(head, 'сколько было звонков вчера');
      const month = listRows(menuOf(head)).find((r) => r.title === 'Месяц')!;
      fake.clear();
      await deliver({ messages: [message(head, { listReply: { id: month.id, title: month.title } })] });
      expect(fake.saidTo(head)).toMatch(/ноябрь 2026|1–30 ноября 2026/);
    });

    it('sends the Excel export as an uploaded document', async () => {
      await say(head, 'забытые сделки по менеджерам');
      // Over 1024 characters: the answer goes as text, the actions follow under a short prompt.
      const [answer, menu] = fake.to(head);
      expect(answer!.type).toBe('text');
      expect(String(answer!.body.body)).toMatch(/Забытые сделки: \d+/);
      expect(menu!.body.body).toEqual({ text: 'Выберите, что показать:' });
      const excel = listRows(menuOf(head)).find((r) => r.title === 'Excel')!;
      fake.clear();
      await deliver({ messages: [message(head, { listReply: { id: excel.id, title: excel.title } })] });
      const [doc] = fake.to(head);
      expect(doc!.type).toBe('document');
      expect(String(doc!.body.filename)).toMatch(/\.xlsx$/);
      expect(doc!.body.caption).toBe('Выгрузка в Excel');
      const upload = fake.uploads().find((u) => u.mediaId === doc!.body.id)!;
      expect(upload.form!.file!.type).toBe(XLSX_MIME);
      const wb = new ExcelJS.Workbook();
      await wb.xlsx.load(upload.form!.file!.bytes as unknown as ArrayBuffer);
      expect(wb.getWorksheet('Итоги')!.getColumn(1).values.filter(Boolean).map(String)).toContain(
        'Забытые сделки',
      );
    });

    it('pages a long list with reply buttons', async () => {
      await say(head, 'забытые сделки');
      const list = listRows(menuOf(head)).find((r) => r.title === 'Список')!;
      fake.clear();
      await deliver({ messages: [message(head, { listReply: { id: list.id, title: list.title } })] });
      const page = menuOf(head);
      expect(page!.body.type).toBe('button');
      expect(fake.saidTo(head)).toContain('Страница 1 из');
      const buttons = (page!.body.action as { buttons: Array<{ reply: { id: string; title: string } }> })
        .buttons;
      expect(buttons.map((b) => b.reply.title)).toEqual(['Дальше →']);
      fake.clear();
      await deliver({ messages: [message(head, { buttonReply: buttons[0]!.reply })] });
      expect(fake.saidTo(head)).toContain('Страница 2 из');
    });

    it('still answers in words when the chart upload fails', async () => {
      fake.failNext('media', { status: 400, code: 131053, message: 'Media upload error' });
      await say(head, 'звонки за неделю по менеджерам');
      expect(fake.to(head).map((m) => m.type)).toEqual(['interactive']);
      expect(fake.saidTo(head)).toMatch(/17–23 ноября 2026/);
    });

    it('sends a reply again after a temporary Graph API failure', async () => {
      fake.failNext('messages', { status: 503, code: 131016, message: 'Service unavailable' });
      await say(head, '/me');
      expect(fake.calls.filter((c) => c.path.endsWith('/messages'))).toHaveLength(2);
      expect(fake.saidTo(head)).toContain('Роль: руководитель');
    });

    it('processes a message delivered twice once, across processes', async () => {
      const twice = message(head, { text: '/me' });
      await deliver({ messages: [twice] });
      const answered = fake.to(head).length;
      expect(answered).toBe(1);
      await deliver({ messages: [twice] });
      // Another process (or the same one after a restart) gets the redelivery.
      const other = makeAdapter();
      const otherServer = createHttpServer({ logger: silentLogger, routes: other.routes });
      const { url: otherUrl } = await otherServer.listen(0, '127.0.0.1');
      await deliver({ messages: [twice] }, other, otherUrl);
      await otherServer.close();
      expect(fake.to(head)).toHaveLength(answered);
    });

    it('forgets message ids only after Meta has stopped redelivering them', async () => {
      const [row] = await db.query<{ n: number }>('SELECT count(*)::int AS n FROM whatsapp_inbound');
      expect(row!.n).toBeGreaterThan(0);
      expect(await adapter.pruneInbound()).toBe(0);
      const saved = clock;
      clock = new Date(clock.getTime() + 15 * 24 * HOUR);
      expect(await adapter.pruneInbound()).toBe(row!.n);
      clock = saved;
    });

    it('reads every message of a batched webhook', async () => {
      await deliver({ messages: [message(head, { text: '/me' }), message('79990000302', { text: '/me' })] });
      expect(fake.saidTo(head)).toContain('Роль: руководитель');
      expect(fake.saidTo('79990000302')).toContain('Роль: менеджер');
    });
  });

  describe('breakdowns', () => {
    const manager = '79990000302';

    it('sends a breakdown as text inside the 24-hour window and tracks its statuses', async () => {
      clock = new Date(DEMO_NOW.getTime() + HOUR);
      await say(manager, '/me');
      fake.clear();
      const userId = await userIdOf(manager);
      const out = await adapter.sendBreakdown({ userId, breakdown: breakdown('C-701') });
      expect(out).toMatchObject({ result: 'text', status: 'sent' });
      const [text] = fake.to(manager);
      expect(text!.type).toBe('text');
      expect(String(text!.body.body)).toContain('Разбор звонка C-701');
      expect(String(text!.body.body)).toContain('Готовность купить: 72/100');
      expect(String(text!.body.body)).toContain('Следующий шаг: Подтвердить замер в среду вечером');
      // Read arrives before delivered: the row does not go back.
      await status({ id: text!.id, status: 'read', recipient: manager });
      await status({ id: text!.id, status: 'delivered', recipient: manager });
      const [row] = await deliveryRows('whatsapp:breakdown:C-701');
      expect(row).toMatchObject({ kind: 'breakdown', status: 'read', external_id: text!.id, attempts: 1 });
      expect(await adapter.sendBreakdown({ userId, breakdown: breakdown('C-701') })).toMatchObject({
        result: 'duplicate',
      });
      expect(fake.to(manager)).toHaveLength(1);
    });

    it('outside the window sends the template with the summary, and the full breakdown once the manager replies', async () => {
      clock = new Date(DEMO_NOW.getTime() + 30 * HOUR);
      const userId = await userIdOf(manager);
      const out = await adapter.sendBreakdown({
        userId,
        breakdown: breakdown('C-702'),
        callLabel: '23 ноября, 10:42',
      });
      expect(out).toMatchObject({ result: 'template', status: 'sent' });
      const [template] = fake.to(manager);
      expect(template!.type).toBe('template');
      expect(template!.body).toMatchObject({ name: TEMPLATE, language: { code: 'ru' } });
      const params = (
        template!.body.components as Array<{
          type: string;
          parameters: Array<{ type: string; text: string }>;
        }>
      )
        .find((c) => c.type === 'body')!
        .parameters.map((p) => p.text);
      expect(params).toEqual([
        '23 ноября, 10:42',
        '72/100 (высокая)',
        'низкий',
        'Клиент хочет окна в загородный дом до зимы. Договорились о замере в четверг.',
      ]);
      expect(fake.saidTo(manager)).not.toContain('Разбор звонка C-702');

      clock = new Date(clock.getTime() + 2 * HOUR);
      fake.clear();
      await deliver({
        messages: [message(manager, { templateButton: { text: 'Показать разбор', payload: 'show' } })],
      });
      const sent = fake.to(manager);
      expect(sent).toHaveLength(1);
      expect(String(sent[0]!.body.body)).toContain('Разбор звонка C-702');
      const rows = await deliveryRows('whatsapp:breakdown:C-702');
      expect(rows.map((r) => [r.kind, r.status])).toEqual([
        ['breakdown_template', 'sent'],
        ['breakdown', 'sent'],
      ]);
      expect(rows[0]!.payload.awaitingReply).toBe(false);
      // The next message is a question again, and the breakdown is not repeated.
      fake.clear();
      await say(manager, '/me');
      expect(fake.saidTo(manager)).not.toContain('Разбор звонка');
      expect(fake.saidTo(manager)).toContain('Роль: менеджер');
    });

    it('sends the full breakdown when the manager replies to the template message', async () => {
      clock = new Date(clock.getTime() + 30 * HOUR);
      const userId = await userIdOf(manager);
      await adapter.sendBreakdown({ userId, breakdown: breakdown('C-703') });
      const [template] = fake.to(manager);
      fake.clear();
      await deliver({ messages: [message(manager, { text: 'давай', contextId: template!.id })] });
      expect(fake.to(manager)).toHaveLength(1);
      expect(fake.saidTo(manager)).toContain('Разбор звонка C-703');
    });

    it('without a template waits for the manager to write', async () => {
      clock = new Date(clock.getTime() + 30 * HOUR);
      const noTemplate = makeAdapter({ breakdownTemplate: undefined });
      const out = await noTemplate.sendBreakdown({
        userId: await userIdOf(manager),
        breakdown: breakdown('C-704'),
      });
      expect(out).toMatchObject({ result: 'template', status: 'failed' });
      expect(fake.to(manager)).toHaveLength(0);
      await say(manager, '/me');
      expect(fake.saidTo(manager)).toContain('Разбор звонка C-704');
      expect(fake.saidTo(manager)).toContain('Роль: менеджер');
    });

    it('retries a breakdown whose status came back failed with a retryable code, with backoff', async () => {
      const userId = await userIdOf(manager);
      await adapter.sendBreakdown({ userId, breakdown: breakdown('C-705') });
      const [first] = fake.to(manager);
      await status({
        id: first!.id,
        status: 'failed',
        recipient: manager,
        error: { code: 131000, title: 'Something went wrong' },
      });
      let [row] = await deliveryRows('whatsapp:breakdown:C-705');
      expect(row).toMatchObject({ status: 'pending', attempts: 1 });
      expect(row!.last_error).toContain('131000');
      expect(await adapter.retryDue()).toBe(0);
      clock = new Date(clock.getTime() + 31_000);
      expect(await adapter.retryDue()).toBe(1);
      const sent = fake.to(manager);
      expect(sent).toHaveLength(2);
      expect(sent[1]!.body.body).toBe(first!.body.body);
      [row] = await deliveryRows('whatsapp:breakdown:C-705');
      expect(row).toMatchObject({ status: 'sent', attempts: 2, external_id: sent[1]!.id });
      // A second failure waits longer: 2 minutes.
      await status({
        id: sent[1]!.id,
        status: 'failed',
        recipient: manager,
        error: { code: 131000, title: 'Something went wrong' },
      });
      clock = new Date(clock.getTime() + 60_000);
      expect(await adapter.retryDue()).toBe(0);
      clock = new Date(clock.getTime() + 61_000);
      expect(await adapter.retryDue()).toBe(1);
    });

    it('gives up on a failure that cannot pass on retry', async () => {
      const userId = await userIdOf(manager);
      await adapter.sendBreakdown({ userId, breakdown: breakdown('C-706') });
      const [first] = fake.to(manager);
      await status({
        id: first!.id,
        status: 'failed',
        recipient: manager,
        error: { code: 131026, title: 'Message undeliverable' },
      });
      clock = new Date(clock.getTime() + 3 * HOUR);
      expect(await adapter.retryDue()).toBe(0);
      const [row] = await deliveryRows('whatsapp:breakdown:C-706');
      expect(row).toMatchObject({ status: 'failed', attempts: 1 });
      expect(fake.to(manager)).toHaveLength(1);
    });

    it('retries when the Graph API itself fails the send', async () => {
      await say(manager, '/me');
      fake.clear();
      fake.failNext('messages', { status: 500, code: 131000, message: 'Something went wrong' });
      const out = await adapter.sendBreakdown({
        userId: await userIdOf(manager),
        breakdown: breakdown('C-707'),
      });
      expect(out).toMatchObject({ result: 'text', status: 'pending' });
      clock = new Date(clock.getTime() + 31_000);
      expect(await adapter.retryDue()).toBe(1);
      expect(fake.saidTo(manager)).toContain('Разбор звонка C-707');
      const [row] = await deliveryRows('whatsapp:breakdown:C-707');
      expect(row).toMatchObject({ status: 'sent', attempts: 2 });
    });

    it('switches to the template when WhatsApp says the window has closed', async () => {
      fake.failNext('messages', { status: 400, code: 131047, message: 'Re-engagement message' });
      const out = await adapter.sendBreakdown({
        userId: await userIdOf(manager),
        breakdown: breakdown('C-708'),
      });
      expect(out).toMatchObject({ result: 'template', status: 'sent' });
      const sent = fake.to(manager);
      expect(sent.map((m) => m.type)).toEqual(['template']);
    });

    it('finds no recipient for a user without WhatsApp', async () => {
      const [u] = await db.query<{ id: number }>(
        `INSERT INTO bot_users (name, role, preferred_channel) VALUES ('Без WhatsApp', 'manager', 'telegram') RETURNING id`,
      );
      expect(await adapter.sendBreakdown({ userId: u!.id, breakdown: breakdown('C-709') })).toEqual({
        result: 'no_recipient',
      });
    });
  });
  describe('disputes and other messages', () => {
    const manager = '79990000302';
    const head = '79990000301';

    it('sends the breakdown with an "Оспорить" button, and the dispute reaches the head', async () => {
      clock = new Date(clock.getTime() + 30 * HOUR);
      await say(head, '/me');
      await say(manager, '/me');
      const [call] = await db.query<{ id: string }>(
        `SELECT id FROM calls WHERE manager_id = 'M-5' ORDER BY id LIMIT 1`,
      );
      const b = breakdown(call!.id);
      await db.query(
        `INSERT INTO call_analyses (call_id, analyzer, breakdown) VALUES ($1, 'offline@1.0', $2::jsonb)`,
        [call!.id, JSON.stringify(b)],
      );
      fake.clear();
      const out = await adapter.sendBreakdown({
        userId: await userIdOf(manager),
        breakdown: b,
        reply: breakdownReply(b, { withDispute: true }),
      });
      expect(out).toMatchObject({ result: 'text', status: 'sent' });
      const [card] = fake.to(manager);
      expect(card!.type).toBe('interactive');
      expect(String((card!.body.body as { text: string }).text)).toContain(`Разбор звонка ${call!.id}`);
      const [dispute] = (card!.body.action as { buttons: Array<{ reply: { id: string; title: string } }> })
        .buttons;
      expect(dispute!.reply.title).toBe('Оспорить');

      fake.clear();
      await deliver({ messages: [message(manager, { buttonReply: dispute!.reply })] });
      expect(fake.saidTo(manager)).toMatch(/Напишите одним сообщением/);
      await say(manager, 'Клиент не возражал по цене, он уточнял');
      expect(fake.saidTo(manager)).toMatch(/передал руководителю: /);
      expect(fake.saidTo(head)).toContain(`оспаривает разбор звонка ${call!.id}`);
      expect(fake.saidTo(head)).toContain('«Клиент не возражал по цене, он уточнял»');
    });

    it('refuses a free-form message to someone silent for over 24 hours', async () => {
      clock = new Date(clock.getTime() + 25 * HOUR);
      fake.clear();
      const err = await adapter.sendToChat(head, { text: 'Привет', html: 'Привет' }).catch((e: unknown) => e);
      expect(err).toMatchObject({ code: 'whatsapp_window_closed' });
      expect(fake.calls).toHaveLength(0);
    });
  });
});
