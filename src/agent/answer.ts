import { formatBreakdownRu } from '../analysis/format.ts';
import type { CallBreakdown } from '../analysis/schema.ts';
import { formatDays, formatDuration, formatInt, formatMoney, formatShare } from '../bot/format.ts';
import { type FigureFormat, infoOf } from '../metrics/figures.ts';
import { formatPeriodRu } from '../metrics/period.ts';
import type { Envelope, EnvelopeGroup, EnvelopeItem, Figure } from '../metrics/types.ts';

/** Russian title of each tool's answer. */
export const toolTitles: Record<string, string> = {
  calls_stats: 'Звонки',
  calls_by_time: 'Звонки по времени',
  missed_calls: 'Пропущенные звонки',
  lead_stats: 'Лиды',
  lead_stage_reach: 'Прохождение стадий лидов',
  deal_stats: 'Сделки',
  stage_funnel: 'Конверсия по этапам воронки',
  forgotten_deals: 'Забытые сделки',
  forgotten_leads: 'Забытые лиды',
  deals_without_tasks: 'Сделки без задач',
  plan_progress: 'Выполнение плана продаж',
  manager_efficiency: 'Эффективность менеджеров',
  task_discipline: 'Производительность команды',
  call_quality: 'Качество звонков',
  call_breakdown: 'Разбор звонка',
  list_records: 'Список',
};

/** The figures each tool's answer shows, in order, when the question did not single one out. */
const mainFigures: Record<string, string[]> = {
  calls_stats: ['calls', 'incoming', 'outgoing', 'missed', 'connected', 'talk_time_avg'],
  calls_by_time: ['calls', 'calls_avg', 'calls_max'],
  missed_calls: [
    'missed',
    'called_back',
    'not_called_back',
    'callback_delay_median',
    'lost_missed',
    'lost_new_clients',
  ],
  lead_stats: [
    'received',
    'new',
    'in_work',
    'qualified',
    'junk',
    'conv_to_deal',
    'conv_to_sale',
    'sales_amount',
  ],
  lead_stage_reach: ['received'],
  deal_stats: ['created', 'won', 'won_amount', 'lost', 'win_rate', 'avg_check', 'open', 'open_amount'],
  stage_funnel: ['created'],
  forgotten_deals: ['forgotten_deals', 'forgotten_amount'],
  forgotten_leads: ['forgotten_leads'],
  deals_without_tasks: ['deals_without_tasks', 'amount'],
  plan_progress: ['plan', 'fact', 'completion', 'forecast', 'forecast_completion'],
  manager_efficiency: ['score', 'company_score', 'efficiency', 'calls'],
  task_discipline: [
    'tasks',
    'started_on_time',
    'finished_on_time',
    'execution_coefficient',
    'norm',
    'overdue',
  ],
  call_quality: ['analyzed', 'readiness_avg', 'high_risk', 'target_share'],
  call_breakdown: [],
  list_records: ['total'],
};

/** The figure a group line shows when nothing was highlighted. */
const groupFigure: Record<string, string> = {
  calls_stats: 'calls',
  calls_by_time: 'calls_avg',
  missed_calls: 'missed',
  lead_stats: 'received',
  lead_stage_reach: 'stage_reach',
  deal_stats: 'won_amount',
  stage_funnel: 'stage_reach',
  forgotten_deals: 'forgotten_deals',
  forgotten_leads: 'forgotten_leads',
  deals_without_tasks: 'deals_without_tasks',
  plan_progress: 'completion',
  manager_efficiency: 'efficiency',
  task_discipline: 'execution_coefficient',
  call_quality: 'share',
};

export function formatFigure(code: string, value: Figure | undefined, format?: FigureFormat): string {
  const fmt = format ?? infoOf(code).format;
  if (value === null || value === undefined) return '—';
  switch (fmt) {
    case 'money':
      return formatMoney(value);
    case 'share':
      return formatShare(value);
    case 'duration':
      return formatDuration(value);
    case 'days':
      return formatDays(value);
    case 'decimal':
      return formatShare(value / 100).replace(' %', '');
    case 'score':
      return Number.isInteger(value) ? formatInt(value) : formatShare(value / 100).replace(' %', '');
    default:
      return formatInt(value);
  }
}

export interface AnswerOptions {
  highlight?: string[];
  sort?: 'asc' | 'desc' | undefined;
  /** How many groups or items to list before "ещё N". */
  limit?: number;
  /** Whether to list items (drill-down) — lists are shown for list-like tools anyway. */
  wantsList?: boolean;
  /** HTML (Telegram) or plain text (console, WhatsApp). */
  html?: boolean;
  suggestion?: string | undefined;
  /** Company time zone, for the times of listed records. */
  tz?: string;
  /** A plan by count of deals: plan, fact and forecast are counts, not rubles. */
  countPlan?: boolean;
  /** The named period asked for (`last_week`), so the answer says it in words as well as dates. */
  periodName?: string | undefined;
}

const listTools = new Set([
  'forgotten_deals',
  'forgotten_leads',
  'deals_without_tasks',
  'list_records',
  'missed_calls',
]);

export function escapeHtml(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

function filtersText(env: Envelope): string {
  const parts: string[] = [];
  const f = env.filters as Record<string, string[] | undefined>;
  const names: Record<string, string> = {
    managers: 'менеджер',
    departments: 'отдел',
    sources: 'источник',
    pipelines: 'воронка',
    channels: 'канал',
    campaigns: 'кампания',
  };
  for (const [k, label] of Object.entries(names)) {
    const v = f[k];
    if (Array.isArray(v) && v.length > 0) parts.push(`${label}: ${v.join(', ')}`);
  }
  return parts.join('; ');
}

/** The figure the groups are ranked and shown by. */
export function rankingFigure(env: Envelope, highlight: string[] = []): string | undefined {
  const first = env.groups?.[0];
  if (!first) return undefined;
  const keys = Object.keys(first.figures);
  return (
    highlight.find((h) => keys.includes(h)) ??
    (keys.includes(groupFigure[env.metric] ?? '') ? groupFigure[env.metric] : keys[0])
  );
}

export function sortGroups(
  groups: EnvelopeGroup[],
  figure: string | undefined,
  sort: 'asc' | 'desc' | undefined,
): EnvelopeGroup[] {
  if (!figure || !sort) return groups;
  const val = (g: EnvelopeGroup) => g.figures[figure] ?? null;
  return [...groups].sort((a, b) => {
    const x = val(a);
    const y = val(b);
    if (x === null && y === null) return 0;
    if (x === null) return 1;
    if (y === null) return -1;
    return sort === 'asc' ? x - y : y - x;
  });
}

/** A timestamp of an item in the company's time zone: `23.11 10:42`. */
function localTime(value: unknown, tz: string): string {
  const d = value instanceof Date ? value : new Date(String(value));
  if (Number.isNaN(d.getTime())) return String(value);
  return new Intl.DateTimeFormat('ru-RU', {
    timeZone: tz,
    day: '2-digit',
    month: '2-digit',
    hour: '2-digit',
    minute: '2-digit',
  })
    .format(d)
    .replace(',', '');
}

function itemLine(item: EnvelopeItem, tz: string): string {
  const parts: string[] = [];
  const title = item.title ?? item.name ?? item.id;
  parts.push(String(title));
  if (item.manager) parts.push(String(item.manager));
  if (typeof item.amount === 'number') parts.push(formatMoney(item.amount));
  if (typeof item.days_idle === 'number') parts.push(`${formatInt(item.days_idle)} дн. без активности`);
  if (item.stage) parts.push(String(item.stage));
  if (item.started_at) parts.push(localTime(item.started_at, tz));
  if (item.client_phone) {
    const phone = String(item.client_phone);
    parts.push(/^\d+$/.test(phone) ? `+${phone}` : phone);
  }
  return parts.join(' · ');
}

/**
 * The Russian answer for one tool result: what was counted, for which period
 * and filters, the figures (asked-for first), the ranking or list, notes, and
 * one natural next question.
 */
export function answerText(env: Envelope, opts: AnswerOptions = {}): string {
  const b = (s: string) => (opts.html ? `<b>${escapeHtml(s)}</b>` : s);
  const e = (s: string) => (opts.html ? escapeHtml(s) : s);
  const limit = opts.limit ?? 10;
  const lines: string[] = [];
  const filters = filtersText(env);
  lines.push(
    `${b(toolTitles[env.metric] ?? env.metric)} — ${e(formatPeriodRu({ ...env.period, ...(opts.periodName ? { name: opts.periodName } : {}) }))}${filters ? ` (${e(filters)})` : ''}`,
  );
  const fmt = (code: string, v: Figure | undefined) =>
    formatFigure(code, v, opts.countPlan && ['plan', 'fact', 'forecast'].includes(code) ? 'int' : undefined);
  const highlight = (opts.highlight ?? []).filter((h) => h in env.figures);
  const order = [...highlight, ...(mainFigures[env.metric] ?? Object.keys(env.figures))].filter(
    (k, i, all) => all.indexOf(k) === i && k in env.figures,
  );
  const shown = highlight.length > 0 ? order.slice(0, Math.max(highlight.length + 2, 3)) : order;
  for (const code of shown) {
    const line = `${infoOf(code).label}: ${fmt(code, env.figures[code])}`;
    lines.push(highlight.includes(code) ? b(line) : e(line));
  }

  // call_breakdown's item is the call's details merged with its breakdown JSON.
  const first = env.items?.[0];
  const breakdown =
    env.metric === 'call_breakdown' && first && 'script' in first
      ? (first as unknown as CallBreakdown)
      : undefined;
  if (env.groups && env.groups.length > 0) {
    const figure = rankingFigure(env, opts.highlight);
    // Asked about one figure "по источникам": rank by it, unless the groups have an order of their own.
    const ordered =
      ['stage_funnel', 'lead_stage_reach', 'calls_by_time'].includes(env.metric) ||
      /^(\d{4}-\d{2}(-\d{2})?|\d{1,2}|пн|вт|ср|чт|пт|сб|вс)$/.test(env.groups[0]?.label ?? '');
    const rankBy = opts.sort ?? (!ordered && figure && opts.highlight?.includes(figure) ? 'desc' : undefined);
    const groups = sortGroups(env.groups, figure, rankBy);
    lines.push('');
    if (figure) lines.push(e(`${infoOf(figure).label}:`));
    groups.slice(0, limit).forEach((g, i) => {
      lines.push(e(`${i + 1}. ${g.label} — ${figure ? fmt(figure, g.figures[figure]) : ''}`));
    });
    if (groups.length > limit) lines.push(e(`… ещё ${groups.length - limit}`));
  }

  if (env.items && env.items.length > 0 && !breakdown && (opts.wantsList || listTools.has(env.metric))) {
    lines.push('');
    env.items.slice(0, limit).forEach((item, i) => {
      lines.push(e(`${i + 1}. ${itemLine(item, opts.tz ?? 'Europe/Moscow')}`));
    });
    const countCode = env.metric === 'list_records' ? 'total' : env.metric;
    const total =
      typeof env.figures[countCode] === 'number' ? (env.figures[countCode] as number) : env.items.length;
    const more = Math.max(total, env.items.length) - Math.min(limit, env.items.length);
    if (more > 0) lines.push(e(`… ещё ${formatInt(more)}`));
  }

  if (breakdown) lines.push('', e(formatBreakdownRu(breakdown)));

  for (const note of env.notes ?? []) lines.push(e(`ℹ️ ${note}`));
  if (opts.suggestion) lines.push('', e(`Можно спросить: «${opts.suggestion}»`));
  return lines.join('\n');
}
