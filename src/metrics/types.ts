import { z } from 'zod';

/** Named periods of METRICS.md ("Period"). `month:03` style names are parsed separately. */
export const periodNames = [
  'today',
  'yesterday',
  'last_7_days',
  'last_30_days',
  'this_week',
  'last_week',
  'this_month',
  'last_month',
  'this_quarter',
  'last_quarter',
  'this_year',
  'last_year',
  'last_6_months',
] as const;
export type PeriodName = (typeof periodNames)[number];

const isoDate = z.string().regex(/^\d{4}-\d{2}-\d{2}$/, 'дата в формате ГГГГ-ММ-ДД');

/**
 * A period as a tool receives it: inclusive local dates, or a name
 * (`yesterday`, `this_month`, `month:03`, `month:2025-03`, `quarter:2026-1`, `year:2025`).
 */
export const periodInputSchema = z.union([
  z.object({ from: isoDate, to: isoDate }).describe('Период: даты включительно, по времени компании'),
  z
    .object({
      name: z
        .string()
        .describe(
          'Именованный период: today, yesterday, last_7_days, last_30_days, this_week, last_week, this_month, last_month, this_quarter, last_quarter, this_year, last_year, last_6_months, month:MM, month:YYYY-MM, quarter:YYYY-Q, year:YYYY',
        ),
    })
    .describe('Именованный период'),
]);
export type PeriodInput = z.infer<typeof periodInputSchema>;

export const groupByValues = [
  'manager',
  'department',
  'source',
  'channel',
  'campaign',
  'pipeline',
  'stage',
  'client',
  'city',
  'day',
  'week',
  'month',
  'quarter',
] as const;
export type GroupBy = (typeof groupByValues)[number];

export const filtersSchema = z
  .object({
    managers: z.array(z.string()).optional().describe('Менеджеры: id или ФИО'),
    departments: z.array(z.string()).optional().describe('Отделы: id или название'),
    sources: z.array(z.string()).optional().describe('Источники: id или название'),
    pipelines: z.array(z.string()).optional().describe('Воронки: id или название'),
    channels: z.array(z.string()).optional().describe('Каналы (линии телефонии)'),
    campaigns: z.array(z.string()).optional().describe('UTM-кампании'),
  })
  .describe('Фильтры; значения — id или отображаемые имена, без учёта регистра и ё/е');
export type Filters = z.infer<typeof filtersSchema>;

/**
 * What `call_quality` aggregates over the call breakdowns ("Разбор звонка"):
 * a family, or a family narrowed to one script step or level (which also
 * lists the calls at that level).
 */
export const qualityAspects = [
  'objections',
  'script',
  'script.greeting',
  'script.need_identified',
  'script.price_named',
  'script.next_step_offered',
  'script.summary_agreed',
  'churn_risk',
  'churn_risk.high',
  'churn_risk.medium',
  'churn_risk.low',
  'readiness',
  'readiness.high',
  'readiness.medium',
  'readiness.low',
  'needs',
  'lead_quality',
  'lead_quality.target',
  'lead_quality.not_target',
  'talk_ratio',
] as const;
export type QualityAspect = (typeof qualityAspects)[number];

/** The common tool input of METRICS.md. Each tool picks the fields it supports. */
export const toolInputSchema = z.object({
  period: periodInputSchema.optional().describe('Период; если не указан — период по умолчанию для метрики'),
  filters: filtersSchema.optional(),
  group_by: z.enum(groupByValues).optional().describe('Группировка'),
  days: z.number().int().positive().optional().describe('Порог «забытости» в днях'),
  by: z.enum(['hour', 'weekday']).optional().describe('Разрез по часам или дням недели'),
  direction: z.enum(['in', 'out']).optional().describe('Направление звонков'),
  metric: z.enum(['amount', 'count']).optional().describe('План по сумме или по количеству'),
  limit: z.number().int().positive().max(1000).optional().describe('Сколько записей вернуть в списке'),
  which: z.enum(['deals', 'leads']).optional().describe('list_records: список сделок или лидов'),
  status: z
    .enum(['created', 'won', 'lost', 'open', 'received', 'new', 'in_work', 'qualified', 'junk'])
    .optional()
    .describe(
      'list_records: сделки — created, won, lost (за период), open (сейчас); лиды — received, new, in_work, qualified, junk (поступившие в периоде), open (сейчас)',
    ),
  stage: z.string().optional().describe('list_records: только записи на этом этапе (id или название)'),
  aspect: z
    .enum(qualityAspects)
    .optional()
    .describe(
      'call_quality: какой разрез разборов звонков: objections — топ возражений; script — шаги скрипта; ' +
        'script.<шаг> — один шаг (greeting, need_identified, price_named, next_step_offered, summary_agreed), ' +
        'с group_by=manager — кто его пропускает; churn_risk — риск потери клиента; readiness — готовность купить; ' +
        'needs — потребности клиентов; lead_quality — целевые обращения; talk_ratio — доля речи менеджера. ' +
        'Уровень через точку (churn_risk.high, readiness.high, lead_quality.not_target) — ещё и список таких звонков',
    ),
  call_id: z
    .string()
    .optional()
    .describe(
      'call_breakdown: id звонка; без него — последний разобранный звонок (с учётом фильтра по менеджеру)',
    ),
});
export type ToolInput = z.infer<typeof toolInputSchema>;

/** A figure value: a number, or null when undefined (zero denominator). */
export type Figure = number | null;
export type Figures = Record<string, Figure>;

export interface EnvelopeGroup {
  key: string;
  label: string;
  figures: Figures;
}

/** One drill-down record behind a figure. */
export interface EnvelopeItem {
  id: string;
  title?: string | null;
  manager?: string | null;
  [key: string]: unknown;
}

/** The result envelope every metric tool returns (METRICS.md "Result envelope"). */
export interface Envelope {
  metric: string;
  period: { from: string; to: string };
  filters: Record<string, unknown>;
  figures: Figures;
  groups?: EnvelopeGroup[];
  items?: EnvelopeItem[];
  /** Extra series some tools return (e.g. stage reach per stage, weekly overdue). */
  series?: Record<string, EnvelopeGroup[]>;
  /** Notes the answer text must state (defaults taken, thresholds used). */
  notes?: string[];
}

/** Who is asking; scope is derived from this, never from the question text. */
export interface Caller {
  role: 'admin' | 'head' | 'manager';
  managerId: string | null;
}

export const ADMIN: Caller = { role: 'admin', managerId: null };
