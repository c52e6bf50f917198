import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import type { PgBoss } from 'pg-boss';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Analyzer } from '../../src/analysis/analyzer.ts';
import { analyzeOffline, OFFLINE_ANALYZER } from '../../src/analysis/offline/analyzer.ts';
import {
  type AnalysisPipeline,
  type AnalysisPipelineOptions,
  analyzeCallNow,
  type BreakdownReadyEvent,
  createAnalysisPipeline,
  formatPipelineStatusRu,
  NO_RECIPIENT,
  type PipelineStatus,
  pipelineStatus,
} from '../../src/analysis/pipeline/index.ts';
import { type CallBreakdown, callBreakdownSchema } from '../../src/analysis/schema.ts';
import { createTranscriber } from '../../src/analysis/transcribe.ts';
import { parseTranscript } from '../../src/analysis/transcript.ts';
import { importDirectory } from '../../src/ingest/import.ts';
import { startBoss } from '../../src/jobs/boss.ts';
import { silentLogger } from '../../src/logger.ts';
import { createTestDb, drivers, type TestDb } from '../helpers/db.ts';
import { startFakeOpenAI } from '../helpers/fake-openai.ts';

/*
 * Data: test/fixtures/metrics-quality (managers and departments) plus
 * test/fixtures/metrics-quality/pipeline/calls.jsonl:
 *
 *   P01 in  M1 Ольга Кузнецова  transcript, role labels (format 1)
 *   P02 out M2 Алексей Чуркин   transcript, JSON segments (format 3)
 *   P03 in  M3 Игорь Белов      transcript, plain text (format 4)
 *   P04 in  M1                  recording only → transcribed
 *   P05 in  M2                  missed: no transcript, no recording → skipped
 *   P06 in  (no manager)        transcript
 *   P07 in  M1                  transcript of noise only → nothing to analyze
 *
 * Departments: D2 «Группа Москва» (M1, M2) under D1 «Отдел продаж» (head H1
 * Марина Соколова); M3 in D3 «Отдел сервиса». Bot users (inserted below):
 * 1 = Ольга (M1, telegram), 2 = Марина (H1, head, telegram), 3 = Игорь (M3,
 * no preferred channel, a WhatsApp identity). Алексей (M2) has no bot user.
 */

const fixtureDir = fileURLToPath(new URL('../fixtures/metrics-quality', import.meta.url));
const NOW = new Date('2026-04-10T12:00:00+03:00');
const ANALYZABLE = ['P01', 'P02', 'P03', 'P04', 'P06'];
const ALL = ['P01', 'P02', 'P03', 'P04', 'P05', 'P06', 'P07'];

/** The speech service's verbose_json for the recording of P04 (no speakers: it does not diarize). */
const P04_AUDIO_REPLY = {
  text: 'Добрый день, компания Окна Плюс, меня зовут Ольга. Сколько стоит окно на кухню?',
  language: 'russian',
  segments: [
    { id: 0, start: 0, end: 3, text: ' Добрый день, компания Окна Плюс, меня зовут Ольга.' },
    { id: 1, start: 3.5, end: 6, text: ' Сколько стоит окно на кухню?' },
    {
      id: 2,
      start: 6.5,
      end: 12,
      text: ' Окно стоит пятнадцать тысяч рублей. Давайте запишу вас на замер в субботу?',
    },
  ],
};

const fast = {
  retry: {
    transcribe: { limit: 2, delaySeconds: 1 },
    analyze: { limit: 2, delaySeconds: 1 },
    notify: { limit: 2, delaySeconds: 1 },
  },
  workers: {
    transcribe: { pollingIntervalSeconds: 0.5 },
    analyze: { pollingIntervalSeconds: 0.5 },
    notify: { pollingIntervalSeconds: 0.5 },
  },
} satisfies Partial<AnalysisPipelineOptions>;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * The offline analyzer behind a switchboard: calls listed in `failFirst`
 * throw that many times before they work, calls in `failAlways` always throw.
 */
function switchboardAnalyzer(
  opts: {
    failFirst?: Record<string, number>;
    failAlways?: Set<string>;
    onAnalyze?: (callId: string) => Promise<void>;
  } = {},
) {
  const attempts: string[] = [];
  const analyzer: Analyzer = {
    name: OFFLINE_ANALYZER,
    async analyze(parsed, o) {
      attempts.push(o.callId);
      await opts.onAnalyze?.(o.callId);
      const failuresSoFar = attempts.filter((id) => id === o.callId).length;
      if (failuresSoFar <= (opts.failFirst?.[o.callId] ?? 0)) {
        throw new Error(`LLM недоступна (попытка ${failuresSoFar})`);
      }
      if (opts.failAlways?.has(o.callId)) throw new Error('LLM недоступна: 503 Service Unavailable');
      return analyzeOffline(parsed, o);
    },
  };
  return { analyzer, attempts };
}

/** A loopback recording store: `/P04.mp3` is a recording, anything else is 404. */
async function startRecordings() {
  const server = http.createServer((req, res) => {
    if (req.url === '/P04.mp3') {
      res.writeHead(200, { 'content-type': 'audio/mpeg' });
      res.end(Buffer.from('ID3 fake audio frames'));
    } else {
      res.writeHead(404).end('not found');
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: (path: string) => `http://127.0.0.1:${port}${path}`,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

interface BreakdownRow {
  call_id: string;
  analyzer: string;
  breakdown: CallBreakdown;
  readiness: number;
  churn_risk: string;
  confidence: number;
}

interface DeliveryRow {
  key: string;
  user_id: number | null;
  channel: string;
  kind: string;
  status: string;
  attempts: number;
  last_error: string | null;
  payload: { call_id: string; text: string; manager: string | null };
}

const breakdowns = (db: TestDb) =>
  db.query<BreakdownRow>(
    'SELECT call_id, analyzer, breakdown, readiness, churn_risk, confidence FROM call_analyses ORDER BY call_id',
  );
const deliveries = (db: TestDb) =>
  db.query<DeliveryRow>(
    'SELECT key, user_id, channel, kind, status, attempts, last_error, payload FROM deliveries ORDER BY key',
  );

/** Waits until no job of the pipeline is queued, waiting for a retry or running. */
async function settled(db: TestDb, timeoutMs = 40_000): Promise<PipelineStatus> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const s = await pipelineStatus(db);
    if (s.queues.every((q) => q.created + q.retry + q.active === 0)) return s;
    if (Date.now() > until) throw new Error(`pipeline did not settle: ${JSON.stringify(s.queues)}`);
    await sleep(150);
  }
}

describe.each(drivers)('call analysis pipeline (%s)', (driver) => {
  let db: TestDb;
  const cleanups: Array<() => Promise<void>> = [];

  // One database for the file; each test starts from the fixture again, with no jobs and no pg-boss schema.
  beforeAll(async () => {
    db = await createTestDb(driver);
    const report = await importDirectory(db, { dir: fixtureDir, logger: silentLogger });
    expect(report.rejected).toBe(0);
    await db.query(
      `INSERT INTO bot_users (id, name, role, manager_id, preferred_channel) VALUES
         (1, 'Ольга', 'manager', 'M1', 'telegram'), (2, 'Марина', 'head', 'H1', 'telegram'),
         (3, 'Игорь', 'manager', 'M3', NULL)`,
    );
    await db.query(
      `INSERT INTO messenger_identities (user_id, channel, external_id, chat_id) VALUES (3, 'whatsapp', '79160000333', '79160000333')`,
    );
  });
  afterAll(async () => {
    await db?.dispose();
  });
  afterEach(async () => {
    while (cleanups.length > 0) await cleanups.pop()!();
  });

  async function setup() {
    await db.exec(
      `DROP SCHEMA IF EXISTS pgboss CASCADE; DELETE FROM call_analyses; DELETE FROM deliveries;
       DELETE FROM calls WHERE id LIKE 'K%'`,
    );
    const report = await importDirectory(db, { dir: `${fixtureDir}/pipeline`, logger: silentLogger });
    expect(report.rejected).toBe(0);
    const fake = await startFakeOpenAI();
    cleanups.push(() => fake.close());
    fake.setAudioReply(P04_AUDIO_REPLY);
    const recordings = await startRecordings();
    cleanups.push(() => recordings.close());
    await db.query('UPDATE calls SET recording_url = $1 WHERE id = $2', [recordings.url('/P04.mp3'), 'P04']);
    const transcriber = createTranscriber({
      baseUrl: fake.baseURL,
      apiKey: 'sk-test',
      model: 'whisper-1',
      logger: silentLogger,
    });
    return { db, fake, recordings, transcriber };
  }

  async function bossFor(db: TestDb): Promise<PgBoss> {
    const boss = await startBoss(db, silentLogger, { supervise: false, schedule: false });
    cleanups.push(() => boss.stop({ graceful: false }));
    return boss;
  }

  function pipelineOf(
    db: TestDb,
    boss: PgBoss,
    analyzer: Analyzer,
    extra: Partial<AnalysisPipelineOptions> = {},
  ): { pipeline: AnalysisPipeline; events: BreakdownReadyEvent[] } {
    const events: BreakdownReadyEvent[] = [];
    const pipeline = createAnalysisPipeline({
      db,
      boss,
      logger: silentLogger,
      analyzer,
      now: () => NOW,
      onBreakdownReady: async (e) => {
        events.push(e);
      },
      ...fast,
      ...extra,
    });
    cleanups.push(() => pipeline.stop());
    return { pipeline, events };
  }

  it('queues, transcribes, analyzes, stores one breakdown per call, writes the outbox and fires the event once', async () => {
    const { db, transcriber, fake } = await setup();
    const boss = await bossFor(db);
    const { analyzer } = switchboardAnalyzer();
    const { pipeline, events } = pipelineOf(db, boss, analyzer, { transcriber });

    const counts = await pipeline.enqueueCalls([...ALL, 'NOPE']);
    // P04 starts at transcription; P01-P03, P06, P07 have transcripts; P05 has neither; NOPE does not exist.
    expect(counts).toEqual({
      requested: 8,
      queued: { transcribe: 1, analyze: 5 },
      alreadyQueued: 0,
      alreadyAnalyzed: 0,
      skipped: { no_transcript: 1, call_not_found: 1 },
    });
    // The same calls again before any worker ran: their jobs are already queued (singleton key per call).
    const again = await pipeline.enqueueCalls(ALL);
    expect(again.queued).toEqual({ transcribe: 0, analyze: 0 });
    expect(again.alreadyQueued).toBe(6);

    await pipeline.start();
    const status = await settled(db);
    expect(status.dead).toBe(0);
    expect(status.breakdowns).toEqual({ [OFFLINE_ANALYZER]: 5 });

    // P04's recording went through the speech service; its segments became the call's transcript.
    expect(fake.audioRequests).toHaveLength(1);
    const [p04] = await db.query<{ transcript: unknown }>("SELECT transcript FROM calls WHERE id = 'P04'");
    expect(p04!.transcript).toEqual([
      {
        speaker: 'UNKNOWN',
        role: null,
        start_sec: 0,
        text: 'Добрый день, компания Окна Плюс, меня зовут Ольга.',
      },
      { speaker: 'UNKNOWN', role: null, start_sec: 3.5, text: 'Сколько стоит окно на кухню?' },
      {
        speaker: 'UNKNOWN',
        role: null,
        start_sec: 6.5,
        text: 'Окно стоит пятнадцать тысяч рублей. Давайте запишу вас на замер в субботу?',
      },
    ]);

    const stored = await breakdowns(db);
    expect(stored.map((r) => r.call_id)).toEqual(ANALYZABLE);
    for (const r of stored) {
      expect(callBreakdownSchema.parse(r.breakdown)).toEqual(r.breakdown);
      expect(r.breakdown.call_id).toBe(r.call_id);
      expect(r.analyzer).toBe(OFFLINE_ANALYZER);
      expect(r.readiness).toBe(r.breakdown.readiness);
      expect(r.confidence).toBe(r.breakdown.confidence);
      expect(r.churn_risk).toBe(r.breakdown.churn_risk);
    }
    const p01 = stored.find((r) => r.call_id === 'P01')!.breakdown;
    // P01 is parsed with its telephony direction ("in"): the same breakdown the offline analyzer gives the file.
    const [p01Call] = await db.query<{ transcript: string }>("SELECT transcript FROM calls WHERE id = 'P01'");
    const direct = analyzeOffline(parseTranscript(p01Call!.transcript, { direction: 'in' }), {
      callId: 'P01',
      direction: 'in',
    });
    expect(p01).toEqual(direct);
    // The client says "Дороговато, наверное." and the manager names the price and offers a measurement.
    expect(p01.objections.map((o) => o.type)).toContain('price');
    expect(p01.script.price_named.done).toBe(true);
    expect(p01.script.next_step_offered.done).toBe(true);
    // P04's undiarized segments are read as plain text: no speaker is guessed to be the company.
    expect(stored.find((r) => r.call_id === 'P04')!.breakdown.company_speaker).toBeNull();

    // One row per breakdown, addressed to the manager's bot user (Ольга: telegram; Игорь: his WhatsApp
    // identity; Алексей and the call without a manager: nobody), handed to the event handler: sent.
    const rows = await deliveries(db);
    expect(rows.map((r) => [r.key, r.user_id, r.channel, r.kind, r.status, r.attempts])).toEqual([
      ['breakdown:P01:offline@1.0', 1, 'telegram', 'call_breakdown', 'sent', 1],
      ['breakdown:P02:offline@1.0', null, 'console', 'call_breakdown', 'sent', 1],
      ['breakdown:P03:offline@1.0', 3, 'whatsapp', 'call_breakdown', 'sent', 1],
      ['breakdown:P04:offline@1.0', 1, 'telegram', 'call_breakdown', 'sent', 1],
      ['breakdown:P06:offline@1.0', null, 'console', 'call_breakdown', 'sent', 1],
    ]);
    const p01Row = rows.find((r) => r.key === 'breakdown:P01:offline@1.0')!;
    expect(p01Row.payload.text.startsWith('Разбор звонка P01\n')).toBe(true);
    expect(p01Row.payload.manager).toBe('Ольга Кузнецова');

    expect(events.map((e) => [e.callId, e.managerId, e.analyzer]).sort()).toEqual([
      ['P01', 'M1', OFFLINE_ANALYZER],
      ['P02', 'M2', OFFLINE_ANALYZER],
      ['P03', 'M3', OFFLINE_ANALYZER],
      ['P04', 'M1', OFFLINE_ANALYZER],
      ['P06', null, OFFLINE_ANALYZER],
    ]);
    expect(events.find((e) => e.callId === 'P01')!.breakdown).toEqual(p01);

    // Everything again: nothing new is stored, written or fired. Only P07, whose transcript has no
    // utterances and so never gets a breakdown, is looked at again.
    const rerun = await pipeline.enqueueCalls(ALL);
    expect(rerun).toEqual({
      requested: 7,
      queued: { transcribe: 0, analyze: 1 },
      alreadyQueued: 0,
      alreadyAnalyzed: 5,
      skipped: { no_transcript: 1 },
    });
    await settled(db);
    const backfill = await pipeline.backfill({ notify: true, pollMs: 100 });
    expect(backfill.selected).toBe(1);
    expect(backfill.progress).toEqual({ total: 1, stored: 0, exists: 0, skipped: 1, failed: 0, pending: 0 });
    const now = await analyzeCallNow({ db, logger: silentLogger, analyzer, now: () => NOW }, 'P01');
    expect(now).toEqual({ outcome: 'exists', breakdown: p01, notified: false });

    expect(await breakdowns(db)).toEqual(stored);
    expect(await deliveries(db)).toEqual(rows);
    expect(events).toHaveLength(5);
    expect(fake.audioRequests).toHaveLength(1);
  });

  it('retries the notification when the event handler fails, and records it once it worked', async () => {
    const { db } = await setup();
    const boss = await bossFor(db);
    const { analyzer } = switchboardAnalyzer();
    const handled: string[] = [];
    const { pipeline } = pipelineOf(db, boss, analyzer, {
      onBreakdownReady: async (e) => {
        handled.push(e.callId);
        if (e.callId === 'P01' && handled.filter((id) => id === 'P01').length === 1) {
          throw new Error('Telegram недоступен');
        }
      },
    });
    await pipeline.start();
    await pipeline.enqueueCalls(['P01', 'P02']);
    const status = await settled(db);

    expect(status.dead).toBe(0);
    // P01's first hand-off threw: its job failed and the retry fired the event again.
    expect(handled.sort()).toEqual(['P01', 'P01', 'P02']);
    expect((await deliveries(db)).map((r) => [r.key, r.status, r.attempts, r.last_error])).toEqual([
      ['breakdown:P01:offline@1.0', 'sent', 2, null],
      ['breakdown:P02:offline@1.0', 'sent', 1, null],
    ]);
  });

  it('retries a failing analyzer with backoff and stores the breakdown once it works', async () => {
    const { db } = await setup();
    const boss = await bossFor(db);
    const { analyzer, attempts } = switchboardAnalyzer({ failFirst: { P02: 2 } });
    const { pipeline, events } = pipelineOf(db, boss, analyzer);
    await pipeline.start();
    await pipeline.enqueueCalls(['P01', 'P02', 'P03']);
    const status = await settled(db);

    expect(status.dead).toBe(0);
    expect((await breakdowns(db)).map((r) => r.call_id)).toEqual(['P01', 'P02', 'P03']);
    // Two failures, then the third attempt worked; the other calls of the batch were not held back.
    expect(attempts.filter((id) => id === 'P02')).toHaveLength(3);
    expect(attempts.filter((id) => id === 'P01')).toHaveLength(1);
    const jobs = await db.query<{ singleton_key: string; retry_count: number; state: string }>(
      `SELECT singleton_key, retry_count, state::text AS state FROM pgboss.job
        WHERE name = 'call.analyze' ORDER BY singleton_key`,
    );
    expect(jobs.map((j) => [j.singleton_key, j.retry_count, j.state])).toEqual([
      ['P01:offline@1.0', 0, 'completed'],
      ['P02:offline@1.0', 2, 'completed'],
      ['P03:offline@1.0', 0, 'completed'],
    ]);
    expect(events.map((e) => e.callId).sort()).toEqual(['P01', 'P02', 'P03']);
  });

  it('dead-letters a call that keeps failing, with the last error visible, and redrives it', async () => {
    const { db, transcriber } = await setup();
    const boss = await bossFor(db);
    const failAlways = new Set(['P02']);
    const { analyzer, attempts } = switchboardAnalyzer({ failAlways });
    const { pipeline } = pipelineOf(db, boss, analyzer, {
      transcriber,
      retry: { ...fast.retry, analyze: { limit: 1, delaySeconds: 1 } },
    });
    // P04's recording is gone (404): that cannot get better, so it is dead-lettered without retries.
    await db.query(
      "UPDATE calls SET recording_url = replace(recording_url, 'P04', 'P04-gone') WHERE id = 'P04'",
    );
    // P06's stored segments are malformed: the same.
    await db.query(
      `UPDATE calls SET transcript = '[{"speaker": "SPK00", "start_sec": 1}]'::jsonb WHERE id = 'P06'`,
    );
    await pipeline.start();
    await pipeline.enqueueCalls(['P01', 'P02', 'P04', 'P06']);
    const status = await settled(db);

    expect((await breakdowns(db)).map((r) => r.call_id)).toEqual(['P01']);
    expect(attempts.filter((id) => id === 'P02')).toHaveLength(2);
    expect(status.dead).toBe(3);
    const failures = [...status.lastFailures].sort((a, b) => a.callId.localeCompare(b.callId));
    expect(failures.map((f) => [f.callId, f.queue, f.attempts, f.code])).toEqual([
      ['P02', 'call.analyze', 2, null],
      ['P04', 'call.transcribe', 1, 'recording_download_failed'],
      ['P06', 'call.analyze', 1, 'transcript_invalid'],
    ]);
    expect(failures[0]!.error).toBe('LLM недоступна: 503 Service Unavailable');
    expect(failures[1]!.error).toContain('HTTP 404');
    const analyzeQueue = status.queues.find((q) => q.queue === 'call.analyze')!;
    expect(analyzeQueue.failed).toBe(2);
    const text = formatPipelineStatusRu(status);
    expect(text).toContain('Не удалось обработать (dead letter): 3');
    expect(text).toContain('• P02 — разбор, попыток 2');
    expect(text).toContain('LLM недоступна: 503 Service Unavailable');

    // The LLM is back: the dead letters go back to their steps; P02 is analyzed, the others fail again.
    failAlways.clear();
    expect(await pipeline.redriveFailed()).toBe(3);
    const after = await settled(db);
    expect((await breakdowns(db)).map((r) => r.call_id)).toEqual(['P01', 'P02']);
    expect(after.dead).toBe(2);
    expect(after.lastFailures.map((f) => f.callId).sort()).toEqual(['P04', 'P06']);
  });

  it('loses and duplicates nothing when the worker process stops mid-run', async () => {
    const { db } = await setup();
    const [p01] = await db.query<{ transcript: string }>("SELECT transcript FROM calls WHERE id = 'P01'");
    const ids = Array.from({ length: 40 }, (_, i) => `K${String(i + 1).padStart(3, '0')}`);
    await db.query(
      `INSERT INTO calls (id, direction, started_at, duration_sec, status, manager_id, client_phone, transcript)
       SELECT id, 'in', '2026-03-20T10:00:00+03:00', 60, 'answered', 'M1', '7926' || lpad(n::text, 7, '0'), to_jsonb($2::text)
         FROM unnest($1::text[]) WITH ORDINALITY AS u(id, n)`,
      [ids, p01!.transcript],
    );

    // First worker: after its 12th analysis it is shut down hard, with jobs still in its hands;
    // the handler keeps going a little longer and writes what it had, as a dying process might.
    const bossA = await bossFor(db);
    let analyzedByA = 0;
    let stopping: Promise<void> | undefined;
    const first = switchboardAnalyzer({
      onAnalyze: async () => {
        analyzedByA++;
        if (analyzedByA === 12) stopping = bossA.stop({ graceful: false, close: false });
        if (analyzedByA >= 12) await sleep(300);
      },
    });
    const a = pipelineOf(db, bossA, first.analyzer, {
      workers: { ...fast.workers, analyze: { pollingIntervalSeconds: 0.5, batchSize: 4, concurrency: 2 } },
    });
    await a.pipeline.start();
    await a.pipeline.enqueueCalls(ids);
    const until = Date.now() + 30_000;
    while (!stopping && Date.now() < until) await sleep(50);
    expect(stopping).toBeDefined();
    await stopping;
    await sleep(500);
    const midway = await breakdowns(db);
    expect(midway.length).toBeGreaterThan(0);
    expect(midway.length).toBeLessThan(ids.length);

    // A new process takes over the same queues.
    const bossB = await bossFor(db);
    const second = switchboardAnalyzer();
    const b = pipelineOf(db, bossB, second.analyzer);
    await b.pipeline.start();
    const status = await settled(db, 60_000);

    expect(status.dead).toBe(0);
    const stored = await breakdowns(db);
    expect(stored.map((r) => r.call_id)).toEqual(ids);
    const outbox = await deliveries(db);
    expect(outbox.map((r) => r.key)).toEqual(ids.map((id) => `breakdown:${id}:${OFFLINE_ANALYZER}`));
    const fired = [...a.events, ...b.events].map((e) => e.callId).sort();
    expect(fired).toEqual(ids);
    // The jobs the first worker held when it stopped were failed by the shutdown and retried by the second.
    const [retried] = await db.query<{ n: number }>(
      "SELECT count(*)::int AS n FROM pgboss.job WHERE name = 'call.analyze' AND retry_count > 0 AND state = 'completed'",
    );
    expect(retried!.n).toBeGreaterThan(0);
    // Each call was analyzed by the second worker only if the first had not stored it.
    expect(second.attempts.filter((id) => midway.some((m) => m.call_id === id))).toEqual([]);
  });

  it('analyzes one call synchronously with the same idempotent writes', async () => {
    const { db, transcriber } = await setup();
    const { analyzer } = switchboardAnalyzer();
    const events: string[] = [];
    const deps = {
      db,
      logger: silentLogger,
      analyzer,
      transcriber,
      now: () => NOW,
      onBreakdownReady: async (e: BreakdownReadyEvent) => {
        events.push(e.callId);
      },
    };
    const first = await analyzeCallNow(deps, 'P04');
    expect(first.outcome).toBe('stored');
    expect(first.outcome === 'stored' && first.notified).toBe(true);
    const second = await analyzeCallNow(deps, 'P04');
    expect(second).toEqual({ ...first, outcome: 'exists', notified: false });
    expect(await analyzeCallNow(deps, 'P05')).toEqual({ outcome: 'skipped', reason: 'no_transcript' });
    expect(await analyzeCallNow(deps, 'P07')).toEqual({ outcome: 'skipped', reason: 'empty_transcript' });
    expect(await analyzeCallNow({ ...deps, transcriber: undefined }, 'NOPE')).toEqual({
      outcome: 'skipped',
      reason: 'call_not_found',
    });
    // Without an event handler the rows wait for an outbox sender; nobody to send P06's to.
    const quiet = { ...deps, onBreakdownReady: undefined };
    expect(await analyzeCallNow(quiet, 'P03')).toMatchObject({ outcome: 'stored', notified: true });
    expect(await analyzeCallNow(quiet, 'P06')).toMatchObject({ outcome: 'stored', notified: true });
    expect((await breakdowns(db)).map((r) => r.call_id)).toEqual(['P03', 'P04', 'P06']);
    expect((await deliveries(db)).map((r) => [r.key, r.user_id, r.channel, r.status, r.last_error])).toEqual([
      ['breakdown:P03:offline@1.0', 3, 'whatsapp', 'pending', null],
      ['breakdown:P04:offline@1.0', 1, 'telegram', 'sent', null],
      ['breakdown:P06:offline@1.0', null, 'console', 'skipped', NO_RECIPIENT],
    ]);
    expect(events).toEqual(['P04']);
  });

  it('backfills past calls without messaging their managers and reports what it skipped', async () => {
    const { db } = await setup();
    const boss = await bossFor(db);
    const { analyzer } = switchboardAnalyzer();
    const { pipeline, events } = pipelineOf(db, boss, analyzer);
    const seen: number[] = [];
    const result = await pipeline.backfill({
      since: new Date('2026-03-01T00:00:00+03:00'),
      pollMs: 100,
      onProgress: (p) => seen.push(p.pending),
    });
    // Since 1 March: the 11 Q-calls (Q12 is February) and P05 have neither a transcript nor a recording;
    // P04 has only a recording and no transcriber is configured; P01-P03, P06, P07 are queued, and P07's
    // transcript turns out to hold no utterances.
    expect(result.selected).toBe(5);
    expect(result.skipped).toEqual({ no_transcript: 12, no_transcriber: 1 });
    expect(result.progress).toEqual({ total: 5, stored: 4, exists: 0, skipped: 1, failed: 0, pending: 0 });
    expect(seen.at(-1)).toBe(0);
    expect((await breakdowns(db)).map((r) => r.call_id)).toEqual(['P01', 'P02', 'P03', 'P06']);
    expect(await deliveries(db)).toEqual([]);
    expect(events).toEqual([]);
  });

  it('reports empty queues before pg-boss was ever started', async () => {
    const { db } = await setup();
    const s = await pipelineStatus(db);
    expect(s.dead).toBe(0);
    expect(s.breakdowns).toEqual({});
    expect(s.queues.map((q) => q.queue)).toEqual(['call.transcribe', 'call.analyze', 'call.notify']);
    expect(s.queues.every((q) => q.created + q.completed + q.failed === 0)).toBe(true);
  });
});
