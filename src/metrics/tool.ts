import type { MetricFn } from './common.ts';
import type { GroupBy } from './types.ts';

/** A metric tool: one METRICS.md tool name, its Russian texts and what input it accepts. */
export interface MetricTool {
  /** Tool name from METRICS.md ("calls_stats", "forgotten_deals", ...). */
  name: string;
  /** Russian description for the LLM and `voronka tools` (what it answers, which figures). */
  description: string;
  /** Short Russian "как считается?" text, from METRICS.md definitions. */
  explain: string;
  /** Named period used when the input has none; undefined for snapshot tools. */
  defaultPeriod: string | undefined;
  /** group_by values the tool supports. */
  groupBy: readonly GroupBy[];
  /** Tool-specific input fields it reads besides period/filters/group_by. */
  options: ReadonlyArray<
    'days' | 'by' | 'direction' | 'metric' | 'limit' | 'which' | 'status' | 'stage' | 'aspect' | 'call_id'
  >;
  run: MetricFn;
}
