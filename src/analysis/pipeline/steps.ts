import type { Queryable } from '../../db/client.ts';
import { AppError } from '../../errors.ts';
import type { Logger } from '../../logger.ts';
import type { Analyzer } from '../analyzer.ts';
import { formatBreakdownRu } from '../format.ts';
import { type CallBreakdown, callBreakdownSchema } from '../schema.ts';
import type { Transcriber } from '../transcribe.ts';
import { parseTranscript, type TranscriptSegmentInput, UNKNOWN_SPEAKER } from '../transcript.ts';

/*
 * The three steps of a call's analysis as plain functions over the database.
 * The pg-boss workers and the synchronous `analyzeCallNow` run the same code,
 * and every write is idempotent, so a step may run again after a crash
 * without changing anything it already did.
 */

/** An analyzer; the LLM one also tells its model, stored in `call_analyses.model`. */
export type PipelineAnalyzer = Analyzer & { readonly modelName?: string };

export interface BreakdownReadyEvent {
  callId: string;
  managerId: string | null;
  analyzer: string;
  breakdown: CallBreakdown;
}

export interface StepDeps {
  db: Queryable;
  logger: Logger;
  analyzer: PipelineAnalyzer;
  transcriber?: Transcriber | undefined;
  now: () => Date;
  onBreakdownReady?: ((e: BreakdownReadyEvent) => Promise<void>) | undefined;
}

/** Why a call was not analyzed; none of these gets better by retrying. */
export type SkipReason =
  | 'call_not_found'
  /** Neither a transcript nor a recording. */
  | 'no_transcript'
  /** A recording but no transcription service configured. */
  | 'no_transcriber'
  /** Nothing left after noise and fillers were removed. */
  | 'empty_transcript';

export const skipReasonsRu: Record<SkipReason, string> = {
  call_not_found: 'звонка нет в базе',
  no_transcript: 'нет ни расшифровки, ни записи',
  no_transcriber: 'есть запись, но сервис расшифровки не настроен',
  empty_transcript: 'в расшифровке нет реплик',
};

/** How one job ended: the value pg-boss stores as the job's output. */
export type StepResult =
  | {
      status: 'completed';
      output: { outcome: 'stored' | 'exists' | 'transcribed' | 'notified' | 'already_notified' };
    }
  | { status: 'completed'; output: { outcome: 'skipped'; reason: SkipReason } }
  | { status: 'failed' | 'deadletter'; output: FailureOutput };

export interface FailureOutput {
  message: string;
  code?: string;
  name?: string;
}

/** Codes of failures that will fail the same way on every attempt: straight to the dead letters. */
const PERMANENT_CODES = new Set([
  'transcript_invalid',
  'transcript_empty',
  'recording_url_invalid',
  'recording_empty',
  'recording_too_large',
]);

export function failureOf(err: unknown): StepResult {
  const e = err instanceof Error ? err : new Error(String(err));
  const output: FailureOutput = { message: e.message, name: e.name };
  if (err instanceof AppError) output.code = err.code;
  const status = (err as { status?: unknown } | null)?.status;
  const clientError =
    typeof status === 'number' && status >= 400 && status < 500 && status !== 408 && status !== 429;
  const permanent = (output.code !== undefined && PERMANENT_CODES.has(output.code)) || clientError;
  return { status: permanent ? 'deadletter' : 'failed', output };
}

const skipped = (reason: SkipReason): StepResult => ({
  status: 'completed',
  output: { outcome: 'skipped', reason },
});

/**
 * The stored transcript as `parseTranscript` takes it. Segments from our own
 * transcription carry no speakers (the service does not diarize); they are
 * read as plain text (TRANSCRIPTS.md format 4), because one pretend speaker
 * would make the client's words the manager's.
 */
export function transcriptInputOf(stored: unknown): string | TranscriptSegmentInput[] | null {
  if (typeof stored === 'string') return stored;
  if (!Array.isArray(stored)) return null;
  const undiarized =
    stored.length > 0 &&
    stored.every((s) => {
      const speaker = (s as { speaker?: unknown } | null)?.speaker;
      return (
        speaker === undefined ||
        speaker === null ||
        String(speaker).trim() === '' ||
        speaker === UNKNOWN_SPEAKER
      );
    });
  if (undiarized) return stored.map((s) => String((s as { text?: unknown }).text ?? '')).join('\n');
  return stored as TranscriptSegmentInput[];
}

// ---------------------------------------------------------------------------
// Step 1: transcribe

export type TranscribeResult = StepResult & { analyzeNext: boolean };

/**
 * Transcribes the call's recording and stores the timed segments as its
 * transcript (JSON segments). A call that already has a transcript goes on to
 * analysis untouched, so a repeated job never transcribes twice.
 */
export async function transcribeCall(deps: StepDeps, callId: string): Promise<TranscribeResult> {
  const rows = await deps.db.query<{ has_transcript: boolean; recording_url: string | null }>(
    'SELECT transcript IS NOT NULL AS has_transcript, recording_url FROM calls WHERE id = $1',
    [callId],
  );
  const call = rows[0];
  if (!call) return { ...skipped('call_not_found'), analyzeNext: false };
  if (call.has_transcript) return { status: 'completed', output: { outcome: 'exists' }, analyzeNext: true };
  if (!call.recording_url) return { ...skipped('no_transcript'), analyzeNext: false };
  if (!deps.transcriber) return { ...skipped('no_transcriber'), analyzeNext: false };
  let segments: Array<{ speaker: string; role: null; start_sec?: number; text: string }>;
  try {
    const t = await deps.transcriber.transcribe(call.recording_url);
    const timed = t.segments.filter((s) => s.text.trim() !== '');
    segments =
      timed.length > 0
        ? timed.map((s) => ({
            speaker: UNKNOWN_SPEAKER,
            role: null,
            start_sec: s.start_sec,
            text: s.text.trim(),
          }))
        : t.text.trim() === ''
          ? []
          : [{ speaker: UNKNOWN_SPEAKER, role: null, text: t.text.trim() }];
  } catch (err) {
    deps.logger.warn({ callId, err: (err as Error).message }, 'analysis: transcription failed');
    return { ...failureOf(err), analyzeNext: false };
  }
  // Another worker may have stored one meanwhile; the first transcript wins.
  await deps.db.query('UPDATE calls SET transcript = $2::text::jsonb WHERE id = $1 AND transcript IS NULL', [
    callId,
    JSON.stringify(segments),
  ]);
  return { status: 'completed', output: { outcome: 'transcribed' }, analyzeNext: true };
}

// ---------------------------------------------------------------------------
// Step 2: analyze

export interface AnalyzeResult {
  result: StepResult;
  /** The breakdown exists now (stored by this run or earlier): notify may follow. */
  breakdownExists: boolean;
}

interface CallRow {
  id: string;
  direction: 'in' | 'out';
  transcript: unknown;
  analyzed: boolean;
}

interface NewBreakdown {
  callId: string;
  breakdown: CallBreakdown;
}

/**
 * Analyzes a batch of calls and stores one breakdown per call and analyzer
 * (`ON CONFLICT (call_id, analyzer) DO NOTHING`: a breakdown is never replaced
 * or duplicated). One failing call does not fail the others.
 */
export async function analyzeCalls(
  deps: StepDeps,
  callIds: readonly string[],
): Promise<Map<string, AnalyzeResult>> {
  const { db, analyzer, logger } = deps;
  const out = new Map<string, AnalyzeResult>();
  if (callIds.length === 0) return out;
  const rows = await db.query<CallRow>(
    `SELECT c.id, c.direction, c.transcript,
            EXISTS (SELECT 1 FROM call_analyses a WHERE a.call_id = c.id AND a.analyzer = $2) AS analyzed
       FROM calls c WHERE c.id = ANY($1::text[])`,
    [callIds, analyzer.name],
  );
  const byId = new Map(rows.map((r) => [r.id, r]));
  const fresh: NewBreakdown[] = [];
  // Calls of a batch are analyzed side by side: an LLM call waits on the network, not the CPU.
  await Promise.all(
    [...new Set(callIds)].map(async (callId) => {
      const call = byId.get(callId);
      if (!call) {
        out.set(callId, { result: skipped('call_not_found'), breakdownExists: false });
        return;
      }
      if (call.analyzed) {
        out.set(callId, {
          result: { status: 'completed', output: { outcome: 'exists' } },
          breakdownExists: true,
        });
        return;
      }
      try {
        const input = transcriptInputOf(call.transcript);
        if (input === null) {
          out.set(callId, { result: skipped('no_transcript'), breakdownExists: false });
          return;
        }
        const parsed = parseTranscript(input, { direction: call.direction });
        if (parsed.segments.length === 0) {
          out.set(callId, { result: skipped('empty_transcript'), breakdownExists: false });
          return;
        }
        const raw = await analyzer.analyze(parsed, { callId, direction: call.direction });
        const breakdown = callBreakdownSchema.parse({ ...raw, call_id: callId, analyzer: analyzer.name });
        fresh.push({ callId, breakdown });
      } catch (err) {
        logger.warn(
          { callId, analyzer: analyzer.name, err: (err as Error).message },
          'analysis: call failed',
        );
        out.set(callId, { result: failureOf(err), breakdownExists: false });
      }
    }),
  );
  if (fresh.length > 0) {
    const inserted = await db.query<{ call_id: string }>(
      `INSERT INTO call_analyses (call_id, analyzer, model, breakdown, confidence, readiness, churn_risk, created_at)
       SELECT u.call_id, $2, $3, u.breakdown::jsonb, u.confidence, u.readiness, u.churn_risk, $4::timestamptz
         FROM unnest($1::text[], $5::text[], $6::float8[], $7::int[], $8::text[])
              AS u(call_id, breakdown, confidence, readiness, churn_risk)
       ON CONFLICT (call_id, analyzer) DO NOTHING
       RETURNING call_id`,
      [
        fresh.map((f) => f.callId),
        analyzer.name,
        analyzer.modelName ?? null,
        deps.now().toISOString(),
        fresh.map((f) => JSON.stringify(f.breakdown)),
        fresh.map((f) => f.breakdown.confidence),
        fresh.map((f) => f.breakdown.readiness),
        fresh.map((f) => f.breakdown.churn_risk),
      ],
    );
    const stored = new Set(inserted.map((r) => r.call_id));
    for (const f of fresh) {
      const outcome = stored.has(f.callId) ? 'stored' : 'exists';
      out.set(f.callId, { result: { status: 'completed', output: { outcome } }, breakdownExists: true });
    }
  }
  return out;
}

// ---------------------------------------------------------------------------
// Step 3: notify

/** The outbox key of a breakdown's notification: one per call and analyzer. */
export function breakdownDeliveryKey(callId: string, analyzer: string): string {
  return `breakdown:${callId}:${analyzer}`;
}

/** Why a breakdown's row is `skipped` when no event handler takes it (kept in `deliveries.last_error`). */
export const NO_RECIPIENT = 'no bot user is bound to the call manager';

interface NotifyRow {
  call_id: string;
  breakdown: CallBreakdown;
  manager_id: string | null;
  manager_name: string | null;
  client_phone: string;
  started_at: Date;
  user_id: number | null;
  channel: 'telegram' | 'whatsapp' | 'console' | null;
}

/**
 * Notifies about stored breakdowns, once per breakdown: the outbox row with
 * the unique key `breakdown:<call>:<analyzer>` (the manager's bot user and
 * channel, the message text) is the record that it happened.
 *
 * With an `onBreakdownReady` handler (the bot's notifier, which delivers to
 * the manager and, on a high churn risk, to the heads) the row is claimed as
 * `sending`, the event fires, and the row becomes `sent`; a handler that
 * throws leaves it `failed` with the error and fails the job, whose retry
 * claims it again. So the event fires once per breakdown, and again only
 * when an attempt died before recording that it had fired — never zero
 * times. Without a handler the row is left `pending` for an outbox sender
 * (`skipped` when the manager has no bot user).
 */
export async function notifyBreakdowns(
  deps: StepDeps,
  analyzerName: string,
  callIds: readonly string[],
): Promise<Map<string, StepResult>> {
  const { db } = deps;
  const out = new Map<string, StepResult>();
  if (callIds.length === 0) return out;
  const rows = await db.query<NotifyRow>(
    `SELECT a.call_id, a.breakdown, c.manager_id, m.name AS manager_name, c.client_phone, c.started_at,
            u.id AS user_id,
            COALESCE(u.preferred_channel,
              (SELECT mi.channel FROM messenger_identities mi WHERE mi.user_id = u.id
                ORDER BY mi.last_inbound_at DESC NULLS LAST, mi.id DESC LIMIT 1), 'console') AS channel
       FROM call_analyses a
       JOIN calls c ON c.id = a.call_id
       LEFT JOIN managers m ON m.id = c.manager_id
       LEFT JOIN LATERAL (
         SELECT u.id, u.preferred_channel FROM bot_users u
          WHERE u.manager_id = c.manager_id AND u.revoked_at IS NULL ORDER BY u.id LIMIT 1
       ) u ON true
      WHERE a.call_id = ANY($1::text[]) AND a.analyzer = $2`,
    [callIds, analyzerName],
  );
  const found = new Set(rows.map((r) => r.call_id));
  for (const id of callIds) {
    if (!found.has(id)) {
      out.set(id, {
        status: 'failed',
        output: { message: `no breakdown of call ${id} by ${analyzerName} to notify about` },
      });
    }
  }
  if (rows.length === 0) return out;

  const handler = deps.onBreakdownReady;
  const now = deps.now().toISOString();
  const statusOf = (r: NotifyRow) => (handler ? 'sending' : r.user_id === null ? 'skipped' : 'pending');
  const claimed = await db.query<{ key: string }>(
    `INSERT INTO deliveries (key, user_id, channel, kind, payload, status, attempts, last_error, scheduled_at, updated_at)
     SELECT u.key, u.user_id, u.channel, 'call_breakdown', u.payload::jsonb, u.status,
            CASE WHEN u.status = 'sending' THEN 1 ELSE 0 END, u.last_error, $7::timestamptz, $7::timestamptz
       FROM unnest($1::text[], $2::int[], $3::text[], $4::text[], $5::text[], $6::text[])
            AS u(key, user_id, channel, payload, status, last_error)
     ON CONFLICT (key) DO UPDATE SET status = 'sending', attempts = deliveries.attempts + 1,
            last_error = NULL, updated_at = excluded.updated_at
      WHERE excluded.status = 'sending' AND deliveries.status IN ('sending', 'failed')
     RETURNING key`,
    [
      rows.map((r) => breakdownDeliveryKey(r.call_id, analyzerName)),
      rows.map((r) => r.user_id),
      rows.map((r) => r.channel ?? 'console'),
      rows.map((r) =>
        JSON.stringify({
          call_id: r.call_id,
          analyzer: analyzerName,
          manager_id: r.manager_id,
          manager: r.manager_name,
          client_phone: r.client_phone,
          started_at: new Date(r.started_at).toISOString(),
          readiness: r.breakdown.readiness,
          churn_risk: r.breakdown.churn_risk,
          text: formatBreakdownRu(r.breakdown),
        }),
      ),
      rows.map(statusOf),
      rows.map((r) => (!handler && r.user_id === null ? NO_RECIPIENT : null)),
      now,
    ],
  );
  const fresh = new Set(claimed.map((r) => r.key));
  for (const row of rows) {
    const key = breakdownDeliveryKey(row.call_id, analyzerName);
    if (!fresh.has(key)) {
      out.set(row.call_id, { status: 'completed', output: { outcome: 'already_notified' } });
      continue;
    }
    if (!handler) {
      out.set(row.call_id, { status: 'completed', output: { outcome: 'notified' } });
      continue;
    }
    try {
      await handler({
        callId: row.call_id,
        managerId: row.manager_id,
        analyzer: analyzerName,
        breakdown: row.breakdown,
      });
      await db.query(
        `UPDATE deliveries SET status = 'sent', sent_at = $2::timestamptz, updated_at = $2::timestamptz WHERE key = $1`,
        [key, deps.now().toISOString()],
      );
      out.set(row.call_id, { status: 'completed', output: { outcome: 'notified' } });
    } catch (err) {
      deps.logger.warn(
        { callId: row.call_id, err: (err as Error).message },
        'analysis: breakdown event handler failed',
      );
      await db.query(
        `UPDATE deliveries SET status = 'failed', last_error = $2, updated_at = $3::timestamptz WHERE key = $1`,
        [key, (err as Error).message, deps.now().toISOString()],
      );
      out.set(row.call_id, failureOf(err));
    }
  }
  return out;
}
