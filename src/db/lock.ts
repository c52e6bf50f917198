import fs from 'node:fs';
import path from 'node:path';
import { AppError } from '../errors.ts';

/**
 * The embedded database is a folder one process may open at a time; a second
 * opener would corrupt it. The lock file holds the owner's pid so a stale lock
 * (a crashed process) is taken over.
 */
export function lockEmbeddedDb(home: string): () => void {
  fs.mkdirSync(home, { recursive: true });
  const file = path.join(home, 'db.lock');
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fd = fs.openSync(file, 'wx');
      fs.writeSync(fd, String(process.pid));
      fs.closeSync(fd);
      return () => {
        try {
          if (fs.readFileSync(file, 'utf8') === String(process.pid)) fs.unlinkSync(file);
        } catch {
          // Already gone: nothing to release.
        }
      };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const owner = Number(fs.readFileSync(file, 'utf8'));
      if (owner && owner !== process.pid && isAlive(owner)) {
        throw new AppError(
          'db_locked',
          `Embedded database in ${home} is in use by process ${owner}`,
          `Встроенная база в ${home} занята процессом ${owner} (запущен voronka start). ` +
            'Остановите его или выполните команду в его консоли; для нескольких процессов используйте PostgreSQL (DATABASE_URL).',
        );
      }
      fs.rmSync(file, { force: true });
    }
  }
  throw new AppError('db_locked', `Cannot lock ${file}`, `Не удалось занять базу в ${home}.`);
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
