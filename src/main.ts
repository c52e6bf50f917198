import type { Config } from './config.ts';
import { type Db, migrate, openDb, pgliteDirFor } from './db/client.ts';
import { lockEmbeddedDb } from './db/lock.ts';
import type { Logger } from './logger.ts';

/** What every command works with: the database plus configuration, logger and clock. */
export interface App {
  config: Config;
  logger: Logger;
  db: Db;
  now: () => Date;
  close(): Promise<void>;
}

/**
 * The composition root: opens PostgreSQL (DATABASE_URL) or the embedded
 * database in VORONKA_HOME, applies migrations, and hands the pieces out.
 */
export async function createApp(
  config: Config,
  logger: Logger,
  opts: { now?: () => Date } = {},
): Promise<App> {
  const release = config.databaseUrl ? () => {} : lockEmbeddedDb(config.home);
  let db: Db;
  try {
    db = await openDb({ databaseUrl: config.databaseUrl, pgliteDir: pgliteDirFor(config.home) });
    await migrate(db);
  } catch (err) {
    release();
    throw err;
  }
  logger.debug({ driver: db.kind }, 'database ready');
  return {
    config,
    logger,
    db,
    now: opts.now ?? (() => new Date()),
    async close() {
      await db.close();
      release();
    },
  };
}
