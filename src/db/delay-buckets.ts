/*
 * Delay buckets for the exact percentiles of "Время до перезвона",
 * "Скорость ответа на заявку" and the median sales cycle
 * (src/db/rollups/delays.ts): a delay falls into width_bucket(delay, EDGES). The same SQL text builds the
 * expression indexes (schema.ts) and the metric queries, so the planner
 * matches them; changing the edges needs a migration rebuilding both.
 */

const MIN = 60;
const HOUR = 3600;
const DAY = 86_400;

/** Callbacks fall within 24 h: finer under half an hour, then every half hour. */
const CALLBACK_EDGES = [
  0,
  MIN,
  2 * MIN,
  5 * MIN,
  10 * MIN,
  15 * MIN,
  20 * MIN,
  25 * MIN,
  ...Array.from({ length: 48 }, (_, i) => (i + 1) * 1800),
];

/** First responses run from seconds to months: fine for the first hours, hourly to two days, then coarser. */
const RESPONSE_EDGES = [
  0,
  MIN,
  2 * MIN,
  3 * MIN,
  5 * MIN,
  7 * MIN,
  10 * MIN,
  15 * MIN,
  20 * MIN,
  30 * MIN,
  45 * MIN,
  ...Array.from({ length: 47 }, (_, i) => (i + 1) * HOUR),
  ...[2, 2.5, 3, 4, 5, 6, 7, 10, 14, 21, 30, 45, 60, 90, 120, 180, 270, 365, 730].map((d) => d * DAY),
];

/** Sales cycles (deal_stats' cycle median), in days: half-days for the first two, daily to two months, then coarser. */
const CYCLE_EDGES = [
  0,
  0.5,
  ...Array.from({ length: 60 }, (_, i) => i + 1),
  ...[70, 80, 90, 105, 120, 150, 180, 240, 365, 545, 730, 1095],
];

const edges = (xs: number[]) => `'{${xs.join(',')}}'::float8[]`;

/** `alias.` before a column, or nothing for an index definition. */
const col = (alias: string, name: string) => (alias ? `${alias}.${name}` : name);

/** Seconds from a call's start to its callback, as the percentiles order them. */
export const CALLBACK_DELAY = (alias: string) =>
  `extract(epoch FROM ${col(alias, 'callback_at')} - ${col(alias, 'started_at')})::float8`;

/** Seconds from a lead's creation to its first response. */
export const RESPONSE_DELAY = (alias: string) =>
  `extract(epoch FROM ${col(alias, 'first_response_at')} - ${col(alias, 'created_at')})::float8`;

/** Days from a deal's creation to its closing ("Длительность цикла сделки"), exactly as deal_stats computes it. */
export const CYCLE_DAYS = (alias: string) =>
  `extract(epoch FROM ${col(alias, 'closed_at')} - ${col(alias, 'created_at')})::float8 / 86400`;

export const CALLBACK_BUCKET = (alias: string) =>
  `width_bucket(${CALLBACK_DELAY(alias)}, ${edges(CALLBACK_EDGES)})`;

export const RESPONSE_BUCKET = (alias: string) =>
  `width_bucket(${RESPONSE_DELAY(alias)}, ${edges(RESPONSE_EDGES)})`;

export const CYCLE_BUCKET = (alias: string) => `width_bucket(${CYCLE_DAYS(alias)}, ${edges(CYCLE_EDGES)})`;

/** The manager key of the delay indexes and rollup: '' for none. */
export const MANAGER_KEY = (alias: string) => `coalesce(${col(alias, 'manager_id')}, '')`;
