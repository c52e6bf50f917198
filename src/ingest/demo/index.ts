/**
 * Deterministic demo dataset of the window company "Окна Плюс": one JSONL file
 * per entity of IMPORT_FORMAT.md, twelve months of history up to `now`. The
 * same scale, seed and `now` always give byte-identical files.
 */

import { mkdir } from 'node:fs/promises';
import { AppError } from '../../errors.ts';
import { type DemoScale, SCALES } from './catalog.ts';
import { DEMO_FILES, World } from './world.ts';

export type { DemoScale } from './catalog.ts';
export { DEMO_FILES } from './world.ts';

export interface DemoOptions {
  outDir: string;
  scale: DemoScale;
  seed: number;
  /** The end of the history: nothing happens after it; deadlines and the current month's plan may lie ahead. */
  now: Date;
  /** Called once per simulated day (and at the end, with done = total); units are days, not records. */
  onProgress?: (done: number, total: number) => void;
}

export interface DemoSummary {
  /** File name (`calls.jsonl`) → records written. */
  files: Record<string, number>;
  bytes: number;
}

export const DEMO_SCALES: readonly DemoScale[] = ['small', 'medium', 'large'];

export async function generateDemo(opts: DemoOptions): Promise<DemoSummary> {
  const spec = SCALES[opts.scale];
  if (!spec) {
    throw new AppError(
      'demo_bad_scale',
      `unknown demo scale ${String(opts.scale)}`,
      `Неизвестный размер демо-данных «${String(opts.scale)}»: допустимы small, medium, large.`,
    );
  }
  if (!Number.isSafeInteger(opts.seed)) {
    throw new AppError(
      'demo_bad_seed',
      `demo seed must be a safe integer, got ${opts.seed}`,
      'Зерно генератора демо-данных должно быть целым числом.',
    );
  }
  if (Number.isNaN(opts.now.getTime())) {
    throw new AppError(
      'demo_bad_now',
      'demo "now" is not a valid date',
      'Некорректная дата «сейчас» для демо-данных.',
    );
  }
  await mkdir(opts.outDir, { recursive: true });
  const world = new World({
    outDir: opts.outDir,
    spec,
    seed: opts.seed,
    now: opts.now,
    onProgress: opts.onProgress,
  });
  const summary = await world.run();
  return { files: summary.files, bytes: summary.bytes };
}

/** File names the generator writes, in load order. */
export const DEMO_FILE_NAMES: readonly string[] = DEMO_FILES.map((f) => `${f}.jsonl`);
