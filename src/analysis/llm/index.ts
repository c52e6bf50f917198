import type { BaseChatModel } from '@langchain/core/language_models/chat_models';
import { HumanMessage, SystemMessage } from '@langchain/core/messages';
import { AppError } from '../../errors.ts';
import type { Logger } from '../../logger.ts';
import type { AnalyzeOptions, Analyzer } from '../analyzer.ts';
import { type CallBreakdown, callBreakdownSchema, readinessBand } from '../schema.ts';
import type { ParsedTranscript } from '../transcript.ts';
import { chunkTranscript, DEFAULT_CHUNK_CHARS } from './chunk.ts';
import { type CallContext, mergeMessage, SYSTEM_PROMPT, transcriptMessage } from './prompt.ts';
import { addQuoteChecks, emptyQuoteCheck, type QuoteCheck, verifyQuotes } from './quotes.ts';
import { MalformedOutputError, withRetries } from './retry.ts';
import { LLM_SCHEMA_NAME, type LlmBreakdown, llmBreakdownSchema } from './schema.ts';

export { DEFAULT_CHUNK_CHARS } from './chunk.ts';
export type { QuoteCheck } from './quotes.ts';

/** Bumped when the prompt or the merge changes enough that old breakdowns should be redone. */
export const LLM_ANALYZER_VERSION = 1;

/** The analyzer name stored with each breakdown, e.g. `llm:gpt-4o-mini@1`. */
export function llmAnalyzerName(modelName: string): string {
  return `llm:${modelName}@${LLM_ANALYZER_VERSION}`;
}

export interface LlmAnalyzerOptions {
  /**
   * A chat model that supports structured output (e.g. `ChatOpenAI`). Build
   * it with `maxRetries: 0`: this analyzer owns retries, and also retries
   * malformed output, which the client's own retries do not.
   */
  model: BaseChatModel;
  modelName: string;
  logger: Logger;
  /** Retries after the first attempt of each request; 3 by default. */
  maxRetries?: number;
  /** Waits between retries; injectable so tests do not wait. */
  sleep?: (ms: number) => Promise<void>;
  /** Largest transcript part sent in one request, in characters; 12 000 by default. */
  chunkChars?: number;
  /** First backoff delay, doubled on each retry; 1 s by default. */
  baseDelayMs?: number;
  /** Parts of a long call analysed at the same time; 3 by default. */
  concurrency?: number;
}

export interface LlmAnalysisReport {
  /** Transcript parts (1 for a call that fits in one request). */
  parts: number;
  /** Requests sent, retries included. */
  requests: number;
  quotes: QuoteCheck;
}

export interface LlmAnalyzer extends Analyzer {
  readonly modelName: string;
  /** Like `analyze`, plus what it took and how many of the model's quotes were repaired or dropped. */
  analyzeWithReport(
    parsed: ParsedTranscript,
    opts: AnalyzeOptions,
  ): Promise<{ breakdown: CallBreakdown; report: LlmAnalysisReport }>;
}

const realSleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/**
 * Разбор звонка by an LLM with structured output (a strict json_schema).
 *
 * A call that fits in `chunkChars` is analysed in one request. A longer one
 * is map-reduced: the transcript is cut into parts along utterances, each
 * part gets its own breakdown (map), the part breakdowns' quotes are checked
 * against the original transcript, and one more request merges the checked
 * part breakdowns into the breakdown of the whole call (reduce). The merge
 * sees the parts' verified quotes rather than summaries, so the final quotes
 * stay verbatim; they are checked once more at the end. Every quote that is
 * not a verbatim substring of the transcript is repaired or dropped, and
 * dropped quotes lower `confidence`.
 */
export function createLlmAnalyzer(options: LlmAnalyzerOptions): LlmAnalyzer {
  const name = llmAnalyzerName(options.modelName);
  const logger = options.logger;
  const chunkChars = options.chunkChars ?? DEFAULT_CHUNK_CHARS;
  const concurrency = Math.max(1, options.concurrency ?? 3);
  const structured = options.model.withStructuredOutput(llmBreakdownSchema, {
    name: LLM_SCHEMA_NAME,
    strict: true,
  });

  async function analyzeWithReport(parsed: ParsedTranscript, opts: AnalyzeOptions) {
    if (parsed.segments.length === 0) {
      throw new AppError(
        'transcript_empty',
        `call ${opts.callId}: transcript has no utterances`,
        'В расшифровке звонка нет реплик: разбирать нечего.',
      );
    }
    const ctx: CallContext = { direction: opts.direction, sideInference: parsed.sideInference };
    let requests = 0;
    const ask = (userMessage: string, what: string) =>
      withRetries(
        async () => {
          requests++;
          const output = await structured.invoke([
            new SystemMessage(SYSTEM_PROMPT),
            new HumanMessage(userMessage),
          ]);
          return checkOutput(output);
        },
        {
          maxRetries: options.maxRetries ?? 3,
          baseDelayMs: options.baseDelayMs ?? 1000,
          maxDelayMs: 30_000,
          sleep: options.sleep ?? realSleep,
          logger,
          what: `${opts.callId} ${what}`,
        },
      );

    const chunks = chunkTranscript(parsed, chunkChars);
    let quotes = emptyQuoteCheck();
    let result: LlmBreakdown;
    if (chunks.length === 1) {
      result = await ask(transcriptMessage(ctx, chunks[0]!, 1, 1), 'звонок целиком');
    } else {
      const partResults = await mapLimit(chunks, concurrency, async (chunk, i) => {
        const part = await ask(
          transcriptMessage(ctx, chunk, i + 1, chunks.length),
          `часть ${i + 1}/${chunks.length}`,
        );
        const verified = verifyQuotes(parsed, part);
        quotes = addQuoteChecks(quotes, verified.check);
        return verified.breakdown;
      });
      const partsJson = JSON.stringify(
        partResults.map((part, i) => ({ part: i + 1, ...withoutConfidence(part) })),
        null,
        1,
      );
      result = await ask(mergeMessage(ctx, partsJson, chunks.length), 'сведение частей');
    }
    const verified = verifyQuotes(parsed, result);
    quotes = addQuoteChecks(quotes, verified.check);

    const breakdown = callBreakdownSchema.parse(finish(verified.breakdown, parsed, opts, name, quotes));
    const report: LlmAnalysisReport = { parts: chunks.length, requests, quotes };
    const log = { callId: opts.callId, analyzer: name, ...report };
    if (quotes.dropped > 0)
      logger.warn(log, 'LLM call breakdown: quotes not found in the transcript were dropped');
    else logger.info(log, 'LLM call breakdown done');
    return { breakdown, report };
  }

  return {
    name,
    modelName: options.modelName,
    analyzeWithReport,
    analyze: async (parsed, opts) => (await analyzeWithReport(parsed, opts)).breakdown,
  };
}

/** Validates what the structured-output runnable returned; anything off is retried as malformed. */
function checkOutput(output: unknown): LlmBreakdown {
  const checked = llmBreakdownSchema.safeParse(output);
  if (!checked.success) {
    throw new MalformedOutputError(`structured output does not match the schema: ${checked.error.message}`);
  }
  if (leaksPrompt(checked.data)) {
    throw new MalformedOutputError('structured output contains text of the system prompt');
  }
  return checked.data;
}

/**
 * Sentences of the system prompt long enough that they cannot turn up in a
 * breakdown by chance: if one does, the model followed an instruction from
 * the transcript to reveal its prompt.
 */
const PROMPT_FINGERPRINTS = SYSTEM_PROMPT.split(/[\n.!?;:]+/u)
  .map((s) =>
    s
      .replace(/^[\s-]+/u, '')
      .trim()
      .toLowerCase(),
  )
  .filter((s) => s.length >= 60);

function leaksPrompt(value: unknown): boolean {
  if (typeof value === 'string') {
    const lower = value.toLowerCase();
    return lower.includes('<<<') || PROMPT_FINGERPRINTS.some((f) => lower.includes(f));
  }
  if (Array.isArray(value)) return value.some(leaksPrompt);
  if (value && typeof value === 'object') return Object.values(value).some(leaksPrompt);
  return false;
}

function withoutConfidence(part: LlmBreakdown): Omit<LlmBreakdown, 'confidence'> {
  const { confidence: _confidence, ...rest } = part;
  return rest;
}

/** Fills the fields the model does not: ids, derived band, talk ratio from word counts, adjusted confidence. */
function finish(
  b: LlmBreakdown,
  parsed: ParsedTranscript,
  opts: AnalyzeOptions,
  analyzer: string,
  quotes: QuoteCheck,
): CallBreakdown {
  const company = parsed.speakers.find((s) => s.speaker === parsed.companySpeaker);
  const needs = [...new Set(b.needs.map((n) => n.trim()).filter((n) => n !== ''))];
  return {
    call_id: opts.callId,
    analyzer,
    confidence: confidenceOf(b.confidence, parsed.sideInference, quotes),
    company_speaker: parsed.companySpeaker,
    summary: b.summary,
    readiness: b.readiness,
    readiness_band: readinessBand(b.readiness),
    churn_risk: b.churn_risk,
    stage: b.stage,
    objections: b.objections,
    script: b.script,
    strengths: b.strengths.slice(0, 5),
    misses: b.misses.slice(0, 5),
    next_step: b.next_step,
    needs: needs.slice(0, 10),
    lead_quality: b.lead_quality,
    talk_ratio: company && parsed.words > 0 ? Math.round(company.share * 100) / 100 : null,
  };
}

/**
 * The model's own confidence, lowered when the company side was only
 * inferred (or not known) and in proportion to the share of its quotes that
 * were not in the transcript: a model that invents evidence is less reliable
 * in its judgements too.
 */
function confidenceOf(
  modelConfidence: number,
  side: ParsedTranscript['sideInference'],
  quotes: QuoteCheck,
): number {
  let c = modelConfidence;
  if (side.method === 'none') c *= 0.7;
  else if (side.method === 'inferred') c *= 0.7 + 0.3 * side.confidence;
  if (quotes.checked > 0) c *= 1 - 0.5 * (quotes.dropped / quotes.checked);
  return Math.round(Math.min(0.95, Math.max(0.05, c)) * 100) / 100;
}

/** Runs `fn` over `items`, at most `limit` at a time, in order; after a failure no new item starts. */
async function mapLimit<T, R>(
  items: T[],
  limit: number,
  fn: (item: T, index: number) => Promise<R>,
): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  let failed = false;
  const worker = async () => {
    while (next < items.length && !failed) {
      const i = next++;
      try {
        results[i] = await fn(items[i]!, i);
      } catch (err) {
        failed = true;
        throw err;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}
