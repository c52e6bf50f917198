import postgres from 'postgres';
import type { Db, Queryable } from '../db/client.ts';
import { rewriteCallsWithFlags } from '../db/rollups/calls.ts';
import { markFullRebuild } from '../db/rollups/index.ts';
import type { Column, EntitySpec } from './entities.ts';

type Rec = Record<string, unknown>;

const statements = new Map<string, string>();

/**
 * `INSERT … ON CONFLICT` of one entity from a row source: rows unchanged by
 * the update are skipped, `xmax = 0` tells inserted rows from updated ones, and
 * only the two counts come back (not a row per record).
 */
function mergeSql(spec: EntitySpec, select: string): string {
  const cols = spec.columns;
  const updatable = cols.filter((c) => !spec.keyColumns.includes(c.name));
  const set = updatable
    .map((c) => `${c.name} = ${spec.onConflict?.[c.name] ?? `excluded.${c.name}`}`)
    .join(', ');
  const current = updatable.map((c) => `${spec.table}.${c.name}`).join(', ');
  const incoming = updatable.map((c) => spec.onConflict?.[c.name] ?? `excluded.${c.name}`).join(', ');
  return `WITH up AS (
INSERT INTO ${spec.table} (${cols.map((c) => c.name).join(', ')})
${select}
ON CONFLICT (${spec.keyColumns.join(', ')}) DO UPDATE SET ${set}
WHERE (${current}) IS DISTINCT FROM (${incoming})
RETURNING (xmax = 0) AS inserted)
SELECT count(*) FILTER (WHERE inserted) AS inserted, count(*) AS written FROM up`;
}

export interface WriteResult {
  inserted: number;
  updated: number;
}

function countsOf(row: { inserted: unknown; written: unknown } | undefined): WriteResult {
  const inserted = Number(row?.inserted ?? 0);
  return { inserted, updated: Number(row?.written ?? 0) - inserted };
}

/** Deletes records by key, with what only they carried; returns how many existed. */
export async function deleteRows(db: Queryable, spec: EntitySpec, keys: string[]): Promise<number> {
  const keyCol = spec.keyColumns.length === 1 ? spec.keyColumns[0]! : undefined;
  let deleted: number;
  if (keyCol) {
    const [r] = await db.query<{ n: unknown }>(
      `WITH d AS (DELETE FROM ${spec.table} WHERE ${keyCol} = ANY($1::text[]) RETURNING 1) SELECT count(*) AS n FROM d`,
      [keys],
    );
    deleted = Number(r?.n ?? 0);
  } else {
    // stage_history: entity|entity_id|at|stage_id
    const parts = keys.map((k) => k.split('|'));
    const [r] = await db.query<{ n: unknown }>(
      `WITH d AS (DELETE FROM stage_history h USING unnest($1::text[], $2::text[], $3::text[], $4::text[]) AS d(entity, entity_id, at, stage_id)
       WHERE h.entity = d.entity AND h.entity_id = d.entity_id AND h.at = d.at::timestamptz AND h.stage_id = d.stage_id
       RETURNING 1) SELECT count(*) AS n FROM d`,
      [parts.map((p) => p[0]), parts.map((p) => p[1]), parts.map((p) => p[2]), parts.map((p) => p[3])],
    );
    deleted = Number(r?.n ?? 0);
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

/* ---------- COPY into a session staging table, then one merge per batch ---------- */

/** Text-format COPY escaping: backslash, newline, carriage return and tab. */
const COPY_SPECIAL_ALL = /[\\\n\r\t]/g;
const COPY_ESCAPES: Record<string, string> = { '\\': '\\\\', '\n': '\\n', '\r': '\\r', '\t': '\\t' };
function copyEscape(s: string): string {
  // A scan is cheaper than a regular expression on the short strings of most fields.
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 92 || c === 10 || c === 13 || c === 9)
      return s.replace(COPY_SPECIAL_ALL, (m) => COPY_ESCAPES[m]!);
  }
  return s;
}

const ARRAY_SPECIAL = /["\\]/g;
function arrayLiteral(values: unknown[]): string {
  return `{${values.map((v) => (v === null || v === undefined ? 'NULL' : `"${String(v).replace(ARRAY_SPECIAL, '\\$&')}"`)).join(',')}}`;
}

type Encoder = (value: unknown) => string;

const jsonEncoder: Encoder = (v) => {
  if (v === null || v === undefined) return '\\N';
  // JSON text has no raw newline, carriage return or tab: only backslashes need doubling.
  const j = JSON.stringify(v);
  return j.includes('\\') ? j.replaceAll('\\', '\\\\') : j;
};

function encoderOf(type: Column['type']): Encoder {
  switch (type) {
    case 'jsonb':
      return jsonEncoder;
    case 'text[]':
      return (v) => (v === null || v === undefined ? '\\N' : copyEscape(arrayLiteral(v as unknown[])));
    case 'boolean':
      return (v) => (v === null || v === undefined ? '\\N' : v ? 't' : 'f');
    case 'integer':
    case 'numeric':
    case 'double precision':
      return (v) => (v === null || v === undefined ? '\\N' : String(v));
    case 'timestamptz':
      // Validated timestamps are ISO strings: nothing to escape.
      return (v) => (v === null || v === undefined ? '\\N' : String(v));
    default:
      return (v) => (v === null || v === undefined ? '\\N' : copyEscape(String(v)));
  }
}

/**
 * One entity's COPY line maker, as straight-line code: each column read and
 * encoded at a call site of its own (one shape, one encoder each), instead of
 * a loop over arrays of closures that sees every shape and every encoder.
 */
function lineEncoder(spec: EntitySpec): (rec: Rec) => string {
  const parts = spec.columns.map((c, i) => {
    const value = c.field === undefined ? `values[${i}](rec)` : `rec[${JSON.stringify(c.field)}]`;
    switch (c.type) {
      case 'timestamptz':
      case 'integer':
      case 'numeric':
      case 'double precision':
        // Validated timestamps are ISO strings and numbers print plainly: nothing to escape.
        return `((x = ${value}) === null || x === undefined ? '\\\\N' : String(x))`;
      case 'text':
        return `((x = ${value}) === null || x === undefined ? '\\\\N' : esc(String(x)))`;
      default:
        return `encode[${i}](${value})`;
    }
  });
  // join makes one flat string: a batch keeps a string per row, not a tree of pieces for the collector.
  const source = `const p = new Array(${parts.length});\nreturn function copyLine(rec) {\nlet x;\n${parts.map((e, i) => `p[${i}] = ${e};`).join('\n')}\nreturn p.join('\\t');\n};`;
  // Generated once per entity from its own column list (JSON-quoted field names), never from input.
  const make = new Function('values', 'encode', 'esc', source) as (
    values: Array<Column['value']>,
    encode: Encoder[],
    esc: (s: string) => string,
  ) => (rec: Rec) => string;
  return make(
    spec.columns.map((c) => c.value),
    spec.columns.map((c) => encoderOf(c.type)),
    copyEscape,
  );
}

const encoders = new Map<string, (rec: Rec) => string>();

/** One record as a line of COPY text (no newline): tab-separated columns in spec order. */
export function copyLine(spec: EntitySpec, rec: Rec): string {
  let encode = encoders.get(spec.name);
  if (!encode) {
    encode = lineEncoder(spec);
    encoders.set(spec.name, encode);
  }
  return encode(rec);
}

function stageTable(spec: EntitySpec): string {
  return `voronka_stage_${spec.table}`;
}

function createStageSql(spec: EntitySpec): string {
  const cols = spec.columns.map((c) => `${c.name} ${c.type}`).join(', ');
  return `CREATE TEMP TABLE IF NOT EXISTS ${stageTable(spec)} (${cols}) ON COMMIT DELETE ROWS`;
}

function stageMergeSql(spec: EntitySpec): string {
  const key = `stage:${spec.name}`;
  const cached = statements.get(key);
  if (cached) return cached;
  const sql = mergeSql(spec, `SELECT ${spec.columns.map((c) => c.name).join(', ')} FROM ${stageTable(spec)}`);
  statements.set(key, sql);
  return sql;
}

/** contact_phones for the contacts of the staged batch, from their incoming phones. */
function stagePhonesSql(spec: EntitySpec): string[] {
  const t = stageTable(spec);
  return [
    `DELETE FROM contact_phones cp USING ${t} s WHERE cp.contact_id = s.id`,
    `INSERT INTO contact_phones (phone, contact_id, contact_created_at)
     SELECT DISTINCT p, s.id, s.created_at FROM ${t} s, unnest(s.phones) AS p WHERE p <> ''
     ON CONFLICT DO NOTHING`,
  ];
}

/** What one batch did. */
export interface BatchResult extends WriteResult {
  deleted: number;
}

/**
 * The import's one way into the database: batches, and every query the
 * import makes meanwhile, run on one session one after another in the order
 * given; `write` returns at once so the caller parses the next batch
 * meanwhile. Each batch is its own transaction — except in a bulk load.
 *
 * Bulk load (PostgreSQL, a large file into an empty table): from the first
 * such table on, the rest of the import is one transaction. The table's
 * secondary indexes and primary key are dropped, its batches are copied
 * straight into it (no conflict is possible), and `end` builds them again —
 * while the importer reads the next file — except for leads and deals:
 * `finish` builds theirs after the import's ANALYZE and last-activity refresh,
 * which rewrites every row of them. The key comes back early when a batch may
 * conflict or deletes.
 * Meanwhile the import never looks rows of the table up by key: everything in
 * it came from this import.
 * A sort per index instead of millions of insertions: about twice as fast.
 * The tables stay locked until `finish`; any failure rolls the whole import
 * back, indexes included.
 */
export interface BulkWriter extends Queryable {
  /** Starts an entity's batches; true when it is bulk-loaded (the table was empty: no old rows to look at). */
  begin(spec: EntitySpec, expectedBytes: number): Promise<boolean>;
  /**
   * Upserts rows given as COPY lines (`copyLine`, one per key), then deletes
   * keys. `mayConflict`: some key may already be in the table from earlier in
   * this import.
   */
  write(spec: EntitySpec, lines: string[], deleteKeys: string[], mayConflict?: boolean): Promise<BatchResult>;
  /** Ends an entity's batches (and builds a bulk-loaded table's keys and indexes, but for leads and deals). */
  end(spec: EntitySpec): Promise<void>;
  /** Builds the indexes of the bulk-loaded tables and commits. */
  finish(): Promise<void>;
  /** Waits for what was given, rolls back an unfinished bulk load, ends the session. */
  close(): Promise<void>;
}

/** A file at least this big, into an empty table, is bulk-loaded. */
export const BULK_LOAD_BYTES = 8 * 2 ** 20;

interface Session {
  readonly q: Queryable;
  copy(table: string, text: string): Promise<void>;
  /** Runs `fn` in a transaction of its own. */
  transaction<T>(fn: () => Promise<T>): Promise<T>;
  /** Whether long transactions (a bulk load) are safe: only on a connection nobody else uses. */
  readonly exclusive: boolean;
  close(): Promise<void>;
}

/** A connection of its own on PostgreSQL (temp tables live per connection; COPY needs the raw client). */
function postgresSession(url: string): Session {
  // max: 1 makes explicit BEGIN/COMMIT safe in postgres.js.
  const sql = postgres(url, {
    max: 1,
    onnotice: () => {},
    // Its own connection, so its own memory settings: the last-activity refresh aggregates whole tables, and
    // a bulk load builds indexes by sorting.
    connection: {
      application_name: 'voronka-import',
      jit: 'off',
      work_mem: '64MB',
      maintenance_work_mem: '256MB',
    },
  });
  const q: Queryable = {
    query: async <T>(text: string, params: unknown[] = []) =>
      (await sql.unsafe(text, params as postgres.ParameterOrJSON<never>[])) as unknown as T[],
  };
  return {
    q,
    exclusive: true,
    async copy(table, text) {
      const stream = await sql.unsafe(`COPY ${table} FROM STDIN`).writable();
      await new Promise<void>((resolve, reject) => {
        stream.on('error', reject);
        stream.end(Buffer.from(text, 'utf8'), () => resolve());
      });
    },
    async transaction(fn) {
      await q.query('BEGIN');
      try {
        const r = await fn();
        await q.query('COMMIT');
        return r;
      } catch (err) {
        await q.query('ROLLBACK').catch(() => {});
        throw err;
      }
    },
    async close() {
      await sql.end({ timeout: 5 });
    },
  };
}

/**
 * PGlite has one connection: per-batch transactions through its own API, so
 * other queries never land inside one — unless the caller has the database to
 * itself (`exclusive`), as the first start's demo load does.
 */
function pgliteSession(db: Db, exclusive: boolean): Session {
  const pglite = db.pglite!;
  let tx: Pick<typeof pglite, 'query'> | undefined;
  const q: Queryable = {
    query: async <T>(text: string, params: unknown[] = []) =>
      (await (tx ?? pglite).query<T>(text, params)).rows,
  };
  return {
    q,
    exclusive,
    async copy(table, text) {
      await (tx ?? pglite).query(`COPY ${table} FROM '/dev/blob'`, [], { blob: new Blob([text]) });
    },
    async transaction(fn) {
      return pglite.transaction(async (t) => {
        tx = t;
        try {
          return await fn();
        } finally {
          tx = undefined;
        }
      });
    },
    async close() {},
  };
}

/** An index or key the bulk load drops and builds again: how to drop it, how to build it. */
interface Rebuilt {
  drop: string;
  build: string;
  /** The table's primary key: conflicts and deletions by key need it back before they run. */
  key: boolean;
}

/**
 * What a bulk load takes off a table: its secondary (non-unique) indexes,
 * and its primary key unless another table's foreign key needs it. Checking
 * each copied row against a text key costs as much as the copy itself; one
 * sort at the end costs a third of that.
 */
async function rebuiltIndexes(q: Queryable, table: string): Promise<Rebuilt[]> {
  const keys = await q.query<{ name: string; def: string }>(
    `SELECT c.conname AS name, pg_get_constraintdef(c.oid) AS def
     FROM pg_constraint c
     WHERE c.conrelid = $1::regclass AND c.contype = 'p'
       AND NOT EXISTS (SELECT 1 FROM pg_constraint f WHERE f.confrelid = c.conrelid AND f.contype = 'f')`,
    [table],
  );
  const indexes = await q.query<{ name: string; def: string }>(
    `SELECT i.relname AS name, pg_get_indexdef(i.oid) AS def
     FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid
     WHERE x.indrelid = $1::regclass AND NOT x.indisunique AND NOT x.indisprimary`,
    [table],
  );
  return [
    ...keys.map((k) => ({
      drop: `ALTER TABLE ${table} DROP CONSTRAINT ${k.name}`,
      build: `ALTER TABLE ${table} ADD CONSTRAINT ${k.name} ${k.def}`,
      key: true,
    })),
    ...indexes.map((ix) => ({ drop: `DROP INDEX ${ix.name}`, build: ix.def, key: false })),
  ];
}

const columnList = (spec: EntitySpec) => spec.columns.map((c) => c.name).join(', ');

/** `exclusive`: nothing else uses the embedded database meanwhile, so it may bulk-load too. */
export function openBulkWriter(db: Db, bulkLoadBytes = BULK_LOAD_BYTES, exclusive = false): BulkWriter {
  if (!db.pglite && !db.url)
    throw new Error('a PostgreSQL database without its URL: the import opens a session of its own');
  const session = db.pglite ? pgliteSession(db, exclusive) : postgresSession(db.url!);
  const q = session.q;
  const staged = new Set<string>();
  /** The bulk load's transaction is open. */
  let inBulk = false;
  /** Bulk-loaded entities, and the keys and indexes to build at `finish`. */
  const bulk = new Map<string, Rebuilt[]>();
  let tail: Promise<unknown> = Promise.resolve();
  let failure: unknown;

  /** Runs steps on the session one after another; after a failure every later step fails with it. */
  function enqueue<T>(step: () => Promise<T>): Promise<T> {
    const p = tail.then(async () => {
      if (failure) throw failure;
      try {
        return await step();
      } catch (err) {
        await rollback();
        throw err;
      }
    });
    tail = p.catch((err) => {
      failure ??= err;
    });
    return p;
  }

  async function rollback(): Promise<void> {
    if (!inBulk) return;
    inBulk = false;
    bulk.clear();
    await q.query('ROLLBACK').catch(() => {});
  }

  /** Upserts through the staging table, then deletes. */
  async function merge(
    s: Session,
    spec: EntitySpec,
    rowCount: number,
    text: string,
    dels: string[],
  ): Promise<BatchResult> {
    let w: WriteResult = { inserted: 0, updated: 0 };
    if (rowCount > 0) {
      if (!staged.has(spec.name)) await s.q.query(createStageSql(spec));
      await s.copy(`${stageTable(spec)} (${columnList(spec)})`, text);
      const [row] = await s.q.query<{ inserted: unknown; written: unknown }>(stageMergeSql(spec));
      w = countsOf(row);
      if (spec.name === 'contacts' && !bulk.has(spec.name))
        for (const sql of stagePhonesSql(spec)) await s.q.query(sql);
      // ON COMMIT DELETE ROWS empties it between transactions; inside the bulk load's one transaction, this does.
      if (inBulk) await s.q.query(`TRUNCATE ${stageTable(spec)}`);
    }
    const deleted = dels.length > 0 ? await deleteRows(s.q, spec, dels) : 0;
    return { ...w, deleted };
  }

  /** One batch on the session: `text` is its rows as COPY text. */
  async function batch(
    s: Session,
    spec: EntitySpec,
    rowCount: number,
    text: string,
    dels: string[],
    mayConflict: boolean,
  ): Promise<BatchResult> {
    const dropped = bulk.get(spec.name);
    if (dropped && (mayConflict || dels.length > 0)) {
      // A conflict or a deletion finds rows by key: the primary key comes back now, not at `finish`.
      for (const ix of dropped.filter((x) => x.key)) await s.q.query(ix.build);
      bulk.set(
        spec.name,
        dropped.filter((x) => !x.key),
      );
    }
    if (dropped && !mayConflict) {
      // The table was empty and no key of this batch came before: straight in.
      if (rowCount > 0) await s.copy(`${spec.table} (${columnList(spec)})`, text);
      const deleted = dels.length > 0 ? await deleteRows(s.q, spec, dels) : 0;
      return { inserted: rowCount, updated: 0, deleted };
    }
    const r = inBulk
      ? await merge(s, spec, rowCount, text, dels)
      : await s.transaction(() => merge(s, spec, rowCount, text, dels));
    if (rowCount > 0) staged.add(spec.name);
    return r;
  }

  return {
    query<T>(text: string, params?: unknown[]) {
      return enqueue(() => q.query<T>(text, params));
    },
    begin(spec, expectedBytes) {
      if (!session.exclusive || expectedBytes < bulkLoadBytes) return Promise.resolve(false);
      return enqueue(async () => {
        const opened = !inBulk;
        if (opened) {
          await q.query('BEGIN');
          inBulk = true;
        }
        await q.query(`LOCK TABLE ${spec.table} IN ACCESS EXCLUSIVE MODE`);
        const [row] = await q.query<{ empty: boolean }>(
          `SELECT NOT EXISTS (SELECT 1 FROM ${spec.table}) AS empty`,
        );
        if (!row?.empty) {
          if (opened) {
            await q.query('COMMIT');
            inBulk = false;
          }
          return false;
        }
        // contact_phones follows contacts: built in one go at `end` when it is empty too.
        const tables = [spec.table];
        if (spec.name === 'contacts') {
          await q.query('LOCK TABLE contact_phones IN ACCESS EXCLUSIVE MODE');
          const [cp] = await q.query<{ empty: boolean }>(
            'SELECT NOT EXISTS (SELECT 1 FROM contact_phones) AS empty',
          );
          if (cp?.empty) tables.push('contact_phones');
        }
        if (bulk.size === 0) await markFullRebuild(q);
        const indexes: Rebuilt[] = [];
        for (const table of tables) indexes.push(...(await rebuiltIndexes(q, table)));
        for (const ix of indexes) await q.query(ix.drop);
        bulk.set(spec.name, indexes);
        return true;
      });
    },
    write(spec, lines, dels, mayConflict = true) {
      const text = lines.length > 0 ? `${lines.join('\n')}\n` : '';
      return enqueue(() => batch(session, spec, lines.length, text, dels, mayConflict));
    },
    end(spec) {
      return enqueue(async () => {
        if (spec.name === 'contacts' && bulk.has(spec.name)) {
          // The table was empty: every contact is from this load.
          await q.query(`DELETE FROM contact_phones cp USING contacts c WHERE cp.contact_id = c.id`);
          // In key order: the primary key grows at its right edge instead of taking random insertions.
          await q.query(
            `INSERT INTO contact_phones (phone, contact_id, contact_created_at)
             SELECT DISTINCT p, c.id, c.created_at FROM contacts c, unnest(c.phones) AS p WHERE p <> ''
             ORDER BY 1, 2
             ON CONFLICT DO NOTHING`,
          );
        }
        // Nothing writes this table again in the import: its keys and indexes are built now, while the
        // importer reads the next file, and serve the last-activity refresh. Leads and deals wait for
        // `finish`: the refresh rewrites every row of them.
        const dropped = bulk.get(spec.name);
        // Before its indexes: the rewrite then maintains none.
        if (dropped && spec.name === 'calls') await rewriteCallsWithFlags(q);
        if (dropped && spec.name !== 'leads' && spec.name !== 'deals') {
          for (const ix of [...dropped.filter((x) => x.key), ...dropped.filter((x) => !x.key)])
            await q.query(ix.build);
          bulk.set(spec.name, []);
        }
      });
    },
    finish() {
      return enqueue(async () => {
        if (!inBulk) return;
        // Keys first: a failing one (a duplicate the load let through) fails before the long builds.
        const all = [...bulk.values()].flat();
        for (const ix of [...all.filter((x) => x.key), ...all.filter((x) => !x.key)]) await q.query(ix.build);
        await q.query('COMMIT');
        inBulk = false;
        bulk.clear();
      });
    },
    async close() {
      await tail;
      await rollback();
      await session.close();
    },
  };
}
