import type { Queryable } from '../db/client.ts';
import { AppError } from '../errors.ts';
import { type ResolvedPeriod, resolvePeriod } from './period.ts';
import type { Caller, Envelope, Figure, Filters, ToolInput } from './types.ts';

/** Activity score weights ("Балл активности", METRICS.md "Managers"); configurable. */
export interface ScoreWeights {
  meeting: number;
  call: number;
  email: number;
  case: number;
  other: number;
}

export const DEFAULT_WEIGHTS: ScoreWeights = { meeting: 5, call: 4, email: 3, case: 2, other: 1 };

/** Everything a metric function needs besides its input. */
export interface MetricContext {
  db: Queryable;
  caller: Caller;
  /** Company IANA time zone (COMPANY_TZ). */
  tz: string;
  /** The moment of asking; injectable for tests and `--now`. */
  now: Date;
  weights?: ScoreWeights;
  /** Calls per working day norm for manager efficiency (default 60). */
  callsPerDayNorm?: number;
}

export type MetricFn = (ctx: MetricContext, input: ToolInput) => Promise<Envelope>;

export const NO_MANAGER_LABEL = 'Без менеджера';
export const NO_CHANNEL_LABEL = 'Без канала';
export const NO_SOURCE_LABEL = 'Без источника';

/** Collects `$n` parameters while an SQL text is assembled. */
export class Params {
  readonly values: unknown[] = [];
  add(value: unknown): string {
    this.values.push(value);
    return `$${this.values.length}`;
  }
}

/** A share in [0, 1], or null for a zero denominator (never 0 or NaN). */
export function ratio(numerator: number | null | undefined, denominator: number | null | undefined): Figure {
  if (numerator === null || numerator === undefined || !denominator) return null;
  return numerator / denominator;
}

/** Lowercase, ё → е, collapsed spaces: how user-typed names are compared. */
export function normalizeName(s: string): string {
  return s.toLowerCase().replace(/ё/g, 'е').replace(/\s+/g, ' ').trim();
}

/**
 * Manager ids the caller may see: null = everyone (admin); a manager sees only
 * themselves; a head sees every manager of their department and its
 * sub-departments. Comes from the authenticated caller, never the question.
 */
export async function scopeManagerIds(db: Queryable, caller: Caller): Promise<string[] | null> {
  if (caller.role === 'admin') return null;
  if (!caller.managerId) return [];
  if (caller.role === 'manager') return [caller.managerId];
  const rows = await db.query<{ id: string }>(
    `WITH RECURSIVE tree AS (
       SELECT d.id FROM departments d JOIN managers m ON m.department_id = d.id WHERE m.id = $1
       UNION SELECT d.id FROM departments d JOIN tree t ON d.parent_id = t.id
     )
     SELECT id FROM managers WHERE department_id IN (SELECT id FROM tree) OR id = $1`,
    [caller.managerId],
  );
  return rows.map((r) => r.id);
}

export interface ResolvedFilters {
  /** Manager ids to include (intersection of scope and filters), or null for no restriction. */
  managerIds: string[] | null;
  sourceIds: string[] | null;
  pipelineIds: string[] | null;
  /** Phone line numbers of the requested channels. */
  lineNumbers: string[] | null;
  campaigns: string[] | null;
  /** Display names of what was filtered, for the envelope and the answer text. */
  echo: Record<string, string[]>;
}

async function resolveNames(
  db: Queryable,
  table: string,
  idCol: string,
  values: string[],
  what: string,
): Promise<{ ids: string[]; names: string[] }> {
  const rows = await db.query<{ id: string; name: string }>(`SELECT ${idCol} AS id, name FROM ${table}`);
  const ids: string[] = [];
  const names: string[] = [];
  for (const value of values) {
    const wanted = normalizeName(value);
    const hits = rows.filter((r) => r.id === value || normalizeName(r.name) === wanted);
    if (hits.length === 0) {
      throw new AppError(
        'unknown_filter',
        `Unknown ${table} filter value "${value}"`,
        `Не нашёл ${what} «${value}».`,
      );
    }
    for (const h of hits) {
      ids.push(h.id);
      if (!names.includes(h.name)) names.push(h.name);
    }
  }
  return { ids, names };
}

/**
 * Turns the tool's filters (ids or display names, case- and ё-insensitive)
 * into ids, intersected with the caller's scope. Departments include their
 * sub-departments.
 */
export async function resolveFilters(
  db: Queryable,
  caller: Caller,
  filters: Filters | undefined,
): Promise<ResolvedFilters> {
  const f = filters ?? {};
  const echo: Record<string, string[]> = {};
  let managerIds = await scopeManagerIds(db, caller);
  const intersect = (ids: string[]) => {
    managerIds = managerIds === null ? ids : managerIds.filter((id) => ids.includes(id));
  };
  if (f.managers?.length) {
    const r = await resolveNames(db, 'managers', 'id', f.managers, 'менеджера');
    const scope = managerIds;
    if (scope !== null && r.ids.some((id) => !scope.includes(id))) {
      throw new AppError(
        'out_of_scope',
        `Caller ${caller.role}:${caller.managerId} asked for managers outside their scope`,
        'Эти данные вам недоступны: можно смотреть только свои показатели' +
          (caller.role === 'head' ? ' и показатели своего отдела.' : '.'),
      );
    }
    intersect(r.ids);
    echo.managers = r.names;
  }
  if (f.departments?.length) {
    const r = await resolveNames(db, 'departments', 'id', f.departments, 'отдел');
    const rows = await db.query<{ id: string }>(
      `WITH RECURSIVE tree AS (
         SELECT id FROM departments WHERE id = ANY($1::text[])
         UNION SELECT d.id FROM departments d JOIN tree t ON d.parent_id = t.id
       ) SELECT id FROM managers WHERE department_id IN (SELECT id FROM tree)`,
      [r.ids],
    );
    intersect(rows.map((x) => x.id));
    echo.departments = r.names;
  }
  let sourceIds: string[] | null = null;
  if (f.sources?.length) {
    const r = await resolveNames(db, 'sources', 'id', f.sources, 'источник');
    sourceIds = r.ids;
    echo.sources = r.names;
  }
  let pipelineIds: string[] | null = null;
  if (f.pipelines?.length) {
    const r = await resolveNames(db, 'pipelines', 'id', f.pipelines, 'воронку');
    pipelineIds = r.ids;
    echo.pipelines = r.names;
  }
  let lineNumbers: string[] | null = null;
  if (f.channels?.length) {
    const r = await resolveNames(db, 'phone_lines', 'number', f.channels, 'канал');
    lineNumbers = r.ids;
    echo.channels = r.names;
  }
  let campaigns: string[] | null = null;
  if (f.campaigns?.length) {
    campaigns = f.campaigns;
    echo.campaigns = f.campaigns;
  }
  return { managerIds, sourceIds, pipelineIds, lineNumbers, campaigns, echo };
}

/** `AND col = ANY(...)` for a resolved id list, or nothing when unrestricted. */
export function anyOf(p: Params, column: string, ids: string[] | null): string {
  return ids === null ? '' : ` AND ${column} = ANY(${p.add(ids)}::text[])`;
}

export function periodOf(ctx: MetricContext, input: ToolInput, defaultName: string): ResolvedPeriod {
  return resolvePeriod(input.period, { now: ctx.now, tz: ctx.tz, defaultName });
}

/** The reference moment of a snapshot figure: now, or the end of a past period. */
export function referenceMoment(ctx: MetricContext, period: ResolvedPeriod | undefined): Date {
  if (!period) return ctx.now;
  return period.end.getTime() < ctx.now.getTime() ? period.end : ctx.now;
}

export function envelope(
  metric: string,
  period: ResolvedPeriod,
  filters: ResolvedFilters,
  body: Omit<Envelope, 'metric' | 'period' | 'filters'>,
): Envelope {
  return { metric, period: { from: period.from, to: period.to }, filters: filters.echo, ...body };
}

/** Numbers from SQL rows: drivers return numbers already; null stays null. */
export function num(v: unknown): number | null {
  if (v === null || v === undefined) return null;
  const n = typeof v === 'number' ? v : Number(v);
  return Number.isFinite(n) ? n : null;
}
