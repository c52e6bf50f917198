import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { PGlite, types as pgliteTypes } from '@electric-sql/pglite';
import type { PgDatabase, PgQueryResultHKT } from 'drizzle-orm/pg-core';
import { drizzle as drizzlePglite } from 'drizzle-orm/pglite';
import { migrate as migratePglite } from 'drizzle-orm/pglite/migrator';
import { drizzle as drizzlePostgres } from 'drizzle-orm/postgres-js';
import { migrate as migratePostgres } from 'drizzle-orm/postgres-js/migrator';
import postgres from 'postgres';
import { AppError } from '../errors.ts';
import { dropTemplate, readTemplate, saveTemplate } from './pglite-template.ts';
import * as schema from './schema.ts';

export type Row = Record<string, unknown>;

/** Runs raw SQL with `$1` parameters; the same value types come back from both drivers. */
export interface Queryable {
  query<T = Row>(text: string, params?: unknown[]): Promise<T[]>;
}

export interface Db extends Queryable {
  readonly kind: 'postgres' | 'pglite';
  /** The PostgreSQL URL (for pg-boss's own pool); undefined on the embedded database. */
  readonly url: string | undefined;
  /** drizzle over the same database, for the simple typed reads and writes. */
  readonly orm: PgDatabase<PgQueryResultHKT, typeof schema>;
  /** Runs several statements separated by `;` (no parameters). */
  exec(text: string): Promise<void>;
  transaction<T>(fn: (tx: Queryable) => Promise<T>): Promise<T>;
  /** The embedded engine, for pg-boss's PGlite backend; undefined on PostgreSQL. */
  readonly pglite: PGlite | undefined;
  close(): Promise<void>;
}

/** Folder of the generated SQL migrations, found relative to this file so any working directory works. */
export const migrationsFolder = fileURLToPath(new URL('../../drizzle', import.meta.url));

const OID = { int8: 20, numeric: 1700, date: 1082, json: 114, jsonb: 3802 } as const;

const jsonParam = (x: unknown) => (typeof x === 'string' ? x : JSON.stringify(x));

/**
 * Raw queries return: int8 and numeric as JS numbers (counts and money fit in a
 * double here), date as 'YYYY-MM-DD', timestamptz as Date — on both drivers.
 */
function openPostgres(url: string): Db {
  const types = {
    int8: {
      to: OID.int8,
      from: [OID.int8],
      parse: (x: string) => Number(x),
      serialize: (x: unknown) => String(x),
    },
    numeric: {
      to: OID.numeric,
      from: [OID.numeric],
      parse: (x: string) => Number(x),
      serialize: (x: unknown) => String(x),
    },
    date: { to: OID.date, from: [OID.date], parse: (x: string) => x, serialize: (x: unknown) => String(x) },
    // As PGlite and node-postgres do: a string is already JSON text, anything else is stringified.
    // (postgres.js would stringify the string again and store a JSON string.)
    json: { to: OID.json, from: [OID.json], parse: (x: string) => JSON.parse(x), serialize: jsonParam },
    jsonb: { to: OID.jsonb, from: [OID.jsonb], parse: (x: string) => JSON.parse(x), serialize: jsonParam },
  };
  // Two clients: drizzle changes the date parsing of the client it wraps (STACK.md).
  // JIT compiles the large metric queries again on every run and costs more than it saves here.
  // Percentiles sort every value of a period and rollup refreshes hash millions of rows: with the
  // 4 MB default both spill to disk.
  const connection = { application_name: 'voronka', jit: 'off', work_mem: '64MB' };
  const raw = postgres(url, { max: 8, types, onnotice: () => {}, connection });
  const ormClient = postgres(url, { max: 4, onnotice: () => {}, connection });
  const orm = drizzlePostgres(ormClient, { schema });
  const run = (client: postgres.Sql | postgres.TransactionSql) =>
    async function query<T = Row>(text: string, params: unknown[] = []): Promise<T[]> {
      const rows = await client.unsafe(text, params as postgres.ParameterOrJSON<never>[]);
      return rows as unknown as T[];
    };
  return {
    kind: 'postgres',
    url,
    orm: orm as unknown as Db['orm'],
    pglite: undefined,
    query: run(raw),
    async exec(text) {
      await raw.unsafe(text);
    },
    async transaction(fn) {
      return (await raw.begin(async (tx) => fn({ query: run(tx) }))) as Awaited<ReturnType<typeof fn>>;
    },
    async close() {
      await Promise.all([raw.end({ timeout: 5 }), ormClient.end({ timeout: 5 })]);
    },
  };
}

/** New embedded databases made without the saved copy: the first to be migrated becomes it. */
const untemplated = new WeakSet<PGlite>();

async function openPglite(dataDir: string | undefined): Promise<Db> {
  const parsers = {
    [pgliteTypes.INT8]: (x: string) => Number(x),
    [pgliteTypes.NUMERIC]: (x: string) => Number(x),
    [pgliteTypes.DATE]: (x: string) => x,
  };
  const fresh = !dataDir || !fs.existsSync(path.join(dataDir, 'PG_VERSION'));
  const template = fresh ? readTemplate() : undefined;
  let pglite: PGlite;
  try {
    if (dataDir) fs.mkdirSync(dataDir, { recursive: true });
    pglite = await PGlite.create(dataDir ?? 'memory://', {
      parsers,
      ...(template ? { loadDataDir: template } : {}),
    });
  } catch (err) {
    if (!template) throw err;
    // A copy PGlite cannot start from goes; the database is made the long way.
    dropTemplate();
    if (dataDir) fs.rmSync(dataDir, { recursive: true, force: true });
    return openPglite(dataDir);
  }
  if (fresh && !template) untemplated.add(pglite);
  const orm = drizzlePglite(pglite, { schema });
  const run = (client: Pick<PGlite, 'query'>) =>
    async function query<T = Row>(text: string, params: unknown[] = []): Promise<T[]> {
      const res = await client.query<T>(text, params);
      return res.rows;
    };
  return {
    kind: 'pglite',
    url: undefined,
    orm: orm as unknown as Db['orm'],
    pglite,
    query: run(pglite),
    async exec(text) {
      await pglite.exec(text);
    },
    async transaction(fn) {
      return pglite.transaction(async (tx) => fn({ query: run(tx) }));
    },
    async close() {
      await pglite.close();
    },
  };
}

export interface OpenDbOptions {
  /** PostgreSQL URL; without it the embedded database is used. */
  databaseUrl?: string | undefined;
  /** Embedded data folder; undefined = in memory (tests). */
  pgliteDir?: string | undefined;
}

export async function openDb(opts: OpenDbOptions): Promise<Db> {
  try {
    return opts.databaseUrl ? openPostgres(opts.databaseUrl) : await openPglite(opts.pgliteDir);
  } catch (cause) {
    throw new AppError(
      'db_open',
      `Cannot open the database (${opts.databaseUrl ? 'PostgreSQL' : `embedded at ${opts.pgliteDir ?? 'memory'}`})`,
      'База данных недоступна. Администратору: проверьте DATABASE_URL или папку VORONKA_HOME.',
      { cause },
    );
  }
}

/** Applies the committed migrations in `drizzle/`; safe to run on every start. */
export async function migrate(db: Db): Promise<void> {
  if (db.kind === 'pglite') {
    await migratePglite(db.orm as unknown as Parameters<typeof migratePglite>[0], { migrationsFolder });
    if (db.pglite && untemplated.delete(db.pglite)) await saveTemplate(db.pglite);
  } else {
    await db.exec('SET client_min_messages = warning');
    await migratePostgres(db.orm as unknown as Parameters<typeof migratePostgres>[0], { migrationsFolder });
  }
}

/** The embedded database folder inside VORONKA_HOME. */
export function pgliteDirFor(home: string): string {
  return path.join(home, 'db');
}
