import type { Row } from '../db/client.ts';
import { lastActivitySql } from '../db/last-activity.ts';
import { MIN_GAP_DAYS } from '../db/rollups/gaps.ts';
import { ensureRollups } from '../db/rollups/index.ts';
import { ensureLeadRollups } from '../db/rollups/leads.ts';
import { AppError } from '../errors.ts';
import {
  anyOf,
  envelope,
  type MetricContext,
  NO_MANAGER_LABEL,
  NO_SOURCE_LABEL,
  num,
  Params,
  periodOf,
  type ResolvedFilters,
  ratio,
  referenceMoment,
  resolveFilters,
} from './common.ts';
import { localDate, pluralRu, type ResolvedPeriod, resolvePeriod } from './period.ts';
import type { MetricTool } from './tool.ts';
import type { Envelope, EnvelopeGroup, EnvelopeItem, Figures, GroupBy, ToolInput } from './types.ts';

/*
 * The leads family of METRICS.md ("Лиды"): lead_stats, lead_stage_reach and
 * forgotten_leads. The first half of this file holds the pieces the deals
 * family (deals.ts) shares: group keys, record filters, the forgotten list,
 * stage reach and the choice of a funnel's pipeline.
 */

// ---------------------------------------------------------------------------
// Shared by leads and deals.

/** Group key of records without a manager / source / department / campaign / city. */
export const NONE_KEY = 'none';
export const NO_DEPARTMENT_LABEL = 'Без отдела';
const NO_CAMPAIGN_LABEL = 'Без кампании';
const NO_CITY_LABEL = 'Город не указан';
export const DEFAULT_LIMIT = 50;
const DAY_MS = 86_400_000;

/** A constant label as an SQL string literal (labels are ours, never user text). */
export function sqlText(s: string): string {
  return `'${s.replace(/'/g, "''")}'`;
}

export type RecordKind = 'lead' | 'deal';

const TIME_GROUPS = ['day', 'week', 'month', 'quarter'] as const;
type TimeGroup = (typeof TIME_GROUPS)[number];

export function isTimeGroup(g: GroupBy | undefined): g is TimeGroup {
  return g !== undefined && (TIME_GROUPS as readonly string[]).includes(g);
}

const GROUP_WORDS: Partial<Record<GroupBy, string>> = {
  manager: 'менеджерам',
  department: 'отделам',
  source: 'источникам',
  campaign: 'UTM-кампаниям',
  city: 'городам',
  pipeline: 'воронкам',
  stage: 'этапам',
  day: 'дням',
  week: 'неделям',
  month: 'месяцам',
  quarter: 'кварталам',
};

export function checkGroupBy(tool: string, groupBy: GroupBy | undefined, allowed: readonly GroupBy[]): void {
  if (groupBy && !allowed.includes(groupBy)) {
    const words = allowed.map((g) => GROUP_WORDS[g] ?? g).join(', ');
    throw new AppError(
      'unsupported_group_by',
      `${tool} does not support group_by=${groupBy}`,
      allowed.length > 0
        ? `Этот показатель можно разбить только по: ${words}.`
        : 'Этот показатель не разбивается на группы.',
    );
  }
}

/** Filters a lead/deal tool cannot apply (channels are phone lines): said in the notes, dropped from the echo. */
export function dropChannelFilter(filters: ResolvedFilters, notes: string[]): ResolvedFilters {
  if (!filters.echo.channels) return filters;
  const echo = { ...filters.echo };
  delete echo.channels;
  notes.push('Фильтр по каналам (линиям телефонии) к лидам и сделкам не применяется.');
  return { ...filters, echo, lineNumbers: null };
}

/**
 * Scope and filters on a lead or deal row: current manager (scope included),
 * source, pipeline, UTM campaign (a deal's campaign is that of its lead, linked
 * either way). `pipelines: false` leaves the pipeline filter to the caller.
 */
export function recordFilterSql(
  p: Params,
  f: ResolvedFilters,
  kind: RecordKind,
  alias: string,
  opts: { pipelines?: boolean } = {},
): string {
  let w = anyOf(p, `${alias}.manager_id`, f.managerIds);
  w += anyOf(p, `${alias}.source_id`, f.sourceIds);
  if (opts.pipelines !== false) w += anyOf(p, `${alias}.pipeline_id`, f.pipelineIds);
  if (f.campaigns !== null) {
    const wanted = p.add(f.campaigns.map((c) => c.trim().toLowerCase()));
    w +=
      kind === 'lead'
        ? ` AND lower(${alias}.utm_campaign) = ANY(${wanted}::text[])`
        : ` AND EXISTS (SELECT 1 FROM leads cl WHERE (cl.id = ${alias}.lead_id OR cl.deal_id = ${alias}.id)
              AND lower(cl.utm_campaign) = ANY(${wanted}::text[]))`;
  }
  return w;
}

export interface GroupSql {
  /** Group key; NULL keeps the row in the totals only (a time outside the period). */
  key: string;
  label: string;
  joins: string;
}

/**
 * Group key and label expressions over a lead/deal row `alias` that has
 * manager_id, source_id, pipeline_id (and for leads utm_campaign, city,
 * contact_id); `ts` is the moment a time group buckets by, in the company zone.
 */
export function groupKeySql(
  groupBy: GroupBy,
  alias: string,
  ts: string,
  p: Params,
  ctx: MetricContext,
  period: ResolvedPeriod,
): GroupSql {
  const a = alias;
  if (isTimeGroup(groupBy)) {
    const local = `(${ts} AT TIME ZONE ${p.add(ctx.tz)}::text)`;
    const fmt: Record<TimeGroup, string> = {
      day: `to_char(${local}, 'YYYY-MM-DD')`,
      week: `to_char(date_trunc('week', ${local}), 'YYYY-MM-DD')`,
      month: `to_char(${local}, 'YYYY-MM')`,
      quarter: `to_char(${local}, 'YYYY-"Q"Q')`,
    };
    const inPeriod = `${ts} >= ${p.add(period.start.toISOString())}::timestamptz AND ${ts} < ${p.add(period.end.toISOString())}::timestamptz`;
    const key = `CASE WHEN ${inPeriod} THEN ${fmt[groupBy]} END`;
    return { key, label: key, joins: '' };
  }
  switch (groupBy) {
    case 'manager':
      return {
        key: `coalesce(${a}.manager_id, '${NONE_KEY}')`,
        label: `coalesce(gm.name, ${sqlText(NO_MANAGER_LABEL)})`,
        joins: `LEFT JOIN managers gm ON gm.id = ${a}.manager_id`,
      };
    case 'department':
      return {
        key: `coalesce(gd.id, '${NONE_KEY}')`,
        label: `coalesce(gd.name, ${sqlText(NO_DEPARTMENT_LABEL)})`,
        joins: `LEFT JOIN managers gm ON gm.id = ${a}.manager_id LEFT JOIN departments gd ON gd.id = gm.department_id`,
      };
    case 'source':
      return {
        key: `coalesce(gs.id, '${NONE_KEY}')`,
        label: `coalesce(gs.name, ${sqlText(NO_SOURCE_LABEL)})`,
        joins: `LEFT JOIN sources gs ON gs.id = ${a}.source_id`,
      };
    case 'pipeline':
      return {
        key: `${a}.pipeline_id`,
        label: `coalesce(gp.name, ${a}.pipeline_id)`,
        joins: `LEFT JOIN pipelines gp ON gp.id = ${a}.pipeline_id`,
      };
    case 'campaign': {
      const c = `nullif(btrim(${a}.utm_campaign), '')`;
      return {
        key: `coalesce(${c}, '${NONE_KEY}')`,
        label: `coalesce(${c}, ${sqlText(NO_CAMPAIGN_LABEL)})`,
        joins: '',
      };
    }
    case 'city': {
      // The lead's own city, else its contact's.
      const c = `coalesce(nullif(btrim(${a}.city), ''), nullif(btrim(gc.city), ''))`;
      return {
        key: `coalesce(${c}, '${NONE_KEY}')`,
        label: `coalesce(${c}, ${sqlText(NO_CITY_LABEL)})`,
        joins: `LEFT JOIN contacts gc ON gc.id = ${a}.contact_id`,
      };
    }
    default:
      throw new AppError(
        'unsupported_group_by',
        `no group key for ${groupBy}`,
        'Такая группировка здесь недоступна.',
      );
  }
}

/**
 * Runs `aggregates` over the CTE `base` (which has gkey, glabel): the totals
 * row, plus one row per group when grouped. Groups with a NULL key are dropped.
 */
export async function runGrouped(
  ctx: MetricContext,
  p: Params,
  ctes: string,
  aggregates: string,
  grouped: boolean,
): Promise<{ total: Row; groups: Row[] }> {
  const select = grouped
    ? `SELECT GROUPING(gkey) AS is_total, gkey, glabel, ${aggregates} FROM base GROUP BY GROUPING SETS ((gkey, glabel), ())`
    : `SELECT 1 AS is_total, NULL::text AS gkey, NULL::text AS glabel, ${aggregates} FROM base`;
  const rows = await ctx.db.query(`WITH ${ctes} ${select}`, p.values);
  const total = rows.find((r) => Number(r.is_total) === 1) ?? {};
  const groups = rows.filter((r) => Number(r.is_total) !== 1 && r.gkey !== null);
  return { total, groups };
}

/** The earlier / later of two `YYYY-MM-DD` dates (they compare as strings). */
function earlierDay(a: string, b: string): string {
  return a <= b ? a : b;
}

function laterDay(a: string, b: string): string {
  return a >= b ? a : b;
}

function isoToMs(day: string): number {
  return Date.parse(`${day}T00:00:00Z`);
}

function msToIso(ms: number): string {
  return new Date(ms).toISOString().slice(0, 10);
}

function mondayOf(day: string): string {
  const wd = new Date(isoToMs(day)).getUTCDay();
  return msToIso(isoToMs(day) - ((wd + 6) % 7) * DAY_MS);
}

function timeKeyOf(groupBy: TimeGroup, day: string): string {
  if (groupBy === 'day') return day;
  if (groupBy === 'week') return mondayOf(day);
  if (groupBy === 'month') return day.slice(0, 7);
  return `${day.slice(0, 4)}-Q${Math.floor((Number(day.slice(5, 7)) - 1) / 3) + 1}`;
}

/** Every time key of the period up to today, so quiet days/weeks show as zeros. */
function elapsedTimeKeys(groupBy: TimeGroup, period: ResolvedPeriod, ctx: MetricContext): string[] {
  const today = localDate(ctx.now, ctx.tz);
  const last = earlierDay(period.to, today);
  const keys = new Set<string>();
  for (let ms = isoToMs(period.from); ms <= isoToMs(last); ms += DAY_MS)
    keys.add(timeKeyOf(groupBy, msToIso(ms)));
  return [...keys];
}

function timeLabel(groupBy: TimeGroup, key: string, period: ResolvedPeriod): string {
  if (groupBy !== 'week') return key;
  const sunday = msToIso(isoToMs(key) + 6 * DAY_MS);
  const from = laterDay(key, period.from);
  const to = earlierDay(sunday, period.to);
  return from === to ? from : `${from} – ${to}`;
}

/**
 * Envelope groups from grouped rows: time groups gap-filled and chronological,
 * the others by `mainFigure` desc, the "none" group last among equals, then by name.
 */
export function buildGroups(
  groupBy: GroupBy,
  rows: Row[],
  figuresOf: (r: Row | undefined) => Figures,
  mainFigure: string,
  ctx: MetricContext,
  period: ResolvedPeriod,
  secondFigure?: string,
): EnvelopeGroup[] {
  if (isTimeGroup(groupBy)) {
    const byKey = new Map(rows.map((r) => [String(r.gkey), r]));
    const keys = [...new Set([...elapsedTimeKeys(groupBy, period, ctx), ...byKey.keys()])].sort();
    return keys.map((k) => ({
      key: k,
      label: timeLabel(groupBy, k, period),
      figures: figuresOf(byKey.get(k)),
    }));
  }
  const groups = rows.map((r) => ({ key: String(r.gkey), label: String(r.glabel), figures: figuresOf(r) }));
  return groups.sort((a, b) => {
    const d = (b.figures[mainFigure] ?? 0) - (a.figures[mainFigure] ?? 0);
    if (d !== 0) return d;
    const d2 = secondFigure ? (b.figures[secondFigure] ?? 0) - (a.figures[secondFigure] ?? 0) : 0;
    if (d2 !== 0) return d2;
    if ((a.key === NONE_KEY) !== (b.key === NONE_KEY)) return a.key === NONE_KEY ? 1 : -1;
    return a.label.localeCompare(b.label, 'ru');
  });
}

/** "10.04.2026 12:00" in the company time zone. */
export function formatMoment(at: Date, tz: string): string {
  const parts = new Intl.DateTimeFormat('ru-RU', {
    timeZone: tz,
    day: '2-digit',
    month: '2-digit',
    year: 'numeric',
    hour: '2-digit',
    minute: '2-digit',
    hourCycle: 'h23',
  }).formatToParts(at);
  const get = (t: string) => parts.find((x) => x.type === t)?.value ?? '';
  return `${get('day')}.${get('month')}.${get('year')} ${get('hour')}:${get('minute')}`;
}

export function daysWord(n: number): string {
  return `${n} ${pluralRu(n, ['день', 'дня', 'дней'])}`;
}

/**
 * A snapshot tool's period and reference moment: now when no period is given
 * (the envelope then names today), else the end of a past period (or now, for
 * a period still running) — METRICS.md "at the moment of asking (or the end of a past period)".
 */
export function snapshotOf(
  ctx: MetricContext,
  input: ToolInput,
): { period: ResolvedPeriod; ref: Date; note: string } {
  if (!input.period) {
    return {
      period: resolvePeriod({ name: 'today' }, { now: ctx.now, tz: ctx.tz }),
      ref: ctx.now,
      note: 'на текущий момент',
    };
  }
  const period = periodOf(ctx, input, 'today');
  const ref = referenceMoment(ctx, period);
  return {
    period,
    ref,
    note: ref < ctx.now ? `на конец периода (${formatMoment(ref, ctx.tz)})` : 'на текущий момент',
  };
}

export function isoOrNull(v: unknown): string | null {
  return v instanceof Date ? v.toISOString() : v === null || v === undefined ? null : String(v);
}

function itemOf(r: Row): EnvelopeItem {
  const item: EnvelopeItem = {
    id: String(r.id),
    title: (r.title as string | null) ?? null,
    manager: r.manager_name as string,
  };
  if (r.amount !== undefined) item.amount = num(r.amount);
  item.stage = r.stage_name;
  item.created_at = isoOrNull(r.created_at);
  return item;
}

/**
 * Ids of the open and of the closed (won or lost) stages. Bound as values
 * rather than joined by semantic, they let the planner see how few records
 * sit in open stages and read those by index.
 */
export async function stageIdsByState(ctx: MetricContext): Promise<{ open: string[]; closed: string[] }> {
  const rows = await ctx.db.query<{ id: string; semantic: string }>('SELECT id, semantic FROM stages');
  return {
    open: rows.filter((r) => r.semantic === 'open').map((r) => r.id),
    closed: rows.filter((r) => r.semantic !== 'open').map((r) => r.id),
  };
}

/** Money summed from two shards' exact sums: back to whole kopecks (amounts have two decimals). */
function cents(x: number): number {
  return Math.round(x * 100) / 100;
}

export interface ForgottenSpec {
  tool: 'forgotten_leads' | 'forgotten_deals';
  kind: RecordKind;
  defaultDays: number;
}

/**
 * "Забытые лиды/сделки": records open at the reference moment R (open stage
 * now, or closed after R) and created by R, whose last activity as of R is
 * older than N days: `last activity < R − N × 24 h`. The stored
 * last_activity_at is exact when it is ≤ R. A record touched after R (a past
 * period) had, as of R, the last activity that opens its inactivity gap
 * around R (record_gaps): without such a gap it was touched within a day of R.
 */
export async function forgottenRecords(
  ctx: MetricContext,
  input: ToolInput,
  spec: ForgottenSpec,
): Promise<Envelope> {
  checkGroupBy(spec.tool, input.group_by, ['manager']);
  const notes: string[] = [];
  const { period, ref, note } = snapshotOf(ctx, input);
  const filters = dropChannelFilter(await resolveFilters(ctx.db, ctx.caller, input.filters), notes);
  const days = input.days ?? spec.defaultDays;
  const limit = input.limit ?? DEFAULT_LIMIT;
  const cut = new Date(ref.getTime() - days * DAY_MS);
  const table = spec.kind === 'lead' ? 'leads' : 'deals';
  const amount = spec.kind === 'deal' ? 'x.amount' : 'NULL::numeric';
  const past = ref < ctx.now;
  const byGaps = past && days >= MIN_GAP_DAYS;
  if (byGaps) await ensureRollups(ctx.db, ctx.tz);

  const p = new Params();
  const r = `${p.add(ref.toISOString())}::timestamptz`;
  const c = `${p.add(cut.toISOString())}::timestamptz`;
  const where = recordFilterSql(p, filters, spec.kind, 'x');
  const cols = `x.id, x.manager_id, x.stage_id, ${amount} AS amount`;
  // Open at R: in an open stage now, or closed only after R (a past reference;
  // nothing closes after now) — two disjoint branches, each served by an index.
  const stageIds = await stageIdsByState(ctx);
  const openBranches = [`x.stage_id = ANY(${p.add(stageIds.open)}::text[])`];
  if (past) {
    const closed = p.add(stageIds.closed);
    openBranches.push(`x.stage_id = ANY(${closed}::text[]) AND x.closed_at > ${r}`);
  }
  // Each branch in the shard of its cost: the gap probes of records touched after R apart from the rest,
  // so that on PostgreSQL the two run side by side on the pool's connections.
  const plain: string[] = [];
  const probed: string[] = [];
  for (const branch of openBranches) {
    plain.push(`SELECT ${cols}, x.last_activity_at AS la
       FROM ${table} x
      WHERE ${branch} AND x.created_at <= ${r} AND x.last_activity_at < ${c} ${where}`);
    // Touched after R: a record created at or after the cut cannot qualify (its
    // creation counts). The gap containing R (gaps are disjoint: the last one
    // starting by R, if it ends after R) starts at its last activity as of R; a
    // stored value still missing is computed from the moments up to R.
    if (byGaps) {
      probed.push(`SELECT ${cols}, g.from_at AS la
         FROM ${table} x
         JOIN LATERAL (SELECT g.from_at, g.to_at FROM record_gaps g
                        WHERE g.kind = '${spec.kind}' AND g.entity_id = x.id AND g.from_at <= ${r}
                        ORDER BY g.from_at DESC LIMIT 1) g ON g.to_at > ${r} AND g.from_at < ${c}
        WHERE ${branch} AND x.created_at < ${c} AND x.last_activity_at > ${r} ${where}`);
      plain.push(`SELECT ${cols}, ${lastActivitySql(spec.kind, 'x', r)} AS la
         FROM ${table} x
        WHERE ${branch} AND x.created_at < ${c} AND x.last_activity_at IS NULL ${where}`);
    } else {
      plain.push(`SELECT ${cols}, ${lastActivitySql(spec.kind, 'x', r)} AS la
         FROM ${table} x
        WHERE ${branch} AND x.created_at < ${c} AND (x.last_activity_at > ${r} OR x.last_activity_at IS NULL) ${where}`);
    }
  }
  // For a past reference the stage shown is the one the record was in at R, from its history.
  const stageAtRef = past
    ? `coalesce((SELECT h.stage_id FROM stage_history h
           WHERE h.entity = '${spec.kind}' AND h.entity_id = f.id AND h.at <= ${r}
           ORDER BY h.at DESC, h.stage_id DESC LIMIT 1), f.stage_id)`
    : 'f.stage_id';
  const lim = p.add(limit);
  const grouped = input.group_by === 'manager';
  // Per shard, one statement: its first page (part i), its count and amount (t) and per manager (g).
  const shard = (branches: string[]) =>
    ctx.db.query(
      `WITH cand AS MATERIALIZED (${branches.join('\n      UNION ALL\n      ')}),
         forgotten AS (SELECT * FROM cand WHERE la < ${c}),
         page AS (SELECT * FROM forgotten f ORDER BY f.la, f.id LIMIT ${lim})
       SELECT 'i' AS part, f.id, x.title, x.created_at, f.amount, f.la,
              coalesce(m.name, ${sqlText(NO_MANAGER_LABEL)}) AS manager_name, st.name AS stage_name,
              floor(extract(epoch FROM (${r} - f.la)) / 86400)::int AS days_idle, NULL::text AS gkey, NULL::bigint AS n
         FROM page f
         JOIN ${table} x ON x.id = f.id
         LEFT JOIN managers m ON m.id = f.manager_id
         LEFT JOIN stages st ON st.id = ${stageAtRef}
       UNION ALL
       SELECT 't', NULL, NULL, NULL, coalesce(sum(f.amount), 0), NULL, NULL, NULL, NULL, NULL, count(*) FROM forgotten f
       ${
         grouped
           ? `UNION ALL
       SELECT 'g', NULL, NULL, NULL, coalesce(sum(f.amount), 0), NULL, coalesce(m.name, ${sqlText(NO_MANAGER_LABEL)}),
              NULL, NULL, coalesce(f.manager_id, '${NONE_KEY}'), count(*)
         FROM forgotten f LEFT JOIN managers m ON m.id = f.manager_id
        GROUP BY f.manager_id, m.name`
           : ''
       }`,
      p.values,
    );
  const shards = await Promise.all([shard(plain), ...(probed.length > 0 ? [shard(probed)] : [])]);
  const all = shards.flat();
  const time = (v: unknown) => (v instanceof Date ? v.getTime() : Date.parse(String(v)));
  const rows = all
    .filter((x) => x.part === 'i')
    .sort((a, b) => time(a.la) - time(b.la) || (String(a.id) < String(b.id) ? -1 : 1))
    .slice(0, limit);
  const totals = all.filter((x) => x.part === 't');
  const groupRows = new Map<string, Row>();
  for (const g of all.filter((x) => x.part === 'g')) {
    const key = String(g.gkey);
    const before = groupRows.get(key);
    groupRows.set(key, {
      gkey: key,
      glabel: g.manager_name,
      n: (num(before?.n) ?? 0) + (num(g.n) ?? 0),
      amount: cents((num(before?.amount) ?? 0) + (num(g.amount) ?? 0)),
    });
  }
  const countKey = spec.tool;
  const total = totals.reduce((sum, t) => sum + (num(t.n) ?? 0), 0);
  const figures: Figures = { [countKey]: total };
  if (spec.kind === 'deal')
    figures.forgotten_amount = cents(totals.reduce((sum, t) => sum + (num(t.amount) ?? 0), 0));
  const items = rows.map((row) => {
    const item = itemOf(row);
    if (spec.kind === 'lead') delete item.amount;
    item.last_activity_at = isoOrNull(row.la);
    item.days_idle = num(row.days_idle);
    return item;
  });

  const body: Omit<Envelope, 'metric' | 'period' | 'filters'> = { figures, items };
  if (grouped) {
    body.groups = buildGroups(
      'manager',
      [...groupRows.values()],
      (g) =>
        spec.kind === 'deal'
          ? { [countKey]: num(g?.n) ?? 0, forgotten_amount: num(g?.amount) ?? 0 }
          : { [countKey]: num(g?.n) ?? 0 },
      countKey,
      ctx,
      period,
      spec.kind === 'deal' ? 'forgotten_amount' : undefined,
    );
  }
  notes.unshift(`Порог — ${daysWord(days)} без активности${input.days ? '' : ' (по умолчанию)'}; ${note}.`);
  if (total > items.length) notes.push(`В списке ${items.length} из ${total} — с самой давней активностью.`);
  body.notes = notes;
  return envelope(spec.tool, period, filters, body);
}

export interface StageReachRow {
  id: string;
  name: string;
  sort: number;
  semantic: 'open' | 'won' | 'lost';
  reached: number;
}

/**
 * Chooses the pipeline a stage funnel is drawn for: the only candidate, or the
 * one with the most records created in the period (ties by name), with a note.
 */
export async function choosePipeline(
  ctx: MetricContext,
  kind: RecordKind,
  filters: ResolvedFilters,
  period: ResolvedPeriod,
  notes: string[],
  countByPipeline?: (ids: string[]) => Promise<Map<string, number>>,
): Promise<{ id: string; name: string }> {
  const candidates = await ctx.db.query<{ id: string; name: string }>(
    `SELECT id, name FROM pipelines WHERE entity = $1 ${filters.pipelineIds ? 'AND id = ANY($2::text[])' : ''}
      ORDER BY name, id`,
    filters.pipelineIds ? [kind, filters.pipelineIds] : [kind],
  );
  const what = kind === 'lead' ? 'лидов' : 'сделок';
  if (candidates.length === 0) {
    throw new AppError(
      'no_pipeline',
      `no ${kind} pipeline matches ${JSON.stringify(filters.pipelineIds)}`,
      filters.pipelineIds ? `Среди выбранных воронок нет воронки ${what}.` : `В данных нет воронки ${what}.`,
    );
  }
  if (candidates.length === 1) return candidates[0]!;
  const ids = candidates.map((c) => c.id);
  const n = countByPipeline
    ? await countByPipeline(ids)
    : await countCreatedByPipeline(ctx, kind, filters, period, ids);
  let best = candidates[0]!;
  for (const c of candidates) if ((n.get(c.id) ?? 0) > (n.get(best.id) ?? 0)) best = c;
  const others = candidates.filter((c) => c.id !== best.id).map((c) => `«${c.name}»`);
  notes.push(
    `Воронка «${best.name}» — в ней больше всего ${what}, созданных в периоде; другие воронки (${others.join(', ')}) можно выбрать фильтром.`,
  );
  return best;
}

/** Records created in the period per pipeline, from the base table. */
async function countCreatedByPipeline(
  ctx: MetricContext,
  kind: RecordKind,
  filters: ResolvedFilters,
  period: ResolvedPeriod,
  ids: string[],
): Promise<Map<string, number>> {
  const p = new Params();
  const table = kind === 'lead' ? 'leads' : 'deals';
  const counts = await ctx.db.query<{ pipeline_id: string; n: number }>(
    `SELECT x.pipeline_id, count(*) AS n FROM ${table} x
      WHERE x.created_at >= ${p.add(period.start.toISOString())}::timestamptz
        AND x.created_at < ${p.add(period.end.toISOString())}::timestamptz
        AND x.pipeline_id = ANY(${p.add(ids)}::text[])
        ${recordFilterSql(p, filters, kind, 'x', { pipelines: false })}
      GROUP BY 1`,
    p.values,
  );
  return new Map(counts.map((r) => [r.pipeline_id, Number(r.n)]));
}

/**
 * "Прохождение стадий": of the records created in the period in a pipeline,
 * how many ever entered each stage — a stage-history entry or the current
 * stage; skipped stages are not back-filled. Stages in funnel order (sort).
 */
export async function stageReach(
  ctx: MetricContext,
  kind: RecordKind,
  pipelineId: string,
  filters: ResolvedFilters,
  period: ResolvedPeriod,
): Promise<{ cohort: number; stages: StageReachRow[] }> {
  const p = new Params();
  const table = kind === 'lead' ? 'leads' : 'deals';
  const pid = p.add(pipelineId);
  const rows = await ctx.db.query(
    `WITH cohort AS (
       SELECT x.id, x.stage_id FROM ${table} x
        WHERE x.pipeline_id = ${pid}
          AND x.created_at >= ${p.add(period.start.toISOString())}::timestamptz
          AND x.created_at < ${p.add(period.end.toISOString())}::timestamptz
          ${recordFilterSql(p, filters, kind, 'x', { pipelines: false })}
     ),
     reach AS (
       SELECT c.id, c.stage_id FROM cohort c
       UNION
       SELECT h.entity_id, h.stage_id FROM stage_history h JOIN cohort c ON h.entity = '${kind}' AND h.entity_id = c.id
     ),
     counts AS (SELECT stage_id, count(*) AS reached FROM reach GROUP BY stage_id)
     SELECT s.id, s.name, s.sort, s.semantic, coalesce(k.reached, 0) AS reached, (SELECT count(*) FROM cohort) AS cohort
       FROM stages s LEFT JOIN counts k ON k.stage_id = s.id
      WHERE s.pipeline_id = ${pid}
      ORDER BY s.sort, s.id`,
    p.values,
  );
  const cohort = num(rows[0]?.cohort) ?? 0;
  return {
    cohort,
    stages: rows.map((r) => ({
      id: String(r.id),
      name: String(r.name),
      sort: Number(r.sort),
      semantic: r.semantic as StageReachRow['semantic'],
      reached: num(r.reached) ?? 0,
    })),
  };
}

// ---------------------------------------------------------------------------
// Lead rollups (src/db/rollups/leads.ts): how lead_stats and lead_stage_reach read them.

export type LeadCube = 'f' | 'm' | 'a' | 'n';

/** The smallest cube of a lead rollup that has every dimension a query filters and groups by. */
function leadCube(filters: ResolvedFilters, groupBy: GroupBy | undefined): LeadCube {
  const manager = filters.managerIds !== null || groupBy === 'manager' || groupBy === 'department';
  const attrs =
    filters.sourceIds !== null ||
    filters.campaigns !== null ||
    groupBy === 'source' ||
    groupBy === 'campaign' ||
    groupBy === 'city';
  if (manager && attrs) return 'f';
  return manager ? 'm' : attrs ? 'a' : 'n';
}

function nextMonth(firstDay: string): string {
  const y = Number(firstDay.slice(0, 4));
  const m = Number(firstDay.slice(5, 7));
  return m === 12 ? `${y + 1}-01-01` : `${y}-${String(m + 1).padStart(2, '0')}-01`;
}

/**
 * Rollup rows of `cube` covering the period's local days exactly: month rows
 * for the whole calendar months inside it, day rows for the days around them
 * (only day rows when `daysOnly`, e.g. grouping by day or week).
 */
export function rollupRowsSql(
  table: string,
  cube: LeadCube,
  period: ResolvedPeriod,
  daysOnly: boolean,
  p: Params,
  where: string,
): string {
  let monthStart = period.from.endsWith('-01') ? period.from : nextMonth(`${period.from.slice(0, 7)}-01`);
  let monthEnd = monthStart;
  while (!daysOnly && nextMonth(monthEnd) <= laterDayOf(period.to)) monthEnd = nextMonth(monthEnd);
  if (monthEnd === monthStart) monthStart = monthEnd = period.from;
  const from = p.add(period.from);
  const to = p.add(period.to);
  const ms = p.add(monthStart);
  const me = p.add(monthEnd);
  const cols = `SELECT x.* FROM ${table} x`;
  return `(${cols} WHERE x.level = '${cube}d' AND x.day >= ${from}::date AND x.day < ${ms}::date ${where}
    UNION ALL
    ${cols} WHERE x.level = '${cube}m' AND x.day >= ${ms}::date AND x.day < ${me}::date ${where}
    UNION ALL
    ${cols} WHERE x.level = '${cube}d' AND x.day >= ${me}::date AND x.day <= ${to}::date ${where})`;
}

/** The day after `day`: a month fits in the period when its next month starts no later than this. */
function laterDayOf(day: string): string {
  return new Date(Date.parse(`${day}T00:00:00Z`) + DAY_MS).toISOString().slice(0, 10);
}

/** Group key and label over a rollup row `a` (its `day` is a local day or the first day of a month). */
function rollupGroupSql(
  groupBy: GroupBy,
  a: string,
  p: Params,
  ctx: MetricContext,
  period: ResolvedPeriod,
): GroupSql {
  if (isTimeGroup(groupBy)) {
    const fmt: Record<TimeGroup, string> = {
      day: `to_char(${a}.day, 'YYYY-MM-DD')`,
      week: `to_char(date_trunc('week', ${a}.day::timestamp), 'YYYY-MM-DD')`,
      month: `to_char(${a}.day, 'YYYY-MM')`,
      quarter: `to_char(${a}.day, 'YYYY-"Q"Q')`,
    };
    return { key: fmt[groupBy], label: fmt[groupBy], joins: '' };
  }
  if (groupBy === 'city') {
    return {
      key: `coalesce(${a}.city, '${NONE_KEY}')`,
      label: `coalesce(${a}.city, ${sqlText(NO_CITY_LABEL)})`,
      joins: '',
    };
  }
  return groupKeySql(groupBy, a, `${a}.day`, p, ctx, period);
}

/** Ensures the rollups are current before a read (the import refreshes them too; this catches direct writes). */
async function leadRollupsReady(ctx: MetricContext): Promise<void> {
  await ensureLeadRollups(ctx.db, ctx.tz);
}

// ---------------------------------------------------------------------------
// lead_stats

const LEAD_STATS_GROUPS = [
  'source',
  'campaign',
  'manager',
  'department',
  'city',
  'pipeline',
  'day',
  'week',
  'month',
  'quarter',
] as const;

function leadFigures(r: Row | undefined): Figures {
  const received = num(r?.received) ?? 0;
  const sales = num(r?.sales_amount) ?? 0;
  return {
    received,
    new: num(r?.new) ?? 0,
    in_work: num(r?.in_work) ?? 0,
    qualified: num(r?.qualified) ?? 0,
    junk: num(r?.junk) ?? 0,
    conv_to_deal: ratio(num(r?.with_deal) ?? 0, received),
    conv_to_sale: ratio(num(r?.with_sale) ?? 0, received),
    sales_amount: sales,
    revenue_per_lead: ratio(sales, received),
    avg_processing_days: num(r?.avg_processing_days),
  };
}

/**
 * Лиды: the cohort of leads created in the period, described as it stands now.
 * "Новый" = the open stage with the lowest sort of the lead's pipeline; a lead
 * has a deal through leads.deal_id or deals.lead_id (a deal linked both ways
 * counts once); a sale is such a deal now in a won stage.
 */
export async function leadStats(ctx: MetricContext, input: ToolInput): Promise<Envelope> {
  checkGroupBy('lead_stats', input.group_by, LEAD_STATS_GROUPS);
  const notes: string[] = [];
  const period = periodOf(ctx, input, 'this_month');
  if (!input.period) notes.push('Период не указан — взят текущий месяц.');
  const filters = dropChannelFilter(await resolveFilters(ctx.db, ctx.caller, input.filters), notes);
  await leadRollupsReady(ctx);
  const p = new Params();
  const cube = leadCube(filters, input.group_by);
  const daysOnly = input.group_by === 'day' || input.group_by === 'week';
  const gc = input.group_by ? rollupGroupSql(input.group_by, 'rc', p, ctx, period) : null;
  const gs = input.group_by ? rollupGroupSql(input.group_by, 'sl', p, ctx, period) : null;
  const cohortRows = rollupRowsSql(
    'lead_cohort_rollup',
    cube,
    period,
    daysOnly,
    p,
    recordFilterSql(p, filters, 'lead', 'x'),
  );
  const saleRows = rollupRowsSql(
    'lead_sale_rollup',
    cube,
    period,
    daysOnly,
    p,
    recordFilterSql(p, filters, 'lead', 'x'),
  );
  // Days are summed away first unless a time group needs them: fewer rows to join and group.
  const dayKept = input.group_by && isTimeGroup(input.group_by) ? 'x.day' : 'NULL::date';
  // A lead has a deal / a sale when one of its linked deals' stages exists / is won now.
  const ctes = `first_open AS (
      SELECT pipeline_id, min(sort) AS sort FROM stages WHERE semantic = 'open' GROUP BY pipeline_id
    ),
    rc AS MATERIALIZED (
      SELECT x.manager_id, x.source_id, x.pipeline_id, x.stage_id, x.utm_campaign, x.city, x.deal_stages,
             ${dayKept} AS day, sum(x.leads) AS leads, sum(x.closed_leads) AS closed_leads,
             sum(x.closed_seconds) AS closed_seconds
        FROM ${cohortRows} x GROUP BY 1, 2, 3, 4, 5, 6, 7, 8
    ),
    arr AS MATERIALIZED (
      SELECT a.deal_stages,
             EXISTS (SELECT 1 FROM unnest(a.deal_stages) u(id) JOIN stages ds ON ds.id = u.id) AS has_deal,
             EXISTS (SELECT 1 FROM unnest(a.deal_stages) u(id) JOIN stages ds ON ds.id = u.id
                      WHERE ds.semantic = 'won') AS has_sale
        FROM (SELECT DISTINCT deal_stages FROM rc) a
    ),
    base AS MATERIALIZED (
      SELECT s.semantic, coalesce(s.semantic = 'open' AND s.sort = fo.sort, false) AS is_new,
             rc.leads, rc.closed_leads, rc.closed_seconds, arr.has_deal, arr.has_sale, 0::numeric AS sale_amount,
             ${gc ? gc.key : 'NULL::text'} AS gkey, ${gc ? gc.label : 'NULL::text'} AS glabel
        FROM rc
        JOIN stages s ON s.id = rc.stage_id
        LEFT JOIN first_open fo ON fo.pipeline_id = s.pipeline_id
        JOIN arr ON arr.deal_stages = rc.deal_stages
        ${gc ? gc.joins : ''}
      UNION ALL
      SELECT NULL, false, 0, 0, 0, false, false, sl.amount,
             ${gs ? gs.key : 'NULL::text'}, ${gs ? gs.label : 'NULL::text'}
        FROM (
          SELECT x.manager_id, x.source_id, x.pipeline_id, x.utm_campaign, x.city, x.stage_id, x.deal_stage_id,
                 ${dayKept} AS day, sum(x.amount) AS amount
            FROM ${saleRows} x GROUP BY 1, 2, 3, 4, 5, 6, 7, 8
        ) sl
        JOIN stages s ON s.id = sl.stage_id
        JOIN stages ds ON ds.id = sl.deal_stage_id AND ds.semantic = 'won'
        ${gs ? gs.joins : ''}
    )`;
  const closed = `semantic IN ('won', 'lost')`;
  const aggregates = `coalesce(sum(leads), 0) AS received,
      coalesce(sum(leads) FILTER (WHERE is_new), 0) AS new,
      coalesce(sum(leads) FILTER (WHERE semantic = 'open' AND NOT is_new), 0) AS in_work,
      coalesce(sum(leads) FILTER (WHERE semantic = 'won'), 0) AS qualified,
      coalesce(sum(leads) FILTER (WHERE semantic = 'lost'), 0) AS junk,
      coalesce(sum(leads) FILTER (WHERE has_deal), 0) AS with_deal,
      coalesce(sum(leads) FILTER (WHERE has_sale), 0) AS with_sale,
      coalesce(sum(sale_amount), 0) AS sales_amount,
      sum(closed_seconds) FILTER (WHERE ${closed})
        / nullif(sum(closed_leads) FILTER (WHERE ${closed}), 0) / 86400 AS avg_processing_days`;
  const { total, groups } = await runGrouped(ctx, p, ctes, aggregates, gc !== null);
  const body: Omit<Envelope, 'metric' | 'period' | 'filters'> = { figures: leadFigures(total) };
  if (input.group_by) {
    body.groups = buildGroups(input.group_by, groups, leadFigures, 'received', ctx, period);
    if (input.group_by === 'city') notes.push('Город — из лида, а если в лиде не указан — из контакта.');
  }
  notes.push('Лиды, созданные в периоде; их статус и сделки — на текущий момент.');
  body.notes = notes;
  return envelope('lead_stats', period, filters, body);
}

/** stageReach (above) for leads, from lead_reach_rollup and lead_cohort_rollup. */
async function leadReachFromRollup(
  ctx: MetricContext,
  cube: LeadCube,
  pipelineId: string,
  filters: ResolvedFilters,
  period: ResolvedPeriod,
): Promise<{ cohort: number; stages: StageReachRow[] }> {
  const p = new Params();
  const pid = p.add(pipelineId);
  const where = () =>
    `AND x.pipeline_id = ${pid}${recordFilterSql(p, filters, 'lead', 'x', { pipelines: false })}`;
  const reach = rollupRowsSql('lead_reach_rollup', cube, period, false, p, where());
  const cohortRows = rollupRowsSql('lead_cohort_rollup', cube, period, false, p, where());
  const rows = await ctx.db.query(
    `WITH counts AS (SELECT stage_id, sum(leads) AS reached FROM ${reach} r GROUP BY stage_id)
     SELECT s.id, s.name, s.sort, s.semantic, coalesce(k.reached, 0) AS reached,
            (SELECT coalesce(sum(leads), 0) FROM ${cohortRows} c) AS cohort
       FROM stages s LEFT JOIN counts k ON k.stage_id = s.id
      WHERE s.pipeline_id = ${pid}
      ORDER BY s.sort, s.id`,
    p.values,
  );
  const cohort = num(rows[0]?.cohort) ?? 0;
  return {
    cohort,
    stages: rows.map((r) => ({
      id: String(r.id),
      name: String(r.name),
      sort: Number(r.sort),
      semantic: r.semantic as StageReachRow['semantic'],
      reached: num(r.reached) ?? 0,
    })),
  };
}

// ---------------------------------------------------------------------------
// lead_stage_reach

/** Прохождение стадий лидов: per stage of the lead pipeline, how many of the cohort ever entered it. */
export async function leadStageReach(ctx: MetricContext, input: ToolInput): Promise<Envelope> {
  checkGroupBy('lead_stage_reach', input.group_by, ['stage']);
  const notes: string[] = [];
  const period = periodOf(ctx, input, 'this_month');
  if (!input.period) notes.push('Период не указан — взят текущий месяц.');
  const filters = dropChannelFilter(await resolveFilters(ctx.db, ctx.caller, input.filters), notes);
  await leadRollupsReady(ctx);
  const cube = leadCube(filters, undefined);
  const pipeline = await choosePipeline(ctx, 'lead', filters, period, notes, async (ids) => {
    const p = new Params();
    const rows = await ctx.db.query<{ pipeline_id: string; n: number }>(
      `SELECT x.pipeline_id, sum(x.leads) AS n
         FROM ${rollupRowsSql('lead_cohort_rollup', cube, period, false, p, `AND x.pipeline_id = ANY(${p.add(ids)}::text[])${recordFilterSql(p, filters, 'lead', 'x', { pipelines: false })}`)} x
        GROUP BY 1`,
      p.values,
    );
    return new Map(rows.map((r) => [r.pipeline_id, Number(r.n)]));
  });
  const { cohort, stages } = await leadReachFromRollup(ctx, cube, pipeline.id, filters, period);
  const groups = stages.map((s) => ({
    key: s.id,
    label: s.name,
    figures: { reached: s.reached, stage_reach: ratio(s.reached, cohort) },
  }));
  notes.push(
    'Доля лидов периода, побывавших на стадии (по истории стадий и текущей стадии; пропущенные стадии не засчитываются), поэтому сумма долей может быть больше 100 %.',
  );
  return envelope('lead_stage_reach', period, filters, { figures: { received: cohort }, groups, notes });
}

// ---------------------------------------------------------------------------
// forgotten_leads

export function forgottenLeads(ctx: MetricContext, input: ToolInput): Promise<Envelope> {
  return forgottenRecords(ctx, input, { tool: 'forgotten_leads', kind: 'lead', defaultDays: 3 });
}

// ---------------------------------------------------------------------------
// Tools

export const leadTools: MetricTool[] = [
  {
    name: 'lead_stats',
    description:
      'Лиды (заявки), созданные в периоде: поступило (received), новые/неразобранные (new), в работе (in_work), ' +
      'качественные (qualified), некачественные (junk), конверсия в сделку (conv_to_deal) и в продажу (conv_to_sale), ' +
      'сумма продаж (sales_amount), выручка с лида (revenue_per_lead), среднее время обработки в днях (avg_processing_days). ' +
      'Разбивка по источникам, UTM-кампаниям, менеджерам, отделам, городам, воронкам, дням, неделям, месяцам, кварталам.',
    explain:
      'Берём лиды, созданные в периоде, и смотрим, где они сейчас: «новые» — на первой (с наименьшим порядком) открытой стадии воронки, ' +
      '«в работе» — на любой другой открытой, «качественные» — на успешной, «некачественные» — на провальной. ' +
      'Конверсия в сделку — доля лидов, у которых есть сделка (ссылка из лида или из сделки), в продажу — доля, чья сделка сейчас успешна; ' +
      'сумма продаж — сумма этих сделок, выручка с лида — она же на один лид, время обработки — от создания до закрытия лида.',
    defaultPeriod: 'this_month',
    groupBy: LEAD_STATS_GROUPS,
    options: [],
    run: leadStats,
  },
  {
    name: 'lead_stage_reach',
    description:
      'Прохождение стадий лидов: для каждой стадии воронки лидов — сколько лидов, созданных в периоде, на ней побывало ' +
      '(reached) и какая это доля (stage_reach); received — всего лидов периода.',
    explain:
      'Для лидов, созданных в периоде, считаем, побывал ли лид на стадии: по истории стадий и по текущей стадии. ' +
      'Пропущенные стадии не засчитываются, поэтому сумма долей может быть больше 100 %. ' +
      'Если воронок лидов несколько и фильтр не задан, берём ту, где больше всего лидов периода.',
    defaultPeriod: 'this_month',
    groupBy: ['stage'],
    options: [],
    run: leadStageReach,
  },
  {
    name: 'forgotten_leads',
    description:
      'Забытые лиды (forgotten_leads): открытые лиды любой даты создания без активности дольше N дней (days, по умолчанию 3) ' +
      'на текущий момент или на конец прошедшего периода; список с днями без активности (days_idle), разбивка по менеджерам.',
    explain:
      'Лид забыт, если он открыт и его последняя активность раньше, чем N×24 часа до момента отсчёта (сейчас или конец прошедшего периода). ' +
      'Активность — создание, смена стадии, дела и задачи по лиду, звонки по лиду и звонки на телефоны его контакта; ' +
      'дела на контакте или компании и сроки не считаются.',
    defaultPeriod: undefined,
    groupBy: ['manager'],
    options: ['days', 'limit'],
    run: forgottenLeads,
  },
];
