import type { Config } from '../../config.ts';
import type { Db } from '../../db/client.ts';
import { AppError } from '../../errors.ts';
import type { Logger } from '../../logger.ts';
import type { Route } from '../../server/http.ts';
import { findUser, type Identity } from '../access.ts';
import type { ConversationCore, Reply } from '../core.ts';
import { createGraphClient, type GraphClient } from './graph.ts';
import { createBreakdownOutbox, insideWindow } from './outbox.ts';
import { type InboundMessage, parseWebhook, type StatusUpdate } from './payload.ts';
import { planReply } from './render.ts';
import { createMessageSender } from './send.ts';

export { type BreakdownOutcome, type BreakdownRequest, breakdownTemplateParams } from './outbox.ts';

export const WHATSAPP_WEBHOOK_PATH = '/hooks/whatsapp';

export type WhatsAppSettings = NonNullable<Config['whatsapp']>;

export const UNSUPPORTED_REPLY = 'Я понимаю только текстовые сообщения и кнопки. Напишите вопрос текстом.';

export interface WhatsAppDeps {
  settings: WhatsAppSettings;
  db: Db;
  core: ConversationCore;
  logger: Logger;
  now: () => Date;
  /** How often due breakdown retries are sent (default 30 s). */
  retryIntervalMs?: number | undefined;
}

/** Message types a person sends on purpose and would expect an answer to. */
const MEDIA_TYPES = new Set(['image', 'audio', 'video', 'document', 'sticker', 'location', 'contacts']);
/** Numbered options older than this are no longer what a digit answers. */
const OPTIONS_TTL_MS = 24 * 3_600_000;
/** Meta stops redelivering a webhook after 7 days; message ids are kept twice as long. */
const INBOUND_KEEP_MS = 14 * 24 * 3_600_000;

/**
 * The WhatsApp Cloud API adapter: the `/hooks/whatsapp` webhook (GET
 * handshake, signed POSTs acknowledged at once and processed in the
 * background, each message id once across restarts and processes), replies of
 * the conversation core rendered for WhatsApp, and per-call breakdowns
 * through the outbox with the 24-hour window and template fallback.
 */
export function createWhatsAppAdapter(deps: WhatsAppDeps) {
  const { settings, db, core, logger } = deps;
  const graph: GraphClient = createGraphClient(settings);
  const sendMessages = createMessageSender(graph, logger);
  const outbox = createBreakdownOutbox({
    db,
    graph,
    sendMessages,
    logger,
    now: deps.now,
    template: settings.breakdownTemplate,
  });

  /* ---------- background processing ---------- */

  const inflight = new Set<Promise<void>>();
  const chains = new Map<string, Promise<void>>();

  /**
   * Runs tasks of one chat in arrival order; different chats run side by
   * side. The returned promise settles with the task (the chain itself goes on).
   */
  function enqueue(chain: string, task: () => Promise<void>): Promise<void> {
    const run = (chains.get(chain) ?? Promise.resolve()).then(task);
    const settled = run.catch((err) =>
      logger.error({ err, kind: chain.split(':')[0] }, 'WhatsApp processing failed'),
    );
    chains.set(chain, settled);
    inflight.add(settled);
    void settled.finally(() => {
      inflight.delete(settled);
      if (chains.get(chain) === settled) chains.delete(chain);
    });
    return run;
  }

  /** Waits until every acknowledged webhook has been processed. */
  async function idle(): Promise<void> {
    while (inflight.size > 0) await Promise.allSettled([...inflight]);
  }

  /* ---------- inbound ---------- */

  /** Takes a message id for processing; false when some process already took it. */
  async function claimMessage(id: string): Promise<boolean> {
    const rows = await db.query(
      'INSERT INTO whatsapp_inbound (message_id, received_at) VALUES ($1, $2) ON CONFLICT (message_id) DO NOTHING RETURNING message_id',
      [id, deps.now()],
    );
    return rows.length > 0;
  }

  /** Opens (extends) the 24-hour customer service window of this number. */
  async function touchWindow(from: string, at: Date): Promise<void> {
    await db.query(
      `UPDATE messenger_identities SET last_inbound_at = GREATEST(COALESCE(last_inbound_at, $2), $2)
       WHERE channel = 'whatsapp' AND external_id = $1`,
      [from, at],
    );
  }

  const optionsKey = (chatId: string) => `whatsapp-options:${chatId}`;

  async function loadOptions(chatId: string): Promise<string[] | undefined> {
    const [row] = await db.query<{ state: { options: string[]; at: string } }>(
      'SELECT state FROM dialogue_states WHERE chat_key = $1',
      [optionsKey(chatId)],
    );
    if (!row || deps.now().getTime() - new Date(row.state.at).getTime() > OPTIONS_TTL_MS) return undefined;
    return row.state.options;
  }

  async function saveOptions(chatId: string, options: string[] | undefined): Promise<void> {
    if (!options) {
      await db.query('DELETE FROM dialogue_states WHERE chat_key = $1', [optionsKey(chatId)]);
      return;
    }
    await db.query(
      `INSERT INTO dialogue_states (chat_key, state, updated_at) VALUES ($1, $2::jsonb, $3)
       ON CONFLICT (chat_key) DO UPDATE SET state = excluded.state, updated_at = excluded.updated_at`,
      [optionsKey(chatId), JSON.stringify({ options, at: deps.now().toISOString() }), deps.now()],
    );
  }

  /** Sends core replies in order; returns the numbered options of the last one (if it had any). */
  async function sendReplies(to: string, replies: Reply[]): Promise<string[] | undefined> {
    let options: string[] | undefined;
    for (const reply of replies) {
      const plan = planReply(reply);
      await sendMessages(to, plan.messages, { retry: true });
      options = plan.options;
    }
    return options;
  }

  /**
   * A message to a user who did not just write (a dispute for a head, a
   * digest), for the messenger router. Outside the 24-hour window WhatsApp
   * accepts only templates, so it is refused rather than lost silently.
   */
  async function sendToChat(chatId: string, reply: Reply): Promise<void> {
    const [row] = await db.query<{ last_inbound_at: Date | null }>(
      `SELECT max(last_inbound_at) AS last_inbound_at FROM messenger_identities WHERE channel = 'whatsapp' AND chat_id = $1`,
      [chatId],
    );
    if (!insideWindow(row?.last_inbound_at, deps.now())) {
      throw new AppError(
        'whatsapp_window_closed',
        'WhatsApp user has not written for 24 hours: only a template may be sent',
        'Сообщение в WhatsApp не отправлено: адресат не писал боту больше суток.',
      );
    }
    await enqueue(`chat:${chatId}`, async () => {
      await saveOptions(chatId, await sendReplies(chatId, [reply]));
    });
  }

  async function replyTo(
    identity: Identity,
    msg: InboundMessage,
    answered: string[],
  ): Promise<Reply[] | undefined> {
    switch (msg.type) {
      case 'text': {
        const text = msg.text?.body ?? '';
        const digit = /^\s*(\d{1,2})\s*$/.exec(text);
        if (digit) {
          const options = await loadOptions(identity.chatId);
          const data = options?.[Number(digit[1]) - 1];
          if (data) return core.handleButton(identity, data);
        }
        if (msg.context?.id && answered.includes(msg.context.id)) return undefined;
        return core.handleText(identity, text);
      }
      case 'interactive': {
        const data = msg.interactive?.button_reply?.id ?? msg.interactive?.list_reply?.id;
        return data ? core.handleButton(identity, data) : undefined;
      }
      case 'button':
        // A template's quick reply: the full breakdown it asked for has just gone out.
        if (answered.length > 0) return undefined;
        return msg.button?.text ? core.handleText(identity, msg.button.text) : undefined;
      default:
        if (!MEDIA_TYPES.has(msg.type)) return undefined;
        return (await findUser(db, identity))
          ? [{ text: UNSUPPORTED_REPLY, html: UNSUPPORTED_REPLY }]
          : undefined;
    }
  }

  async function handleMessage(msg: InboundMessage): Promise<void> {
    if (!(await claimMessage(msg.id))) {
      logger.debug({ wamid: msg.id }, 'duplicate WhatsApp message ignored');
      return;
    }
    const identity: Identity = {
      channel: 'whatsapp',
      externalId: msg.from,
      chatId: msg.from,
      displayName: msg.displayName,
    };
    const sentAt = msg.timestamp ? new Date(Number(msg.timestamp) * 1000) : deps.now();
    const at = Number.isNaN(sentAt.getTime()) || sentAt > deps.now() ? deps.now() : sentAt;
    await touchWindow(msg.from, at);
    const answered = await outbox.releaseAwaiting(msg.from, msg.from);
    const replies = await replyTo(identity, msg, answered);
    // An invite code may have just bound this number: its window starts with this message too.
    await touchWindow(msg.from, at);
    if (!replies || replies.length === 0) return;
    const options = await sendReplies(msg.from, replies);
    await saveOptions(msg.from, options);
  }

  /** Forgets message ids older than any redelivery; returns how many. */
  async function pruneInbound(): Promise<number> {
    const rows = await db.query('DELETE FROM whatsapp_inbound WHERE received_at < $1 RETURNING message_id', [
      new Date(deps.now().getTime() - INBOUND_KEEP_MS),
    ]);
    return rows.length;
  }

  function accept(messages: InboundMessage[], statuses: StatusUpdate[]) {
    for (const msg of messages) void enqueue(`chat:${msg.from}`, () => handleMessage(msg));
    for (const s of statuses) void enqueue(`status:${s.id}`, () => outbox.onStatus(s));
  }

  /* ---------- HTTP ---------- */

  const routes: Route[] = [
    {
      method: 'GET',
      path: WHATSAPP_WEBHOOK_PATH,
      handler(req) {
        try {
          return { status: 200, body: graph.handshake(req.query) };
        } catch (err) {
          const status = (err as { httpStatus?: number }).httpStatus === 400 ? 400 : 403;
          logger.warn({ status }, 'WhatsApp webhook verification refused');
          return {
            status,
            body: { error: status === 400 ? 'missing hub parameters' : 'verification failed' },
          };
        }
      },
    },
    {
      method: 'POST',
      path: WHATSAPP_WEBHOOK_PATH,
      async handler(req) {
        const header = req.headers['x-hub-signature-256'];
        const signature = Array.isArray(header) ? header[0] : header;
        if (!(await graph.verifySignature(req.text(), signature))) {
          logger.warn({ signed: Boolean(signature) }, 'WhatsApp webhook with a bad or missing signature');
          return { status: 401, body: { error: 'invalid signature' } };
        }
        const events = parseWebhook(req.json(), settings.phoneNumberId);
        if (!events) return { status: 400, body: { error: 'not a WhatsApp Business webhook' } };
        if (events.skipped > 0)
          logger.warn({ skipped: events.skipped }, 'WhatsApp webhook elements not understood');
        accept(events.messages, events.statuses);
        return { status: 200, body: { ok: true } };
      },
    },
  ];

  let timer: NodeJS.Timeout | undefined;

  return {
    routes,
    graph,
    /** Per-call breakdown to a manager (see BreakdownRequest); for the notifier. */
    sendBreakdown: outbox.sendBreakdown,
    /** Any other message to a user inside their 24-hour window; for the messenger router. */
    sendToChat,
    /** Sends breakdowns whose retry time has come (the timer calls it; tests call it directly). */
    retryDue: outbox.retryDue,
    idle,
    pruneInbound,
    /** Starts the timer that sends due retries and, hourly, forgets old message ids. */
    start(): void {
      let prunedAt = 0;
      timer ??= setInterval(() => {
        outbox.retryDue().catch((err) => logger.error({ err }, 'WhatsApp retry pass failed'));
        if (deps.now().getTime() - prunedAt < 3_600_000) return;
        prunedAt = deps.now().getTime();
        pruneInbound().catch((err) => logger.error({ err }, 'WhatsApp inbound pruning failed'));
      }, deps.retryIntervalMs ?? 30_000);
      timer.unref();
    },
    /** Stops the timer and lets acknowledged webhooks finish. */
    async stop(): Promise<void> {
      if (timer) clearInterval(timer);
      timer = undefined;
      await idle();
    },
  };
}

export type WhatsAppAdapter = ReturnType<typeof createWhatsAppAdapter>;
