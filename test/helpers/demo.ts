import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { generateDemo } from '../../src/ingest/demo/index.ts';
import { importDirectory } from '../../src/ingest/import.ts';
import { silentLogger } from '../../src/logger.ts';
import type { TestDb } from './db.ts';

/** The moment the demo history ends, for tests that ask about "today". */
export const DEMO_NOW = new Date('2026-11-23T10:00:00+03:00');

let dir: Promise<string> | undefined;

/**
 * Loads the small demo company (seed 42, history ending at DEMO_NOW) through the real import path;
 * `bulkLoadBytes` as in ImportOptions (0 forces the bulk load on PostgreSQL).
 */
export async function loadDemo(db: TestDb, bulkLoadBytes?: number): Promise<void> {
  dir ??= (async () => {
    const d = fs.mkdtempSync(path.join(os.tmpdir(), 'voronka-test-demo-'));
    await generateDemo({ outDir: d, scale: 'small', seed: 42, now: DEMO_NOW });
    return d;
  })();
  const report = await importDirectory(db, {
    dir: await dir,
    logger: silentLogger,
    ...(bulkLoadBytes === undefined ? {} : { bulkLoadBytes }),
  });
  if (report.rejected > 0)
    throw new Error(
      `demo import rejected ${report.rejected} records: ${JSON.stringify(report.firstRejects[0])}`,
    );
}
