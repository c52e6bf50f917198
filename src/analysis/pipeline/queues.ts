import type { PgBoss } from 'pg-boss';

/** The pg-boss schema `startBoss` installs into; status queries read its job table. */
export const BOSS_SCHEMA = 'pgboss';

/** The three steps of a call's analysis, in order, and where their exhausted jobs go. */
export const QUEUES = {
  transcribe: 'call.transcribe',
  analyze: 'call.analyze',
  notify: 'call.notify',
  dead: 'call.dead',
} as const;

export type StepQueue = (typeof QUEUES)['transcribe' | 'analyze' | 'notify'];
export const STEP_QUEUES: readonly StepQueue[] = [QUEUES.transcribe, QUEUES.analyze, QUEUES.notify];

/** What every job of the pipeline carries. */
export interface CallJobData {
  callId: string;
  /** The analyzer the breakdown is (to be) stored under; with the call id it is the job's singleton key. */
  analyzer: string;
  /** Write the outbox row and emit the event once the breakdown exists. */
  notify: boolean;
  /** The backfill run that queued it, so that run can wait for its own jobs. */
  batch?: string;
}

export function singletonKeyOf(callId: string, analyzer: string): string {
  return `${callId}:${analyzer}`;
}

/**
 * Retries of one step: `limit` more attempts after the first, the first one
 * `delaySeconds` later, doubling (with jitter) up to `maxDelaySeconds`.
 */
export interface RetryPolicy {
  limit: number;
  delaySeconds: number;
  maxDelaySeconds: number;
  /** An attempt still active after this long is taken as lost (its worker died) and retried. */
  expireInSeconds: number;
}

/**
 * Defaults sized for outages of the outside services: an LLM or speech API
 * down for up to about two hours (30 s, 1, 2, 4 … 60 min) costs no call its
 * breakdown; after that the job waits in the dead-letter queue for a redrive.
 */
export const DEFAULT_RETRY: Record<'transcribe' | 'analyze' | 'notify', RetryPolicy> = {
  transcribe: { limit: 8, delaySeconds: 30, maxDelaySeconds: 3600, expireInSeconds: 900 },
  analyze: { limit: 8, delaySeconds: 30, maxDelaySeconds: 3600, expireInSeconds: 600 },
  notify: { limit: 5, delaySeconds: 5, maxDelaySeconds: 600, expireInSeconds: 60 },
};

/** Dead letters stay visible for a month before pg-boss drops them. */
const DEAD_RETENTION_SECONDS = 30 * 24 * 3600;

/**
 * Creates the queues, or brings an existing installation's retry settings up
 * to date. `exclusive`: one job per call and analyzer may be queued or running
 * at a time, so a call enqueued twice is worked on once.
 */
export async function ensureQueues(
  boss: PgBoss,
  retry: Record<'transcribe' | 'analyze' | 'notify', RetryPolicy>,
): Promise<void> {
  await boss.createQueue(QUEUES.dead, { retentionSeconds: DEAD_RETENTION_SECONDS });
  for (const step of ['transcribe', 'analyze', 'notify'] as const) {
    const r = retry[step];
    const settings = {
      retryLimit: r.limit,
      retryDelay: r.delaySeconds,
      retryBackoff: true,
      retryDelayMax: r.maxDelaySeconds,
      expireInSeconds: r.expireInSeconds,
    };
    await boss.createQueue(QUEUES[step], { policy: 'exclusive', deadLetter: QUEUES.dead, ...settings });
    await boss.updateQueue(QUEUES[step], settings);
  }
}
