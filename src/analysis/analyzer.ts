import type { CallBreakdown } from './schema.ts';
import type { ParsedTranscript } from './transcript.ts';

export interface AnalyzeOptions {
  callId: string;
  direction?: 'in' | 'out' | undefined;
}

/**
 * A call analyzer: the offline rules or an LLM. `name` is stored with every
 * breakdown ("offline@1.0", "llm:gpt-4o-mini@1"), so one call can keep one
 * breakdown per analyzer version and re-running changes nothing.
 */
export interface Analyzer {
  readonly name: string;
  analyze(parsed: ParsedTranscript, opts: AnalyzeOptions): Promise<CallBreakdown>;
}
