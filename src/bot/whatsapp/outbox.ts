import { BodyComponent, BodyParameter, Language, Template } from 'whatsapp-api-js/messages';
import { formatBreakdownRu } from '../../analysis/format.ts';
import { type CallBreakdown, churnRiskLabelsRu, readinessBandLabelsRu } from '../../analysis/schema.ts';
import type { Db } from '../../db/client.ts';
import type { Logger } from '../../logger.ts';
import type { Button, Reply } from '../core.ts';
import { type GraphClient, GraphError, isRetryable, WINDOW_CLOSED_CODE } from './graph.ts';
import type { StatusUpdate } from './payload.ts';
import { planReply } from './render.ts';
import type { MessageSender } from './send.ts';

/*
 * Per-call breakdowns through the `deliveries` outbox. Inside the 24-hour
 * customer service window the breakdown goes as text. Outside it only an
 * approved template may open the conversation: it carries the short summary,
 * and the row remembers (payload.awaitingReply) that the full text goes as
 * soon as the manager writes back. Graph answers and delivery statuses move
 * the row; retryable failures come back as `pending` with a backoff.
 */

/** Text row: the breakdown itself. */
export const BREAKDOWN_KIND = 'breakdown';
/** Template row: the short summary outside the window; the full text follows the manager's reply. */
export const BREAKDOWN_TEMPLATE_KIND = 'breakdown_template';
/** Rows this module can send again: its kinds, with the recipient in the payload (not another sender's rows). */
const OWN_ROWS_SQL = `kind IN ('${BREAKDOWN_KIND}', '${BREAKDOWN_TEMPLATE_KIND}') AND payload->>'to' IS NOT NULL`;

const WINDOW_MS = 24 * 3_600_000;
/** Sent this close to the window's end, a text could arrive after it closes: use the template instead. */
const WINDOW_MARGIN_MS = 10 * 60_000;
export const MAX_ATTEMPTS = 5;
/** A row left in `sending` this long belongs to a process that died mid-send. */
const STALE_SENDING_MS = 10 * 60_000;

/** Whether a free-form message sent now still lands inside the 24-hour customer service window. */
export function insideWindow(lastInboundAt: Date | null | undefined, now: Date): boolean {
  if (!lastInboundAt) return false;
  return now.getTime() - new Date(lastInboundAt).getTime() < WINDOW_MS - WINDOW_MARGIN_MS;
}

/** 30 s, 2 min, 8 min, 32 min, then 2 h at most. */
export function backoffMs(attempt: number): number {
  return Math.min(30_000 * 4 ** Math.max(0, attempt - 1), 2 * 3_600_000);
}

interface BreakdownPayload {
  to: string;
  callId: string;
  /** The full breakdown message (formatBreakdownRu, or the notifier's reply). */
  text: string;
  /** Its buttons ("Оспорить"), as the core defines them. */
  buttons?: Button[][] | undefined;
  /** Template body parameters: call, readiness, churn risk, summary. */
  params: string[];
  /** Template rows: the full text still waits for the manager's reply. */
  awaitingReply?: boolean;
}

interface DeliveryRow {
  id: number;
  key: string;
  user_id: number | null;
  kind: string;
  payload: BreakdownPayload;
  status: string;
  attempts: number;
  external_id: string | null;
}

const ROW_COLUMNS = 'id, key, user_id, kind, payload, status, attempts, external_id';

export interface BreakdownRequest {
  /** The bot user (the manager) to notify. */
  userId: number;
  breakdown: CallBreakdown;
  /**
   * The full message, e.g. the notifier's breakdown with an "Оспорить" button;
   * formatBreakdownRu(breakdown) without buttons when absent. Charts and files are not sent.
   */
  reply?: Pick<Reply, 'text' | 'buttons'> | undefined;
  /** How the template names the call ("звонок 23 ноября, 10:42"); the call id by default. */
  callLabel?: string | undefined;
  /** Idempotency key; `whatsapp:breakdown:<call>:<user>` by default. */
  key?: string | undefined;
}

export type BreakdownOutcome =
  | { result: 'no_recipient' }
  | { result: 'duplicate'; deliveryId: number }
  | {
      result: 'text' | 'template';
      deliveryId: number;
      /** The row's status after the first attempt: sent, pending (a retry is scheduled) or failed. */
      status: string;
    };

/** Template parameters may not contain newlines, tabs or runs of spaces. */
function templateParam(s: string, limit: number): string {
  const flat = s.replace(/\s+/g, ' ').trim();
  if (flat.length === 0) return '—';
  return flat.length <= limit ? flat : `${flat.slice(0, limit - 1).replace(/\s+\S*$/u, '')}…`;
}

/** {{1}} call, {{2}} readiness, {{3}} churn risk, {{4}} summary: the template approved in Meta must have these four. */
export function breakdownTemplateParams(b: CallBreakdown, callLabel: string): string[] {
  return [
    templateParam(callLabel, 60),
    `${b.readiness}/100 (${readinessBandLabelsRu[b.readiness_band]})`,
    churnRiskLabelsRu[b.churn_risk],
    templateParam(b.summary, 400),
  ];
}

export interface OutboxDeps {
  db: Db;
  graph: GraphClient;
  sendMessages: MessageSender;
  logger: Logger;
  now: () => Date;
  /** WHATSAPP_TEMPLATE_BREAKDOWN; without it breakdowns outside the window wait for the manager to write. */
  template: string | undefined;
}

/** The language the breakdown template is approved in. */
const TEMPLATE_LANGUAGE = 'ru';

export function createBreakdownOutbox(deps: OutboxDeps) {
  const { db, graph, logger } = deps;

  async function insertRow(row: { key: string; userId: number; kind: string; payload: BreakdownPayload }) {
    const now = deps.now();
    const [inserted] = await db.query<{ id: number }>(
      `INSERT INTO deliveries (key, user_id, channel, kind, payload, status, scheduled_at, updated_at)
       VALUES ($1, $2, 'whatsapp', $3, $4::jsonb, 'pending', $5, $5)
       ON CONFLICT (key) DO NOTHING RETURNING id`,
      [row.key, row.userId, row.kind, JSON.stringify(row.payload), now],
    );
    return inserted?.id;
  }

  async function claim(id: number): Promise<DeliveryRow | undefined> {
    const [row] = await db.query<DeliveryRow>(
      `UPDATE deliveries SET status = 'sending', updated_at = $2 WHERE id = $1 AND status = 'pending' RETURNING ${ROW_COLUMNS}`,
      [id, deps.now()],
    );
    return row;
  }

  async function markSent(row: DeliveryRow, attempts: number, externalId: string) {
    const now = deps.now();
    await db.query(
      `UPDATE deliveries SET status = 'sent', external_id = $2, attempts = $3, last_error = NULL, sent_at = $4, updated_at = $4
       WHERE id = $1`,
      [row.id, externalId, attempts, now],
    );
  }

  async function markFailed(row: DeliveryRow, attempts: number, error: string) {
    await db.query(
      `UPDATE deliveries SET status = 'failed', attempts = $2, last_error = $3, updated_at = $4
       WHERE id = $1 AND status IN ('sending', 'sent')`,
      [row.id, attempts, error, deps.now()],
    );
  }

  /** A failure from the Graph answer or a `failed` status: retry later, fall back to the template, or give up. */
  async function onFailure(
    row: DeliveryRow,
    attempts: number,
    code: number | undefined,
    retryable: boolean,
    error: string,
  ) {
    if (code === WINDOW_CLOSED_CODE && row.kind === BREAKDOWN_KIND) {
      await markFailed(row, attempts, error);
      logger.info(
        { delivery: row.id },
        'WhatsApp window closed for a breakdown; sending the template instead',
      );
      if (row.user_id !== null) await startTemplate(`${row.key}:template`, row.user_id, row.payload);
      return;
    }
    if (retryable && attempts < MAX_ATTEMPTS) {
      const now = deps.now();
      await db.query(
        `UPDATE deliveries SET status = 'pending', attempts = $2, last_error = $3, scheduled_at = $4, updated_at = $5
         WHERE id = $1 AND status IN ('sending', 'sent')`,
        [row.id, attempts, error, new Date(now.getTime() + backoffMs(attempts)), now],
      );
      logger.warn({ delivery: row.id, attempts, code }, 'WhatsApp delivery failed; retry scheduled');
      return;
    }
    await markFailed(row, attempts, error);
    logger.error({ delivery: row.id, attempts, code, err: error }, 'WhatsApp delivery failed for good');
  }

  function templateMessage(name: string, params: string[]): Template {
    const [first, ...rest] = params.map((p) => new BodyParameter(p));
    return new Template(name, new Language(TEMPLATE_LANGUAGE), new BodyComponent(first!, ...rest));
  }

  /** Sends a claimed row once and records the outcome; returns the status it ended in. */
  async function send(row: DeliveryRow): Promise<string> {
    const attempts = row.attempts + 1;
    const p = row.payload;
    if (row.kind === BREAKDOWN_TEMPLATE_KIND && p.awaitingReply === false) {
      await markFailed(row, row.attempts, 'not needed: the full breakdown went after the manager wrote');
      return 'failed';
    }
    if (row.kind === BREAKDOWN_TEMPLATE_KIND && !deps.template) {
      await markFailed(
        row,
        row.attempts,
        'WHATSAPP_TEMPLATE_BREAKDOWN is not set: the breakdown waits for the manager to write',
      );
      logger.warn({ delivery: row.id }, 'breakdown outside the WhatsApp window and no template configured');
      return 'failed';
    }
    try {
      let externalId = '';
      if (row.kind === BREAKDOWN_TEMPLATE_KIND) {
        externalId = await graph.send(p.to, templateMessage(deps.template!, p.params));
      } else {
        const plan = planReply({ text: p.text, html: p.text, buttons: p.buttons });
        const ids = await deps.sendMessages(p.to, plan.messages, { retry: false });
        externalId = ids.at(-1) ?? '';
      }
      await markSent(row, attempts, externalId);
      return 'sent';
    } catch (err) {
      const e =
        err instanceof GraphError
          ? err
          : new GraphError(0, undefined, (err as Error).message, { cause: err });
      await onFailure(row, attempts, e.code, e.retryable, e.message);
      const [after] = await db.query<{ status: string }>('SELECT status FROM deliveries WHERE id = $1', [
        row.id,
      ]);
      return after?.status ?? 'failed';
    }
  }

  async function deliver(id: number): Promise<void> {
    const row = await claim(id);
    if (row) await send(row);
  }

  async function startTemplate(key: string, userId: number, payload: BreakdownPayload) {
    const id = await insertRow({
      key,
      userId,
      kind: BREAKDOWN_TEMPLATE_KIND,
      payload: { ...payload, awaitingReply: true },
    });
    if (id !== undefined) await deliver(id);
  }

  /**
   * Sends a per-call breakdown to a manager's WhatsApp: text inside the
   * 24-hour window, otherwise the template with the short summary (the full
   * text follows the manager's next message). Once per key.
   */
  async function sendBreakdown(req: BreakdownRequest): Promise<BreakdownOutcome> {
    const [identity] = await db.query<{ chat_id: string; last_inbound_at: Date | null }>(
      `SELECT i.chat_id, i.last_inbound_at FROM messenger_identities i JOIN bot_users u ON u.id = i.user_id
       WHERE i.user_id = $1 AND i.channel = 'whatsapp' AND u.revoked_at IS NULL
       ORDER BY i.last_inbound_at DESC NULLS LAST LIMIT 1`,
      [req.userId],
    );
    if (!identity) return { result: 'no_recipient' };
    const b = req.breakdown;
    const key = req.key ?? `whatsapp:breakdown:${b.call_id}:${req.userId}`;
    const payload: BreakdownPayload = {
      to: identity.chat_id,
      callId: b.call_id,
      text: req.reply?.text ?? formatBreakdownRu(b),
      buttons: req.reply?.buttons,
      params: breakdownTemplateParams(b, req.callLabel ?? b.call_id),
    };
    const inside = insideWindow(identity.last_inbound_at, deps.now());
    const kind = inside ? BREAKDOWN_KIND : BREAKDOWN_TEMPLATE_KIND;
    const id = await insertRow({
      key,
      userId: req.userId,
      kind,
      payload: inside ? payload : { ...payload, awaitingReply: true },
    });
    if (id === undefined) {
      const [existing] = await db.query<{ id: number }>('SELECT id FROM deliveries WHERE key = $1', [key]);
      return { result: 'duplicate', deliveryId: existing!.id };
    }
    await deliver(id);
    // A text refused as outside the window (131047) continues as the template row.
    const [latest] = await db.query<{ id: number; kind: string; status: string }>(
      `SELECT id, kind, status FROM deliveries WHERE key IN ($1, $1 || ':template') ORDER BY id DESC LIMIT 1`,
      [key],
    );
    return {
      result: latest!.kind === BREAKDOWN_TEMPLATE_KIND ? 'template' : 'text',
      deliveryId: latest!.id,
      status: latest!.status,
    };
  }

  /**
   * The manager wrote: every breakdown that went out as a template now goes
   * in full. Returns the wamids of those templates (a reply quoting one of
   * them is an answer to it, not a question for the bot).
   */
  async function releaseAwaiting(externalId: string, chatId: string): Promise<string[]> {
    const rows = await db.query<DeliveryRow>(
      `UPDATE deliveries d SET payload = jsonb_set(d.payload, '{awaitingReply}', 'false'::jsonb), updated_at = $2
       FROM messenger_identities i
       WHERE i.channel = 'whatsapp' AND i.external_id = $1 AND d.user_id = i.user_id
         AND d.channel = 'whatsapp' AND d.kind = '${BREAKDOWN_TEMPLATE_KIND}' AND d.payload->>'awaitingReply' = 'true'
       RETURNING d.id, d.key, d.user_id, d.kind, d.payload, d.status, d.attempts, d.external_id`,
      [externalId, deps.now()],
    );
    rows.sort((a, b) => a.id - b.id);
    for (const row of rows) {
      const { awaitingReply: _, ...payload } = row.payload;
      const id = await insertRow({
        key: `${row.key}:full`,
        userId: row.user_id!,
        kind: BREAKDOWN_KIND,
        payload: { ...payload, to: chatId },
      });
      if (id !== undefined) await deliver(id);
    }
    return rows.map((r) => r.external_id).filter((x): x is string => x !== null);
  }

  const STATUS_ORDER = ['sending', 'sent', 'delivered', 'read'];

  /** A delivery status from the webhook: moves the row forward, or schedules a retry on a retryable failure. */
  async function onStatus(s: StatusUpdate): Promise<void> {
    const rank = STATUS_ORDER.indexOf(s.status);
    if (rank > 0) {
      const lower = STATUS_ORDER.slice(0, rank)
        .map((x) => `'${x}'`)
        .join(', ');
      await db.query(
        `UPDATE deliveries SET status = $2, updated_at = $3 WHERE channel = 'whatsapp' AND external_id = $1 AND status IN (${lower})`,
        [s.id, s.status, deps.now()],
      );
      return;
    }
    if (s.status !== 'failed') return;
    const [row] = await db.query<DeliveryRow>(
      `SELECT ${ROW_COLUMNS} FROM deliveries WHERE channel = 'whatsapp' AND external_id = $1 AND status IN ('sending', 'sent')
         AND ${OWN_ROWS_SQL}`,
      [s.id],
    );
    if (!row) {
      logger.warn({ wamid: s.id, code: s.errors?.[0]?.code }, 'WhatsApp message failed');
      await db.query(
        `UPDATE deliveries SET status = 'failed', last_error = $2, updated_at = $3
         WHERE channel = 'whatsapp' AND external_id = $1 AND status IN ('sending', 'sent')`,
        [s.id, describe(s), deps.now()],
      );
      return;
    }
    const code = s.errors?.[0]?.code;
    await onFailure(row, row.attempts, code, code !== undefined && isRetryable(400, code), describe(s));
  }

  /** Sends every breakdown whose retry time has come; returns how many were attempted. */
  async function retryDue(limit = 20): Promise<number> {
    const now = deps.now();
    const rows = await db.query<DeliveryRow>(
      `UPDATE deliveries SET status = 'sending', updated_at = $1
       WHERE id IN (
         SELECT id FROM deliveries
         WHERE channel = 'whatsapp' AND ${OWN_ROWS_SQL}
           AND ((status = 'pending' AND scheduled_at <= $1) OR (status = 'sending' AND updated_at < $2))
         ORDER BY scheduled_at LIMIT $3 FOR UPDATE SKIP LOCKED)
       RETURNING ${ROW_COLUMNS}`,
      [now, new Date(now.getTime() - STALE_SENDING_MS), limit],
    );
    rows.sort((a, b) => a.id - b.id);
    for (const row of rows) await send(row);
    return rows.length;
  }

  return { sendBreakdown, releaseAwaiting, onStatus, retryDue };
}

function describe(s: StatusUpdate): string {
  const e = s.errors?.[0];
  if (!e) return 'failed without an error code';
  return `#${e.code} ${e.title ?? e.message ?? ''}${e.error_data?.details ? `: ${e.error_data.details}` : ''}`.trim();
}

export type BreakdownOutbox = ReturnType<typeof createBreakdownOutbox>;
