import { periodInputFromSlot } from '../metrics/period.ts';
import {
  type GroupBy,
  groupByValues,
  type QualityAspect,
  qualityAspects,
  type ToolInput,
} from '../metrics/types.ts';
import type { Slots, ToolIntent } from './parser/types.ts';

/** A resolved question: which tool to run, with what input, and what the answer should lead with. */
export interface ToolRequest {
  tool: string;
  input: ToolInput;
  /** Figure codes the answer states first (what was asked). */
  highlight: string[];
  /** Ranking asked for ("у кого больше всего" → desc, "кто меньше всех" → asc). */
  sort: 'asc' | 'desc' | undefined;
  /** The user asked for a list (drill-down items) rather than a number. */
  wantsList: boolean;
  /** Slot values the tool cannot take as input but the answer must respect (e.g. churn risk "high"). */
  filter: string | undefined;
  /** Metric slot as the parser gave it (e.g. `objections`, `script.price_named`) for tools that branch on it. */
  metric: string | undefined;
}

/** Metric slot → figure codes to lead with. */
const highlightOf: Record<string, string[]> = {
  avg_talk_time: ['talk_time_avg'],
  talk_time: ['talk_time_avg', 'talk_time_total'],
  callback_delay: ['callback_delay_median', 'callback_delay_p90', 'called_back'],
  lost_new_client: ['new_number_calls', 'lost_new_clients'],
  first_response: ['first_response_median'],
  won: ['won', 'won_amount'],
  lost: ['lost'],
  cycle_days: ['cycle_days', 'cycle_days_median'],
  new_vs_repeat: ['won_new', 'won_repeat'],
  by_stage: ['open', 'open_amount'],
  forecast: ['forecast_amount'],
  sales_amount: ['sales_amount'],
  overdue: ['overdue'],
  calls: ['calls'],
  missed: ['missed'],
};

const filterHighlight: Record<string, string[]> = {
  not_called_back: ['not_called_back'],
  lost: ['lost_missed'],
};

/** Intents whose tool lives under another name (a question about leads answered by a calls figure). */
function routedTool(intent: ToolIntent, metric: string | undefined): string {
  if (intent === 'lead_stats' && metric === 'first_response') return 'calls_stats';
  return intent;
}

/** Turns the parser's intent and slots into a tool call. Scope is not here: it comes from the caller. */
export function toolRequestFromSlots(intent: ToolIntent, slots: Slots): ToolRequest {
  const input: ToolInput = {};
  if (slots.period) input.period = periodInputFromSlot(slots.period);
  const filters: NonNullable<ToolInput['filters']> = {};
  if (slots.manager) filters.managers = [slots.manager];
  if (slots.source) filters.sources = [slots.source];
  if (slots.department) filters.departments = [slots.department];
  if (slots.pipeline) filters.pipelines = [slots.pipeline];
  if (Object.keys(filters).length > 0) input.filters = filters;
  if (slots.group_by && (groupByValues as readonly string[]).includes(slots.group_by)) {
    input.group_by = slots.group_by as GroupBy;
  }
  if (slots.days) input.days = slots.days;
  if (slots.by) input.by = slots.by;
  if (slots.direction) input.direction = slots.direction;
  if (slots.limit) input.limit = slots.limit;
  if (intent === 'plan_progress' && slots.metric === 'count') input.metric = 'count';
  // "по этапам": the per-stage table (open now, lost there, time in stage).
  if (intent === 'deal_stats' && slots.metric === 'by_stage' && !input.group_by) input.group_by = 'stage';
  if (intent === 'call_quality' && slots.metric) {
    // "звонки с высоким риском" → churn_risk + filter high → the aspect lists those calls.
    const aspect = slots.filter ? `${slots.metric}.${slots.filter}` : slots.metric;
    const known = qualityAspects.find((a) => a === aspect) ?? qualityAspects.find((a) => a === slots.metric);
    if (known) input.aspect = known as QualityAspect;
  }
  if (intent === 'call_breakdown' && slots.which && slots.which !== 'last') input.call_id = slots.which;
  if (intent === 'list_records') {
    if (slots.which === 'deals' || slots.which === 'leads') input.which = slots.which;
    const statuses = [
      'created',
      'won',
      'lost',
      'open',
      'received',
      'new',
      'in_work',
      'qualified',
      'junk',
    ] as const;
    const status = statuses.find((s) => s === slots.filter);
    if (status) input.status = status;
  }
  // "Кто меньше всех звонил" ranks managers even without "по менеджерам".
  if (
    slots.sort &&
    !input.group_by &&
    ['manager_efficiency', 'forgotten_deals', 'forgotten_leads', 'plan_progress'].includes(intent)
  ) {
    input.group_by = 'manager';
  }
  const metric = slots.metric;
  const highlight = [
    ...(metric ? (highlightOf[metric] ?? [metric]) : []),
    ...(slots.filter ? (filterHighlight[slots.filter] ?? []) : []),
  ];
  return {
    tool: routedTool(intent, metric),
    input,
    highlight,
    sort: slots.sort,
    wantsList: slots.filter === 'not_called_back' || Boolean(slots.limit) || intent === 'list_records',
    filter: slots.filter,
    metric,
  };
}
