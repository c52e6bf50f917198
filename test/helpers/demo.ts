import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { generateDemo } from '../../src/ingest/demo/index.ts';
import { type ImportOptions, importDirectory } from '../../src/ingest/import.ts';
import { silentLogger } from '../../src/logger.ts';
import type { TestDb } from './db.ts';

/** The moment the demo history ends, for tests that ask about "today". */
export const DEMO_NOW = new Date('2026-11-23T10:00:00+03:00');

let dir: Promise<string> | undefined;

/**
 * Loads the small demo company (seed 42, history ending at DEMO_NOW) through the real import path;
 * `load` as in ImportOptions (`{ bulkLoadBytes: 0, exclusive: true }` forces the bulk load).
 */
export async function loadDemo(
  db: TestDb,
  load: Pick<ImportOptions, 'bulkLoadBytes' | 'exclusive'> = {},
): Promise<void> {
  dir ??= (async () => {
    const d = fs.mkdtempSync(path.join(os.tmpdir(), 'voronka-test-demo-'));
    await generateDemo({ outDir: d, scale: 'small', seed: 42, now: DEMO_NOW });
    return d;
  })();
  const report = await importDirectory(db, {
    dir: await dir,
    logger: silentLogger,
    ...load,
  });
  if (report.rejected > 0)
    throw new Error(
      `demo import rejected ${report.rejected} records: ${JSON.stringify(report.firstRejects[0])}`,
    );
}
