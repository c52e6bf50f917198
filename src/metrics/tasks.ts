import { AppError } from '../errors.ts';
import {
  anyOf,
  envelope,
  type MetricContext,
  num,
  Params,
  periodOf,
  ratio,
  referenceMoment,
  resolveFilters,
} from './common.ts';
import { startOfLocalDay } from './period.ts';
import type { MetricTool } from './tool.ts';
import type { Envelope, EnvelopeGroup, EnvelopeItem, Figure, Figures, GroupBy, ToolInput } from './types.ts';

/** Норма коэффициента исполнительности: 0.8 started on time × 0.8 finished on time. */
export const EXECUTION_NORM = 0.64;
const NO_DEPARTMENT_LABEL = 'Без отдела';
const TASK_GROUPS: readonly GroupBy[] = ['manager', 'department'];
const DAY_MS = 86_400_000;

function addDays(day: string, n: number): string {
  const [y, m, d] = day.split('-').map(Number);
  return new Date(Date.UTC(y ?? 1970, (m ?? 1) - 1, (d ?? 1) + n)).toISOString().slice(0, 10);
}

/** ISO weekday of a local date, Monday = 1 … Sunday = 7. */
function isoWeekday(day: string): number {
  const [y, m, d] = day.split('-').map(Number);
  const wd = new Date(Date.UTC(y ?? 1970, (m ?? 1) - 1, d ?? 1)).getUTCDay();
  return wd === 0 ? 7 : wd;
}

interface Week {
  from: string;
  to: string;
  /** The moment the week's overdue count is taken: its end, but never after now. */
  at: Date;
}

/** Mon–Sun weeks of the period, clipped to it, that have begun by now. */
function weeksOf(from: string, to: string, tz: string, now: Date): Week[] {
  const weeks: Week[] = [];
  for (let start = from; start <= to; ) {
    const sunday = addDays(start, 7 - isoWeekday(start));
    const end = sunday < to ? sunday : to;
    if (startOfLocalDay(start, tz) > now) break;
    const endInstant = startOfLocalDay(addDays(end, 1), tz);
    weeks.push({ from: start, to: end, at: endInstant < now ? endInstant : now });
    start = addDays(end, 1);
  }
  return weeks;
}

function ddmm(day: string): string {
  return `${day.slice(8, 10)}.${day.slice(5, 7)}`;
}

interface Counts {
  tasks: number;
  startedOnTime: number;
  finishedOnTime: number;
  overdue: number;
}

function disciplineFigures(c: Counts): Figures {
  const started = ratio(c.startedOnTime, c.tasks);
  const finished = ratio(c.finishedOnTime, c.tasks);
  const coefficient: Figure = started === null || finished === null ? null : started * finished;
  return {
    tasks: c.tasks,
    started_on_time: started,
    finished_on_time: finished,
    execution_coefficient: coefficient,
    norm: EXECUTION_NORM,
    overdue: c.overdue,
  };
}

/**
 * Производительность команды: tasks started and finished on time, the
 * execution coefficient against its norm, and overdue tasks with their weekly
 * accumulation (METRICS.md "Tasks", "Precise readings: Tasks").
 */
export async function taskDiscipline(ctx: MetricContext, input: ToolInput): Promise<Envelope> {
  const groupBy = input.group_by;
  if (groupBy && !TASK_GROUPS.includes(groupBy)) {
    throw new AppError(
      'unsupported_group_by',
      `task_discipline cannot group by ${groupBy}`,
      'Исполнительность можно разбить только по менеджерам или по отделам.',
    );
  }
  const period = periodOf(ctx, input, 'this_month');
  const filters = await resolveFilters(ctx.db, ctx.caller, {
    ...(input.filters?.managers ? { managers: input.filters.managers } : {}),
    ...(input.filters?.departments ? { departments: input.filters.departments } : {}),
  });
  const reference = referenceMoment(ctx, period);
  const weeks = weeksOf(period.from, period.to, ctx.tz, ctx.now);

  // A task's department is its own, else its responsible's.
  const keySql =
    groupBy === 'manager'
      ? 't.responsible_id'
      : groupBy === 'department'
        ? `coalesce(t.department_id, m.department_id, '')`
        : `''`;
  const join = groupBy === 'department' ? 'LEFT JOIN managers m ON m.id = t.responsible_id' : '';

  const pp = new Params();
  const periodSql = `
    SELECT ${keySql} AS key,
           count(*)::int8 AS tasks,
           count(*) FILTER (WHERE t.started_at IS NOT NULL AND CASE
                              WHEN t.start_plan_at IS NOT NULL THEN t.started_at <= t.start_plan_at
                              ELSE t.started_at < t.deadline_at END)::int8 AS started_on_time,
           count(*) FILTER (WHERE t.closed_at IS NOT NULL AND t.closed_at <= t.deadline_at)::int8 AS finished_on_time
      FROM tasks t ${join}
     WHERE t.deadline_at >= ${pp.add(period.start)}::timestamptz AND t.deadline_at < ${pp.add(period.end)}::timestamptz
       AND (t.deadline_at <= ${pp.add(ctx.now)}::timestamptz OR t.closed_at IS NOT NULL)
       ${anyOf(pp, 't.responsible_id', filters.managerIds)}
     GROUP BY 1`;

  // Overdue at R and at the end of each week in one pass over the tasks due before R.
  const op = new Params();
  const r = op.add(reference);
  const overdueAt = (at: string) =>
    `count(*) FILTER (WHERE t.deadline_at < ${at}::timestamptz AND (t.closed_at IS NULL OR t.closed_at > ${at}::timestamptz))::int8`;
  const weekCols = weeks.map((w, i) => `, ${overdueAt(op.add(w.at))} AS w${i}`).join('');
  const earliest = new Date(Math.min(reference.getTime(), ...weeks.map((w) => w.at.getTime())));
  const overdueSql = `
    SELECT ${keySql} AS key, ${overdueAt(r)} AS overdue${weekCols}
      FROM tasks t ${join}
     WHERE t.deadline_at < ${r}::timestamptz
       AND (t.closed_at IS NULL OR t.closed_at > ${op.add(earliest)}::timestamptz)
       ${anyOf(op, 't.responsible_id', filters.managerIds)}
     GROUP BY 1`;

  const limit = input.limit;
  const ip = new Params();
  const itemsSql = `
    SELECT t.id, t.title, m.name AS manager, t.deadline_at
      FROM tasks t LEFT JOIN managers m ON m.id = t.responsible_id
     WHERE t.deadline_at < ${ip.add(reference)}::timestamptz
       AND (t.closed_at IS NULL OR t.closed_at > ${ip.add(reference)}::timestamptz)
       ${anyOf(ip, 't.responsible_id', filters.managerIds)}
     ORDER BY t.deadline_at, t.id
     LIMIT ${ip.add(limit ?? 0)}`;

  const [periodRows, overdueRows, itemRows, names] = await Promise.all([
    ctx.db.query<{ key: string; tasks: number; started_on_time: number; finished_on_time: number }>(
      periodSql,
      pp.values,
    ),
    ctx.db.query<Record<string, unknown>>(overdueSql, op.values),
    limit
      ? ctx.db.query<{ id: string; title: string | null; manager: string | null; deadline_at: Date }>(
          itemsSql,
          ip.values,
        )
      : Promise.resolve([]),
    groupBy === 'manager'
      ? ctx.db.query<{ id: string; name: string }>('SELECT id, name FROM managers')
      : groupBy === 'department'
        ? ctx.db.query<{ id: string; name: string }>('SELECT id, name FROM departments')
        : Promise.resolve([]),
  ]);

  const byKey = new Map<string, Counts>();
  const counts = (key: string): Counts => {
    let c = byKey.get(key);
    if (!c) {
      c = { tasks: 0, startedOnTime: 0, finishedOnTime: 0, overdue: 0 };
      byKey.set(key, c);
    }
    return c;
  };
  for (const row of periodRows) {
    const c = counts(row.key);
    c.tasks += num(row.tasks) ?? 0;
    c.startedOnTime += num(row.started_on_time) ?? 0;
    c.finishedOnTime += num(row.finished_on_time) ?? 0;
  }
  const weekly = weeks.map(() => 0);
  for (const row of overdueRows) {
    counts(String(row.key)).overdue += num(row.overdue) ?? 0;
    weeks.forEach((_, i) => {
      weekly[i] = (weekly[i] ?? 0) + (num(row[`w${i}`]) ?? 0);
    });
  }

  const total: Counts = { tasks: 0, startedOnTime: 0, finishedOnTime: 0, overdue: 0 };
  for (const c of byKey.values()) {
    total.tasks += c.tasks;
    total.startedOnTime += c.startedOnTime;
    total.finishedOnTime += c.finishedOnTime;
    total.overdue += c.overdue;
  }

  let groups: EnvelopeGroup[] | undefined;
  if (groupBy) {
    const label = new Map(names.map((n) => [n.id, n.name]));
    groups = [...byKey].map(([key, c]) => ({
      key: key === '' ? 'no_department' : key,
      label: key === '' ? NO_DEPARTMENT_LABEL : (label.get(key) ?? key),
      figures: disciplineFigures(c),
    }));
    groups.sort((a, b) => {
      const x = a.figures.execution_coefficient;
      const y = b.figures.execution_coefficient;
      if (x === null || x === undefined)
        return y === null || y === undefined ? a.label.localeCompare(b.label, 'ru') : 1;
      if (y === null || y === undefined) return -1;
      return y - x || a.label.localeCompare(b.label, 'ru');
    });
  }

  const items: EnvelopeItem[] | undefined = limit
    ? itemRows.map((t) => ({
        id: t.id,
        title: t.title,
        manager: t.manager,
        deadline_at: t.deadline_at.toISOString(),
        days_overdue: Math.floor((reference.getTime() - t.deadline_at.getTime()) / DAY_MS),
      }))
    : undefined;

  return envelope('task_discipline', period, filters, {
    figures: disciplineFigures(total),
    ...(groups ? { groups } : {}),
    ...(items ? { items } : {}),
    series: {
      overdue_by_week: weeks.map((w, i) => ({
        key: w.from,
        label: `${ddmm(w.from)}–${ddmm(w.to)}`,
        figures: { overdue: weekly[i] ?? 0 },
      })),
    },
    notes: [
      ...(input.filters?.sources?.length ||
      input.filters?.pipelines?.length ||
      input.filters?.channels?.length ||
      input.filters?.campaigns?.length
        ? ['Фильтры по источникам, воронкам, каналам и кампаниям к задачам не применяются.']
        : []),
      `Задачи периода — со сроком в периоде, срок которых уже наступил или которые уже закрыты; задачи со сроком позже не учитываются. Норма коэффициента исполнительности — ${String(EXECUTION_NORM).replace('.', ',')} (0,8 × 0,8).`,
      'Начата в срок — начата не позже планового начала (если его нет — до срока); ни разу не начатая задача в срок не начата. Просроченные — задачи с любым сроком раньше конца периода (или сейчас), не закрытые к этому моменту.',
    ],
  });
}

export const taskTools: MetricTool[] = [
  {
    name: 'task_discipline',
    description:
      'Исполнительность команды по задачам за период (по умолчанию текущий месяц): сколько задач начато и завершено в срок, коэффициент исполнительности с нормой 0,64, просроченные задачи и их накопление по неделям; по менеджерам (ответственным) или отделам; limit — список просроченных. Показатели: tasks, started_on_time, finished_on_time, execution_coefficient, norm, overdue.',
    explain:
      'Берутся задачи со сроком в периоде, срок которых уже наступил или которые уже закрыты. Начата в срок — начата не позже планового начала (если его нет — до срока), завершена в срок — закрыта не позже срока. Коэффициент исполнительности = доля начатых в срок × доля завершённых в срок, норма 0,64 (0,8 × 0,8). Просроченные — задачи с любым сроком раньше конца периода (или текущего момента), не закрытые к нему.',
    defaultPeriod: 'this_month',
    groupBy: TASK_GROUPS,
    options: ['limit'],
    run: taskDiscipline,
  },
];
