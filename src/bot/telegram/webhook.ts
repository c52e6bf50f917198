import { timingSafeEqual } from 'node:crypto';
import type { Update } from 'grammy/types';
import type { Logger } from '../../logger.ts';
import type { Route } from '../../server/http.ts';
import type { TelegramBot } from './index.ts';

export const TELEGRAM_WEBHOOK_PATH = '/hooks/telegram';

function sameSecret(got: string | undefined, want: string): boolean {
  if (!got) return false;
  const a = Buffer.from(got);
  const b = Buffer.from(want);
  return a.length === b.length && timingSafeEqual(a, b);
}

/**
 * `POST /hooks/telegram`: only requests carrying our secret token in
 * `X-Telegram-Bot-Api-Secret-Token` are processed; anything else gets 401.
 */
export function telegramWebhookRoute(tg: TelegramBot, secretToken: string, logger: Logger): Route {
  return {
    method: 'POST',
    path: TELEGRAM_WEBHOOK_PATH,
    async handler(req) {
      const header = req.headers['x-telegram-bot-api-secret-token'];
      if (!sameSecret(Array.isArray(header) ? header[0] : header, secretToken)) {
        logger.warn({ path: req.path }, 'Telegram webhook with a wrong secret token');
        return { status: 401, body: { ok: false } };
      }
      const update = req.json<Update>();
      if (typeof update?.update_id !== 'number') return { status: 400, body: { ok: false } };
      await tg.bot.handleUpdate(update);
      return { status: 200, body: { ok: true } };
    },
  };
}
