/**
 * Offline parser speed: p50/p95/max per question over both question banks.
 * Run: npx tsx bench/parser.ts [rounds]
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { createParser, type DialogueState } from '../src/agent/parser/index.ts';
import { bankContext, bankNow } from '../test/agent/parser-context.ts';

interface Labelled {
  q: string;
}

function chains(path: string): Labelled[][] {
  return readFileSync(path, 'utf8')
    .split('\n')
    .filter((l) => l.trim())
    .map((l) => {
      const item = JSON.parse(l) as Labelled | { chain: Labelled[] };
      return 'chain' in item ? item.chain : [item];
    });
}

const banks = [
  fileURLToPath(new URL('../../shared/questions/questions.ru.jsonl', import.meta.url)),
  fileURLToPath(new URL('../test/fixtures/questions-2.ru.jsonl', import.meta.url)),
];
const all = banks.flatMap(chains);
const rounds = Number(process.argv[2] ?? 20);

const t0 = performance.now();
const parser = createParser(bankContext, { clock: () => bankNow, tz: 'Europe/Moscow' });
const buildMs = performance.now() - t0;

const times: number[] = [];
/** Per question (by position), its run times, for a figure that a busy machine's hiccups do not skew. */
const byQuestion: number[][] = [];
for (let round = 0; round < rounds; round++) {
  let index = 0;
  for (const chain of all) {
    let state: DialogueState | undefined;
    for (const item of chain) {
      const start = performance.now();
      state = parser.parse(item.q, state).state;
      const took = performance.now() - start;
      if (round > 0) {
        times.push(took);
        const runs = byQuestion[index] ?? [];
        runs.push(took);
        byQuestion[index] = runs;
      }
      index++;
    }
  }
}
const quantile = (xs: number[], q: number): number => {
  const sorted = [...xs].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * q))]!;
};
const medians = byQuestion.map((runs) => quantile(runs, 0.5));
const questions = all.reduce((n, c) => n + c.length, 0);
console.log(`parser: ${questions} questions × ${rounds - 1} timed rounds (first round is warm-up)`);
console.log(`build (createParser): ${buildMs.toFixed(1)} ms`);
console.log(
  `every run:         p50 ${quantile(times, 0.5).toFixed(3)} ms, p95 ${quantile(times, 0.95).toFixed(3)} ms, max ${quantile(times, 1).toFixed(3)} ms`,
);
console.log(
  `question medians:  p50 ${quantile(medians, 0.5).toFixed(3)} ms, p95 ${quantile(medians, 0.95).toFixed(3)} ms, max ${quantile(medians, 1).toFixed(3)} ms`,
);
