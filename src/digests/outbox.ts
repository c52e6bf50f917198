import type { PgBoss } from 'pg-boss';
import type { Channel } from '../bot/access.ts';
import type { Db, Queryable } from '../db/client.ts';

/*
 * The digest and alert outbox in `deliveries`. A row's unique key (digest:
 * subscription + period, alert: subscription + alert + entity + day) is what
 * makes a delivery happen once however many schedulers race for it. A row
 * becomes a pg-boss job once it is due (`enqueued_at` set in the same
 * transaction as the job insert); a worker claims it (pending → sending),
 * sends its messages one by one (`parts_sent`), and marks it sent or failed.
 */

export const DELIVERY_QUEUE = 'voronka-digest-delivery';

/** The `deliveries.kind` values this module owns; other notifiers' rows are left alone. */
export const OWN_KINDS = ['digest_daily', 'digest_weekly', 'alert'] as const;
export type DeliveryKind = (typeof OWN_KINDS)[number];

export interface DigestPayload {
  type: 'digest';
  kind: 'daily' | 'weekly';
  /** ISO instant the digest was due. */
  slot: string;
  timeZone: string;
  from: string;
  to: string;
}

export interface AlertPayload {
  type: 'alert';
  alert: string;
  entity: string;
  text: string;
  html: string;
}

export type DeliveryPayload = DigestPayload | AlertPayload;

export interface DeliveryRow {
  id: number;
  key: string;
  user_id: number;
  subscription_id: number;
  channel: Channel;
  kind: DeliveryKind;
  payload: DeliveryPayload;
  status: 'pending' | 'sending' | 'sent' | 'failed' | 'skipped';
  attempts: number;
  last_error: string | null;
  late: boolean;
  external_id: string | null;
  scheduled_at: Date;
  sent_at: Date | null;
  updated_at: Date;
  enqueued_at: Date | null;
  parts_sent: number;
}

export interface NewDelivery {
  key: string;
  userId: number;
  subscriptionId: number;
  channel: Channel;
  kind: DeliveryKind;
  payload: DeliveryPayload;
  late: boolean;
  /** Not sent before this instant (a digest's slot, the end of quiet hours). */
  scheduledAt: Date;
}

export interface QueueSettings {
  /** Retries after the first attempt. */
  retryLimit: number;
  /** Seconds before the first retry; doubled each time. */
  retryDelay: number;
  retryDelayMax: number;
  /** A job running longer than this is taken as lost and retried. */
  expireInSeconds: number;
}

export const DEFAULT_QUEUE: QueueSettings = {
  retryLimit: 5,
  retryDelay: 30,
  retryDelayMax: 600,
  expireInSeconds: 600,
};

export async function ensureDeliveryQueue(
  boss: PgBoss,
  settings: QueueSettings = DEFAULT_QUEUE,
): Promise<void> {
  const options = { ...settings, retryBackoff: true };
  if (await boss.getQueue(DELIVERY_QUEUE)) await boss.updateQueue(DELIVERY_QUEUE, options);
  else await boss.createQueue(DELIVERY_QUEUE, options);
}

const ROW = `id, key, user_id, subscription_id, channel, kind, payload, status, attempts, last_error, late,
  external_id, scheduled_at, sent_at, updated_at, enqueued_at, parts_sent`;

/** Keys among `keys` that already have a row. */
export async function existingKeys(db: Queryable, keys: string[]): Promise<Set<string>> {
  if (keys.length === 0) return new Set();
  const rows = await db.query<{ key: string }>('SELECT key FROM deliveries WHERE key = ANY($1::text[])', [
    keys,
  ]);
  return new Set(rows.map((r) => r.key));
}

/** Inserts rows whose keys are new; returns how many were inserted (a key already there is skipped). */
export async function insertDeliveries(db: Queryable, rows: NewDelivery[], now: Date): Promise<number> {
  if (rows.length === 0) return 0;
  const inserted = await db.query(
    `INSERT INTO deliveries (key, user_id, subscription_id, channel, kind, payload, late, scheduled_at, status, updated_at)
     SELECT k, u, s, c, kd, p::jsonb, l::boolean, sa, 'pending', $9::timestamptz
       FROM unnest($1::text[], $2::int[], $3::int[], $4::text[], $5::text[], $6::text[], $7::text[], $8::timestamptz[])
            AS t(k, u, s, c, kd, p, l, sa)
     ON CONFLICT (key) DO NOTHING
     RETURNING id`,
    [
      rows.map((r) => r.key),
      rows.map((r) => r.userId),
      rows.map((r) => r.subscriptionId),
      rows.map((r) => r.channel),
      rows.map((r) => r.kind),
      rows.map((r) => JSON.stringify(r.payload)),
      rows.map((r) => String(r.late)),
      rows.map((r) => r.scheduledAt.toISOString()),
      now,
    ],
  );
  return inserted.length;
}

/**
 * Hands due rows to the job queue: marks them enqueued and inserts their jobs
 * in one transaction, so a crash in between loses neither and two processes
 * never queue the same row twice.
 */
export async function releaseDue(db: Db, boss: PgBoss, now: Date, limit = 1000): Promise<number> {
  return db.transaction(async (tx) => {
    const due = await tx.query<{ id: number }>(
      `UPDATE deliveries SET enqueued_at = $1 WHERE id IN (
         SELECT id FROM deliveries
          WHERE status = 'pending' AND enqueued_at IS NULL AND scheduled_at <= $1 AND kind = ANY($2::text[])
          ORDER BY scheduled_at, id LIMIT $3 FOR UPDATE SKIP LOCKED)
       RETURNING id`,
      [now, [...OWN_KINDS], limit],
    );
    if (due.length > 0) {
      const jobDb = {
        executeSql: async (text: string, values?: unknown[]) => ({ rows: await tx.query(text, values) }),
      };
      await boss.insert(
        DELIVERY_QUEUE,
        due.map((r) => ({ data: { deliveryId: r.id } })),
        { db: jobDb },
      );
    }
    return due.length;
  });
}

/**
 * Gives lost deliveries back to the queue: rows left `sending` by a process
 * that died (no progress for `leaseMs`) and due rows whose job vanished.
 */
export async function recoverStale(
  db: Queryable,
  now: Date,
  leaseMs: number,
  orphanMs: number,
): Promise<number> {
  const rows = await db.query(
    `UPDATE deliveries SET status = 'pending', enqueued_at = NULL, updated_at = $1
      WHERE kind = ANY($2::text[]) AND (
        (status = 'sending' AND updated_at < $3)
        OR (status = 'pending' AND enqueued_at < $4 AND updated_at < $4))
      RETURNING id`,
    [now, [...OWN_KINDS], new Date(now.getTime() - leaseMs), new Date(now.getTime() - orphanMs)],
  );
  return rows.length;
}

/** Takes a row for sending: pending, or sending but abandoned for longer than the lease. */
export async function claimDelivery(
  db: Queryable,
  id: number,
  now: Date,
  leaseMs: number,
): Promise<DeliveryRow | undefined> {
  const [row] = await db.query<DeliveryRow>(
    `UPDATE deliveries SET status = 'sending', attempts = attempts + 1, updated_at = $2
      WHERE id = $1 AND kind = ANY($4::text[])
        AND (status = 'pending' OR (status = 'sending' AND updated_at < $3))
      RETURNING ${ROW}`,
    [id, now, new Date(now.getTime() - leaseMs), [...OWN_KINDS]],
  );
  return row;
}

export async function markPartSent(
  db: Queryable,
  id: number,
  partsSent: number,
  externalId: string | undefined,
  now: Date,
): Promise<void> {
  await db.query(
    `UPDATE deliveries SET parts_sent = $2, external_id = coalesce($3, external_id), updated_at = $4 WHERE id = $1`,
    [id, partsSent, externalId ?? null, now],
  );
}

export async function markDelivery(
  db: Queryable,
  id: number,
  status: 'sent' | 'pending' | 'failed' | 'skipped',
  now: Date,
  error?: string,
): Promise<void> {
  await db.query(
    `UPDATE deliveries SET status = $2, updated_at = $3, last_error = coalesce($4, last_error),
            sent_at = CASE WHEN $2 = 'sent' THEN $3 ELSE sent_at END
      WHERE id = $1`,
    [id, status, now, error ?? null],
  );
}

export interface StatusReport {
  /** Per kind and status since `since`. */
  counts: Array<{ kind: string; status: string; n: number; late: number }>;
  /** Permanent failures, newest first. */
  failed: DeliveryRow[];
  /** Rows waiting for another attempt after an error. */
  retrying: DeliveryRow[];
}

/** What `voronka digest status` shows: how deliveries went lately, and every failure in full. */
export async function deliveryStatus(
  db: Queryable,
  opts: { now: Date; days?: number; limit?: number },
): Promise<StatusReport> {
  const since = new Date(opts.now.getTime() - (opts.days ?? 7) * 86_400_000);
  const limit = opts.limit ?? 20;
  const counts = await db.query<{ kind: string; status: string; n: number; late: number }>(
    `SELECT kind, status, count(*)::int AS n, count(*) FILTER (WHERE late)::int AS late
       FROM deliveries WHERE kind = ANY($1::text[]) AND scheduled_at >= $2
      GROUP BY kind, status ORDER BY kind, status`,
    [[...OWN_KINDS], since],
  );
  const failed = await db.query<DeliveryRow>(
    `SELECT ${ROW} FROM deliveries WHERE kind = ANY($1::text[]) AND status = 'failed' AND updated_at >= $2
      ORDER BY updated_at DESC LIMIT $3`,
    [[...OWN_KINDS], since, limit],
  );
  const retrying = await db.query<DeliveryRow>(
    `SELECT ${ROW} FROM deliveries WHERE kind = ANY($1::text[]) AND status IN ('pending', 'sending') AND last_error IS NOT NULL
      ORDER BY updated_at DESC LIMIT $2`,
    [[...OWN_KINDS], limit],
  );
  return { counts: counts.map((c) => ({ ...c, n: Number(c.n), late: Number(c.late) })), failed, retrying };
}

const STATUS_RU: Record<string, string> = {
  pending: 'ждут отправки',
  sending: 'отправляются',
  sent: 'отправлены',
  failed: 'не доставлены',
  skipped: 'отменены (подписка выключена)',
  delivered: 'доставлены',
  read: 'прочитаны',
};
const KIND_RU: Record<string, string> = {
  digest_daily: 'Ежедневные сводки',
  digest_weekly: 'Еженедельные сводки',
  alert: 'Оповещения',
};

/** The status report as text for the operator. */
export function formatDeliveryStatus(r: StatusReport, opts: { days?: number; tz: string }): string {
  const at = (d: Date) =>
    new Intl.DateTimeFormat('ru-RU', { timeZone: opts.tz, dateStyle: 'short', timeStyle: 'short' }).format(d);
  const lines = [`Доставка сводок и оповещений за ${opts.days ?? 7} дн.:`];
  if (r.counts.length === 0) lines.push('  ничего не отправлялось');
  let kind = '';
  for (const c of r.counts) {
    if (c.kind !== kind) {
      kind = c.kind;
      lines.push(`${KIND_RU[c.kind] ?? c.kind}:`);
    }
    lines.push(`  ${STATUS_RU[c.status] ?? c.status}: ${c.n}${c.late ? ` (с опозданием: ${c.late})` : ''}`);
  }
  const row = (d: DeliveryRow) =>
    `  #${d.id} ${d.key} → пользователь ${d.user_id}, ${d.channel}; попыток ${d.attempts}; ${at(d.updated_at)}: ${d.last_error ?? '—'}`;
  lines.push('', r.failed.length ? 'Не доставлены (ошибка не исчезнет сама):' : 'Неудачных доставок нет.');
  lines.push(...r.failed.map(row));
  if (r.retrying.length) lines.push('', 'Повторяются после ошибки:', ...r.retrying.map(row));
  return lines.join('\n');
}
