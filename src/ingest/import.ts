import fs from 'node:fs';
import path from 'node:path';
import type { Db, Queryable } from '../db/client.ts';
import { refreshLastActivity } from '../db/last-activity.ts';
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
import { KeyTable } from './key-table.ts';
import { readLines } from './lines.ts';
import { writeRows } from './upsert.ts';

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
}

type Rec = Record<string, unknown>;
type Validated =
  | { ok: true; rec: Rec; key: string; deleted: boolean }
  | { ok: false; reason: string; key?: string };

const FIRST_REJECTS = 100;

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
  const rec = parsed.data;
  const extra: Rec = {};
  let hasExtra = false;
  for (const k of Object.keys(rec)) {
    if (!spec.known.has(k)) {
      extra[k] = rec[k];
      hasExtra = true;
    }
  }
  rec.extra = hasExtra ? extra : null;
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

/** What the import knows about the ids of one referenceable entity. */
interface IdState {
  /** Valid, not deleted, after reference resolution. */
  valid: Set<string>;
  /** Deleted by this import, or rejected in it: references to these are dangling. */
  gone: Set<string>;
  /** Ids confirmed to exist in the database before this import. */
  inDb: Set<string>;
}

/**
 * Loads a directory of canonical JSONL files (IMPORT_FORMAT.md v1): validates
 * each record, resolves references across files and lines, upserts in bulk,
 * applies deletions, and reports rejects without stopping the rest.
 */
export async function importDirectory(db: Db, opts: ImportOptions): Promise<ImportReport> {
  const t0 = performance.now();
  const { logger } = opts;
  const batchSize = opts.batchSize ?? 5000;
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
  const countsOf = (e: EntityName): EntityCounts => {
    report.counts[e] ??= { inserted: 0, updated: 0, unchanged: 0, deleted: 0, rejected: 0 };
    return report.counts[e];
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

  // Pass 1: ids and references of every entity others can point at, so a
  // reference is valid whatever file or line its target is on.
  const ids = new Map<RefTarget, IdState>();
  const winners = new Map<EntityName, Map<string, number>>();
  const duplicateLines = new Map<EntityName, Set<number>>();
  const refsOf = new Map<RefTarget, Map<string, Array<[string, RefTarget, string]>>>();
  for (const target of referenceableEntities) {
    ids.set(target, { valid: new Set(), gone: new Set(), inDb: new Set() });
    const file = files.get(target);
    if (!file) continue;
    const spec = entitySpecs[target];
    const st = ids.get(target)!;
    const lineOf = new Map<string, number>();
    const hashOf = new Map<string, string>();
    const refs = new Map<string, Array<[string, RefTarget, string]>>();
    const dups = new Set<number>();
    for await (const { line, lineNo } of readLines(file)) {
      if (line.trim() === '') continue;
      const v = validateLine(spec, line);
      if (!v.ok) {
        if (v.key) st.gone.add(v.key);
        continue;
      }
      const prev = lineOf.get(v.key);
      if (prev !== undefined && hashOf.get(v.key) !== line) dups.add(prev);
      lineOf.set(v.key, lineNo);
      hashOf.set(v.key, line);
      if (v.deleted) {
        st.gone.add(v.key);
        st.valid.delete(v.key);
        refs.delete(v.key);
        continue;
      }
      st.gone.delete(v.key);
      st.valid.add(v.key);
      const list: Array<[string, RefTarget, string]> = [];
      for (const ref of spec.references) {
        const value = v.rec[ref.field];
        const t = refTargetOf(ref, v.rec);
        if (typeof value === 'string' && t) list.push([ref.field, t, value]);
      }
      refs.set(v.key, list);
    }
    winners.set(target, lineOf);
    duplicateLines.set(target, dups);
    refsOf.set(target, refs);
  }

  logger.debug({ ms: Math.round(performance.now() - t0) }, 'references collected');
  await confirmInDb(
    db,
    ids,
    [...refsOf.values()].flatMap((m) => [...m.values()].flat()),
  );
  const resolves = (t: RefTarget, id: string) => {
    const st = ids.get(t)!;
    return st.valid.has(id) || (!st.gone.has(id) && st.inDb.has(id));
  };
  // A record pointing at a rejected record is rejected too; repeat until stable (chains, leads ↔ deals).
  const danglingReason = new Map<string, string>();
  for (let changed = true; changed; ) {
    changed = false;
    for (const [target, refs] of refsOf) {
      const st = ids.get(target)!;
      for (const [key, list] of refs) {
        if (!st.valid.has(key)) continue;
        const bad = list.find(([, t, id]) => !resolves(t, id));
        if (bad) {
          st.valid.delete(key);
          st.gone.add(key);
          danglingReason.set(`${target}|${key}`, `dangling reference: ${bad[0]} → ${bad[1]} "${bad[2]}"`);
          changed = true;
        }
      }
    }
  }

  // Pass 2: write every file in load order.
  let touchedActivity = false;
  for (const entity of entityNames) {
    const file = files.get(entity);
    if (!file) continue;
    const spec = entitySpecs[entity];
    const fileName = path.basename(file);
    const counts = countsOf(entity);
    const isRef = (referenceableEntities as readonly string[]).includes(entity);
    const winnerLine = winners.get(entity);
    const dupLines = duplicateLines.get(entity);
    const seen = isRef ? undefined : new KeyTable();
    const laterDuplicates = new Set<number>();
    let upserts: Rec[] = [];
    let batchKeys = new Map<string, number>();
    let deletes: string[] = [];
    let pending: Promise<void> = Promise.resolve();

    const tEntity = performance.now();
    const flush = async () => {
      const rows = upserts;
      const dels = deletes;
      upserts = [];
      deletes = [];
      batchKeys = new Map();
      await pending;
      pending = (async () => {
        if (rows.length > 0) {
          const r = await writeRows(db, spec, rows);
          counts.inserted += r.inserted;
          counts.updated += r.updated;
          counts.unchanged += rows.length - r.inserted - r.updated;
        }
        if (dels.length > 0) counts.deleted += await deleteRows(db, spec, dels);
      })();
      // Surface a failed batch now rather than after the next one is built.
      await pending;
    };

    for await (const { line, lineNo, bytes } of readLines(file)) {
      bytesDone += bytes;
      if (line.trim() === '') continue;
      report.rows++;
      const v = validateLine(spec, line);
      if (!v.ok) {
        reject({ file: fileName, line: lineNo, reason: v.reason, record: v.raw ?? line }, entity);
        continue;
      }
      if (isRef) {
        if (winnerLine?.get(v.key) !== lineNo) {
          if (dupLines?.has(lineNo))
            reject({ file: fileName, line: lineNo, reason: 'duplicate id', record: v.raw }, entity);
          continue;
        }
        if (!v.deleted && !ids.get(entity as RefTarget)!.valid.has(v.key)) {
          const reason = danglingReason.get(`${entity}|${v.key}`) ?? 'dangling reference';
          reject({ file: fileName, line: lineNo, reason, record: v.raw }, entity);
          continue;
        }
      } else {
        const prevLine = seen!.get(v.key);
        if (prevLine !== undefined) laterDuplicates.add(prevLine);
        seen!.set(v.key, lineNo);
        if (!v.deleted && spec.references.length > 0) {
          const pendingRef = firstDanglingRef(db, spec, v.rec, ids);
          const bad = pendingRef && (await pendingRef);
          if (bad) {
            reject({ file: fileName, line: lineNo, reason: bad, record: v.raw }, entity);
            continue;
          }
        }
      }
      if (v.deleted) {
        deletes.push(v.key);
      } else {
        const at = batchKeys.get(v.key);
        if (at !== undefined) upserts[at] = v.rec;
        else {
          batchKeys.set(v.key, upserts.length);
          upserts.push(v.rec);
        }
      }
      if (upserts.length + deletes.length >= batchSize) {
        await flush();
        opts.onProgress?.(bytesDone, bytesTotal);
      }
    }
    await flush();
    opts.onProgress?.(bytesDone, bytesTotal);
    if (laterDuplicates.size > 0) {
      // Earlier lines whose id came again: identical lines are harmless, different ones are rejected.
      await rejectEarlierDuplicates(file, spec, laterDuplicates, (lineNo, raw) =>
        reject({ file: fileName, line: lineNo, reason: 'duplicate id', record: raw }, entity),
      );
    }
    logger.debug({ entity, ms: Math.round(performance.now() - tEntity), ...counts }, 'entity imported');
    if (['leads', 'deals', 'contacts', 'stage_history', 'activities', 'tasks', 'calls'].includes(entity)) {
      touchedActivity = true;
    }
  }

  const tRefresh = performance.now();
  // Fresh statistics first: PGlite has no autovacuum, and the refresh and the
  // first questions after a bulk load need good plans.
  if (report.rows > 1000) await db.query('ANALYZE');
  if (touchedActivity) await refreshLastActivity(db);
  logger.debug({ ms: Math.round(performance.now() - tRefresh) }, 'last activity refreshed');
  if (rejectStream) await new Promise<void>((resolve) => rejectStream!.end(resolve));
  report.ms = performance.now() - t0;
  report.rowsPerSec = report.rows / Math.max(report.ms / 1000, 1e-3);
  logger.info(
    { dir: opts.dir, rows: report.rows, rejected: report.rejected, ms: Math.round(report.ms) },
    'import finished',
  );
  return report;
}

/** Looks up, in bulk, which referenced ids not in this import already exist in the database. */
async function confirmInDb(
  db: Queryable,
  ids: Map<RefTarget, IdState>,
  refs: Array<[string, RefTarget, string]>,
) {
  const unknown = new Map<RefTarget, Set<string>>();
  for (const [, t, id] of refs) {
    const st = ids.get(t)!;
    if (st.valid.has(id) || st.gone.has(id) || st.inDb.has(id)) continue;
    const s = unknown.get(t) ?? new Set<string>();
    unknown.set(t, s);
    s.add(id);
  }
  for (const [t, set] of unknown) {
    const all = [...set];
    for (let i = 0; i < all.length; i += 10_000) {
      const chunk = all.slice(i, i + 10_000);
      const rows = await db.query<{ id: string }>(`SELECT id FROM ${t} WHERE id = ANY($1::text[])`, [chunk]);
      for (const r of rows) ids.get(t)!.inDb.add(r.id);
    }
  }
}

function firstDanglingRef(
  db: Queryable,
  spec: EntitySpec,
  rec: Rec,
  ids: Map<RefTarget, IdState>,
): Promise<string | undefined> | undefined {
  // Almost every reference resolves from memory: stay synchronous then.
  for (const ref of spec.references) {
    const value = rec[ref.field];
    if (typeof value !== 'string') continue;
    const t = refTargetOf(ref, rec);
    if (!t) continue;
    const st = ids.get(t)!;
    if (st.valid.has(value) || (!st.gone.has(value) && st.inDb.has(value))) continue;
    return lookUpRefs(db, spec, rec, ids);
  }
  return undefined;
}

async function lookUpRefs(
  db: Queryable,
  spec: EntitySpec,
  rec: Rec,
  ids: Map<RefTarget, IdState>,
): Promise<string | undefined> {
  for (const ref of spec.references) {
    const value = rec[ref.field];
    if (typeof value !== 'string') continue;
    const t = refTargetOf(ref, rec);
    if (!t) continue;
    const st = ids.get(t)!;
    if (st.valid.has(value)) continue;
    if (!st.gone.has(value)) {
      if (st.inDb.has(value)) continue;
      const found = await db.query(`SELECT 1 FROM ${t} WHERE id = $1`, [value]);
      if (found.length > 0) {
        st.inDb.add(value);
        continue;
      }
    }
    return `dangling reference: ${ref.field} → ${t} "${value}"`;
  }
  return undefined;
}

async function deleteRows(db: Queryable, spec: EntitySpec, keys: string[]): Promise<number> {
  const keyCol = spec.keyColumns.length === 1 ? spec.keyColumns[0]! : undefined;
  let deleted = 0;
  if (keyCol) {
    const rows = await db.query(`DELETE FROM ${spec.table} WHERE ${keyCol} = ANY($1::text[]) RETURNING 1`, [
      keys,
    ]);
    deleted = rows.length;
  } else {
    // stage_history: entity|entity_id|at|stage_id
    const parts = keys.map((k) => k.split('|'));
    const rows = await db.query(
      `DELETE FROM stage_history h USING unnest($1::text[], $2::text[], $3::text[], $4::text[]) AS d(entity, entity_id, at, stage_id)
       WHERE h.entity = d.entity AND h.entity_id = d.entity_id AND h.at = d.at::timestamptz AND h.stage_id = d.stage_id
       RETURNING 1`,
      [parts.map((p) => p[0]), parts.map((p) => p[1]), parts.map((p) => p[2]), parts.map((p) => p[3])],
    );
    deleted = rows.length;
  }
  // Deleted records do not exist for any figure: drop what only they carried.
  if (spec.name === 'leads' || spec.name === 'deals') {
    await db.query(`DELETE FROM stage_history WHERE entity = $1 AND entity_id = ANY($2::text[])`, [
      spec.name === 'leads' ? 'lead' : 'deal',
      keys,
    ]);
  }
  if (spec.name === 'contacts') {
    await db.query(`DELETE FROM contact_phones WHERE contact_id = ANY($1::text[])`, [keys]);
  }
  return deleted;
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
