/**
 * Chart rendering speed and memory: `npx tsx bench/charts.ts [renders-per-form]`.
 * Renders each chart form from the hand-written envelopes in
 * test/fixtures/envelopes with the local renderer (Chart.js on @napi-rs/canvas,
 * 2000×1200 PNG), one after another as the bot does, and prints p50/p95 per
 * form, the CPU time per render (threads included: it does not grow when
 * other processes compete for the cores, wall time does) and the peak
 * resident memory. Target: p95 ≤ 80 ms.
 */
import { readFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import {
  type ChartSpec,
  type ChartSpecOptions,
  chartSpecFor,
  createChartRenderer,
} from '../src/charts/index.ts';
import { silentLogger } from '../src/logger.ts';
import type { Envelope } from '../src/metrics/types.ts';

const runs = Number(process.argv[2] ?? 200);

function envelope(name: string): Envelope {
  return JSON.parse(
    readFileSync(new URL(`../test/fixtures/envelopes/${name}.json`, import.meta.url), 'utf8'),
  ) as Envelope;
}

const forms: [string, string, ChartSpecOptions][] = [
  ['bar', 'calls_by_manager', {}],
  ['bar + Другие', 'deals_won_by_manager', {}],
  ['line + previous', 'calls_by_day', { previous: envelope('calls_by_day_prev') }],
  ['stacked', 'leads_by_source', {}],
  ['doughnut', 'won_amount_by_source', { kind: 'doughnut' }],
  ['funnel', 'stage_funnel', {}],
  ['calls by hour', 'calls_by_hour', {}],
  ['plan / fact', 'plan_progress', {}],
  ['task norm', 'task_discipline', {}],
  ['objections', 'call_quality_objections', {}],
  ['no data', 'leads_by_source_empty', {}],
];

function percentile(sorted: readonly number[], p: number): number {
  const rank = (sorted.length - 1) * p;
  const lo = Math.floor(rank);
  const hi = Math.ceil(rank);
  return (sorted[lo] as number) + ((sorted[hi] as number) - (sorted[lo] as number)) * (rank - lo);
}

const renderer = createChartRenderer({ logger: silentLogger });
const specs: [string, ChartSpec][] = forms.map(([form, name, opts]) => {
  const spec = chartSpecFor(envelope(name), opts);
  if (!spec) throw new Error(`${name} gives no chart`);
  return [form, spec];
});

const specStart = performance.now();
for (let i = 0; i < 1000; i++) chartSpecFor(envelope('deals_won_by_manager'));
const specMs = (performance.now() - specStart) / 1000;

for (const [, spec] of specs) await renderer.render(spec);

/** One table row: the form name, then right-aligned cells. */
function row(name: string, cells: readonly (string | number)[]): string {
  return `${name.padEnd(16)}${cells.map((c) => String(c).padStart(9)).join('')}`;
}

const ms = (v: number) => v.toFixed(1);

let peakRss = process.memoryUsage().rss;
const all: number[] = [];
const rows: string[] = [];
for (const [form, spec] of specs) {
  const times: number[] = [];
  let bytes = 0;
  const cpuBefore = process.cpuUsage();
  for (let i = 0; i < runs; i++) {
    const start = performance.now();
    const png = await renderer.render(spec);
    times.push(performance.now() - start);
    bytes = png.length;
    peakRss = Math.max(peakRss, process.memoryUsage().rss);
  }
  const cpu = process.cpuUsage(cpuBefore);
  times.sort((a, b) => a - b);
  all.push(...times);
  rows.push(
    row(form, [
      ms(percentile(times, 0.5)),
      ms(percentile(times, 0.95)),
      ms(times[times.length - 1] as number),
      ms((cpu.user + cpu.system) / 1000 / runs),
      Math.round(bytes / 1024),
    ]),
  );
}
all.sort((a, b) => a - b);
renderer.close();

console.log(
  `chart renders: ${runs} per form, 2000×1200 PNG, Node ${process.version}, load ${loadavg()[0]?.toFixed(1)}`,
);
console.log(row('form', ['p50 ms', 'p95 ms', 'max ms', 'cpu ms', 'KB']));
for (const line of rows) console.log(line);
console.log(
  row('all', [ms(percentile(all, 0.5)), ms(percentile(all, 0.95)), ms(all[all.length - 1] as number)]),
);
console.log(`spec building: ${(specMs * 1000).toFixed(0)} µs per chart`);
console.log(
  `peak RSS: ${(peakRss / 2 ** 20).toFixed(0)} MB sampled, ${(process.resourceUsage().maxRSS / 1024).toFixed(0)} MB max resident`,
);
