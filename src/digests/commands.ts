import fs from 'node:fs';
import path from 'node:path';
import { Command, InvalidArgumentError } from 'commander';
import { escapeHtml } from '../agent/answer.ts';
import type { ToolRegistry } from '../agent/registry.ts';
import type { BotUserRow, Channel, Identity } from '../bot/access.ts';
import type { Reply } from '../bot/core.ts';
import type { ChartRenderer } from '../charts/index.ts';
import type { Db, Queryable } from '../db/client.ts';
import { AppError } from '../errors.ts';
import type { Logger } from '../logger.ts';
import type { Caller } from '../metrics/types.ts';
// The digest content pulls in the chart renderer (a native module): loaded only when a preview needs it.
import type { DigestBuilder } from './content.ts';
import { deliveryStatus, formatDeliveryStatus } from './outbox.ts';
import { type DigestKind, WEEKDAYS_RU } from './schedule.ts';
import {
  ALERT_TYPES,
  type AlertSettings,
  type AlertType,
  describeSubscription,
  listSubscriptions,
  type SubscriptionKind,
  subscribe,
  unsubscribe,
} from './subscriptions.ts';

const plain = (text: string): Reply => ({ text, html: escapeHtml(text) });

/** What the user may type for each alert, Russian first. */
const ALERT_WORDS: Record<string, AlertType> = {
  забытые: 'forgotten_deal',
  forgotten: 'forgotten_deal',
  риск: 'high_risk_call',
  risk: 'high_risk_call',
  пропущенные: 'missed_new_number',
  missed: 'missed_new_number',
  план: 'plan_pace',
  plan: 'plan_pace',
  застрявшие: 'stuck_deal',
  stuck: 'stuck_deal',
};
for (const t of ALERT_TYPES) ALERT_WORDS[t] = t;

const KIND_WORDS: Record<string, SubscriptionKind> = {
  daily: 'daily',
  ежедневно: 'daily',
  ежедневная: 'daily',
  день: 'daily',
  weekly: 'weekly',
  еженедельно: 'weekly',
  еженедельная: 'weekly',
  неделя: 'weekly',
  alerts: 'alerts',
  оповещения: 'alerts',
};

export const DIGEST_HELP = [
  'Сводки и оповещения:',
  '/digest daily [09:00] — ежедневная сводка за вчера',
  '/digest weekly [пн] [09:00] — еженедельная сводка за прошлую неделю',
  '/digest alerts on|off [забытые|риск|пропущенные|план|застрявшие] — оповещения (все или одно)',
  '/digest alerts план 85% · /digest alerts застрявшие 3 — порог плана и «во сколько раз дольше обычного»',
  '/digest quiet 21:00-09:00 | off — тихие часы для оповещений',
  '/digest tz Asia/Yekaterinburg — часовой пояс',
  '/digest off daily|weekly|alerts|all — отписаться',
  '/digest preview daily|weekly — показать сводку сейчас',
].join('\n');

export interface DigestCommandDeps {
  db: Db;
  companyTz: string;
  now: () => Date;
  /** Builds `/digest preview`; without it preview is unavailable. */
  builder?: DigestBuilder | undefined;
}

function parseQuiet(s: string): { from: string; to: string } {
  const m = /^(\d{1,2}:\d{2})\s*[-–]\s*(\d{1,2}:\d{2})$/.exec(s.trim());
  if (!m) {
    throw new AppError('bad_quiet', `Bad quiet hours ${s}`, 'Тихие часы — в виде 21:00-09:00 (или off).');
  }
  return { from: m[1]!, to: m[2]! };
}

function parseWeekday(s: string): number | undefined {
  const i = WEEKDAYS_RU.indexOf(s.toLowerCase().slice(0, 2) as (typeof WEEKDAYS_RU)[number]);
  if (i >= 0) return i + 1;
  if (/^[1-7]$/.test(s)) return Number(s);
  return undefined;
}

async function userTimeZone(db: Queryable, userId: number): Promise<string | undefined> {
  const [row] = await db.query<{ tz: string | null }>(
    `SELECT coalesce((SELECT time_zone FROM subscriptions WHERE user_id = $1 AND kind <> 'alerts'
                       ORDER BY active DESC, id LIMIT 1), u.time_zone) AS tz
       FROM bot_users u WHERE u.id = $1`,
    [userId],
  );
  return row?.tz ?? undefined;
}

/** Subscription list and the command help, for `/digest` with no arguments. */
async function statusReply(deps: DigestCommandDeps, user: BotUserRow): Promise<Reply> {
  const subs = await listSubscriptions(deps.db, { userId: user.id });
  const lines = subs.length
    ? ['Ваши подписки:', ...subs.map((s) => `• ${describeSubscription(s)}`)]
    : ['Подписок пока нет.'];
  return plain(`${lines.join('\n')}\n\n${DIGEST_HELP}`);
}

/**
 * `/digest …` in a chat: subscribes that chat's channel. Returns the replies
 * to send (a preview is the digest itself: text and charts).
 */
export async function handleDigestCommand(
  deps: DigestCommandDeps,
  user: BotUserRow,
  identity: Identity,
  args: string[],
): Promise<Reply[]> {
  try {
    return await digestCommand(deps, user, identity, args);
  } catch (err) {
    if (err instanceof AppError) return [plain(err.userMessage)];
    throw err;
  }
}

async function digestCommand(
  deps: DigestCommandDeps,
  user: BotUserRow,
  identity: Identity,
  args: string[],
): Promise<Reply[]> {
  const [first, ...rest] = args.map((a) => a.trim()).filter(Boolean);
  const sub = first?.toLowerCase();
  const opts = { now: deps.now(), companyTz: deps.companyTz };
  const channel = identity.channel;
  if (!sub || sub === 'status' || sub === 'статус' || sub === 'help') return [await statusReply(deps, user)];

  const kind = KIND_WORDS[sub];
  if (kind === 'daily' || kind === 'weekly') {
    let timeOfDay: string | undefined;
    let weekday: number | undefined;
    for (const a of rest) {
      if (/^\d{1,2}:\d{2}$/.test(a)) timeOfDay = a;
      else if (kind === 'weekly' && parseWeekday(a) !== undefined) weekday = parseWeekday(a);
      else return [plain(`Не понял «${a}».\n\n${DIGEST_HELP}`)];
    }
    const s = await subscribe(deps.db, { userId: user.id, kind, channel, timeOfDay, weekday }, opts);
    return [plain(`Готово: ${describeSubscription(s)}.`)];
  }

  if (kind === 'alerts') {
    const action = rest[0]?.toLowerCase();
    const isOn = action === 'on' || action === 'вкл';
    const isOff = action === 'off' || action === 'выкл';
    const words = (isOn || isOff ? rest.slice(1) : rest).map((w) => w.toLowerCase());
    if (!isOn && !isOff && words.length === 0) return [await statusReply(deps, user)];
    if (isOff && words.length === 0) {
      await unsubscribe(deps.db, { userId: user.id, kind: 'alerts', channel });
      return [plain('Оповещения выключены.')];
    }
    const alerts: Partial<AlertSettings> = {};
    if (isOn && words.length === 0) for (const t of ALERT_TYPES) alerts[t] = true;
    for (let i = 0; i < words.length; i++) {
      const type = ALERT_WORDS[words[i]!];
      if (!type) {
        return [
          plain(`Не знаю оповещения «${words[i]}». Есть: забытые, риск, пропущенные, план, застрявшие.`),
        ];
      }
      // `план 85%`, `застрявшие 3`: a threshold after the alert's name.
      const value = words[i + 1];
      if (value && /^\d+([.,]\d+)?%?$/.test(value)) {
        const x = Number(value.replace('%', '').replace(',', '.'));
        if (type === 'plan_pace') alerts.plan_threshold = value.endsWith('%') || x > 2 ? x / 100 : x;
        if (type === 'stuck_deal') alerts.stuck_factor = x;
        i++;
      }
      if (isOn || isOff) alerts[type] = isOn;
    }
    const s = await subscribe(deps.db, { userId: user.id, kind: 'alerts', channel, alerts }, opts);
    return [plain(`Готово. ${describeSubscription(s)}.`)];
  }

  if (sub === 'quiet' || sub === 'тишина') {
    const value = rest.join(' ');
    const quiet = ['off', 'выкл', 'нет'].includes(value.toLowerCase()) ? null : parseQuiet(value);
    const s = await subscribe(deps.db, { userId: user.id, kind: 'alerts', channel, quiet }, opts);
    return [plain(`Готово. ${describeSubscription(s)}.`)];
  }

  if (sub === 'tz' || sub === 'пояс') {
    const tz = rest[0];
    if (!tz) return [plain('Укажите пояс, например: /digest tz Asia/Yekaterinburg')];
    const subs = await listSubscriptions(deps.db, { userId: user.id });
    for (const s of subs) {
      await subscribe(deps.db, { userId: user.id, kind: s.kind, channel: s.channel, timeZone: tz }, opts);
    }
    await deps.db.query('UPDATE bot_users SET time_zone = $2 WHERE id = $1', [user.id, tz]);
    return [plain(`Часовой пояс: ${tz}. Сводки придут по этому времени.`)];
  }

  if (['off', 'stop', 'стоп', 'отписаться'].includes(sub)) {
    const what = rest[0]?.toLowerCase();
    const k = what && what !== 'all' && what !== 'все' ? KIND_WORDS[what] : undefined;
    if (what && what !== 'all' && what !== 'все' && !k)
      return [plain(`Не понял «${what}».\n\n${DIGEST_HELP}`)];
    const n = await unsubscribe(deps.db, { userId: user.id, kind: k, channel });
    return [plain(n ? 'Отписал.' : 'Таких подписок не было.')];
  }

  if (sub === 'preview' || sub === 'пример') {
    const k = KIND_WORDS[rest[0]?.toLowerCase() ?? 'daily'];
    if (!deps.builder || (k !== 'daily' && k !== 'weekly'))
      return [plain('Формат: /digest preview daily|weekly')];
    const timeZone = (await userTimeZone(deps.db, user.id)) ?? deps.companyTz;
    const content = await deps.builder.build({
      kind: k,
      caller: { role: user.role, managerId: user.manager_id },
      slot: deps.now(),
      timeZone,
    });
    const { digestReplies } = await import('./content.ts');
    return digestReplies(content);
  }

  return [plain(`Не понял команду.\n\n${DIGEST_HELP}`)];
}

// ---------------------------------------------------------------------------
// voronka digest …

/** The parts of the application the CLI commands need (structurally the lead's App). */
export interface DigestCliApp {
  db: Db;
  logger: Logger;
  now: () => Date;
  config: { companyTz: string; home: string; callsPerDayNorm?: number };
}

export interface DigestCliDeps {
  /** Opens the application for one command (with `--now` when given) and closes it after. */
  withApp: <T>(fn: (app: DigestCliApp) => Promise<T>, opts?: { now?: Date }) => Promise<T>;
  /** The tool registry and chart renderer the bot answers with. */
  services: (app: DigestCliApp) => Promise<{ registry: ToolRegistry; renderer: ChartRenderer }>;
  out?: (line: string) => void;
}

const CHANNELS: Channel[] = ['telegram', 'whatsapp', 'console'];

function parseKind(value: string, allowAlerts: boolean): SubscriptionKind {
  const k = KIND_WORDS[value.toLowerCase()];
  if (!k || (k === 'alerts' && !allowAlerts)) {
    throw new InvalidArgumentError(`--kind must be daily, weekly${allowAlerts ? ' or alerts' : ''}`);
  }
  return k;
}

function parseChannel(value: string): Channel {
  if (!CHANNELS.includes(value as Channel))
    throw new InvalidArgumentError('--channel must be telegram, whatsapp or console');
  return value as Channel;
}

function parseNow(value: string): Date {
  const d = new Date(value);
  if (Number.isNaN(d.getTime())) throw new InvalidArgumentError(`"${value}" is not an ISO date-time`);
  return d;
}

function parseUserId(value: string): number {
  if (!/^\d+$/.test(value)) throw new InvalidArgumentError(`"${value}" is not a user id (voronka users)`);
  return Number(value);
}

function parseAlertList(value: string): AlertType[] {
  return value.split(',').map((w) => {
    const t = ALERT_WORDS[w.trim().toLowerCase()];
    if (!t) throw new InvalidArgumentError(`unknown alert "${w}"; known: ${ALERT_TYPES.join(', ')}`);
    return t;
  });
}

/**
 * Whose digest `--as` means: a bot user id (their role, manager and zone),
 * `admin`, or a manager id (with that manager's role).
 */
export async function previewCaller(
  db: Queryable,
  as: string,
  companyTz: string,
): Promise<{ caller: Caller; timeZone: string; who: string }> {
  if (as === 'admin')
    return { caller: { role: 'admin', managerId: null }, timeZone: companyTz, who: 'администратор' };
  if (/^\d+$/.test(as)) {
    const [u] = await db.query<{ id: number; name: string; role: Caller['role']; manager_id: string | null }>(
      'SELECT id, name, role, manager_id FROM bot_users WHERE id = $1',
      [Number(as)],
    );
    if (u) {
      return {
        caller: { role: u.role, managerId: u.manager_id },
        timeZone: (await userTimeZone(db, u.id)) ?? companyTz,
        who: `${u.name} (пользователь ${u.id})`,
      };
    }
  }
  const [m] = await db.query<{ id: string; name: string; role: Caller['role'] }>(
    'SELECT id, name, role FROM managers WHERE id = $1',
    [as],
  );
  if (!m) {
    throw new AppError(
      'unknown_subscriber',
      `No bot user or manager ${as}`,
      `Нет ни пользователя, ни менеджера с id «${as}» (voronka users, voronka tool …).`,
    );
  }
  return { caller: { role: m.role, managerId: m.id }, timeZone: companyTz, who: `${m.name} (${m.id})` };
}

/** `voronka digest subscribe|list|unsubscribe|status|preview`, for the lead to add to the program. */
export function buildDigestCommand(deps: DigestCliDeps): Command {
  const out = deps.out ?? ((s: string) => process.stdout.write(`${s}\n`));
  const digest = new Command('digest').description(
    'daily and weekly digests and alerts: subscriptions, delivery status, preview',
  );

  digest
    .command('subscribe')
    .requiredOption('--user <id>', 'bot user id (voronka users)', parseUserId)
    .requiredOption('--kind <kind>', 'daily | weekly | alerts', (v) => parseKind(v, true))
    .option(
      '--channel <channel>',
      'telegram | whatsapp | console (default: the user’s preferred channel)',
      parseChannel,
    )
    .option('--time <HH:MM>', 'local time of the digest (default 09:00)')
    .option('--weekday <day>', 'weekly: 1-7 or пн..вс (default пн)')
    .option('--tz <zone>', 'IANA time zone (default: the user’s, else the company’s)')
    .option('--quiet <HH:MM-HH:MM|off>', 'alerts: quiet hours (default 21:00-09:00)')
    .option('--on <alerts>', `alerts to switch on, comma-separated: ${ALERT_TYPES.join(',')}`, parseAlertList)
    .option('--off <alerts>', 'alerts to switch off, comma-separated', parseAlertList)
    .option(
      '--plan-threshold <share>',
      'alerts: plan forecast below this share (0.9 = 90 %)',
      Number.parseFloat,
    )
    .option(
      '--stuck-factor <n>',
      'alerts: a deal is stuck after n mean stays of its stage',
      Number.parseFloat,
    )
    .description('subscribe a bot user to a digest or to alerts, or change the subscription')
    .action(
      async (o: {
        user: number;
        kind: SubscriptionKind;
        channel?: Channel;
        time?: string;
        weekday?: string;
        tz?: string;
        quiet?: string;
        on?: AlertType[];
        off?: AlertType[];
        planThreshold?: number;
        stuckFactor?: number;
      }) => {
        const weekday = o.weekday === undefined ? undefined : parseWeekday(o.weekday);
        if (o.weekday !== undefined && weekday === undefined)
          throw new InvalidArgumentError('--weekday must be 1-7 or пн..вс');
        await deps.withApp(async (app) => {
          let channel = o.channel;
          if (!channel) {
            const [u] = await app.db.query<{ channel: Channel | null }>(
              `SELECT coalesce(u.preferred_channel, (SELECT i.channel FROM messenger_identities i WHERE i.user_id = u.id
                       ORDER BY i.id LIMIT 1)) AS channel FROM bot_users u WHERE u.id = $1`,
              [o.user],
            );
            channel = u?.channel ?? 'console';
          }
          const alerts: Partial<AlertSettings> = {};
          for (const t of o.on ?? []) alerts[t] = true;
          for (const t of o.off ?? []) alerts[t] = false;
          if (o.planThreshold !== undefined) alerts.plan_threshold = o.planThreshold;
          if (o.stuckFactor !== undefined) alerts.stuck_factor = o.stuckFactor;
          const s = await subscribe(
            app.db,
            {
              userId: o.user,
              kind: o.kind,
              channel,
              timeOfDay: o.time,
              weekday,
              timeZone: o.tz,
              quiet: o.quiet === undefined ? undefined : o.quiet === 'off' ? null : parseQuiet(o.quiet),
              alerts,
            },
            { now: app.now(), companyTz: app.config.companyTz },
          );
          out(`subscription ${s.id}: ${describeSubscription(s)}`);
        });
      },
    );

  digest
    .command('list')
    .option('--user <id>', 'only this bot user', parseUserId)
    .option('--all', 'include stopped subscriptions')
    .description('list subscriptions')
    .action(async (o: { user?: number; all?: boolean }) => {
      await deps.withApp(async (app) => {
        const subs = await listSubscriptions(app.db, { userId: o.user, includeStopped: o.all ?? false });
        if (subs.length === 0) out('no subscriptions');
        for (const s of subs)
          out(
            `${String(s.id).padStart(4)}  user ${s.user_id} ${s.user_name} (${s.role}): ${describeSubscription(s)}`,
          );
      });
    });

  digest
    .command('unsubscribe')
    .requiredOption('--user <id>', 'bot user id', parseUserId)
    .option('--kind <kind>', 'daily | weekly | alerts (default: all)', (v) => parseKind(v, true))
    .option('--channel <channel>', 'only on this channel', parseChannel)
    .description('stop a user’s subscriptions')
    .action(async (o: { user: number; kind?: SubscriptionKind; channel?: Channel }) => {
      await deps.withApp(async (app) => {
        const n = await unsubscribe(app.db, { userId: o.user, kind: o.kind, channel: o.channel });
        out(`${n} subscription(s) stopped`);
      });
    });

  digest
    .command('status')
    .option('--days <n>', 'how far back', (v) => Number.parseInt(v, 10), 7)
    .option('--limit <n>', 'failures to list', (v) => Number.parseInt(v, 10), 20)
    .description('delivery status: sent, late, retrying and failed digests and alerts, with errors')
    .action(async (o: { days: number; limit: number }) => {
      await deps.withApp(async (app) => {
        const report = await deliveryStatus(app.db, { now: app.now(), days: o.days, limit: o.limit });
        out(formatDeliveryStatus(report, { days: o.days, tz: app.config.companyTz }));
      });
    });

  digest
    .command('preview')
    .requiredOption('--as <id>', 'a bot user id, a manager id, or admin')
    .requiredOption('--kind <kind>', 'daily | weekly', (v) => parseKind(v, false))
    .option('--now <iso>', 'the moment the digest is due (default: now)', parseNow)
    .option('--tz <zone>', 'the subscriber’s time zone (default: theirs, else the company’s)')
    .option('--out <dir>', 'where to save the charts (default: VORONKA_HOME/charts)')
    .option('--html', 'print the Telegram HTML instead of plain text')
    .description('print a digest as a subscriber would get it and save its charts')
    .action(
      async (o: { as: string; kind: DigestKind; now?: Date; tz?: string; out?: string; html?: boolean }) => {
        await deps.withApp(
          async (app) => {
            const { registry, renderer } = await deps.services(app);
            const { createDigestBuilder, digestText } = await import('./content.ts');
            const who = await previewCaller(app.db, o.as, app.config.companyTz);
            const builder = createDigestBuilder({
              db: app.db,
              registry,
              renderer,
              companyTz: app.config.companyTz,
              logger: app.logger,
              callsPerDayNorm: app.config.callsPerDayNorm,
            });
            const content = await builder.build({
              kind: o.kind,
              caller: who.caller,
              slot: app.now(),
              timeZone: o.tz ?? who.timeZone,
            });
            out(digestText(content, { html: o.html ?? false }));
            const dir = path.resolve(o.out ?? path.join(app.config.home, 'charts'));
            if (content.charts.length) fs.mkdirSync(dir, { recursive: true });
            const stamp = `${o.kind}-${o.as}-${content.period.from}`;
            for (const c of content.charts) {
              const file = path.join(dir, `digest-${stamp}-${c.name}.png`);
              fs.writeFileSync(file, c.png);
              out(`📊 ${c.caption}: ${file}`);
            }
          },
          o.now ? { now: o.now } : {},
        );
      },
    );

  return digest;
}
