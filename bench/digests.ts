/**
 * Digest build + render speed on the medium demo company:
 *
 *   npx tsx bench/digests.ts [--db URL] [--prepare] [--subscribers 1000] [--cold 100]
 *
 * `--db` (default DATABASE_URL) must hold the medium demo with history up to
 * Tuesday 24 November 2026 10:00 MSK; `--prepare` creates that database first
 * (`voronka demo --scale medium` + import, ~5 min). The bench then:
 *
 * 1. creates `--subscribers` digest subscriptions (half daily, half weekly
 *    on Tuesdays, 09:00) for bot users bound round-robin to every manager
 *    record (so admins, heads and managers in the company's proportions), in
 *    Moscow (60 %), Yekaterinburg (20 %) and Novosibirsk (20 %);
 * 2. runs the production path for each 09:00 slot: the scheduler enqueues the
 *    outbox rows, the pg-boss worker builds each digest (metric tools + 1–3
 *    Chart.js PNGs, 2000×1200) and hands it to a sender that only counts bytes
 *    (no messenger, no disk) — and reports the wall time for all of them;
 * 3. builds `--cold` digests for distinct callers with nothing shared, to give
 *    the cost of a digest computed from scratch.
 *
 * Database load is reported from pg_stat_database (transactions, rows
 * returned/fetched, buffer hits/reads) and from the queries the digests ran.
 */
import fs from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import postgres from 'postgres';
import { coreMetricTools, ToolRegistry } from '../src/agent/registry.ts';
import { createChartRenderer } from '../src/charts/index.ts';
import { type Db, migrate, openDb, type Queryable } from '../src/db/client.ts';
import { createDigestBuilder } from '../src/digests/content.ts';
import { createToolMemo, noMemo } from '../src/digests/memo.ts';
import { DEFAULT_QUEUE, ensureDeliveryQueue } from '../src/digests/outbox.ts';
import { createDigestScheduler } from '../src/digests/scheduler.ts';
import type { DigestSender } from '../src/digests/senders.ts';
import { createDeliveryWorker } from '../src/digests/worker.ts';
import { generateDemo } from '../src/ingest/demo/index.ts';
import { importDirectory } from '../src/ingest/import.ts';
import { startBoss } from '../src/jobs/boss.ts';
import { silentLogger } from '../src/logger.ts';
import type { Caller } from '../src/metrics/types.ts';

const { values } = parseArgs({
  options: {
    db: {
      type: 'string',
      default: process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:55432/voronka_digests_bench',
    },
    prepare: { type: 'boolean', default: false },
    subscribers: { type: 'string', default: '1000' },
    cold: { type: 'string', default: '100' },
    concurrency: { type: 'string', default: '6' },
    batch: { type: 'string', default: '8' },
    loops: { type: 'string', default: '2' },
  },
});
const url = values.db as string;
const subscriptions = Number(values.subscribers);
const coldCount = Number(values.cold);
const concurrency = Number(values.concurrency);
const batchSize = Number(values.batch);
const loops = Number(values.loops);
const HISTORY_END = new Date('2026-11-24T10:00:00+03:00');
const ZONES: Array<[string, number]> = [
  ['Europe/Moscow', 0.6],
  ['Asia/Yekaterinburg', 0.2],
  ['Asia/Novosibirsk', 0.2],
];
const COMPANY_TZ = 'Europe/Moscow';

async function prepare(): Promise<void> {
  const target = new URL(url);
  const name = target.pathname.slice(1);
  target.pathname = '/postgres';
  const admin = postgres(target.toString(), { max: 1, onnotice: () => {} });
  await admin.unsafe(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
  await admin.unsafe(`CREATE DATABASE ${name}`);
  await admin.end();
  const dir = fs.mkdtempSync(path.join(tmpdir(), 'voronka-bench-medium-'));
  console.log(`generating the medium demo into ${dir} …`);
  await generateDemo({ outDir: dir, scale: 'medium', seed: 42, now: HISTORY_END });
  const db = await openDb({ databaseUrl: url });
  await migrate(db);
  console.log('importing …');
  const report = await importDirectory(db, { dir, logger: silentLogger });
  console.log(`${report.rows} rows in ${(report.ms / 1000).toFixed(0)} s, ${report.rejected} rejected`);
  await db.close();
  fs.rmSync(dir, { recursive: true, force: true });
}

/** Counts the queries a component runs and the time they take. */
function counted<T extends Queryable>(db: T): T & { stats: { queries: number; ms: number } } {
  const stats = { queries: 0, ms: 0 };
  const query = async <R>(text: string, params?: unknown[]): Promise<R[]> => {
    const t = performance.now();
    try {
      return await db.query<R>(text, params);
    } finally {
      stats.queries++;
      stats.ms += performance.now() - t;
    }
  };
  return Object.assign(Object.create(db), { query, stats }) as T & { stats: typeof stats };
}

interface PgStats {
  xact_commit: number;
  tup_returned: number;
  tup_fetched: number;
  blks_hit: number;
  blks_read: number;
}

async function pgStats(db: Db): Promise<PgStats> {
  const [r] = await db.query<PgStats>(
    `SELECT xact_commit, tup_returned, tup_fetched, blks_hit, blks_read FROM pg_stat_database WHERE datname = current_database()`,
  );
  return r!;
}

function pgDelta(a: PgStats, b: PgStats): string {
  const d = (k: keyof PgStats) => Number(b[k]) - Number(a[k]);
  return `${d('xact_commit')} transactions, ${(d('tup_returned') / 1e6).toFixed(1)} M rows returned, ${(d('tup_fetched') / 1e6).toFixed(1)} M rows fetched, ${d('blks_hit')} buffer hits, ${d('blks_read')} blocks read`;
}

/**
 * CPU seconds used so far by the server processes serving this database (same machine, from /proc),
 * by pid: other databases on the server are left out.
 */
async function backendCpu(db: Db): Promise<Map<number, number>> {
  const rows = await db.query<{ pid: number }>(
    'SELECT pid FROM pg_stat_activity WHERE datname = current_database()',
  );
  const out = new Map<number, number>();
  for (const { pid } of rows) {
    try {
      const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      out.set(Number(pid), (Number(f[11]) + Number(f[12])) / 100);
    } catch {
      // Not on this machine, or already gone.
    }
  }
  return out;
}

function cpuDelta(a: Map<number, number>, b: Map<number, number>): string {
  if (b.size === 0) return '';
  let s = 0;
  for (const [pid, t] of b) s += t - (a.get(pid) ?? 0);
  return `, postgres ${s.toFixed(1)} s`;
}

if (values.prepare) await prepare();

const raw = await openDb({ databaseUrl: url });
await migrate(raw);
const [{ calls, leads, deals, managers } = { calls: 0, leads: 0, deals: 0, managers: 0 }] = await raw.query<{
  calls: number;
  leads: number;
  deals: number;
  managers: number;
}>(
  `SELECT (SELECT count(*) FROM calls) AS calls, (SELECT count(*) FROM leads) AS leads,
          (SELECT count(*) FROM deals) AS deals, (SELECT count(*) FROM managers) AS managers`,
);
if (managers === 0) {
  console.error(`${url} has no data: run with --prepare`);
  process.exit(2);
}

// ---------------------------------------------------------------------------
// Subscribers.

await raw.exec(`DELETE FROM deliveries WHERE kind LIKE 'digest%';
  DELETE FROM bot_users WHERE name LIKE 'bench %'`);
const people = await raw.query<{ id: string; role: Caller['role'] }>(
  'SELECT id, role FROM managers ORDER BY id',
);
const users = Math.ceil(subscriptions / 2);
const userIds: number[] = [];
for (let i = 0; i < users; i++) {
  const m = people[i % people.length]!;
  const [u] = await raw.query<{ id: number }>(
    `INSERT INTO bot_users (name, role, manager_id, preferred_channel) VALUES ($1, $2, $3, 'console') RETURNING id`,
    [`bench ${i}`, m.role, m.id],
  );
  await raw.query(
    `INSERT INTO messenger_identities (user_id, channel, external_id, chat_id) VALUES ($1, 'console', $2, $2)`,
    [u!.id, `bench-${i}`],
  );
  userIds.push(u!.id);
}
const zoneOf = (i: number) => {
  const x = (i % 10) / 10;
  return x < 0.6 ? ZONES[0]![0] : x < 0.8 ? ZONES[1]![0] : ZONES[2]![0];
};
// Subscribed just before the first 09:00 of the run, so each subscription is due exactly once.
const created = new Date('2026-11-24T01:00:00Z');
let n = 0;
for (const [i, id] of userIds.entries()) {
  for (const kind of ['daily', 'weekly'] as const) {
    if (n++ >= subscriptions) break;
    await raw.query(
      `INSERT INTO subscriptions (user_id, kind, channel, time_of_day, weekday, time_zone, created_at)
       VALUES ($1, $2, 'console', '09:00', $3, $4, $5)`,
      [id, kind, kind === 'weekly' ? 2 : null, zoneOf(i), created],
    );
  }
}
const distinctContent = await raw.query<{ n: number }>(
  `SELECT count(DISTINCT (u.role, u.manager_id, s.kind, s.time_zone))::int AS n
     FROM subscriptions s JOIN bot_users u ON u.id = s.user_id WHERE u.name LIKE 'bench %'`,
);

// ---------------------------------------------------------------------------
// 1. The production path: scheduler → outbox → pg-boss → worker → sender.

const registry = new ToolRegistry(coreMetricTools);
const renderer = createChartRenderer({ logger: silentLogger });
// The production defaults (5-minute tool results, 300 chart images).
const memo = createToolMemo();
const chartMemo = createToolMemo({ maxEntries: 300 });
const db = counted(raw);
const builder = createDigestBuilder({
  db,
  registry,
  renderer,
  companyTz: COMPANY_TZ,
  logger: silentLogger,
  memo,
  chartMemo,
});
let bytes = 0;
let messages = 0;
let charts = 0;
const sender: DigestSender = async (_u, _c, _chat, reply) => {
  messages++;
  bytes += Buffer.byteLength(reply.text);
  if (reply.chart) {
    charts++;
    bytes += reply.chart.png.length;
  }
  return {};
};
let clockAt = new Date(HISTORY_END);
const now = () => clockAt;
const boss = await startBoss(raw, silentLogger, { supervise: false, schedule: false });
await boss.deleteAllJobs();
await ensureDeliveryQueue(boss, DEFAULT_QUEUE);
const worker = createDeliveryWorker({
  db,
  boss,
  now,
  logger: silentLogger,
  senders: { console: sender },
  builder,
  batchSize,
  concurrency: loops,
  pollingIntervalSeconds: 0.5,
});
const scheduler = createDigestScheduler({ db, boss, now, logger: silentLogger });
await worker.start();

const slots = [
  ['Asia/Novosibirsk', '2026-11-24T02:00:00Z'],
  ['Asia/Yekaterinburg', '2026-11-24T04:00:00Z'],
  ['Europe/Moscow', '2026-11-24T06:00:00Z'],
] as const;
const pg0 = await pgStats(raw);
const pgCpu0 = await backendCpu(raw);
const cpu0 = process.cpuUsage();
const t0 = performance.now();
const perSlot: string[] = [];
for (const [zone, at] of slots) {
  const ts = performance.now();
  clockAt = new Date(at);
  const r = await scheduler.tick();
  for (;;) {
    const [left] = await raw.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM deliveries WHERE kind LIKE 'digest%' AND status NOT IN ('sent', 'failed')`,
    );
    if (Number(left!.n) === 0) break;
    await new Promise((res) => setTimeout(res, 50));
  }
  perSlot.push(
    `${zone.padEnd(20)} ${String(r.digests).padStart(5)} digests ${((performance.now() - ts) / 1000).toFixed(1).padStart(6)} s`,
  );
}
const wall = (performance.now() - t0) / 1000;
const cpu = process.cpuUsage(cpu0);
const pgCpu1 = await backendCpu(raw);
const pg1 = await pgStats(raw);
const [outcome] = await raw.query<{ sent: number; failed: number }>(
  `SELECT count(*) FILTER (WHERE status = 'sent')::int AS sent, count(*) FILTER (WHERE status = 'failed')::int AS failed
     FROM deliveries WHERE kind LIKE 'digest%'`,
);
await worker.stop();
await boss.stop({ graceful: false, close: true, timeout: 2_000 });
const memoStats = memo.stats();
const chartStats = chartMemo.stats();

console.log(
  `data: ${calls} calls, ${leads} leads, ${deals} deals, ${managers} managers (medium demo); PostgreSQL at ${new URL(url).host}; Node ${process.version}; load ${loadavg()[0]?.toFixed(1)}`,
);
console.log(
  `\n1) ${outcome!.sent} digests sent (${outcome!.failed} failed) through scheduler → outbox → pg-boss → worker (${loops} polling loops × batches of ${batchSize}):`,
);
for (const line of perSlot) console.log(`   ${line}`);
console.log(
  `   total ${wall.toFixed(1)} s — ${((wall * 1000) / Number(outcome!.sent)).toFixed(0)} ms per digest`,
);
console.log(
  `   ${messages} messages, ${charts} chart PNGs, ${(bytes / 2 ** 20).toFixed(0)} MB; ${distinctContent[0]!.n} distinct (caller, kind, zone) contents`,
);
console.log(
  `   shared work: tool results ${memoStats.hits} hits / ${memoStats.misses} misses, chart images ${chartStats.hits} hits / ${chartStats.misses} renders`,
);
console.log(
  `   queries (digests and outbox): ${db.stats.queries} (${(db.stats.ms / 1000).toFixed(1)} s summed latency)`,
);
console.log(`   database: ${pgDelta(pg0, pg1)}`);
console.log(
  `   CPU: node ${((cpu.user + cpu.system) / 1e6).toFixed(1)} s${cpuDelta(pgCpu0, pgCpu1)} (this database's backends)`,
);

// ---------------------------------------------------------------------------
// 2. From scratch: distinct callers, nothing shared.

if (coldCount > 0) {
  const cold = counted(raw);
  const coldBuilder = createDigestBuilder({
    db: cold,
    registry,
    renderer,
    companyTz: COMPANY_TZ,
    logger: silentLogger,
    memo: noMemo(),
    chartMemo: noMemo(),
  });
  const jobs = Array.from({ length: coldCount }, (_, i) => {
    const m = people[i % people.length]!;
    // A different instant per digest, so no two share a figure even for the same caller.
    return {
      kind: (i % 2 ? 'weekly' : 'daily') as 'daily' | 'weekly',
      caller: { role: m.role, managerId: m.role === 'admin' ? null : m.id } as Caller,
      slot: new Date(new Date('2026-11-24T06:00:00Z').getTime() - i * 60_000),
      timeZone: COMPANY_TZ,
    };
  });
  const pgA = await pgStats(raw);
  const cpuA = process.cpuUsage();
  const pgCpuA = await backendCpu(raw);
  const tc = performance.now();
  let next = 0;
  let coldCharts = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < jobs.length) {
        const c = await coldBuilder.build(jobs[next++]!);
        coldCharts += c.charts.length;
      }
    }),
  );
  const coldWall = (performance.now() - tc) / 1000;
  const cpuB = process.cpuUsage(cpuA);
  const pgCpuB = await backendCpu(raw);
  console.log(
    `\n2) ${coldCount} digests from scratch (every caller and instant distinct), concurrency ${concurrency}:`,
  );
  console.log(
    `   ${coldWall.toFixed(1)} s — ${((coldWall * 1000) / coldCount).toFixed(0)} ms per digest, ${coldCharts} charts; 1,000 such digests ≈ ${((coldWall / coldCount) * 1000).toFixed(0)} s`,
  );
  console.log(`   queries: ${cold.stats.queries} (${(cold.stats.ms / 1000).toFixed(1)} s summed latency)`);
  console.log(`   database: ${pgDelta(pgA, await pgStats(raw))}`);
  console.log(
    `   CPU: node ${((cpuB.user + cpuB.system) / 1e6).toFixed(1)} s${cpuDelta(pgCpuA, pgCpuB)} (this database's backends)`,
  );
}
console.log(`peak RSS ${(process.resourceUsage().maxRSS / 1024).toFixed(0)} MB`);

await raw.exec(
  `DELETE FROM deliveries WHERE kind LIKE 'digest%'; DELETE FROM bot_users WHERE name LIKE 'bench %'`,
);
renderer.close();
await raw.close();
