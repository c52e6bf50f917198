import type { Envelope, EnvelopeGroup, Figures } from '../metrics/types.ts';
import {
  baseOptions,
  type Chrome,
  categoryAxis,
  font,
  fontSizes,
  labelLineHeight,
  mutedColor,
  noDataSpec,
  numberAxis,
  referenceAxis,
  referenceLine,
  textColor,
  titleText,
  valueLabelAxis,
} from './chrome.ts';
import {
  type FigureKind,
  figureKind,
  formatOutOf,
  formatPeriod,
  formatTimeLabel,
  formatValue,
  isAdditive,
  isHourLabels,
  isWeekdayLabels,
  type LabelFit,
  plotValue,
  shortenLabels,
  type TimeUnit,
  textWidth,
  timeUnitOf,
  truncateLabel,
  weekdays,
  wrapLabel,
} from './format.ts';
import { describeFilters, leadStates, metricNames, nameOfFigure, objectionNames } from './names.ts';
import { colorsFor, isKnownSource, leadStateColors, neutralColor, seriesColors } from './palette.ts';
import type { ChartDataset, ChartKind, ChartLabel, ChartSpec, JsonObject } from './types.ts';

export interface ChartSpecOptions {
  /** The same metric for the previous period: drawn dashed on dynamics charts. */
  previous?: Envelope;
  /** Force a chart form instead of choosing it from the envelope. */
  kind?: ChartKind;
  /** The figure code to plot when the question named one ("конверсия по источникам" → `conv_to_deal`). */
  figure?: string;
}

/**
 * Which figure a chart plots, when the caller does not name one: the first
 * code of this list that the groups carry, else the first figure of the
 * first group. The order is "what a head of sales means by the metric":
 * calls for calls, sales amount for deals, received leads for leads.
 */
export const preferredFigures: Record<string, readonly string[]> = {
  calls_stats: ['calls', 'incoming', 'outgoing', 'answered', 'missed', 'connected'],
  calls_by_time: ['calls_avg', 'calls_max'],
  missed_calls: ['missed', 'lost_missed', 'called_back'],
  lead_stats: ['received', 'qualified', 'conv_to_deal'],
  lead_stage_reach: ['reached', 'stage_reach'],
  deal_stats: ['won_amount', 'won', 'created', 'open_amount', 'open', 'lost'],
  stage_funnel: ['reached', 'count', 'deals', 'stage_reach', 'stage_conversion'],
  forgotten_deals: ['forgotten_deals', 'count'],
  forgotten_leads: ['forgotten_leads', 'count'],
  deals_without_tasks: ['deals_without_tasks', 'count'],
  plan_progress: ['completion', 'fact', 'plan'],
  manager_efficiency: ['efficiency', 'score'],
  task_discipline: ['execution_coefficient', 'overdue'],
  call_quality: ['count', 'share'],
};

/** Rows of a bar chart (managers, sources); the rest goes to "Другие" or is left out. */
const maxRows = 10;
/** Six named slices and "Другие". */
const maxSlices = 7;
const maxObjections = 10;
/** Коэффициент исполнительности norm: 0.8 started on time × 0.8 finished on time (METRICS.md). */
const executionNorm = 0.64;
/** Tools whose drill-down items are counted per manager when no groups came back. */
const listMetrics = new Set(['forgotten_deals', 'forgotten_leads', 'deals_without_tasks']);
const othersKey = '__others__';
/**
 * Room for a name beside a bar: Chart.js gives a side axis at most a quarter
 * of the chart width (250 px), less the tick padding.
 */
const sideLabel: LabelFit = { width: 232, size: fontSizes.label };
/** Doughnut legend entries carry the value and share after the name. */
const legendName: LabelFit = { width: 250, size: fontSizes.legend };
const nobodyLabel = 'Без менеджера';

interface Context {
  envelope: Envelope;
  metric: string;
  groups: EnvelopeGroup[] | undefined;
  previous: Envelope | undefined;
  figure: string | null;
  planUnit: 'amount' | 'count';
  period: string;
  filters: string;
  /** The envelope's notes (thresholds, defaults) when short enough for a subtitle. */
  notes: string | null;
}

interface Row {
  key: string;
  label: string;
  figures: Figures;
  value: number | null;
}

const collator = new Intl.Collator('ru');
const percentChange = new Intl.NumberFormat('ru-RU', {
  style: 'percent',
  maximumFractionDigits: 1,
  signDisplay: 'exceptZero',
});

function numberOf(figures: Figures | undefined, code: string): number | null {
  const v = figures?.[code];
  return typeof v === 'number' && Number.isFinite(v) ? v : null;
}

function isBlank(values: readonly (number | null)[]): boolean {
  return values.every((v) => v === null || v === 0);
}

function sum(values: readonly (number | null)[]): number {
  return values.reduce<number>((acc, v) => acc + (v ?? 0), 0);
}

/** The groups a chart is drawn from: a named series where the tool puts it there, or items counted per manager. */
function groupsOf(envelope: Envelope): EnvelopeGroup[] | undefined {
  const series = envelope.series ?? {};
  if (envelope.metric === 'lead_stage_reach' && series.stage_reach) return series.stage_reach;
  if (envelope.metric === 'stage_funnel' && series.stage_conversion) return series.stage_conversion;
  if (envelope.metric === 'call_quality' && series.objections) return series.objections;
  if (envelope.groups) return envelope.groups;
  if (listMetrics.has(envelope.metric) && envelope.items && envelope.items.length > 0) {
    const counts = new Map<string, number>();
    for (const item of envelope.items) {
      const manager = typeof item.manager === 'string' && item.manager !== '' ? item.manager : nobodyLabel;
      counts.set(manager, (counts.get(manager) ?? 0) + 1);
    }
    return [...counts].map(([label, n]) => ({ key: label, label, figures: { [envelope.metric]: n } }));
  }
  return undefined;
}

function chooseFigure(metric: string, groups: readonly EnvelopeGroup[], requested?: string): string | null {
  const present: string[] = [];
  for (const g of groups)
    for (const code of Object.keys(g.figures)) if (!present.includes(code)) present.push(code);
  if (requested && present.includes(requested)) return requested;
  const preferred = (preferredFigures[metric] ?? []).find((code) => present.includes(code));
  return preferred ?? present[0] ?? requested ?? preferredFigures[metric]?.[0] ?? null;
}

/** Plans are by amount unless the tool says `metric: 'count'` or every plan and fact is a small whole number. */
function planUnitOf(envelope: Envelope, groups: readonly EnvelopeGroup[] | undefined): 'amount' | 'count' {
  const declared = envelope.filters.metric;
  if (declared === 'count' || declared === 'amount') return declared;
  const values = [envelope.figures, ...(groups ?? []).map((g) => g.figures)].flatMap((f) => [
    numberOf(f, 'plan'),
    numberOf(f, 'fact'),
  ]);
  const known = values.filter((v): v is number => v !== null);
  return known.length > 0 && known.every((v) => Number.isInteger(v) && v < 1000) ? 'count' : 'amount';
}

function notesOf(envelope: Envelope): string | null {
  const text = (envelope.notes ?? []).join('; ');
  return text !== '' && text.length <= 70 ? text : null;
}

function contextOf(envelope: Envelope, opts: ChartSpecOptions): Context {
  const groups = groupsOf(envelope);
  return {
    envelope,
    metric: envelope.metric,
    groups,
    previous: opts.previous,
    figure: chooseFigure(envelope.metric, groups ?? [], opts.figure),
    planUnit: planUnitOf(envelope, groups),
    period: formatPeriod(envelope.period),
    filters: describeFilters(envelope.filters),
    notes: notesOf(envelope),
  };
}

function labelsOf(groups: readonly EnvelopeGroup[]): string[] {
  return groups.map((g) => g.label);
}

function isObjectionGroups(groups: readonly EnvelopeGroup[]): boolean {
  const names = new Set(Object.values(objectionNames).map((n) => n.toLowerCase()));
  return groups.some(
    (g) => g.key in objectionNames || g.label in objectionNames || names.has(g.label.toLowerCase()),
  );
}

function hasLeadStates(groups: readonly EnvelopeGroup[]): boolean {
  return groups.some((g) => leadStates.filter(([code]) => numberOf(g.figures, code) !== null).length >= 2);
}

/**
 * A partition of a whole (incoming calls by channel, sales by source): few
 * non-person categories whose values add up to the headline figure.
 */
function isPartition(ctx: Context, groups: readonly EnvelopeGroup[], code: string): boolean {
  const kind = figureKind(code, ctx.planUnit);
  if (!isAdditive(code, kind) || groups.length < 2 || groups.length > maxSlices - 1) return false;
  const labels = labelsOf(groups);
  const display = shortenLabels(labels, { width: Number.POSITIVE_INFINITY, size: 1 }, isKnownSource);
  if (display.some((d, i) => d !== labels[i])) return false;
  const total = numberOf(ctx.envelope.figures, code);
  const values = groups.map((g) => numberOf(g.figures, code));
  return total !== null && total > 0 && values.every((v) => v !== null && v >= 0) && sum(values) === total;
}

/**
 * The chart form for an envelope, first match wins: plans → plan/fact; no
 * groups → null (a headline is said in text); hours 0–23 or пн–вс →
 * calls by time; stage funnels and stage reach → funnel; task discipline →
 * the 64 % norm; objection types → top 10; dates/weeks/months → line;
 * lead states by source → stacked; a partition of the headline figure into
 * at most 6 named categories → doughnut; anything else → sorted bars.
 */
function chooseKind(ctx: Context): ChartKind | null {
  const { metric, groups, figure } = ctx;
  if (
    metric === 'plan_progress' &&
    (groups !== undefined || numberOf(ctx.envelope.figures, 'plan') !== null)
  ) {
    return 'plan_fact';
  }
  if (!groups) return null;
  const labels = labelsOf(groups);
  if (
    metric === 'calls_by_time' ||
    (groups.length > 0 && (isHourLabels(labels) || isWeekdayLabels(labels)))
  ) {
    return 'time_profile';
  }
  if (metric === 'stage_funnel' || metric === 'lead_stage_reach') return 'funnel';
  if (metric === 'task_discipline' && figure === 'execution_coefficient') return 'norm';
  if (metric === 'call_quality' && isObjectionGroups(groups)) return 'top';
  if (timeUnitOf(labels)) return 'line';
  const stateFigure = figure === 'received' || leadStates.some(([code]) => code === figure);
  if (metric === 'lead_stats' && stateFigure && hasLeadStates(groups)) return 'stacked';
  if (figure && isPartition(ctx, groups, figure)) return 'doughnut';
  return 'bar';
}

function title(ctx: Context, name: string): string | string[] {
  return titleText(name, ctx.period);
}

function noData(ctx: Context, name: string): ChartSpec {
  return noDataSpec(title(ctx, name), ctx.filters || undefined);
}

function rowsOf(groups: readonly EnvelopeGroup[], code: string): Row[] {
  return groups.map((g) => ({
    key: g.key,
    label: g.label,
    figures: g.figures,
    value: numberOf(g.figures, code),
  }));
}

function byValueDesc(a: Row, b: Row): number {
  if (a.value === b.value) return collator.compare(a.label, b.label);
  if (a.value === null) return 1;
  if (b.value === null) return -1;
  return b.value - a.value;
}

/**
 * At most `limit` rows: for additive figures the tail becomes one "Другие (N)"
 * row with the sums of `sumCodes`; otherwise the tail is left out and counted.
 */
function capRows(
  rows: Row[],
  limit: number,
  additive: boolean,
  sumCodes: readonly string[],
): { rows: Row[]; hidden: number } {
  if (rows.length <= limit) return { rows, hidden: 0 };
  if (!additive) return { rows: rows.slice(0, limit), hidden: rows.length - limit };
  const head = rows.slice(0, limit - 1);
  const tail = rows.slice(limit - 1);
  const figures: Figures = {};
  for (const code of sumCodes) {
    const values = tail.map((r) => numberOf(r.figures, code));
    figures[code] = values.every((v) => v === null) ? null : sum(values);
  }
  const others: Row = {
    key: othersKey,
    label: `Другие (${tail.length})`,
    figures,
    value: sum(tail.map((r) => r.value)),
  };
  return { rows: [...head, others], hidden: 0 };
}

function hiddenNote(shown: number, hidden: number): string | null {
  return hidden > 0 ? `показаны ${shown} из ${shown + hidden}` : null;
}

function displayLabels(rows: readonly Row[], fit: LabelFit = sideLabel): string[] {
  const others = new Set(rows.filter((r) => r.key === othersKey).map((r) => r.label));
  return shortenLabels(
    rows.map((r) => r.label),
    fit,
    (label) => others.has(label) || isKnownSource(label),
  );
}

function rowColors(rows: readonly Row[]): string[] {
  const colors = colorsFor(rows.map((r) => ({ label: r.label, key: r.key })));
  return rows.map((r, i) => (r.key === othersKey ? neutralColor : (colors[i] as string)));
}

/**
 * How many label lines fit beside one bar of a horizontal chart at the
 * default 600 px height: the plot is what is left after the title, the
 * subtitle, the legend and the value axis.
 */
function linesPerRow(rows: number, { legend }: { legend: boolean }): number {
  const plot = 600 - 20 - 44 - 40 - (legend ? 40 : 0) - 36;
  return Math.max(1, Math.floor(plot / Math.max(rows, 1) / labelLineHeight));
}

function isHorizontal(labels: readonly string[]): boolean {
  return labels.length > 6 || labels.some((l) => l.length > 10);
}

function totalText(
  ctx: Context,
  code: string,
  kind: FigureKind,
  values: readonly (number | null)[],
): string | null {
  if (!isAdditive(code, kind)) return null;
  const total = numberOf(ctx.envelope.figures, code) ?? sum(values);
  return `Всего: ${formatValue(kind, total)}`;
}

function barDataset(
  label: string,
  data: (number | null)[],
  color: string | string[],
  extra: JsonObject = {},
) {
  const dataset: ChartDataset = {
    type: 'bar',
    label,
    data,
    backgroundColor: color,
    borderWidth: 0,
    borderRadius: 4,
    maxBarThickness: 64,
    pointStyle: 'rect',
    xAxisID: 'x',
    yAxisID: 'y',
    ...extra,
  };
  return dataset;
}

interface BarLayout {
  chrome: Chrome;
  horizontal: boolean;
  labels: ChartLabel[];
  valueLabels?: ChartLabel[];
  datasets: ChartDataset[];
  kind: FigureKind;
  stacked?: boolean;
  reference?: boolean;
  valueAxis?: JsonObject;
  indexAxis?: JsonObject;
}

/** Whether value labels fit above their columns (bold text, about 860 px of plot width). */
function fitAboveColumns(labels: readonly ChartLabel[]): boolean {
  const column = 860 / Math.max(labels.length, 1);
  return labels.every((label) =>
    (Array.isArray(label) ? label : [label]).every(
      (line) => textWidth(line, fontSizes.value) * 1.1 + 8 <= column,
    ),
  );
}

/**
 * Bars along one category axis, values axis opposite, value labels on a
 * second category axis (left out over columns too narrow for them).
 */
function barLayout(p: BarLayout): ChartSpec {
  const index = p.horizontal ? 'y' : 'x';
  const value = p.horizontal ? 'x' : 'y';
  const stacked = p.stacked ?? false;
  const scales: JsonObject = {
    [index]: categoryAxis(p.horizontal ? 'left' : 'bottom', { stacked, ...p.indexAxis }),
    [value]: numberAxis(p.horizontal ? 'bottom' : 'left', p.kind, { stacked, ...p.valueAxis }),
  };
  if (p.valueLabels && (p.horizontal || fitAboveColumns(p.valueLabels))) {
    scales[`${index}Values`] = valueLabelAxis(p.horizontal ? 'right' : 'top', p.valueLabels);
  }
  if (p.reference) scales[`${index}Ref`] = referenceAxis(index);
  return {
    type: 'bar',
    data: { labels: p.labels, datasets: p.datasets },
    options: { ...baseOptions(p.chrome), indexAxis: index, scales },
  };
}

/** One figure by manager/source/…: sorted, the tail in "Другие", values beside the bars. */
function barSpec(ctx: Context, code: string): ChartSpec | null {
  const groups = ctx.groups ?? [];
  const kind = figureKind(code, ctx.planUnit);
  const name = nameOfFigure(code, ctx.metric);
  const all = rowsOf(groups, code);
  if (isBlank(all.map((r) => r.value))) return noData(ctx, name);
  const unit = timeUnitOf(labelsOf(groups));
  const sorted = unit ? chronologicalRows(all) : [...all].sort(byValueDesc);
  const { rows, hidden } = unit
    ? { rows: sorted, hidden: 0 }
    : capRows(sorted, maxRows, isAdditive(code, kind), [code]);
  if (rows.length < 2) return null;
  const labels = unit ? timeLabels(rows, unit) : displayLabels(rows);
  const horizontal = !unit && isHorizontal(labels);
  return barLayout({
    chrome: {
      title: title(ctx, name),
      subtitle: [
        ctx.filters,
        totalText(
          ctx,
          code,
          kind,
          all.map((r) => r.value),
        ),
        hiddenNote(rows.length, hidden),
        ctx.notes,
      ],
    },
    horizontal,
    labels,
    valueLabels: rows.map((r) => formatValue(kind, r.value)),
    datasets: [
      barDataset(
        name,
        rows.map((r) => plotValue(kind, r.value)),
        unit ? seriesColors.primary : rowColors(rows),
      ),
    ],
    kind,
  });
}

function timeLabels(rows: readonly { label: string }[], unit: TimeUnit): string[] {
  const years = new Set(rows.map((r) => r.label.slice(0, 4)));
  return rows.map((r) => formatTimeLabel(r.label, unit, years.size === 1));
}

function chronological(groups: readonly EnvelopeGroup[]): EnvelopeGroup[] {
  return timeUnitOf(labelsOf(groups))
    ? [...groups].sort((a, b) => a.label.localeCompare(b.label))
    : [...groups];
}

/** Dynamics by day/week/month; the previous period dashed, aligned day by day. */
function lineSpec(ctx: Context, code: string): ChartSpec | null {
  const kind = figureKind(code, ctx.planUnit);
  const name = nameOfFigure(code, ctx.metric);
  const groups = chronological(ctx.groups ?? []);
  const values = groups.map((g) => numberOf(g.figures, code));
  if (isBlank(values)) return noData(ctx, name);
  if (groups.length < 2) return null;
  const unit = timeUnitOf(labelsOf(groups));
  const labels = unit ? timeLabels(groups, unit) : displayLabels(rowsOf(groups, code));
  const datasets: ChartDataset[] = [
    {
      type: 'line',
      label: ctx.period,
      data: values.map((v) => plotValue(kind, v)),
      borderColor: seriesColors.primary,
      backgroundColor: seriesColors.primaryFill,
      fill: 'origin',
      borderWidth: 3,
      pointRadius: groups.length <= 31 ? 3 : 0,
      pointBackgroundColor: seriesColors.primary,
      cubicInterpolationMode: 'monotone',
      order: 1,
    },
  ];
  const summary: (string | null)[] = [ctx.filters];
  const total = isAdditive(code, kind) ? (numberOf(ctx.envelope.figures, code) ?? sum(values)) : null;
  if (total !== null) summary.push(`Всего: ${formatValue(kind, total)}`);
  const previous = ctx.previous;
  if (previous) {
    const prevGroups = chronological(groupsOf(previous) ?? []);
    const prevValues = groups.map((_, i) => {
      const g = prevGroups[i];
      return g ? numberOf(g.figures, code) : null;
    });
    datasets.push({
      type: 'line',
      label: `${formatPeriod(previous.period)} (пред. период)`,
      data: prevValues.map((v) => plotValue(kind, v)),
      borderColor: seriesColors.previous,
      backgroundColor: seriesColors.previousFill,
      borderDash: [10, 7],
      borderWidth: 3,
      pointRadius: 0,
      fill: false,
      cubicInterpolationMode: 'monotone',
      order: 2,
    });
    const prevTotal = isAdditive(code, kind)
      ? (numberOf(previous.figures, code) ?? sum(prevGroups.map((g) => numberOf(g.figures, code))))
      : null;
    if (total !== null && prevTotal !== null) {
      const change = prevTotal > 0 ? ` (${percentChange.format((total - prevTotal) / prevTotal)})` : '';
      summary.push(`пред. период: ${formatValue(kind, prevTotal)}${change}`);
    }
  }
  const few = groups.length <= 12;
  return {
    type: 'line',
    data: { labels, datasets },
    options: {
      ...baseOptions({
        title: title(ctx, name),
        subtitle: [...summary, ctx.notes],
        legend: previous ? 'top' : false,
      }),
      layout: { padding: { top: 10, right: few ? 24 : 44, bottom: 10, left: 16 } },
      scales: {
        x: categoryAxis('bottom', { offset: few, ticks: { ...axisTicks(), autoSkipPadding: 14 } }),
        y: numberAxis('left', kind),
      },
    },
  };
}

function axisTicks(): JsonObject {
  return { color: textColor, font: font(fontSizes.label), autoSkip: true, maxRotation: 0, padding: 6 };
}

/** Shares of a whole: six largest slices, the rest as "Другие"; values and shares in the legend. */
function doughnutSpec(ctx: Context, code: string): ChartSpec | null {
  const kind = figureKind(code, ctx.planUnit);
  if (!isAdditive(code, kind)) return barSpec(ctx, code);
  const name = nameOfFigure(code, ctx.metric);
  const all = rowsOf(ctx.groups ?? [], code)
    .filter((r) => r.value !== null && r.value > 0)
    .sort(byValueDesc);
  if (all.length === 0) return noData(ctx, name);
  const { rows } = capRows(all, maxSlices, true, [code]);
  if (rows.length < 2) return null;
  const total = sum(rows.map((r) => r.value));
  const share = new Intl.NumberFormat('ru-RU', { style: 'percent', maximumFractionDigits: 1 });
  // The legend column beside the ring is ~400 px: the name gives way to the value and share.
  const legendWidth = 400;
  const labels = displayLabels(rows, legendName).map((label, i) => {
    const suffix = ` — ${formatValue(kind, rows[i]?.value)} (${share.format((rows[i]?.value ?? 0) / total)})`;
    const room = legendWidth - textWidth(suffix, fontSizes.legend);
    return `${truncateLabel(label, { width: Math.min(room, legendName.width), size: fontSizes.legend })}${suffix}`;
  });
  const options = baseOptions({
    title: title(ctx, name),
    subtitle: [
      ctx.filters,
      `Всего: ${formatValue(kind, numberOf(ctx.envelope.figures, code) ?? total)}`,
      ctx.notes,
    ],
    legend: 'right',
  });
  return {
    type: 'doughnut',
    data: {
      labels,
      datasets: [
        {
          label: name,
          data: rows.map((r) => plotValue(kind, r.value)),
          backgroundColor: rowColors(rows),
          borderColor: '#FFFFFF',
          borderWidth: 2,
        },
      ],
    },
    options: { ...options, cutout: '55%', layout: { padding: { top: 10, right: 40, bottom: 16, left: 40 } } },
  };
}

/** Lead states (new / in work / qualified / junk) by source, stacked; totals beside the bars. */
function stackedSpec(ctx: Context): ChartSpec | null {
  const name = metricNames.lead_stats as string;
  const groups = ctx.groups ?? [];
  const totalOf = (f: Figures) =>
    numberOf(f, 'received') ?? sum(leadStates.map(([code]) => numberOf(f, code)));
  const all: Row[] = groups.map((g) => ({
    key: g.key,
    label: g.label,
    figures: g.figures,
    value: totalOf(g.figures),
  }));
  if (isBlank(all.map((r) => r.value))) return noData(ctx, name);
  const unit = timeUnitOf(labelsOf(groups));
  const sorted = unit ? chronologicalRows(all) : [...all].sort(byValueDesc);
  const stateCodes = leadStates.map(([code]) => code);
  const { rows } = unit ? { rows: sorted } : capRows(sorted, maxRows, true, ['received', ...stateCodes]);
  if (rows.length < 2) return null;
  const labels = unit ? timeLabels(rows, unit) : displayLabels(rows);
  const horizontal = !unit && isHorizontal(labels);
  const received = numberOf(ctx.envelope.figures, 'received') ?? sum(all.map((r) => r.value));
  return barLayout({
    chrome: {
      title: title(ctx, name),
      subtitle: [
        ctx.filters,
        `Поступило: ${formatValue('count', received)}`,
        'состояние на сегодня',
        ctx.notes,
      ],
      legend: 'top',
    },
    horizontal,
    labels,
    valueLabels: rows.map((r) => formatValue('count', r.value)),
    datasets: leadStates.map(([code, stateName]) =>
      barDataset(
        stateName,
        rows.map((r) => numberOf(r.figures, code) ?? 0),
        leadStateColors[code],
        { borderRadius: 0 },
      ),
    ),
    kind: 'count',
    stacked: true,
  });
}

function chronologicalRows(rows: readonly Row[]): Row[] {
  return [...rows].sort((a, b) => a.label.localeCompare(b.label));
}

const countCodes = ['reached', 'count', 'deals', 'leads', 'created'];
const shareCodes = ['stage_reach', 'reach', 'share'];

/** Funnel blues, darkest at the top stage. */
function funnelColors(n: number): string[] {
  const from = [29, 78, 216];
  const to = [147, 197, 253];
  return Array.from({ length: n }, (_, i) => {
    const t = n > 1 ? i / (n - 1) : 0;
    const [r, g, b] = from.map((c, k) => Math.round(c + ((to[k] as number) - c) * t));
    return `rgb(${r}, ${g}, ${b})`;
  });
}

/**
 * Stages in funnel order: how many reached each stage, their share of the
 * first stage (or the tool's `stage_reach`), and the conversion from the
 * previous stage under the stage name.
 */
function funnelSpec(ctx: Context): ChartSpec | null {
  const groups = ctx.groups ?? [];
  const name = metricNames[ctx.metric] ?? nameOfFigure(ctx.figure ?? '', ctx.metric);
  const has = (code: string) => groups.some((g) => numberOf(g.figures, code) !== null);
  const requested = ctx.figure && has(ctx.figure) ? ctx.figure : null;
  const countCode =
    requested && figureKind(requested) === 'count' ? requested : (countCodes.find(has) ?? null);
  const shareCode = shareCodes.find(has) ?? null;
  const counts = countCode ? groups.map((g) => numberOf(g.figures, countCode)) : null;
  const first = counts?.[0] ?? null;
  const shares = groups.map((g, i) => {
    const given = shareCode ? numberOf(g.figures, shareCode) : null;
    if (given !== null) return given;
    const count = counts?.[i] ?? null;
    return count !== null && first ? count / first : null;
  });
  const values = counts ?? shares;
  if (isBlank(values)) return noData(ctx, name);
  if (groups.length < 2) return null;
  const kind: FigureKind = counts ? 'count' : 'share';
  // The tool's own conversion wins (on stage i: reached i+1 / reached i): it knows a lost stage follows no stage.
  const toolConversion = has('stage_conversion');
  const conversions = values.map((v, i) => {
    if (toolConversion) return i > 0 ? numberOf(groups[i - 1]!.figures, 'stage_conversion') : null;
    const prev = i > 0 ? values[i - 1] : null;
    return i > 0 && v !== null && prev ? v / prev : null;
  });
  const budget = linesPerRow(groups.length, { legend: false });
  const labels: ChartLabel[] = groups.map((g, i) => {
    const stage = budget >= 3 ? wrapLabel(g.label, sideLabel) : truncateLabel(g.label, sideLabel);
    const lines = Array.isArray(stage) ? stage : [stage];
    const conversion = conversions[i];
    return budget >= 2 && i > 0 && conversion !== null && conversion !== undefined
      ? [...lines, `→ ${formatValue('share', conversion)} из пред.`]
      : lines.length === 1
        ? (lines[0] as string)
        : lines;
  });
  const valueLabels = groups.map((_, i) => {
    const share = shares[i] ?? null;
    if (!counts) return formatValue('share', share);
    return share === null
      ? formatValue('count', counts[i])
      : `${formatValue('count', counts[i])} · ${formatValue('share', share)}`;
  });
  return barLayout({
    chrome: {
      title: title(ctx, name),
      subtitle: [
        ctx.filters,
        counts
          ? `доля от «${groups[0]?.label}» и конверсия из предыдущего этапа`
          : 'доля дошедших и конверсия из предыдущего этапа',
        ctx.notes,
      ],
    },
    horizontal: true,
    labels,
    valueLabels,
    datasets: [barDataset(name, values, funnelColors(values.length))],
    kind,
    indexAxis: { ticks: { ...axisTicks(), autoSkip: false } },
  });
}

/** Calls by hour (0–23) or weekday (пн–вс): the average per day as bars, the busiest day as a line. */
function timeProfileSpec(ctx: Context): ChartSpec | null {
  const groups = ctx.groups ?? [];
  const labels = labelsOf(groups);
  const hours = isHourLabels(labels);
  const name = hours ? 'Звонки по часам' : isWeekdayLabels(labels) ? 'Звонки по дням недели' : 'Звонки';
  const ordered = hours
    ? [...groups].sort((a, b) => Number(a.label) - Number(b.label))
    : isWeekdayLabels(labels)
      ? [...groups].sort(
          (a, b) =>
            weekdays.indexOf(a.label.toLowerCase() as (typeof weekdays)[number]) -
            weekdays.indexOf(b.label.toLowerCase() as (typeof weekdays)[number]),
        )
      : groups;
  const has = (code: string) => groups.some((g) => numberOf(g.figures, code) !== null);
  const avgCode = has('calls_avg') ? 'calls_avg' : (ctx.figure ?? 'calls_avg');
  const maxCode = has('calls_max') && avgCode !== 'calls_max' ? 'calls_max' : null;
  const avg = ordered.map((g) => numberOf(g.figures, avgCode));
  const max = maxCode ? ordered.map((g) => numberOf(g.figures, maxCode)) : [];
  if (isBlank([...avg, ...max])) return noData(ctx, name);
  const datasets: ChartDataset[] = [
    barDataset(maxCode ? 'В среднем за день' : nameOfFigure(avgCode, ctx.metric), avg, seriesColors.primary, {
      order: 2,
      maxBarThickness: 48,
    }),
  ];
  if (maxCode) {
    datasets.push({
      type: 'line',
      label: 'Максимум за день',
      data: max,
      borderColor: seriesColors.secondary,
      backgroundColor: seriesColors.secondary,
      borderWidth: 3,
      pointRadius: 4,
      fill: false,
      cubicInterpolationMode: 'monotone',
      xAxisID: 'x',
      yAxisID: 'y',
      order: 1,
    });
  }
  const kind = figureKind(avgCode);
  return barLayout({
    chrome: {
      title: title(ctx, name),
      subtitle: [ctx.filters, maxCode ? 'звонков за день: в среднем и максимум' : null, ctx.notes],
      legend: maxCode ? 'top' : false,
    },
    horizontal: false,
    labels: ordered.map((g) => g.label),
    valueLabels: hours ? undefined : avg.map((v) => formatValue(kind === 'count' ? 'decimal' : kind, v)),
    datasets,
    kind: kind === 'count' ? 'decimal' : kind,
    indexAxis: hours
      ? {
          title: { display: true, text: 'час начала звонка', color: mutedColor, font: font(fontSizes.axis) },
          ticks: { ...axisTicks(), autoSkip: false, font: font(fontSizes.axis) },
        }
      : {},
  });
}

/**
 * Plan, fact and run-rate forecast of one plan (the company, or one manager)
 * as three columns against the plan line.
 */
function planTotalSpec(ctx: Context, figures: Figures, who: string | null): ChartSpec | null {
  const name = metricNames.plan_progress as string;
  const kind = figureKind('plan', ctx.planUnit);
  const plan = numberOf(figures, 'plan');
  const fact = numberOf(figures, 'fact');
  if (isBlank([plan, fact])) return noData(ctx, name);
  const completion = numberOf(figures, 'completion') ?? (plan && fact !== null ? fact / plan : null);
  const forecast = numberOf(figures, 'forecast_completion');
  const labels = ['План', 'Факт'];
  const values = [plan, fact];
  const colors: string[] = [seriesColors.plan, seriesColors.primary];
  const valueLabels = [
    formatValue(kind, plan),
    `${formatValue(kind, fact)} · ${formatValue('share', completion)}`,
  ];
  if (forecast !== null && plan) {
    labels.push('Прогноз по темпу');
    values.push(forecast * plan);
    colors.push(seriesColors.light);
    valueLabels.push(`${formatValue(kind, forecast * plan)} · ${formatValue('share', forecast)}`);
  }
  const datasets: ChartDataset[] = [
    barDataset(name, values, colors, { grouped: false, barPercentage: 0.7, maxBarThickness: 160 }),
  ];
  if (plan) datasets.push(referenceLine('100 % плана', plan, false));
  return barLayout({
    chrome: { title: title(ctx, name), subtitle: [ctx.filters, who, ctx.notes], legend: false },
    horizontal: false,
    labels,
    valueLabels,
    datasets,
    kind,
    reference: plan !== null && plan > 0,
  });
}

/**
 * Plan completion per manager (or month): completion bars over lighter
 * run-rate forecast bars, the 100 % line, and "факт из плана" beside.
 */
function planSpec(ctx: Context): ChartSpec | null {
  const name = metricNames.plan_progress as string;
  const kind = figureKind('plan', ctx.planUnit);
  if (ctx.groups === undefined) return planTotalSpec(ctx, ctx.envelope.figures, null);
  if (ctx.groups.length === 1) {
    const only = ctx.groups[0] as EnvelopeGroup;
    return planTotalSpec(ctx, only.figures, only.label);
  }
  const completionOf = (f: Figures) => {
    const plan = numberOf(f, 'plan');
    const fact = numberOf(f, 'fact');
    return numberOf(f, 'completion') ?? (plan && fact !== null ? fact / plan : null);
  };
  const all: Row[] = ctx.groups.map((g) => ({
    key: g.key,
    label: g.label,
    figures: g.figures,
    value: completionOf(g.figures),
  }));
  const blank = all.every((r) => isBlank([numberOf(r.figures, 'plan'), numberOf(r.figures, 'fact')]));
  if (all.length === 0 || blank) return noData(ctx, name);
  const unit = timeUnitOf(all.map((r) => r.label));
  const sorted = unit ? chronologicalRows(all) : [...all].sort(byValueDesc);
  const { rows, hidden } = capRows(sorted, maxRows, false, []);
  const labels = unit ? timeLabels(rows, unit) : displayLabels(rows);
  const forecasts = rows.map((r) => numberOf(r.figures, 'forecast_completion'));
  const completions = rows.map((r) => r.value);
  const twoLines = linesPerRow(rows.length, { legend: true }) >= 2;
  const valueLabels = rows.map((r, i): ChartLabel => {
    const plan = numberOf(r.figures, 'plan');
    const fact = numberOf(r.figures, 'fact');
    if (!plan) return twoLines ? ['нет плана', `факт ${formatValue(kind, fact)}`] : 'нет плана';
    const forecast = forecasts[i];
    const head =
      forecast === null || forecast === undefined
        ? formatValue('share', completions[i])
        : `${formatValue('share', completions[i])} → ${formatValue('share', forecast)}`;
    return twoLines ? [head, formatOutOf(kind, fact, plan)] : head;
  });
  const datasets: ChartDataset[] = [];
  if (!isBlank(forecasts)) {
    datasets.push(
      barDataset('Прогноз выполнения', forecasts, seriesColors.light, {
        grouped: false,
        barPercentage: 0.9,
        order: 2,
      }),
    );
  }
  datasets.push(
    barDataset('Выполнение', completions, seriesColors.primary, {
      grouped: false,
      barPercentage: 0.5,
      order: 1,
    }),
    referenceLine('100 % плана', 1, true),
  );
  const top = Math.max(1, ...completions.map((v) => v ?? 0), ...forecasts.map((v) => v ?? 0));
  const headPlan = numberOf(ctx.envelope.figures, 'plan');
  const headFact = numberOf(ctx.envelope.figures, 'fact');
  const headForecast = numberOf(ctx.envelope.figures, 'forecast_completion');
  const headline =
    headPlan && headFact !== null
      ? `Итого: ${formatOutOf(kind, headFact, headPlan)} (${formatValue(
          'share',
          numberOf(ctx.envelope.figures, 'completion') ?? headFact / headPlan,
        )})${headForecast === null ? '' : `, прогноз ${formatValue('share', headForecast)}`}`
      : null;
  return barLayout({
    chrome: {
      title: title(ctx, name),
      subtitle: [ctx.filters, headline, hiddenNote(rows.length, hidden), ctx.notes],
      legend: 'top',
    },
    horizontal: true,
    labels,
    valueLabels,
    datasets,
    kind: 'share',
    reference: true,
    valueAxis: { min: 0, suggestedMax: Math.ceil(top * 10 + 0.5) / 10, grace: 0 },
  });
}

/** Коэффициент исполнительности per manager against the 64 % norm; below-norm bars red. */
function normSpec(ctx: Context, code: string): ChartSpec | null {
  const name = nameOfFigure(code, ctx.metric);
  const all = rowsOf(ctx.groups ?? [], code);
  if (isBlank(all.map((r) => r.value))) return noData(ctx, name);
  const { rows, hidden } = capRows([...all].sort(byValueDesc), maxRows, false, []);
  if (rows.length < 2) return null;
  const labels = displayLabels(rows);
  const above = rows.map((r) => (r.value !== null && r.value >= executionNorm ? r.value : null));
  const below = rows.map((r) => (r.value !== null && r.value < executionNorm ? r.value : null));
  const datasets: ChartDataset[] = [];
  if (above.some((v) => v !== null)) {
    datasets.push(
      barDataset('Не ниже нормы', above, seriesColors.good, { grouped: false, barPercentage: 0.8 }),
    );
  }
  if (below.some((v) => v !== null)) {
    datasets.push(barDataset('Ниже нормы', below, seriesColors.bad, { grouped: false, barPercentage: 0.8 }));
  }
  datasets.push(referenceLine(`Норма ${formatValue('share', executionNorm)}`, executionNorm, true));
  const twoLines = linesPerRow(rows.length, { legend: true }) >= 2;
  const valueLabels = rows.map((r): ChartLabel => {
    const tasks = numberOf(r.figures, 'tasks');
    const overdue = numberOf(r.figures, 'overdue');
    const share = formatValue('share', r.value);
    if (tasks === null || !twoLines) return share;
    return [
      share,
      overdue
        ? `${formatValue('count', overdue)} просроч. из ${formatValue('count', tasks)}`
        : `задач: ${formatValue('count', tasks)}`,
    ];
  });
  const company = numberOf(ctx.envelope.figures, code);
  return barLayout({
    chrome: {
      title: title(ctx, name),
      subtitle: [
        ctx.filters,
        company === null ? null : `По компании: ${formatValue('share', company)}`,
        'начаты в срок × завершены в срок',
        hiddenNote(rows.length, hidden),
        ctx.notes,
      ],
      legend: 'top',
    },
    horizontal: true,
    labels,
    valueLabels,
    datasets,
    kind: 'share',
    reference: true,
    valueAxis: { min: 0, max: 1, grace: 0 },
  });
}

/** The ten most frequent objections: how many calls had each and their share of analyzed calls. */
function topSpec(ctx: Context, code: string): ChartSpec | null {
  const name = 'Топ возражений';
  const kind = figureKind(code);
  const all = rowsOf(ctx.groups ?? [], code).map((r) => ({
    ...r,
    label: objectionNames[r.key] ?? objectionNames[r.label] ?? r.label,
  }));
  if (isBlank(all.map((r) => r.value))) return noData(ctx, name);
  const sorted = all.filter((r) => r.value !== null && r.value > 0).sort(byValueDesc);
  const rows = sorted.slice(0, maxObjections);
  if (rows.length < 2) return null;
  const analyzed = numberOf(ctx.envelope.figures, 'analyzed') ?? numberOf(ctx.envelope.figures, 'calls');
  return barLayout({
    chrome: {
      title: title(ctx, name),
      subtitle: [
        ctx.filters,
        analyzed === null ? null : `разобрано звонков: ${formatValue('count', analyzed)}`,
        hiddenNote(rows.length, sorted.length - rows.length),
        ctx.notes,
      ],
    },
    horizontal: true,
    labels: displayLabels(rows),
    valueLabels: rows.map((r) => {
      const share = numberOf(r.figures, 'share');
      return share === null || code === 'share'
        ? formatValue(kind, r.value)
        : `${formatValue(kind, r.value)} · ${formatValue('share', share)}`;
    }),
    datasets: [
      barDataset(
        name,
        rows.map((r) => plotValue(kind, r.value)),
        seriesColors.objection,
      ),
    ],
    kind,
  });
}

function build(kind: ChartKind, ctx: Context): ChartSpec | null {
  const code = ctx.figure;
  const groups = ctx.groups;
  if (kind === 'plan_fact' && ctx.metric === 'plan_progress') return planSpec(ctx);
  if (groups && groups.length === 0)
    return noData(ctx, code ? nameOfFigure(code, ctx.metric) : (metricNames[ctx.metric] ?? ctx.metric));
  if (!groups || !code) return null;
  switch (kind) {
    case 'line':
      return lineSpec(ctx, code);
    case 'stacked':
      return hasLeadStates(groups) ? stackedSpec(ctx) : barSpec(ctx, code);
    case 'doughnut':
      return doughnutSpec(ctx, code);
    case 'funnel':
      return funnelSpec(ctx);
    case 'time_profile':
      return timeProfileSpec(ctx);
    case 'norm':
      return figureKind(code) === 'share' ? normSpec(ctx, code) : barSpec(ctx, code);
    case 'top':
      return topSpec(ctx, code);
    default:
      return barSpec(ctx, code);
  }
}

/**
 * A Chart.js v4 configuration for a metric result, or null when a chart would
 * add nothing to the text (a headline number, a single group). Groups that
 * are empty or all zero give the "Нет данных за период" image.
 */
export function chartSpecFor(envelope: Envelope, opts: ChartSpecOptions = {}): ChartSpec | null {
  const ctx = contextOf(envelope, opts);
  const kind = opts.kind ?? chooseKind(ctx);
  return kind ? build(kind, ctx) : null;
}
