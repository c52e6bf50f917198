import { type FigureKind, textWidth, tickOptions } from './format.ts';
import { seriesColors } from './palette.ts';
import type { ChartDataset, ChartLabel, ChartSpec, JsonObject } from './types.ts';

/**
 * The look shared by every chart: fonts, colours, title block, axes. Sizes are
 * CSS pixels of a 1000×600 chart; on a phone the image shrinks to about a
 * third, so nothing is smaller than 18 px.
 */

/** Registered locally from `dejavu-fonts-ttf`; installed on QuickChart's image as well. */
export const fontFamily = "'DejaVu Sans', sans-serif";

export const textColor = '#1F2937';
export const mutedColor = '#6B7280';
const gridColor = '#E5E7EB';

export const noDataText = 'Нет данных за период';

/**
 * Font sizes in CSS pixels. A 1000 px wide chart opened full screen on a
 * phone shrinks to about 360 pt, so 21 px labels read like 8 pt text.
 */
export const fontSizes = {
  title: 30,
  subtitle: 20,
  legend: 20,
  label: 21,
  value: 21,
  axis: 18,
  noData: 34,
} as const;

/** Text line height Chart.js uses (1.2 × size), for fitting multi-line labels into a row. */
export const labelLineHeight = fontSizes.label * 1.2;

export function font(size: number, bold = false): JsonObject {
  return bold ? { family: fontFamily, size, weight: 'bold' } : { family: fontFamily, size };
}

/** Title lines: "Звонки · 1–31 марта 2026", split in two when it would not fit one line. */
export function titleText(name: string, period: string): string | string[] {
  const line = `${name} · ${period}`;
  const boldWidth = textWidth(line, fontSizes.title) * 1.1;
  return boldWidth > 960 ? [name, period] : line;
}

/** Subtitle from parts; long ones go on two lines. */
function subtitleText(parts: readonly (string | null | undefined)[]): string | string[] {
  const present = parts.filter((p): p is string => typeof p === 'string' && p !== '');
  const line = present.join(' · ');
  if (line.length <= 90 || present.length < 2) return line;
  return [present.slice(0, -1).join(' · '), present[present.length - 1] as string];
}

export interface Chrome {
  title: string | string[];
  subtitle?: readonly (string | null | undefined)[];
  legend?: false | 'top' | 'right';
}

/** Options every spec starts from: locale, no animation, title, subtitle, legend. */
export function baseOptions({ title, subtitle = [], legend = false }: Chrome): JsonObject {
  const sub = subtitleText(subtitle);
  return {
    locale: 'ru-RU',
    animation: false,
    responsive: false,
    maintainAspectRatio: false,
    layout: { padding: { top: 10, right: 24, bottom: 10, left: 16 } },
    plugins: {
      title: {
        display: true,
        text: title,
        color: textColor,
        font: font(fontSizes.title, true),
        padding: { top: 4, bottom: sub ? 4 : 14 },
      },
      subtitle: {
        display: sub !== '',
        text: sub,
        color: mutedColor,
        font: font(fontSizes.subtitle),
        padding: { top: 2, bottom: 14 },
      },
      legend: legend
        ? {
            display: true,
            position: legend,
            align: 'center',
            labels: {
              color: textColor,
              font: font(fontSizes.legend),
              boxWidth: 30,
              boxHeight: 15,
              padding: 16,
            },
          }
        : { display: false },
      tooltip: { enabled: false },
    },
  };
}

/** The axis with names (managers, sources, stages, dates). */
export function categoryAxis(position: 'left' | 'bottom', extra: JsonObject = {}): JsonObject {
  return {
    type: 'category',
    position,
    offset: true,
    grid: { display: false },
    border: { color: '#9CA3AF' },
    ticks: {
      color: textColor,
      font: font(fontSizes.label),
      autoSkip: position === 'bottom',
      maxRotation: 0,
      padding: 6,
    },
    ...extra,
  };
}

/**
 * A second category axis, opposite the names, whose labels are the formatted
 * values ("1,2 млн ₽", "18,4 %"): data labels that need no plugin.
 */
export function valueLabelAxis(position: 'right' | 'top', labels: ChartLabel[]): JsonObject {
  return {
    type: 'category',
    position,
    labels,
    offset: true,
    grid: { display: false, drawTicks: false },
    border: { display: false },
    ticks: {
      color: textColor,
      font: font(fontSizes.value, true),
      autoSkip: false,
      maxRotation: 0,
      padding: 10,
    },
  };
}

/** The numeric axis, labelled in ru-RU units of the figure (`1,2 млн ₽`, `18 %`, `4 мин`). */
export function numberAxis(
  position: 'left' | 'bottom',
  kind: FigureKind,
  extra: JsonObject = {},
  ticks: JsonObject = {},
): JsonObject {
  return {
    type: 'linear',
    position,
    beginAtZero: true,
    grace: '4%',
    grid: { color: gridColor },
    border: { display: false },
    ticks: {
      color: mutedColor,
      font: font(fontSizes.axis),
      maxTicksLimit: 7,
      ...tickOptions(kind),
      ...ticks,
    },
    ...extra,
  };
}

/** An invisible 0..1 axis that lets a reference line span the whole plot. */
export function referenceAxis(axis: 'x' | 'y'): JsonObject {
  return { type: 'linear', axis, display: false, min: 0, max: 1, offset: false };
}

/**
 * A reference line (100 % of the plan, the 64 % norm) as a line dataset on the
 * hidden 0..1 axis, so it is drawn by Chart.js itself, locally and on
 * QuickChart. Bars of such charts use `grouped: false`: Chart.js would
 * otherwise keep room for bars of the extra axis.
 */
export function referenceLine(label: string, value: number, horizontal: boolean): ChartDataset {
  return {
    type: 'line',
    label,
    data: horizontal
      ? [
          { x: value, y: 0 },
          { x: value, y: 1 },
        ]
      : [
          { x: 0, y: value },
          { x: 1, y: value },
        ],
    xAxisID: horizontal ? 'x' : 'xRef',
    yAxisID: horizontal ? 'yRef' : 'y',
    indexAxis: horizontal ? 'y' : 'x',
    borderColor: seriesColors.reference,
    backgroundColor: seriesColors.referenceFill,
    borderWidth: 3,
    borderDash: [12, 8],
    pointRadius: 0,
    fill: false,
    order: 0,
  };
}

/** The image for a period with nothing to show: the title, and "Нет данных за период" in the middle. */
export function noDataSpec(title: string | string[], note?: string): ChartSpec {
  const options = baseOptions({ title });
  return {
    type: 'bar',
    data: { labels: [], datasets: [] },
    options: {
      ...options,
      plugins: {
        ...(options.plugins as JsonObject),
        subtitle: {
          display: true,
          text: note ? [noDataText, note] : noDataText,
          color: mutedColor,
          font: font(fontSizes.noData),
          padding: { top: 170, bottom: 0 },
        },
      },
      scales: { x: { display: false }, y: { display: false } },
    },
  };
}
