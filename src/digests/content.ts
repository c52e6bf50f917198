import { escapeHtml, formatFigure } from '../agent/answer.ts';
import type { ToolRegistry } from '../agent/registry.ts';
import type { Reply } from '../bot/core.ts';
import { formatInt } from '../bot/format.ts';
import type { ChartRenderer, ChartSpecOptions } from '../charts/index.ts';
import { chartSpecFor, defaultChartSize } from '../charts/index.ts';
import type { Queryable } from '../db/client.ts';
import type { Logger } from '../logger.ts';
import type { MetricContext } from '../metrics/common.ts';
import { infoOf } from '../metrics/figures.ts';
import { formatPeriodRu } from '../metrics/period.ts';
import type { Caller, Envelope, EnvelopeItem, Figure, ToolInput } from '../metrics/types.ts';
import { candidatesOf, type Move, significantMoves } from './changes.ts';
import { createToolMemo, type ToolMemo } from './memo.ts';
import { comparisonDates, type DigestKind, digestDates, shiftDate } from './schedule.ts';

/*
 * A digest's content: every figure is a metric tool's answer for the digest's
 * period, run with the subscriber as the caller (so scope is the tools' own)
 * and `now` = the instant the digest was due, so a digest sent late or
 * resumed after a crash says what it would have said on time.
 */

export interface DigestDeps {
  db: Queryable;
  registry: ToolRegistry;
  /** Company time zone: the tools evaluate dates in it, as for every bot answer. */
  companyTz: string;
  logger: Logger;
  /** Charts are left out without a renderer. */
  renderer?: ChartRenderer | undefined;
  /** CSS pixels of the charts; the renderer's default (1000×600) when not given. */
  chartSize?: { width: number; height: number } | undefined;
  callsPerDayNorm?: number | undefined;
  /** Shares tool results between digests of the same caller and instant. */
  memo?: ToolMemo | undefined;
  /** Shares chart images of the same spec; kept small, images are large (a few hundred cover a morning). */
  chartMemo?: ToolMemo | undefined;
}

export interface DigestRequest {
  kind: DigestKind;
  caller: Caller;
  /** The instant the digest is due: the figures are as of it. */
  slot: Date;
  /** The subscriber's zone: decides which dates are "yesterday" and "last week". */
  timeZone: string;
}

export interface DigestSection {
  title: string;
  lines: string[];
}

export interface DigestChart {
  name: 'calls_by_day' | 'plan_fact' | 'lead_sources';
  caption: string;
  png: Buffer;
}

export interface DigestContent {
  kind: DigestKind;
  period: { from: string; to: string; label: string };
  comparison: { from: string; to: string; label: string };
  /** Whose figures: "Вся компания", "Отдел: …", "Менеджер: …". */
  audience: string;
  sections: DigestSection[];
  /** Every figure shown, by `tool.figure` (`calls_stats.incoming`, `plan_progress.completion`, ...). */
  figures: Record<string, Figure>;
  moves: Move[];
  /** Top forgotten deals and leads as listed. */
  forgotten: { deals: EnvelopeItem[]; leads: EnvelopeItem[] };
  charts: DigestChart[];
}

const KIND_TITLES: Record<DigestKind, string> = {
  daily: 'Ежедневная сводка',
  weekly: 'Еженедельная сводка',
};

/**
 * Charts drawn at once: drawing is synchronous on this thread anyway, and
 * each one in flight holds a 2000×1200 canvas until its PNG is encoded.
 */
const RENDERS_AT_ONCE = 2;

const TOP_FORGOTTEN = 5;
const TOP_OBJECTIONS = 3;
const TOP_RISKY = 3;

function figureText(code: string, value: Figure | undefined): string {
  return `${infoOf(code).label}: ${formatFigure(code, value)}`;
}

function itemText(item: EnvelopeItem, i: number): string {
  const parts = [String(item.title ?? item.id)];
  if (item.manager) parts.push(String(item.manager));
  if (typeof item.days_idle === 'number') parts.push(`${formatInt(item.days_idle)} дн. без активности`);
  if (typeof item.amount === 'number' && item.amount > 0) parts.push(formatFigure('amount', item.amount));
  return `${i + 1}. ${parts.join(' · ')}`;
}

/** Runs at most `n` of the given tasks at a time, in call order. */
function semaphore(n: number) {
  let active = 0;
  const waiting: Array<() => void> = [];
  return async <T>(task: () => Promise<T>): Promise<T> => {
    if (active >= n) await new Promise<void>((resolve) => waiting.push(resolve));
    active++;
    try {
      return await task();
    } finally {
      active--;
      waiting.shift()?.();
    }
  };
}

async function audienceOf(db: Queryable, caller: Caller): Promise<string> {
  if (caller.role === 'admin' || !caller.managerId) return 'Вся компания';
  const [row] = await db.query<{ name: string; department: string | null }>(
    `SELECT m.name, d.name AS department FROM managers m LEFT JOIN departments d ON d.id = m.department_id
      WHERE m.id = $1`,
    [caller.managerId],
  );
  if (caller.role === 'head') return `Отдел: ${row?.department ?? row?.name ?? caller.managerId}`;
  return `Менеджер: ${row?.name ?? caller.managerId}`;
}

/** Builds digests; one builder serves many deliveries and shares work through its memo. */
export function createDigestBuilder(deps: DigestDeps) {
  const memo = deps.memo ?? createToolMemo();
  const chartMemo = deps.chartMemo ?? createToolMemo({ maxEntries: 300 });
  const renders = semaphore(RENDERS_AT_ONCE);
  // The chart specs fit their labels to the renderer's default size, so that is the default here too.
  const chartSize = deps.chartSize ?? defaultChartSize;

  /** A tool's answer for the digest's caller as of `now` (the slot unless given). */
  function runTool(
    req: DigestRequest,
    name: string,
    input: ToolInput,
    now = req.slot,
  ): Promise<Envelope | null> {
    const tool = deps.registry.get(name);
    if (!tool) return Promise.resolve(null);
    const ctx: MetricContext = {
      db: deps.db,
      caller: req.caller,
      tz: deps.companyTz,
      now,
      ...(deps.callsPerDayNorm ? { callsPerDayNorm: deps.callsPerDayNorm } : {}),
    };
    const key = `tool|${name}|${req.caller.role}:${req.caller.managerId ?? ''}|${deps.companyTz}|${now.toISOString()}|${JSON.stringify(input)}`;
    return memo.get(key, () => tool.run(ctx, input));
  }

  async function chart(
    name: DigestChart['name'],
    caption: string,
    envelope: Envelope | null,
    opts: ChartSpecOptions = {},
  ): Promise<DigestChart | null> {
    if (!deps.renderer || !envelope) return null;
    const spec = chartSpecFor(envelope, opts);
    if (!spec) return null;
    const renderer = deps.renderer;
    try {
      const png = await chartMemo.get(
        `chart|${JSON.stringify(spec)}|${chartSize.width}x${chartSize.height}`,
        () => renders(() => renderer.render(spec, chartSize)),
      );
      return { name, caption, png };
    } catch (err) {
      deps.logger.warn({ err: (err as Error).message, chart: name }, 'digest chart failed; sent without it');
      return null;
    }
  }

  /** The digest a subscriber gets for a slot. */
  async function build(req: DigestRequest): Promise<DigestContent> {
    const dates = digestDates(req.kind, req.slot, req.timeZone);
    const prev = comparisonDates(dates);
    const period = { from: dates.from, to: dates.to };
    const weekly = req.kind === 'weekly';
    const month = dates.to.slice(0, 7);
    const run = (name: string, input: ToolInput, now?: Date) => runTool(req, name, input, now);
    // The comparison period as it stood one week earlier: callback windows of the same length.
    const weekEarlier = new Date(req.slot.getTime() - 7 * 86_400_000);

    // Weekly: one grouped query gives the week's totals and the chart; daily: the chart spans 7 days.
    const chartWindow = weekly ? period : { from: shiftDate(dates.to, -6), to: dates.to };
    const [
      calls,
      callsBefore,
      callsByDay,
      missed,
      missedBefore,
      leads,
      leadsBefore,
      deals,
      dealsBefore,
      plan,
      forgottenDeals,
      forgottenLeads,
      objections,
      risky,
      audience,
    ] = await Promise.all([
      weekly ? run('calls_stats', { period, group_by: 'day' }) : run('calls_stats', { period }),
      weekly ? run('calls_stats', { period: prev, group_by: 'day' }) : run('calls_stats', { period: prev }),
      weekly ? null : run('calls_stats', { period: chartWindow, group_by: 'day' }),
      run('missed_calls', { period, limit: 1 }),
      run('missed_calls', { period: prev, limit: 1 }, weekEarlier),
      run('lead_stats', { period, group_by: 'source' }),
      run('lead_stats', { period: prev, group_by: 'source' }),
      run('deal_stats', { period, group_by: 'source' }),
      run('deal_stats', { period: prev, group_by: 'source' }),
      run('plan_progress', { period: { name: `month:${month}` } }),
      run('forgotten_deals', { limit: TOP_FORGOTTEN }),
      run('forgotten_leads', { limit: TOP_FORGOTTEN }),
      run('call_quality', { period, aspect: 'objections' } as ToolInput),
      run('call_quality', { period, aspect: 'churn_risk.high', limit: TOP_RISKY } as ToolInput),
      memo.get(`audience|${req.caller.role}:${req.caller.managerId ?? ''}`, () =>
        audienceOf(deps.db, req.caller),
      ),
    ]);

    const figures: Record<string, Figure> = {};
    const pick = (env: Envelope | null, codes: string[]): string[] => {
      if (!env) return [];
      const shown: string[] = [];
      for (const code of codes) {
        if (!(code in env.figures)) continue;
        figures[`${env.metric}.${code}`] = env.figures[code] ?? null;
        shown.push(figureText(code, env.figures[code]));
      }
      return shown;
    };
    const sections: DigestSection[] = [];

    const callLines = [
      pick(calls, ['incoming', 'outgoing', 'missed']).join(' · '),
      pick(missed, ['not_called_back', 'callback_delay_median']).join(' · '),
    ].filter(Boolean);
    if (callLines.length) sections.push({ title: '📞 Звонки', lines: callLines });

    const leadLine = pick(leads, ['received', 'conv_to_deal']).join(' · ');
    if (leadLine) sections.push({ title: '🧲 Лиды', lines: [leadLine] });

    const dealLine = pick(deals, ['won', 'won_amount']).join(' · ');
    if (dealLine) sections.push({ title: '💰 Продажи', lines: [dealLine] });

    if (plan) {
      const monthWords = formatPeriodRu({ ...plan.period }).replace(/ \(.*\)$/, '');
      const lines =
        plan.figures.plan === null || plan.figures.plan === undefined
          ? [`План не задан. ${pick(plan, ['fact'])[0] ?? ''}`.trim()]
          : [
              pick(plan, ['completion', 'forecast_completion']).join(' · '),
              pick(plan, ['fact', 'plan']).join(' · '),
            ];
      sections.push({ title: `🎯 План на ${monthWords}`, lines });
    }

    const moves = significantMoves(
      candidatesOf({
        calls: calls && callsBefore ? [calls, callsBefore] : undefined,
        missed: missed && missedBefore ? [missed, missedBefore] : undefined,
        leads: leads && leadsBefore ? [leads, leadsBefore] : undefined,
        deals: deals && dealsBefore ? [deals, dealsBefore] : undefined,
      }),
    );
    const comparisonLabel = formatPeriodRu(prev);
    sections.push({
      title: `📈 Что изменилось (по сравнению с ${comparisonLabel})`,
      lines: moves.length ? moves.map((m) => `• ${m.text}`) : ['Заметных изменений нет.'],
    });

    const forgotten = { deals: forgottenDeals?.items ?? [], leads: forgottenLeads?.items ?? [] };
    for (const [env, items, title, none] of [
      [forgottenDeals, forgotten.deals, '💤 Забытые сделки', 'Забытых сделок нет.'],
      [forgottenLeads, forgotten.leads, '💤 Забытые лиды', 'Забытых лидов нет.'],
    ] as const) {
      if (!env) continue;
      const total = env.figures[env.metric] ?? 0;
      figures[`${env.metric}.${env.metric}`] = total;
      if ('forgotten_amount' in env.figures)
        figures[`${env.metric}.forgotten_amount`] = env.figures.forgotten_amount ?? null;
      if (!total) {
        sections.push({ title, lines: [none] });
        continue;
      }
      const head = [`${formatInt(total)}`];
      if (typeof env.figures.forgotten_amount === 'number') {
        head.push(`на ${formatFigure('forgotten_amount', env.figures.forgotten_amount)}`);
      }
      const note = env.notes?.[0] ?? '';
      const threshold = note.startsWith('Порог') ? note.replace(/;.*$/, '').replace(/ \(.*?\)/g, '') : '';
      const lines = [`${head.join(' ')}${threshold ? ` (${threshold.toLowerCase()})` : ''}`];
      items.slice(0, TOP_FORGOTTEN).forEach((item, i) => {
        lines.push(itemText(item, i));
      });
      if (total > TOP_FORGOTTEN)
        lines.push(`… ещё ${formatInt(total - Math.min(TOP_FORGOTTEN, items.length))}`);
      sections.push({ title, lines });
    }

    // Only when the call_quality tool is there and some calls of the period were analyzed.
    if ((objections?.figures.analyzed ?? 0) > 0 || (risky?.figures.analyzed ?? 0) > 0) {
      const lines: string[] = [];
      const groups = objections ? (objections.series?.objections ?? objections.groups ?? []) : [];
      const top = groups
        .map((g) => ({ label: g.label, count: g.figures.count ?? Object.values(g.figures)[0] ?? null }))
        .filter((g) => typeof g.count === 'number' && g.count > 0)
        .slice(0, TOP_OBJECTIONS);
      if (top.length)
        lines.push(`Частые возражения: ${top.map((g) => `«${g.label}» — ${formatInt(g.count)}`).join(', ')}`);
      if (risky) {
        const count = risky.figures.high_risk ?? risky.figures.count ?? risky.items?.length ?? 0;
        figures['call_quality.high_risk'] = count;
        lines.push(`Звонки с высоким риском потери клиента: ${formatInt(count)}`);
        (risky.items ?? []).slice(0, TOP_RISKY).forEach((item, i) => {
          lines.push(`${i + 1}. ${[item.title ?? item.id, item.manager].filter(Boolean).join(' · ')}`);
        });
      }
      sections.push({ title: '🗣 Качество звонков', lines });
    }

    const charts = (
      await Promise.all([
        weekly
          ? chart(
              'calls_by_day',
              'Звонки по дням (пунктир — неделя до)',
              calls,
              callsBefore ? { previous: callsBefore } : {},
            )
          : chart('calls_by_day', 'Звонки по дням за 7 дней', callsByDay),
        plan && plan.figures.plan !== null ? chart('plan_fact', 'План и факт', plan) : null,
        leads && (leads.figures.received ?? 0) > 0
          ? chart('lead_sources', 'Лиды по источникам', leads)
          : null,
      ])
    ).filter((c): c is DigestChart => c !== null);

    return {
      kind: req.kind,
      period: { ...period, label: formatPeriodRu(dates) },
      comparison: { ...prev, label: comparisonLabel },
      audience,
      sections,
      figures,
      moves,
      forgotten,
      charts,
    };
  }

  return { build, runTool };
}

export type DigestBuilder = ReturnType<typeof createDigestBuilder>;

/** The first lines of a digest: what it is, for which period and whom, and whether it is late. */
function headerLines(content: DigestContent, late: { dueAt: Date; timeZone: string } | null): string[] {
  const lines = [`📊 ${KIND_TITLES[content.kind]} — ${content.period.label}`, content.audience];
  if (late) {
    const due = new Intl.DateTimeFormat('ru-RU', {
      timeZone: late.timeZone,
      day: 'numeric',
      month: 'long',
      hour: '2-digit',
      minute: '2-digit',
    }).format(late.dueAt);
    lines.push(`⏰ С опозданием: сводка должна была прийти ${due}.`);
  }
  return lines;
}

/** The digest text, plain or as Telegram HTML. */
export function digestText(
  content: DigestContent,
  opts: { html?: boolean; late?: { dueAt: Date; timeZone: string } | null } = {},
): string {
  const e = (s: string) => (opts.html ? escapeHtml(s) : s);
  const b = (s: string) => (opts.html ? `<b>${escapeHtml(s)}</b>` : s);
  const [title, ...rest] = headerLines(content, opts.late ?? null);
  const out = [b(title!), ...rest.map(e)];
  for (const s of content.sections) {
    out.push('', b(s.title), ...s.lines.map(e));
  }
  return out.join('\n');
}

/** A digest as messages: the text first, then one photo per chart with its caption. */
export function digestReplies(
  content: DigestContent,
  late: { dueAt: Date; timeZone: string } | null = null,
): Reply[] {
  const replies: Reply[] = [
    { text: digestText(content, { late }), html: digestText(content, { html: true, late }) },
  ];
  for (const c of content.charts) {
    replies.push({ text: c.caption, html: escapeHtml(c.caption), chart: { png: c.png, caption: c.caption } });
  }
  return replies;
}
