import { escapeHtml, formatFigure } from '../agent/answer.ts';
import type { ToolRegistry } from '../agent/registry.ts';
import type { Channel } from '../bot/access.ts';
import type { Queryable } from '../db/client.ts';
import type { Logger } from '../logger.ts';
import { formatPhone } from '../metrics/calls.ts';
import { type MetricContext, scopeManagerIds } from '../metrics/common.ts';
import { formatPeriodRu, localDate } from '../metrics/period.ts';
import { workingDays } from '../metrics/plan.ts';
import { ADMIN, type Caller, type Envelope, type ToolInput } from '../metrics/types.ts';
import { existingKeys, insertDeliveries, type NewDelivery } from './outbox.ts';
import { deliverableAt, localClock, type QuietHours } from './schedule.ts';
import { type AlertSettings, type AlertType, alertSettingsSchema } from './subscriptions.ts';

/*
 * Alerts that need action now. Each is an event with an entity and the local
 * day it happened; the outbox key `alert:<subscription>:<alert>:<entity>:<day>`
 * makes every (subscriber, event) go out once, whichever check or process
 * sees it first. An event seen during the subscriber's quiet hours is held
 * until they end.
 *
 * - forgotten_deal: an open deal crossed the forgotten_deals threshold
 *   (14 days without activity, METRICS.md) within the last 24 hours;
 * - high_risk_call: a call breakdown with churn risk `high` made in the last 24 hours;
 * - missed_new_number: a missed call from a new number (missed_calls) not called
 *   back 30 minutes after it, within the last 24 hours;
 * - plan_pace: on a working day, from the 3rd working day of the month, the
 *   plan's run-rate forecast (plan_progress forecast_completion) is below the
 *   subscriber's threshold — once a day while it stays below, never during
 *   quiet hours;
 * - stuck_deal: an open deal has stayed in its stage longer than N × the
 *   stage's mean stay (deal_stats stage_time over the last 90 days); once per stay.
 */

export const FORGOTTEN_DEAL_DAYS = 14;
export const MISSED_CALLBACK_MINUTES = 30;
export const PLAN_MIN_WORKING_DAYS = 3;
const DAY_MS = 86_400_000;

export interface AlertDeps {
  db: Queryable;
  registry: ToolRegistry;
  companyTz: string;
  logger: Logger;
  /** Forgotten, stuck and plan checks are heavier: they run this often; the others on every check. */
  slowEveryMs?: number;
}

interface Subscriber {
  subscriptionId: number;
  userId: number;
  channel: Channel;
  timeZone: string;
  quiet: QuietHours | null;
  settings: AlertSettings;
  caller: Caller;
  /** Managers whose records the subscriber may see; null = all. */
  scope: Set<string> | null;
}

/** Something that happened, for whoever may see its manager's records. */
interface AlertEvent {
  alert: AlertType;
  entity: string;
  /** When it happened: its local day goes into the key. */
  at: Date;
  /** Only subscribers whose scope has this manager hear of it; null = admins only. */
  managerId: string | null;
  title: string;
  body: string;
}

const TITLES: Record<AlertType, string> = {
  forgotten_deal: '💤 Сделка стала забытой',
  high_risk_call: '⚠️ Высокий риск потери клиента',
  missed_new_number: '📵 Пропущенный с нового номера без перезвона',
  plan_pace: '📉 План под угрозой',
  stuck_deal: '🐢 Сделка застряла на этапе',
};

function moment(d: Date, tz: string): string {
  return new Intl.DateTimeFormat('ru-RU', {
    timeZone: tz,
    day: 'numeric',
    month: 'long',
    hour: '2-digit',
    minute: '2-digit',
  }).format(d);
}

export function createAlertDetector(deps: AlertDeps) {
  const slowEveryMs = deps.slowEveryMs ?? 15 * 60_000;
  let lastSlow = Number.NEGATIVE_INFINITY;

  function runTool(name: string, caller: Caller, input: ToolInput, now: Date): Promise<Envelope> | null {
    const tool = deps.registry.get(name);
    if (!tool) return null;
    const ctx: MetricContext = { db: deps.db, caller, tz: deps.companyTz, now };
    return tool.run(ctx, input);
  }

  async function subscribers(): Promise<Subscriber[]> {
    const rows = await deps.db.query<{
      id: number;
      user_id: number;
      channel: Channel;
      time_zone: string;
      quiet_from: string | null;
      quiet_to: string | null;
      alerts: unknown;
      role: Caller['role'];
      manager_id: string | null;
    }>(
      `SELECT s.id, s.user_id, s.channel, s.time_zone, s.quiet_from, s.quiet_to, s.alerts, u.role, u.manager_id
         FROM subscriptions s JOIN bot_users u ON u.id = s.user_id
        WHERE s.kind = 'alerts' AND s.active AND u.revoked_at IS NULL`,
    );
    const scopes = new Map<string, Promise<string[] | null>>();
    return Promise.all(
      rows.map(async (r) => {
        const caller: Caller = { role: r.role, managerId: r.manager_id };
        const key = `${caller.role}:${caller.managerId ?? ''}`;
        if (!scopes.has(key)) scopes.set(key, scopeManagerIds(deps.db, caller));
        const ids = await scopes.get(key)!;
        return {
          subscriptionId: r.id,
          userId: r.user_id,
          channel: r.channel,
          timeZone: r.time_zone,
          quiet: r.quiet_from && r.quiet_to ? { from: r.quiet_from, to: r.quiet_to } : null,
          settings: alertSettingsSchema.parse(r.alerts ?? {}),
          caller,
          scope: ids === null ? null : new Set(ids),
        };
      }),
    );
  }

  async function forgottenDeals(now: Date): Promise<AlertEvent[]> {
    const cut = new Date(now.getTime() - FORGOTTEN_DEAL_DAYS * DAY_MS);
    const rows = await deps.db.query<{
      id: string;
      title: string | null;
      amount: number;
      manager_id: string | null;
      manager: string | null;
      la: Date;
    }>(
      `SELECT d.id, d.title, d.amount, d.manager_id, m.name AS manager, d.last_activity_at AS la
         FROM deals d JOIN stages s ON s.id = d.stage_id AND s.semantic = 'open'
         LEFT JOIN managers m ON m.id = d.manager_id
        WHERE d.last_activity_at >= $1 AND d.last_activity_at < $2 AND d.created_at <= $3`,
      [new Date(cut.getTime() - DAY_MS), cut, now],
    );
    return rows.map((r) => ({
      alert: 'forgotten_deal',
      entity: r.id,
      at: new Date(r.la.getTime() + FORGOTTEN_DEAL_DAYS * DAY_MS),
      managerId: r.manager_id,
      title: TITLES.forgotten_deal,
      body: `«${r.title ?? r.id}» (${r.manager ?? 'без менеджера'}${r.amount ? `, ${formatFigure('amount', r.amount)}` : ''}) — ${FORGOTTEN_DEAL_DAYS} дней без активности, последняя — ${moment(r.la, deps.companyTz)}.`,
    }));
  }

  async function highRiskCalls(now: Date): Promise<AlertEvent[]> {
    const rows = await deps.db.query<{
      call_id: string;
      summary: string | null;
      next_step: string | null;
      manager_id: string | null;
      manager: string | null;
      client_phone: string;
      started_at: Date;
    }>(
      `SELECT DISTINCT ON (a.call_id) a.call_id, a.breakdown->>'summary' AS summary, a.breakdown->>'next_step' AS next_step,
              c.manager_id, m.name AS manager, c.client_phone, c.started_at
         FROM call_analyses a JOIN calls c ON c.id = a.call_id LEFT JOIN managers m ON m.id = c.manager_id
        WHERE a.churn_risk = 'high' AND a.created_at > $1 AND a.created_at <= $2
        ORDER BY a.call_id, a.created_at`,
      [new Date(now.getTime() - DAY_MS), now],
    );
    return rows.map((r) => ({
      alert: 'high_risk_call',
      entity: r.call_id,
      at: r.started_at,
      managerId: r.manager_id,
      title: TITLES.high_risk_call,
      body: [
        `Звонок ${moment(r.started_at, deps.companyTz)}, ${formatPhone(r.client_phone)}, менеджер: ${r.manager ?? 'не указан'}.`,
        r.summary,
        r.next_step ? `Следующий шаг: ${r.next_step}` : null,
      ]
        .filter(Boolean)
        .join('\n'),
    }));
  }

  async function missedNewNumbers(now: Date): Promise<AlertEvent[]> {
    const from = new Date(now.getTime() - DAY_MS);
    const until = new Date(now.getTime() - MISSED_CALLBACK_MINUTES * 60_000);
    const env = await runTool(
      'missed_calls',
      ADMIN,
      { period: { from: localDate(from, deps.companyTz), to: localDate(now, deps.companyTz) }, limit: 1000 },
      now,
    );
    const items = (env?.items ?? []).filter((i) => {
      const t = new Date(String(i.started_at)).getTime();
      return i.new_number === true && t >= from.getTime() && t <= until.getTime();
    });
    if (items.length === 0) return [];
    const managers = new Map(
      (
        await deps.db.query<{ id: string; manager_id: string | null }>(
          'SELECT id, manager_id FROM calls WHERE id = ANY($1::text[])',
          [items.map((i) => i.id)],
        )
      ).map((r) => [r.id, r.manager_id]),
    );
    return items.map((i) => ({
      alert: 'missed_new_number',
      entity: i.id,
      at: new Date(String(i.started_at)),
      managerId: managers.get(i.id) ?? null,
      title: TITLES.missed_new_number,
      body: `${i.title} звонил(а) ${moment(new Date(String(i.started_at)), deps.companyTz)}${i.channel ? ` (${i.channel})` : ''}, перезвона не было ${MISSED_CALLBACK_MINUTES}+ минут. Перезвоните: это новый клиент.`,
    }));
  }

  async function stuckDeals(now: Date, factors: number[]): Promise<Map<number, AlertEvent[]>> {
    const out = new Map<number, AlertEvent[]>();
    const env = await runTool('deal_stats', ADMIN, { period: { name: 'last_90_days' } }, now);
    const mean = new Map<string, number>();
    for (const g of env?.series?.by_stage ?? []) {
      const days = g.figures.stage_time;
      if (typeof days === 'number' && days > 0) mean.set(g.key, days);
    }
    if (mean.size === 0) return out;
    const rows = await deps.db.query<{
      id: string;
      title: string | null;
      amount: number;
      manager_id: string | null;
      manager: string | null;
      stage_id: string;
      stage: string;
      entered_at: Date;
    }>(
      `SELECT d.id, d.title, d.amount, d.manager_id, m.name AS manager, d.stage_id, st.name AS stage,
              coalesce((SELECT max(h.at) FROM stage_history h
                         WHERE h.entity = 'deal' AND h.entity_id = d.id AND h.stage_id = d.stage_id AND h.at <= $2),
                       d.created_at) AS entered_at
         FROM deals d JOIN stages st ON st.id = d.stage_id AND st.semantic = 'open'
         LEFT JOIN managers m ON m.id = d.manager_id
        WHERE d.stage_id = ANY($1::text[]) AND d.created_at <= $2`,
      [[...mean.keys()], now],
    );
    for (const factor of factors) {
      const events: AlertEvent[] = [];
      for (const r of rows) {
        const avg = mean.get(r.stage_id)!;
        const crossed = r.entered_at.getTime() + factor * avg * DAY_MS;
        if (crossed > now.getTime() || crossed <= now.getTime() - DAY_MS) continue;
        const days = (now.getTime() - r.entered_at.getTime()) / DAY_MS;
        events.push({
          alert: 'stuck_deal',
          entity: `${r.id}@${r.stage_id}:${localDate(r.entered_at, deps.companyTz)}`,
          at: r.entered_at,
          managerId: r.manager_id,
          title: TITLES.stuck_deal,
          body: `«${r.title ?? r.id}» (${r.manager ?? 'без менеджера'}) на этапе «${r.stage}» уже ${formatFigure('days', days)} — обычно ${formatFigure('days', avg)} (порог: в ${String(factor).replace('.', ',')} раза дольше).`,
        });
      }
      out.set(factor, events);
    }
    return out;
  }

  async function planPace(now: Date, subs: Subscriber[]): Promise<Map<number, AlertEvent>> {
    const out = new Map<number, AlertEvent>();
    const today = localClock(now, deps.companyTz);
    const month = today.date.slice(0, 7);
    if (today.weekday > 5 || workingDays(`${month}-01`, today.date) < PLAN_MIN_WORKING_DAYS) return out;
    const byCaller = new Map<string, Promise<Envelope> | null>();
    for (const s of subs) {
      if (deliverableAt(s.quiet, s.timeZone, now).getTime() !== now.getTime()) continue;
      const key = `${s.caller.role}:${s.caller.managerId ?? ''}`;
      if (!byCaller.has(key))
        byCaller.set(key, runTool('plan_progress', s.caller, { period: { name: 'this_month' } }, now));
      const env = await byCaller.get(key);
      const forecast = env?.figures.forecast_completion;
      if (
        !env ||
        env.figures.plan === null ||
        typeof forecast !== 'number' ||
        forecast >= s.settings.plan_threshold
      )
        continue;
      const monthWords = formatPeriodRu(env.period).replace(/ \(.*\)$/, '');
      out.set(s.subscriptionId, {
        alert: 'plan_pace',
        entity: `plan:${month}`,
        at: now,
        managerId: null,
        title: TITLES.plan_pace,
        body: `Прогноз выполнения плана на ${monthWords} — ${formatFigure('forecast_completion', forecast)} (порог ${formatFigure('share', s.settings.plan_threshold)}). Выполнено ${formatFigure('completion', env.figures.completion)}: ${formatFigure('fact', env.figures.fact)} из ${formatFigure('plan', env.figures.plan)}.`,
      });
    }
    return out;
  }

  /** Subscribers who already got this high-risk call from the breakdown notifier. */
  async function riskAlreadySent(callIds: string[]): Promise<Array<{ key: string; user_id: number }>> {
    if (callIds.length === 0) return [];
    return deps.db.query<{ key: string; user_id: number }>(
      `SELECT key, user_id FROM deliveries WHERE key LIKE ANY($1::text[]) AND status <> 'failed'`,
      [callIds.map((id) => `risk:${id.replace(/[\\%_]/g, '\\$&')}:%`)],
    );
  }

  function delivery(s: Subscriber, e: AlertEvent, now: Date): NewDelivery {
    const day = localDate(e.at, s.timeZone);
    const text = `${e.title}\n${e.body}`;
    return {
      key: `alert:${s.subscriptionId}:${e.alert}:${e.entity}:${day}`,
      userId: s.userId,
      subscriptionId: s.subscriptionId,
      channel: s.channel,
      kind: 'alert',
      payload: {
        type: 'alert',
        alert: e.alert,
        entity: e.entity,
        text,
        html: `<b>${escapeHtml(e.title)}</b>\n${escapeHtml(e.body)}`,
      },
      late: false,
      scheduledAt: deliverableAt(s.quiet, s.timeZone, now),
    };
  }

  /**
   * Looks for events as of `now` and puts an outbox row for each subscriber
   * who should hear of one; returns how many rows were new.
   */
  async function check(now: Date, opts: { all?: boolean } = {}): Promise<number> {
    const subs = await subscribers();
    if (subs.length === 0) return 0;
    const wants = (a: AlertType) => subs.some((s) => s.settings[a]);
    const slow = opts.all || now.getTime() - lastSlow >= slowEveryMs;
    if (slow) lastSlow = now.getTime();

    const shared: AlertEvent[] = [];
    if (wants('high_risk_call')) shared.push(...(await highRiskCalls(now)));
    if (wants('missed_new_number')) shared.push(...(await missedNewNumbers(now)));
    if (slow && wants('forgotten_deal')) shared.push(...(await forgottenDeals(now)));
    const stuck =
      slow && wants('stuck_deal')
        ? await stuckDeals(now, [
            ...new Set(subs.filter((s) => s.settings.stuck_deal).map((s) => s.settings.stuck_factor)),
          ])
        : new Map<number, AlertEvent[]>();
    const plan =
      slow && wants('plan_pace')
        ? await planPace(
            now,
            subs.filter((s) => s.settings.plan_pace),
          )
        : new Map();
    const risky = await riskAlreadySent(
      shared.filter((e) => e.alert === 'high_risk_call').map((e) => e.entity),
    );

    const rows: NewDelivery[] = [];
    const sees = (s: Subscriber, managerId: string | null) =>
      s.scope === null || (managerId !== null && s.scope.has(managerId));
    for (const s of subs) {
      const events = [
        ...shared,
        ...(s.settings.stuck_deal ? (stuck.get(s.settings.stuck_factor) ?? []) : []),
      ];
      for (const e of events) {
        if (!s.settings[e.alert] || !sees(s, e.managerId)) continue;
        if (
          e.alert === 'high_risk_call' &&
          risky.some((r) => r.user_id === s.userId && r.key.startsWith(`risk:${e.entity}:`))
        )
          continue;
        rows.push(delivery(s, e, now));
      }
      const p = plan.get(s.subscriptionId);
      if (p) rows.push(delivery(s, p, now));
    }
    const have = await existingKeys(
      deps.db,
      rows.map((r) => r.key),
    );
    const inserted = await insertDeliveries(
      deps.db,
      rows.filter((r) => !have.has(r.key)),
      now,
    );
    if (inserted > 0) deps.logger.info({ alerts: inserted }, 'alerts queued');
    return inserted;
  }

  return { check };
}

export type AlertDetector = ReturnType<typeof createAlertDetector>;
