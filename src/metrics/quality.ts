import {
  type CallBreakdown,
  callBreakdownSchema,
  churnRisks,
  type ObjectionType,
  objectionLabelsRu,
  objectionTypes,
  readinessBandLabelsRu,
  type ScriptStep,
  scriptStepLabelsRu,
  scriptSteps,
} from '../analysis/schema.ts';
import { AppError } from '../errors.ts';
import { formatPhone } from './calls.ts';
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
  resolveFilters,
} from './common.ts';
import { localDate, type ResolvedPeriod, resolvePeriod } from './period.ts';
import type { MetricTool } from './tool.ts';
import type {
  Envelope,
  EnvelopeGroup,
  EnvelopeItem,
  Figures,
  GroupBy,
  QualityAspect,
  ToolInput,
} from './types.ts';

/*
 * Aggregates over the AI call breakdowns ("Разбор звонка", METRICS.md
 * "Conversations: AI breakdown"): call_quality and call_breakdown.
 *
 * A call counts in the period in which it started. When a call was analyzed
 * by more than one analyzer (offline first, an LLM later), the most recent
 * breakdown is the call's breakdown, so no call counts twice. A call's source
 * is the source of the lead or deal it is linked to, else the source of the
 * phone line it came in on; the source filter and grouping use that.
 */

const NO_DEPARTMENT_LABEL = 'Без отдела';
const NONE_KEY = 'none';
const DEFAULT_LIMIT = 50;
/** Needs / objections shown per group when they are broken down by manager, source or department. */
const TOP_PER_GROUP = 5;
const QUALITY_GROUPS: readonly GroupBy[] = ['manager', 'department', 'source'];

type Row = Record<string, unknown>;
type Level = 'high' | 'medium' | 'low';
type Family = 'objections' | 'script' | 'churn_risk' | 'readiness' | 'needs' | 'lead_quality' | 'talk_ratio';

interface Aspect {
  family: Family | null;
  /** The script step of `script.<step>`. */
  step: ScriptStep | null;
  /** `churn_risk.high`, `readiness.low`, `lead_quality.not_target`: which calls to list. */
  level: string | null;
}

function aspectOf(a: QualityAspect | undefined): Aspect {
  if (!a) return { family: null, step: null, level: null };
  const [family, sub] = a.split('.') as [Family, string | undefined];
  if (family === 'script') return { family, step: (sub as ScriptStep | undefined) ?? null, level: null };
  return { family, step: null, level: sub ?? null };
}

const readinessBandRu: Record<Level, string> = {
  low: `Готовность ${readinessBandLabelsRu.low} (меньше 40)`,
  medium: `Готовность ${readinessBandLabelsRu.medium} (40–69)`,
  high: `Готовность ${readinessBandLabelsRu.high} (70 и выше)`,
};
const readinessSql: Record<Level, string> = {
  low: 'readiness < 40',
  medium: 'readiness >= 40 AND readiness < 70',
  high: 'readiness >= 70',
};
const targetSql = `(b->'lead_quality'->>'target')::boolean`;
const stepSql = (s: ScriptStep) => `(b->'script'->'${s}'->>'done')::boolean`;

/** The SQL condition selecting the calls of a level aspect. */
function levelCondition(a: Aspect): string | null {
  if (!a.level) return null;
  if (a.family === 'churn_risk') return `churn_risk = '${a.level}'`;
  if (a.family === 'readiness') return readinessSql[a.level as Level];
  if (a.family === 'lead_quality') return a.level === 'target' ? targetSql : `NOT ${targetSql}`;
  return null;
}

// ---------------------------------------------------------------------------
// SQL

/**
 * CTE `base`: one row per analyzed call of the period in scope, with its
 * latest breakdown (`b`), stored readiness and churn risk, and source.
 */
function baseCte(p: Params, f: ResolvedFilters, period: ResolvedPeriod): string {
  const source = 'COALESCE(l.source_id, d.source_id, pl.source_id)';
  let where =
    `c.started_at >= ${p.add(period.start.toISOString())}::timestamptz` +
    ` AND c.started_at < ${p.add(period.end.toISOString())}::timestamptz`;
  where += anyOf(p, 'c.manager_id', f.managerIds);
  where += anyOf(p, 'c.line_number', f.lineNumbers);
  where += anyOf(p, source, f.sourceIds);
  where += anyOf(p, 'COALESCE(l.pipeline_id, d.pipeline_id)', f.pipelineIds);
  where += anyOf(p, 'l.utm_campaign', f.campaigns);
  // Driven by the breakdowns, not by the calls: analyzed calls are a tiny share of
  // a period's calls, and a per-call lookup of its breakdown visits them all.
  return `base AS (
    SELECT c.id, c.manager_id, c.started_at, c.client_phone, ${source} AS source_id,
           a.breakdown AS b, a.readiness, a.churn_risk, a.analyzer
      FROM (
        SELECT DISTINCT ON (x.call_id) x.call_id, x.breakdown, x.readiness, x.churn_risk, x.analyzer
          FROM call_analyses x ORDER BY x.call_id, x.created_at DESC, x.id DESC
      ) a
      JOIN calls c ON c.id = a.call_id
      LEFT JOIN leads l ON c.entity = 'lead' AND l.id = c.entity_id
      LEFT JOIN deals d ON c.entity = 'deal' AND d.id = c.entity_id
      LEFT JOIN phone_lines pl ON pl.number = c.line_number
     WHERE ${where}
  )`;
}

/** Group key and label expressions over `base` (+ the joins they need). */
function groupSql(groupBy: GroupBy | undefined): { key: string; label: string; joins: string } {
  switch (groupBy) {
    case 'manager':
      return {
        key: `COALESCE(base.manager_id, '${NONE_KEY}')`,
        label: `COALESCE(gm.name, '${NO_MANAGER_LABEL}')`,
        joins: 'LEFT JOIN managers gm ON gm.id = base.manager_id',
      };
    case 'department':
      return {
        key: `COALESCE(gd.id, '${NONE_KEY}')`,
        label: `COALESCE(gd.name, '${NO_DEPARTMENT_LABEL}')`,
        joins:
          'LEFT JOIN managers gm ON gm.id = base.manager_id LEFT JOIN departments gd ON gd.id = gm.department_id',
      };
    case 'source':
      return {
        key: `COALESCE(gs.id, '${NONE_KEY}')`,
        label: `COALESCE(gs.name, '${NO_SOURCE_LABEL}')`,
        joins: 'LEFT JOIN sources gs ON gs.id = base.source_id',
      };
    default:
      return { key: `'all'`, label: `'all'`, joins: '' };
  }
}

interface Summary {
  key: string;
  label: string;
  analyzed: number;
  readiness_avg: number | null;
  talk_ratio_avg: number | null;
  target: number;
  risk: Record<Level, number>;
  band: Record<Level, number>;
  steps: Record<ScriptStep, number>;
  level: number;
}

/** Per-call figures of the whole selection and, when grouped, of each group (one scan). */
async function summaries(
  ctx: MetricContext,
  cte: string,
  p: Params,
  groupBy: GroupBy | undefined,
  levelCond: string | null,
): Promise<{ total: Summary; groups: Summary[] }> {
  const g = groupSql(groupBy);
  const rows = await ctx.db.query<Row>(
    `WITH ${cte}
     SELECT gkey AS key, glabel AS label, GROUPING(gkey) AS is_total,
            count(*)::int AS analyzed,
            avg(readiness)::float8 AS readiness_avg,
            avg((b->>'talk_ratio')::float8)::float8 AS talk_ratio_avg,
            count(*) FILTER (WHERE ${targetSql})::int AS target,
            ${churnRisks.map((r) => `count(*) FILTER (WHERE churn_risk = '${r}')::int AS risk_${r}`).join(', ')},
            ${(['low', 'medium', 'high'] as const).map((x) => `count(*) FILTER (WHERE ${readinessSql[x]})::int AS band_${x}`).join(', ')},
            ${scriptSteps.map((s) => `count(*) FILTER (WHERE ${stepSql(s)})::int AS step_${s}`).join(', ')},
            ${levelCond ? `count(*) FILTER (WHERE ${levelCond})::int` : '0'} AS level
       FROM (SELECT base.*, ${g.key} AS gkey, ${g.label} AS glabel FROM base ${g.joins}) base
      GROUP BY GROUPING SETS ((gkey, glabel), ())`,
    p.values,
  );
  const toSummary = (r: Row): Summary => ({
    key: String(r.key ?? 'all'),
    label: String(r.label ?? 'all'),
    analyzed: num(r.analyzed) ?? 0,
    readiness_avg: num(r.readiness_avg),
    talk_ratio_avg: num(r.talk_ratio_avg),
    target: num(r.target) ?? 0,
    risk: { high: num(r.risk_high) ?? 0, medium: num(r.risk_medium) ?? 0, low: num(r.risk_low) ?? 0 },
    band: { high: num(r.band_high) ?? 0, medium: num(r.band_medium) ?? 0, low: num(r.band_low) ?? 0 },
    steps: Object.fromEntries(scriptSteps.map((s) => [s, num(r[`step_${s}`]) ?? 0])) as Record<
      ScriptStep,
      number
    >,
    level: num(r.level) ?? 0,
  });
  const totalRow = rows.find((r) => num(r.is_total) === 1);
  const total = totalRow
    ? toSummary(totalRow)
    : toSummary({ analyzed: 0, readiness_avg: null, talk_ratio_avg: null });
  const groups = groupBy ? rows.filter((r) => num(r.is_total) !== 1).map(toSummary) : [];
  return { total, groups };
}

interface Tally {
  key: string;
  label: string;
  value: string;
  count: number;
  unhandled: number;
}

/**
 * Calls per objection type or per need (each call counted once per value),
 * per group when grouped. Needs are compared lowercased and trimmed.
 */
async function tallies(
  ctx: MetricContext,
  cte: string,
  p: Params,
  what: 'objections' | 'needs',
  groupBy: GroupBy | undefined,
): Promise<Tally[]> {
  const g = groupSql(groupBy);
  const values =
    what === 'objections'
      ? `SELECT e->>'type' AS value, bool_and((e->>'handled')::boolean) AS handled
           FROM jsonb_array_elements(base.b->'objections') e GROUP BY 1`
      : `SELECT DISTINCT lower(btrim(x)) AS value, true AS handled
           FROM jsonb_array_elements_text(base.b->'needs') x WHERE btrim(x) <> ''`;
  const rows = await ctx.db.query<Row>(
    `WITH ${cte}
     SELECT ${g.key} AS key, ${g.label} AS label, v.value, count(*)::int AS count,
            count(*) FILTER (WHERE NOT v.handled)::int AS unhandled
       FROM base ${g.joins}, LATERAL (${values}) v
      GROUP BY 1, 2, 3`,
    p.values,
  );
  return rows.map((r) => ({
    key: String(r.key),
    label: String(r.label),
    value: String(r.value),
    count: num(r.count) ?? 0,
    unhandled: num(r.unhandled) ?? 0,
  }));
}

/** The calls of a level aspect, newest first. */
async function levelItems(
  ctx: MetricContext,
  cte: string,
  p: Params,
  cond: string,
  limit: number,
): Promise<EnvelopeItem[]> {
  const rows = await ctx.db.query<Row>(
    `WITH ${cte}
     SELECT base.id, base.started_at, base.client_phone, base.manager_id, m.name AS manager,
            base.readiness, base.churn_risk, base.analyzer, base.b->>'summary' AS summary,
            base.b->>'next_step' AS next_step, base.b->>'stage' AS stage,
            base.b->'lead_quality'->>'reason' AS lead_quality_reason
       FROM base LEFT JOIN managers m ON m.id = base.manager_id
      WHERE ${cond}
      ORDER BY base.started_at DESC, base.id
      LIMIT ${p.add(limit)}`,
    p.values,
  );
  return rows.map((r) => ({
    id: String(r.id),
    title: `Звонок ${formatPhone(String(r.client_phone))}`,
    manager: (r.manager as string | null) ?? null,
    started_at: new Date(r.started_at as Date).toISOString(),
    client_phone: formatPhone(String(r.client_phone)),
    readiness: num(r.readiness),
    churn_risk: r.churn_risk as string,
    stage: r.stage as string,
    summary: r.summary as string,
    next_step: r.next_step as string,
    lead_quality_reason: r.lead_quality_reason as string,
    analyzer: r.analyzer as string,
  }));
}

// ---------------------------------------------------------------------------
// call_quality

/** Parameters for one more query over the same `base` CTE (its placeholders come first). */
function sameParams(p: Params): Params {
  const q = new Params();
  q.values.push(...p.values);
  return q;
}

const riskLabels: Record<Level, string> = {
  high: 'Высокий риск',
  medium: 'Средний риск',
  low: 'Низкий риск',
};

const byLabel = (a: { label: string }, b: { label: string }) => a.label.localeCompare(b.label, 'ru');

/** Groups sorted by a figure, largest first (null last), then by label. */
function sortedBy(groups: EnvelopeGroup[], code: string): EnvelopeGroup[] {
  return groups.sort((a, b) => {
    const x = a.figures[code] ?? null;
    const y = b.figures[code] ?? null;
    if (x === y) return byLabel(a, b);
    if (x === null) return 1;
    if (y === null) return -1;
    return y - x;
  });
}

function headline(s: Summary): Figures {
  return {
    analyzed: s.analyzed,
    readiness_avg: s.readiness_avg,
    high_risk: s.risk.high,
    target_share: ratio(s.target, s.analyzed),
  };
}

/** Groups of one value per call (objection types, needs) over the whole selection. */
function tallyGroups(
  rows: Tally[],
  analyzed: number,
  labelOf: (value: string) => string,
  order: (a: Tally, b: Tally) => number,
): EnvelopeGroup[] {
  return [...rows].sort(order).map((t) => ({
    key: t.value,
    label: labelOf(t.value),
    figures: { count: t.count, share: ratio(t.count, analyzed) },
  }));
}

const objectionOrder = (a: Tally, b: Tally) =>
  b.count - a.count ||
  objectionTypes.indexOf(a.value as ObjectionType) - objectionTypes.indexOf(b.value as ObjectionType);
const needOrder = (a: Tally, b: Tally) => b.count - a.count || a.value.localeCompare(b.value, 'ru');

const objectionLabel = (v: string) => objectionLabelsRu[v as ObjectionType] ?? v;

/**
 * Pairs (group, value) — "Авито · замер" — with each group's top values and
 * their share of the group's analyzed calls; groups in label order.
 */
function pairGroups(
  rows: Tally[],
  groups: Summary[],
  labelOf: (value: string) => string,
  order: (a: Tally, b: Tally) => number,
  withUnhandled: boolean,
): EnvelopeGroup[] {
  const out: EnvelopeGroup[] = [];
  for (const g of [...groups].sort(byLabel)) {
    const top = rows
      .filter((r) => r.key === g.key)
      .sort(order)
      .slice(0, TOP_PER_GROUP);
    for (const t of top) {
      const figures: Figures = { count: t.count, share: ratio(t.count, g.analyzed), analyzed: g.analyzed };
      if (withUnhandled) figures.unhandled = t.unhandled;
      out.push({ key: `${g.key}:${t.value}`, label: `${g.label} · ${labelOf(t.value)}`, figures });
    }
  }
  return out;
}

const stepCode = (s: ScriptStep) => `script.${s}`;

async function callQuality(ctx: MetricContext, input: ToolInput): Promise<Envelope> {
  const period = periodOf(ctx, input, 'this_month');
  const filters = await resolveFilters(ctx.db, ctx.caller, input.filters);
  const aspect = aspectOf(input.aspect);
  const groupBy = input.group_by && QUALITY_GROUPS.includes(input.group_by) ? input.group_by : undefined;
  const notes: string[] = [];
  if (input.group_by && !groupBy) {
    notes.push('Разбивка доступна по менеджерам, отделам и источникам; показан итог без разбивки.');
  }
  const p = new Params();
  const cte = baseCte(p, filters, period);
  const levelCond = levelCondition(aspect);
  const { total, groups } = await summaries(ctx, cte, p, groupBy, levelCond);
  const figures = headline(total);
  const body: Omit<Envelope, 'metric' | 'period' | 'filters'> = { figures, notes };
  const n = total.analyzed;
  const perGroup = (fill: (s: Summary) => Figures, sortCode: string) =>
    sortedBy(
      groups.map((s) => ({ key: s.key, label: s.label, figures: fill(s) })),
      sortCode,
    );

  switch (aspect.family) {
    case null: {
      if (groupBy) body.groups = perGroup(headline, 'analyzed');
      break;
    }
    case 'objections': {
      const rows = await tallies(ctx, cte, sameParams(p), 'objections', undefined);
      const overall = tallyGroups(rows, n, objectionLabel, objectionOrder);
      if (groupBy) {
        const byGroup = await tallies(ctx, cte, sameParams(p), 'objections', groupBy);
        body.groups = pairGroups(byGroup, groups, objectionLabel, objectionOrder, true);
        body.series = { objections: overall };
      } else {
        body.groups = overall.map((g) => ({
          ...g,
          figures: { ...g.figures, unhandled: rows.find((r) => r.value === g.key)?.unhandled ?? 0 },
        }));
      }
      notes.push(
        'Доля — от разобранных звонков периода; звонок с несколькими возражениями одного типа считается один раз.',
      );
      break;
    }
    case 'needs': {
      if (groupBy) {
        const byGroup = await tallies(ctx, cte, sameParams(p), 'needs', groupBy);
        body.groups = pairGroups(byGroup, groups, (v) => v, needOrder, false);
        notes.push(`По каждой группе — до ${TOP_PER_GROUP} самых частых потребностей.`);
      } else {
        const rows = await tallies(ctx, cte, sameParams(p), 'needs', undefined);
        body.groups = tallyGroups(rows, n, (v) => v, needOrder).slice(0, input.limit ?? 10);
      }
      break;
    }
    case 'script': {
      if (aspect.step) {
        const step = aspect.step;
        figures[stepCode(step)] = ratio(total.steps[step], n);
        figures.count = total.steps[step];
        if (groupBy) {
          body.groups = perGroup(
            (s) => ({ share: ratio(s.steps[step], s.analyzed), count: s.steps[step], analyzed: s.analyzed }),
            'share',
          );
        }
        notes.push(`Доля разобранных звонков, в которых выполнен шаг «${scriptStepLabelsRu[step]}».`);
      } else {
        for (const s of scriptSteps) figures[stepCode(s)] = ratio(total.steps[s], n);
        if (groupBy) {
          body.groups = perGroup((s) => {
            const done = scriptSteps.reduce((sum, step) => sum + s.steps[step], 0);
            const f: Figures = { share: ratio(done, s.analyzed * scriptSteps.length), analyzed: s.analyzed };
            for (const step of scriptSteps) f[stepCode(step)] = ratio(s.steps[step], s.analyzed);
            return f;
          }, 'share');
          notes.push('Доля в группе — среднее выполнение пяти шагов скрипта.');
        } else {
          body.groups = scriptSteps.map((s) => ({
            key: s,
            label: scriptStepLabelsRu[s],
            figures: { count: total.steps[s], share: ratio(total.steps[s], n) },
          }));
        }
      }
      break;
    }
    case 'churn_risk':
    case 'readiness': {
      const counts = aspect.family === 'churn_risk' ? total.risk : total.band;
      const labels: Record<Level, string> = aspect.family === 'churn_risk' ? riskLabels : readinessBandRu;
      if (groupBy && aspect.level) {
        body.groups = perGroup(
          (s) => ({ share: ratio(s.level, s.analyzed), count: s.level, analyzed: s.analyzed }),
          'share',
        );
      } else if (groupBy && aspect.family === 'readiness') {
        body.groups = perGroup(
          (s) => ({ readiness_avg: s.readiness_avg, analyzed: s.analyzed, high: s.band.high }),
          'readiness_avg',
        );
      } else if (groupBy) {
        body.groups = perGroup(
          (s) => ({ share: ratio(s.risk.high, s.analyzed), high_risk: s.risk.high, analyzed: s.analyzed }),
          'share',
        );
        notes.push('Доля в группе — звонки с высоким риском потери клиента.');
      } else {
        const order: Level[] =
          aspect.family === 'churn_risk' ? ['high', 'medium', 'low'] : ['low', 'medium', 'high'];
        body.groups = order.map((lvl) => ({
          key: lvl,
          label: labels[lvl],
          figures: { count: counts[lvl], share: ratio(counts[lvl], n) },
        }));
      }
      if (aspect.family === 'readiness')
        notes.push('Готовность: низкая — меньше 40, средняя — 40–69, высокая — 70 и выше.');
      break;
    }
    case 'lead_quality': {
      if (groupBy) {
        body.groups = perGroup(
          (s) => ({ share: ratio(s.target, s.analyzed), count: s.target, analyzed: s.analyzed }),
          'share',
        );
        notes.push('Доля в группе — целевые обращения среди разобранных звонков.');
      } else {
        body.groups = [
          {
            key: 'target',
            label: 'Целевые',
            figures: { count: total.target, share: ratio(total.target, n) },
          },
          {
            key: 'not_target',
            label: 'Нецелевые',
            figures: { count: n - total.target, share: ratio(n - total.target, n) },
          },
        ];
      }
      break;
    }
    case 'talk_ratio': {
      figures.talk_ratio_avg = total.talk_ratio_avg;
      if (groupBy)
        body.groups = perGroup(
          (s) => ({ talk_ratio_avg: s.talk_ratio_avg, analyzed: s.analyzed }),
          'talk_ratio_avg',
        );
      notes.push(
        'Доля речи менеджера — доля его слов в разговоре; звонки без определённых сторон не учитываются.',
      );
      break;
    }
  }

  if (levelCond) {
    figures.count = total.level;
    figures.share = ratio(total.level, n);
    const limit = input.limit ?? DEFAULT_LIMIT;
    body.items = await levelItems(ctx, cte, sameParams(p), levelCond, limit);
    if (total.level > body.items.length) {
      notes.push(`В списке ${body.items.length} из ${total.level} звонков — самые свежие.`);
    }
  }
  if (n === 0) notes.push('За период нет разобранных звонков.');
  if (notes.length === 0) delete body.notes;
  return envelope('call_quality', period, filters, body);
}

// ---------------------------------------------------------------------------
// call_breakdown

/** The stored breakdown (jsonb reorders keys) with its fields in the order of METRICS.md. */
function inSchemaOrder(b: CallBreakdown): CallBreakdown {
  const out: Record<string, unknown> = {};
  for (const key of Object.keys(callBreakdownSchema.shape))
    if (key in b) out[key] = b[key as keyof CallBreakdown];
  out.script = Object.fromEntries(scriptSteps.map((s) => [s, b.script[s]]));
  return out as CallBreakdown;
}

async function callBreakdown(ctx: MetricContext, input: ToolInput): Promise<Envelope> {
  const filters = await resolveFilters(ctx.db, ctx.caller, input.filters);
  const p = new Params();
  let where: string;
  if (input.call_id) {
    where = `c.id = ${p.add(input.call_id)}`;
  } else {
    where = 'true';
    if (input.period) {
      const period = resolvePeriod(input.period, { now: ctx.now, tz: ctx.tz });
      where +=
        ` AND c.started_at >= ${p.add(period.start.toISOString())}::timestamptz` +
        ` AND c.started_at < ${p.add(period.end.toISOString())}::timestamptz`;
    }
    where += anyOf(p, 'c.manager_id', filters.managerIds);
  }
  const rows = await ctx.db.query<Row>(
    `SELECT c.id, c.manager_id, m.name AS manager, c.started_at, c.client_phone, c.direction, c.duration_sec,
            a.breakdown, a.analyzer, a.created_at AS analyzed_at
       FROM calls c
       JOIN LATERAL (
         SELECT x.breakdown, x.analyzer, x.created_at FROM call_analyses x
          WHERE x.call_id = c.id ORDER BY x.created_at DESC, x.id DESC LIMIT 1
       ) a ON true
       LEFT JOIN managers m ON m.id = c.manager_id
      WHERE ${where}
      ORDER BY c.started_at DESC, c.id DESC
      LIMIT 1`,
    p.values,
  );
  const row = rows[0];
  if (!row) {
    if (input.call_id) {
      const exists = await ctx.db.query('SELECT 1 FROM calls WHERE id = $1', [input.call_id]);
      throw new AppError(
        'breakdown_not_found',
        `No breakdown of call ${input.call_id}`,
        exists.length > 0 ? `Звонок ${input.call_id} ещё не разобран.` : `Не нашёл звонок ${input.call_id}.`,
      );
    }
    const who = filters.echo.managers?.join(', ');
    throw new AppError(
      'breakdown_not_found',
      'No analyzed call in scope',
      who ? `У менеджера ${who} пока нет разобранных звонков.` : 'Пока нет разобранных звонков.',
    );
  }
  const managerId = (row.manager_id as string | null) ?? null;
  if (
    input.call_id &&
    filters.managerIds !== null &&
    (managerId === null || !filters.managerIds.includes(managerId))
  ) {
    throw new AppError(
      'out_of_scope',
      `Caller ${ctx.caller.role}:${ctx.caller.managerId} asked for call ${input.call_id} outside their scope`,
      'Этот звонок вам недоступен: можно смотреть только свои звонки' +
        (ctx.caller.role === 'head' ? ' и звонки своего отдела.' : '.'),
    );
  }
  const b = inSchemaOrder(row.breakdown as CallBreakdown);
  const startedAt = new Date(row.started_at as Date);
  const day = localDate(startedAt, ctx.tz);
  const item: EnvelopeItem = {
    id: String(row.id),
    title: `Звонок ${formatPhone(String(row.client_phone))}`,
    manager: (row.manager as string | null) ?? null,
    manager_id: managerId,
    started_at: startedAt.toISOString(),
    client_phone: formatPhone(String(row.client_phone)),
    direction: row.direction as string,
    duration_sec: num(row.duration_sec),
    analyzed_at: new Date(row.analyzed_at as Date).toISOString(),
    ...b,
  };
  const figures: Figures = {
    readiness: b.readiness,
    confidence: b.confidence,
    talk_ratio: b.talk_ratio,
    objections: b.objections.length,
    script_done: scriptSteps.filter((s) => b.script[s].done).length,
  };
  const period = { from: day, to: day, start: startedAt, end: startedAt, label: day };
  return envelope('call_breakdown', period, filters, { figures, items: [item] });
}

// ---------------------------------------------------------------------------

export const qualityTools: MetricTool[] = [
  {
    name: 'call_quality',
    description:
      'Качество звонков по AI-разборам за период: разобрано звонков (analyzed), средняя готовность купить ' +
      '(readiness_avg, 0–100), звонки с высоким риском потери клиента (high_risk), доля целевых обращений ' +
      '(target_share). Разрез aspect: objections — топ возражений (count, share от разобранных); script — ' +
      'выполнение шагов скрипта (script.greeting, script.need_identified, script.price_named, ' +
      'script.next_step_offered, script.summary_agreed); script.<шаг> с group_by=manager — кто пропускает шаг ' +
      '(например, не называет цену); churn_risk и readiness — распределения; needs — потребности клиентов ' +
      '(с group_by=source — по источникам); lead_quality — целевые (с group_by=source — доля по источникам); ' +
      'talk_ratio — доля речи менеджера. Уровень через точку (churn_risk.high, readiness.low, ' +
      'lead_quality.not_target) — ещё и список этих звонков в items. Разбивка по менеджерам, отделам, источникам.',
    explain:
      'Считаются звонки, начавшиеся в периоде и разобранные анализатором; у звонка с несколькими разборами ' +
      'берётся последний. Доли — от числа разобранных звонков; звонок с несколькими возражениями одного типа ' +
      'считается один раз. Готовность: низкая — меньше 40, средняя — 40–69, высокая — 70 и выше. Источник ' +
      'звонка — источник привязанного лида или сделки, иначе источник линии, на которую звонили.',
    defaultPeriod: 'this_month',
    groupBy: QUALITY_GROUPS,
    options: ['aspect', 'limit'],
    run: callQuality,
  },
  {
    name: 'call_breakdown',
    description:
      'Разбор одного звонка (call_id), или последнего разобранного звонка менеджера (filters.managers) или ' +
      'в своей зоне видимости: краткое содержание, готовность купить (readiness), риск потери клиента, стадия, ' +
      'возражения с цитатами, шаги скрипта, сильные стороны и упущения, следующий шаг, потребности, ' +
      'целевой ли лид, доля речи менеджера. Полный разбор — в items[0].',
    explain:
      'Разбор делает анализатор звонков (LLM или офлайн-правила) по расшифровке разговора; каждая цитата — ' +
      'дословный фрагмент расшифровки. Готовность купить — от 0 до 100 (низкая меньше 40, высокая от 70); ' +
      'риск потери клиента — высокий, средний или низкий. «Последний звонок» — самый поздний по времени начала ' +
      'среди разобранных.',
    defaultPeriod: undefined,
    groupBy: [],
    options: ['call_id'],
    run: callBreakdown,
  },
];
