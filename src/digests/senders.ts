import { AsyncLocalStorage } from 'node:async_hooks';
import fs from 'node:fs';
import path from 'node:path';
import { autoRetry } from '@grammyjs/auto-retry';
import { Api, GrammyError, HttpError } from 'grammy';
import type { Channel } from '../bot/access.ts';
import type { Reply } from '../bot/core.ts';
import { sendReply } from '../bot/telegram/index.ts';

/**
 * Sends one message of a digest or alert to a user's chat on a channel. Throws
 * `SendError` with `permanent` set when retrying cannot help (the user blocked
 * the bot, the chat is gone); any other error is retried with backoff.
 */
export type DigestSender = (
  userId: number,
  channel: Channel,
  chatId: string,
  reply: Reply,
) => Promise<{ externalId?: string | undefined }>;

export type DigestSenders = Partial<Record<Channel, DigestSender>>;

export class SendError extends Error {
  override name = 'SendError';
  constructor(
    message: string,
    readonly permanent: boolean,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** Bot API answers that no retry will change: bad request, blocked by the user, chat not found. */
const PERMANENT_TELEGRAM = new Set([400, 401, 403, 404]);
const SENDS = new Set(['sendMessage', 'sendPhoto', 'sendDocument']);

/**
 * Telegram: the adapter's `sendReply` over a Bot API client of its own, which
 * remembers the id of the last message sent for the outbox. Flood waits
 * (429) of up to 30 s are waited out; server and network errors go back to
 * the outbox's backoff.
 */
export function createTelegramSender(opts: { token: string; apiRoot?: string | undefined }): DigestSender {
  const api = new Api(opts.token, opts.apiRoot ? { apiRoot: opts.apiRoot } : {});
  api.config.use(
    autoRetry({
      maxRetryAttempts: 2,
      maxDelaySeconds: 30,
      rethrowInternalServerErrors: true,
      rethrowHttpErrors: true,
    }),
  );
  const lastMessage = new AsyncLocalStorage<{ id?: string }>();
  api.config.use(async (prev, method, payload, signal) => {
    const res = await prev(method, payload, signal);
    const slot = lastMessage.getStore();
    if (slot && res.ok && SENDS.has(method)) {
      const id = (res.result as { message_id?: number } | undefined)?.message_id;
      if (id !== undefined) slot.id = String(id);
    }
    return res;
  });
  return async (_userId, _channel, chatId, reply) => {
    const slot: { id?: string } = {};
    try {
      await lastMessage.run(slot, () => sendReply(api, chatId, reply));
    } catch (err) {
      if (err instanceof GrammyError) {
        throw new SendError(
          `Telegram ${err.error_code}: ${err.description}`,
          PERMANENT_TELEGRAM.has(err.error_code),
          {
            cause: err,
          },
        );
      }
      if (err instanceof HttpError)
        throw new SendError(`Telegram unreachable: ${err.message}`, false, { cause: err });
      throw err;
    }
    return { externalId: slot.id };
  };
}

/**
 * A channel the messenger router reaches (WhatsApp, once its adapter
 * registers): the router's send, without a message id. A channel with no
 * adapter running is a permanent failure, shown in `voronka digest status`.
 */
export function senderFromRouter(router: {
  has(channel: Channel): boolean;
  send(to: { userId: number; name: string; channel: Channel; chatId: string }, reply: Reply): Promise<void>;
}): DigestSender {
  return async (userId, channel, chatId, reply) => {
    if (!router.has(channel)) throw new SendError(`канал ${channel} не подключён`, true);
    await router.send({ userId, name: '', channel, chatId }, reply);
    return {};
  };
}

/**
 * The console channel: each message appended to `digests.log` in `dir`,
 * charts saved beside it as PNG files whose paths the log names.
 */
export function createConsoleSender(opts: { dir: string; now: () => Date }): DigestSender {
  let n = 0;
  return async (userId, _channel, _chatId, reply) => {
    fs.mkdirSync(opts.dir, { recursive: true });
    const stamp = opts.now().toISOString().replace(/[:.]/g, '-');
    const lines = [`--- ${opts.now().toISOString()} user ${userId}`, reply.text];
    let externalId = `${stamp}-${++n}`;
    if (reply.chart) {
      const file = path.join(opts.dir, `digest-${userId}-${externalId}.png`);
      fs.writeFileSync(file, reply.chart.png);
      lines.push(`📊 График: ${file}`);
      externalId = path.basename(file);
    }
    fs.appendFileSync(path.join(opts.dir, 'digests.log'), `${lines.join('\n')}\n`);
    return { externalId };
  };
}
