/** A value that survives `JSON.stringify` unchanged: what a QuickChart server receives. */
export type JsonValue = string | number | boolean | null | JsonValue[] | JsonObject;
export type JsonObject = { [key: string]: JsonValue };

/**
 * Chart forms (see spec.ts for when each is chosen):
 * - `bar` — one figure by manager/source/…, sorted, "Другие" for the tail;
 * - `line` — dynamics by day/week/month, the previous period dashed;
 * - `stacked` — lead states (new / in work / qualified / junk) by source;
 * - `doughnut` — shares of a whole, at most 6 slices + "Другие";
 * - `funnel` — stages in order with the conversion from the previous stage;
 * - `time_profile` — calls by hour or weekday: average and maximum per day;
 * - `plan_fact` — plan completion and run-rate forecast against the 100 % line;
 * - `norm` — task execution coefficient against the 64 % norm;
 * - `top` — the ten most frequent objections.
 */
export const chartKinds = [
  'bar',
  'line',
  'stacked',
  'doughnut',
  'funnel',
  'time_profile',
  'plan_fact',
  'norm',
  'top',
] as const;
export type ChartKind = (typeof chartKinds)[number];

/** An axis label: one line, or several lines. */
export type ChartLabel = string | string[];

/** A data point: a value on the category axis, or an explicit point of a reference line. */
export type ChartPoint = number | null | { x: number; y: number };

export type ChartDataset = JsonObject & { label: string; data: ChartPoint[] };

/**
 * A Chart.js v4 configuration with no functions in it: rendered as is by the
 * local renderer and by a QuickChart server (`version: '4'`). Values on bars
 * are drawn as labels of an extra category axis and reference lines as extra
 * line datasets, because QuickChart's Chart.js 4 has no data-label plugin.
 */
export interface ChartSpec {
  type: 'bar' | 'line' | 'doughnut';
  data: { labels: ChartLabel[]; datasets: ChartDataset[] };
  options: JsonObject;
}
