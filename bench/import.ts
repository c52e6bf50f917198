/**
 * Import speed and memory (issue 2).
 *
 *   npx tsx bench/import.ts                       medium demo into PostgreSQL and PGlite, plus the first start
 *   npx tsx bench/import.ts --scale large         large demo (~25M records) into PostgreSQL: peak RSS of generation and import
 *   npx tsx bench/import.ts --only first-start    only `voronka start` on a new embedded database
 *   options: --drivers postgres,pglite  --reimport (also time a second, unchanged import)  --keep (leave the databases)
 *
 * Generates the demo at the stated scale into /tmp/voronka-bench once (reused
 * afterwards), imports it in a child process per driver (its peak RSS is the
 * import's alone), samples the load average and the PostgreSQL backends' CPU,
 * prints a table and replaces its sections of bench/RESULTS.md.
 * Targets: ≥ 100k rows/s into PostgreSQL; large import peak RSS < 1 GiB;
 * first start (new PGlite dir + migrate + small demo + import) < 20 s.
 */
import fs from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import {
  DEMO_NOW,
  type DemoData,
  demoData,
  dropPgDatabase,
  fmt,
  keepPgliteDb,
  LoadSampler,
  type LoadStats,
  loadText,
  machineLine,
  markPgDatabase,
  PgCpuSampler,
  ROOT,
  recreatePgDatabase,
  runChild,
  TSX,
  table,
  today,
  verdict,
  WORK,
  writeSection,
} from './lib.ts';

const { values } = parseArgs({
  options: {
    scale: { type: 'string', default: 'medium' },
    drivers: { type: 'string' },
    only: { type: 'string' },
    reimport: { type: 'boolean', default: false },
    keep: { type: 'boolean', default: false },
    // child mode: one import in this process
    child: { type: 'boolean', default: false },
    driver: { type: 'string' },
    dir: { type: 'string' },
    target: { type: 'string' },
    batch: { type: 'string' },
  },
});

interface ChildReport {
  rows: number;
  rejected: number;
  importMs: number;
  migrateMs: number;
  rowsPerSec: number;
  maxRssMiB: number;
  cpuSeconds: number;
  counts: Record<string, { inserted: number; updated: number; unchanged: number }>;
  phases: Record<string, number>;
  /** Epoch ms at the end of each phase, to split the server's CPU by phase. */
  phaseEnds: Record<string, number>;
  /** This process's CPU ms per phase. */
  phaseCpu: Record<string, number>;
  second?: { importMs: number; rowsPerSec: number; unchanged: number };
}

/** Child: migrate and import one directory, print a JSON line. */
async function child(): Promise<void> {
  const { openDb, migrate } = await import('../src/db/client.ts');
  const { importDirectory } = await import('../src/ingest/import.ts');
  const { silentLogger } = await import('../src/logger.ts');
  const driver = values.driver!;
  const phases: Record<string, number> = {};
  const phaseEnds: Record<string, number> = {};
  const phaseCpu: Record<string, number> = {};
  const cpuMs = () => {
    const c = process.cpuUsage();
    return (c.user + c.system) / 1000;
  };
  let last = performance.now();
  let lastCpu = cpuMs();
  // The importer's debug log marks its phases; their durations go into the report.
  const hooked = new Proxy(silentLogger, {
    get(target, prop) {
      if (prop === 'debug' || prop === 'info') {
        return (obj: Record<string, unknown>, msg?: string) => {
          const now = performance.now();
          const label = typeof obj.entity === 'string' ? obj.entity : (msg ?? '');
          phases[label] = Math.round(now - last);
          phaseEnds[label] = Date.now();
          const c = cpuMs();
          phaseCpu[label] = Math.round(c - lastCpu);
          lastCpu = c;
          last = now;
        };
      }
      const v = Reflect.get(target, prop);
      return typeof v === 'function' ? v.bind(target) : v;
    },
  });
  const t0 = performance.now();
  const db = await openDb(
    driver === 'postgres' ? { databaseUrl: values.target! } : { pgliteDir: values.target! },
  );
  await migrate(db);
  const migrateMs = performance.now() - t0;
  last = performance.now();
  lastCpu = cpuMs();
  const report = await importDirectory(db, {
    dir: values.dir!,
    logger: hooked,
    rejectsFile: path.join(WORK, `rejects-${driver}.jsonl`),
    ...(values.batch ? { batchSize: Number(values.batch) } : {}),
  });
  const out: ChildReport = {
    rows: report.rows,
    rejected: report.rejected,
    importMs: report.ms,
    migrateMs,
    rowsPerSec: report.rowsPerSec,
    maxRssMiB: 0,
    cpuSeconds: 0,
    counts: report.counts as ChildReport['counts'],
    phases,
    phaseEnds,
    phaseCpu,
  };
  if (values.reimport) {
    const again = await importDirectory(db, { dir: values.dir!, logger: hooked });
    out.second = {
      importMs: again.ms,
      rowsPerSec: again.rowsPerSec,
      unchanged: Object.values(again.counts).reduce((s, c) => s + c.unchanged, 0),
    };
  }
  await db.close();
  const cpu = process.cpuUsage();
  out.cpuSeconds = (cpu.user + cpu.system) / 1e6;
  out.maxRssMiB = process.resourceUsage().maxRSS / 1024;
  process.stdout.write(`${JSON.stringify(out)}\n`);
}

interface Run {
  driver: string;
  r: ChildReport;
  wallS: number;
  pgCpuS: number | undefined;
  /** Server CPU seconds per phase. */
  pgPhases: Record<string, number> | undefined;
  load: LoadStats;
}

async function importRun(driver: string, data: DemoData, scale: string): Promise<Run> {
  const name = `bench_${scale}`;
  let target: string;
  if (driver === 'postgres') target = await recreatePgDatabase(name);
  else {
    target = path.join(WORK, `pglite-${scale}`);
    fs.rmSync(target, { recursive: true, force: true });
  }
  process.stderr.write(`importing ${data.dir} into ${driver}…\n`);
  const load = new LoadSampler();
  const pgCpu = driver === 'postgres' ? new PgCpuSampler(name) : undefined;
  const args = ['bench/import.ts', '--child', '--driver', driver, '--dir', data.dir, '--target', target];
  if (values.reimport) args.push('--reimport');
  const res = await runChild(TSX, args);
  const pgCpuS = await pgCpu?.stop();
  const r = JSON.parse(res.stdout.trim().split('\n').at(-1)!) as ChildReport;
  let pgPhases: Record<string, number> | undefined;
  if (pgCpu) {
    pgPhases = {};
    let prev = 0;
    for (const [name, end] of Object.entries(r.phaseEnds)) {
      const v = pgCpu.at(end);
      pgPhases[name] = v - prev;
      prev = v;
    }
  }
  return { driver, r, wallS: res.seconds, pgCpuS, pgPhases, load: load.stop() };
}

function importTable(runs: Run[]): string {
  return table(
    ['driver', 'rows', 'import s', 'rows/s', 'node CPU s', 'PG CPU s', 'peak RSS MiB', 'load avg'],
    runs.map(({ driver, r, pgCpuS, load }) => [
      driver,
      fmt(r.rows),
      (r.importMs / 1000).toFixed(1),
      fmt(r.rowsPerSec),
      r.cpuSeconds.toFixed(1),
      pgCpuS === undefined ? '(in process)' : pgCpuS.toFixed(1),
      fmt(r.maxRssMiB),
      loadText(load),
    ]),
  );
}

function phaseTable(runs: Run[]): string {
  const names = [...new Set(runs.flatMap((x) => Object.keys(x.r.phases)))].filter(
    (n) => n !== 'import finished',
  );
  const head = ['phase'];
  for (const x of runs) {
    head.push(
      `${x.driver} wall ms`,
      `${x.driver} node CPU ms`,
      ...(x.pgPhases ? [`${x.driver} server CPU ms`] : []),
    );
  }
  return table(
    head,
    names.map((n) => [
      n,
      ...runs.flatMap((x) => [
        fmt(x.r.phases[n] ?? 0),
        fmt(x.r.phaseCpu[n] ?? 0),
        ...(x.pgPhases ? [fmt((x.pgPhases[n] ?? 0) * 1000)] : []),
      ]),
    ]),
  );
}

async function mediumOrLarge(scale: 'medium' | 'large'): Promise<void> {
  const drivers = (values.drivers ?? (scale === 'large' ? 'postgres' : 'postgres,pglite')).split(',');
  const data = await demoData(scale);
  const runs: Run[] = [];
  for (const driver of drivers) {
    const run = await importRun(driver, data, scale);
    runs.push(run);
    console.log(importTable([run]));
  }
  const pg = runs.find((x) => x.driver === 'postgres');
  const gen = data.generated;
  const lines = [
    `## Import: ${scale} demo (${fmt(data.records)} records, ${(data.bytes / 2 ** 30).toFixed(2)} GiB JSONL)`,
    '',
    `- machine: ${machineLine()}; PostgreSQL 15 (shared dev server, fsync off); date: ${today()}`,
    `- command: \`npx tsx bench/import.ts --scale ${scale}${values.drivers ? ` --drivers ${values.drivers}` : ''}${values.reimport ? ' --reimport' : ''}\` (demo seed 42, now ${DEMO_NOW})`,
    gen
      ? `- generation: ${gen.seconds.toFixed(1)} s, peak RSS ${fmt(gen.peakRssMiB)} MiB (separate process)`
      : '',
    '- rows/s = lines read / wall time of `importDirectory` (validation, references, upserts, deletes, ANALYZE, last-activity refresh); peak RSS of the import process alone; PG CPU = the server backends of the bench database, from /proc',
    '',
    importTable(runs),
    '',
    phaseTable(runs),
    '',
  ];
  for (const x of runs) {
    if (x.r.second) {
      lines.push(
        `- second import of the same files (${x.driver}, nothing changes): ${(x.r.second.importMs / 1000).toFixed(1)} s, ${fmt(x.r.second.rowsPerSec)} rows/s, ${fmt(x.r.second.unchanged)} unchanged`,
      );
    }
  }
  if (pg) {
    const cpuBound = Math.max(pg.r.cpuSeconds, pg.pgCpuS ?? 0);
    lines.push(
      `- CPU-bound estimate on an idle 2-core machine (importer and server in parallel): ${fmt(pg.r.rows / cpuBound)} rows/s (max of node ${pg.r.cpuSeconds.toFixed(1)} s and server ${(pg.pgCpuS ?? 0).toFixed(1)} s CPU)`,
    );
    if (scale === 'medium') {
      lines.push(
        `- target ≥ 100,000 rows/s into PostgreSQL: ${fmt(pg.r.rowsPerSec)} rows/s measured → ${verdict(pg.r.rowsPerSec >= 100_000)}`,
      );
    } else {
      lines.push(
        `- target peak RSS < 1 GiB: import ${fmt(pg.r.maxRssMiB)} MiB → ${verdict(pg.r.maxRssMiB < 1024)}; generation ${gen ? `${fmt(gen.peakRssMiB)} MiB → ${verdict(gen.peakRssMiB < 1024)}` : 'not measured in this run'}`,
      );
    }
  }
  writeSection(`import-${scale}`, lines.filter((l, i) => l !== '' || lines[i - 1] !== '').join('\n'));
  for (const x of runs) {
    if (x.driver === 'postgres') {
      // Kept for bench/metrics.ts, which reuses a marked database instead of importing again.
      if (values.keep) await markPgDatabase(`bench_${scale}`, scale);
      else await dropPgDatabase(`bench_${scale}`);
    } else if (values.keep) keepPgliteDb(path.join(WORK, `pglite-${scale}`), scale);
    else fs.rmSync(path.join(WORK, `pglite-${scale}`), { recursive: true, force: true });
  }
}

/** `voronka start` on a new embedded database: migrate, generate the small demo, import it, answer /stats. */
async function firstStart(): Promise<void> {
  const runs: Array<{ seconds: number; load: LoadStats; loaded: string }> = [];
  for (let i = 0; i < 3; i++) {
    const home = path.join(WORK, 'first-start-home');
    fs.rmSync(home, { recursive: true, force: true });
    const env: NodeJS.ProcessEnv = { ...process.env, VORONKA_HOME: home, LOG_LEVEL: 'warn' };
    delete env.DATABASE_URL;
    const load = new LoadSampler();
    const res = await runChild(path.join(ROOT, 'bin/voronka'), ['start'], { env, input: '/stats\n' });
    const loaded = /Демо-данные загружены: (\d+) записей за ([\d.]+) с/.exec(res.stdout);
    if (!/звонки: /.test(res.stdout)) throw new Error(`no /stats answer:\n${res.stdout}\n${res.stderr}`);
    runs.push({
      seconds: res.seconds,
      load: load.stop(),
      loaded: loaded ? `${loaded[1]} records in ${loaded[2]} s` : '?',
    });
    fs.rmSync(home, { recursive: true, force: true });
  }
  const t = table(
    ['run', 'wall s', 'demo generate+import', 'load avg'],
    runs.map((r, i) => [String(i + 1), r.seconds.toFixed(1), r.loaded, loadText(r.load)]),
  );
  console.log(t);
  const best = Math.min(...runs.map((r) => r.seconds));
  const median = [...runs].sort((a, b) => a.seconds - b.seconds)[1]!.seconds;
  writeSection(
    'first-start',
    [
      '## First start (`voronka start` on a new embedded database)',
      '',
      `- machine: ${machineLine()}; date: ${today()}`,
      '- command: `npx tsx bench/import.ts --only first-start` = 3 × `rm -rf HOME && echo /stats | VORONKA_HOME=HOME ./bin/voronka start` (process start, new PGlite dir, migrations, small demo generated and imported, /stats answered, exit)',
      '',
      t,
      '',
      `- target < 20 s: median ${median.toFixed(1)} s, best ${best.toFixed(1)} s → ${verdict(median < 20)}`,
    ].join('\n'),
  );
}

if (values.child) {
  await child();
} else {
  const scale = values.scale as 'medium' | 'large';
  if (scale !== 'medium' && scale !== 'large') throw new Error('--scale must be medium or large');
  if (!values.only || values.only === 'import') await mediumOrLarge(scale);
  if ((!values.only && scale === 'medium') || values.only === 'first-start') await firstStart();
}
