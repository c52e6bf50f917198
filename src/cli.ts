import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import cliProgress from 'cli-progress';
import { Command, InvalidArgumentError } from 'commander';
import { z } from 'zod';
import { createInvite, listUsers, parseExpiry, type Role, revokeUser } from './bot/access.ts';
import { runConsoleChat } from './bot/console/chat.ts';
import type { Reply } from './bot/core.ts';
import { inviteText } from './bot/core.ts';
import { ConfigError, loadConfig } from './config.ts';
import { buildDigestCommand } from './digests/commands.ts';
import { AppError, userMessageOf } from './errors.ts';
import { type DemoScale, generateDemo } from './ingest/demo/index.ts';
import { type ImportReport, importDirectory } from './ingest/import.ts';
import { createLogger, type Logger } from './logger.ts';
import { type App, createApp } from './main.ts';
import { type ToolInput, toolInputSchema } from './metrics/types.ts';

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
    out(
      `${report.rejected} records rejected; all of them are in ${report.rejectsFile ?? '(no reject file)'}`,
    );
  }
}

async function runImport(
  app: App,
  dir: string,
  rejectsFile: string,
  showProgress: boolean,
): Promise<ImportReport> {
  const bar = progressBar(showProgress);
  try {
    return await importDirectory(app.db, {
      dir,
      rejectsFile,
      logger: app.logger,
      tz: app.config.companyTz,
      onProgress: (d, t) => {
        if (t > 20e6) bar.update(d, t);
      },
    });
  } finally {
    bar.stop();
  }
}

/** First start: the small demo company, generated and loaded through the real import path. */
async function ensureDemoData(app: App, logger: Logger): Promise<boolean> {
  const [row] = await app.db.query<{ n: number }>('SELECT count(*) AS n FROM managers');
  if (Number(row?.n) > 0) return false;
  out('База пуста: создаю демо-данные небольшой компании (~20 тыс. звонков за 12 месяцев)…');
  const t0 = performance.now();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'voronka-demo-'));
  try {
    await generateDemo({ outDir: dir, scale: 'small', seed: 42, now: app.now() });
    const report = await importDirectory(app.db, {
      dir,
      rejectsFile: path.join(app.config.home, 'demo-rejects.jsonl'),
      logger,
      tz: app.config.companyTz,
      // The assistant starts after the load: the new database is the import's alone, every table empty.
      exclusive: true,
      bulkLoadBytes: 0,
    });
    if (report.rejected > 0) {
      logger.error(
        { rejected: report.rejected, first: report.firstRejects.slice(0, 5) },
        'demo data had rejects',
      );
    }
    out(
      `Демо-данные загружены: ${report.rows} записей за ${((performance.now() - t0) / 1000).toFixed(1)} с.`,
    );
    return true;
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * New calls are queued for analysis on import; only the last day's, so a
 * history import does not message managers about old calls (`voronka analyze`
 * backfills those).
 */
async function queueFreshCalls(app: App): Promise<void> {
  const since = new Date(app.now().getTime() - 86_400_000);
  const rows = await app.db.query<{ id: string }>(
    `SELECT c.id FROM calls c WHERE c.started_at >= $1 AND (c.transcript IS NOT NULL OR c.recording_url IS NOT NULL)
       AND NOT EXISTS (SELECT 1 FROM call_analyses a WHERE a.call_id = c.id)`,
    [since],
  );
  if (rows.length === 0) return;
  const { createServices } = await services();
  const { startPipeline } = await import('./runtime.ts');
  const analysis = await startPipeline(app, createServices(app), { workers: false });
  try {
    const counts = await analysis.pipeline.enqueueCalls(rows.map((r) => r.id));
    out(`Queued for analysis: ${counts.queued.analyze + counts.queued.transcribe} calls of the last 24 h.`);
  } finally {
    await analysis.runnable.stop();
  }
}

/** The answering stack pulls in LangChain and the metric tools: loaded only by the commands that answer. */
const services = () => import('./services.ts');

/** Console rendering of a reply: the text, the chart saved as a PNG with its path, the file saved too. */
function consoleText(app: App, replies: Reply[]): string {
  const parts: string[] = [];
  for (const r of replies) {
    parts.push(r.text);
    const dir = path.join(app.config.home, 'charts');
    if (r.chart) {
      fs.mkdirSync(dir, { recursive: true });
      const file = path.join(dir, `chart-${Date.now()}-${parts.length}.png`);
      fs.writeFileSync(file, r.chart.png);
      parts.push(`📊 График: ${file}`);
    }
    if (r.file) {
      fs.mkdirSync(dir, { recursive: true });
      const file = path.join(dir, r.file.name);
      fs.writeFileSync(file, r.file.data);
      parts.push(`📎 Файл: ${file}`);
    }
  }
  return parts.join('\n');
}

async function consoleHandler(app: App) {
  const { createServices, ensureConsoleAdmin, CONSOLE_IDENTITY } = await services();
  await ensureConsoleAdmin(app);
  const { core } = createServices(app);
  return async (text: string): Promise<string> => {
    try {
      return consoleText(app, await core.handleText(CONSOLE_IDENTITY, text));
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
    .description(
      'open the database (embedded by default), load demo data on first run, start the chat and messengers',
    )
    .action(async () => {
      await withApp(async (app) => {
        const demoLoaded = !app.config.databaseUrl && (await ensureDemoData(app, app.logger));
        const { createServices, ensureConsoleAdmin } = await services();
        const { startAdapters, startDigests, startPipeline, stopAll } = await import('./runtime.ts');
        await ensureConsoleAdmin(app);
        const svc = createServices(app);
        const analysis = await startPipeline(app, svc);
        // The demo's past calls are analyzed in the background, without a message per old call.
        if (demoLoaded) await analysis.pipeline.backfill({ wait: false, notify: false });
        const running = [
          analysis.runnable,
          await startDigests(app, svc, analysis.boss),
          ...(await startAdapters(app, svc, {
            onCallsStored: async (ids) => void (await analysis.pipeline.enqueueCalls(ids)),
          })),
        ];
        const messengers = Boolean(app.config.telegram || app.config.whatsapp);
        // Under a service manager (stdin not a terminal) with a messenger configured: headless, no exit on EOF.
        const chat =
          process.stdin.isTTY || !messengers
            ? runConsoleChat({
                input: process.stdin,
                output: process.stdout,
                handle: await consoleHandler(app),
                greeting: 'Voronka готова. Задайте вопрос или наберите /help. Выход — Ctrl-D.',
              })
            : new Promise<void>(() => {});
        const signal = new Promise<string>((resolve) => {
          process.once('SIGTERM', () => resolve('SIGTERM'));
          process.once('SIGINT', () => resolve('SIGINT'));
        });
        const reason = await Promise.race([chat.then(() => 'EOF'), signal]);
        app.logger.info({ reason }, 'stopping');
        await stopAll(running, app.logger);
      });
    });

  program
    .command('chat')
    .description('the console chat on the current database')
    .action(async () => {
      await withApp(async (app) => {
        await runConsoleChat({
          input: process.stdin,
          output: process.stdout,
          handle: await consoleHandler(app),
        });
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
      const report = await withApp(async (app) => {
        const r = await runImport(
          app,
          dir,
          path.resolve(opts.rejects),
          opts.progress && process.stderr.isTTY,
        );
        const calls = r.counts.calls;
        if (calls && calls.inserted + calls.updated > 0) await queueFreshCalls(app);
        return r;
      });
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
      out(
        `${(summary.bytes / 1e6).toFixed(1)} MB in ${((performance.now() - t0) / 1000).toFixed(1)} s → ${opts.out}`,
      );
    });

  program
    .command('ask')
    .argument('[question]', 'a question in Russian; without it, one question per line on stdin (one chat)')
    .option('--json', 'print {answer, engine, intent, slots, confidence, calls, period} as JSON')
    .option('--now <iso>', 'the moment of asking', parseNow)
    .option('--as <who>', 'admin or a manager id: whose scope to answer in', 'admin')
    .description('answer a question and exit')
    .action(async (question: string | undefined, opts: { json?: boolean; now?: Date; as: string }) => {
      await withApp(
        async (app) => {
          const { createServices, callerFromFlag } = await services();
          const { emptyDialogueState } = await import('./agent/parser/types.ts');
          const { engine } = createServices(app);
          const caller = await callerFromFlag(app, opts.as);
          const questions = question
            ? [question]
            : (await readStdin())
                .split('\n')
                .map((q) => q.trim())
                .filter(Boolean);
          let state = emptyDialogueState;
          for (const q of questions) {
            const r = await engine.ask(q, { caller, state });
            state = r.state;
            if (opts.json) {
              const { answer, engine: eng, intent, slots, confidence, calls, period } = r;
              out(
                JSON.stringify({
                  question: q,
                  answer,
                  engine: eng,
                  intent,
                  slots,
                  confidence,
                  calls,
                  period,
                }),
              );
            } else out(r.answer);
          }
        },
        opts.now ? { now: opts.now } : {},
      );
    });

  program
    .command('tools')
    .option('--json', 'machine-readable')
    .description('list the metric tools with their input schemas')
    .action(async (opts: { json?: boolean }) => {
      const { coreMetricTools } = await import('./agent/registry.ts');
      const schema = z.toJSONSchema(toolInputSchema);
      if (opts.json) {
        out(
          JSON.stringify(
            coreMetricTools.map((t) => ({
              name: t.name,
              description: t.description,
              explain: t.explain,
              defaultPeriod: t.defaultPeriod ?? null,
              groupBy: t.groupBy,
              options: t.options,
              input: schema,
            })),
            null,
            2,
          ),
        );
        return;
      }
      for (const t of coreMetricTools) {
        out(`${t.name}`);
        out(`  ${t.description}`);
        out(
          `  период по умолчанию: ${t.defaultPeriod ?? '— (срез на сейчас)'}; group_by: ${t.groupBy.join(', ') || '—'}; параметры: ${t.options.join(', ') || '—'}`,
        );
      }
      out('');
      out(`Input (JSON, common to every tool): ${JSON.stringify(schema)}`);
    });

  program
    .command('tool')
    .argument('<name>', 'tool name (voronka tools)')
    .argument('[args]', 'JSON tool input', '{}')
    .option('--now <iso>', 'the moment of asking', parseNow)
    .option('--as <who>', 'admin or a manager id: whose scope', 'admin')
    .option('--json', 'print the envelope as JSON')
    .description('run one metric tool and print its result envelope')
    .action(async (name: string, args: string, opts: { now?: Date; as: string; json?: boolean }) => {
      const input = parseToolArgs(args);
      await withApp(
        async (app) => {
          const { answerText } = await import('./agent/answer.ts');
          const { envelope } = await runTool(app, name, input, opts.as);
          out(
            opts.json
              ? JSON.stringify(envelope, null, 2)
              : answerText(envelope, { limit: 50, wantsList: true }),
          );
        },
        opts.now ? { now: opts.now } : {},
      );
    });

  program
    .command('analyze')
    .option('--since <date>', 'only calls started on or after this date (YYYY-MM-DD or ISO)')
    .option('--limit <n>', 'at most this many calls, newest first', parseIntArg)
    .option('--status', 'show the pipeline: jobs per step, dead letters and their reasons')
    .option('--redrive', 'send dead-lettered calls back to the step they failed in')
    .description('analyze calls that have no breakdown yet (a backfill through the durable queue)')
    .action(async (opts: { since?: string; limit?: number; status?: boolean; redrive?: boolean }) => {
      await withApp(async (app) => {
        const { createServices } = await services();
        const { startPipeline } = await import('./runtime.ts');
        const { pipelineStatus, formatPipelineStatusRu } = await import('./analysis/pipeline/index.ts');
        if (opts.status) {
          out(formatPipelineStatusRu(await pipelineStatus(app.db)));
          return;
        }
        const analysis = await startPipeline(app, createServices(app));
        try {
          if (opts.redrive) {
            out(`${await analysis.pipeline.redriveFailed()} calls sent back to the queue`);
            return;
          }
          const since = opts.since ? new Date(opts.since) : undefined;
          if (since && Number.isNaN(since.getTime()))
            throw new InvalidArgumentError(`--since "${opts.since}" is not a date`);
          const bar = progressBar(process.stderr.isTTY);
          const result = await analysis.pipeline.backfill({
            ...(since ? { since } : {}),
            ...(opts.limit ? { limit: opts.limit } : {}),
            onProgress: (p) => bar.update(p.stored + p.exists + p.skipped + p.failed, Math.max(p.total, 1)),
          });
          // Calls queued earlier (by `start`, a sync or a webhook) are worked off too before exiting.
          for (;;) {
            const status = await pipelineStatus(app.db);
            const left = status.queues
              .filter((q) => q.queue !== 'call.dead')
              .reduce((n, q) => n + q.created + q.retry + q.active, 0);
            if (left === 0) break;
            bar.update(Math.max(0, result.selected - left), Math.max(result.selected, left));
            await new Promise((r) => setTimeout(r, 1000));
          }
          bar.stop();
          const after = await pipelineStatus(app.db);
          out(
            `${result.selected} calls without a breakdown were queued or already in the queue; breakdowns now: ${
              Object.entries(after.breakdowns)
                .map(([a, n]) => `${a} ${n}`)
                .join(', ') || '0'
            }; dead letters: ${after.dead}`,
          );
          for (const [reason, n] of Object.entries(result.skipped)) out(`  not analyzable (${reason}): ${n}`);
          if (after.dead > 0) process.exitCode = 1;
        } finally {
          await analysis.runnable.stop();
        }
      });
    });

  program
    .command('chart')
    .argument('<tool>', 'tool name')
    .argument('[args]', 'JSON tool input', '{}')
    .requiredOption('--out <file>', 'PNG file to write')
    .option('--now <iso>', 'the moment of asking', parseNow)
    .option('--as <who>', 'admin or a manager id', 'admin')
    .description('render the chart of a tool result to a PNG file')
    .action(async (name: string, args: string, opts: { out: string; now?: Date; as: string }) => {
      const input = parseToolArgs(args);
      await withApp(
        async (app) => {
          const { renderEnvelopeChart } = await import('./charts/index.ts');
          const { envelope, renderer } = await runTool(app, name, input, opts.as);
          const chart = await renderEnvelopeChart(renderer, envelope);
          if (!chart) {
            out('Для этого ответа график не нужен: в нём одно число.');
            return;
          }
          fs.writeFileSync(opts.out, chart.png);
          out(`${opts.out} (${chart.png.length} bytes)`);
        },
        opts.now ? { now: opts.now } : {},
      );
    });

  program
    .command('analyze-transcript')
    .argument('<file>', 'a transcript file in any TRANSCRIPTS.md format')
    .option('--json', 'print the breakdown JSON')
    .option('--direction <d>', 'in | out: the call direction helps tell the company side')
    .description('analyze one call transcript offline, without the database')
    .action(async (file: string, opts: { json?: boolean; direction?: string }) => {
      const { analyzeTranscriptFile, formatBreakdownRu } = await import('./analysis/analyze-file.ts');
      const direction = opts.direction === 'in' || opts.direction === 'out' ? opts.direction : undefined;
      const breakdown = await analyzeTranscriptFile(path.resolve(file), { direction });
      out(opts.json ? JSON.stringify(breakdown, null, 2) : formatBreakdownRu(breakdown));
    });

  const stages = program
    .command('stages')
    .description('list stages with their semantics; `stages set` overrides one');
  stages.action(async () => {
    await withApp(async (app) => {
      const rows = await app.db.query<{
        id: string;
        pipeline: string;
        name: string;
        sort: number;
        semantic: string;
        probability: number | null;
        semantic_override: string | null;
        probability_override: number | null;
      }>(
        `SELECT s.id, p.name AS pipeline, s.name, s.sort, s.semantic, s.probability, s.semantic_override, s.probability_override
         FROM stages s LEFT JOIN pipelines p ON p.id = s.pipeline_id ORDER BY p.name, s.sort`,
      );
      for (const r of rows) {
        const overridden =
          r.semantic_override || r.probability_override !== null ? ' (изменено администратором)' : '';
        out(
          `${r.id.padEnd(14)} ${String(r.pipeline).padEnd(20)} ${String(r.sort).padStart(4)}  ${r.name.padEnd(24)} ${r.semantic.padEnd(5)} ${r.probability ?? ''}${overridden}`,
        );
      }
    });
  });
  stages
    .command('set')
    .argument('<id>', 'stage id')
    .option('--semantic <s>', 'open | won | lost')
    .option('--probability <p>', 'forecast probability 0..1', parseFloat)
    .option('--reset', 'back to the values from the CRM')
    .action(async (id: string, opts: { semantic?: string; probability?: number; reset?: boolean }) => {
      if (opts.semantic && !['open', 'won', 'lost'].includes(opts.semantic))
        throw new InvalidArgumentError('--semantic must be open, won or lost');
      if (opts.probability !== undefined && !(opts.probability >= 0 && opts.probability <= 1))
        throw new InvalidArgumentError('--probability must be between 0 and 1');
      await withApp(async (app) => {
        const rows = opts.reset
          ? await app.db.query(
              `UPDATE stages SET semantic_override = NULL, probability_override = NULL, semantic = imported_semantic, probability = imported_probability WHERE id = $1 RETURNING id`,
              [id],
            )
          : await app.db.query(
              `UPDATE stages SET semantic_override = coalesce($2, semantic_override), semantic = coalesce($2, semantic_override, imported_semantic),
                 probability_override = coalesce($3, probability_override), probability = coalesce($3, probability_override, imported_probability)
               WHERE id = $1 RETURNING id`,
              [id, opts.semantic ?? null, opts.probability ?? null],
            );
        if (rows.length === 0)
          throw new AppError(
            'unknown_stage',
            `No stage ${id}`,
            `Стадия «${id}» не найдена (voronka stages).`,
          );
        out(`stage ${id} updated`);
      });
    });

  const sync = program
    .command('sync')
    .option('--source <s>', 'bitrix24 | amocrm (default: every configured source)')
    .option('--full', 'a full export instead of the incremental sync')
    .option('--no-progress', 'no progress output')
    .description('sync the configured CRMs now');
  sync.action(async (opts: { source?: string; full?: boolean; progress: boolean }) => {
    await withApp(async (app) => {
      const { syncSource, syncSources } = await import('./ingest/sync.ts');
      const sources = syncSources.filter((s) =>
        opts.source ? s === opts.source : app.config[s] !== undefined,
      );
      if (sources.length === 0) {
        throw new AppError(
          'no_source',
          `No CRM source configured${opts.source ? ` named ${opts.source}` : ''}`,
          'Не настроен ни один источник: задайте BITRIX24_WEBHOOK_URL или AMOCRM_BASE_URL и AMOCRM_TOKEN.',
        );
      }
      for (const source of sources) {
        const cfg = app.config[source];
        if (!cfg)
          throw new AppError('no_source', `${source} is not configured`, `Источник ${source} не настроен.`);
        const showProgress = opts.progress && process.stderr.isTTY;
        const report = await syncSource(
          { db: app.db, logger: app.logger, now: app.now },
          source,
          cfg as never,
          {
            full: Boolean(opts.full),
            onProgress: (p) => {
              if (showProgress)
                process.stderr.write(
                  `\r${source}: ${p.stream} (${p.index}/${p.count}) — ${p.fetched}${p.total ? ` из ${p.total}` : ''}   `,
                );
            },
          },
        );
        if (showProgress) process.stderr.write('\n');
        out(
          `${source}: ${report.mode}${report.resumed ? ' (resumed)' : ''}, ${report.requests} requests, ${Math.round(report.recordsPerSec)} records/s, ${report.rejected} rejected`,
        );
        for (const [entity, c] of Object.entries(report.counts)) {
          out(
            `  ${entity.padEnd(16)} +${c.inserted} ~${c.updated} =${c.unchanged} -${c.deleted} ✗${c.rejected}`,
          );
        }
        if (report.rejected > 0) process.exitCode = 1;
      }
    });
  });
  sync
    .command('status')
    .description('where each source sync stands and its last error')
    .action(async () => {
      await withApp(async (app) => {
        const { syncStatus, syncStatusText } = await import('./ingest/sync.ts');
        out(syncStatusText(await syncStatus(app.db), app.config.companyTz));
      });
    });

  program
    .command('invite')
    .requiredOption('--role <role>', 'head | manager | admin')
    .option('--manager <id>', 'the manager record this person is (their figures and scope)')
    .option('--expires <d>', 'how long the code is valid: 7d, 12h, 30m', '7d')
    .description('create a one-time invite code and deep link')
    .action(async (opts: { role: string; manager?: string; expires: string }) => {
      if (!['admin', 'head', 'manager'].includes(opts.role))
        throw new InvalidArgumentError('--role must be head, manager or admin');
      await withApp(async (app) => {
        const { code, expiresAt } = await createInvite(app.db, {
          role: opts.role as Role,
          managerId: opts.manager ?? null,
          expiresInMs: parseExpiry(opts.expires),
          now: app.now(),
        });
        out(inviteText(code, expiresAt, app.config.companyTz, await telegramUsername(app)));
      });
    });

  program
    .command('users')
    .option('--revoke <id>', 'revoke a user by id', parseIntArg)
    .description('list bot users, or revoke one')
    .action(async (opts: { revoke?: number }) => {
      await withApp(async (app) => {
        if (opts.revoke !== undefined) {
          const ok = await revokeUser(app.db, opts.revoke, app.now());
          out(ok ? `user ${opts.revoke} revoked` : `user ${opts.revoke} not found or already revoked`);
          return;
        }
        for (const u of await listUsers(app.db)) {
          out(
            `${String(u.id).padStart(4)}  ${u.role.padEnd(8)} ${u.name}${u.manager_name ? ` (${u.manager_id}: ${u.manager_name})` : ''}${u.channels ? `  [${u.channels}]` : ''}${u.revoked_at ? '  revoked' : ''}`,
          );
        }
      });
    });

  program.addCommand(
    buildDigestCommand({
      withApp,
      services: async (app) => {
        const s = (await services()).createServices(app as App);
        return { registry: s.registry, renderer: s.renderer };
      },
      out,
    }),
  );

  return program;
}

function parseToolArgs(args: string): ToolInput {
  let parsed: unknown;
  try {
    parsed = JSON.parse(args);
  } catch {
    throw new AppError(
      'bad_args',
      `Tool args are not JSON: ${args}`,
      `Аргументы должны быть JSON, например '{"period":{"name":"this_month"}}'.`,
    );
  }
  const input = toolInputSchema.safeParse(parsed);
  if (!input.success) {
    throw new AppError(
      'bad_args',
      `Bad tool input: ${input.error.message}`,
      `Неверные аргументы: ${input.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`,
    );
  }
  return input.data;
}

/** Runs one tool as `--as` sees it (the operator's CLI defaults to admin). */
async function runTool(app: App, name: string, input: ToolInput, as: string) {
  const { createServices, callerFromFlag } = await services();
  const { registry, renderer } = createServices(app);
  const tool = registry.get(name);
  if (!tool) {
    throw new AppError(
      'unknown_tool',
      `Unknown tool ${name}`,
      `Нет инструмента «${name}». Список: voronka tools.`,
    );
  }
  const caller = await callerFromFlag(app, as);
  const envelope = await tool.run(
    {
      db: app.db,
      caller,
      tz: app.config.companyTz,
      now: app.now(),
      callsPerDayNorm: app.config.callsPerDayNorm,
    },
    input,
  );
  return { envelope, renderer };
}

/** The bot's @username for deep links: configured, else asked from the Bot API, else a placeholder to replace. */
async function telegramUsername(app: App): Promise<string> {
  const tg = app.config.telegram;
  if (tg?.username) return tg.username;
  if (tg) {
    try {
      const res = await fetch(`${tg.apiRoot ?? 'https://api.telegram.org'}/bot${tg.token}/getMe`, {
        signal: AbortSignal.timeout(3000),
      });
      const body = (await res.json()) as { ok: boolean; result?: { username?: string } };
      if (body.ok && body.result?.username) return body.result.username;
    } catch (err) {
      app.logger.warn({ err: (err as Error).message }, 'getMe failed; the deep link uses a placeholder');
    }
  }
  return 'ИМЯ_БОТА';
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('utf8');
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
