import { autoRetry } from '@grammyjs/auto-retry';
import { type RunnerHandle, run, sequentialize } from '@grammyjs/runner';
import {
  Bot,
  type Context,
  GrammyError,
  HttpError,
  InlineKeyboard,
  InputFile,
  webhookCallback,
} from 'grammy';
import type { UserFromGetMe } from 'grammy/types';
import { GENERIC_USER_ERROR } from '../../errors.ts';
import type { Logger } from '../../logger.ts';
import type { Identity } from '../access.ts';
import type { ConversationCore, Reply } from '../core.ts';
import { splitMessage } from '../split.ts';

export { splitMessage };

export interface TelegramDeps {
  token: string;
  /** Base URL of a self-hosted Bot API server, without `/bot`. */
  apiRoot?: string | undefined;
  core: ConversationCore;
  logger: Logger;
  /** Preset bot info (tests); otherwise fetched with getMe on start. */
  botInfo?: UserFromGetMe | undefined;
}

/** The command menu, in Russian. */
export const commandMenu = [
  { command: 'start', description: 'Начать работу (и ввести код приглашения)' },
  { command: 'help', description: 'Что я умею и примеры вопросов' },
  { command: 'me', description: 'Кто я и что мне доступно' },
  { command: 'calls', description: 'Звонки за сегодня' },
  { command: 'forgotten', description: 'Забытые сделки' },
  { command: 'plan', description: 'Выполнение плана за месяц' },
  { command: 'digest', description: 'Подписка на ежедневную и еженедельную сводку' },
];

const MAX_CAPTION = 1024;

function identityOf(ctx: Context): Identity | undefined {
  if (!ctx.from || !ctx.chat) return undefined;
  const name = [ctx.from.first_name, ctx.from.last_name].filter(Boolean).join(' ');
  return {
    channel: 'telegram',
    externalId: String(ctx.from.id),
    chatId: String(ctx.chat.id),
    displayName: name || undefined,
  };
}

function keyboardOf(reply: Reply): InlineKeyboard | undefined {
  if (!reply.buttons?.length) return undefined;
  const kb = new InlineKeyboard();
  reply.buttons.forEach((row, i) => {
    if (i > 0) kb.row();
    for (const b of row) kb.text(b.label, b.data);
  });
  return kb;
}

/** Sends one core reply: chart photo (with the text as caption when it fits), text parts, file. */
export async function sendReply(api: Bot['api'], chatId: number | string, reply: Reply): Promise<void> {
  const keyboard = keyboardOf(reply);
  const markup = keyboard ? { reply_markup: keyboard } : {};
  if (reply.chart) {
    const fits = reply.html.length <= MAX_CAPTION;
    await api.sendPhoto(chatId, new InputFile(reply.chart.png, 'chart.png'), {
      ...(fits ? { caption: reply.html, parse_mode: 'HTML' as const, ...markup } : {}),
    });
    if (fits) return sendFile(api, chatId, reply);
  }
  const parts = splitMessage(reply.html);
  for (const [i, part] of parts.entries()) {
    const last = i === parts.length - 1;
    await api.sendMessage(chatId, part, {
      parse_mode: 'HTML',
      link_preview_options: { is_disabled: true },
      ...(last ? markup : {}),
    });
  }
  await sendFile(api, chatId, reply);
}

async function sendFile(api: Bot['api'], chatId: number | string, reply: Reply): Promise<void> {
  if (reply.file) await api.sendDocument(chatId, new InputFile(reply.file.data, reply.file.name));
}

/**
 * The Telegram adapter: thin handlers that hand text and button presses to the
 * conversation core and render its replies. Updates of one chat are handled in
 * order; 429 and 5xx answers are retried by auto-retry.
 */
export function createTelegramBot(deps: TelegramDeps) {
  const bot = new Bot(deps.token, {
    ...(deps.botInfo ? { botInfo: deps.botInfo } : {}),
    client: { ...(deps.apiRoot ? { apiRoot: deps.apiRoot } : {}) },
  });
  bot.api.config.use(autoRetry({ maxRetryAttempts: 3, maxDelaySeconds: 30 }));
  bot.use(sequentialize((ctx: Context) => ctx.chat?.id.toString()));

  bot.on('message:text', async (ctx) => {
    const identity = identityOf(ctx);
    if (!identity) return;
    await ctx.replyWithChatAction('typing').catch(() => {});
    const replies = await deps.core.handleText(identity, ctx.message.text);
    for (const r of replies) await sendReply(ctx.api, ctx.chat.id, r);
  });

  bot.on('callback_query:data', async (ctx) => {
    // Acknowledge first: the button stops spinning even if the answer takes a while.
    await ctx.answerCallbackQuery();
    const identity = identityOf(ctx);
    if (!identity || !ctx.chat) return;
    const replies = await deps.core.handleButton(identity, ctx.callbackQuery.data);
    for (const r of replies) await sendReply(ctx.api, ctx.chat.id, r);
  });

  bot.catch(async (err) => {
    const ctx = err.ctx;
    const log = deps.logger.child({ update_id: ctx.update.update_id });
    if (err.error instanceof GrammyError) log.error({ err: err.error.description }, 'Bot API error');
    else if (err.error instanceof HttpError) log.error({ err: err.error.message }, 'Bot API unreachable');
    else log.error({ err: err.error }, 'update handler failed');
    if (ctx.chat) await ctx.api.sendMessage(ctx.chat.id, GENERIC_USER_ERROR).catch(() => {});
  });

  let runner: RunnerHandle | undefined;

  return {
    bot,
    /** Long polling (updates of one chat in order). */
    async startPolling(): Promise<void> {
      await bot.init();
      await bot.api.deleteWebhook();
      await bot.api.setMyCommands(commandMenu);
      runner = run(bot);
      deps.logger.info({ username: bot.botInfo.username }, 'Telegram bot polling');
    },
    /** Webhook mode: registers `url` with a secret token; `handler` serves the POSTs. */
    async startWebhook(url: string, secretToken: string) {
      await bot.init();
      await bot.api.setMyCommands(commandMenu);
      await bot.api.setWebhook(url, {
        secret_token: secretToken,
        allowed_updates: ['message', 'callback_query'],
      });
      deps.logger.info({ username: bot.botInfo.username, url }, 'Telegram webhook set');
    },
    webhookHandler(secretToken: string) {
      return webhookCallback(bot, 'http', { secretToken, timeoutMilliseconds: 9_000, onTimeout: 'return' });
    },
    async stop(): Promise<void> {
      if (runner?.isRunning()) await runner.stop();
    },
  };
}

export type TelegramBot = ReturnType<typeof createTelegramBot>;
