import { randomInt } from 'node:crypto';
import type { Queryable } from '../db/client.ts';
import { AppError } from '../errors.ts';
import type { Caller } from '../metrics/types.ts';

export type Channel = 'telegram' | 'whatsapp' | 'console';
export type Role = 'admin' | 'head' | 'manager';

/** Who wrote: a messenger account and the chat to answer in. */
export interface Identity {
  channel: Channel;
  externalId: string;
  chatId: string;
  displayName?: string | undefined;
}

export interface BotUserRow {
  id: number;
  name: string;
  role: Role;
  manager_id: string | null;
  time_zone: string | null;
  preferred_channel: Channel | null;
}

// No 0/O/1/I/L: codes are typed by hand from a message or read aloud.
const CODE_ALPHABET = 'ABCDEFGHJKMNPQRSTUVWXYZ23456789';

export function callerOf(user: BotUserRow): Caller {
  return { role: user.role, managerId: user.manager_id };
}

export async function createInvite(
  db: Queryable,
  opts: { role: Role; managerId?: string | null; name?: string | null; expiresInMs: number; now: Date },
): Promise<{ code: string; expiresAt: Date }> {
  let name = opts.name ?? null;
  if (opts.managerId) {
    const [m] = await db.query<{ name: string }>('SELECT name FROM managers WHERE id = $1', [opts.managerId]);
    if (!m) {
      throw new AppError(
        'unknown_manager',
        `No manager ${opts.managerId}`,
        `Менеджер с id «${opts.managerId}» не найден.`,
      );
    }
    name ??= m.name;
  } else if (opts.role !== 'admin') {
    throw new AppError(
      'invite_needs_manager',
      'A head or manager invite needs --manager',
      'Для роли руководителя или менеджера укажите менеджера (--manager ID): так бот знает, чьи цифры показывать.',
    );
  }
  const code = Array.from({ length: 8 }, () => CODE_ALPHABET[randomInt(CODE_ALPHABET.length)]).join('');
  const expiresAt = new Date(opts.now.getTime() + opts.expiresInMs);
  await db.query(
    'INSERT INTO invites (code, role, manager_id, name, created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6)',
    [code, opts.role, opts.managerId ?? null, name, opts.now, expiresAt],
  );
  return { code, expiresAt };
}

/** Finds the bot user behind a messenger account; revoked users are strangers again. */
export async function findUser(db: Queryable, identity: Identity): Promise<BotUserRow | undefined> {
  const [row] = await db.query<BotUserRow>(
    `SELECT u.id, u.name, u.role, u.manager_id, u.time_zone, u.preferred_channel
     FROM messenger_identities i JOIN bot_users u ON u.id = i.user_id
     WHERE i.channel = $1 AND i.external_id = $2 AND u.revoked_at IS NULL`,
    [identity.channel, identity.externalId],
  );
  return row;
}

/** Looks like an invite code: the code alone, or `/start CODE`. */
export function inviteCodeIn(text: string): string | undefined {
  const m = /^(?:\/start\s+)?([A-Za-z0-9]{8})$/.exec(text.trim());
  return m ? m[1]!.toUpperCase() : undefined;
}

/**
 * Binds a messenger account with a one-time invite code. The code is spent in
 * the same statement that checks it, so two accounts cannot race for it.
 */
export async function redeemInvite(
  db: Queryable & { transaction<T>(fn: (tx: Queryable) => Promise<T>): Promise<T> },
  code: string,
  identity: Identity,
  now: Date,
): Promise<BotUserRow | undefined> {
  return db.transaction(async (tx) => {
    const [invite] = await tx.query<{ role: Role; manager_id: string | null; name: string | null }>(
      `UPDATE invites SET used_at = $2 WHERE code = $1 AND used_at IS NULL AND expires_at > $2
       RETURNING role, manager_id, name`,
      [code, now],
    );
    if (!invite) return undefined;
    const existing = await tx.query<{ user_id: number }>(
      'SELECT user_id FROM messenger_identities WHERE channel = $1 AND external_id = $2',
      [identity.channel, identity.externalId],
    );
    let userId: number;
    if (existing[0]) {
      userId = existing[0].user_id;
      await tx.query('UPDATE bot_users SET role = $2, manager_id = $3, revoked_at = NULL WHERE id = $1', [
        userId,
        invite.role,
        invite.manager_id,
      ]);
    } else {
      const [u] = await tx.query<{ id: number }>(
        `INSERT INTO bot_users (name, role, manager_id, preferred_channel, created_at) VALUES ($1, $2, $3, $4, $5) RETURNING id`,
        [
          invite.name ?? identity.displayName ?? 'Пользователь',
          invite.role,
          invite.manager_id,
          identity.channel,
          now,
        ],
      );
      userId = u!.id;
      await tx.query(
        `INSERT INTO messenger_identities (user_id, channel, external_id, chat_id, created_at) VALUES ($1, $2, $3, $4, $5)`,
        [userId, identity.channel, identity.externalId, identity.chatId, now],
      );
    }
    await tx.query('UPDATE invites SET used_by_user_id = $2 WHERE code = $1', [code, userId]);
    const [user] = await tx.query<BotUserRow>(
      'SELECT id, name, role, manager_id, time_zone, preferred_channel FROM bot_users WHERE id = $1',
      [userId],
    );
    return user;
  });
}

export interface UserListRow extends BotUserRow {
  channels: string | null;
  revoked_at: Date | null;
  manager_name: string | null;
}

export async function listUsers(db: Queryable): Promise<UserListRow[]> {
  return db.query<UserListRow>(
    `SELECT u.id, u.name, u.role, u.manager_id, u.time_zone, u.preferred_channel, u.revoked_at, m.name AS manager_name,
            (SELECT string_agg(i.channel || ':' || i.external_id, ', ' ORDER BY i.channel) FROM messenger_identities i WHERE i.user_id = u.id) AS channels
     FROM bot_users u LEFT JOIN managers m ON m.id = u.manager_id ORDER BY u.id`,
  );
}

export async function revokeUser(db: Queryable, userId: number, now: Date): Promise<boolean> {
  const rows = await db.query(
    'UPDATE bot_users SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL RETURNING id',
    [userId, now],
  );
  return rows.length > 0;
}

/** Parses `7d`, `12h`, `30m` for invite expiry. */
export function parseExpiry(s: string): number {
  const m = /^(\d+)\s*([dhm])$/.exec(s.trim());
  if (!m)
    throw new AppError('bad_expiry', `Bad expiry "${s}"`, `Срок «${s}» не понял: примеры — 7d, 12h, 30m.`);
  return Number(m[1]) * { d: 86_400_000, h: 3_600_000, m: 60_000 }[m[2] as 'd' | 'h' | 'm'];
}
