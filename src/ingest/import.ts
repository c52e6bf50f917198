import fs from 'node:fs';
import path from 'node:path';
import type { Db, Queryable } from '../db/client.ts';
import { refreshLastActivity } from '../db/last-activity.ts';
import { refreshRollups } from '../db/rollups/index.ts';
import { AppError } from '../errors.ts';
import type { Logger } from '../logger.ts';
import {
  type EntityName,
  type EntitySpec,
  entityNames,
  entityOfFile,
  entitySpecs,
  type RefTarget,
  referenceableEntities,
} from './entities.ts';
import { type RecordReader, recordReader, UNDECIDED } from './fast-validate.ts';
import { IdTable } from './id-table.ts';
import { KeyTable } from './key-table.ts';
import { readLineBlocks, readLines } from './lines.ts';
import { type BatchResult, copyLine, openBulkWriter } from './upsert.ts';

/** One rejected record: where it was, why, and the record itself (IMPORT_FORMAT.md "Rules"). */
export interface Reject {
  file: string;
  line: number;
  reason: string;
  record: unknown;
}

export interface EntityCounts {
  inserted: number;
  updated: number;
  unchanged: number;
  deleted: number;
  rejected: number;
}

export interface ImportReport {
  counts: Partial<Record<EntityName, EntityCounts>>;
  /** Lines read from recognised files. */
  rows: number;
  rejected: number;
  /** The first rejects, for printing; all of them are in the reject file. */
  firstRejects: Reject[];
  warnings: string[];
  ms: number;
  rowsPerSec: number;
  rejectsFile: string | undefined;
}

export interface ImportOptions {
  dir: string;
  /** Where rejects are written as JSON lines; created only when something is rejected. */
  rejectsFile?: string | undefined;
  logger: Logger;
  /** Bytes read so far of the total, for a progress bar. */
  onProgress?: (bytesRead: number, bytesTotal: number) => void;
  batchSize?: number;
  /** On PostgreSQL (or PGlite with `exclusive`), a file at least this big going into an empty table is bulk-loaded (see `BulkWriter.begin`); default 8 MiB. */
  bulkLoadBytes?: number;
  /**
   * Nothing else uses the embedded database during the import (the first
   * start's demo load): PGlite may then bulk-load like PostgreSQL.
   */
  exclusive?: boolean;
  /** Company time zone the metric rollups are kept in (COMPANY_TZ); default: the zone they were built in. */
  tz?: string;
}

type Rec = Record<string, unknown>;
type Validated =
  | { ok: true; rec: Rec; key: string; deleted: boolean }
  | { ok: false; reason: string; key?: string };

const FIRST_REJECTS = 100;
/** Batches handed to the writer before the importer waits for the oldest. */
const BATCHES_IN_FLIGHT = 4;
/** Lines validated and checked together (one lookup of unknown references per chunk). */
const CHUNK = 1000;
/** On PGlite, tables that took this many rows in one import are vacuumed after it (the small demo's are not). */
const VACUUM_ROWS = 100_000;

/** A batch being gathered: COPY lines (a later line of a key replaces the earlier one), deletions. */
interface Batch {
  lines: Array<string | undefined>;
  /** The key of each line. */
  keys: string[];
  /**
   * Key → index in `lines`, made when a key of the file comes again (most
   * batches never need it), then kept up to date for the rest of the batch.
   */
  lineAt: Map<string, number> | undefined;
  deletes: Set<string>;
  /** Some key of the batch may already be in the table from earlier in this import. */
  mayConflict: boolean;
}

function newBatch(): Batch {
  return { lines: [], keys: [], lineAt: undefined, deletes: new Set(), mayConflict: false };
}

/** Where the batch holds a line of `key`, if it does. */
function lineOfKey(batch: Batch, key: string): number | undefined {
  if (!batch.lineAt) {
    batch.lineAt = new Map();
    for (let i = 0; i < batch.keys.length; i++)
      if (batch.lines[i] !== undefined) batch.lineAt.set(batch.keys[i]!, i);
  }
  return batch.lineAt.get(key);
}

const readers = new Map<EntityName, RecordReader | undefined>();
function readerFor(spec: EntitySpec): RecordReader | undefined {
  if (!readers.has(spec.name)) readers.set(spec.name, recordReader(spec));
  return readers.get(spec.name);
}

/** Parses and validates one JSONL line into a normalized record. */
function validateLine(spec: EntitySpec, line: string): Validated & { raw?: unknown } {
  let raw: unknown;
  try {
    raw = JSON.parse(line);
  } catch (err) {
    return { ok: false, reason: `invalid JSON: ${(err as Error).message}` };
  }
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
    return { ok: false, reason: 'invalid JSON: a line must be one JSON object', raw };
  }
  const rawKey = keyOfRaw(spec, raw as Rec);
  // A deletion needs only the record's id: `{"id": "D1", "deleted": true}`.
  if ((raw as Rec).deleted === true && rawKey)
    return { ok: true, rec: raw as Rec, key: rawKey, deleted: true, raw };
  // The compiled reader answers for almost every line; zod decides (and words the reason) for the rest.
  const fast = readerFor(spec)?.(raw as Rec);
  if (fast !== undefined && fast !== UNDECIDED)
    return { ok: true, rec: fast, key: spec.key(fast), deleted: fast.deleted === true, raw };
  const parsed = spec.schema.safeParse(raw);
  if (!parsed.success) {
    const reason = parsed.error.issues
      .map((i) => {
        const field = i.path.join('.') || '(record)';
        const missing = i.code === 'invalid_type' && (raw as Rec)[String(i.path[0])] === undefined;
        return missing ? `missing required field ${field}` : `${field}: ${i.message}`;
      })
      .join('; ');
    return { ok: false, reason, raw, ...(rawKey ? { key: rawKey } : {}) };
  }
  const rec: Rec = parsed.data;
  let extra: Rec | null = null;
  for (const k in rec) {
    if (!spec.known.has(k)) {
      extra ??= {};
      extra[k] = rec[k];
    }
  }
  rec.extra = extra;
  return { ok: true, rec, key: spec.key(rec), deleted: rec.deleted === true, raw };
}

/** The key of a record that failed validation, when it has a usable one (so references to it are rejected too). */
function keyOfRaw(spec: EntitySpec, raw: Rec): string | undefined {
  if (spec.keyColumns[0] === 'id') return typeof raw.id === 'string' && raw.id ? raw.id : undefined;
  return undefined;
}

function refTargetOf(ref: EntitySpec['references'][number], rec: Rec): RefTarget | null {
  return typeof ref.target === 'function' ? ref.target(rec) : ref.target;
}

/**
 * What the import knows about the ids of one referenceable entity. The
 * winners live off the heap (IdTable): a large import holds millions of ids
 * for its whole run.
 */
interface IdState {
  /** id → the line that wins for it (the last valid one) × 2, + 1 when that line deletes it. */
  winner: IdTable;
  /** Ids with a rejected line: without a winning line, references to them are dangling. */
  rejected: Set<string>;
  /** Winners rejected for a dangling reference (directly or down a chain). */
  invalid: Set<string>;
  /** Ids not in this import, confirmed to exist in the database. */
  inDb: Set<string>;
  /** Ids not in this import, confirmed not to exist in the database. */
  notInDb: Set<string>;
}

function newIdState(): IdState {
  return {
    winner: new IdTable(),
    rejected: new Set(),
    invalid: new Set(),
    inDb: new Set(),
    notInDb: new Set(),
  };
}

/** A reference to this id is valid. */
function resolves(st: IdState, id: string): boolean {
  const w = st.winner.get(id);
  // The sets are empty in a clean import: their size is checked first (millions of lookups).
  if (w !== undefined) return (w & 1) === 0 && (st.invalid.size === 0 || !st.invalid.has(id));
  return (st.rejected.size === 0 || !st.rejected.has(id)) && st.inDb.size > 0 && st.inDb.has(id);
}

/** Neither the import nor an earlier lookup knows this id: the database must be asked. */
function unknownId(st: IdState, id: string): boolean {
  return (
    !st.winner.has(id) &&
    (st.rejected.size === 0 || !st.rejected.has(id)) &&
    (st.inDb.size === 0 || !st.inDb.has(id)) &&
    (st.notInDb.size === 0 || !st.notInDb.has(id))
  );
}

/** Whose last activity an import may have changed; past a cap, everyone's (then one set-based refresh). */
class TouchedRecords {
  all = false;
  readonly leads = new Set<string>();
  readonly deals = new Set<string>();
  readonly contacts = new Set<string>();
  readonly phones = new Set<string>();
  private size = 0;

  constructor(private readonly cap: number) {}

  add(kind: unknown, id: unknown): void {
    if (this.all || typeof id !== 'string') return;
    const set =
      kind === 'lead'
        ? this.leads
        : kind === 'deal'
          ? this.deals
          : kind === 'contact'
            ? this.contacts
            : undefined;
    if (set) this.put(set, id);
  }

  addPhone(phone: unknown): void {
    if (!this.all && typeof phone === 'string') this.put(this.phones, phone);
  }

  get empty(): boolean {
    return !this.all && this.size === 0;
  }

  private put(set: Set<string>, value: string): void {
    if (set.has(value)) return;
    set.add(value);
    if (++this.size > this.cap) {
      this.all = true;
      for (const s of [this.leads, this.deals, this.contacts, this.phones]) s.clear();
    }
  }
}

/** Entities whose records count towards a lead's or deal's last activity (METRICS.md "Last activity"). */
const activityEntities = new Set<EntityName>([
  'leads',
  'deals',
  'contacts',
  'stage_history',
  'activities',
  'tasks',
  'calls',
]);

/**
 * Loads a directory of canonical JSONL files (IMPORT_FORMAT.md v1): validates
 * each record, resolves references across files and lines, upserts in bulk,
 * applies deletions, and reports rejects without stopping the rest.
 */
export async function importDirectory(db: Db, opts: ImportOptions): Promise<ImportReport> {
  const t0 = performance.now();
  const { logger } = opts;
  let entries: string[];
  try {
    entries = fs.readdirSync(opts.dir).sort();
  } catch (cause) {
    throw new AppError(
      'import_dir',
      `Cannot read import directory ${opts.dir}`,
      `Не удалось открыть папку ${opts.dir}: проверьте путь.`,
      { cause },
    );
  }

  const report: ImportReport = {
    counts: {},
    rows: 0,
    rejected: 0,
    firstRejects: [],
    warnings: [],
    ms: 0,
    rowsPerSec: 0,
    rejectsFile: undefined,
  };
  let rejectStream: fs.WriteStream | undefined;
  // A reject file describes this import only: a stale one from an earlier run would mislead.
  if (opts.rejectsFile) fs.rmSync(opts.rejectsFile, { force: true });
  const countsOf = (e: EntityName): EntityCounts => {
    report.counts[e] ??= { inserted: 0, updated: 0, unchanged: 0, deleted: 0, rejected: 0 };
    return report.counts[e];
  };
  const reject = (r: Reject, entity?: EntityName) => {
    report.rejected++;
    if (entity) countsOf(entity).rejected++;
    if (report.firstRejects.length < FIRST_REJECTS) report.firstRejects.push(r);
    if (opts.rejectsFile) {
      if (!rejectStream) {
        rejectStream = fs.createWriteStream(opts.rejectsFile, { flags: 'w' });
        report.rejectsFile = opts.rejectsFile;
      }
      rejectStream.write(`${JSON.stringify(r)}\n`);
    }
  };

  const files = new Map<EntityName, string>();
  for (const name of entries) {
    const full = path.join(opts.dir, name);
    if (!fs.statSync(full).isFile()) continue;
    if (!name.endsWith('.jsonl')) {
      report.warnings.push(`${name}: not a .jsonl file, ignored`);
      continue;
    }
    const entity = entityOfFile(name);
    if (!entity) reject({ file: name, line: 0, reason: 'unknown file', record: null });
    else files.set(entity, full);
  }
  const bytesTotal = [...files.values()].reduce((s, f) => s + fs.statSync(f).size, 0);
  let bytesDone = 0;

  const ids = new Map<RefTarget, IdState>(referenceableEntities.map((t) => [t, newIdState()]));
  const danglingReason = new Map<string, string>();
  const duplicateLines = new Map<EntityName, Set<number>>();
  await collectIds(db, files, ids, duplicateLines, danglingReason);
  logger.debug({ ms: Math.round(performance.now() - t0) }, 'references collected');

  // A big import refreshes every lead's and deal's last activity in one set-based pass; a small one only what it touched.
  const [size] = await db.query<{ n: number }>(
    `SELECT coalesce(sum(greatest(reltuples, 0)), 0)::float8 AS n FROM pg_class WHERE relname IN ('leads', 'deals') AND relkind = 'r'`,
  );
  const touched = new TouchedRecords(Math.max(20_000, Number(size?.n ?? 0) / 20));

  // Pass 2: write every file in load order.
  const batchSize = opts.batchSize ?? (db.kind === 'postgres' ? 20_000 : 10_000);
  const writer = openBulkWriter(db, opts.bulkLoadBytes, opts.exclusive);
  const written = new Map<EntityName, number>();
  /** Referenceable tables bulk-loaded by this import. */
  const freshTargets = new Set<RefTarget>();
  try {
    for (const entity of entityNames) {
      const file = files.get(entity);
      if (!file) continue;
      const spec = entitySpecs[entity];
      const fileName = path.basename(file);
      const counts = countsOf(entity);
      const isRef = (referenceableEntities as readonly string[]).includes(entity);
      const st = isRef ? ids.get(entity as RefTarget)! : undefined;
      const dupLines = duplicateLines.get(entity);
      const seen = isRef ? undefined : new KeyTable(keyTableCapacity(file));
      const laterDuplicates = new Set<number>();
      const tEntity = performance.now();
      const tracksActivity = activityEntities.has(entity);
      const fresh = await writer.begin(spec, fs.statSync(file).size);
      if (fresh && isRef) freshTargets.add(entity as RefTarget);

      // Lines are handled a small chunk at a time, in line order: references to
      // ids outside the import are looked up for the whole chunk at once, and
      // each record becomes its COPY line at once (parsed records die young:
      // little for the garbage collector). The lines gather into a batch,
      // written while the next one is parsed.
      let chunk: Array<{ v: Validated & { ok: true; raw?: unknown }; lineNo: number } | Reject> = [];
      let batch = newBatch();
      /** Batches given to the writer and not yet done, oldest first. */
      const inflight: Array<Promise<unknown>> = [];
      const flush = async () => {
        const { lines, deletes, mayConflict } = batch;
        batch = newBatch();
        const rows = lines.filter((l): l is string => l !== undefined);
        const dels = [...deletes];
        if (rows.length === 0 && dels.length === 0) return;
        written.set(entity, (written.get(entity) ?? 0) + rows.length + dels.length);
        // A bulk load keeps a few batches in flight: parsing goes on while the server builds the
        // last file's indexes. Memory stays flat however fast the files are read.
        while (inflight.length >= (fresh ? BATCHES_IN_FLIGHT : 1)) await inflight.shift();
        const p = writer.write(spec, rows, dels, mayConflict);
        p.then(
          (r: BatchResult) => {
            counts.inserted += r.inserted;
            counts.updated += r.updated;
            counts.unchanged += rows.length - r.inserted - r.updated;
            counts.deleted += r.deleted;
          },
          () => {},
        );
        inflight.push(p);
        opts.onProgress?.(bytesDone, bytesTotal);
      };
      const handleChunk = async () => {
        const items = chunk;
        chunk = [];
        // The first reference of each record that does not resolve from what is known: most
        // records have none. Only those that have one are looked up in the database, then judged again.
        let dangling: Array<string | undefined> | undefined;
        if (!isRef && spec.references.length > 0) {
          let suspects: Array<{ v: Validated & { ok: true } }> | undefined;
          for (let i = 0; i < items.length; i++) {
            const item = items[i]!;
            if (!('v' in item) || item.v.deleted) continue;
            const bad = firstDanglingRef(spec, item.v.rec, ids);
            if (bad === undefined) continue;
            dangling ??= new Array<string | undefined>(items.length);
            dangling[i] = bad;
            suspects ??= [];
            suspects.push(item);
          }
          if (suspects) {
            await confirmInDb(writer, ids, unknownRefs(spec, suspects, ids), freshTargets);
            for (let i = 0; i < items.length; i++) {
              const item = items[i]!;
              if (dangling![i] !== undefined && 'v' in item)
                dangling![i] = firstDanglingRef(spec, item.v.rec, ids);
            }
          }
        }
        const noting = tracksActivity && !touched.all;
        const upserted: Rec[] = [];
        const deleted: string[] = [];
        for (let i = 0; i < items.length; i++) {
          const item = items[i]!;
          if (!('v' in item)) {
            reject(item, entity);
            continue;
          }
          const { v, lineNo } = item;
          // Only a key that came before in the file can be in the batch already.
          let again = false;
          if (!isRef) {
            const prevLine = seen!.swap(v.key, lineNo);
            if (prevLine !== undefined) {
              laterDuplicates.add(prevLine);
              batch.mayConflict = true;
              again = true;
            }
            const bad = dangling?.[i];
            if (bad !== undefined) {
              reject({ file: fileName, line: lineNo, reason: bad, record: v.raw }, entity);
              continue;
            }
          }
          // The later line of a key wins, also within one batch.
          const at = again ? lineOfKey(batch, v.key) : undefined;
          if (v.deleted) {
            if (at !== undefined) {
              batch.lines[at] = undefined;
              batch.lineAt!.delete(v.key);
            }
            batch.deletes.add(v.key);
            if (noting) deleted.push(v.key);
          } else {
            if (again) batch.deletes.delete(v.key);
            const line = copyLine(spec, v.rec);
            if (at !== undefined) batch.lines[at] = line;
            else {
              batch.lineAt?.set(v.key, batch.lines.length);
              batch.lines.push(line);
              batch.keys.push(v.key);
            }
            if (noting) upserted.push(v.rec);
          }
        }
        if (tracksActivity && !touched.all)
          await noteTouched(writer, spec, upserted, deleted, touched, fresh);
        if (batch.lines.length + batch.deletes.size >= batchSize) await flush();
      };

      for await (const block of readLineBlocks(file)) {
        bytesDone += block.bytes;
        const { lines, firstLineNo } = block;
        for (let i = 0; i < lines.length; i++) {
          const line = lines[i]!;
          const lineNo = firstLineNo + i;
          if (line.trim() === '') continue;
          report.rows++;
          const v = validateLine(spec, line);
          if (!v.ok) {
            chunk.push({ file: fileName, line: lineNo, reason: v.reason, record: v.raw ?? line });
          } else if (st) {
            const w = st.winner.get(v.key);
            if (w === undefined || w >>> 1 !== lineNo) {
              if (dupLines?.has(lineNo))
                chunk.push({ file: fileName, line: lineNo, reason: 'duplicate id', record: v.raw });
            } else if (!v.deleted && st.invalid.has(v.key)) {
              const reason = danglingReason.get(`${entity}|${v.key}`) ?? 'dangling reference';
              chunk.push({ file: fileName, line: lineNo, reason, record: v.raw });
            } else chunk.push({ v, lineNo });
          } else chunk.push({ v, lineNo });
          if (chunk.length >= CHUNK) await handleChunk();
        }
      }
      await handleChunk();
      await flush();
      for (const p of inflight.splice(0)) await p;
      await writer.end(spec);
      opts.onProgress?.(bytesDone, bytesTotal);
      if (laterDuplicates.size > 0) {
        // Earlier lines whose id came again: identical lines are harmless, different ones are rejected.
        await rejectEarlierDuplicates(file, spec, laterDuplicates, (lineNo, raw) =>
          reject({ file: fileName, line: lineNo, reason: 'duplicate id', record: raw }, entity),
        );
      }
      logger.debug(
        { entity, ms: Math.round(performance.now() - tEntity), fresh, ...counts },
        'entity imported',
      );
    }
    const tRefresh = performance.now();
    // Fresh statistics first: PGlite has no autovacuum, and the refresh and the
    // first questions after a bulk load need good plans.
    const bulkLoaded = [...written].filter(([, n]) => n > 1000).map(([e]) => entitySpecs[e].table);
    if (bulkLoaded.length > 0) {
      if (bulkLoaded.includes('contacts')) bulkLoaded.push('contact_phones');
      await writer.query(`ANALYZE ${bulkLoaded.join(', ')}`);
    }
    await refreshTouched(writer, touched);
    logger.debug(
      { ms: Math.round(performance.now() - tRefresh), all: touched.all },
      'last activity refreshed',
    );
    const tFinish = performance.now();
    await writer.finish();
    if (bulkLoaded.length > 0) {
      // Expression indexes (the delay buckets) take their statistics from ANALYZE, and were built only now:
      // without them the planner misjudges the bucket reads of the exact percentiles.
      const withExpressions = await writer.query<{ table: string }>(
        `SELECT DISTINCT c.relname AS table FROM pg_index i JOIN pg_class c ON c.oid = i.indrelid
          WHERE i.indexprs IS NOT NULL AND c.relname = ANY($1::text[])`,
        [[...bulkLoaded, 'lead_responses']],
      );
      if (withExpressions.length > 0)
        await writer.query(`ANALYZE ${withExpressions.map((t) => t.table).join(', ')}`);
    }
    logger.debug({ ms: Math.round(performance.now() - tFinish) }, 'indexes built');
  } finally {
    await writer.close();
  }
  const tRollups = performance.now();
  await refreshRollups(db, opts.tz);
  logger.debug({ ms: Math.round(performance.now() - tRollups) }, 'rollups refreshed');
  // PGlite has no autovacuum: without the visibility map a big table's index-only scans read the heap
  // (the medium demo's forgotten_leads: p95 865 ms unvacuumed, 117 ms vacuumed).
  const large = [...written].filter(([, n]) => n >= VACUUM_ROWS).map(([e]) => entitySpecs[e].table);
  if (db.kind === 'pglite' && large.length > 0) {
    const tVacuum = performance.now();
    await db.query(`VACUUM ${large.join(', ')}`);
    logger.debug({ ms: Math.round(performance.now() - tVacuum), tables: large }, 'vacuumed');
  }
  if (rejectStream) await new Promise<void>((resolve) => rejectStream!.end(resolve));
  report.ms = performance.now() - t0;
  report.rowsPerSec = report.rows / Math.max(report.ms / 1000, 1e-3);
  logger.info(
    { dir: opts.dir, rows: report.rows, rejected: report.rejected, ms: Math.round(report.ms) },
    'import finished',
  );
  return report;
}

/**
 * Pass 1 over the files others can point at: which line wins for every id,
 * which ids are deleted or rejected, and then which records are rejected for
 * a dangling reference — so a reference is judged whatever file or line its
 * target is on. References are not kept per record: only those whose target
 * was not yet known when read are checked afterwards; when the import deletes
 * or rejects anything referenceable, the files are scanned again until no
 * more records fall (chains, leads ↔ deals).
 */
async function collectIds(
  db: Queryable,
  files: Map<EntityName, string>,
  ids: Map<RefTarget, IdState>,
  duplicateLines: Map<EntityName, Set<number>>,
  danglingReason: Map<string, string>,
): Promise<void> {
  // References whose target was not known yet when read, by target.
  const deferred = new Map<RefTarget, Set<string>>();
  let anyGone = false;
  for (const target of referenceableEntities) {
    const file = files.get(target);
    if (!file) continue;
    const spec = entitySpecs[target];
    const st = ids.get(target)!;
    const repeated = new Set<number>();
    for await (const block of readLineBlocks(file)) {
      for (let i = 0; i < block.lines.length; i++) {
        const line = block.lines[i]!;
        const lineNo = block.firstLineNo + i;
        if (line.trim() === '') continue;
        const v = validateLine(spec, line);
        if (!v.ok) {
          if (v.key) {
            st.rejected.add(v.key);
            anyGone = true;
          }
          continue;
        }
        const prev = st.winner.get(v.key);
        if (prev !== undefined) {
          repeated.add(prev >>> 1);
          repeated.add(lineNo);
        }
        st.winner.set(v.key, lineNo * 2 + (v.deleted ? 1 : 0));
        if (v.deleted) {
          anyGone = true;
          continue;
        }
        for (const ref of spec.references) {
          const value = v.rec[ref.field];
          const t = refTargetOf(ref, v.rec);
          if (typeof value !== 'string' || !t) continue;
          const w = ids.get(t)!.winner.get(value);
          if (w !== undefined && (w & 1) === 0) continue;
          let set = deferred.get(t);
          if (!set) {
            set = new Set();
            deferred.set(t, set);
          }
          set.add(value);
        }
      }
    }
    if (repeated.size > 0) duplicateLines.set(target, await differingDuplicates(file, spec, repeated));
  }
  await confirmInDb(db, ids, refsOf(deferred));
  let broken = false;
  for (const [t, id] of refsOf(deferred)) {
    if (!resolves(ids.get(t)!, id)) {
      broken = true;
      break;
    }
  }
  deferred.clear();
  if (!anyGone && !broken) return;
  for (let changed = true; changed; ) {
    changed = false;
    for (const target of referenceableEntities) {
      const file = files.get(target);
      const spec = entitySpecs[target];
      if (!file || spec.references.length === 0) continue;
      const st = ids.get(target)!;
      for await (const { line, lineNo } of readLines(file)) {
        if (line.trim() === '') continue;
        const v = validateLine(spec, line);
        if (!v.ok || v.deleted || st.winner.get(v.key) !== lineNo * 2 || st.invalid.has(v.key)) continue;
        const bad = firstDanglingRef(spec, v.rec, ids);
        if (bad) {
          st.invalid.add(v.key);
          danglingReason.set(`${target}|${v.key}`, bad);
          changed = true;
        }
      }
    }
  }
}

/**
 * A key table big enough for the file from the start: growing one doubles it
 * while the old one is still held, the peak of a 10-million-line file.
 */
function keyTableCapacity(file: string): number {
  const size = fs.statSync(file).size;
  const head = Buffer.alloc(Math.min(size, 1 << 20));
  const fd = fs.openSync(file, 'r');
  try {
    fs.readSync(fd, head, 0, head.length, 0);
  } finally {
    fs.closeSync(fd);
  }
  let lines = 0;
  for (let i = head.indexOf(10); i !== -1; i = head.indexOf(10, i + 1)) lines++;
  const estimate = lines > 0 ? (size / head.length) * lines * 1.1 : 1;
  // The table stays under 70% full (KeyTable grows past that).
  let capacity = 1 << 16;
  while (capacity * 0.7 < estimate) capacity *= 2;
  return capacity;
}

function* refsOf(byTarget: Map<RefTarget, Set<string>>): Generator<[RefTarget, string]> {
  for (const [t, set] of byTarget) for (const id of set) yield [t, id];
}

/** Of the lines whose id repeats, those followed by a different line for the same id (identical repeats are harmless). */
async function differingDuplicates(file: string, spec: EntitySpec, lines: Set<number>): Promise<Set<number>> {
  const last = new Map<string, [number, string]>();
  const dups = new Set<number>();
  for await (const { line, lineNo } of readLines(file)) {
    if (!lines.has(lineNo)) continue;
    const v = validateLine(spec, line);
    if (!v.ok) continue;
    const prev = last.get(v.key);
    if (prev && prev[1] !== line) dups.add(prev[0]);
    last.set(v.key, [lineNo, line]);
  }
  return dups;
}

/** References of a chunk's records that neither the import nor earlier lookups can answer. */
function unknownRefs(
  spec: EntitySpec,
  items: Array<{ v: Validated & { ok: true } } | Reject>,
  ids: Map<RefTarget, IdState>,
): Array<[RefTarget, string]> {
  const out: Array<[RefTarget, string]> = [];
  for (const item of items) {
    if (!('v' in item) || item.v.deleted) continue;
    const { v } = item;
    for (const ref of spec.references) {
      const value = v.rec[ref.field];
      const t = refTargetOf(ref, v.rec);
      if (typeof value !== 'string' || !t) continue;
      if (unknownId(ids.get(t)!, value)) out.push([t, value]);
    }
  }
  return out;
}

/**
 * Looks up, in bulk, which referenced ids not in this import exist in the
 * database. A table bulk-loaded by this import (`fresh`: it was empty) holds
 * only ids the import knows: none of the others is there.
 */
async function confirmInDb(
  db: Queryable,
  ids: Map<RefTarget, IdState>,
  refs: Iterable<[RefTarget, string]>,
  fresh: ReadonlySet<RefTarget> = new Set(),
) {
  const unknown = new Map<RefTarget, Set<string>>();
  for (const [t, id] of refs) {
    if (!unknownId(ids.get(t)!, id)) continue;
    let s = unknown.get(t);
    if (!s) {
      s = new Set();
      unknown.set(t, s);
    }
    s.add(id);
  }
  for (const [t, set] of unknown) {
    const st = ids.get(t)!;
    if (fresh.has(t)) {
      for (const id of set) st.notInDb.add(id);
      continue;
    }
    const all = [...set];
    for (let i = 0; i < all.length; i += 10_000) {
      const chunk = all.slice(i, i + 10_000);
      const rows = await db.query<{ id: string }>(`SELECT id FROM ${t} WHERE id = ANY($1::text[])`, [chunk]);
      for (const r of rows) st.inDb.add(r.id);
      for (const id of chunk) if (!st.inDb.has(id)) st.notInDb.add(id);
    }
  }
}

/** The reject reason of the record's first reference that does not resolve, from what is known in memory. */
function firstDanglingRef(spec: EntitySpec, rec: Rec, ids: Map<RefTarget, IdState>): string | undefined {
  for (const ref of spec.references) {
    const value = rec[ref.field];
    if (typeof value !== 'string') continue;
    const t = refTargetOf(ref, rec);
    if (!t) continue;
    // Every id outside the import was looked up before: what does not resolve now is dangling.
    if (!resolves(ids.get(t)!, value)) return `dangling reference: ${ref.field} → ${t} "${value}"`;
  }
  return undefined;
}

/**
 * Notes whose last activity a batch can change: the leads and deals it writes
 * or links to (before and after the change), contacts whose phones change,
 * and the phones of calls.
 */
async function noteTouched(
  db: Queryable,
  spec: EntitySpec,
  rows: Rec[],
  dels: string[],
  touched: TouchedRecords,
  fresh: boolean,
) {
  const name = spec.name;
  if (name === 'leads' || name === 'deals' || name === 'contacts') {
    const kind = name === 'leads' ? 'lead' : name === 'deals' ? 'deal' : 'contact';
    for (const r of rows) touched.add(kind, r.id);
    for (const k of dels) touched.add(kind, k);
    return;
  }
  if (name === 'stage_history') {
    for (const r of rows) touched.add(r.entity, r.entity_id);
    for (const k of dels) {
      const [entity, entityId] = k.split('|');
      touched.add(entity, entityId);
    }
    return;
  }
  for (const r of rows) {
    touched.add(r.entity, r.entity_id);
    if (name === 'calls') touched.addPhone(r.client_phone);
  }
  // What the records were linked to before this import (nothing, when the table was empty).
  if (fresh) return;
  const keys = [...rows.map((r) => r.id as string), ...dels];
  const phone = name === 'calls' ? ', client_phone' : '';
  const old = await db.query<{ entity: string | null; entity_id: string | null; client_phone?: string }>(
    `SELECT entity, entity_id${phone} FROM ${spec.table} WHERE id = ANY($1::text[])`,
    [keys],
  );
  for (const o of old) {
    touched.add(o.entity, o.entity_id);
    if (o.client_phone) touched.addPhone(o.client_phone);
  }
}

async function refreshTouched(db: Queryable, touched: TouchedRecords): Promise<void> {
  if (touched.empty) return;
  if (touched.all) {
    await refreshLastActivity(db);
    return;
  }
  const leads = new Set(touched.leads);
  const deals = new Set(touched.deals);
  if (touched.contacts.size > 0 || touched.phones.size > 0) {
    const rows = await db.query<{ kind: string; id: string }>(
      `WITH c AS (
         SELECT unnest($1::text[]) AS contact_id
         UNION SELECT contact_id FROM contact_phones WHERE phone = ANY($2::text[])
       )
       SELECT 'lead' AS kind, l.id FROM leads l JOIN c ON c.contact_id = l.contact_id
       UNION ALL SELECT 'deal', d.id FROM deals d JOIN c ON c.contact_id = d.contact_id`,
      [[...touched.contacts], [...touched.phones]],
    );
    for (const r of rows) (r.kind === 'lead' ? leads : deals).add(r.id);
  }
  await refreshLastActivity(db, { leads: [...leads], deals: [...deals] });
}

async function rejectEarlierDuplicates(
  file: string,
  spec: EntitySpec,
  earlierLines: Set<number>,
  onReject: (lineNo: number, raw: unknown) => void,
) {
  const keyOf = (line: string) => {
    const v = validateLine(spec, line);
    return v.ok ? v.key : undefined;
  };
  const earlier: Array<[number, string, string]> = [];
  for await (const { line, lineNo } of readLines(file)) {
    const k = earlierLines.has(lineNo) ? keyOf(line) : undefined;
    if (k !== undefined) earlier.push([lineNo, k, line]);
  }
  // The winner of each key is its last line: identical earlier lines are harmless.
  const keys = new Set(earlier.map(([, k]) => k));
  const lastByKey = new Map<string, string>();
  for await (const { line } of readLines(file)) {
    const k = line.includes('"id"') ? keyOf(line) : undefined;
    if (k !== undefined && keys.has(k)) lastByKey.set(k, line);
  }
  for (const [lineNo, k, line] of earlier) {
    if (lastByKey.get(k) !== line) onReject(lineNo, JSON.parse(line));
  }
}
