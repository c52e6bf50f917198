/**
 * Demo generator benchmark: `tsx bench/demo.ts --scale medium [--seed 42]
 * [--now 2026-03-15T12:00:00+03:00] [--out DIR] [--keep]`. Generates into a
 * temporary directory (removed afterwards unless --out or --keep) and prints
 * records, bytes, wall time, records/s and peak RSS.
 */

import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { DEMO_SCALES, type DemoScale, generateDemo } from '../src/ingest/demo/index.ts';

const { values } = parseArgs({
  options: {
    scale: { type: 'string', default: 'small' },
    seed: { type: 'string', default: '42' },
    now: { type: 'string', default: '2026-03-15T12:00:00+03:00' },
    out: { type: 'string' },
    keep: { type: 'boolean', default: false },
  },
});

const scale = values.scale as DemoScale;
if (!DEMO_SCALES.includes(scale)) {
  console.error(`--scale must be one of ${DEMO_SCALES.join(', ')}`);
  process.exit(2);
}
const outDir = values.out ?? (await mkdtemp(join(tmpdir(), `voronka-demo-${scale}-`)));
const keep = values.keep || values.out !== undefined;

let lastShown = -1;
const started = performance.now();
const summary = await generateDemo({
  outDir,
  scale,
  seed: Number(values.seed),
  now: new Date(values.now),
  onProgress: (done, total) => {
    const pct = Math.floor((done / total) * 10) * 10;
    if (pct !== lastShown) {
      lastShown = pct;
      process.stderr.write(`${pct}% `);
    }
  },
});
const seconds = (performance.now() - started) / 1000;
process.stderr.write('\n');

const records = Object.values(summary.files).reduce((s, n) => s + n, 0);
// resourceUsage().maxRSS is in kilobytes.
const peakMiB = process.resourceUsage().maxRSS / 1024;
const mib = summary.bytes / 1024 / 1024;
console.log(`scale        ${scale} (seed ${values.seed}, now ${values.now})`);
for (const [file, n] of Object.entries(summary.files))
  console.log(`  ${file.padEnd(22)} ${n.toLocaleString('en-US')}`);
console.log(`records      ${records.toLocaleString('en-US')}`);
console.log(`size         ${mib.toFixed(1)} MiB`);
console.log(`time         ${seconds.toFixed(2)} s`);
console.log(`records/s    ${Math.round(records / seconds).toLocaleString('en-US')}`);
console.log(`MiB/s        ${(mib / seconds).toFixed(1)}`);
console.log(`peak RSS     ${peakMiB.toFixed(0)} MiB`);
console.log(`output       ${keep ? outDir : '(removed)'}`);
if (!keep) await rm(outDir, { recursive: true, force: true });
