import { FIGURE_COLUMNS } from '../db/rollups/calls.ts';
import { ensureRollups } from '../db/rollups/index.ts';
import { AppError } from '../errors.ts';
import {
  anyOf,
  envelope,
  type MetricContext,
  NO_CHANNEL_LABEL,
  NO_MANAGER_LABEL,
  num,
  Params,
  periodOf,
  type ResolvedFilters,
  ratio,
  resolveFilters,
} from './common.ts';
import { delayPercentiles } from './delay-percentiles.ts';
import { localDate, pluralRu, type ResolvedPeriod, startOfLocalDay } from './period.ts';
import type { MetricTool } from './tool.ts';
import type { Envelope, EnvelopeGroup, EnvelopeItem, Figures, GroupBy, ToolInput } from './types.ts';

/*
 * The calls family of METRICS.md ("Звонки"): calls_stats, calls_by_time and
 * missed_calls. Every figure is aggregated in SQL; self-joins on calls go
 * through calls_phone_started_idx (client_phone, started_at) one LIMIT 1 probe
 * per row, so a month of a 10M-call database stays an index walk.
 */

const NO_DEPARTMENT_LABEL = 'Без отдела';
/** Group key of the records without a manager / department / channel. */
const NONE_KEY = 'none';
const DEFAULT_LIMIT = 50;
const WEEKDAY_LABELS = ['пн', 'вт', 'ср', 'чт', 'пт', 'сб', 'вс'] as const;

type Row = Record<string, unknown>;

// ---------------------------------------------------------------------------
// Calendar helpers for the local dates a period spans.

const DAY_MS = 86_400_000;

function isoToMs(day: string): number {
  return Date.parse(`${day}T00:00:00Z`);
}

function msToIso(ms: number): string {
  return new Date(ms).toISOString().slice(0, 10);
}

/**
 * Local days of the period that have begun by now: a call cannot happen on a
 * day still ahead, so "per day" figures and gap-filled day groups stop at today.
 */
function elapsedDays(period: ResolvedPeriod, ctx: MetricContext): string[] {
  const today = localDate(ctx.now, ctx.tz);
  const last = earlierDay(period.to, today);
  const days: string[] = [];
  for (let ms = isoToMs(period.from); ms <= isoToMs(last); ms += DAY_MS) days.push(msToIso(ms));
  return days;
}

/** The earlier / later of two `YYYY-MM-DD` dates (they sort as strings). */
function earlierDay(a: string, b: string): string {
  return [a, b].sort()[0] as string;
}

function laterDay(a: string, b: string): string {
  return [a, b].sort()[1] as string;
}

/** ISO weekday of a local date, Monday = 1 ... Sunday = 7. */
function isoWeekday(day: string): number {
  const wd = new Date(isoToMs(day)).getUTCDay();
  return wd === 0 ? 7 : wd;
}

function mondayOf(day: string): string {
  return msToIso(isoToMs(day) - (isoWeekday(day) - 1) * DAY_MS);
}

/** `+7 916 123-45-67` for Russian numbers, `+<digits>` otherwise. */
export function formatPhone(digits: string): string {
  const m = /^7(\d{3})(\d{3})(\d{2})(\d{2})$/.exec(digits);
  return m ? `+7 ${m[1]} ${m[2]}-${m[3]}-${m[4]}` : `+${digits}`;
}

// ---------------------------------------------------------------------------
// Shared SQL pieces.

/** Filters a call tool cannot apply: said in the notes and left out of the echoed filters. */
function dropUnsupportedFilters(filters: ResolvedFilters, notes: string[]): ResolvedFilters {
  const echo = { ...filters.echo };
  if (echo.pipelines) {
    notes.push('Фильтр по воронкам к звонкам не применяется: звонок не относится к воронке.');
    delete echo.pipelines;
  }
  if (echo.campaigns) {
    notes.push('Фильтр по UTM-кампаниям к звонкам не применяется.');
    delete echo.campaigns;
  }
  return { ...filters, echo };
}

/**
 * Calls started in `[period.start, period.end)` within the caller's scope and
 * filters. Channels are phone lines; a source filter keeps calls to the lines
 * of that source (phone_lines.source_id).
 */
function callWhere(p: Params, f: ResolvedFilters, period: ResolvedPeriod, alias = 'c'): string {
  let w =
    `${alias}.started_at >= ${p.add(period.start.toISOString())}::timestamptz` +
    ` AND ${alias}.started_at < ${p.add(period.end.toISOString())}::timestamptz`;
  w += anyOf(p, `${alias}.manager_id`, f.managerIds);
  w += anyOf(p, `${alias}.line_number`, f.lineNumbers);
  if (f.sourceIds !== null) {
    w += ` AND ${alias}.line_number IN (SELECT number FROM phone_lines WHERE source_id = ANY(${p.add(f.sourceIds)}::text[]))`;
  }
  return w;
}

/**
 * The period split for reading: whole local days that ended at least 24 h
 * before now come from the day rollups (nothing about them depends on now any
 * more: a callback window is 24 h), the rest from the calls themselves.
 */
interface PeriodSplit {
  /** Local days [from, toExcl) read from call_days / call_line_days. */
  settled: { from: string; toExcl: string } | null;
  /** Instants [start, end) read from calls. */
  recent: { start: Date; end: Date } | null;
}

/** The first day of the month after the one holding `day`. */
function nextMonthStart(day: string): string {
  const d = new Date(isoToMs(`${day.slice(0, 7)}-01`));
  d.setUTCMonth(d.getUTCMonth() + 1);
  return msToIso(d.getTime());
}

function nextDay(day: string): string {
  return msToIso(isoToMs(day) + DAY_MS);
}

function splitPeriod(period: ResolvedPeriod, ctx: MetricContext): PeriodSplit {
  const cut = localDate(new Date(ctx.now.getTime() - DAY_MS), ctx.tz);
  const toExcl = earlierDay(nextDay(period.to), cut);
  const settled = period.from < toExcl ? { from: period.from, toExcl } : null;
  const cutStart = startOfLocalDay(cut, ctx.tz);
  const start = cutStart.getTime() > period.start.getTime() ? cutStart : period.start;
  const recent = start.getTime() < period.end.getTime() ? { start, end: period.end } : null;
  return { settled, recent };
}

/**
 * The figures of one call key from `calls c` and its stored flags, with the
 * callback window capped at now ("не позже текущего момента").
 */
function rawFigures(now: string): string {
  const missed = `c.direction = 'in' AND c.status <> 'answered'`;
  const lost = `NOT coalesce(c.answered_after_at <= ${now}, false)`;
  return `count(*) AS calls,
      count(*) FILTER (WHERE c.direction = 'in') AS incoming,
      count(*) FILTER (WHERE c.direction = 'out') AS outgoing,
      count(*) FILTER (WHERE c.direction = 'in' AND c.status = 'answered') AS answered,
      count(*) FILTER (WHERE ${missed}) AS missed,
      count(*) FILTER (WHERE c.direction = 'out' AND c.status = 'answered') AS connected,
      count(*) FILTER (WHERE c.direction = 'out' AND c.status <> 'answered') AS not_connected,
      coalesce(sum(c.duration_sec), 0) AS talk_time_total,
      coalesce(sum(c.duration_sec) FILTER (WHERE c.status = 'answered'), 0) AS talk_answered,
      count(*) FILTER (WHERE c.is_new) AS new_number_calls,
      count(*) FILTER (WHERE ${missed} AND c.callback_at <= ${now}) AS called_back,
      count(*) FILTER (WHERE ${missed} AND ${lost}) AS lost_missed,
      count(*) FILTER (WHERE ${missed} AND c.is_new AND ${lost}) AS lost_new_clients`;
}

/**
 * Call figures of the period in scope per (day, manager_id) — or per (day,
 * manager_id, line_number, direction) with `lines`, which channels and source
 * filters need — as one relation: settled days from the rollup, recent ones
 * from the calls. Keys '' stand for "no manager / no line".
 */
function callFiguresSql(
  p: Params,
  f: ResolvedFilters,
  period: ResolvedPeriod,
  ctx: MetricContext,
  lines: boolean,
  months = false,
): string {
  const split = splitPeriod(period, ctx);
  const keys = lines ? ['day', 'manager_id', 'line_number', 'direction'] : ['day', 'manager_id'];
  const parts: string[] = [];
  const settledRows = (table: string, day: string, from: string, toExcl: string) => {
    let w = `r.${day} >= ${p.add(from)}::date AND r.${day} < ${p.add(toExcl)}::date`;
    w += anyOf(p, 'r.manager_id', f.managerIds);
    if (lines) w += lineFilterSql(p, f, 'r.line_number');
    parts.push(
      `SELECT ${keys.map((k) => (k === 'day' ? `r.${day} AS day` : `r.${k}`)).join(', ')}, ${FIGURE_COLUMNS.map((c) => `r.${c}`).join(', ')}
         FROM ${table} r WHERE ${w}`,
    );
  };
  if (split.settled) {
    const { from, toExcl } = split.settled;
    // Whole months from call_months (their rows carry the month's first day), the odd days around them by day.
    const firstMonth = from.endsWith('-01') ? from : nextMonthStart(from);
    const lastMonth = `${toExcl.slice(0, 7)}-01`;
    if (months && !lines && firstMonth < lastMonth) {
      if (from < firstMonth) settledRows('call_days', 'day', from, firstMonth);
      settledRows('call_months', 'month', firstMonth, lastMonth);
      if (lastMonth < toExcl) settledRows('call_days', 'day', lastMonth, toExcl);
    } else {
      settledRows(lines ? 'call_line_days' : 'call_days', 'day', from, toExcl);
    }
  }
  if (split.recent) {
    const now = `${p.add(ctx.now.toISOString())}::timestamptz`;
    const where = callWhere(p, f, { ...period, start: split.recent.start, end: split.recent.end });
    const exprs = [
      `(c.started_at AT TIME ZONE ${p.add(ctx.tz)}::text)::date`,
      `coalesce(c.manager_id, '')`,
      ...(lines ? [`coalesce(c.line_number, '')`, 'c.direction'] : []),
    ];
    parts.push(
      `SELECT ${exprs.map((e, i) => `${e} AS ${keys[i]}`).join(', ')}, ${rawFigures(now)}
         FROM calls c WHERE ${where} GROUP BY ${exprs.map((_, i) => i + 1).join(', ')}`,
    );
  }
  if (parts.length === 0) {
    return `SELECT ${keys.map((k) => `NULL::${k === 'day' ? 'date' : 'text'} AS ${k}`).join(', ')}, ${FIGURE_COLUMNS.map((c) => `0::bigint AS ${c}`).join(', ')} WHERE false`;
  }
  return parts.join('\n UNION ALL\n');
}

const NO_FILTERS: ResolvedFilters = {
  managerIds: null,
  sourceIds: null,
  pipelineIds: null,
  lineNumbers: null,
  campaigns: null,
  echo: {},
};

/**
 * The whole company's calls of the period per manager (manager_id '' = none),
 * with the figures of callFiguresSql: what manager_efficiency scores.
 */
export async function companyCallsByManager(ctx: MetricContext, period: ResolvedPeriod): Promise<Row[]> {
  await ensureRollups(ctx.db, ctx.tz);
  const p = new Params();
  return ctx.db.query<Row>(
    `SELECT manager_id, ${SUMS} FROM (${callFiguresSql(p, NO_FILTERS, period, ctx, false, true)}) s GROUP BY manager_id`,
    p.values,
  );
}

/** Channel and source filters on a line number column (a source's calls are those on its lines). */
function lineFilterSql(p: Params, f: ResolvedFilters, column: string): string {
  let w = anyOf(p, column, f.lineNumbers);
  if (f.sourceIds !== null) {
    w += ` AND ${column} IN (SELECT number FROM phone_lines WHERE source_id = ANY(${p.add(f.sourceIds)}::text[]))`;
  }
  return w;
}

/** Whether a question needs the per-line rollup: a channel grouping, a channel or source filter. */
function needsLines(f: ResolvedFilters, groupBy: GroupBy | undefined): boolean {
  return groupBy === 'channel' || f.lineNumbers !== null || f.sourceIds !== null;
}

/** Sums of the figure columns over a relation of callFiguresSql rows. */
const SUMS = FIGURE_COLUMNS.map((c) => `sum(${c}) AS ${c}`).join(', ');

const TIME_GROUPS = ['day', 'week', 'month'] as const;
type TimeGroup = (typeof TIME_GROUPS)[number];

function isTimeGroup(g: GroupBy): g is TimeGroup {
  return (TIME_GROUPS as readonly string[]).includes(g);
}

interface GroupSql {
  /** SQL expression of the group key; NULL drops the row from the groups (not from the totals). */
  key: string;
  joins: string;
}

/**
 * Group key expressions over the figure rows `s` of callFiguresSql (or over
 * `calls c` for clients, which only the calls themselves know). Keys '' stand
 * for "no manager / department / channel".
 */
function groupSql(groupBy: GroupBy): GroupSql {
  switch (groupBy) {
    case 'manager':
      return { key: 's.manager_id', joins: '' };
    case 'department':
      return {
        key: `coalesce(gm.department_id, '')`,
        joins: 'LEFT JOIN managers gm ON gm.id = s.manager_id',
      };
    case 'channel':
      // METRICS.md "По каналам": incoming calls only, equal line names summed.
      return {
        key: `CASE WHEN s.direction = 'in' THEN coalesce(gl.name, '') END`,
        joins: 'LEFT JOIN phone_lines gl ON gl.number = s.line_number',
      };
    case 'client':
      return { key: 'c.client_phone', joins: '' };
    case 'day':
      return { key: `to_char(s.day, 'YYYY-MM-DD')`, joins: '' };
    case 'week':
      return { key: `to_char(date_trunc('week', s.day), 'YYYY-MM-DD')`, joins: '' };
    case 'month':
      return { key: `to_char(s.day, 'YYYY-MM')`, joins: '' };
    default:
      throw new AppError(
        'unsupported_group_by',
        `calls cannot be grouped by ${groupBy}`,
        'Звонки можно разбить по менеджерам, отделам, каналам, клиентам, дням, неделям или месяцам.',
      );
  }
}

/** The same keys over `calls c` directly, for the figures only single calls give (callback delays). */
function callGroupSql(groupBy: GroupBy, p: Params, tz: string): GroupSql {
  const local = () => `(c.started_at AT TIME ZONE ${p.add(tz)}::text)`;
  switch (groupBy) {
    case 'manager':
      return { key: `coalesce(c.manager_id, '')`, joins: '' };
    case 'department':
      return {
        key: `coalesce(gm.department_id, '')`,
        joins: 'LEFT JOIN managers gm ON gm.id = c.manager_id',
      };
    case 'channel':
      return {
        key: `CASE WHEN c.direction = 'in' THEN coalesce(gl.name, '') END`,
        joins: 'LEFT JOIN phone_lines gl ON gl.number = c.line_number',
      };
    case 'day':
      return { key: `to_char(${local()}, 'YYYY-MM-DD')`, joins: '' };
    case 'week':
      return { key: `to_char(date_trunc('week', ${local()}), 'YYYY-MM-DD')`, joins: '' };
    case 'month':
      return { key: `to_char(${local()}, 'YYYY-MM')`, joins: '' };
    default:
      return groupSql(groupBy);
  }
}

function checkGroupBy(tool: string, groupBy: GroupBy | undefined, allowed: readonly GroupBy[]): void {
  if (groupBy && allowed.length === 0) {
    throw new AppError(
      'unsupported_group_by',
      `${tool} does not support group_by=${groupBy}`,
      'Распределение звонков по времени строится по часам или по дням недели, без других разбивок.',
    );
  }
  if (groupBy && !allowed.includes(groupBy)) {
    const words: Partial<Record<GroupBy, string>> = {
      manager: 'менеджерам',
      department: 'отделам',
      channel: 'каналам',
      client: 'клиентам',
      day: 'дням',
      week: 'неделям',
      month: 'месяцам',
    };
    throw new AppError(
      'unsupported_group_by',
      `${tool} does not support group_by=${groupBy}`,
      `Этот показатель можно разбить только по: ${allowed.map((g) => words[g] ?? g).join(', ')}.`,
    );
  }
}

/** Aggregates a CTE into totals (is_total = 1) plus one row per group key. */
function groupedSql(aggregates: string, from: string, grouped: boolean): string {
  return grouped
    ? `SELECT gkey, GROUPING(gkey) AS is_total, ${aggregates} FROM ${from} GROUP BY GROUPING SETS ((gkey), ())`
    : `SELECT NULL::text AS gkey, 1 AS is_total, ${aggregates} FROM ${from}`;
}

/** Human labels for group keys: manager / department names, contact names, week ranges. */
async function groupLabels(
  ctx: MetricContext,
  groupBy: GroupBy,
  keys: string[],
  period: ResolvedPeriod,
): Promise<Map<string, string>> {
  const labels = new Map<string, string>();
  const real = keys.filter((k) => k !== '');
  if (groupBy === 'manager' || groupBy === 'department') {
    const table = groupBy === 'manager' ? 'managers' : 'departments';
    const rows = await ctx.db.query<{ id: string; name: string }>(
      `SELECT id, name FROM ${table} WHERE id = ANY($1::text[])`,
      [real],
    );
    for (const r of rows) labels.set(r.id, r.name);
    labels.set('', groupBy === 'manager' ? NO_MANAGER_LABEL : NO_DEPARTMENT_LABEL);
  } else if (groupBy === 'channel') {
    for (const k of real) labels.set(k, k);
    labels.set('', NO_CHANNEL_LABEL);
  } else if (groupBy === 'client') {
    const names = await contactNames(ctx, real);
    for (const k of real) {
      const name = names.get(k);
      labels.set(k, name ? `${name} (${formatPhone(k)})` : formatPhone(k));
    }
  } else if (groupBy === 'week') {
    for (const k of keys) {
      const sunday = msToIso(isoToMs(k) + 6 * DAY_MS);
      const from = laterDay(k, period.from);
      const to = earlierDay(sunday, period.to);
      labels.set(k, from === to ? from : `${from} – ${to}`);
    }
  } else {
    for (const k of keys) labels.set(k, k);
  }
  return labels;
}

/** A contact name per phone, where some contact lists it (the earliest created one). */
async function contactNames(ctx: MetricContext, phones: string[]): Promise<Map<string, string>> {
  if (phones.length === 0) return new Map();
  const rows = await ctx.db.query<{ phone: string; name: string }>(
    `SELECT DISTINCT ON (cp.phone) cp.phone, ct.name
       FROM contact_phones cp JOIN contacts ct ON ct.id = cp.contact_id
      WHERE cp.phone = ANY($1::text[]) AND ct.name IS NOT NULL AND ct.name <> ''
      ORDER BY cp.phone, cp.contact_created_at, cp.contact_id`,
    [phones],
  );
  return new Map(rows.map((r) => [r.phone, r.name]));
}

/** Every day / week / month key of the elapsed part of the period, so charts show quiet days as 0. */
function timeKeys(groupBy: TimeGroup, period: ResolvedPeriod, ctx: MetricContext): string[] {
  const keys = new Set<string>();
  for (const day of elapsedDays(period, ctx)) {
    keys.add(groupBy === 'day' ? day : groupBy === 'week' ? mondayOf(day) : day.slice(0, 7));
  }
  return [...keys];
}

/**
 * Turns grouped rows into envelope groups: labels, gap-filled time groups, and
 * the order of METRICS.md (time chronologically, otherwise by the main figure
 * with the "no manager / channel" group last among equals).
 */
async function buildGroups(
  ctx: MetricContext,
  groupBy: GroupBy,
  period: ResolvedPeriod,
  rows: Row[],
  figuresOf: (r: Row | undefined) => Figures,
  mainFigure: string,
): Promise<EnvelopeGroup[]> {
  const byKey = new Map<string, Row>();
  for (const r of rows) byKey.set(String(r.gkey), r);
  const keys = isTimeGroup(groupBy)
    ? [...new Set([...timeKeys(groupBy, period, ctx), ...byKey.keys()])]
    : [...byKey.keys()];
  const labels = await groupLabels(ctx, groupBy, keys, period);
  const groups = keys.map((k) => ({
    key: k === '' ? NONE_KEY : k,
    label: labels.get(k) ?? k,
    figures: figuresOf(byKey.get(k)),
  }));
  if (isTimeGroup(groupBy)) return groups.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  return groups.sort((a, b) => {
    const d = (b.figures[mainFigure] ?? 0) - (a.figures[mainFigure] ?? 0);
    if (d !== 0) return d;
    if ((a.key === NONE_KEY) !== (b.key === NONE_KEY)) return a.key === NONE_KEY ? 1 : -1;
    if (groupBy === 'client') return a.key < b.key ? -1 : a.key > b.key ? 1 : 0;
    return a.label.localeCompare(b.label, 'ru');
  });
}

function defaultPeriodNote(input: ToolInput, words: string, notes: string[]): void {
  if (!input.period) notes.push(`Период не указан — взяты ${words}.`);
}

// ---------------------------------------------------------------------------
// calls_stats

const CALLS_STATS_GROUPS = ['manager', 'department', 'channel', 'client', 'day', 'week', 'month'] as const;

/**
 * "Скорость ответа на заявку": per lead created in the period, seconds from its
 * creation to the first of: an outgoing call linked to the lead, an outgoing
 * call to a phone of the lead's contact, an activity linked to the lead
 * (created_at) — moments before the lead was created or after now do not count
 * (src/db/first-response.ts). Median over the leads that got one.
 */
async function firstResponseMedian(
  ctx: MetricContext,
  f: ResolvedFilters,
  period: ResolvedPeriod,
): Promise<number | null> {
  if (f.sourceIds === null) {
    const [med] = (
      await delayPercentiles(ctx.db, {
        kind: 'response',
        period,
        tz: ctx.tz,
        now: ctx.now,
        managerIds: f.managerIds,
        fractions: [0.5],
      })
    ).get(null) ?? [null];
    return med ?? null;
  }
  // lead_responses has no histogram per source: a source filter sorts the period's responses.
  const p = new Params();
  const now = `${p.add(ctx.now.toISOString())}::timestamptz`;
  let where =
    `l.created_at >= ${p.add(period.start.toISOString())}::timestamptz` +
    ` AND l.created_at < ${p.add(period.end.toISOString())}::timestamptz`;
  where += anyOf(p, 'l.manager_id', f.managerIds);
  where += anyOf(p, 'l.source_id', f.sourceIds);
  // lead_responses holds the earliest response ever (kept on every write): at most now exactly when one was by now.
  const [row] = await ctx.db.query<{ med: number | null }>(
    `SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM l.first_response_at - l.created_at)::float8) AS med
       FROM lead_responses l WHERE ${where} AND l.first_response_at <= ${now}`,
    p.values,
  );
  return num(row?.med);
}

function callStatsFigures(groupBy: GroupBy | undefined, r: Row | undefined): Figures {
  const n = (k: string) => num(r?.[k]) ?? 0;
  const talkAvg = ratio(num(r?.talk_answered), n('answered') + n('connected'));
  if (groupBy === 'channel') {
    return {
      calls: n('incoming'),
      incoming: n('incoming'),
      answered: n('answered'),
      missed: n('missed'),
      talk_time_avg: talkAvg,
      talk_time_total: n('talk_time_total'),
    };
  }
  const figures: Figures = {
    calls: n('calls'),
    incoming: n('incoming'),
    outgoing: n('outgoing'),
    answered: n('answered'),
    missed: n('missed'),
    connected: n('connected'),
    not_connected: n('not_connected'),
    talk_time_avg: talkAvg,
    talk_time_total: n('talk_time_total'),
  };
  if (groupBy !== 'client') figures.new_number_calls = n('new_number_calls');
  return figures;
}

async function callsStats(ctx: MetricContext, input: ToolInput): Promise<Envelope> {
  checkGroupBy('calls_stats', input.group_by, CALLS_STATS_GROUPS);
  const notes: string[] = [];
  const period = periodOf(ctx, input, 'last_7_days');
  defaultPeriodNote(input, 'последние 7 дней', notes);
  const filters = dropUnsupportedFilters(await resolveFilters(ctx.db, ctx.caller, input.filters), notes);
  const groupBy = input.group_by;
  const limit = input.limit ?? DEFAULT_LIMIT;

  await ensureRollups(ctx.db, ctx.tz);
  const p = new Params();
  let rowsQuery: Promise<Row[]>;
  if (groupBy === 'client') {
    // Client numbers are unbounded and only the calls know them: the top `limit` groups come back, with their count.
    const now = `${p.add(ctx.now.toISOString())}::timestamptz`;
    const where = callWhere(p, filters, period);
    rowsQuery = ctx.db.query<Row>(
      `WITH agg AS (
         SELECT c.client_phone AS gkey, GROUPING(c.client_phone) AS is_total, ${rawFigures(now)}
           FROM calls c WHERE ${where} GROUP BY GROUPING SETS ((c.client_phone), ()))
       SELECT *, count(*) OVER () - 1 AS n_groups FROM agg
        ORDER BY is_total DESC, calls DESC, gkey LIMIT ${p.add(limit + 1)}::int`,
      p.values,
    );
  } else {
    const g = groupBy ? groupSql(groupBy) : { key: 'NULL::text', joins: '' };
    const src = callFiguresSql(
      p,
      filters,
      period,
      ctx,
      needsLines(filters, groupBy),
      groupBy !== 'day' && groupBy !== 'week',
    );
    rowsQuery = ctx.db.query<Row>(
      `WITH s AS (${src}), k AS (SELECT s.*, ${g.key} AS gkey FROM s ${g.joins})
       SELECT * FROM (${groupedSql(SUMS, 'k', groupBy !== undefined)}) agg
        WHERE is_total = 1 OR gkey IS NOT NULL ORDER BY is_total DESC`,
      p.values,
    );
  }
  // Leads are not tied to lines: no response speed under a channel filter.
  const [rows, firstResponse] = await Promise.all([
    rowsQuery,
    filters.lineNumbers === null ? firstResponseMedian(ctx, filters, period) : null,
  ]);
  const total = rows.find((r) => num(r.is_total) === 1);
  const figures = callStatsFigures(undefined, total);
  figures.first_response_median = firstResponse;
  if (filters.lineNumbers !== null) {
    notes.push('Скорость ответа на заявку с фильтром по каналу не считается: заявки не привязаны к линиям.');
  }

  const body: Omit<Envelope, 'metric' | 'period' | 'filters'> = { figures, notes };
  if (groupBy) {
    const groupRows = rows.filter((r) => num(r.is_total) !== 1);
    body.groups = await buildGroups(
      ctx,
      groupBy,
      period,
      groupRows,
      (r) => callStatsFigures(groupBy, r),
      groupBy === 'channel' ? 'incoming' : 'calls',
    );
    if (groupBy === 'channel') notes.push('По каналам считаются только входящие звонки.');
    if (groupBy === 'client') {
      const count = num(total?.n_groups) ?? 0;
      if (count > limit) {
        const word = pluralRu(limit, ['клиент', 'клиента', 'клиентов']);
        notes.push(`Показаны ${limit} ${word} с наибольшим числом звонков из ${count}.`);
      }
    }
  }
  return envelope('calls_stats', period, filters, body);
}

// ---------------------------------------------------------------------------
// calls_by_time

/**
 * "По часам / по дням недели": per hour 0-23 (or weekday пн-вс) the calls of
 * the period, `calls_avg` = count / number of elapsed calendar days (or of
 * that weekday) in the period, `calls_max` = the busiest single day.
 */
async function callsByTime(ctx: MetricContext, input: ToolInput): Promise<Envelope> {
  checkGroupBy('calls_by_time', input.group_by, []);
  const notes: string[] = [];
  const period = periodOf(ctx, input, 'last_30_days');
  defaultPeriodNote(input, 'последние 30 дней', notes);
  const filters = dropUnsupportedFilters(await resolveFilters(ctx.db, ctx.caller, input.filters), notes);
  const by = input.by ?? 'hour';

  await ensureRollups(ctx.db, ctx.tz);
  const p = new Params();
  const slotOf = (ts: string, tz: string) =>
    by === 'hour'
      ? `extract(hour FROM ${ts} AT TIME ZONE ${tz}::text)`
      : `extract(isodow FROM ${ts} AT TIME ZONE ${tz}::text)`;
  /** Calls per (local day, slot) of the calls in [start, end) within scope and filters. */
  const fromCalls = (range: ResolvedPeriod) => {
    const tz = p.add(ctx.tz);
    let where = callWhere(p, filters, range);
    if (input.direction) where += ` AND c.direction = ${p.add(input.direction)}::text`;
    return `SELECT (c.started_at AT TIME ZONE ${tz}::text)::date AS day, ${slotOf('c.started_at', tz)}::int AS slot, count(*) AS n
              FROM calls c WHERE ${where} GROUP BY 1, 2`;
  };
  const parts: string[] = [];
  // The day rollup has no phone line: a channel or source filter reads the calls.
  const split: PeriodSplit =
    filters.lineNumbers === null && filters.sourceIds === null
      ? splitPeriod(period, ctx)
      : { settled: null, recent: { start: period.start, end: period.end } };
  if (split.settled) {
    const dirs = input.direction ? [input.direction] : (['in', 'out'] as const);
    const hourSum = (h: number) => dirs.map((d) => `r.${d}_h${String(h).padStart(2, '0')}`).join(' + ');
    const hours = Array.from({ length: 24 }, (_, h) => h);
    let w = `r.day >= ${p.add(split.settled.from)}::date AND r.day < ${p.add(split.settled.toExcl)}::date`;
    w += anyOf(p, 'r.manager_id', filters.managerIds);
    const perDay = `SELECT r.day, ${hours.map((h) => `sum(${hourSum(h)}) AS h${h}`).join(', ')}
                      FROM call_days r WHERE ${w} GROUP BY r.day`;
    parts.push(
      by === 'hour'
        ? `SELECT d.day, v.slot, v.n FROM (${perDay}) d
             CROSS JOIN LATERAL (VALUES ${hours.map((h) => `(${h}, d.h${h})`).join(', ')}) v(slot, n)`
        : `SELECT d.day, extract(isodow FROM d.day)::int AS slot, ${hours.map((h) => `d.h${h}`).join(' + ')} AS n
             FROM (${perDay}) d`,
    );
  }
  if (split.recent) parts.push(fromCalls({ ...period, start: split.recent.start, end: split.recent.end }));
  const rows =
    parts.length === 0
      ? []
      : await ctx.db.query<{ slot: number; calls: number; calls_max: number }>(
          `SELECT slot, sum(n) AS calls, max(n) AS calls_max FROM (${parts.join(' UNION ALL ')}) d GROUP BY slot`,
          p.values,
        );
  const bySlot = new Map(rows.map((r) => [num(r.slot) ?? -1, r]));

  const days = elapsedDays(period, ctx);
  const slots = by === 'hour' ? Array.from({ length: 24 }, (_, h) => h) : [1, 2, 3, 4, 5, 6, 7];
  const dayCount = (s: number) =>
    by === 'hour' ? days.length : days.filter((d) => isoWeekday(d) === s).length;
  const groups: EnvelopeGroup[] = slots.map((s) => {
    const r = bySlot.get(s);
    const calls = num(r?.calls) ?? 0;
    return {
      key: String(s),
      label: by === 'hour' ? String(s) : (WEEKDAY_LABELS[s - 1] as string),
      figures: { calls, calls_avg: ratio(calls, dayCount(s)), calls_max: num(r?.calls_max) ?? 0 },
    };
  });

  // The peak: highest average, then the busier single day, then the earlier slot.
  let peak: EnvelopeGroup | undefined;
  for (const grp of groups) {
    if (grp.figures.calls_avg === null) continue;
    const better =
      !peak ||
      (grp.figures.calls_avg ?? 0) > (peak.figures.calls_avg ?? 0) ||
      ((grp.figures.calls_avg ?? 0) === (peak.figures.calls_avg ?? 0) &&
        (grp.figures.calls_max ?? 0) > (peak.figures.calls_max ?? 0));
    if (better) peak = grp;
  }
  const total = groups.reduce((s, grp) => s + (grp.figures.calls ?? 0), 0);
  const figures: Figures = {
    calls: total,
    calls_avg: peak ? (peak.figures.calls_avg ?? null) : null,
    calls_max: peak ? (peak.figures.calls_max ?? null) : null,
  };
  notes.push(
    by === 'hour'
      ? `Среднее — на один календарный день: делим на число уже начавшихся дней периода (${days.length}).`
      : 'Среднее — на один такой день недели: делим на число этих дней недели среди уже начавшихся дней периода.',
  );
  if (peak && total > 0) {
    notes.push(by === 'hour' ? `Пик — ${peak.label}:00–${Number(peak.key) + 1}:00.` : `Пик — ${peak.label}.`);
  }
  if (input.direction)
    notes.push(input.direction === 'in' ? 'Только входящие звонки.' : 'Только исходящие звонки.');
  return envelope('calls_by_time', period, filters, { figures, groups, notes });
}

// ---------------------------------------------------------------------------
// missed_calls

const MISSED_GROUPS = ['manager', 'department', 'channel', 'day', 'week', 'month'] as const;

function missedFigures(r: Row | undefined): Figures {
  const n = (k: string) => num(r?.[k]) ?? 0;
  return {
    missed: n('missed'),
    called_back: n('called_back'),
    not_called_back: n('missed') - n('called_back'),
    callback_delay_median: num(r?.callback_delay_median),
    callback_delay_p90: num(r?.callback_delay_p90),
    lost_missed: n('lost_missed'),
    new_number_calls: n('new_number_calls'),
    lost_new_clients: n('lost_new_clients'),
  };
}

/**
 * "Время до перезвона" per group (null = the total): percentiles over the single called-back calls of the
 * period whose callback came by now. Without line filters and for manager / department groups, from the
 * delay histograms (exact, src/metrics/delay-percentiles.ts); otherwise sorted from the called-back calls
 * (calls_called_back_idx).
 */
async function callbackDelays(
  ctx: MetricContext,
  filters: ResolvedFilters,
  period: ResolvedPeriod,
  groupBy: GroupBy | undefined,
): Promise<Map<string | null, Row>> {
  if (
    filters.lineNumbers === null &&
    filters.sourceIds === null &&
    (groupBy === undefined || groupBy === 'manager' || groupBy === 'department')
  ) {
    const found = await delayPercentiles(ctx.db, {
      kind: 'callback',
      period,
      tz: ctx.tz,
      now: ctx.now,
      managerIds: filters.managerIds,
      ...(groupBy ? { groupBy } : {}),
      fractions: [0.5, 0.9],
    });
    return new Map(
      [...found].map(([k, [median, p90]]) => [k, { callback_delay_median: median, callback_delay_p90: p90 }]),
    );
  }
  const dp = new Params();
  const dnow = `${dp.add(ctx.now.toISOString())}::timestamptz`;
  const dg = groupBy ? callGroupSql(groupBy, dp, ctx.tz) : { key: 'NULL::text', joins: '' };
  const dwhere = `${callWhere(dp, filters, period)} AND c.callback_at IS NOT NULL AND c.callback_at <= ${dnow}`;
  const delayRows = await ctx.db.query<Row>(
    `SELECT * FROM (${groupedSql(
      `percentile_cont(0.5) WITHIN GROUP (ORDER BY delay) AS callback_delay_median,
       percentile_cont(0.9) WITHIN GROUP (ORDER BY delay) AS callback_delay_p90`,
      `(SELECT ${dg.key} AS gkey, extract(epoch FROM c.callback_at - c.started_at)::float8 AS delay
          FROM calls c ${dg.joins} WHERE ${dwhere}) d`,
      groupBy !== undefined,
    )}) agg WHERE is_total = 1 OR gkey IS NOT NULL`,
    dp.values,
  );
  return new Map(delayRows.map((r) => [num(r.is_total) === 1 ? null : String(r.gkey), r]));
}

async function missedCalls(ctx: MetricContext, input: ToolInput): Promise<Envelope> {
  checkGroupBy('missed_calls', input.group_by, MISSED_GROUPS);
  const notes: string[] = [];
  const period = periodOf(ctx, input, 'last_7_days');
  defaultPeriodNote(input, 'последние 7 дней', notes);
  const filters = dropUnsupportedFilters(await resolveFilters(ctx.db, ctx.caller, input.filters), notes);
  const groupBy = input.group_by;
  const limit = input.limit ?? DEFAULT_LIMIT;

  await ensureRollups(ctx.db, ctx.tz);
  const p = new Params();
  const g = groupBy ? groupSql(groupBy) : { key: 'NULL::text', joins: '' };
  const src = callFiguresSql(
    p,
    filters,
    period,
    ctx,
    needsLines(filters, groupBy),
    groupBy !== 'day' && groupBy !== 'week',
  );
  const rowsQuery = ctx.db.query<Row>(
    `WITH s AS (${src}), k AS (SELECT s.*, ${g.key} AS gkey FROM s ${g.joins})
     SELECT * FROM (${groupedSql(SUMS, 'k', groupBy !== undefined)}) agg WHERE is_total = 1 OR gkey IS NOT NULL`,
    p.values,
  );
  const delaysQuery = callbackDelays(ctx, filters, period, groupBy);

  const ip = new Params();
  const inow = `${ip.add(ctx.now.toISOString())}::timestamptz`;
  const iwhere = `${callWhere(ip, filters, period)} AND c.direction = 'in' AND c.status <> 'answered'
     AND NOT coalesce(c.callback_at <= ${inow}, false)`;
  const itemQuery = ctx.db.query<Row>(
    `SELECT c.id, c.started_at, c.client_phone, coalesce(c.answered_after_at <= ${inow}, false) AS answered_after,
            c.is_new, m.name AS manager, pl.name AS channel,
            (SELECT ct.name FROM contact_phones cp JOIN contacts ct ON ct.id = cp.contact_id
              WHERE cp.phone = c.client_phone AND ct.name IS NOT NULL AND ct.name <> ''
              ORDER BY cp.contact_created_at, cp.contact_id LIMIT 1) AS contact
       FROM calls c
       LEFT JOIN managers m ON m.id = c.manager_id
       LEFT JOIN phone_lines pl ON pl.number = c.line_number
      WHERE ${iwhere}
      ORDER BY c.started_at DESC, c.id
      LIMIT ${ip.add(limit)}::int`,
    ip.values,
  );
  // Independent reads: on PostgreSQL they run side by side on the pool's connections.
  const [rows, delays, itemRows] = await Promise.all([rowsQuery, delaysQuery, itemQuery]);
  const withDelays = rows.map((r): Row => {
    const d = delays.get(num(r.is_total) === 1 ? null : String(r.gkey));
    return {
      ...r,
      callback_delay_median: d?.callback_delay_median,
      callback_delay_p90: d?.callback_delay_p90,
    };
  });
  const total = withDelays.find((r) => num(r.is_total) === 1);
  const figures = missedFigures(total);
  const items: EnvelopeItem[] = itemRows.map((r) => {
    const phone = String(r.client_phone);
    const contact = (r.contact as string | null) ?? null;
    return {
      id: String(r.id),
      title: contact ? `${contact}, ${formatPhone(phone)}` : formatPhone(phone),
      manager: (r.manager as string | null) ?? null,
      started_at: (r.started_at as Date).toISOString(),
      client_phone: formatPhone(phone),
      contact,
      channel: (r.channel as string | null) ?? NO_CHANNEL_LABEL,
      lost: r.answered_after !== true,
      new_number: r.is_new === true,
    };
  });

  notes.push('Окно перезвона — 24 часа после пропущенного звонка (но не позже текущего момента).');
  if ((figures.not_called_back ?? 0) > items.length) {
    notes.push(
      `В списке ${items.length} из ${figures.not_called_back} пропущенных без перезвона — самые свежие.`,
    );
  }
  const body: Omit<Envelope, 'metric' | 'period' | 'filters'> = { figures, items, notes };
  if (groupBy) {
    body.groups = await buildGroups(
      ctx,
      groupBy,
      period,
      withDelays.filter((r) => num(r.is_total) !== 1),
      missedFigures,
      'missed',
    );
    if (groupBy === 'channel')
      notes.push('По каналам — только входящие звонки; звонки с новых номеров — тоже только входящие.');
  }
  return envelope('missed_calls', period, filters, body);
}

// ---------------------------------------------------------------------------

export const callTools: MetricTool[] = [
  {
    name: 'calls_stats',
    description:
      'Звонки за период: всего (calls), входящие (incoming), исходящие (outgoing), принятые (answered), ' +
      'пропущенные (missed), дозвоны (connected), недозвоны (not_connected), средняя и общая длительность ' +
      'разговора (talk_time_avg, talk_time_total), звонки с новых номеров (new_number_calls), скорость ответа ' +
      'на заявку (first_response_median). Разбивка по менеджерам, отделам, каналам (линиям), клиентам, дням, неделям, месяцам.',
    explain:
      'Считаются звонки телефонии, начавшиеся в периоде: принятый — входящий со статусом «отвечен», пропущенный — ' +
      'входящий с любым другим статусом, дозвон — исходящий отвеченный, недозвон — любой другой исходящий. Средняя ' +
      'длительность — только по принятым и дозвонам; по каналам — только входящие, по названию линии. Новый номер — ' +
      'первый звонок номера, которого нет ни в прошлых звонках, ни у контакта, созданного до звонка. Скорость ответа ' +
      'на заявку — медиана времени от создания заявки периода до первого исходящего звонка по ней (привязанного к ' +
      'заявке или на телефон её контакта) или первого дела по ней, среди заявок, где он был.',
    defaultPeriod: 'last_7_days',
    groupBy: CALLS_STATS_GROUPS,
    options: ['limit'],
    run: callsStats,
  },
  {
    name: 'calls_by_time',
    description:
      'Распределение звонков по часам суток (by=hour, 0–23) или дням недели (by=weekday, пн–вс), можно только ' +
      'входящие или исходящие (direction). На каждый час/день: звонков всего (calls), в среднем за день (calls_avg), ' +
      'максимум за один день (calls_max); вверху — пиковый час/день.',
    explain:
      'Звонки периода раскладываются по часу начала (или дню недели) по времени компании. Среднее — число звонков, ' +
      'делённое на число календарных дней периода (для дня недели — на число таких дней), прошедших к текущему ' +
      'моменту; максимум — самый загруженный отдельный день. Пик — час/день с наибольшим средним.',
    defaultPeriod: 'last_30_days',
    groupBy: [],
    options: ['by', 'direction'],
    run: callsByTime,
  },
  {
    name: 'missed_calls',
    description:
      'Пропущенные входящие за период (missed): перезвонили (called_back), не перезвонили (not_called_back), ' +
      'время до перезвона — медиана и 90-й перцентиль (callback_delay_median, callback_delay_p90), потерянные ' +
      'пропущенные (lost_missed), звонки с новых номеров (new_number_calls), потерянные новые клиенты ' +
      '(lost_new_clients); список пропущенных без перезвона. Разбивка по менеджерам, отделам, каналам, дням.',
    explain:
      'Пропущенный — входящий с любым статусом, кроме «отвечен». Перезвонили — если на этот номер был исходящий ' +
      'звонок (любой, даже без ответа) в течение 24 часов после пропущенного; время до перезвона — до первой такой ' +
      'попытки. Потерянный — если за эти 24 часа с номером не было ни одного состоявшегося разговора; потерянный ' +
      'новый клиент — такой пропущенный с номера, который раньше не звонил и не был в контактах.',
    defaultPeriod: 'last_7_days',
    groupBy: MISSED_GROUPS,
    options: ['limit'],
    run: missedCalls,
  },
];
