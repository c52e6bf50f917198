import type { Envelope } from '../metrics/types.ts';
import type { ChartRenderer, RenderSize } from './render.ts';
import { type ChartSpecOptions, chartSpecFor } from './spec.ts';
import type { ChartSpec } from './types.ts';

export { noDataText } from './chrome.ts';
export { pngSize } from './png.ts';
export {
  type ChartRenderer,
  type ChartRendererOptions,
  createChartRenderer,
  defaultChartSize,
  type RenderSize,
} from './render.ts';
export { type ChartSpecOptions, chartSpecFor, preferredFigures } from './spec.ts';
export { type ChartKind, type ChartSpec, chartKinds } from './types.ts';

/**
 * The chart for a metric result as a PNG, with the spec it was drawn from;
 * null when the answer is better as text alone (see `chartSpecFor`).
 */
export async function renderEnvelopeChart(
  renderer: ChartRenderer,
  envelope: Envelope,
  opts: ChartSpecOptions & RenderSize = {},
): Promise<{ png: Buffer; spec: ChartSpec } | null> {
  const spec = chartSpecFor(envelope, opts);
  if (!spec) return null;
  const png = await renderer.render(spec, { width: opts.width, height: opts.height });
  return { png, spec };
}
