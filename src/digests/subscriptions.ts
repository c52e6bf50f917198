import { z } from 'zod';
import type { Channel } from '../bot/access.ts';
import type { Queryable } from '../db/client.ts';
import { AppError } from '../errors.ts';
import {
  checkTimeZone,
  DEFAULT_TIME_OF_DAY,
  DEFAULT_WEEKDAY,
  type DigestKind,
  normalizeTimeOfDay,
  type QuietHours,
  WEEKDAYS_RU,
} from './schedule.ts';

/** The alerts of issue #9, each switched on or off per subscriber. */
export const ALERT_TYPES = [
  'forgotten_deal',
  'high_risk_call',
  'missed_new_number',
  'plan_pace',
  'stuck_deal',
] as const;
export type AlertType = (typeof ALERT_TYPES)[number];

/** What each alert is about, as the subscriber reads it. */
export const ALERT_NAMES_RU: Record<AlertType, string> = {
  forgotten_deal: 'сделка стала забытой',
  high_risk_call: 'звонок с высоким риском потери клиента',
  missed_new_number: 'пропущенный с нового номера без перезвона 30 минут',
  plan_pace: 'прогноз выполнения плана ниже порога',
  stuck_deal: 'сделка дольше обычного на этапе',
};

/** Alert switches and thresholds stored in `subscriptions.alerts` of an `alerts` subscription. */
export const alertSettingsSchema = z.object({
  forgotten_deal: z.boolean().default(true),
  high_risk_call: z.boolean().default(true),
  missed_new_number: z.boolean().default(true),
  plan_pace: z.boolean().default(true),
  stuck_deal: z.boolean().default(true),
  /** Прогноз выполнения (forecast_completion) below this share raises `plan_pace`. */
  plan_threshold: z.number().min(0.1).max(2).default(0.9),
  /** A deal is stuck after this many average stays of its stage. */
  stuck_factor: z.number().min(1.2).max(20).default(2),
});
export type AlertSettings = z.infer<typeof alertSettingsSchema>;

export const DEFAULT_QUIET: QuietHours = { from: '21:00', to: '09:00' };

export type SubscriptionKind = DigestKind | 'alerts';

export interface SubscriptionRow {
  id: number;
  user_id: number;
  kind: SubscriptionKind;
  channel: Channel;
  time_of_day: string;
  weekday: number | null;
  time_zone: string;
  active: boolean;
  alerts: AlertSettings | null;
  quiet_from: string | null;
  quiet_to: string | null;
  created_at: Date;
}

export interface SubscriptionListRow extends SubscriptionRow {
  user_name: string;
  role: 'admin' | 'head' | 'manager';
  manager_id: string | null;
}

export interface SubscribeInput {
  userId: number;
  kind: SubscriptionKind;
  channel: Channel;
  timeOfDay?: string | undefined;
  weekday?: number | undefined;
  timeZone?: string | undefined;
  /** null switches quiet hours off. */
  quiet?: QuietHours | null | undefined;
  alerts?: Partial<AlertSettings> | undefined;
}

const CHANNEL_NAMES: Record<Channel, string> = {
  telegram: 'Telegram',
  whatsapp: 'WhatsApp',
  console: 'консоль',
};

const COLUMNS =
  'id, user_id, kind, channel, time_of_day, weekday, time_zone, active, alerts, quiet_from, quiet_to, created_at';

/**
 * Creates or changes a subscription (one per user, kind and channel). Fields
 * not given keep their values; a stopped subscription starts again from now,
 * so it never catches up on slots from before.
 */
export async function subscribe(
  db: Queryable,
  input: SubscribeInput,
  opts: { now: Date; companyTz: string },
): Promise<SubscriptionRow> {
  // A new subscription takes the zone of the user's other subscriptions, else the user's own.
  const [user] = await db.query<{ id: number; time_zone: string | null }>(
    `SELECT u.id, coalesce((SELECT s.time_zone FROM subscriptions s WHERE s.user_id = u.id
                             ORDER BY s.active DESC, s.id DESC LIMIT 1), u.time_zone) AS time_zone
       FROM bot_users u WHERE u.id = $1 AND u.revoked_at IS NULL`,
    [input.userId],
  );
  if (!user) {
    throw new AppError(
      'unknown_user',
      `No active bot user ${input.userId}`,
      `Пользователь ${input.userId} не найден (список: voronka users).`,
    );
  }
  const [identity] = await db.query(
    'SELECT 1 FROM messenger_identities WHERE user_id = $1 AND channel = $2',
    [input.userId, input.channel],
  );
  if (!identity) {
    throw new AppError(
      'no_identity',
      `User ${input.userId} has no ${input.channel} identity`,
      `У пользователя нет чата в канале «${CHANNEL_NAMES[input.channel]}»: пусть сначала напишет боту там.`,
    );
  }
  if (
    input.weekday !== undefined &&
    !(Number.isInteger(input.weekday) && input.weekday >= 1 && input.weekday <= 7)
  ) {
    throw new AppError(
      'bad_weekday',
      `Bad weekday ${input.weekday}`,
      'День недели — число от 1 (пн) до 7 (вс).',
    );
  }
  const [existing] = await db.query<SubscriptionRow>(
    `SELECT ${COLUMNS} FROM subscriptions WHERE user_id = $1 AND kind = $2 AND channel = $3`,
    [input.userId, input.kind, input.channel],
  );
  const timeZone = checkTimeZone(input.timeZone ?? existing?.time_zone ?? user.time_zone ?? opts.companyTz);
  const timeOfDay = normalizeTimeOfDay(input.timeOfDay ?? existing?.time_of_day ?? DEFAULT_TIME_OF_DAY);
  const weekday = input.kind === 'weekly' ? (input.weekday ?? existing?.weekday ?? DEFAULT_WEEKDAY) : null;
  let quiet: QuietHours | null = null;
  let alerts: AlertSettings | null = null;
  if (input.kind === 'alerts') {
    const kept =
      existing?.quiet_from && existing.quiet_to ? { from: existing.quiet_from, to: existing.quiet_to } : null;
    quiet = input.quiet === undefined ? (existing ? kept : DEFAULT_QUIET) : input.quiet;
    if (quiet) quiet = { from: normalizeTimeOfDay(quiet.from), to: normalizeTimeOfDay(quiet.to) };
    const parsed = alertSettingsSchema.safeParse({ ...(existing?.alerts ?? {}), ...(input.alerts ?? {}) });
    if (!parsed.success) {
      throw new AppError(
        'bad_alert_settings',
        `Bad alert settings: ${parsed.error.message}`,
        'Порог плана — от 10 % до 200 %, порог «застрявших» сделок — от 1,2 до 20 средних сроков этапа.',
      );
    }
    alerts = parsed.data;
  }
  const [row] = await db.query<SubscriptionRow>(
    `INSERT INTO subscriptions (user_id, kind, channel, time_of_day, weekday, time_zone, active, alerts, quiet_from, quiet_to, created_at)
     VALUES ($1, $2, $3, $4, $5, $6, true, $7::jsonb, $8, $9, $10)
     ON CONFLICT (user_id, kind, channel) DO UPDATE SET
       time_of_day = excluded.time_of_day, weekday = excluded.weekday, time_zone = excluded.time_zone,
       alerts = excluded.alerts, quiet_from = excluded.quiet_from, quiet_to = excluded.quiet_to,
       created_at = CASE WHEN subscriptions.active THEN subscriptions.created_at ELSE excluded.created_at END,
       active = true
     RETURNING ${COLUMNS}`,
    [
      input.userId,
      input.kind,
      input.channel,
      timeOfDay,
      weekday,
      timeZone,
      alerts ? JSON.stringify(alerts) : null,
      quiet?.from ?? null,
      quiet?.to ?? null,
      opts.now,
    ],
  );
  return row!;
}

/** Stops a user's subscriptions of a kind (all kinds when omitted) on a channel (all when omitted). */
export async function unsubscribe(
  db: Queryable,
  sel: { userId: number; kind?: SubscriptionKind | undefined; channel?: Channel | undefined },
): Promise<number> {
  const rows = await db.query(
    `UPDATE subscriptions SET active = false
      WHERE user_id = $1 AND active AND ($2::text IS NULL OR kind = $2) AND ($3::text IS NULL OR channel = $3)
      RETURNING id`,
    [sel.userId, sel.kind ?? null, sel.channel ?? null],
  );
  return rows.length;
}

export async function listSubscriptions(
  db: Queryable,
  sel: { userId?: number | undefined; includeStopped?: boolean } = {},
): Promise<SubscriptionListRow[]> {
  return db.query<SubscriptionListRow>(
    `SELECT s.id, s.user_id, s.kind, s.channel, s.time_of_day, s.weekday, s.time_zone, s.active, s.alerts,
            s.quiet_from, s.quiet_to, s.created_at, u.name AS user_name, u.role, u.manager_id
       FROM subscriptions s JOIN bot_users u ON u.id = s.user_id
      WHERE ($1::int IS NULL OR s.user_id = $1) AND ($2 OR s.active)
      ORDER BY s.user_id, CASE s.kind WHEN 'daily' THEN 1 WHEN 'weekly' THEN 2 ELSE 3 END, s.channel`,
    [sel.userId ?? null, sel.includeStopped ?? false],
  );
}

/** One subscription in Russian: "Ежедневная сводка в 09:00 (Europe/Moscow), Telegram". */
export function describeSubscription(s: SubscriptionRow): string {
  const where = `${CHANNEL_NAMES[s.channel]}${s.active ? '' : ' — остановлена'}`;
  if (s.kind === 'daily') return `Ежедневная сводка в ${s.time_of_day} (${s.time_zone}), ${where}`;
  if (s.kind === 'weekly') {
    const day = WEEKDAYS_RU[(s.weekday ?? DEFAULT_WEEKDAY) - 1];
    return `Еженедельная сводка: ${day}, ${s.time_of_day} (${s.time_zone}), ${where}`;
  }
  const settings = alertSettingsSchema.parse(s.alerts ?? {});
  const on = ALERT_TYPES.filter((t) => settings[t]).map((t) => ALERT_NAMES_RU[t]);
  const quiet = s.quiet_from && s.quiet_to ? `тихие часы ${s.quiet_from}–${s.quiet_to}` : 'без тихих часов';
  return `Оповещения (${where}, ${quiet}, ${s.time_zone}): ${on.length ? on.join('; ') : 'все выключены'}`;
}
