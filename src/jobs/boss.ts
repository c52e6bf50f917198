import { fromPglite, PgBoss } from 'pg-boss';
import type { Db } from '../db/client.ts';
import type { Logger } from '../logger.ts';

/**
 * Durable jobs in the same database (STACK.md): pg-boss on PostgreSQL through
 * its own small pool, or on the embedded PGlite through the adapter. Retries,
 * dead letters and singleton keys work the same on both.
 */
export async function startBoss(
  db: Db,
  logger: Logger,
  opts: { supervise?: boolean; schedule?: boolean } = {},
): Promise<PgBoss> {
  const common = { schema: 'pgboss', supervise: opts.supervise ?? true, schedule: opts.schedule ?? true };
  const boss =
    db.kind === 'pglite'
      ? new PgBoss({ ...common, db: fromPglite(db.pglite!), backend: 'pglite' })
      : new PgBoss({ ...common, connectionString: db.url!, max: 4, application_name: 'voronka-jobs' });
  boss.on('error', (err: Error) => logger.error({ err: err.message }, 'job queue error'));
  await boss.start();
  return boss;
}
