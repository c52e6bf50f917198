import { countWords } from '../text.ts';
import { findVerbatimQuote, isVerbatimQuote, type ParsedTranscript } from '../transcript.ts';
import type { LlmBreakdown } from './schema.ts';

/** How the model's quotes fared against the transcript. */
export interface QuoteCheck {
  /** Non-null quotes the model gave. */
  checked: number;
  /** Near-misses (case, ё, spacing, quote marks, a speaker label, an ellipsis) replaced by the verbatim text. */
  repaired: number;
  /** Quotes not found in the transcript: set to null, or the objection they were to prove removed. */
  dropped: number;
}

export function emptyQuoteCheck(): QuoteCheck {
  return { checked: 0, repaired: 0, dropped: 0 };
}

export function addQuoteChecks(a: QuoteCheck, b: QuoteCheck): QuoteCheck {
  return {
    checked: a.checked + b.checked,
    repaired: a.repaired + b.repaired,
    dropped: a.dropped + b.dropped,
  };
}

type Transcript = Pick<ParsedTranscript, 'text' | 'speakers'>;

/**
 * Makes every quote of a model's breakdown a verbatim substring of the
 * transcript (the METRICS.md contract), repairing what can be repaired. An
 * objection without a verbatim quote is not shown at all (no proof, no
 * objection); a script step keeps the model's `done` but loses its quote; a
 * strength or miss keeps its text without a quote.
 */
export function verifyQuotes(
  transcript: Transcript,
  breakdown: LlmBreakdown,
): { breakdown: LlmBreakdown; check: QuoteCheck } {
  const check = emptyQuoteCheck();
  const verify = (quote: string | null): string | null => {
    if (quote === null) return null;
    check.checked++;
    if (isVerbatimQuote(transcript, quote)) return quote;
    const repaired = repairQuote(transcript, quote);
    if (repaired === null) check.dropped++;
    else check.repaired++;
    return repaired;
  };

  const objections: LlmBreakdown['objections'] = [];
  for (const objection of breakdown.objections) {
    const quote = verify(objection.quote);
    if (quote === null) continue;
    if (objections.some((o) => o.type === objection.type && o.quote === quote)) continue;
    objections.push({ ...objection, quote });
  }

  const script = Object.fromEntries(
    Object.entries(breakdown.script).map(([step, value]) => {
      // A quote on a step not done proves nothing: the model contradicted itself.
      const quote = value.done ? verify(value.quote) : null;
      return [step, { done: value.done, quote }];
    }),
  ) as LlmBreakdown['script'];

  const remarks = (items: LlmBreakdown['strengths']) =>
    items.map((item) => ({ text: item.text, quote: verify(item.quote) }));

  return {
    breakdown: {
      ...breakdown,
      objections,
      script,
      strengths: remarks(breakdown.strengths),
      misses: remarks(breakdown.misses),
    },
    check,
  };
}

/**
 * Turns a model's near-verbatim quote into the transcript's exact text: a
 * speaker label the model copied from the rendered line is removed, the loose
 * match of `findVerbatimQuote` is tried, and a quote stitched together with an
 * ellipsis or across lines keeps its longest piece that is found.
 */
function repairQuote(transcript: Transcript, quote: string): string | null {
  const unlabeled = stripSpeakerLabel(transcript, quote);
  const whole = findVerbatimQuote(transcript, unlabeled);
  if (whole !== null) return whole;
  const pieces = unlabeled
    .split(/\s*(?:\.\.\.|…|\n)\s*/u)
    .filter((p) => countWords(p) >= 3)
    .sort((a, b) => b.length - a.length);
  for (const piece of pieces) {
    const found = findVerbatimQuote(transcript, piece);
    if (found !== null) return found;
  }
  return null;
}

const LABEL = /^\s*([\p{L}\p{N}_.-]{1,40})\s*(?:\([^()\n]{1,30}\))?\s*:\s*/u;

function stripSpeakerLabel(transcript: Transcript, quote: string): string {
  const m = LABEL.exec(quote);
  if (!m || !transcript.speakers.some((s) => s.speaker === m[1])) return quote;
  return quote.slice(m[0].length);
}
