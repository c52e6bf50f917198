/**
 * Call analysis pipeline benchmark on PostgreSQL (DATABASE_URL):
 * `tsx bench/pipeline.ts [--calls 10000] [--workers 2] [--batch 20] [--kill-at 0.3] [--keep]`.
 *
 * Creates a scratch database next to DATABASE_URL's, imports the small demo
 * company and clones its transcribed calls up to `--calls`, then measures:
 *   A. throughput: every call queued at once, analyzed by the offline
 *      analyzer and notified (outbox row + event) by workers in this process;
 *   B. the same with `--workers` worker processes;
 *   C. a crash: `--workers` processes are killed with SIGKILL once `--kill-at`
 *      of the calls have breakdowns; a new worker takes over after the dead
 *      workers' jobs expire. Reported: breakdowns and outbox rows per call
 *      (exactly one each), events (at least one per call; a second only for
 *      an attempt killed between firing and recording it), jobs retried,
 *      dead letters.
 * The scratch database is dropped at the end unless --keep.
 */

import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import postgres from 'postgres';
import { analyzeOffline, OFFLINE_ANALYZER } from '../src/analysis/offline/analyzer.ts';
import { createAnalysisPipeline, pipelineStatus, QUEUES } from '../src/analysis/pipeline/index.ts';
import { loadConfig } from '../src/config.ts';
import { type Db, migrate, openDb } from '../src/db/client.ts';
import { generateDemo } from '../src/ingest/demo/index.ts';
import { importDirectory } from '../src/ingest/import.ts';
import { startBoss } from '../src/jobs/boss.ts';
import { silentLogger } from '../src/logger.ts';

const { values } = parseArgs({
  options: {
    calls: { type: 'string', default: '10000' },
    workers: { type: 'string', default: '2' },
    batch: { type: 'string', default: '20' },
    'kill-at': { type: 'string', default: '0.3' },
    keep: { type: 'boolean', default: false },
    /** Internal: run as a worker process against this database URL. */
    worker: { type: 'string' },
  },
});

const BATCH = Number(values.batch);
/**
 * Short expiry and first retry delay, so the crash scenario recovers in seconds rather than after the
 * production 10 minutes (+30 s).
 */
const RETRY = {
  analyze: { expireInSeconds: 10, delaySeconds: 2 },
  notify: { expireInSeconds: 10, delaySeconds: 2 },
};
const WORKERS = {
  analyze: { batchSize: BATCH, concurrency: 2, pollingIntervalSeconds: 0.5 },
  notify: { batchSize: BATCH, concurrency: 1, pollingIntervalSeconds: 0.5 },
  transcribe: { pollingIntervalSeconds: 0.5 },
};
const offline = {
  name: OFFLINE_ANALYZER,
  analyze: async (p: Parameters<typeof analyzeOffline>[0], o: Parameters<typeof analyzeOffline>[1]) =>
    analyzeOffline(p, o),
};

function pipelineFor(db: Db, boss: Awaited<ReturnType<typeof startBoss>>, onEvent: (callId: string) => void) {
  return createAnalysisPipeline({
    db,
    boss,
    logger: silentLogger,
    analyzer: offline,
    now: () => new Date(),
    onBreakdownReady: async (e) => onEvent(e.callId),
    retry: RETRY,
    workers: WORKERS,
  });
}

if (values.worker) {
  // Worker process: runs the three steps until it is killed; one line per event on stdout.
  const db = await openDb({ databaseUrl: values.worker });
  const boss = await startBoss(db, silentLogger, { supervise: false, schedule: false });
  const pipeline = pipelineFor(db, boss, (id) => process.stdout.write(`E ${id}\n`));
  await pipeline.start();
  process.stdout.write('READY\n');
  process.on('SIGTERM', async () => {
    await pipeline.stop();
    await boss.stop();
    await db.close();
    process.exit(0);
  });
  await new Promise(() => {});
}

const databaseUrl = loadConfig().databaseUrl;
if (!databaseUrl) {
  console.error('DATABASE_URL is required: the benchmark runs on PostgreSQL.');
  process.exit(2);
}
const N = Number(values.calls);
const PROCESSES = Number(values.workers);
const KILL_AT = Number(values['kill-at']);

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const fmt = (n: number) => n.toLocaleString('en-US');

const name = `voronka_bench_${randomBytes(4).toString('hex')}`;
const admin = postgres(databaseUrl, { max: 1, onnotice: () => {} });
await admin.unsafe(`CREATE DATABASE ${name}`);
const url = new URL(databaseUrl);
url.pathname = `/${name}`;
const benchUrl = url.toString();
const db = await openDb({ databaseUrl: benchUrl });

async function cleanup() {
  await db.close();
  if (!values.keep) await admin.unsafe(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
  await admin.end();
}

try {
  await migrate(db);
  const dir = await mkdtemp(join(tmpdir(), 'voronka-bench-pipeline-'));
  await generateDemo({ outDir: dir, scale: 'small', seed: 42, now: new Date('2026-11-23T10:00:00+03:00') });
  await importDirectory(db, { dir, logger: silentLogger });
  await rm(dir, { recursive: true, force: true });
  // N calls cloned from the demo's transcribed ones (string and JSON-segment transcripts alike).
  await db.query(
    `WITH src AS (SELECT row_number() OVER (ORDER BY id) AS rn, c.* FROM calls c WHERE transcript IS NOT NULL),
          k AS (SELECT count(*) AS n FROM src)
     INSERT INTO calls (id, direction, started_at, duration_sec, status, manager_id, client_phone, line_number, transcript)
     SELECT 'B' || lpad(g::text, 6, '0'), s.direction, s.started_at, s.duration_sec, s.status, s.manager_id,
            s.client_phone, s.line_number, s.transcript
       FROM generate_series(1, $1::int) g CROSS JOIN k JOIN src s ON s.rn = (g - 1) % k.n + 1`,
    [N],
  );
  // Every demo manager and head talks to the bot, so the outbox rows are addressed.
  await db.query(
    `INSERT INTO bot_users (name, role, manager_id, preferred_channel)
     SELECT name, role, id, 'telegram' FROM managers WHERE role IN ('manager', 'head')`,
  );
  const ids = (await db.query<{ id: string }>("SELECT id FROM calls WHERE id LIKE 'B%' ORDER BY id")).map(
    (r) => r.id,
  );
  console.log(`database     ${name} (PostgreSQL), ${fmt(ids.length)} calls with transcripts, batch ${BATCH}`);

  const boss = await startBoss(db, silentLogger, { schedule: false });

  async function reset() {
    for (const q of [QUEUES.transcribe, QUEUES.analyze, QUEUES.notify, QUEUES.dead]) {
      if (await boss.getQueue(q)) await boss.deleteAllJobs(q);
    }
    await db.query(`DELETE FROM call_analyses WHERE call_id LIKE 'B%'`);
    await db.query(`DELETE FROM deliveries WHERE key LIKE 'breakdown:B%'`);
  }

  async function breakdownCount(): Promise<number> {
    const [r] = await db.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM call_analyses WHERE call_id LIKE 'B%' AND analyzer = $1`,
      [OFFLINE_ANALYZER],
    );
    return r?.n ?? 0;
  }

  /** Waits until no pipeline job is queued, waiting for a retry or running. */
  async function settle(): Promise<void> {
    for (;;) {
      const s = await pipelineStatus(db);
      if (s.queues.every((q) => q.created + q.retry + q.active === 0)) return;
      await sleep(500);
    }
  }

  async function verify(events: string[]) {
    const [b] = await db.query<{ n: number; calls: number }>(
      `SELECT count(*)::int AS n, count(DISTINCT call_id)::int AS calls FROM call_analyses WHERE call_id LIKE 'B%'`,
    );
    const [d] = await db.query<{ n: number; sent: number }>(
      `SELECT count(*)::int AS n, count(*) FILTER (WHERE status = 'sent')::int AS sent
         FROM deliveries WHERE key LIKE 'breakdown:B%'`,
    );
    const [j] = await db.query<{ retried: number }>(
      `SELECT count(*)::int AS retried FROM pgboss.job WHERE name = ANY($1::text[]) AND retry_count > 0`,
      [[QUEUES.analyze, QUEUES.notify]],
    );
    const s = await pipelineStatus(db);
    const distinct = new Set(events).size;
    console.log(
      `  breakdowns ${fmt(b?.n ?? 0)} for ${fmt(b?.calls ?? 0)} calls · outbox rows ${fmt(d?.n ?? 0)} ` +
        `(${fmt(d?.sent ?? 0)} sent) · events ${fmt(events.length)} for ${fmt(distinct)} calls ` +
        `(${fmt(ids.length - distinct)} never, ${fmt(events.length - distinct)} again) · ` +
        `jobs retried ${fmt(j?.retried ?? 0)} · dead letters ${s.dead}`,
    );
  }

  function spawnWorkers(n: number, events: string[]) {
    const script = fileURLToPath(import.meta.url);
    const children = Array.from({ length: n }, () =>
      spawn(process.execPath, ['--import', 'tsx', script, '--worker', benchUrl, '--batch', String(BATCH)], {
        stdio: ['ignore', 'pipe', 'inherit'],
      }),
    );
    const ready = children.map(
      (child) =>
        new Promise<void>((resolve) => {
          let rest = '';
          child.stdout.on('data', (chunk: Buffer) => {
            const lines = (rest + chunk.toString()).split('\n');
            rest = lines.pop() ?? '';
            for (const line of lines) {
              if (line === 'READY') resolve();
              else if (line.startsWith('E ')) events.push(line.slice(2));
            }
          });
        }),
    );
    return { children, ready: Promise.all(ready) };
  }

  // A. One process.
  {
    await reset();
    const events: string[] = [];
    const pipeline = pipelineFor(db, boss, (id) => events.push(id));
    await pipeline.start();
    const t0 = performance.now();
    const counts = await pipeline.enqueueCalls(ids);
    const tq = performance.now();
    await settle();
    const s = (performance.now() - t0) / 1000;
    await pipeline.stop();
    console.log(
      `A. 1 process: queued ${fmt(counts.queued.analyze)} in ${((tq - t0) / 1000).toFixed(1)} s; ` +
        `all analyzed and notified in ${s.toFixed(1)} s → ${fmt(Math.round(ids.length / s))} calls/s`,
    );
    await verify(events);
  }

  // B. Several worker processes.
  {
    await reset();
    const events: string[] = [];
    const { children, ready } = spawnWorkers(PROCESSES, events);
    await ready;
    const enqueuer = pipelineFor(db, boss, (id) => events.push(id));
    const t0 = performance.now();
    await enqueuer.enqueueCalls(ids);
    await settle();
    const s = (performance.now() - t0) / 1000;
    for (const c of children) c.kill('SIGTERM');
    await Promise.all(children.map((c) => new Promise((r) => c.once('exit', r))));
    console.log(
      `B. ${PROCESSES} worker processes: ${fmt(ids.length)} calls in ${s.toFixed(1)} s → ${fmt(Math.round(ids.length / s))} calls/s`,
    );
    await verify(events);
  }

  // C. Crash: SIGKILL the workers mid-run, recover in a new one.
  {
    await reset();
    const events: string[] = [];
    const { children, ready } = spawnWorkers(PROCESSES, events);
    await ready;
    const enqueuer = pipelineFor(db, boss, (id) => events.push(id));
    const t0 = performance.now();
    await enqueuer.enqueueCalls(ids);
    while ((await breakdownCount()) < ids.length * KILL_AT) await sleep(100);
    for (const c of children) c.kill('SIGKILL');
    await Promise.all(children.map((c) => new Promise((r) => c.once('exit', r))));
    const atKill = await breakdownCount();
    const [active] = await db.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM pgboss.job WHERE name = ANY($1::text[]) AND state = 'active'`,
      [[QUEUES.analyze, QUEUES.notify]],
    );
    const tk = performance.now();
    const recovery = pipelineFor(db, boss, (id) => events.push(id));
    await recovery.start();
    // The killed workers' jobs stay active until they expire and pg-boss's next monitor pass
    // (every 60 s) turns them into retries.
    await settle();
    const s = (performance.now() - t0) / 1000;
    await recovery.stop();
    console.log(
      `C. crash: ${PROCESSES} workers killed (SIGKILL) at ${fmt(atKill)} breakdowns with ${fmt(active?.n ?? 0)} jobs in hand; ` +
        `a new worker finished in ${((performance.now() - tk) / 1000).toFixed(1)} s (total ${s.toFixed(1)} s, ` +
        `jobs in hand expire after ${RETRY.analyze.expireInSeconds} s, pg-boss retries them on its next monitor pass, ≤ 60 s)`,
    );
    await verify(events);
  }

  await boss.stop();
} finally {
  await cleanup();
}
