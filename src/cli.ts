import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import cliProgress from 'cli-progress';
import { Command, InvalidArgumentError } from 'commander';
import { runConsoleChat } from './bot/console/chat.ts';
import { HELP_TEXT, statsText } from './bot/core.ts';
import { ConfigError, loadConfig } from './config.ts';
import { AppError, userMessageOf } from './errors.ts';
import { type DemoScale, generateDemo } from './ingest/demo/index.ts';
import { type ImportReport, importDirectory } from './ingest/import.ts';
import { createLogger, type Logger } from './logger.ts';
import { type App, createApp } from './main.ts';

/*
 * `voronka <command>`: the operator's entry point. Output meant for people and
 * scripts goes to stdout; logs go to stderr.
 */

const out = (s = '') => process.stdout.write(`${s}\n`);

function parseNow(value: string): Date {
  const d = new Date(value);
  if (Number.isNaN(d.getTime())) throw new InvalidArgumentError(`"${value}" is not an ISO date-time`);
  return d;
}

function parseIntArg(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n)) throw new InvalidArgumentError(`"${value}" is not an integer`);
  return n;
}

async function withApp<T>(fn: (app: App) => Promise<T>, opts: { now?: Date } = {}): Promise<T> {
  const config = loadConfig();
  const logger = createLogger(config.logLevel);
  const now = opts.now;
  const app = await createApp(config, logger, now ? { now: () => now } : {});
  try {
    return await fn(app);
  } finally {
    await app.close();
  }
}

function progressBar(enabled: boolean) {
  if (!enabled) return { update: (_d: number, _t: number) => {}, stop: () => {} };
  const bar = new cliProgress.SingleBar(
    { format: '{bar} {percentage}% | {value}/{total} МБ', stream: process.stderr, hideCursor: true },
    cliProgress.Presets.shades_classic,
  );
  let started = false;
  return {
    update(done: number, total: number) {
      const mb = (b: number) => Math.round(b / 1e5) / 10;
      if (!started) {
        bar.start(mb(total), 0);
        started = true;
      }
      bar.update(mb(done));
    },
    stop() {
      if (started) bar.stop();
    },
  };
}

/** Prints what `voronka import` promises: counts per entity, rows/s, the first rejects. */
function printImportReport(report: ImportReport) {
  out('entity           inserted  updated unchanged  deleted rejected');
  for (const [entity, c] of Object.entries(report.counts)) {
    out(
      `${entity.padEnd(16)} ${String(c.inserted).padStart(8)} ${String(c.updated).padStart(8)} ${String(c.unchanged).padStart(9)} ${String(c.deleted).padStart(8)} ${String(c.rejected).padStart(8)}`,
    );
  }
  out(`${report.rows} rows in ${(report.ms / 1000).toFixed(1)} s (${Math.round(report.rowsPerSec)} rows/s)`);
  for (const w of report.warnings) out(`warning: ${w}`);
  if (report.rejected > 0) {
    for (const r of report.firstRejects) out(`${r.file}:${r.line}: ${r.reason}`);
    if (report.rejected > report.firstRejects.length) {
      out(`… and ${report.rejected - report.firstRejects.length} more rejects`);
    }
    out(`${report.rejected} records rejected; all of them are in ${report.rejectsFile ?? '(no reject file)'}`);
  }
}

async function runImport(app: App, dir: string, rejectsFile: string, showProgress: boolean): Promise<ImportReport> {
  const bar = progressBar(showProgress);
  try {
    return await importDirectory(app.db, {
      dir,
      rejectsFile,
      logger: app.logger,
      onProgress: (d, t) => {
        if (t > 20e6) bar.update(d, t);
      },
    });
  } finally {
    bar.stop();
  }
}

/** First start: the small demo company, generated and loaded through the real import path. */
async function ensureDemoData(app: App, logger: Logger): Promise<void> {
  const [row] = await app.db.query<{ n: number }>('SELECT count(*) AS n FROM managers');
  if (Number(row?.n) > 0) return;
  out('База пуста: создаю демо-данные небольшой компании (~20 тыс. звонков за 12 месяцев)…');
  const t0 = performance.now();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'voronka-demo-'));
  try {
    await generateDemo({ outDir: dir, scale: 'small', seed: 42, now: app.now() });
    const report = await importDirectory(app.db, {
      dir,
      rejectsFile: path.join(app.config.home, 'demo-rejects.jsonl'),
      logger,
    });
    if (report.rejected > 0) {
      logger.error({ rejected: report.rejected, first: report.firstRejects.slice(0, 5) }, 'demo data had rejects');
    }
    out(`Демо-данные загружены: ${report.rows} записей за ${((performance.now() - t0) / 1000).toFixed(1)} с.`);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

async function consoleHandler(app: App) {
  const deps = { db: app.db, tz: app.config.companyTz, now: app.now, logger: app.logger };
  return async (text: string): Promise<string> => {
    try {
      if (text === '/help' || text === '/start') return HELP_TEXT;
      if (text === '/stats') return await statsText(deps);
      return `Пока я понимаю команды /help и /stats.`;
    } catch (err) {
      app.logger.error({ err }, 'console reply failed');
      return userMessageOf(err);
    }
  };
}

export function buildProgram(): Command {
  const program = new Command('voronka')
    .description('Voronka: exact sales answers, call breakdowns and digests in the messenger')
    .showHelpAfterError();

  program
    .command('start')
    .description('open the database (embedded by default), load demo data on first run, start the chat and messengers')
    .action(async () => {
      await withApp(async (app) => {
        await ensureDemoData(app, app.logger);
        await runConsoleChat({
          input: process.stdin,
          output: process.stdout,
          handle: await consoleHandler(app),
          greeting: 'Voronka готова. Задайте вопрос или наберите /help. Выход — Ctrl-D.',
        });
      });
    });

  program
    .command('chat')
    .description('the console chat on the current database')
    .action(async () => {
      await withApp(async (app) => {
        await runConsoleChat({ input: process.stdin, output: process.stdout, handle: await consoleHandler(app) });
      });
    });

  program
    .command('migrate')
    .description('apply database migrations')
    .action(async () => {
      await withApp(async (app) => out(`migrations applied (${app.db.kind})`));
    });

  program
    .command('import')
    .argument('<dir>', 'a directory of canonical JSONL files (IMPORT_FORMAT.md)')
    .option('--rejects <file>', 'where rejected records go', 'voronka-rejects.jsonl')
    .option('--no-progress', 'no progress bar')
    .description('load a directory of canonical JSONL files')
    .action(async (dir: string, opts: { rejects: string; progress: boolean }) => {
      const report = await withApp((app) => runImport(app, dir, path.resolve(opts.rejects), opts.progress && process.stderr.isTTY));
      printImportReport(report);
      if (report.rejected > 0) process.exitCode = 1;
    });

  program
    .command('demo')
    .requiredOption('--out <dir>', 'output directory')
    .option('--scale <scale>', 'small | medium | large', 'small')
    .option('--seed <n>', 'random seed', parseIntArg, 42)
    .option('--now <iso>', 'the moment the history ends at', parseNow)
    .description('write a deterministic demo dataset in the import format')
    .action(async (opts: { out: string; scale: string; seed: number; now?: Date }) => {
      if (!['small', 'medium', 'large'].includes(opts.scale)) {
        throw new InvalidArgumentError(`--scale must be small, medium or large, not "${opts.scale}"`);
      }
      const t0 = performance.now();
      const bar = progressBar(process.stderr.isTTY && opts.scale !== 'small');
      const summary = await generateDemo({
        outDir: path.resolve(opts.out),
        scale: opts.scale as DemoScale,
        seed: opts.seed,
        now: opts.now ?? new Date(),
        onProgress: (d, t) => bar.update(d, t),
      });
      bar.stop();
      for (const [file, n] of Object.entries(summary.files)) out(`${file.padEnd(22)} ${n}`);
      out(`${(summary.bytes / 1e6).toFixed(1)} MB in ${((performance.now() - t0) / 1000).toFixed(1)} s → ${opts.out}`);
    });

  return program;
}

export async function main(argv: string[]): Promise<void> {
  try {
    await buildProgram().parseAsync(argv);
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`${err.message}\n`);
    } else if (err instanceof AppError) {
      process.stderr.write(`${err.userMessage}\n(${err.message})\n`);
    } else {
      process.stderr.write(`${(err as Error)?.stack ?? String(err)}\n`);
    }
    process.exitCode = process.exitCode || 2;
  }
}

await main(process.argv);
