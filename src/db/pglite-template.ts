import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { PGlite } from '@electric-sql/pglite';

/*
 * A new embedded database starts from a saved copy of an empty, migrated one.
 * PGlite runs initdb in WebAssembly for every new database: about 5 s of CPU,
 * a quarter of the first start's budget and most of a test database's cost;
 * unpacking the copy takes about 1 s. The copy is keyed by the PGlite version
 * and the migrations, so a stale one is never used; `npm install` makes it
 * (scripts/prepare.ts), and otherwise the first new database saves it.
 */

const root = fileURLToPath(new URL('../..', import.meta.url));
const require = createRequire(import.meta.url);

function templateKey(): string {
  // The package exports no package.json: it is found next to its entry point (dist/).
  const manifest = path.join(path.dirname(require.resolve('@electric-sql/pglite')), '../package.json');
  const pglite = (JSON.parse(fs.readFileSync(manifest, 'utf8')) as { version: string }).version;
  const journal = JSON.parse(fs.readFileSync(path.join(root, 'drizzle/meta/_journal.json'), 'utf8')) as {
    entries: Array<{ when: number }>;
  };
  const last = journal.entries.at(-1)?.when ?? 0;
  return `pglite-${pglite}-m${journal.entries.length}-${last}`;
}

/** Where the copy lives: with the installed packages, so a reinstall renews it. */
export function templateFile(): string {
  return path.join(root, 'node_modules/.cache/voronka', `${templateKey()}.tgz`);
}

/** The saved copy, if there is one. */
export function readTemplate(): Blob | undefined {
  try {
    return new Blob([fs.readFileSync(templateFile())]);
  } catch {
    return undefined;
  }
}

/** Removes a copy PGlite could not start from (a torn write, a changed format). */
export function dropTemplate(): void {
  fs.rmSync(templateFile(), { force: true });
}

/**
 * Saves `pglite` — new and just migrated, holding nothing else — as the copy.
 * Written aside and renamed, so parallel test workers never read half a file.
 */
export async function saveTemplate(pglite: PGlite): Promise<void> {
  const file = templateFile();
  if (fs.existsSync(file)) return;
  const dump = await pglite.dumpDataDir('gzip');
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const tmp = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(tmp, Buffer.from(await dump.arrayBuffer()));
  fs.renameSync(tmp, file);
}
