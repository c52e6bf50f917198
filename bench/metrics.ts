import { parseArgs } from 'node:util';
import { coreMetricTools } from '../src/agent/registry.ts';
import { offlineAnalyzer } from '../src/analysis/offline/analyzer.ts';
import { analyzeCalls } from '../src/analysis/pipeline/steps.ts';
import type { Db, Queryable } from '../src/db/client.ts';
import { AppError } from '../src/errors.ts';
import { silentLogger } from '../src/logger.ts';
import type { MetricContext } from '../src/metrics/common.ts';
import type { MetricTool } from '../src/metrics/tool.ts';
import { ADMIN, type Caller, type ToolInput } from '../src/metrics/types.ts';
import {
  DEMO_NOW,
  dropBenchDb,
  LoadSampler,
  loadText,
  machineLine,
  openBenchDb,
  percentile,
  table,
  today,
  verdict,
  writeSection,
} from './lib.ts';

const { values } = parseArgs({
  options: {
    targets: { type: 'string', default: 'postgres:medium,pglite:medium' },
    runs: { type: 'string', default: '5' },
    drop: { type: 'boolean', default: false },
    tools: { type: 'string' },
    /** One case label only (e.g. "year, admin"), for tools too slow to run every case. */
    case: { type: 'string' },
  },
});
const RUNS = Number(values.runs);
const SLOW_CASE_MS = 5000;
const TZ = 'Europe/Moscow';
const NOW = new Date(DEMO_NOW);

type Scale = 'medium' | 'large';
interface Target {
  driver: 'postgres' | 'pglite';
  scale: Scale;
}

interface Case {
  tool: MetricTool;
  label: string;
  input: ToolInput;
  caller: Caller;
  callerLabel: string;
}

const PERIODS: Array<[string, ToolInput['period']]> = [
  ['month', { name: 'last_month' }],
  ['quarter', { name: 'last_quarter' }],
  ['year', { name: 'this_year' }],
];

/** The inputs a bot sends each tool: three period lengths, plain and grouped, tool options varied. */
function casesFor(tool: MetricTool, head: Caller): Case[] {
  const out: Case[] = [];
  const callers: Array<[string, Caller]> = [
    ['admin', ADMIN],
    ['head', head],
  ];
  const snapshot = tool.defaultPeriod === undefined;
  const periods: Array<[string, ToolInput['period'] | undefined]> = snapshot
    ? [
        ['now', undefined],
        ['month', { name: 'last_month' }],
      ]
    : PERIODS;
  const grouping = tool.groupBy.includes('manager') ? 'manager' : tool.groupBy[0];
  const variants: Array<[string, Partial<ToolInput>]> = [['', {}]];
  if (grouping) variants.push([`by ${grouping}`, { group_by: grouping }]);
  if (tool.name === 'calls_by_time')
    variants.splice(
      0,
      1,
      ['by hour', { by: 'hour' }],
      ['by weekday, in', { by: 'weekday', direction: 'in' }],
    );
  if (tool.name === 'plan_progress') variants.push(['count', { metric: 'count' }]);
  if (tool.name === 'list_records') {
    variants.splice(
      0,
      variants.length,
      ['won deals', { which: 'deals', status: 'won', limit: 50 }],
      ['received leads', { which: 'leads', status: 'received', limit: 50 }],
    );
  }
  if (tool.name === 'forgotten_deals' || tool.name === 'forgotten_leads')
    variants.push(['days 7', { days: 7 }]);
  if (tool.name === 'call_quality')
    variants.push(['objections', { aspect: 'objections' }], ['script', { aspect: 'script' }]);
  for (const [callerLabel, caller] of callers) {
    for (const [pl, period] of periods) {
      for (const [vl, extra] of variants) {
        const input: ToolInput = { ...(period ? { period } : {}), ...extra };
        out.push({
          tool,
          caller,
          callerLabel,
          input,
          label: [pl, vl, callerLabel].filter(Boolean).join(', '),
        });
      }
    }
  }
  return out;
}

/** Records each statement a tool runs, with its time, to find what to EXPLAIN. */
class Recorder implements Queryable {
  statements: Array<{ text: string; params: unknown[]; ms: number }> = [];
  constructor(private readonly db: Queryable) {}
  async query<T>(text: string, params: unknown[] = []): Promise<T[]> {
    const t0 = performance.now();
    const rows = await this.db.query<T>(text, params);
    this.statements.push({ text, params, ms: performance.now() - t0 });
    return rows;
  }
}

interface ToolStats {
  tool: string;
  cases: number;
  p50: number;
  p95: number;
  max: number;
  worst: {
    label: string;
    ms: number;
    statement: { text: string; params: unknown[]; ms: number } | undefined;
  };
}

async function benchTarget(
  t: Target,
  db: Db,
): Promise<{
  stats: ToolStats[];
  load: ReturnType<LoadSampler['stop']>;
  explains: string[];
  refused: string[];
}> {
  const [headRow] = await db.query<{ id: string }>(
    `SELECT m.id FROM managers m JOIN departments d ON d.id = m.department_id
     WHERE m.role = 'head' AND d.parent_id IS NOT NULL ORDER BY m.id LIMIT 1`,
  );
  const head: Caller = { role: 'head', managerId: headRow?.id ?? null };
  const wanted = values.tools?.split(',');
  const tools = coreMetricTools.filter((x) => !wanted || wanted.includes(x.name));
  const load = new LoadSampler();
  const stats: ToolStats[] = [];
  const refused: string[] = [];
  for (const tool of tools) {
    const times: number[] = [];
    let worst: ToolStats['worst'] = { label: '', ms: -1, statement: undefined };
    let caseCount = 0;
    for (const c of casesFor(tool, head).filter((x) => !values.case || x.label === values.case)) {
      const rec = new Recorder(db);
      const ctx: MetricContext = { db: rec, caller: c.caller, tz: TZ, now: NOW };
      let warmMs: number;
      try {
        const w0 = performance.now();
        await tool.run(ctx, c.input); // warm-up: plans, caches
        warmMs = performance.now() - w0;
      } catch (err) {
        // A user-facing refusal (nothing in scope, …) is an answer, not a timing.
        if (!(err instanceof AppError)) throw err;
        refused.push(`${tool.name} (${c.label}): ${err.code}`);
        continue;
      }
      // A case far over every target is timed once more, not RUNS times: the verdict is clear, the run stays short.
      const runs = warmMs > SLOW_CASE_MS ? 1 : RUNS;
      caseCount++;
      for (let i = 0; i < runs; i++) {
        rec.statements = [];
        const t0 = performance.now();
        await tool.run(ctx, c.input);
        const ms = performance.now() - t0;
        times.push(ms);
        if (ms > worst.ms) {
          const slowest = [...rec.statements].sort((a, b) => b.ms - a.ms)[0];
          worst = { label: c.label, ms, statement: slowest };
        }
      }
    }
    if (times.length === 0) continue;
    const s: ToolStats = {
      tool: tool.name,
      cases: caseCount,
      p50: percentile(times, 0.5),
      p95: percentile(times, 0.95),
      max: Math.max(...times),
      worst,
    };
    stats.push(s);
    process.stderr.write(
      `${t.driver}:${t.scale} ${tool.name.padEnd(20)} p50 ${s.p50.toFixed(0)} ms, p95 ${s.p95.toFixed(0)} ms\n`,
    );
  }
  const loadStats = load.stop();
  const explains: string[] = [];
  for (const s of [...stats].sort((a, b) => b.p95 - a.p95).slice(0, 3)) {
    const st = s.worst.statement;
    if (!st) continue;
    const plan = await db.query<Record<string, string>>(`EXPLAIN (ANALYZE, BUFFERS) ${st.text}`, st.params);
    const lines = plan.map((r) => Object.values(r)[0]);
    explains.push(
      [
        `#### ${s.tool} — ${s.worst.label} (${s.worst.ms.toFixed(0)} ms; slowest statement ${st.ms.toFixed(0)} ms)`,
        '',
        '```sql',
        st.text.trim(),
        '```',
        '',
        `params: \`${JSON.stringify(st.params).slice(0, 400)}\``,
        '',
        '```',
        ...lines,
        '```',
      ].join('\n'),
    );
  }
  return { stats, load: loadStats, explains, refused };
}

/** AI breakdowns for call_quality / call_breakdown: the offline analyzer on the latest calls with a transcript. */
async function ensureBreakdowns(db: Db, limit = 3000): Promise<void> {
  const [row] = await db.query<{ n: number }>('SELECT count(*)::int AS n FROM call_analyses');
  if (Number(row?.n) > 0) return;
  const ids = await db.query<{ id: string }>(
    'SELECT id FROM calls WHERE transcript IS NOT NULL ORDER BY started_at DESC LIMIT $1',
    [limit],
  );
  process.stderr.write(
    `analyzing ${ids.length} calls with the offline analyzer (for call_quality, call_breakdown)…\n`,
  );
  const deps = { db, logger: silentLogger, analyzer: offlineAnalyzer, now: () => NOW };
  for (let i = 0; i < ids.length; i += 200)
    await analyzeCalls(
      deps,
      ids.slice(i, i + 200).map((r) => r.id),
    );
  await db.query('ANALYZE call_analyses');
}

const targets: Target[] = values.targets.split(',').map((s) => {
  const [driver, scale] = s.split(':') as [Target['driver'], Scale];
  return { driver, scale };
});

for (const t of targets) {
  const db = await openBenchDb(t.driver, t.scale);
  await ensureBreakdowns(db);
  let result: Awaited<ReturnType<typeof benchTarget>>;
  try {
    result = await benchTarget(t, db);
  } finally {
    await db.close();
  }
  const limit =
    t.driver === 'postgres' && t.scale === 'large'
      ? 300
      : t.driver === 'pglite' && t.scale === 'medium'
        ? 1000
        : undefined;
  const tbl = table(
    ['tool', 'cases', 'p50 ms', 'p95 ms', 'max ms', 'slowest case'],
    result.stats.map((s) => [
      s.tool,
      String(s.cases),
      s.p50.toFixed(0),
      s.p95.toFixed(0),
      s.max.toFixed(0),
      s.worst.label,
    ]),
  );
  console.log(`\n${t.driver}:${t.scale}\n${tbl}`);
  const over = limit === undefined ? [] : result.stats.filter((s) => s.p95 > limit);
  writeSection(
    `metrics-${t.driver}-${t.scale}${values.case ? `-${values.case.replace(/\W+/g, '-')}` : ''}`,
    [
      `## Metric tools: ${t.scale} demo on ${t.driver === 'postgres' ? 'PostgreSQL 15' : 'PGlite (PostgreSQL 18 in WASM)'}`,
      '',
      `- machine: ${machineLine()}; date: ${today()}; load average during the run: ${loadText(result.load)}`,
      `- command: \`npx tsx bench/metrics.ts --targets ${t.driver}:${t.scale} --runs ${RUNS}${values.tools ? ` --tools ${values.tools}` : ''}${values.case ? ` --case "${values.case}"` : ''}\`; demo seed 42, now ${DEMO_NOW}; each case run once to warm up, then ${RUNS} times (once when the warm-up took over ${SLOW_CASE_MS / 1000} s); cases = {last_month, last_quarter, this_year (snapshot tools: now, last_month)} × {no grouping, by manager (or the tool's first grouping)} × {admin, head of a sub-department} (+ tool options)`,
      '',
      tbl,
      '',
      limit === undefined
        ? '- no target at this scale/driver (targets: large/PostgreSQL p95 ≤ 300 ms, medium/PGlite p95 ≤ 1 s)'
        : `- target p95 ≤ ${limit} ms per tool: ${over.length === 0 ? 'every tool' : `${over.length} of ${result.stats.length} tools over (${over.map((s) => s.tool).join(', ')})`} → ${verdict(over.length === 0)}`,
      ...(result.refused.length > 0
        ? [`- cases answered with a refusal (not timed): ${result.refused.join('; ')}`]
        : []),
      '',
      '### EXPLAIN (ANALYZE, BUFFERS) of the slowest statement of the three slowest tools',
      '',
      ...result.explains.flatMap((e) => [e, '']),
    ].join('\n'),
  );
  if (values.drop) await dropBenchDb(t.driver, t.scale);
}
