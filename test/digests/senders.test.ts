import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Reply } from '../../src/bot/core.ts';
import { createMessengerRouter } from '../../src/bot/router.ts';
import {
  createConsoleSender,
  createTelegramSender,
  SendError,
  senderFromRouter,
} from '../../src/digests/senders.ts';
import { startFakeTelegram } from '../helpers/fake-telegram.ts';

const PNG = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 1, 2, 3]);
const text: Reply = { text: 'Сводка <за вчера>', html: 'Сводка &lt;за вчера&gt;' };
const chart: Reply = { text: 'Звонки по дням', html: 'Звонки по дням', chart: { png: PNG } };

describe('digest senders', () => {
  let fake: Awaited<ReturnType<typeof startFakeTelegram>>;
  beforeAll(async () => {
    fake = await startFakeTelegram();
  });
  afterAll(async () => {
    await fake.close();
  });

  it('Telegram: sends HTML text and charts as photos, and returns the message id', async () => {
    const send = createTelegramSender({ token: fake.token, apiRoot: fake.apiRoot });
    const first = await send(1, 'telegram', '8001', text);
    const second = await send(1, 'telegram', '8001', chart);
    const [message] = fake.of('sendMessage');
    const [photo] = fake.of('sendPhoto');
    expect(message!.params).toMatchObject({
      chat_id: '8001',
      text: 'Сводка &lt;за вчера&gt;',
      parse_mode: 'HTML',
    });
    expect(photo!.params).toMatchObject({ chat_id: '8001', caption: 'Звонки по дням' });
    expect((photo!.params.photo as { bytes: Buffer }).bytes).toEqual(PNG);
    expect(Number(second.externalId)).toBe(Number(first.externalId) + 1);
  });

  it('Telegram: a blocked bot is a permanent failure, a server error a passing one', async () => {
    const send = createTelegramSender({ token: fake.token, apiRoot: fake.apiRoot });
    fake.failNext('sendMessage', { status: 403 }, { status: 502 });
    const blocked = await send(1, 'telegram', '8002', text).catch((e: unknown) => e);
    const flaky = await send(1, 'telegram', '8002', text).catch((e: unknown) => e);
    expect(blocked).toBeInstanceOf(SendError);
    expect(blocked).toMatchObject({ permanent: true, message: expect.stringMatching(/^Telegram 403/) });
    expect(flaky).toMatchObject({ permanent: false, message: expect.stringMatching(/^Telegram 502/) });
  });

  it('console: appends the text to digests.log and saves charts beside it', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'voronka-console-sender-'));
    try {
      const send = createConsoleSender({ dir, now: () => new Date('2026-11-23T06:00:00Z') });
      await send(3, 'console', 'local', text);
      const { externalId } = await send(3, 'console', 'local', chart);
      const log = fs.readFileSync(path.join(dir, 'digests.log'), 'utf8');
      expect(log).toContain('--- 2026-11-23T06:00:00.000Z user 3\nСводка <за вчера>\n');
      expect(fs.readFileSync(path.join(dir, externalId!))).toEqual(PNG);
      expect(log).toContain(`📊 График: ${path.join(dir, externalId!)}`);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('router channels: sent through the registered adapter; none registered is a permanent failure', async () => {
    const router = createMessengerRouter();
    const send = senderFromRouter(router);
    const err = await send(4, 'whatsapp', '79990001122', text).catch((e: unknown) => e);
    expect(err).toMatchObject({ permanent: true, message: 'канал whatsapp не подключён' });
    const got: Array<[string, string]> = [];
    router.register('whatsapp', async (chatId, reply) => {
      got.push([chatId, reply.text]);
    });
    await send(4, 'whatsapp', '79990001122', text);
    expect(got).toEqual([['79990001122', 'Сводка <за вчера>']]);
  });
});
