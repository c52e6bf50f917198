/**
 * Question answering speed (issue 4).
 *
 *   npx tsx bench/ask.ts                 parser alone (bench/parser.ts) + `ask` end to end on the medium demo in PostgreSQL
 *   npx tsx bench/ask.ts --only parser   parser alone, no database
 *   options: --rounds 3 (timed rounds of the question banks after one warm-up)  --drop (drop the database afterwards)
 *
 * The question banks: /work/shared/questions/questions.ru.jsonl and
 * test/fixtures/questions-2.ru.jsonl, chains asked in order with their
 * dialogue state, as the admin, at the moment the banks are written for
 * (2026-11-23 10:00 Moscow, where the demo history ends). No LLM: questions
 * the parser does not take get the "не понял" reply, as in a setup without
 * OPENAI_API_KEY. Targets: parser p95 ≤ 5 ms; `ask` p95 ≤ 300 ms.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { createAnswerEngine } from '../src/agent/engine.ts';
import type { DialogueState } from '../src/agent/parser/index.ts';
import { coreMetricTools, ToolRegistry } from '../src/agent/registry.ts';
import { silentLogger } from '../src/logger.ts';
import { ADMIN } from '../src/metrics/types.ts';
import {
  DEMO_NOW,
  dropBenchDb,
  fmt,
  LoadSampler,
  loadText,
  machineLine,
  openBenchDb,
  percentile,
  runChild,
  TSX,
  table,
  today,
  verdict,
  writeSection,
} from './lib.ts';

const { values } = parseArgs({
  options: {
    only: { type: 'string' },
    rounds: { type: 'string', default: '3' },
    drop: { type: 'boolean', default: false },
  },
});
const ROUNDS = Number(values.rounds);

const BANKS = [
  '/work/shared/questions/questions.ru.jsonl',
  fileURLToPath(new URL('../test/fixtures/questions-2.ru.jsonl', import.meta.url)),
];

function chains(file: string): string[][] {
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter((l) => l.trim())
    .map((l) => {
      const item = JSON.parse(l) as { q: string } | { chain: Array<{ q: string }> };
      return 'chain' in item ? item.chain.map((x) => x.q) : [item.q];
    });
}

/** The parser alone, through bench/parser.ts (its own context of the banks, no database). */
async function parserBench(): Promise<{
  text: string;
  p95Runs: number;
  p95Medians: number;
  lines: string[];
}> {
  const load = new LoadSampler();
  const res = await runChild(TSX, ['bench/parser.ts', '20']);
  const l = load.stop();
  const lines = res.stdout.trim().split('\n');
  const p95 = (label: string) => Number(new RegExp(`${label}.*p95 ([\\d.]+) ms`).exec(res.stdout)?.[1]);
  const p95Runs = p95('every run:');
  const p95Medians = p95('question medians:');
  const text = [
    '## Parser alone (no database)',
    '',
    `- machine: ${machineLine()}; date: ${today()}; load average during the run: ${loadText(l)}`,
    '- command: `npx tsx bench/ask.ts --only parser` (runs `npx tsx bench/parser.ts 20`: both question banks, 20 rounds, the first one a warm-up)',
    '',
    '```',
    ...lines,
    '```',
    '',
    `- target p95 ≤ 5 ms per question: p95 of every run ${p95Runs} ms, p95 of the per-question medians ${p95Medians} ms → ${verdict(p95Runs <= 5)}`,
  ].join('\n');
  return { text, p95Runs, p95Medians, lines };
}

interface Asked {
  q: string;
  times: number[];
  engine: string;
  intent: string;
  tool: string | undefined;
}

async function askBench(): Promise<string> {
  const db = await openBenchDb('postgres', 'medium');
  const now = new Date(DEMO_NOW);
  const engine = createAnswerEngine({
    db,
    tz: 'Europe/Moscow',
    now: () => now,
    logger: silentLogger,
    registry: new ToolRegistry(coreMetricTools),
  });
  const all = BANKS.flatMap(chains);
  const asked = new Map<string, Asked>();
  const every: number[] = [];
  const load = new LoadSampler();
  try {
    for (let round = 0; round <= ROUNDS; round++) {
      let index = 0;
      for (const chain of all) {
        let state: DialogueState | undefined;
        for (const q of chain) {
          const t0 = performance.now();
          const r = await engine.ask(q, { caller: ADMIN, state });
          const ms = performance.now() - t0;
          state = r.state;
          const key = `${index++}|${q}`;
          if (round === 0) continue; // warm-up: parser context, plans, caches
          const a = asked.get(key) ?? {
            q,
            times: [],
            engine: r.engine,
            intent: r.intent,
            tool: r.calls[0]?.tool,
          };
          a.times.push(ms);
          asked.set(key, a);
          every.push(ms);
        }
      }
    }
  } finally {
    await db.close();
  }
  const l = load.stop();
  const list = [...asked.values()];
  const medians = list.map((a) => percentile(a.times, 0.5));
  const byEngine = new Map<string, number[]>();
  for (const a of list) {
    const k = a.tool ? `tool: ${a.tool}` : `${a.engine}: ${a.intent}`;
    byEngine.set(k, [...(byEngine.get(k) ?? []), ...a.times]);
  }
  const engineRows = [...byEngine]
    .map(
      ([k, ts]) =>
        [
          k,
          String(ts.length / ROUNDS),
          percentile(ts, 0.5).toFixed(1),
          percentile(ts, 0.95).toFixed(1),
          Math.max(...ts).toFixed(1),
        ] as string[],
    )
    .sort((a, b) => Number(b[3]) - Number(a[3]));
  const slowest = [...list]
    .sort((a, b) => percentile(b.times, 0.5) - percentile(a.times, 0.5))
    .slice(0, 10)
    .map((a) => [
      a.q.length > 60 ? `${a.q.slice(0, 57)}…` : a.q,
      a.tool ?? a.intent,
      percentile(a.times, 0.5).toFixed(0),
    ]);
  const p95 = percentile(every, 0.95);
  const summary = table(
    ['', 'questions', 'p50 ms', 'p95 ms', 'max ms'],
    [
      [
        'every answer',
        fmt(list.length),
        percentile(every, 0.5).toFixed(1),
        p95.toFixed(1),
        Math.max(...every).toFixed(1),
      ],
      [
        'per-question medians',
        fmt(list.length),
        percentile(medians, 0.5).toFixed(1),
        percentile(medians, 0.95).toFixed(1),
        Math.max(...medians).toFixed(1),
      ],
    ],
  );
  console.log(summary);
  return [
    '## `ask` end to end: medium demo on PostgreSQL',
    '',
    `- machine: ${machineLine()}; PostgreSQL 15 (shared dev server); date: ${today()}; load average during the run: ${loadText(l)}`,
    `- command: \`npx tsx bench/ask.ts --rounds ${ROUNDS}\`: both question banks (${list.length} questions in chains, with dialogue state), as the admin, now ${DEMO_NOW}, no LLM configured; one warm-up round, then ${ROUNDS} timed; time = \`engine.ask\` (parse, tool SQL, answer text)`,
    '',
    summary,
    '',
    table(['answered by', 'questions', 'p50 ms', 'p95 ms', 'max ms'], engineRows),
    '',
    'Slowest questions (median of the timed rounds):',
    '',
    table(['question', 'tool / intent', 'ms'], slowest),
    '',
    `- target p95 ≤ 300 ms: ${p95.toFixed(0)} ms → ${verdict(p95 <= 300)}`,
  ].join('\n');
}

const parser = await parserBench();
console.log(parser.lines.join('\n'));
writeSection('ask-parser', parser.text);
if (values.only !== 'parser') {
  writeSection('ask-end-to-end', await askBench());
  if (values.drop) await dropBenchDb('postgres', 'medium');
}
