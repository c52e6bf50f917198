import { escapeHtml } from '../agent/answer.ts';
import { formatBreakdownRu } from '../analysis/format.ts';
import type { CallBreakdown } from '../analysis/schema.ts';
import type { Queryable } from '../db/client.ts';
import type { Logger } from '../logger.ts';
import type { Channel } from './access.ts';
import type { Reply } from './core.ts';
import type { BreakdownSender } from './router.ts';

/** Where a message to one bot user goes: their channel and chat. */
export interface Recipient {
  userId: number;
  name: string;
  channel: Channel;
  chatId: string;
}

/** Sends a reply to a user who did not just write to us (notifications, forwarded disputes). */
export type SendToUser = (to: Recipient, reply: Reply) => Promise<void>;

export interface BreakdownReadyEvent {
  callId: string;
  managerId: string | null;
  analyzer: string;
  breakdown: CallBreakdown;
}

const recipientSql = `
  SELECT DISTINCT ON (u.id) u.id AS "userId", u.name, i.channel, i.chat_id AS "chatId"
  FROM bot_users u JOIN messenger_identities i ON i.user_id = u.id
  WHERE u.revoked_at IS NULL AND i.channel <> 'console' AND %WHERE%
  ORDER BY u.id, (i.channel = u.preferred_channel) DESC, i.id`;

/** The bot users who are this manager (one channel each: the preferred one). */
export async function managerRecipients(db: Queryable, managerId: string): Promise<Recipient[]> {
  return db.query<Recipient>(recipientSql.replace('%WHERE%', 'u.manager_id = $1'), [managerId]);
}

/** Heads whose department tree contains the manager: they get high-risk calls and disputes. */
export async function headRecipients(db: Queryable, managerId: string): Promise<Recipient[]> {
  return db.query<Recipient>(
    recipientSql.replace(
      '%WHERE%',
      `u.role = 'head' AND u.manager_id IS NOT NULL AND EXISTS (
         WITH RECURSIVE tree AS (
           SELECT d.id FROM departments d JOIN managers hm ON hm.department_id = d.id WHERE hm.id = u.manager_id
           UNION SELECT d.id FROM departments d JOIN tree t ON d.parent_id = t.id
         )
         SELECT 1 FROM managers m WHERE m.id = $1 AND m.department_id IN (SELECT id FROM tree))`,
    ),
    [managerId],
  );
}

export function breakdownReply(b: CallBreakdown, opts: { withDispute: boolean; heading?: string }): Reply {
  const text = `${opts.heading ? `${opts.heading}\n` : ''}${formatBreakdownRu(b)}`;
  return {
    text,
    html: escapeHtml(text),
    buttons: opts.withDispute ? [[{ label: 'Оспорить', data: `d:${b.call_id}`.slice(0, 64) }]] : undefined,
  };
}

/**
 * Delivers a "breakdown ready" event: the manager who made the call gets the
 * breakdown with an "Оспорить" button; on a high churn risk their heads get it
 * too. Each (breakdown, recipient) is claimed in the outbox first, so a retried
 * event never sends twice.
 */
export function createBreakdownNotifier(deps: {
  db: Queryable;
  send: SendToUser;
  /** A channel's own breakdown delivery, when it has one (WhatsApp). */
  breakdownSender?: (channel: Recipient['channel']) => BreakdownSender | undefined;
  logger: Logger;
  now: () => Date;
}) {
  async function deliver(
    key: string,
    to: Recipient,
    reply: Reply,
    kind: string,
    breakdown: CallBreakdown,
  ): Promise<void> {
    const own = deps.breakdownSender?.(to.channel);
    if (own) {
      await own({ userId: to.userId, breakdown, reply, key });
      return;
    }
    const claimed = await deps.db.query<{ id: number }>(
      `INSERT INTO deliveries (key, user_id, channel, kind, payload, status, attempts, scheduled_at, updated_at)
       VALUES ($1, $2, $3, $4, $5::jsonb, 'sending', 1, $6, $6)
       ON CONFLICT (key) DO UPDATE SET attempts = deliveries.attempts + 1, status = 'sending', updated_at = excluded.updated_at
       WHERE deliveries.status NOT IN ('sent', 'delivered', 'read')
       RETURNING id`,
      [key, to.userId, to.channel, kind, JSON.stringify({ text: reply.text }), deps.now()],
    );
    if (claimed.length === 0) return;
    try {
      await deps.send(to, reply);
      await deps.db.query(
        `UPDATE deliveries SET status = 'sent', sent_at = $2, updated_at = $2 WHERE key = $1`,
        [key, deps.now()],
      );
    } catch (err) {
      await deps.db.query(
        `UPDATE deliveries SET status = 'failed', last_error = $2, updated_at = $3 WHERE key = $1`,
        [key, (err as Error).message, deps.now()],
      );
      throw err;
    }
  }

  return async function breakdownReady(e: BreakdownReadyEvent): Promise<void> {
    if (!e.managerId) return;
    for (const to of await managerRecipients(deps.db, e.managerId)) {
      await deliver(
        `breakdown:${e.callId}:${e.analyzer}:${to.userId}`,
        to,
        breakdownReply(e.breakdown, { withDispute: true }),
        'breakdown',
        e.breakdown,
      );
    }
    if (e.breakdown.churn_risk === 'high') {
      const [m] = await deps.db.query<{ name: string }>('SELECT name FROM managers WHERE id = $1', [
        e.managerId,
      ]);
      for (const to of await headRecipients(deps.db, e.managerId)) {
        const reply = breakdownReply(e.breakdown, {
          withDispute: false,
          heading: `⚠️ Высокий риск потери клиента — звонок менеджера ${m?.name ?? e.managerId}`,
        });
        await deliver(`risk:${e.callId}:${e.analyzer}:${to.userId}`, to, reply, 'high_risk', e.breakdown);
      }
    }
    deps.logger.debug({ callId: e.callId }, 'breakdown delivered');
  };
}
