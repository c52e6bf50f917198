/**
 * Shared pieces of the benchmarks: the machine and its load, demo data at a
 * stated scale (generated once into /tmp and reused), scratch databases,
 * percentiles, tables, and the sections of bench/RESULTS.md.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import postgres from 'postgres';
import { type Db, migrate, openDb } from '../src/db/client.ts';
import type { DemoScale } from '../src/ingest/demo/index.ts';
import { importDirectory } from '../src/ingest/import.ts';
import { silentLogger } from '../src/logger.ts';

export const ROOT = fileURLToPath(new URL('..', import.meta.url));
export const TSX = path.join(ROOT, 'node_modules/.bin/tsx');
export const RESULTS = path.join(ROOT, 'bench/RESULTS.md');
export const WORK = process.env.VORONKA_BENCH_DIR ?? '/tmp/voronka-bench';
/** The PostgreSQL server benchmarks create their databases on. */
export const PG_URL = process.env.BENCH_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:55432/postgres';
/** The moment every benchmark's demo history ends at: fixed, so runs compare. */
export const DEMO_NOW = '2026-11-23T10:00:00+03:00';
export const DEMO_SEED = 42;
/**
 * Set to work on private copies of the benchmark databases (`bench_<scale><suffix>`,
 * cloned from `bench_<scale>` on first use), so parallel branches can add
 * migrations without meeting each other's.
 */
const DB_SUFFIX = process.env.VORONKA_BENCH_DB_SUFFIX ?? '';

export interface Machine {
  nproc: number;
  ramGiB: number;
  cpu: string;
  node: string;
}

export function machine(): Machine {
  const model =
    /model name\s*:\s*(.+)/.exec(fs.readFileSync('/proc/cpuinfo', 'utf8'))?.[1]?.trim() ??
    os.cpus()[0]?.model;
  return {
    nproc: os.availableParallelism(),
    ramGiB: Math.round(os.totalmem() / 2 ** 30),
    cpu: model ?? 'unknown',
    node: process.version,
  };
}

export function machineLine(m = machine()): string {
  return `${m.nproc} vCPU (${m.cpu}), ${m.ramGiB} GiB RAM, Node ${m.node}`;
}

/** 1-minute load average sampled every second while something runs. */
export class LoadSampler {
  private samples: number[] = [os.loadavg()[0]!];
  private timer = setInterval(() => this.samples.push(os.loadavg()[0]!), 1000);

  constructor() {
    this.timer.unref();
  }

  stop(): LoadStats {
    clearInterval(this.timer);
    this.samples.push(os.loadavg()[0]!);
    const s = this.samples;
    return { min: Math.min(...s), mean: s.reduce((a, b) => a + b, 0) / s.length, max: Math.max(...s) };
  }
}

export interface LoadStats {
  min: number;
  mean: number;
  max: number;
}

export function loadText(l: LoadStats): string {
  return `${l.mean.toFixed(1)} (${l.min.toFixed(1)}–${l.max.toFixed(1)})`;
}

/**
 * CPU seconds the PostgreSQL server spent for one database (client backends
 * and autovacuum workers), read from /proc of the backends found in
 * pg_stat_activity: what the server itself costs, whatever else the shared
 * machine is doing.
 */
export class PgCpuSampler {
  private readonly seen = new Map<number, number>();
  /** [epoch ms, CPU seconds so far] after each sample, to split the CPU by phase. */
  readonly timeline: Array<[number, number]> = [];
  private readonly sql: postgres.Sql;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly database: string,
    intervalMs = 100,
  ) {
    this.sql = postgres(PG_URL, { max: 1, onnotice: () => {} });
    this.timer = setInterval(() => void this.sample(), intervalMs);
  }

  private async sample(): Promise<void> {
    try {
      const rows = await this.sql<{ pid: number }[]>`
        SELECT pid FROM pg_stat_activity WHERE datname = ${this.database} AND pid <> pg_backend_pid()`;
      for (const { pid } of rows) {
        const cpu = procCpuSeconds(pid);
        if (cpu !== undefined) this.seen.set(pid, Math.max(this.seen.get(pid) ?? 0, cpu));
      }
      this.timeline.push([Date.now(), this.total()]);
    } catch {
      // a sample lost while the database is created or dropped
    }
  }

  async stop(): Promise<number> {
    clearInterval(this.timer);
    await this.sample();
    await this.sql.end({ timeout: 2 });
    return this.total();
  }

  private total(): number {
    return [...this.seen.values()].reduce((a, b) => a + b, 0);
  }

  /** CPU seconds spent up to a moment (from the last sample before it). */
  at(epochMs: number): number {
    let v = 0;
    for (const [t, cpu] of this.timeline) {
      if (t > epochMs) break;
      v = cpu;
    }
    return v;
  }
}

/** Clock ticks per second of /proc/<pid>/stat (USER_HZ, 100 on Linux). */
const USER_HZ = 100;

function procCpuSeconds(pid: number): number | undefined {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // utime and stime are fields 14 and 15 of the whole line, 12 and 13 after the command.
    return (Number(fields[11]) + Number(fields[12])) / USER_HZ;
  } catch {
    return undefined;
  }
}

/** A new, empty database on the benchmark server; returns its URL. */
export async function recreatePgDatabase(name: string): Promise<string> {
  const admin = postgres(PG_URL, { max: 1, onnotice: () => {} });
  try {
    await admin.unsafe(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    await admin.unsafe(`CREATE DATABASE ${name}`);
  } finally {
    await admin.end({ timeout: 2 });
  }
  return pgUrl(name);
}

export async function dropPgDatabase(name: string): Promise<void> {
  const admin = postgres(PG_URL, { max: 1, onnotice: () => {} });
  try {
    await admin.unsafe(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
  } finally {
    await admin.end({ timeout: 2 });
  }
}

export async function pgDatabaseExists(name: string): Promise<boolean> {
  const admin = postgres(PG_URL, { max: 1, onnotice: () => {} });
  try {
    const rows = await admin`SELECT 1 FROM pg_database WHERE datname = ${name}`;
    return rows.length > 0;
  } finally {
    await admin.end({ timeout: 2 });
  }
}

/** What a benchmark database holds, as its comment: the metrics bench reuses a database with the right one. */
export function dataMark(scale: string): string {
  return `voronka-bench ${scale} seed ${DEMO_SEED} now ${DEMO_NOW}`;
}

/** Vacuums (visibility map, statistics) and marks an imported benchmark database as complete. */
export async function markPgDatabase(name: string, scale: string): Promise<void> {
  const sql = postgres(pgUrl(name), { max: 1, onnotice: () => {} });
  try {
    await sql.unsafe('VACUUM ANALYZE');
    await sql.unsafe(`COMMENT ON DATABASE ${name} IS '${dataMark(scale)}'`);
  } finally {
    await sql.end({ timeout: 2 });
  }
}

/**
 * Keeps an imported PGlite folder for bench/metrics.ts as the benchmark copy
 * of its scale, as the import left it (which vacuums its big tables itself:
 * PGlite has no autovacuum).
 */
export function keepPgliteDb(importedDir: string, scale: DemoScale): void {
  const dir = path.join(WORK, `pglite-${scale}-data`);
  fs.rmSync(dir, { recursive: true, force: true });
  fs.renameSync(importedDir, dir);
  fs.writeFileSync(`${dir}.complete`, dataMark(scale));
}

export function pgUrl(database: string): string {
  const u = new URL(PG_URL);
  u.pathname = `/${database}`;
  return u.toString();
}

export interface DemoData {
  dir: string;
  records: number;
  bytes: number;
  /** How the generation went, in the run that wrote the files. */
  generated?: { seconds: number; peakRssMiB: number };
}

/**
 * The demo company at a scale, generated once (in a child process, so its
 * memory is measured on its own) into WORK and reused while complete.
 */
export async function demoData(
  scale: DemoScale,
  log = (s: string) => process.stderr.write(s),
): Promise<DemoData> {
  const dir = path.join(WORK, `demo-${scale}-${DEMO_SEED}`);
  const marker = `${dir}.complete.json`;
  if (fs.existsSync(marker))
    return { dir, ...(JSON.parse(fs.readFileSync(marker, 'utf8')) as { records: number; bytes: number }) };
  fs.rmSync(dir, { recursive: true, force: true });
  fs.mkdirSync(WORK, { recursive: true });
  log(`generating the ${scale} demo into ${dir}…\n`);
  const out = await runChild(TSX, [
    'bench/demo.ts',
    '--scale',
    scale,
    '--seed',
    String(DEMO_SEED),
    '--now',
    DEMO_NOW,
    '--out',
    dir,
  ]);
  const num = (label: string) =>
    Number(new RegExp(`^${label}\\s+([\\d.,]+)`, 'm').exec(out.stdout)?.[1]?.replace(/,/g, ''));
  const summary = { records: num('records'), bytes: Math.round(num('size') * 2 ** 20) };
  const generated = { seconds: num('time'), peakRssMiB: num('peak RSS') };
  fs.writeFileSync(marker, JSON.stringify({ ...summary, generated }));
  return { dir, ...summary, generated };
}

export interface ChildResult {
  stdout: string;
  stderr: string;
  code: number;
  seconds: number;
}

export function runChild(
  cmd: string,
  args: string[],
  opts: { env?: NodeJS.ProcessEnv; input?: string; passStderr?: boolean } = {},
): Promise<ChildResult> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const child = spawn(cmd, args, {
      cwd: ROOT,
      env: opts.env ?? process.env,
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => {
      stdout += d.toString();
    });
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
      if (opts.passStderr) process.stderr.write(d);
    });
    child.on('error', reject);
    child.on('close', (code) => {
      const r = { stdout, stderr, code: code ?? -1, seconds: (performance.now() - t0) / 1000 };
      if (code === 0) resolve(r);
      else
        reject(
          Object.assign(new Error(`${cmd} ${args.join(' ')} exited with ${code}\n${stderr.slice(-2000)}`), r),
        );
    });
    child.stdin.end(opts.input ?? '');
  });
}

/** Linear-interpolation percentile (as percentile_cont) of unsorted numbers. */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = (sorted.length - 1) * p;
  const lo = Math.floor(rank);
  const hi = Math.ceil(rank);
  return sorted[lo]! + (sorted[hi]! - sorted[lo]!) * (rank - lo);
}

/** A Markdown table (also readable as plain text on a terminal). */
export function table(head: string[], rows: Array<Array<string | number>>): string {
  const cells = [head, ...rows.map((r) => r.map(String))];
  const widths = head.map((_, i) => Math.max(...cells.map((r) => (r[i] ?? '').length)));
  const line = (r: string[]) =>
    `| ${r.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join(' | ')} |`;
  return [
    line(head),
    `|${widths.map((w, i) => (i === 0 ? `${'-'.repeat(w + 1)}-` : `${'-'.repeat(w + 1)}:`)).join('|')}|`,
    ...rows.map((r) => line(r.map(String))),
  ].join('\n');
}

/** Replaces (or appends) the section of bench/RESULTS.md between `<!-- bench:NAME -->` markers. */
export function writeSection(name: string, markdown: string): void {
  const begin = `<!-- bench:${name} -->`;
  const end = `<!-- /bench:${name} -->`;
  const block = `${begin}\n${markdown.trim()}\n${end}`;
  let text = fs.existsSync(RESULTS)
    ? fs.readFileSync(RESULTS, 'utf8')
    : '# Benchmark results\n\nWritten by the benchmarks (`npm run bench`, `npm run bench -- <name>`); each section is replaced when its benchmark runs again. Targets come from the issues; numbers were taken on a shared 2-core machine, with the load average recorded next to them.\n';
  const i = text.indexOf(begin);
  const j = text.indexOf(end);
  if (i >= 0 && j > i) text = text.slice(0, i) + block + text.slice(j + end.length);
  else text = `${text.trimEnd()}\n\n${block}\n`;
  fs.writeFileSync(RESULTS, text);
}

export function today(): string {
  return new Date().toISOString().slice(0, 16).replace('T', ' ') + ' UTC';
}

export function mib(bytes: number): string {
  return (bytes / 2 ** 20).toFixed(0);
}

export function fmt(n: number, digits = 0): string {
  return n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });
}

export function verdict(ok: boolean): string {
  return ok ? 'meets target' : 'misses target';
}

/**
 * The demo at a scale in a benchmark database (PostgreSQL `bench_<scale>`, or
 * a PGlite folder in WORK), imported through the real import path unless a
 * complete copy is already there (bench/import.ts --keep leaves one).
 */
export async function openBenchDb(driver: 'postgres' | 'pglite', scale: DemoScale): Promise<Db> {
  const name = `bench_${scale}${DB_SUFFIX}`;
  if (driver === 'postgres') {
    const admin = postgres(PG_URL, { max: 1, onnotice: () => {} });
    const markOf = async (db: string) =>
      (
        await admin<{ mark: string | null }[]>`
          SELECT shobj_description(oid, 'pg_database') AS mark FROM pg_database WHERE datname = ${db}`
      )[0]?.mark;
    try {
      if ((await markOf(name)) === dataMark(scale))
        return migrated(await openDb({ databaseUrl: pgUrl(name) }));
      const base = `bench_${scale}`;
      if (DB_SUFFIX && (await markOf(base)) === dataMark(scale)) {
        process.stderr.write(`copying PostgreSQL ${base} to ${name}…\n`);
        await admin.unsafe(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
        await admin.unsafe(`CREATE DATABASE ${name} TEMPLATE ${base}`);
        await admin.unsafe(`COMMENT ON DATABASE ${name} IS '${dataMark(scale)}'`);
        return migrated(await openDb({ databaseUrl: pgUrl(name) }));
      }
    } finally {
      await admin.end({ timeout: 2 });
    }
    const data = await demoData(scale);
    process.stderr.write(
      `importing the ${scale} demo into PostgreSQL ${name} (timed by bench/import.ts, not here)…\n`,
    );
    const db = await openDb({ databaseUrl: await recreatePgDatabase(name) });
    await migrate(db);
    await importDirectory(db, { dir: data.dir, logger: silentLogger });
    await markPgDatabase(name, scale);
    return db;
  }
  const dir = path.join(WORK, `pglite-${scale}${DB_SUFFIX}-data`);
  const marker = `${dir}.complete`;
  const complete = (m: string) => fs.existsSync(m) && fs.readFileSync(m, 'utf8') === dataMark(scale);
  if (complete(marker)) return migrated(await openDb({ pgliteDir: dir }));
  const baseDir = path.join(WORK, `pglite-${scale}-data`);
  if (DB_SUFFIX && complete(`${baseDir}.complete`)) {
    fs.rmSync(dir, { recursive: true, force: true });
    fs.cpSync(baseDir, dir, { recursive: true });
    fs.writeFileSync(marker, dataMark(scale));
    return migrated(await openDb({ pgliteDir: dir }));
  }
  const data = await demoData(scale);
  process.stderr.write(`importing the ${scale} demo into PGlite ${dir}…\n`);
  fs.rmSync(dir, { recursive: true, force: true });
  fs.rmSync(marker, { force: true });
  const db = await openDb({ pgliteDir: dir });
  await migrate(db);
  await importDirectory(db, { dir: data.dir, logger: silentLogger });
  await db.query('VACUUM ANALYZE');
  fs.writeFileSync(marker, dataMark(scale));
  return db;
}

/** A kept benchmark database gets the migrations added since it was imported (and their backfills). */
async function migrated(db: Db): Promise<Db> {
  await migrate(db);
  return db;
}

/** Removes what openBenchDb made. */
export async function dropBenchDb(driver: 'postgres' | 'pglite', scale: DemoScale): Promise<void> {
  if (driver === 'postgres') await dropPgDatabase(`bench_${scale}${DB_SUFFIX}`);
  else {
    const dir = path.join(WORK, `pglite-${scale}${DB_SUFFIX}-data`);
    fs.rmSync(dir, { recursive: true, force: true });
    fs.rmSync(`${dir}.complete`, { force: true });
  }
}
