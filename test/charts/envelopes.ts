import { readFileSync } from 'node:fs';
import type { ChartSpec } from '../../src/charts/index.ts';
import type { Envelope } from '../../src/metrics/types.ts';

/** A hand-written result envelope from test/fixtures/envelopes. */
export function envelope(name: string): Envelope {
  const url = new URL(`../fixtures/envelopes/${name}.json`, import.meta.url);
  return JSON.parse(readFileSync(url, 'utf8')) as Envelope;
}

/** ru-RU numbers use no-break spaces (`2 555`, `18 %`); tests compare them as plain spaces. */
export function plain<T>(value: T): T {
  return JSON.parse(JSON.stringify(value).replaceAll('\u00a0', ' ')) as T;
}

/** A value inside a spec by dotted path (`options.plugins.title.text`). */
export function at(spec: ChartSpec | null, path: string): unknown {
  let node: unknown = spec;
  for (const part of path.split('.')) {
    if (node === null || typeof node !== 'object') return undefined;
    node = (node as Record<string, unknown>)[part];
  }
  return node;
}

/** The texts of a spec's title and subtitle, one string each, no-break spaces as spaces. */
export function titles(spec: ChartSpec | null): { title: string; subtitle: string } {
  const join = (v: unknown) => plain(Array.isArray(v) ? v.join(' / ') : String(v ?? ''));
  return {
    title: join(at(spec, 'options.plugins.title.text')),
    subtitle: join(at(spec, 'options.plugins.subtitle.text')),
  };
}

export function datasetByLabel(spec: ChartSpec | null, label: string) {
  const found = spec?.data.datasets.find((d) => plain(d.label) === label);
  if (!found)
    throw new Error(`no dataset "${label}" in ${JSON.stringify(spec?.data.datasets.map((d) => d.label))}`);
  return found;
}
