import { z } from 'zod';

/** Metric tools of METRICS.md, by tool name. */
export const toolIntents = [
  'calls_stats',
  'calls_by_time',
  'missed_calls',
  'lead_stats',
  'lead_stage_reach',
  'deal_stats',
  'stage_funnel',
  'forgotten_deals',
  'forgotten_leads',
  'deals_without_tasks',
  'plan_progress',
  'manager_efficiency',
  'task_discipline',
  'call_quality',
  'call_breakdown',
  'list_records',
] as const;
export type ToolIntent = (typeof toolIntents)[number];

/** Everything the parser can answer with: a tool, or a conversational move. */
export const intents = [...toolIntents, 'help', 'explain', 'clarify', 'out_of_scope', 'unknown'] as const;
export type Intent = (typeof intents)[number];

export function isToolIntent(x: string | null | undefined): x is ToolIntent {
  return (toolIntents as readonly string[]).includes(x ?? '');
}

/**
 * Slots as the question banks record them. `period` is a parser period slot
 * (`this_month`, `month:03`, `last_14_days`, `2026-03-01..2026-03-15`);
 * `periodInputFromSlot` of metrics/period.ts turns it into a tool period.
 */
export const slotsSchema = z.object({
  manager: z.string().optional(),
  manager_candidates: z.array(z.string()).optional(),
  source: z.string().optional(),
  department: z.string().optional(),
  pipeline: z.string().optional(),
  period: z.string().optional(),
  group_by: z.string().optional(),
  sort: z.enum(['asc', 'desc']).optional(),
  metric: z.string().optional(),
  filter: z.string().optional(),
  days: z.number().int().positive().optional(),
  by: z.enum(['hour', 'weekday']).optional(),
  direction: z.enum(['in', 'out']).optional(),
  which: z.string().optional(),
  limit: z.number().int().positive().optional(),
});
export type Slots = z.infer<typeof slotsSchema>;

/**
 * What the dialogue remembers between messages (stored as JSON by the caller):
 * the last metric question, for follow-ups ("а за прошлый месяц?"), and a
 * question waiting for the user to pick a manager ("Алексей Чуркин или Алексей Смирнов?").
 */
export const dialogueStateSchema = z.object({
  intent: z.enum(toolIntents).nullable(),
  slots: slotsSchema,
  pending: z
    .object({
      intent: z.enum(toolIntents),
      slots: slotsSchema,
      candidates: z.array(z.string()),
    })
    .nullable(),
});
export type DialogueState = z.infer<typeof dialogueStateSchema>;

export const emptyDialogueState: DialogueState = { intent: null, slots: {}, pending: null };

export interface NamedRecord {
  id: string;
  name: string;
}

/** Reference data loaded from the database by the caller. */
export interface ParserContext {
  managers: NamedRecord[];
  departments: NamedRecord[];
  sources: NamedRecord[];
  pipelines: NamedRecord[];
  stages?: NamedRecord[];
}

export interface ParserOptions {
  /** Clock for dates without a year ("с 1 по 15 марта"); defaults to the system clock. */
  clock?: () => Date;
  /** Company IANA time zone; `Europe/Moscow` by default. */
  tz?: string;
}

export interface ParseResult {
  intent: Intent;
  slots: Slots;
  /** 0..1; the agent calls the tool directly only when it is confident. */
  confidence: number;
  /** What was recognised, in Russian, for "не понял" replies. */
  understood: string[];
  /** Store this and pass it back with the next message. */
  state: DialogueState;
  /** A name the question mentions that is no manager ("по Морозову"): asked back, never ignored. */
  unknownName?: string;
}
