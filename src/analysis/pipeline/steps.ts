import type { Queryable } from '../../db/client.ts';
import { AppError } from '../../errors.ts';
import type { Logger } from '../../logger.ts';
import type { Analyzer } from '../analyzer.ts';
import { formatBreakdownRu } from '../format.ts';
import { type CallBreakdown, callBreakdownSchema, churnRiskLabelsRu } from '../schema.ts';
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
  await deps.db.query('UPDATE calls SET transcript = $2::jsonb WHERE id = $1 AND transcript IS NULL', [
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

/** The outbox key of a call's breakdown message to its manager. */
export function breakdownDeliveryKey(callId: string, analyzer: string): string {
  return `breakdown:${callId}:${analyzer}`;
}

/** The outbox key of a high-risk alert to one head. */
export function riskAlertDeliveryKey(callId: string, analyzer: string, userId: number): string {
  return `${breakdownDeliveryKey(callId, analyzer)}:head:${userId}`;
}

/** Why a breakdown message could not be addressed (kept in `deliveries.last_error`). */
export const NO_RECIPIENT = 'no bot user is bound to the call manager';

interface NotifyRow {
  call_id: string;
  breakdown: CallBreakdown;
  manager_id: string | null;
  manager_name: string | null;
  client_phone: string;
  started_at: Date;
}

interface Recipient {
  manager_id: string;
  user_id: number;
  channel: 'telegram' | 'whatsapp' | 'console';
}

const channelOfUser = `COALESCE(u.preferred_channel,
  (SELECT mi.channel FROM messenger_identities mi WHERE mi.user_id = u.id
    ORDER BY mi.last_inbound_at DESC NULLS LAST, mi.id DESC LIMIT 1), 'console')`;

/**
 * Writes the outbox rows of stored breakdowns: one to the call's manager
 * (key `breakdown:<call>:<analyzer>`), and on a high churn risk one alert to
 * each head whose department tree holds that manager. The unique key makes
 * every row happen once; the event fires only for the manager rows this run
 * inserted, so it too fires once per breakdown. The bot adapters deliver the
 * rows; a breakdown whose manager has no bot user gets a `failed` row that
 * says so.
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
    `SELECT a.call_id, a.breakdown, c.manager_id, m.name AS manager_name, c.client_phone, c.started_at
       FROM call_analyses a
       JOIN calls c ON c.id = a.call_id
       LEFT JOIN managers m ON m.id = c.manager_id
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

  const managerIds = [...new Set(rows.map((r) => r.manager_id).filter((m): m is string => m !== null))];
  const own = await db.query<Recipient>(
    `SELECT DISTINCT ON (u.manager_id) u.manager_id, u.id AS user_id, ${channelOfUser} AS channel
       FROM bot_users u
      WHERE u.manager_id = ANY($1::text[]) AND u.revoked_at IS NULL
      ORDER BY u.manager_id, u.id`,
    [managerIds],
  );
  const ownBy = new Map(own.map((r) => [r.manager_id, r]));
  const risky = rows.filter((r) => r.breakdown.churn_risk === 'high' && r.manager_id !== null);
  const heads =
    risky.length === 0
      ? []
      : await db.query<Recipient>(
          `WITH RECURSIVE up AS (
             SELECT m.id AS manager_id, m.department_id AS dep FROM managers m
              WHERE m.id = ANY($1::text[]) AND m.department_id IS NOT NULL
             UNION
             SELECT up.manager_id, d.parent_id FROM up JOIN departments d ON d.id = up.dep
              WHERE d.parent_id IS NOT NULL
           )
           SELECT DISTINCT up.manager_id, u.id AS user_id, ${channelOfUser} AS channel
             FROM up
             JOIN managers hm ON hm.department_id = up.dep AND hm.id <> up.manager_id
             JOIN bot_users u ON u.manager_id = hm.id AND u.role = 'head' AND u.revoked_at IS NULL`,
          [[...new Set(risky.map((r) => r.manager_id as string))]],
        );

  const keys: string[] = [];
  const userIds: Array<number | null> = [];
  const channels: string[] = [];
  const kinds: string[] = [];
  const payloads: string[] = [];
  const statuses: string[] = [];
  const errors: Array<string | null> = [];
  const push = (key: string, r: Recipient | undefined, kind: string, payload: object) => {
    keys.push(key);
    userIds.push(r?.user_id ?? null);
    channels.push(r?.channel ?? 'console');
    kinds.push(kind);
    payloads.push(JSON.stringify(payload));
    statuses.push(r ? 'pending' : 'failed');
    errors.push(r ? null : NO_RECIPIENT);
  };
  for (const row of rows) {
    const meta = {
      call_id: row.call_id,
      analyzer: analyzerName,
      manager_id: row.manager_id,
      manager: row.manager_name,
      client_phone: row.client_phone,
      started_at: new Date(row.started_at).toISOString(),
      readiness: row.breakdown.readiness,
      churn_risk: row.breakdown.churn_risk,
    };
    const text = formatBreakdownRu(row.breakdown);
    const recipient = row.manager_id ? ownBy.get(row.manager_id) : undefined;
    push(breakdownDeliveryKey(row.call_id, analyzerName), recipient, 'call_breakdown', { ...meta, text });
    if (row.breakdown.churn_risk !== 'high' || row.manager_id === null) continue;
    const alert =
      `Риск потери клиента: ${churnRiskLabelsRu.high}. Звонок ${row.call_id}, ` +
      `менеджер ${row.manager_name ?? row.manager_id}, клиент ${row.client_phone}.\n${text}`;
    for (const head of heads.filter((h) => h.manager_id === row.manager_id)) {
      push(riskAlertDeliveryKey(row.call_id, analyzerName, head.user_id), head, 'call_risk_alert', {
        ...meta,
        text: alert,
      });
    }
  }
  const inserted = await db.query<{ key: string }>(
    `INSERT INTO deliveries (key, user_id, channel, kind, payload, status, last_error, scheduled_at, updated_at)
     SELECT u.key, u.user_id, u.channel, u.kind, u.payload::jsonb, u.status, u.last_error, $8::timestamptz, $8::timestamptz
       FROM unnest($1::text[], $2::int[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[])
            AS u(key, user_id, channel, kind, payload, status, last_error)
     ON CONFLICT (key) DO NOTHING
     RETURNING key`,
    [keys, userIds, channels, kinds, payloads, statuses, errors, deps.now().toISOString()],
  );
  const fresh = new Set(inserted.map((r) => r.key));
  for (const row of rows) {
    const first = fresh.has(breakdownDeliveryKey(row.call_id, analyzerName));
    out.set(row.call_id, {
      status: 'completed',
      output: { outcome: first ? 'notified' : 'already_notified' },
    });
    if (!first || !deps.onBreakdownReady) continue;
    // The outbox row is the durable notification; the event only prompts, so its failure is logged, not retried.
    try {
      await deps.onBreakdownReady({
        callId: row.call_id,
        managerId: row.manager_id,
        analyzer: analyzerName,
        breakdown: row.breakdown,
      });
    } catch (err) {
      deps.logger.warn(
        { callId: row.call_id, err: (err as Error).message },
        'analysis: breakdown event handler failed',
      );
    }
  }
  return out;
}
