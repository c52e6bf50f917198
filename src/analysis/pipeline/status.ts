import type { Queryable } from '../../db/client.ts';
import { BOSS_SCHEMA, QUEUES, STEP_QUEUES } from './queues.ts';

/** Jobs of one queue by pg-boss state. */
export interface QueueCounts {
  queue: string;
  created: number;
  retry: number;
  active: number;
  completed: number;
  failed: number;
  cancelled: number;
}

/** A job that exhausted its retries (or failed for good) and waits in the dead-letter queue. */
export interface DeadLetter {
  /** The step it failed in: `call.transcribe`, `call.analyze` or `call.notify`. */
  queue: string;
  callId: string;
  analyzer: string;
  /** The last error, as the step reported it. */
  error: string;
  code: string | null;
  /** Attempts made: the first one plus the retries. */
  attempts: number;
  deadAt: Date;
}

export interface PipelineStatus {
  queues: QueueCounts[];
  /** Jobs waiting in the dead-letter queue. */
  dead: number;
  /** The most recent dead letters, newest first. */
  lastFailures: DeadLetter[];
  /** Breakdowns stored, per analyzer. */
  breakdowns: Record<string, number>;
}

const STATES = ['created', 'retry', 'active', 'completed', 'failed', 'cancelled'] as const;

/**
 * What the pipeline is doing and what it gave up on (`voronka analyze
 * --status`): job counts per step and state from pg-boss's job table, the
 * dead letters with the reason they failed, and the breakdowns stored.
 * Works without a running pg-boss (an installation that never started one
 * shows empty queues).
 */
export async function pipelineStatus(db: Queryable, opts: { limit?: number } = {}): Promise<PipelineStatus> {
  const breakdownRows = await db.query<{ analyzer: string; n: number }>(
    'SELECT analyzer, count(*)::int AS n FROM call_analyses GROUP BY analyzer ORDER BY analyzer',
  );
  const breakdowns = Object.fromEntries(breakdownRows.map((r) => [r.analyzer, r.n]));
  const [installed] = await db.query<{ ok: boolean }>(
    `SELECT to_regclass('${BOSS_SCHEMA}.job') IS NOT NULL AS ok`,
  );
  const empty = (queue: string): QueueCounts => ({
    queue,
    created: 0,
    retry: 0,
    active: 0,
    completed: 0,
    failed: 0,
    cancelled: 0,
  });
  const queues = STEP_QUEUES.map(empty);
  if (!installed?.ok) return { queues, dead: 0, lastFailures: [], breakdowns };

  const counts = await db.query<{ name: string; state: string; n: number }>(
    `SELECT name, state::text AS state, count(*)::int AS n FROM ${BOSS_SCHEMA}.job
      WHERE name = ANY($1::text[]) GROUP BY name, state`,
    [[...STEP_QUEUES, QUEUES.dead]],
  );
  let dead = 0;
  for (const c of counts) {
    if (c.name === QUEUES.dead) {
      if (c.state === 'created' || c.state === 'retry') dead += c.n;
      continue;
    }
    const q = queues.find((x) => x.queue === c.name);
    if (q && (STATES as readonly string[]).includes(c.state)) q[c.state as (typeof STATES)[number]] += c.n;
  }
  const failures = await db.query<{
    source_name: string | null;
    data: { callId?: string; analyzer?: string } | null;
    source_output: { message?: string; code?: string } | null;
    source_retry_count: number | null;
    created_on: Date;
  }>(
    `SELECT source_name, data, source_output, source_retry_count, created_on FROM ${BOSS_SCHEMA}.job
      WHERE name = $1 AND state IN ('created', 'retry')
      ORDER BY created_on DESC, id DESC LIMIT $2`,
    [QUEUES.dead, opts.limit ?? 10],
  );
  const lastFailures = failures.map((f) => ({
    queue: f.source_name ?? QUEUES.dead,
    callId: f.data?.callId ?? '',
    analyzer: f.data?.analyzer ?? '',
    error: f.source_output?.message ?? 'unknown error',
    code: f.source_output?.code ?? null,
    attempts: (f.source_retry_count ?? 0) + 1,
    deadAt: new Date(f.created_on),
  }));
  return { queues, dead, lastFailures, breakdowns };
}

const stepNamesRu: Record<string, string> = {
  [QUEUES.transcribe]: 'расшифровка',
  [QUEUES.analyze]: 'разбор',
  [QUEUES.notify]: 'уведомление',
};

/** The status as a few Russian lines for the CLI. */
export function formatPipelineStatusRu(s: PipelineStatus): string {
  const lines: string[] = [];
  const total = Object.values(s.breakdowns).reduce((a, b) => a + b, 0);
  const by = Object.entries(s.breakdowns)
    .map(([name, n]) => `${name}: ${n}`)
    .join(', ');
  lines.push(`Разобрано звонков: ${total}${by ? ` (${by})` : ''}`);
  for (const q of s.queues) {
    lines.push(
      `${stepNamesRu[q.queue] ?? q.queue}: в очереди ${q.created}, ждут повтора ${q.retry}, в работе ${q.active}, ` +
        `готово ${q.completed}, с ошибкой ${q.failed}`,
    );
  }
  lines.push(`Не удалось обработать (dead letter): ${s.dead}`);
  for (const f of s.lastFailures) {
    lines.push(
      `• ${f.callId} — ${stepNamesRu[f.queue] ?? f.queue}, попыток ${f.attempts}, ${f.deadAt.toISOString()}: ${f.error}`,
    );
  }
  return lines.join('\n');
}
