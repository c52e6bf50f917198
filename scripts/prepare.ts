/**
 * Run by `npm install` (postinstall): saves the empty, migrated embedded
 * database that every new one starts from (src/db/pglite-template.ts), so the
 * first `npm start` and the tests skip PGlite's initdb. Never fails the install:
 * without the copy, the first new database makes it.
 */
import { migrate, openDb } from '../src/db/client.ts';

try {
  const db = await openDb({});
  await migrate(db);
  await db.close();
} catch (err) {
  console.warn(`voronka: the embedded database template was not prepared (${(err as Error).message})`);
}
