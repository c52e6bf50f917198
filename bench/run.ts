/**
 * `npm run bench` — the quick benchmarks; `npm run bench -- <name> [args…]` — one benchmark.
 *
 *   npm run bench                         first start + parser (a minute or two; no PostgreSQL needed)
 *   npm run bench -- import [--scale large] [--drivers postgres,pglite] [--reimport] [--keep]
 *   npm run bench -- metrics [--targets postgres:medium,pglite:medium,postgres:large] [--runs 5] [--drop]
 *   npm run bench -- ask [--only parser] [--rounds 3] [--drop]
 *   npm run bench -- parser | charts | demo | sync  (the other scripts in bench/, with their own arguments)
 *
 * Each benchmark prints its table and replaces its section of bench/RESULTS.md.
 * PostgreSQL benchmarks use BENCH_DATABASE_URL (default
 * postgres://postgres@127.0.0.1:55432/postgres) to create `bench_<scale>`
 * databases; data goes to VORONKA_BENCH_DIR (default /tmp/voronka-bench).
 */
import fs from 'node:fs';
import path from 'node:path';
import { ROOT, runChild, TSX } from './lib.ts';

const [name, ...args] = process.argv.slice(2);

/** The quick set: what `npm run bench` runs without arguments. */
const QUICK: Array<[string, string[]]> = [
  ['import.ts', ['--only', 'first-start']],
  ['ask.ts', ['--only', 'parser']],
];

async function run(script: string, scriptArgs: string[]): Promise<void> {
  process.stderr.write(`\n== bench/${script} ${scriptArgs.join(' ')}\n`);
  const res = await runChild(TSX, [path.join('bench', script), ...scriptArgs], { passStderr: true });
  process.stdout.write(res.stdout);
}

if (!name) {
  for (const [script, scriptArgs] of QUICK) await run(script, scriptArgs);
} else {
  const script = `${name.replace(/\.ts$/, '')}.ts`;
  if (script === 'run.ts' || script === 'lib.ts' || !fs.existsSync(path.join(ROOT, 'bench', script))) {
    const known = fs
      .readdirSync(path.join(ROOT, 'bench'))
      .filter((f) => f.endsWith('.ts') && f !== 'run.ts' && f !== 'lib.ts')
      .map((f) => f.replace(/\.ts$/, ''));
    process.stderr.write(`unknown benchmark "${name}"; one of: ${known.join(', ')}\n`);
    process.exitCode = 2;
  } else {
    await run(script, args);
  }
}
