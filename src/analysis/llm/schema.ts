import type { z } from 'zod';
import { callBreakdownSchema } from '../schema.ts';

/**
 * What the model fills: the call breakdown ("Разбор звонка") without the
 * fields we know better than the model. `call_id` and `analyzer` are ours;
 * `company_speaker` and `talk_ratio` come from the parsed transcript (word
 * counts, not a model's guess); `readiness_band` is derived from `readiness`
 * so the two can never disagree.
 */
export const llmBreakdownSchema = callBreakdownSchema.omit({
  call_id: true,
  analyzer: true,
  company_speaker: true,
  talk_ratio: true,
  readiness_band: true,
});

export type LlmBreakdown = z.infer<typeof llmBreakdownSchema>;

/** Name of the json_schema in `response_format` (OpenAI requires one). */
export const LLM_SCHEMA_NAME = 'call_breakdown';
