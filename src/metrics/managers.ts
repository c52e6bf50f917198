import { ensureDealRollups } from '../db/rollups/deals.ts';
import { ensureRollups } from '../db/rollups/index.ts';
import { ensureLeadRollups } from '../db/rollups/leads.ts';
import { AppError } from '../errors.ts';
import { companyCallsByManager } from './calls.ts';
import {
  anyOf,
  DEFAULT_WEIGHTS,
  envelope,
  type MetricContext,
  NO_MANAGER_LABEL,
  num,
  Params,
  periodOf,
  ratio,
  resolveFilters,
  type ScoreWeights,
} from './common.ts';
import { rollupRowsSql } from './leads.ts';
import { localDate } from './period.ts';
import { workingDays } from './plan.ts';
import type { MetricTool } from './tool.ts';
import type { Envelope, EnvelopeGroup, Figures, GroupBy, ToolInput } from './types.ts';

const NO_DEPARTMENT_LABEL = 'Без отдела';
const DEFAULT_CALLS_NORM = 60;
const EFFICIENCY_GROUPS: readonly GroupBy[] = ['manager', 'department'];

/** Per-manager sums; `null` manager = records without a manager. */
interface Tally {
  score: number;
  calls: number;
  connected: number;
  talk: number;
  leads: number;
  deals: number;
  won: number;
  lost: number;
}

const emptyTally = (): Tally => ({
  score: 0,
  calls: 0,
  connected: 0,
  talk: 0,
  leads: 0,
  deals: 0,
  won: 0,
  lost: 0,
});

function add(into: Tally, t: Tally): void {
  into.score += t.score;
  into.calls += t.calls;
  into.connected += t.connected;
  into.talk += t.talk;
  into.leads += t.leads;
  into.deals += t.deals;
  into.won += t.won;
  into.lost += t.lost;
}

function activityWeight(type: string, w: ScoreWeights): number {
  switch (type) {
    case 'meeting':
      return w.meeting;
    case 'email':
      return w.email;
    case 'case':
      return w.case;
    default:
      return w.other;
  }
}

const NONE = 'none';

/** The first day of the month after the one holding `day`. */
function nextMonthStart(day: string): string {
  const d = new Date(Date.parse(`${day.slice(0, 7)}-01T00:00:00Z`));
  d.setUTCMonth(d.getUTCMonth() + 1);
  return d.toISOString().slice(0, 10);
}

/**
 * Completed activities of the local days [$1, $2] as (manager_id, type, completed) rows: whole months
 * [$3, $4) from activity_months, the odd days around them from activity_days.
 */
function activitySourceSql(period: { from: string; to: string }): { sql: string; params: string[] } {
  const toExcl = new Date(Date.parse(`${period.to}T00:00:00Z`) + 86_400_000).toISOString().slice(0, 10);
  const firstMonth = period.from.endsWith('-01') ? period.from : nextMonthStart(period.from);
  const endMonth = `${toExcl.slice(0, 7)}-01`;
  const params = [period.from, period.to, firstMonth, endMonth];
  if (firstMonth >= endMonth) {
    return {
      sql: 'SELECT manager_id, type, completed FROM activity_days WHERE day >= $1::date AND day <= $2::date',
      params: params.slice(0, 2),
    };
  }
  return {
    sql: `SELECT manager_id, type, completed FROM activity_days WHERE day >= $1::date AND day < $3::date
          UNION ALL SELECT manager_id, type, completed FROM activity_months WHERE month >= $3::date AND month < $4::date
          UNION ALL SELECT manager_id, type, completed FROM activity_days WHERE day >= $4::date AND day <= $2::date`,
    params,
  };
}

/**
 * Эффективность менеджеров: activity score, its share of the company's score,
 * calls against the daily norm, leads and deals handled, win rate
 * (METRICS.md "Managers", "Precise readings: Activity score").
 */
export async function managerEfficiency(ctx: MetricContext, input: ToolInput): Promise<Envelope> {
  const groupBy = input.group_by ?? 'manager';
  if (!EFFICIENCY_GROUPS.includes(groupBy)) {
    throw new AppError(
      'unsupported_group_by',
      `manager_efficiency cannot group by ${groupBy}`,
      'Эффективность можно разбить только по менеджерам или по отделам.',
    );
  }
  const period = periodOf(ctx, input, 'this_month');
  const filters = await resolveFilters(ctx.db, ctx.caller, {
    ...(input.filters?.managers ? { managers: input.filters.managers } : {}),
    ...(input.filters?.departments ? { departments: input.filters.departments } : {}),
  });
  const weights = ctx.weights ?? DEFAULT_WEIGHTS;
  const norm = ctx.callsPerDayNorm ?? DEFAULT_CALLS_NORM;

  // Scores and calls over the whole company: the efficiency denominator ignores filters and scope.
  await ensureRollups(ctx.db, ctx.tz);
  await ensureLeadRollups(ctx.db, ctx.tz);
  await ensureDealRollups(ctx.db, ctx.tz);
  const activities = activitySourceSql(period);
  const activityQuery = ctx.db.query<{ manager_id: string | null; type: string; n: number }>(
    `SELECT nullif(manager_id, '') AS manager_id, type, sum(completed)::int8 AS n FROM (${activities.sql}) a
      GROUP BY 1, 2`,
    activities.params,
  );
  const callQuery = companyCallsByManager(ctx, period);
  // Leads created in the period per manager: the manager cube of the lead cohort rollup (every lead, by local day of creation).
  const lp = new Params();
  const leadSource = rollupRowsSql(
    'lead_cohort_rollup',
    'm',
    period,
    false,
    lp,
    anyOf(lp, 'x.manager_id', filters.managerIds),
  );
  const leadQuery = ctx.db.query<{ manager_id: string | null; n: number }>(
    `SELECT x.manager_id, sum(x.leads)::int8 AS n FROM ${leadSource} x GROUP BY 1`,
    lp.values,
  );
  // Deals created, won and lost per manager: the manager cube of the deal rollup (kinds c and w, by local day).
  const dp = new Params();
  const dealSource = rollupRowsSql(
    'deal_rollup',
    'm',
    period,
    false,
    dp,
    ` AND x.kind IN ('c', 'w')${anyOf(dp, 'x.manager_id', filters.managerIds)}`,
  );
  const dealQuery = ctx.db.query<{ manager_id: string | null; created: number; won: number; lost: number }>(
    `SELECT x.manager_id, coalesce(sum(x.deals) FILTER (WHERE x.kind = 'c'), 0)::int8 AS created,
            coalesce(sum(x.deals) FILTER (WHERE x.kind = 'w' AND s.semantic = 'won'), 0)::int8 AS won,
            coalesce(sum(x.deals) FILTER (WHERE x.kind = 'w' AND s.semantic = 'lost'), 0)::int8 AS lost
       FROM ${dealSource} x LEFT JOIN stages s ON s.id = x.stage_id
      GROUP BY 1`,
    dp.values,
  );
  const managerQuery = ctx.db.query<{
    id: string;
    name: string;
    department_id: string | null;
    active: boolean;
  }>('SELECT id, name, department_id, active FROM managers');
  const departmentQuery = ctx.db.query<{ id: string; name: string }>('SELECT id, name FROM departments');

  const [activityRows, callRows, leadRows, dealRows, managerRows, departmentRows] = await Promise.all([
    activityQuery,
    callQuery,
    leadQuery,
    dealQuery,
    managerQuery,
    departmentQuery,
  ]);

  const tallies = new Map<string, Tally>();
  const tally = (id: string | null): Tally => {
    const key = id ?? NONE;
    let t = tallies.get(key);
    if (!t) {
      t = emptyTally();
      tallies.set(key, t);
    }
    return t;
  };
  let companyScore = 0;
  for (const r of activityRows) {
    const points = (num(r.n) ?? 0) * activityWeight(r.type, weights);
    companyScore += points;
    tally(r.manager_id).score += points;
  }
  for (const r of callRows) {
    // A call scores when the manager made it (outgoing, any status) or answered it (incoming answered).
    const t = tally(r.manager_id === '' ? null : String(r.manager_id));
    const points = ((num(r.outgoing) ?? 0) + (num(r.answered) ?? 0)) * weights.call;
    companyScore += points;
    t.score += points;
    t.calls += num(r.calls) ?? 0;
    t.connected += num(r.connected) ?? 0;
    t.talk += num(r.talk_time_total) ?? 0;
  }
  for (const r of leadRows) tally(r.manager_id).leads += num(r.n) ?? 0;
  for (const r of dealRows) {
    // A manager whose rows sum to nothing must not look like one with data.
    if ((num(r.created) ?? 0) + (num(r.won) ?? 0) + (num(r.lost) ?? 0) === 0) continue;
    const t = tally(r.manager_id);
    t.deals += num(r.created) ?? 0;
    t.won += num(r.won) ?? 0;
    t.lost += num(r.lost) ?? 0;
  }

  const today = localDate(ctx.now, ctx.tz);
  // Working days of the period elapsed so far, today included.
  const elapsedDays =
    period.to < today ? workingDays(period.from, period.to) : workingDays(period.from, today);
  const allowed = filters.managerIds === null ? null : new Set(filters.managerIds);
  const managers = managerRows.filter((m) => allowed === null || allowed.has(m.id));
  // Every active manager in view is listed (a silent one matters most); inactive ones only with data.
  const listed = managers.filter((m) => m.active || tallies.has(m.id));
  const withNone = allowed === null && tallies.has(NONE);
  const departmentName = new Map(departmentRows.map((d) => [d.id, d.name]));

  const figuresOf = (t: Tally, people: number): Figures => ({
    score: t.score,
    efficiency: ratio(t.score, companyScore),
    calls: t.calls,
    connected: t.connected,
    talk_time_total: t.talk,
    calls_per_day: people > 0 ? ratio(t.calls, elapsedDays * people) : null,
    calls_norm: norm,
    leads: t.leads,
    deals: t.deals,
    win_rate: ratio(t.won, t.won + t.lost),
  });

  const managersTotal = emptyTally();
  for (const m of listed) add(managersTotal, tallies.get(m.id) ?? emptyTally());
  const total = emptyTally();
  add(total, managersTotal);
  if (withNone) add(total, tallies.get(NONE) ?? emptyTally());

  let groups: EnvelopeGroup[];
  if (groupBy === 'department') {
    const byDept = new Map<string, { label: string; tally: Tally; people: number }>();
    for (const m of listed) {
      const key = m.department_id ?? 'no_department';
      let g = byDept.get(key);
      if (!g) {
        const label = m.department_id
          ? (departmentName.get(m.department_id) ?? m.department_id)
          : NO_DEPARTMENT_LABEL;
        g = { label, tally: emptyTally(), people: 0 };
        byDept.set(key, g);
      }
      add(g.tally, tallies.get(m.id) ?? emptyTally());
      g.people++;
    }
    groups = [...byDept].map(([key, g]) => ({ key, label: g.label, figures: figuresOf(g.tally, g.people) }));
    if (withNone) {
      groups.push({
        key: NONE,
        label: NO_MANAGER_LABEL,
        figures: figuresOf(tallies.get(NONE) ?? emptyTally(), 0),
      });
    }
  } else {
    groups = listed.map((m) => ({
      key: m.id,
      label: m.name,
      figures: figuresOf(tallies.get(m.id) ?? emptyTally(), 1),
    }));
    if (withNone) {
      groups.push({
        key: NONE,
        label: NO_MANAGER_LABEL,
        figures: figuresOf(tallies.get(NONE) ?? emptyTally(), 0),
      });
    }
  }
  groups.sort(
    (a, b) => (b.figures.score ?? 0) - (a.figures.score ?? 0) || a.label.localeCompare(b.label, 'ru'),
  );

  const notes = [
    `Балл активности: встреча ${weights.meeting}, звонок ${weights.call} (исходящий — любой, входящий — принятый), письмо ${weights.email}, дело ${weights.case}, прочее ${weights.other}; дела — по дате выполнения, задачи из таск-трекера не считаются.`,
    `Эффективность — доля балла от общего балла компании за период (${companyScore}).`,
    `Норма звонков — ${norm} в рабочий день; прошло рабочих дней: ${elapsedDays}.`,
  ];
  if (
    input.filters?.sources?.length ||
    input.filters?.pipelines?.length ||
    input.filters?.channels?.length ||
    input.filters?.campaigns?.length
  ) {
    notes.push(
      'Фильтры по источникам, воронкам, каналам и кампаниям к эффективности менеджеров не применяются.',
    );
  }

  return envelope('manager_efficiency', period, filters, {
    figures: {
      ...figuresOf(total, listed.length),
      // Per manager on average: calls without a manager are nobody's daily work.
      calls_per_day: listed.length ? ratio(managersTotal.calls, elapsedDays * listed.length) : null,
      company_score: companyScore,
    },
    groups,
    notes,
  });
}

export const managerTools: MetricTool[] = [
  {
    name: 'manager_efficiency',
    description:
      'Эффективность менеджеров за период (по умолчанию текущий месяц): балл активности, доля от балла компании, звонки, дозвоны, время разговоров, звонков в рабочий день против нормы, лиды и сделки в работе, конверсия сделок. По менеджерам (по убыванию балла) или по отделам. Показатели: score, company_score, efficiency, calls, connected, talk_time_total, calls_per_day, calls_norm, leads, deals, win_rate.',
    explain:
      'Балл активности: каждое выполненное в периоде дело — встреча 5, письмо 3, дело 2, прочее 1 — и каждый звонок, который менеджер сделал (исходящий, с любым результатом) или принял (входящий принятый), — 4. Эффективность = балл менеджера / балл всей компании за период, при любых фильтрах. Звонков в день = звонки / прошедшие рабочие дни периода (пн–пт), норма 60; лиды и сделки — созданные в периоде и закреплённые за менеджером; конверсия = выигранные / (выигранные + проигранные) среди закрытых в периоде.',
    defaultPeriod: 'this_month',
    groupBy: EFFICIENCY_GROUPS,
    options: [],
    run: managerEfficiency,
  },
];
