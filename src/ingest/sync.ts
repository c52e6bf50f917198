import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Config } from '../config.ts';
import type { Db, Queryable } from '../db/client.ts';
import { AppError } from '../errors.ts';
import type { Logger } from '../logger.ts';
import type { Route } from '../server/http.ts';
import { amocrmConnector, amocrmWebhookRoute } from './amocrm/connector.ts';
import { bitrix24Connector, bitrix24WebhookRoute } from './bitrix24/connector.ts';
import { type EntityName, entityNames, entitySpecs, type RefTarget } from './entities.ts';
import { type EntityCounts, importDirectory, type Reject } from './import.ts';

/*
 * CRM synchronisation. A connector turns the source's records into canonical
 * records (IMPORT_FORMAT.md) and hands them here; they are written through the
 * same `importDirectory` path as `voronka import`, so validation, references,
 * idempotency and the last-activity refresh are shared. Progress lives in
 * `sync_state.cursor`, saved after every write, so a crash resumes where the
 * last write ended and replaying a page changes nothing.
 */

export type SyncSource = 'bitrix24' | 'amocrm';
export const syncSources: readonly SyncSource[] = ['bitrix24', 'amocrm'];

type Rec = Record<string, unknown>;
/** Canonical records by entity, as the lines of the import format's files. */
export type CanonicalRecords = Partial<Record<EntityName, Rec[]>>;

export interface SyncDeps {
  db: Db;
  logger: Logger;
  now: () => Date;
  /** The HTTP client for the CRM APIs (a loopback fake in tests). */
  fetch?: typeof fetch;
  /** Waits between requests (rate limits, backoff); tests pass a virtual clock. */
  sleep?: (ms: number) => Promise<void>;
  /** Called with the ids of calls that are new or got a recording/transcript, to queue their analysis. */
  onCallsStored?: (callIds: string[]) => Promise<void>;
  /** Where rejected records are written (JSON lines); without it they are only logged and counted. */
  rejectsFile?: string;
}

export interface SyncProgress {
  stream: string;
  /** 1-based position of the stream among the run's streams, and how many there are. */
  index: number;
  count: number;
  /** Source records fetched by this stream in this run (resumed runs include the earlier part). */
  fetched: number;
  /** The source's own total for the stream when it tells one. */
  total?: number;
}

export interface SyncOptions {
  full?: boolean;
  onProgress?: (p: SyncProgress) => void;
  /** Buffered canonical records that trigger a write (default 20 000). */
  flushAt?: number;
}

export interface SyncReport {
  source: SyncSource;
  mode: 'full' | 'incremental';
  resumed: boolean;
  /** HTTP requests made to the source. */
  requests: number;
  /** Source records fetched, per stream. */
  fetched: Record<string, number>;
  /** What the writes did, per canonical entity. */
  counts: Partial<Record<EntityName, EntityCounts>>;
  rejected: number;
  firstRejects: Reject[];
  ms: number;
  recordsPerSec: number;
}

export type Bitrix24Config = NonNullable<Config['bitrix24']>;
export type AmocrmConfig = NonNullable<Config['amocrm']>;

/* ---------------- writing canonical records ---------------- */

export interface WriteResult {
  counts: Partial<Record<EntityName, EntityCounts>>;
  rejected: number;
  firstRejects: Reject[];
  /** Calls present in the database after the write, of those written. */
  callsStored: string[];
  /** Calls that are new, or gained a recording or transcript: what analysis should look at. */
  callsChanged: string[];
}

/** References a record may lose without losing its meaning; the rest must resolve or the record is rejected. */
const requiredRefs: Partial<Record<EntityName, string[]>> = {
  stages: ['pipeline_id'],
  leads: ['pipeline_id', 'stage_id'],
  deals: ['pipeline_id', 'stage_id'],
  stage_history: ['entity_id', 'stage_id'],
  tasks: ['responsible_id'],
};

const idOf = (e: EntityName, r: Rec): string | undefined =>
  e === 'phone_lines' ? (r.number as string | undefined) : (r.id as string | undefined);

/**
 * A CRM keeps pointers to things it has since deleted (a deal's lead, a call's
 * user). Such an optional reference is cleared, its value kept in the record's
 * `extra` as `<field>_unresolved`, instead of losing the whole record.
 */
async function clearUnresolvedRefs(db: Queryable, records: CanonicalRecords): Promise<void> {
  const inBatch = new Map<RefTarget, Set<string>>();
  for (const e of entityNames) {
    for (const r of records[e] ?? []) {
      if (r.deleted === true) continue;
      const id = idOf(e, r);
      if (id === undefined) continue;
      const s = inBatch.get(e as RefTarget) ?? new Set<string>();
      s.add(id);
      inBatch.set(e as RefTarget, s);
    }
  }
  type Pending = { rec: Rec; field: string; target: RefTarget; value: string; polymorphic: boolean };
  const pending: Pending[] = [];
  const wanted = new Map<RefTarget, Set<string>>();
  for (const e of entityNames) {
    const list = records[e];
    if (!list) continue;
    const spec = entitySpecs[e];
    const required = new Set(requiredRefs[e] ?? []);
    for (const rec of list) {
      if (rec.deleted === true) continue;
      for (const ref of spec.references) {
        if (required.has(ref.field)) continue;
        const value = rec[ref.field];
        if (typeof value !== 'string' || value === '') continue;
        const target = typeof ref.target === 'function' ? ref.target(rec) : ref.target;
        if (!target || inBatch.get(target)?.has(value)) continue;
        pending.push({ rec, field: ref.field, target, value, polymorphic: typeof ref.target === 'function' });
        const s = wanted.get(target) ?? new Set<string>();
        s.add(value);
        wanted.set(target, s);
      }
    }
  }
  const inDb = new Map<RefTarget, Set<string>>();
  for (const [target, ids] of wanted) {
    const rows = await db.query<{ id: string }>(`SELECT id FROM ${target} WHERE id = ANY($1::text[])`, [
      [...ids],
    ]);
    inDb.set(target, new Set(rows.map((r) => r.id)));
  }
  for (const p of pending) {
    if (inDb.get(p.target)?.has(p.value)) continue;
    p.rec[`${p.field}_unresolved`] = p.value;
    p.rec[p.field] = null;
    if (p.polymorphic) {
      p.rec.entity_unresolved = p.rec.entity;
      p.rec.entity = null;
    }
  }
}

interface CallFacts {
  id: string;
  recording_url: string | null;
  has_transcript: boolean;
}

async function callFacts(db: Queryable, ids: string[]): Promise<Map<string, CallFacts>> {
  if (ids.length === 0) return new Map();
  const rows = await db.query<CallFacts>(
    `SELECT id, recording_url, transcript IS NOT NULL AS has_transcript FROM calls WHERE id = ANY($1::text[])`,
    [ids],
  );
  return new Map(rows.map((r) => [r.id, r]));
}

/**
 * Writes canonical records through `importDirectory`: one JSONL file per
 * entity in a temporary folder, loaded in one import so references between
 * the files resolve whatever their order.
 */
export async function writeCanonical(
  deps: Pick<SyncDeps, 'db' | 'logger' | 'rejectsFile'>,
  records: CanonicalRecords,
): Promise<WriteResult> {
  const { db, logger } = deps;
  const result: WriteResult = {
    counts: {},
    rejected: 0,
    firstRejects: [],
    callsStored: [],
    callsChanged: [],
  };
  const total = entityNames.reduce((n, e) => n + (records[e]?.length ?? 0), 0);
  if (total === 0) return result;
  await clearUnresolvedRefs(db, records);
  const callIds = (records.calls ?? []).filter((c) => c.deleted !== true).map((c) => String(c.id));
  const before = await callFacts(db, callIds);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'voronka-sync-'));
  try {
    for (const e of entityNames) {
      const list = records[e];
      if (!list || list.length === 0) continue;
      fs.writeFileSync(path.join(dir, `${e}.jsonl`), `${list.map((r) => JSON.stringify(r)).join('\n')}\n`);
    }
    const rejectsFile = deps.rejectsFile ? path.join(dir, 'rejects.jsonl.out') : undefined;
    const report = await importDirectory(db, { dir, logger, rejectsFile });
    if (rejectsFile && deps.rejectsFile && fs.existsSync(rejectsFile)) {
      fs.appendFileSync(deps.rejectsFile, fs.readFileSync(rejectsFile));
    }
    result.counts = report.counts;
    result.rejected = report.rejected;
    result.firstRejects = report.firstRejects;
    if (report.rejected > 0) {
      logger.warn(
        {
          rejected: report.rejected,
          first: report.firstRejects.slice(0, 5).map((r) => `${r.file}:${r.line}: ${r.reason}`),
        },
        'sync: records rejected',
      );
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
  // PGlite has no autovacuum: after a large write the planner would work from stale statistics.
  if (total >= 5000) {
    const touched = entityNames.filter((e) => (records[e]?.length ?? 0) > 0);
    await db.exec(
      `ANALYZE ${[...touched, ...(touched.includes('contacts') ? ['contact_phones'] : [])].join(', ')}`,
    );
  }
  const after = await callFacts(db, callIds);
  for (const id of callIds) {
    const now = after.get(id);
    if (!now) continue;
    result.callsStored.push(id);
    const was = before.get(id);
    const gained =
      !was ||
      (now.recording_url !== null && now.recording_url !== was.recording_url) ||
      (now.has_transcript && !was.has_transcript);
    if (gained) result.callsChanged.push(id);
  }
  return result;
}

function addCounts(
  into: Partial<Record<EntityName, EntityCounts>>,
  from: Partial<Record<EntityName, EntityCounts>>,
) {
  for (const [e, c] of Object.entries(from) as Array<[EntityName, EntityCounts]>) {
    const t = into[e] ?? { inserted: 0, updated: 0, unchanged: 0, deleted: 0, rejected: 0 };
    into[e] = t;
    t.inserted += c.inserted;
    t.updated += c.updated;
    t.unchanged += c.unchanged;
    t.deleted += c.deleted;
    t.rejected += c.rejected;
  }
}

/* ---------------- sync state ---------------- */

interface StreamState {
  done: boolean;
  /** Where the stream stands inside the run (connector-specific, JSON). */
  pos: unknown;
  /** The lower bound of this run (a date or an id, connector-specific); null = everything. */
  since: string | null;
  /** What `since` becomes for the next run once this run completes. */
  nextSince: string | null;
  fetched: number;
}

interface RunState {
  mode: 'full' | 'incremental';
  startedAt: string;
  streams: Record<string, StreamState>;
}

export interface SourceCursor {
  run: RunState | null;
  /** Per stream: the lower bound for the next incremental run. */
  since: Record<string, string | null>;
  lastRun?: {
    mode: 'full' | 'incremental';
    finishedAt: string;
    fetched: number;
    rejected: number;
    ms: number;
  };
  /** Connector facts worth keeping between runs (amoCRM account id, ...). */
  facts?: Record<string, unknown>;
}

async function loadCursor(db: Queryable, source: SyncSource): Promise<SourceCursor> {
  const [row] = await db.query<{ cursor: SourceCursor | null }>(
    `SELECT cursor FROM sync_state WHERE source = $1`,
    [source],
  );
  return row?.cursor ?? { run: null, since: {} };
}

/** `$2` as the new cursor, keeping the facts stored meanwhile (a webhook may have stored one). */
const KEEP_FACTS = `($2::text::jsonb - 'facts') || jsonb_build_object('facts', coalesce(sync_state.cursor->'facts', '{}'::jsonb))`;

async function saveCursor(db: Queryable, source: SyncSource, cursor: SourceCursor, now: Date): Promise<void> {
  await db.query(`UPDATE sync_state SET cursor = ${KEEP_FACTS}, updated_at = $3 WHERE source = $1`, [
    source,
    JSON.stringify(cursor),
    now,
  ]);
}

/** A running sync older than this without a heartbeat is taken to have died. */
const LEASE_MS = 10 * 60_000;

/** Marks the source as running unless another process holds a fresh lease. */
async function claim(db: Queryable, source: SyncSource, now: Date): Promise<boolean> {
  const rows = await db.query(
    `INSERT INTO sync_state (source, status, last_sync_at, updated_at) VALUES ($1, 'running', $2, $2)
     ON CONFLICT (source) DO UPDATE SET status = 'running', last_sync_at = $2, updated_at = $2
     WHERE sync_state.status <> 'running' OR sync_state.updated_at < $3
     RETURNING source`,
    [source, now, new Date(now.getTime() - LEASE_MS)],
  );
  return rows.length > 0;
}

/** Stores a fact a connector learned (amoCRM account id) so webhooks can check against it. */
export async function rememberFact(
  db: Queryable,
  source: SyncSource,
  key: string,
  value: unknown,
): Promise<void> {
  await db.query(
    `INSERT INTO sync_state (source, cursor) VALUES ($1, jsonb_build_object('run', null, 'since', '{}'::jsonb, 'facts', jsonb_build_object($2::text, $3::text::jsonb)))
     ON CONFLICT (source) DO UPDATE SET cursor = jsonb_set(coalesce(sync_state.cursor, '{}'::jsonb), '{facts}',
       coalesce(sync_state.cursor->'facts', '{}'::jsonb) || jsonb_build_object($2::text, $3::text::jsonb))`,
    [source, key, JSON.stringify(value)],
  );
}

export async function recallFact(db: Queryable, source: SyncSource, key: string): Promise<unknown> {
  const cursor = await loadCursor(db, source);
  return cursor.facts?.[key];
}

export interface SyncStatusRow {
  source: string;
  status: string;
  lastSyncAt: Date | null;
  lastSuccessAt: Date | null;
  lastError: string | null;
  /** The run in progress or interrupted: its mode and how many streams are done. */
  pending: { mode: 'full' | 'incremental'; streamsDone: number; streams: number } | null;
  lastRun: SourceCursor['lastRun'] | null;
}

/** Where every source's sync stands, for `voronka sync status` and the bot's /status. */
export async function syncStatus(db: Queryable): Promise<SyncStatusRow[]> {
  const rows = await db.query<{
    source: string;
    status: string;
    last_sync_at: Date | null;
    last_success_at: Date | null;
    last_error: string | null;
    cursor: SourceCursor | null;
  }>(
    `SELECT source, status, last_sync_at, last_success_at, last_error, cursor FROM sync_state ORDER BY source`,
  );
  return rows.map((r) => {
    const run = r.cursor?.run ?? null;
    const streams = run ? Object.values(run.streams) : [];
    return {
      source: r.source,
      status: r.status,
      lastSyncAt: r.last_sync_at,
      lastSuccessAt: r.last_success_at,
      lastError: r.last_error,
      pending: run
        ? { mode: run.mode, streamsDone: streams.filter((s) => s.done).length, streams: streams.length }
        : null,
      lastRun: r.cursor?.lastRun ?? null,
    };
  });
}

const SOURCE_NAMES: Record<string, string> = { bitrix24: 'Битрикс24', amocrm: 'amoCRM' };

/**
 * The sync status in Russian, one line a source, for `voronka sync status`
 * and an admin's /status in the bot: state, when it last worked, the
 * interrupted run if any, and the last error.
 */
export function syncStatusText(rows: SyncStatusRow[], tz: string): string {
  if (rows.length === 0) return 'Синхронизация с CRM не настроена или ещё не запускалась.';
  const at = (d: Date | null) =>
    d
      ? new Intl.DateTimeFormat('ru-RU', {
          timeZone: tz,
          day: '2-digit',
          month: '2-digit',
          hour: '2-digit',
          minute: '2-digit',
        }).format(d)
      : '—';
  return rows
    .map((r) => {
      const name = SOURCE_NAMES[r.source] ?? r.source;
      const parts: string[] = [];
      if (r.status === 'running') parts.push(`${name}: идёт синхронизация (начата ${at(r.lastSyncAt)})`);
      else if (r.status === 'error') parts.push(`${name}: ошибка ${at(r.lastSyncAt)}`);
      else parts.push(`${name}: в порядке`);
      parts.push(`последняя успешная — ${at(r.lastSuccessAt)}`);
      if (r.lastRun) {
        const mode = r.lastRun.mode === 'full' ? 'полная' : 'инкрементальная';
        parts.push(
          `${mode}, записей: ${r.lastRun.fetched}${r.lastRun.rejected > 0 ? `, отклонено: ${r.lastRun.rejected}` : ''}`,
        );
      }
      if (r.pending && r.status !== 'running') {
        parts.push(
          `прервана ${r.pending.mode === 'full' ? 'полная' : 'инкрементальная'} синхронизация: ${r.pending.streamsDone} из ${r.pending.streams} частей, продолжится с места остановки`,
        );
      }
      if (r.status === 'error' && r.lastError) parts.push(`причина: ${r.lastError}`);
      return parts.join('; ');
    })
    .join('\n');
}

/* ---------------- connectors ---------------- */

/** What a stream sees while it runs. */
export interface StreamContext {
  readonly mode: 'full' | 'incremental';
  /** The stream's lower bound for this run; null = everything. */
  readonly since: string | null;
  /** Where an interrupted run of this stream stopped; undefined on a fresh start. */
  readonly pos: unknown;
  readonly logger: Logger;
  readonly db: Db;
  /**
   * Hands over canonical records together with the stream position after
   * them. The position is saved once the records are written, so a resumed
   * run continues right after them.
   */
  emit(records: CanonicalRecords, pos: unknown, fetched: number, total?: number): Promise<void>;
  /**
   * What `since` becomes for the next run, as set so far in this run (also by
   * an interrupted process): a "modified since" bound must stay the time the
   * run first began, or changes made while it was down would be skipped.
   */
  readonly nextSince: string | null;
  /** Sets what `since` becomes for the next run once this one completes. */
  setNextSince(since: string | null): void;
  /** Writes everything buffered now (a stream that reads the database needs earlier streams written). */
  flush(): Promise<void>;
}

export interface ConnectorStream {
  name: string;
  run(ctx: StreamContext): Promise<void>;
}

export interface Connector {
  streams: ConnectorStream[];
  /** HTTP requests made so far. */
  requests(): number;
  /** Runs after every write, with what was written (derived links the source keeps on the other side). */
  afterWrite?(db: Db, written: CanonicalRecords): Promise<void>;
}

function connectorFor(source: SyncSource, deps: SyncDeps, cfg: Bitrix24Config | AmocrmConfig): Connector {
  return source === 'bitrix24'
    ? bitrix24Connector(deps, cfg as Bitrix24Config)
    : amocrmConnector(deps, cfg as AmocrmConfig);
}

function errorText(err: unknown): string {
  if (err instanceof AppError)
    return `${err.message}${err.cause ? `: ${(err.cause as Error).message ?? err.cause}` : ''}`;
  return err instanceof Error ? err.message : String(err);
}

/** How often a long run renews its lease when nothing has been written for a while. */
const HEARTBEAT_MS = 60_000;

async function recordFailure(deps: SyncDeps, source: SyncSource, err: unknown): Promise<void> {
  await deps.db.query(
    `UPDATE sync_state SET status = 'error', last_error = $2, updated_at = $3 WHERE source = $1`,
    [source, errorText(err).slice(0, 2000), deps.now()],
  );
  deps.logger.error({ err, source }, 'sync failed');
}

/**
 * Runs one sync of a source: resumes an interrupted run, otherwise starts a
 * full run (`full`, or nothing synced yet) or an incremental one from the
 * stored cursors. Throws when the source fails; the error is also stored in
 * `sync_state.last_error`.
 */
export async function syncSource(
  deps: SyncDeps,
  source: SyncSource,
  cfg: Bitrix24Config | AmocrmConfig,
  opts: SyncOptions = {},
): Promise<SyncReport> {
  if (!(await claim(deps.db, source, deps.now()))) {
    throw new AppError(
      'sync_busy',
      `${source} sync is already running`,
      'Синхронизация уже идёт в другом процессе; дождитесь её окончания (voronka sync status).',
    );
  }
  try {
    return await runSync(deps, source, cfg, opts);
  } catch (err) {
    await recordFailure(deps, source, err);
    throw err;
  }
}

function startRun(
  cursor: SourceCursor,
  names: string[],
  full: boolean,
  now: Date,
): { run: RunState; resumed: boolean } {
  if (cursor.run && !(full && cursor.run.mode === 'incremental')) {
    for (const n of names) {
      cursor.run.streams[n] ??= { done: false, pos: undefined, since: null, nextSince: null, fetched: 0 };
    }
    return { run: cursor.run, resumed: true };
  }
  const mode = full || names.every((n) => cursor.since[n] === undefined) ? 'full' : 'incremental';
  const streams: Record<string, StreamState> = {};
  for (const n of names) {
    streams[n] = {
      done: false,
      pos: undefined,
      since: mode === 'full' ? null : (cursor.since[n] ?? null),
      nextSince: null,
      fetched: 0,
    };
  }
  cursor.run = { mode, startedAt: now.toISOString(), streams };
  return { run: cursor.run, resumed: false };
}

async function runSync(
  deps: SyncDeps,
  source: SyncSource,
  cfg: Bitrix24Config | AmocrmConfig,
  opts: SyncOptions,
): Promise<SyncReport> {
  const { db, logger } = deps;
  const t0 = performance.now();
  const connector = connectorFor(source, deps, cfg);
  const cursor = await loadCursor(db, source);
  const names = connector.streams.map((s) => s.name);
  const { run, resumed } = startRun(cursor, names, opts.full === true, deps.now());
  await saveCursor(db, source, cursor, deps.now());

  const report: SyncReport = {
    source,
    mode: run.mode,
    resumed,
    requests: 0,
    fetched: {},
    counts: {},
    rejected: 0,
    firstRejects: [],
    ms: 0,
    recordsPerSec: 0,
  };
  const flushAt = opts.flushAt ?? 20_000;
  let buffer: CanonicalRecords = {};
  let buffered = 0;
  let lastBeat = deps.now().getTime();
  /** Stream positions that become true once the buffer is written. */
  const pendingPos = new Map<string, { pos: unknown; fetched: number; done: boolean }>();

  const flush = async () => {
    if (buffered > 0) {
      const written = buffer;
      const res = await writeCanonical(deps, written);
      addCounts(report.counts, res.counts);
      report.rejected += res.rejected;
      for (const r of res.firstRejects) if (report.firstRejects.length < 100) report.firstRejects.push(r);
      if (res.callsChanged.length > 0 && deps.onCallsStored) await deps.onCallsStored(res.callsChanged);
      if (connector.afterWrite) await connector.afterWrite(db, written);
    }
    buffer = {};
    buffered = 0;
    for (const [name, p] of pendingPos) {
      const st = run.streams[name]!;
      st.pos = p.pos;
      st.fetched = p.fetched;
      st.done = p.done;
    }
    pendingPos.clear();
    await saveCursor(db, source, cursor, deps.now());
    lastBeat = deps.now().getTime();
  };
  /** Renews the lease during long stretches without writes (rate-limited reading). */
  const heartbeat = async () => {
    const now = deps.now();
    if (now.getTime() - lastBeat < HEARTBEAT_MS) return;
    lastBeat = now.getTime();
    await db.query(`UPDATE sync_state SET updated_at = $2 WHERE source = $1`, [source, now]);
  };

  try {
    for (const [i, stream] of connector.streams.entries()) {
      const st = run.streams[stream.name]!;
      report.fetched[stream.name] = st.fetched;
      if (st.done) continue;
      let fetched = st.fetched;
      const ctx: StreamContext = {
        mode: run.mode,
        since: st.since,
        pos: st.pos,
        logger,
        db,
        emit: async (records, pos, n, total) => {
          for (const [e, list] of Object.entries(records) as Array<[EntityName, Rec[]]>) {
            if (list.length === 0) continue;
            const into = buffer[e] ?? [];
            into.push(...list);
            buffer[e] = into;
            buffered += list.length;
          }
          fetched += n;
          report.fetched[stream.name] = fetched;
          pendingPos.set(stream.name, { pos, fetched, done: false });
          opts.onProgress?.({
            stream: stream.name,
            index: i + 1,
            count: connector.streams.length,
            fetched,
            ...(total !== undefined ? { total } : {}),
          });
          if (buffered >= flushAt) await flush();
          else await heartbeat();
        },
        get nextSince() {
          return st.nextSince;
        },
        setNextSince: (s) => {
          st.nextSince = s;
        },
        flush,
      };
      await stream.run(ctx);
      pendingPos.set(stream.name, { pos: pendingPos.get(stream.name)?.pos ?? st.pos, fetched, done: true });
      opts.onProgress?.({ stream: stream.name, index: i + 1, count: connector.streams.length, fetched });
    }
    await flush();
  } catch (err) {
    report.requests = connector.requests();
    // Keep what was fetched before the failure: the next run resumes after it.
    try {
      await flush();
    } catch (flushErr) {
      logger.error({ err: flushErr }, 'sync: could not write the records fetched before the failure');
    }
    throw err;
  }

  report.requests = connector.requests();
  report.ms = performance.now() - t0;
  const total = Object.values(report.fetched).reduce((a, b) => a + b, 0);
  report.recordsPerSec = total / Math.max(report.ms / 1000, 1e-3);
  for (const n of names) cursor.since[n] = run.streams[n]!.nextSince;
  cursor.lastRun = {
    mode: run.mode,
    finishedAt: deps.now().toISOString(),
    fetched: total,
    rejected: report.rejected,
    ms: Math.round(report.ms),
  };
  cursor.run = null;
  await db.query(
    `UPDATE sync_state SET cursor = ${KEEP_FACTS}, status = 'ok', last_success_at = $3, last_error = NULL, updated_at = $3
     WHERE source = $1`,
    [source, JSON.stringify(cursor), deps.now()],
  );
  logger.info(
    {
      source,
      mode: run.mode,
      fetched: total,
      requests: report.requests,
      rejected: report.rejected,
      ms: Math.round(report.ms),
    },
    'sync finished',
  );
  return report;
}

/* ---------------- scheduling ---------------- */

export interface SchedulerOptions extends SyncDeps {
  config: Pick<Config, 'bitrix24' | 'amocrm' | 'syncIntervalMs'>;
}

/**
 * Incremental sync of every configured source every SYNC_INTERVAL, starting
 * now. A run that fails is retried at the next tick; its error stays visible
 * in `sync_state` until a run succeeds.
 */
export function startSyncScheduler(opts: SchedulerOptions): { stop(): Promise<void> } {
  const { config, logger } = opts;
  const sources = syncSources.filter((s) => config[s] !== undefined);
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let inFlight: Promise<void> = Promise.resolve();
  const tick = async () => {
    for (const source of sources) {
      if (stopped) return;
      try {
        await syncSource(opts, source, config[source]!);
      } catch (err) {
        if (err instanceof AppError && err.code === 'sync_busy')
          logger.debug({ source }, 'sync skipped: already running');
        else logger.warn({ source, err: errorText(err) }, 'scheduled sync failed');
      }
    }
  };
  const loop = () => {
    if (stopped) return;
    inFlight = tick().finally(() => {
      if (!stopped) timer = setTimeout(loop, config.syncIntervalMs);
    });
  };
  if (sources.length > 0) loop();
  return {
    async stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
      await inFlight;
    },
  };
}

/* ---------------- CRM webhooks ---------------- */

export interface WebhookDeps extends SyncDeps {
  config: Pick<Config, 'bitrix24' | 'amocrm'>;
}

/**
 * `POST /hooks/bitrix24` (outbound event webhooks, checked by
 * `auth[application_token]`) and `POST /hooks/amocrm/:secret` (checked by the
 * secret path segment and the account id). Each event fetches the changed
 * record at once and writes it like a sync does.
 */
export function crmWebhookRoutes(deps: WebhookDeps): Route[] {
  const routes: Route[] = [];
  if (deps.config.bitrix24) routes.push(bitrix24WebhookRoute(deps, deps.config.bitrix24));
  if (deps.config.amocrm) routes.push(amocrmWebhookRoute(deps, deps.config.amocrm));
  return routes;
}
