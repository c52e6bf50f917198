import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { createParser, type DialogueState } from '../../src/agent/parser/index.ts';
import { sharedPath } from '../helpers/shared.ts';
import { bankContext, bankNow } from './parser-context.ts';

interface Labelled {
  q: string;
  intent: string;
  slots: Record<string, unknown>;
}

/**
 * A bank line is one question, or `{"chain": [...]}`: questions asked in
 * order, each with the dialogue state the previous one left (follow-ups and
 * clarification answers). Every question of a chain is scored.
 */
function loadBank(path: string): Labelled[][] {
  return readFileSync(path, 'utf8')
    .split('\n')
    .filter((line) => line.trim().length > 0)
    .map((line) => {
      const item = JSON.parse(line) as Labelled | { chain: Labelled[] };
      return 'chain' in item ? item.chain : [item];
    });
}

const canonical = (o: Record<string, unknown>): string =>
  JSON.stringify(Object.fromEntries(Object.entries(o).sort(([a], [b]) => a.localeCompare(b))));

function score(path: string): { total: number; hits: number; misses: string[] } {
  const parser = createParser(bankContext, { clock: () => bankNow, tz: 'Europe/Moscow' });
  let total = 0;
  let hits = 0;
  const misses: string[] = [];
  for (const chain of loadBank(path)) {
    let state: DialogueState | undefined;
    for (const item of chain) {
      const r = parser.parse(item.q, state);
      state = r.state;
      total++;
      // A hit must also be confident enough for the engine to answer it without an LLM.
      const answered = r.intent === 'unknown' || r.confidence >= 0.6;
      if (r.intent === item.intent && canonical(r.slots) === canonical(item.slots) && answered) hits++;
      else {
        misses.push(
          `${item.q}\n  want ${item.intent} ${canonical(item.slots)}\n  got  ${r.intent} ${canonical(r.slots)} (confidence ${r.confidence})`,
        );
      }
    }
  }
  return { total, hits, misses };
}

function report(name: string, result: { total: number; hits: number; misses: string[] }): number {
  const share = result.hits / result.total;
  console.log(`${name}: ${result.hits}/${result.total} = ${(share * 100).toFixed(1)}%`);
  if (result.misses.length > 0) console.log(`misses:\n${result.misses.join('\n')}`);
  return share;
}

describe('question banks (now = 2026-11-23 10:00 Moscow)', () => {
  it('matches at least 97% of the public bank exactly (intent and slots)', () => {
    const result = score(sharedPath('questions/questions.ru.jsonl'));
    expect(result.total).toBeGreaterThanOrEqual(49);
    expect(report('public bank', result)).toBeGreaterThanOrEqual(0.97);
  });

  // The second bank was labelled by hand before the parser read it: its two batches scored 90.7% and
  // 88.8% on their first runs, then the misses were fixed with general rules. 95% keeps those fixes.
  it('matches at least 95% of the second bank (other phrasings, typos, follow-ups)', () => {
    const result = score(fileURLToPath(new URL('../fixtures/questions-2.ru.jsonl', import.meta.url)));
    expect(result.total).toBeGreaterThanOrEqual(150);
    expect(report('second bank', result)).toBeGreaterThanOrEqual(0.95);
  });

  it('parses a question in under 5 ms at the 95th percentile', () => {
    const parser = createParser(bankContext, { clock: () => bankNow });
    const questions = [
      ...loadBank(sharedPath('questions/questions.ru.jsonl')),
      ...loadBank(fileURLToPath(new URL('../fixtures/questions-2.ru.jsonl', import.meta.url))),
    ].flat();
    for (const item of questions) parser.parse(item.q);
    // Each question's median of five runs, so a busy machine's scheduling hiccups do not count.
    const perQuestion = questions.map((item) => {
      const runs: number[] = [];
      for (let round = 0; round < 5; round++) {
        const t0 = performance.now();
        parser.parse(item.q);
        runs.push(performance.now() - t0);
      }
      return runs.sort((a, b) => a - b)[2]!;
    });
    perQuestion.sort((a, b) => a - b);
    const p95 = perQuestion[Math.floor(perQuestion.length * 0.95)]!;
    console.log(`parse time per question: p95 ${p95.toFixed(3)} ms`);
    expect(p95).toBeLessThan(5);
  });
});
