import type { Queryable } from '../db/client.ts';
import { ensureDealRollups } from '../db/rollups/deals.ts';
import { AppError } from '../errors.ts';
import {
  envelope,
  type MetricContext,
  NO_MANAGER_LABEL,
  normalizeName,
  num,
  type ResolvedFilters,
  ratio,
  resolveFilters,
} from './common.ts';
import { localDate, resolvePeriod } from './period.ts';
import type { MetricTool } from './tool.ts';
import type { Envelope, EnvelopeGroup, Figure, Figures, GroupBy, ToolInput } from './types.ts';

const DAY_MS = 86_400_000;

function civilMs(day: string): number {
  const [y, m, d] = day.split('-').map(Number);
  return Date.UTC(y ?? 1970, (m ?? 1) - 1, d ?? 1);
}

/**
 * Рабочие дни (Mon–Fri) from `from` to `to`, both inclusive local dates;
 * 0 when `to` is before `from`. Public holidays are not modelled (METRICS.md "Sales plan").
 */
export function workingDays(from: string, to: string): number {
  const a = civilMs(from);
  const b = civilMs(to);
  if (b < a) return 0;
  const days = Math.round((b - a) / DAY_MS) + 1;
  let n = Math.floor(days / 7) * 5;
  const firstWeekday = new Date(a).getUTCDay();
  for (let i = 0; i < days % 7; i++) {
    const wd = (firstWeekday + i) % 7;
    if (wd !== 0 && wd !== 6) n++;
  }
  return n;
}

/** Last local day of a `YYYY-MM` month. */
function monthLastDay(month: string): string {
  const [y, m] = month.split('-').map(Number);
  const d = new Date(Date.UTC(y ?? 1970, m ?? 1, 0)).getUTCDate();
  return `${month}-${String(d).padStart(2, '0')}`;
}

function nextMonth(month: string): string {
  const [y, m] = month.split('-').map(Number);
  const idx = (y ?? 1970) * 12 + (m ?? 1);
  return `${Math.floor(idx / 12)}-${String((idx % 12) + 1).padStart(2, '0')}`;
}

/** The `YYYY-MM` months that intersect `[from, to]`. */
function monthsBetween(from: string, to: string): string[] {
  const out: string[] = [];
  const last = to.slice(0, 7);
  for (let m = from.slice(0, 7); m <= last; m = nextMonth(m)) out.push(m);
  return out;
}

interface PlanRow {
  month: string;
  target: number;
  managerId: string | null;
  departmentId: string | null;
  pipelineId: string | null;
}

interface FactRow {
  month: string;
  managerId: string | null;
  pipelineId: string;
  won: number;
  wonAmount: number;
}

/** A plan row chosen for a figure, with the managers whose deals make its fact (null = every deal). */
interface ChosenRow {
  row: PlanRow;
  managers: ReadonlySet<string> | null;
}

interface MonthFigures {
  month: string;
  plan: number | null;
  fact: number;
}

interface Org {
  managerName: Map<string, string>;
  managerDept: Map<string, string | null>;
  deptName: Map<string, string>;
  children: Map<string, string[]>;
}

async function loadOrg(db: Queryable): Promise<Org> {
  const [deps, mans] = await Promise.all([
    db.query<{ id: string; name: string; parent_id: string | null }>(
      'SELECT id, name, parent_id FROM departments',
    ),
    db.query<{ id: string; name: string; department_id: string | null }>(
      'SELECT id, name, department_id FROM managers',
    ),
  ]);
  const children = new Map<string, string[]>();
  for (const d of deps) {
    if (!d.parent_id) continue;
    const list = children.get(d.parent_id) ?? [];
    list.push(d.id);
    children.set(d.parent_id, list);
  }
  return {
    managerName: new Map(mans.map((m) => [m.id, m.name])),
    managerDept: new Map(mans.map((m) => [m.id, m.department_id])),
    deptName: new Map(deps.map((d) => [d.id, d.name])),
    children,
  };
}

/** A department and all its sub-departments. */
function deptTree(org: Org, root: string): Set<string> {
  const seen = new Set<string>([root]);
  const stack = [root];
  while (stack.length) {
    const id = stack.pop() as string;
    for (const c of org.children.get(id) ?? []) {
      if (!seen.has(c)) {
        seen.add(c);
        stack.push(c);
      }
    }
  }
  return seen;
}

function managersOfTree(org: Org, root: string): Set<string> {
  const tree = deptTree(org, root);
  const out = new Set<string>();
  for (const [id, dept] of org.managerDept) if (dept && tree.has(dept)) out.add(id);
  return out;
}

/**
 * Which rows of one plan-holder (a manager, a department or the company) in
 * one month count: the rows without a pipeline when there are any, otherwise
 * the pipeline rows — so an overall plan and a pipeline plan are never added.
 */
function preferOverall(rows: PlanRow[]): PlanRow[] {
  const overall = rows.filter((r) => r.pipelineId === null);
  return overall.length ? overall : rows;
}

/** How the headline picks its plan rows (METRICS.md "Precise readings: Plan"). */
type Level =
  | { kind: 'company' }
  | { kind: 'managers' }
  | { kind: 'departments'; ids: string[] }
  | { kind: 'head'; departmentId: string | null };

function outOfScope(): AppError {
  return new AppError(
    'out_of_scope',
    'Head asked for a department plan outside their tree',
    'Эти данные вам недоступны: можно смотреть только свои показатели и показатели своего отдела.',
  );
}

/** Department filter values (ids or names, case- and ё-insensitive) → ids, dropping ones nested in another. */
function filteredDepartments(org: Org, values: string[]): string[] {
  const ids: string[] = [];
  for (const v of values) {
    const wanted = normalizeName(v);
    for (const [id, name] of org.deptName) {
      if ((id === v || normalizeName(name) === wanted) && !ids.includes(id)) ids.push(id);
    }
  }
  return ids.filter((id) => !ids.some((other) => other !== id && deptTree(org, other).has(id)));
}

class PlanBook {
  private readonly rowsByMonth = new Map<string, PlanRow[]>();
  private readonly factsByMonth = new Map<string, FactRow[]>();
  private readonly factsByManager = new Map<string, FactRow[]>();
  private readonly treeManagers = new Map<string, Set<string>>();

  constructor(
    rows: PlanRow[],
    facts: FactRow[],
    private readonly org: Org,
    private readonly metric: 'amount' | 'count',
    private readonly pipelineIds: string[] | null,
  ) {
    const push = <T>(map: Map<string, T[]>, key: string, value: T) => {
      const list = map.get(key);
      if (list) list.push(value);
      else map.set(key, [value]);
    };
    for (const r of rows) push(this.rowsByMonth, r.month, r);
    for (const f of facts) {
      push(this.factsByMonth, f.month, f);
      if (f.managerId !== null) push(this.factsByManager, `${f.month}|${f.managerId}`, f);
    }
  }

  private monthRows(month: string): PlanRow[] {
    return this.rowsByMonth.get(month) ?? [];
  }

  /** Managers of a department tree, computed once per department. */
  managersOf(departmentId: string): Set<string> {
    let set = this.treeManagers.get(departmentId);
    if (!set) {
      set = managersOfTree(this.org, departmentId);
      this.treeManagers.set(departmentId, set);
    }
    return set;
  }

  /** Manager rows of a month, per manager, for the given managers (null = all). */
  managerRows(month: string, managerIds: ReadonlySet<string> | null): ChosenRow[] {
    const byManager = new Map<string, PlanRow[]>();
    for (const r of this.monthRows(month)) {
      if (r.managerId === null) continue;
      if (managerIds && !managerIds.has(r.managerId)) continue;
      const list = byManager.get(r.managerId) ?? [];
      list.push(r);
      byManager.set(r.managerId, list);
    }
    const out: ChosenRow[] = [];
    for (const [id, list] of byManager) {
      for (const row of preferOverall(list)) out.push({ row, managers: new Set([id]) });
    }
    return out;
  }

  companyRows(month: string): ChosenRow[] {
    const rows = this.monthRows(month).filter((r) => r.managerId === null && r.departmentId === null);
    return preferOverall(rows).map((row) => ({ row, managers: null }));
  }

  departmentRows(month: string, departmentId: string): ChosenRow[] {
    const rows = this.monthRows(month).filter((r) => r.managerId === null && r.departmentId === departmentId);
    const managers = this.managersOf(departmentId);
    return preferOverall(rows).map((row) => ({ row, managers }));
  }

  /** The headline's rows for one month, by the level's rule. */
  headlineRows(month: string, level: Level, scope: ReadonlySet<string> | null): ChosenRow[] {
    switch (level.kind) {
      case 'company': {
        const company = this.companyRows(month);
        return company.length ? company : this.managerRows(month, scope);
      }
      case 'managers':
        return this.managerRows(month, scope);
      case 'head': {
        const own = level.departmentId ? this.departmentRows(month, level.departmentId) : [];
        return own.length ? own : this.managerRows(month, scope);
      }
      case 'departments': {
        const out: ChosenRow[] = [];
        for (const d of level.ids) {
          const own = this.departmentRows(month, d);
          if (own.length) {
            out.push(...own);
            continue;
          }
          const inTree = this.managersOf(d);
          const managers = scope ? new Set([...inTree].filter((id) => scope.has(id))) : inTree;
          out.push(...this.managerRows(month, managers));
        }
        return out;
      }
    }
  }

  /** Won amount (or count) of deals closed in the month, of these managers (null = all deals) and pipeline. */
  fact(month: string, managers: ReadonlySet<string> | null, pipelineId: string | null): number {
    const candidates = managers
      ? [...managers].flatMap((id) => this.factsByManager.get(`${month}|${id}`) ?? [])
      : (this.factsByMonth.get(month) ?? []);
    let sum = 0;
    for (const f of candidates) {
      if (pipelineId !== null && f.pipelineId !== pipelineId) continue;
      if (pipelineId === null && this.pipelineIds && !this.pipelineIds.includes(f.pipelineId)) continue;
      sum += this.metric === 'amount' ? f.wonAmount : f.won;
    }
    return sum;
  }

  figuresOf(month: string, chosen: ChosenRow[]): MonthFigures | null {
    if (chosen.length === 0) return null;
    let plan = 0;
    let fact = 0;
    for (const c of chosen) {
      plan += c.row.target;
      fact += this.fact(month, c.managers, c.row.pipelineId);
    }
    return { month, plan, fact };
  }
}

/**
 * Прогноз (run rate) of each month: a finished month's forecast is its fact;
 * the current month's is fact / elapsed working days (today included) × its
 * working days; a month not begun yet is projected at the pace of the elapsed
 * part of these months. Null when no working day has elapsed to take a pace from.
 */
export function runRateForecasts(months: readonly MonthFigures[], today: string): Figure[] {
  const thisMonth = today.slice(0, 7);
  let elapsedFact = 0;
  let elapsedDays = 0;
  for (const m of months) {
    if (m.month > thisMonth) continue;
    elapsedFact += m.fact;
    elapsedDays +=
      m.month < thisMonth
        ? workingDays(`${m.month}-01`, monthLastDay(m.month))
        : workingDays(`${m.month}-01`, today);
  }
  const pace = elapsedDays ? elapsedFact / elapsedDays : null;
  return months.map((m) => {
    if (m.month < thisMonth) return m.fact;
    const full = workingDays(`${m.month}-01`, monthLastDay(m.month));
    if (m.month === thisMonth) {
      const elapsed = workingDays(`${m.month}-01`, today);
      return elapsed ? (m.fact / elapsed) * full : null;
    }
    return pace === null ? null : pace * full;
  });
}

function sumOrNull(values: readonly Figure[]): Figure {
  let s = 0;
  for (const v of values) {
    if (v === null) return null;
    s += v;
  }
  return s;
}

function planFigures(months: readonly MonthFigures[], forecasts: readonly Figure[]): Figures {
  const planned = months.filter((m) => m.plan !== null);
  const plan = planned.length ? planned.reduce((s, m) => s + (m.plan ?? 0), 0) : null;
  const fact = months.reduce((s, m) => s + m.fact, 0);
  const forecast = sumOrNull(forecasts);
  return {
    plan,
    fact,
    completion: ratio(fact, plan),
    forecast,
    forecast_completion: ratio(forecast, plan),
  };
}

const PLAN_GROUPS: readonly GroupBy[] = ['manager', 'month'];

/** Who the figures are about, for the note. */
function levelNote(level: Level, usedOwn: boolean, org: Org, metricWord: string): string {
  switch (level.kind) {
    case 'company':
      return usedOwn
        ? `План компании (${metricWord}).`
        : `Плана компании нет — взята сумма планов менеджеров (${metricWord}).`;
    case 'managers':
      return `Сумма планов выбранных менеджеров (${metricWord}).`;
    case 'head': {
      const name = level.departmentId ? (org.deptName.get(level.departmentId) ?? level.departmentId) : '';
      return usedOwn
        ? `План отдела «${name}» (${metricWord}).`
        : `Плана отдела нет — взята сумма планов менеджеров отдела (${metricWord}).`;
    }
    case 'departments': {
      const names = level.ids.map((d) => `«${org.deptName.get(d) ?? d}»`).join(', ');
      return usedOwn
        ? `План отдела ${names} (${metricWord}); где плана отдела нет — сумма планов его менеджеров.`
        : `Плана отдела ${names} нет — взята сумма планов его менеджеров (${metricWord}).`;
    }
  }
}

/**
 * План продаж: plan, fact, completion and run-rate forecast over the whole
 * months that intersect the period (METRICS.md "Sales plan", "Precise readings: Plan").
 */
/**
 * Won deals ("Продажи" of the plan fact) per local month of closing, manager
 * and pipeline, for the months `first`..`last` (YYYY-MM): the month rows of the
 * deal rollup (kind w = closed that day, by current stage; level mm keeps the
 * manager and drops the source).
 */
export async function wonDealsByMonth(
  ctx: Pick<MetricContext, 'db' | 'tz'>,
  first: string,
  last: string,
): Promise<
  Array<{ month: string; manager_id: string | null; pipeline_id: string; won: number; won_amount: number }>
> {
  await ensureDealRollups(ctx.db, ctx.tz);
  return ctx.db.query(
    `SELECT to_char(r.day, 'YYYY-MM') AS month, r.manager_id, r.pipeline_id,
            sum(r.deals)::int8 AS won, coalesce(sum(r.amount), 0)::numeric AS won_amount
       FROM deal_rollup r JOIN stages s ON s.id = r.stage_id AND s.semantic = 'won'
      WHERE r.level = 'mm' AND r.kind = 'w' AND r.day >= $1::date AND r.day <= $2::date
      GROUP BY 1, 2, 3`,
    [`${first}-01`, `${last}-01`],
  );
}

export async function planProgress(ctx: MetricContext, input: ToolInput): Promise<Envelope> {
  const groupBy = input.group_by;
  if (groupBy && !PLAN_GROUPS.includes(groupBy)) {
    throw new AppError(
      'unsupported_group_by',
      `plan_progress cannot group by ${groupBy}`,
      'План можно разбить только по менеджерам или по месяцам.',
    );
  }
  const asked = resolvePeriod(input.period, { now: ctx.now, tz: ctx.tz, defaultName: 'this_month' });
  const months = monthsBetween(asked.from, asked.to);
  const first = months[0] as string;
  const last = months[months.length - 1] as string;
  const wholeFrom = `${first}-01`;
  const wholeTo = monthLastDay(last);
  const period =
    wholeFrom === asked.from && wholeTo === asked.to
      ? asked
      : resolvePeriod({ from: wholeFrom, to: wholeTo }, { now: ctx.now, tz: ctx.tz });
  const metric = input.metric ?? 'amount';
  const f = input.filters ?? {};
  const filters: ResolvedFilters = await resolveFilters(ctx.db, ctx.caller, {
    ...(f.managers ? { managers: f.managers } : {}),
    ...(f.departments ? { departments: f.departments } : {}),
    ...(f.pipelines ? { pipelines: f.pipelines } : {}),
  });
  const org = await loadOrg(ctx.db);

  const [planRows, factRows] = await Promise.all([
    ctx.db.query<{
      month: string;
      target: number;
      manager_id: string | null;
      department_id: string | null;
      pipeline_id: string | null;
    }>(
      `SELECT month, target, manager_id, department_id, pipeline_id FROM plans
        WHERE month = ANY($1::text[]) AND metric = $2`,
      [months, metric],
    ),
    wonDealsByMonth(ctx, first, last),
  ]);
  const pipelineIds = filters.pipelineIds;
  const rows: PlanRow[] = planRows
    .map((r) => ({
      month: r.month,
      target: num(r.target) ?? 0,
      managerId: r.manager_id,
      departmentId: r.department_id,
      pipelineId: r.pipeline_id,
    }))
    .filter((r) => (pipelineIds ? r.pipelineId !== null && pipelineIds.includes(r.pipelineId) : true));
  const facts: FactRow[] = factRows.map((f) => ({
    month: f.month,
    managerId: f.manager_id,
    pipelineId: f.pipeline_id,
    won: num(f.won) ?? 0,
    wonAmount: num(f.won_amount) ?? 0,
  }));
  const book = new PlanBook(rows, facts, org, metric, pipelineIds);

  const scope = filters.managerIds === null ? null : new Set(filters.managerIds);
  const hasManagerFilter = Boolean(input.filters?.managers?.length);
  const departmentValues = input.filters?.departments ?? [];
  let level: Level;
  if (ctx.caller.role === 'manager' || hasManagerFilter) {
    level = { kind: 'managers' };
  } else if (departmentValues.length) {
    const ids = filteredDepartments(org, departmentValues);
    if (ctx.caller.role === 'head') {
      const headDept = ctx.caller.managerId ? org.managerDept.get(ctx.caller.managerId) : null;
      const allowed = headDept ? deptTree(org, headDept) : new Set<string>();
      if (ids.some((d) => !allowed.has(d))) throw outOfScope();
    }
    level = { kind: 'departments', ids };
  } else if (ctx.caller.role === 'head') {
    level = {
      kind: 'head',
      departmentId: (ctx.caller.managerId && org.managerDept.get(ctx.caller.managerId)) || null,
    };
  } else {
    level = { kind: 'company' };
  }

  const today = localDate(ctx.now, ctx.tz);
  /** Fact of the filtered set for a month that has no plan: every deal in scope and pipelines. */
  const plainFact = (month: string) => book.fact(month, scope, null);

  const headline: MonthFigures[] = [];
  const perMonth: MonthFigures[] = [];
  const unplanned: string[] = [];
  let usedOwn = false;
  for (const month of months) {
    const chosen = book.headlineRows(month, level, scope);
    if (chosen.some((c) => c.row.managerId === null)) usedOwn = true;
    const figs = book.figuresOf(month, chosen);
    if (figs) {
      headline.push(figs);
      perMonth.push(figs);
    } else {
      unplanned.push(month);
      perMonth.push({ month, plan: null, fact: plainFact(month) });
    }
  }

  const metricWord = metric === 'amount' ? 'по сумме продаж, ₽' : 'по количеству успешных сделок';
  const notes: string[] = [];
  if (f.sources?.length || f.channels?.length || f.campaigns?.length) {
    notes.push(
      'План задаётся по менеджерам, отделам и воронкам: фильтры по источникам, каналам и кампаниям к нему не применяются.',
    );
  }
  if (period !== asked) notes.push(`Месяцы считаются целиком: ${period.label}.`);
  let figures: Figures;
  if (headline.length === 0) {
    figures = planFigures(perMonth, runRateForecasts(perMonth, today));
    notes.push(`План ${metricWord} на этот период не задан — показан только факт.`);
  } else {
    figures = planFigures(headline, runRateForecasts(headline, today));
    notes.push(levelNote(level, usedOwn, org, metricWord));
    if (unplanned.length) {
      notes.push(`На ${unplanned.join(', ')} план не задан — эти месяцы не входят ни в план, ни в факт.`);
    }
  }
  notes.push(
    'Факт — успешные сделки, закрытые в месяце, по текущему ответственному. Прогноз — по темпу: факт / прошедшие рабочие дни (пн–пт, сегодня включительно) × рабочие дни месяца; у завершённого месяца прогноз равен факту.',
  );

  let groups: EnvelopeGroup[] | undefined;
  if (groupBy === 'month') {
    const forecasts = runRateForecasts(perMonth, today);
    groups = perMonth.map((m, i) => ({
      key: m.month,
      label: m.month,
      figures: planFigures([m], [forecasts[i] ?? null]),
    }));
  } else if (groupBy === 'manager') {
    const perManager = new Map<string, MonthFigures[]>();
    for (const month of months) {
      const byManager = new Map<string, ChosenRow[]>();
      for (const c of book.managerRows(month, scope)) {
        const id = c.row.managerId as string;
        const list = byManager.get(id) ?? [];
        list.push(c);
        byManager.set(id, list);
      }
      for (const [id, chosen] of byManager) {
        const figs = book.figuresOf(month, chosen);
        if (!figs) continue;
        const list = perManager.get(id) ?? [];
        list.push(figs);
        perManager.set(id, list);
      }
    }
    groups = [...perManager].map(([id, ms]) => ({
      key: id,
      label: org.managerName.get(id) ?? NO_MANAGER_LABEL,
      figures: planFigures(ms, runRateForecasts(ms, today)),
    }));
    // Ascending by completion: "кто не выполняет план" reads from the top.
    groups.sort((a, b) => {
      const x = a.figures.completion;
      const y = b.figures.completion;
      if (x === null || x === undefined)
        return y === null || y === undefined ? a.label.localeCompare(b.label, 'ru') : 1;
      if (y === null || y === undefined) return -1;
      return x - y || a.label.localeCompare(b.label, 'ru');
    });
  }

  return envelope('plan_progress', period, filters, {
    figures,
    ...(groups ? { groups } : {}),
    notes,
  });
}

export const planTools: MetricTool[] = [
  {
    name: 'plan_progress',
    description:
      'План продаж: план, факт, выполнение и прогноз выполнения по темпу — за месяцы периода (по умолчанию текущий месяц), по сумме (metric=amount) или по количеству сделок (metric=count). Можно по менеджерам («кто не выполняет план») или по месяцам. Показатели: plan, fact, completion, forecast, forecast_completion.',
    explain:
      'План берётся на каждый месяц, который задевает период, целиком; квартал и год — сумма месяцев. Факт — сумма (или число) успешных сделок, закрытых в месяце, у менеджера, отдела или воронки этого плана; сделка засчитывается текущему ответственному. Выполнение = факт / план. Прогноз — по темпу: факт / прошедшие рабочие дни (пн–пт, сегодня включительно) × рабочие дни месяца, у завершённого месяца прогноз равен факту.',
    defaultPeriod: 'this_month',
    groupBy: PLAN_GROUPS,
    options: ['metric'],
    run: planProgress,
  },
];
