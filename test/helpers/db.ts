import { randomBytes } from 'node:crypto';
import postgres from 'postgres';
import { loadConfig } from '../../src/config.ts';
import { type Db, migrate, openDb } from '../../src/db/client.ts';

export type Driver = 'pglite' | 'postgres';

const databaseUrl = loadConfig().databaseUrl;

/** PGlite always; PostgreSQL too when DATABASE_URL points at a server (CI). */
export const drivers: Driver[] = databaseUrl ? ['pglite', 'postgres'] : ['pglite'];

export interface TestDb extends Db {
  dispose(): Promise<void>;
  url: string | undefined;
}

/** A fresh, migrated database per test file: in-memory PGlite, or a new database on the PostgreSQL server. */
export async function createTestDb(driver: Driver): Promise<TestDb> {
  if (driver === 'pglite') {
    const db = await openDb({});
    await migrate(db);
    return Object.assign(db, { url: undefined, dispose: () => db.close() });
  }
  if (!databaseUrl) throw new Error('DATABASE_URL is required for the postgres driver');
  const name = `voronka_t_${randomBytes(6).toString('hex')}`;
  const admin = postgres(databaseUrl, { max: 1, onnotice: () => {} });
  await admin.unsafe(`CREATE DATABASE ${name}`);
  const url = new URL(databaseUrl);
  url.pathname = `/${name}`;
  const db = await openDb({ databaseUrl: url.toString() });
  await migrate(db);
  return Object.assign(db, {
    url: url.toString(),
    dispose: async () => {
      await db.close();
      await admin.unsafe(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await admin.end();
    },
  });
}
