import { randomUUID } from 'node:crypto';
import type { Job, PgBoss } from 'pg-boss';
import type { Queryable } from '../../db/client.ts';
import type { Logger } from '../../logger.ts';
import type { CallBreakdown } from '../schema.ts';
import type { Transcriber } from '../transcribe.ts';
import {
  BOSS_SCHEMA,
  type CallJobData,
  DEFAULT_RETRY,
  ensureQueues,
  QUEUES,
  type RetryPolicy,
  STEP_QUEUES,
  singletonKeyOf,
} from './queues.ts';
import {
  analyzeCalls,
  type BreakdownReadyEvent,
  type FailureOutput,
  notifyBreakdowns,
  type PipelineAnalyzer,
  type SkipReason,
  type StepDeps,
  type StepResult,
  transcribeCall,
} from './steps.ts';

export { BOSS_SCHEMA, type CallJobData, DEFAULT_RETRY, QUEUES, type RetryPolicy } from './queues.ts';
export { type DeadLetter, formatPipelineStatusRu, type PipelineStatus, pipelineStatus } from './status.ts';
export {
  type BreakdownReadyEvent,
  breakdownDeliveryKey,
  NO_RECIPIENT,
  type PipelineAnalyzer,
  type SkipReason,
  skipReasonsRu,
  transcriptInputOf,
} from './steps.ts';

/*
 * Conversation analysis pipeline (ARCHITECTURE.md): call → transcribe (when
 * there is only a recording) → analyze → notify, each step a durable pg-boss
 * job with retries, exponential backoff and a dead-letter queue, on
 * PostgreSQL and on the embedded PGlite alike.
 *
 * Once, end to end: a job's singleton key (call id + analyzer) keeps one job
 * per call and step queued or running; the breakdown insert is
 * `ON CONFLICT (call_id, analyzer) DO NOTHING`; the outbox row's unique key
 * `breakdown:<call>:<analyzer>` records the notification, whose event fires
 * once (again only if an attempt died between firing it and recording that:
 * the bot's notifier claims its own per-recipient rows, so nothing is sent
 * twice). A worker killed mid-step leaves its job active until it expires
 * (`expireInSeconds`; pg-boss's supervision then retries it), and the retry
 * finds the work already done.
 *
 * Two ways to run a backlog: `backfill()` goes through the queue and waits
 * for its own jobs (resumable, parallel across processes, the default for
 * the CLI); `analyzeCallNow()` runs the same steps inline for one call.
 */

type Step = 'transcribe' | 'analyze' | 'notify';

export interface WorkerSettings {
  /** Jobs fetched at once by each worker; a batch's calls are analyzed side by side. */
  batchSize: number;
  /** Workers per queue in this process. */
  concurrency: number;
  /** Idle poll interval; pg-boss's minimum is 0.5 s. */
  pollingIntervalSeconds: number;
}

export const DEFAULT_WORKERS: WorkerSettings = { batchSize: 5, concurrency: 2, pollingIntervalSeconds: 2 };

export interface AnalysisPipelineOptions {
  db: Queryable;
  boss: PgBoss;
  logger: Logger;
  analyzer: PipelineAnalyzer;
  /** Speech-to-text for calls that have a recording and no transcript; without it they are skipped. */
  transcriber?: Transcriber | undefined;
  now: () => Date;
  /** Fired once per breakdown after its outbox row is claimed; a throw fails the notify job, which retries. */
  onBreakdownReady?: ((e: BreakdownReadyEvent) => Promise<void>) | undefined;
  retry?: Partial<Record<Step, Partial<RetryPolicy>>>;
  workers?: Partial<Record<Step, Partial<WorkerSettings>>>;
}

export interface EnqueueOptions {
  /** Write the outbox row and emit the event for each new breakdown (default true). */
  notify?: boolean;
}

export interface EnqueueCounts {
  /** Distinct call ids asked for. */
  requested: number;
  /** Jobs created, by the step the call starts at. */
  queued: { transcribe: number; analyze: number };
  /** A job for the call and analyzer was already queued or running. */
  alreadyQueued: number;
  /** The call already has a breakdown by this analyzer. */
  alreadyAnalyzed: number;
  /** Calls left out, by reason. */
  skipped: Partial<Record<SkipReason, number>>;
}

export interface BackfillProgress {
  /** Calls queued by this backfill. */
  total: number;
  stored: number;
  /** Already analyzed by the time their job ran. */
  exists: number;
  skipped: number;
  /** Gave up after the retries: see `pipelineStatus` for why. */
  failed: number;
  /** Jobs of this backfill still queued, waiting for a retry or running. */
  pending: number;
}

export interface BackfillOptions {
  /** Only calls started at or after this moment. */
  since?: Date;
  /** At most this many calls, the most recent first. */
  limit?: number;
  /**
   * Write outbox rows for the breakdowns (default false): a backfill goes
   * over past calls, and their managers should not get a message per old call.
   */
  notify?: boolean;
  /** Wait until every queued job has finished (default true); starts this process's workers if needed. */
  wait?: boolean;
  onProgress?: (p: BackfillProgress) => void;
  /** How often progress is read while waiting (default 1 s). */
  pollMs?: number;
}

export interface BackfillResult {
  /** Calls without a breakdown by this analyzer that can be analyzed, in the range. */
  selected: number;
  enqueued: EnqueueCounts;
  /** Calls in the range that cannot be analyzed, by reason (not queued). */
  skipped: Partial<Record<SkipReason, number>>;
  /** Outcome of the queued jobs; only when waited for. */
  progress: BackfillProgress | null;
  ms: number;
}

export interface AnalysisPipeline {
  /** Creates the queues and registers this process's workers (idempotent). */
  start(): Promise<void>;
  /** Queues calls for analysis, e.g. from the CRM sync's `onCallsStored`. */
  enqueueCalls(callIds: readonly string[], opts?: EnqueueOptions): Promise<EnqueueCounts>;
  /** Queues every call of a range that has no breakdown by this analyzer yet, and waits for them. */
  backfill(opts?: BackfillOptions): Promise<BackfillResult>;
  /** Moves dead letters back to the step they failed in; returns how many. */
  redriveFailed(): Promise<number>;
  /** Unregisters this process's workers, letting running jobs finish. */
  stop(): Promise<void>;
}

const CHUNK = 1000;

function chunks<T>(xs: readonly T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < xs.length; i += size) out.push(xs.slice(i, i + size));
  return out;
}

function mergeRetry(opts: AnalysisPipelineOptions['retry']): Record<Step, RetryPolicy> {
  return {
    transcribe: { ...DEFAULT_RETRY.transcribe, ...opts?.transcribe },
    analyze: { ...DEFAULT_RETRY.analyze, ...opts?.analyze },
    notify: { ...DEFAULT_RETRY.notify, ...opts?.notify },
  };
}

function settle(job: Job<CallJobData>, r: StepResult) {
  return { id: job.id, status: r.status, output: r.output as object };
}

export function createAnalysisPipeline(options: AnalysisPipelineOptions): AnalysisPipeline {
  const { db, boss, logger, analyzer } = options;
  const deps: StepDeps = {
    db,
    logger,
    analyzer,
    transcriber: options.transcriber,
    now: options.now,
    onBreakdownReady: options.onBreakdownReady,
  };
  const retry = mergeRetry(options.retry);
  const workerSettings = (step: Step): WorkerSettings => ({ ...DEFAULT_WORKERS, ...options.workers?.[step] });
  let queuesReady: Promise<void> | undefined;
  let started: Promise<void> | undefined;

  const ensure = () => {
    queuesReady ??= ensureQueues(boss, retry).catch((err) => {
      queuesReady = undefined;
      throw err;
    });
    return queuesReady;
  };

  /** Inserts jobs; a call whose job is already queued or running is not queued again. Returns how many were new. */
  async function insertJobs(queue: string, data: CallJobData[]): Promise<number> {
    let n = 0;
    for (const part of chunks(data, CHUNK)) {
      const ids = await boss.insert(
        queue,
        part.map((d) => ({ data: d, singletonKey: singletonKeyOf(d.callId, d.analyzer) })),
        { returnId: true },
      );
      n += ids?.length ?? 0;
    }
    return n;
  }

  function worker(step: Step, handle: (jobs: Job<CallJobData>[]) => Promise<ReturnType<typeof settle>[]>) {
    const w = workerSettings(step);
    return boss.work<CallJobData>(
      QUEUES[step],
      {
        batchSize: w.batchSize,
        localConcurrency: w.concurrency,
        pollingIntervalSeconds: w.pollingIntervalSeconds,
        // A full batch means a backlog: fetch again at once instead of waiting out the poll interval.
        burstWhenBatchFull: true,
        perJobResults: true,
      },
      handle,
    );
  }

  async function start(): Promise<void> {
    started ??= (async () => {
      await ensure();
      await worker('transcribe', async (jobs) =>
        Promise.all(
          jobs.map(async (job) => {
            const r = await transcribeCall(deps, job.data.callId);
            if (r.analyzeNext) await insertJobs(QUEUES.analyze, [{ ...job.data, analyzer: analyzer.name }]);
            return settle(job, r);
          }),
        ),
      );
      await worker('analyze', async (jobs) => {
        const results = await analyzeCalls(
          deps,
          jobs.map((j) => j.data.callId),
        );
        // Also for a breakdown stored by an earlier attempt that died before queuing its notification.
        const notify = jobs.filter((j) => j.data.notify && results.get(j.data.callId)?.breakdownExists);
        await insertJobs(
          QUEUES.notify,
          notify.map((j) => ({ ...j.data, analyzer: analyzer.name })),
        );
        return jobs.map((j) => settle(j, (results.get(j.data.callId) as { result: StepResult }).result));
      });
      await worker('notify', async (jobs) => {
        const out: ReturnType<typeof settle>[] = [];
        const byAnalyzer = new Map<string, Job<CallJobData>[]>();
        for (const j of jobs)
          byAnalyzer.set(j.data.analyzer, [...(byAnalyzer.get(j.data.analyzer) ?? []), j]);
        for (const [name, group] of byAnalyzer) {
          const results = await notifyBreakdowns(
            deps,
            name,
            group.map((j) => j.data.callId),
          );
          for (const j of group) out.push(settle(j, results.get(j.data.callId) as StepResult));
        }
        return out;
      });
      logger.info(
        { analyzer: analyzer.name, transcriber: Boolean(options.transcriber) },
        'analysis pipeline started',
      );
    })().catch((err) => {
      started = undefined;
      throw err;
    });
    return started;
  }

  async function enqueue(
    callIds: readonly string[],
    notify: boolean,
    batch?: string,
  ): Promise<EnqueueCounts> {
    await ensure();
    const ids = [...new Set(callIds)];
    const counts: EnqueueCounts = {
      requested: ids.length,
      queued: { transcribe: 0, analyze: 0 },
      alreadyQueued: 0,
      alreadyAnalyzed: 0,
      skipped: {},
    };
    const skip = (reason: SkipReason, n = 1) => {
      counts.skipped[reason] = (counts.skipped[reason] ?? 0) + n;
    };
    for (const part of chunks(ids, 5 * CHUNK)) {
      const rows = await db.query<{
        id: string;
        has_transcript: boolean;
        has_recording: boolean;
        analyzed: boolean;
      }>(
        `SELECT c.id, c.transcript IS NOT NULL AS has_transcript, c.recording_url IS NOT NULL AS has_recording,
                EXISTS (SELECT 1 FROM call_analyses a WHERE a.call_id = c.id AND a.analyzer = $2) AS analyzed
           FROM calls c WHERE c.id = ANY($1::text[])`,
        [part, analyzer.name],
      );
      skip('call_not_found', part.length - rows.length);
      const toTranscribe: CallJobData[] = [];
      const toAnalyze: CallJobData[] = [];
      for (const r of rows) {
        const data: CallJobData = {
          callId: r.id,
          analyzer: analyzer.name,
          notify,
          ...(batch ? { batch } : {}),
        };
        if (r.analyzed) counts.alreadyAnalyzed++;
        else if (r.has_transcript) toAnalyze.push(data);
        else if (!r.has_recording) skip('no_transcript');
        else if (!options.transcriber) skip('no_transcriber');
        else toTranscribe.push(data);
      }
      const t = await insertJobs(QUEUES.transcribe, toTranscribe);
      const a = await insertJobs(QUEUES.analyze, toAnalyze);
      counts.queued.transcribe += t;
      counts.queued.analyze += a;
      counts.alreadyQueued += toTranscribe.length - t + (toAnalyze.length - a);
    }
    for (const key of Object.keys(counts.skipped) as SkipReason[]) {
      if (counts.skipped[key] === 0) delete counts.skipped[key];
    }
    return counts;
  }

  async function progressOf(batch: string, total: number): Promise<BackfillProgress> {
    const rows = await db.query<{ name: string; state: string; outcome: string | null; n: number }>(
      `SELECT name, state::text AS state, output->>'outcome' AS outcome, count(*)::int AS n
         FROM ${BOSS_SCHEMA}.job
        WHERE name = ANY($1::text[]) AND data->>'batch' = $2
        GROUP BY 1, 2, 3`,
      [STEP_QUEUES, batch],
    );
    const p: BackfillProgress = { total, stored: 0, exists: 0, skipped: 0, failed: 0, pending: 0 };
    for (const r of rows) {
      if (r.state === 'created' || r.state === 'retry' || r.state === 'active') p.pending += r.n;
      else if (r.name === QUEUES.notify) continue;
      else if (r.state === 'failed') p.failed += r.n;
      else if (r.state !== 'completed') continue;
      else if (r.outcome === 'skipped') p.skipped += r.n;
      else if (r.name === QUEUES.analyze && r.outcome === 'stored') p.stored += r.n;
      else if (r.name === QUEUES.analyze && r.outcome === 'exists') p.exists += r.n;
    }
    return p;
  }

  async function backfill(opts: BackfillOptions = {}): Promise<BackfillResult> {
    const t0 = performance.now();
    const params: unknown[] = [analyzer.name];
    const since = opts.since
      ? ` AND c.started_at >= $${params.push(opts.since.toISOString())}::timestamptz`
      : '';
    const transcribable = options.transcriber ? 'OR c.recording_url IS NOT NULL' : '';
    const limit = opts.limit !== undefined ? ` LIMIT $${params.push(opts.limit)}` : '';
    const picked = await db.query<{ id: string }>(
      `SELECT c.id FROM calls c
        WHERE (c.transcript IS NOT NULL ${transcribable})${since}
          AND NOT EXISTS (SELECT 1 FROM call_analyses a WHERE a.call_id = c.id AND a.analyzer = $1)
        ORDER BY c.started_at DESC, c.id${limit}`,
      params,
    );
    const [left] = await db.query<{ no_transcript: number; no_transcriber: number }>(
      `SELECT count(*) FILTER (WHERE c.recording_url IS NULL)::int AS no_transcript,
              count(*) FILTER (WHERE c.recording_url IS NOT NULL AND NOT $1::boolean)::int AS no_transcriber
         FROM calls c WHERE c.transcript IS NULL${opts.since ? ' AND c.started_at >= $2::timestamptz' : ''}`,
      opts.since ? [Boolean(options.transcriber), opts.since.toISOString()] : [Boolean(options.transcriber)],
    );
    const skipped: Partial<Record<SkipReason, number>> = {};
    if (left?.no_transcript) skipped.no_transcript = left.no_transcript;
    if (left?.no_transcriber) skipped.no_transcriber = left.no_transcriber;

    const batch = randomUUID();
    const enqueued = await enqueue(
      picked.map((r) => r.id),
      opts.notify ?? false,
      batch,
    );
    const total = enqueued.queued.transcribe + enqueued.queued.analyze;
    logger.info(
      { analyzer: analyzer.name, selected: picked.length, total, skipped },
      'analysis backfill queued',
    );
    let progress: BackfillProgress | null = null;
    if (opts.wait ?? true) {
      await start();
      const pollMs = opts.pollMs ?? 1000;
      for (;;) {
        progress = await progressOf(batch, total);
        opts.onProgress?.(progress);
        if (progress.pending === 0) break;
        await new Promise((r) => setTimeout(r, pollMs));
      }
    }
    return { selected: picked.length, enqueued, skipped, progress, ms: performance.now() - t0 };
  }

  async function redriveFailed(): Promise<number> {
    await ensure();
    return boss.redrive(QUEUES.dead);
  }

  async function stop(): Promise<void> {
    const wasStarted = started;
    started = undefined;
    if (!wasStarted) return;
    await wasStarted.catch(() => {});
    await Promise.all(STEP_QUEUES.map((q) => boss.offWork(q, { wait: true })));
  }

  return {
    start,
    enqueueCalls: (callIds, opts) => enqueue(callIds, opts?.notify ?? true),
    backfill,
    redriveFailed,
    stop,
  };
}

export interface AnalyzeNowDeps {
  db: Queryable;
  logger: Logger;
  analyzer: PipelineAnalyzer;
  transcriber?: Transcriber | undefined;
  now: () => Date;
  onBreakdownReady?: ((e: BreakdownReadyEvent) => Promise<void>) | undefined;
}

export type AnalyzeNowResult =
  | { outcome: 'stored' | 'exists'; breakdown: CallBreakdown; notified: boolean }
  | { outcome: 'skipped'; reason: SkipReason }
  | { outcome: 'failed'; error: FailureOutput };

/**
 * The same three steps without a queue, for one call (the CLI and tests):
 * transcribe if needed, analyze, and notify unless told not to. Writes are
 * the pipeline's idempotent ones, so running it next to the workers, or
 * twice, still leaves one breakdown and one outbox row. Failures are
 * returned, not retried.
 */
export async function analyzeCallNow(
  deps: AnalyzeNowDeps,
  callId: string,
  opts: { notify?: boolean } = {},
): Promise<AnalyzeNowResult> {
  const t = await transcribeCall(deps, callId);
  if (t.status !== 'completed') return { outcome: 'failed', error: t.output };
  if (t.output.outcome === 'skipped') return { outcome: 'skipped', reason: t.output.reason };
  const a = (await analyzeCalls(deps, [callId])).get(callId);
  if (a?.result.status !== 'completed') {
    return { outcome: 'failed', error: (a?.result.output as FailureOutput) ?? { message: 'no result' } };
  }
  const out = a.result.output;
  if (out.outcome === 'skipped') return { outcome: 'skipped', reason: out.reason };
  let notified = false;
  if (opts.notify ?? true) {
    const n = (await notifyBreakdowns(deps, deps.analyzer.name, [callId])).get(callId);
    notified = n?.status === 'completed' && n.output.outcome === 'notified';
  }
  const [row] = await deps.db.query<{ breakdown: CallBreakdown }>(
    'SELECT breakdown FROM call_analyses WHERE call_id = $1 AND analyzer = $2',
    [callId, deps.analyzer.name],
  );
  return {
    outcome: out.outcome === 'stored' ? 'stored' : 'exists',
    breakdown: row?.breakdown as CallBreakdown,
    notified,
  };
}
