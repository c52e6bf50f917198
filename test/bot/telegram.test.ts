import fs from 'node:fs';
import ExcelJS from 'exceljs';
import type { Update } from 'grammy/types';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { analyzeOffline } from '../../src/analysis/offline/analyzer.ts';
import { parseTranscript } from '../../src/analysis/transcript.ts';
import { createInvite } from '../../src/bot/access.ts';
import type { BreakdownReadyEvent } from '../../src/bot/breakdowns.ts';
import { STRANGER_REPLY } from '../../src/bot/core.ts';
import {
  createTelegramBot,
  sendReply,
  splitMessage,
  type TelegramBot,
} from '../../src/bot/telegram/index.ts';
import { telegramWebhookRoute } from '../../src/bot/telegram/webhook.ts';
import { loadConfig } from '../../src/config.ts';
import { silentLogger } from '../../src/logger.ts';
import type { App } from '../../src/main.ts';
import { createHttpServer } from '../../src/server/http.ts';
import { createServices } from '../../src/services.ts';
import { createTestDb, drivers, type TestDb } from '../helpers/db.ts';
import { DEMO_NOW, loadDemo } from '../helpers/demo.ts';
import { startFakeTelegram, type UploadedFile } from '../helpers/fake-telegram.ts';
import { sharedPath } from '../helpers/shared.ts';

const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
const driver = drivers.at(-1)!;

describe(`Telegram bot on ${driver}`, () => {
  let db: TestDb;
  let fake: Awaited<ReturnType<typeof startFakeTelegram>>;
  let tg: TelegramBot;
  let breakdownReady: (e: BreakdownReadyEvent) => Promise<void>;
  let updateId = 1;

  const text = (userId: number, t: string): Update => ({
    update_id: updateId++,
    message: {
      message_id: updateId,
      date: Math.floor(DEMO_NOW.getTime() / 1000),
      chat: { id: userId, type: 'private', first_name: 'Тест' },
      from: { id: userId, is_bot: false, first_name: 'Тест' },
      text: t,
    },
  });
  const press = (userId: number, data: string): Update => ({
    update_id: updateId++,
    callback_query: {
      id: `cb${updateId}`,
      chat_instance: 'ci',
      from: { id: userId, is_bot: false, first_name: 'Тест' },
      message: { message_id: 1, date: 0, chat: { id: userId, type: 'private', first_name: 'Тест' } },
      data,
    },
  });
  /** Everything the bot said to a chat since the last clear: captions and texts. */
  const said = (chatId: number) =>
    fake.calls
      .filter((c) => Number(c.params.chat_id) === chatId && ['sendMessage', 'sendPhoto'].includes(c.method))
      .map((c) => String(c.params.text ?? c.params.caption ?? ''))
      .join('\n');
  const buttonsOf = (call: { params: Record<string, unknown> }) =>
    (
      (
        call.params.reply_markup as {
          inline_keyboard?: Array<Array<{ text: string; callback_data: string }>>;
        }
      )?.inline_keyboard ?? []
    ).flat();

  async function invite(userId: number, role: 'admin' | 'head' | 'manager', managerId: string | null) {
    const { code } = await createInvite(db, { role, managerId, expiresInMs: 86_400_000, now: DEMO_NOW });
    await tg.bot.handleUpdate(text(userId, `/start ${code}`));
    return code;
  }

  beforeAll(async () => {
    db = await createTestDb(driver);
    await loadDemo(db);
    fake = await startFakeTelegram();
    const app: App = {
      config: loadConfig({}),
      logger: silentLogger,
      db,
      now: () => DEMO_NOW,
      close: async () => {},
    };
    const services = createServices(app);
    tg = createTelegramBot({
      token: fake.token,
      apiRoot: fake.apiRoot,
      core: services.core,
      logger: silentLogger,
      botInfo: fake.botInfo,
    });
    services.router.register('telegram', (chatId, reply) => sendReply(tg.bot.api, chatId, reply));
    breakdownReady = services.breakdownReady;
  }, 180_000);
  afterAll(async () => {
    await fake?.close();
    await db?.dispose();
  });
  beforeEach(() => fake.clear());

  it('refuses a stranger once, politely, and shows no data', async () => {
    await tg.bot.handleUpdate(text(900, 'сколько звонков вчера?'));
    await tg.bot.handleUpdate(text(900, 'ну ответь'));
    const messages = fake.of('sendMessage').filter((c) => c.params.chat_id === 900);
    expect(messages.map((m) => m.params.text)).toEqual([STRANGER_REPLY]);
    expect(fake.of('sendPhoto')).toHaveLength(0);
  });

  it('binds an invited head, answers with a chart photo and buttons', async () => {
    const code = await invite(101, 'head', 'M-1');
    expect(said(101)).toContain('Доступ открыт');
    fake.clear();
    await tg.bot.handleUpdate(text(101, 'звонки за неделю по менеджерам'));
    const [photo] = fake.of('sendPhoto');
    expect(photo).toBeDefined();
    const file = photo!.params.photo as UploadedFile;
    expect(file.bytes.subarray(0, 8).equals(PNG_SIGNATURE)).toBe(true);
    expect(String(photo!.params.caption)).toContain('Звонки');
    expect(String(photo!.params.caption)).toMatch(/17–23 ноября 2026/);
    const labels = buttonsOf(photo!).map((b) => b.text);
    expect(labels).toEqual(
      expect.arrayContaining(['Сегодня', 'Вчера', '7 дней', 'Месяц', 'Excel', 'Как считается?']),
    );
    // A used code is refused the second time.
    fake.clear();
    await tg.bot.handleUpdate(text(555, code));
    expect(said(555)).toMatch(/недействителен/);
  });

  it('re-runs the answer for another period when a button is pressed, and acknowledges the press', async () => {
    await tg.bot.handleUpdate(text(101, 'сколько было звонков вчера'));
    const answer = fake.calls.find(
      (c) => ['sendPhoto', 'sendMessage'].includes(c.method) && buttonsOf(c).length > 0,
    )!;
    const month = buttonsOf(answer).find((b) => b.text === 'Месяц')!;
    fake.clear();
    await tg.bot.handleUpdate(press(101, month.callback_data));
    expect(fake.of('answerCallbackQuery')).toHaveLength(1);
    expect(said(101)).toMatch(/ноябрь 2026|1–30 ноября 2026/);
  });

  it('sends an Excel file that opens with the figures', async () => {
    await tg.bot.handleUpdate(text(101, 'забытые сделки по менеджерам'));
    const answer = fake.calls.find((c) => buttonsOf(c).some((b) => b.text === 'Excel'))!;
    const excel = buttonsOf(answer).find((b) => b.text === 'Excel')!;
    fake.clear();
    await tg.bot.handleUpdate(press(101, excel.callback_data));
    const [doc] = fake.of('sendDocument');
    const file = doc!.params.document as UploadedFile;
    expect(file.filename).toMatch(/\.xlsx$/);
    const wb = new ExcelJS.Workbook();
    await wb.xlsx.load(file.bytes as unknown as ArrayBuffer);
    const summary = wb.getWorksheet('Итоги')!;
    const labels = summary.getColumn(1).values.filter(Boolean).map(String);
    expect(labels).toContain('Забытые сделки');
    expect(wb.getWorksheet('Записи')!.rowCount).toBeGreaterThan(1);
  });

  it('asks back on an ambiguous name and completes the question with the reply', async () => {
    await tg.bot.handleUpdate(text(101, 'Сколько забытых сделок у Алексея?'));
    expect(said(101)).toContain('Алексей Чуркин или Алексей Смирнов');
    fake.clear();
    await tg.bot.handleUpdate(text(101, 'Чуркин'));
    expect(said(101)).toMatch(/Забытые сделки.*Алексей Чуркин/);
  });

  it('understands a follow-up that changes the period', async () => {
    await tg.bot.handleUpdate(text(101, 'сколько лидов пришло вчера'));
    fake.clear();
    await tg.bot.handleUpdate(text(101, 'а за прошлую неделю?'));
    expect(said(101)).toMatch(/Лиды<\/b> — прошлая неделя \(16–22 ноября 2026\)/);
  });

  it('refuses a manager who asks about a colleague, with no number', async () => {
    await invite(202, 'manager', 'M-5');
    fake.clear();
    await tg.bot.handleUpdate(text(202, 'звонки Марины Соколовой за неделю'));
    expect(said(202)).toMatch(/недоступны/);
    expect(said(202)).not.toMatch(/\d/);
  });

  it('retries after 429 Too Many Requests and delivers the answer', async () => {
    fake.failNext('sendMessage', { status: 429, retryAfter: 1 });
    await tg.bot.handleUpdate(text(101, '/me'));
    const sends = fake.of('sendMessage');
    expect(sends).toHaveLength(2);
    expect(String(sends[1]!.params.text)).toContain('Роль: руководитель');
  });

  it('processes webhook updates only with the right secret token', async () => {
    const server = createHttpServer({
      logger: silentLogger,
      routes: [telegramWebhookRoute(tg, 's3cret-token', silentLogger)],
    });
    const { url } = await server.listen(0, '127.0.0.1');
    const post = (secret: string | undefined) =>
      fetch(`${url}/hooks/telegram`, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          ...(secret ? { 'x-telegram-bot-api-secret-token': secret } : {}),
        },
        body: JSON.stringify(text(101, '/me')),
      });
    expect((await post('wrong')).status).toBe(401);
    expect((await post(undefined)).status).toBe(401);
    expect(fake.of('sendMessage')).toHaveLength(0);
    expect((await post('s3cret-token')).status).toBe(200);
    expect(fake.of('sendMessage')).toHaveLength(1);
    await server.close();
  });

  it('delivers a call breakdown once, alerts the head on high risk, and forwards a dispute', async () => {
    await invite(303, 'manager', 'M-7');
    const [call] = await db.query<{ id: string }>(
      `SELECT id FROM calls WHERE manager_id = 'M-7' ORDER BY id LIMIT 1`,
    );
    const transcript = fs.readFileSync(sharedPath('fixtures/transcripts/sample-speaker-ids.txt'), 'utf8');
    const breakdown = {
      ...analyzeOffline(parseTranscript(transcript), { callId: call!.id }),
      churn_risk: 'high' as const,
    };
    await db.query(
      `INSERT INTO call_analyses (call_id, analyzer, breakdown) VALUES ($1, 'offline@1.0', $2::jsonb)`,
      [call!.id, JSON.stringify(breakdown)],
    );
    fake.clear();
    const event = { callId: call!.id, managerId: 'M-7', analyzer: 'offline@1.0', breakdown };
    await breakdownReady(event);
    await breakdownReady(event);
    const toManager = fake.of('sendMessage').filter((c) => c.params.chat_id === '303');
    expect(toManager).toHaveLength(1);
    expect(String(toManager[0]!.params.text)).toContain(`Разбор звонка ${call!.id}`);
    expect(String(toManager[0]!.params.text)).toContain('«Дороговато.»');
    const dispute = buttonsOf(toManager[0]!).find((b) => b.text === 'Оспорить')!;
    const toHead = fake.of('sendMessage').filter((c) => c.params.chat_id === '101');
    expect(toHead).toHaveLength(1);
    expect(String(toHead[0]!.params.text)).toContain(
      'Высокий риск потери клиента — звонок менеджера Марина Соколова',
    );

    fake.clear();
    await tg.bot.handleUpdate(press(303, dispute.callback_data));
    expect(said(303)).toMatch(/Напишите одним сообщением/);
    await tg.bot.handleUpdate(text(303, 'Клиент не возражал по цене, он уточнял'));
    expect(said(303)).toMatch(/передал руководителю: /);
    expect(said(101)).toContain(`оспаривает разбор звонка ${call!.id}`);
    expect(said(101)).toContain('«Клиент не возражал по цене, он уточнял»');
  });

  it('splits long messages on line boundaries under 4096 characters', () => {
    const lines = Array.from({ length: 300 }, (_, i) => `${i + 1}. ${'Сделка '.repeat(4)}`);
    const parts = splitMessage(lines.join('\n'));
    expect(parts.length).toBeGreaterThan(1);
    for (const p of parts) expect(p.length).toBeLessThanOrEqual(4096);
    expect(parts.join('\n')).toBe(lines.join('\n'));
  });
});
