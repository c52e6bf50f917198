import { createRequire } from 'node:module';
import { createCanvas, GlobalFonts } from '@napi-rs/canvas';
import { Chart, type ChartConfiguration, type Plugin, registerables } from 'chart.js';
import quickchartModule from 'quickchart-js';
import { AppError } from '../errors.ts';
import type { Logger } from '../logger.ts';
import { fontFamily } from './chrome.ts';
import { encodePng, pngSize } from './png.ts';
import type { ChartSpec } from './types.ts';

/**
 * The ESM build exports the class as `default`; TypeScript reads the package's
 * CommonJS typings, where the class sits one `.default` deeper.
 */
const QuickChart = ((quickchartModule as unknown as { default?: unknown }).default ??
  quickchartModule) as unknown as typeof quickchartModule.default;

/** CSS pixels; the PNG is twice as large (devicePixelRatio 2) so it stays sharp when zoomed on a phone. */
export interface RenderSize {
  width?: number;
  height?: number;
}

export interface ChartRenderer {
  /** PNG bytes of the chart: 2000×1200 for the default 1000×600. */
  render(spec: ChartSpec, size?: RenderSize): Promise<Buffer>;
  close(): void;
}

export interface ChartRendererOptions {
  /** A QuickChart server (`http://quickchart:3400`); charts are rendered in-process without it or when it fails. */
  quickchartUrl?: string;
  logger: Logger;
  /** How long to wait for QuickChart before drawing locally. */
  quickchartTimeoutMs?: number;
}

export const defaultChartSize = { width: 1000, height: 600 } as const;
const devicePixelRatio = 2;
/** QuickChart refuses larger charts; the local renderer keeps the same limit. */
const maxSide = 3000;
const background = '#ffffff';

let chartJsReady = false;

/** Fonts and Chart.js controllers are process-wide: registered once, on the first renderer. */
function setUpChartJs(): void {
  if (chartJsReady) return;
  const require = createRequire(import.meta.url);
  for (const file of ['DejaVuSans.ttf', 'DejaVuSans-Bold.ttf']) {
    const path = require.resolve(`dejavu-fonts-ttf/ttf/${file}`);
    if (!GlobalFonts.registerFromPath(path, 'DejaVu Sans')) throw new Error(`cannot register font ${path}`);
  }
  Chart.register(...registerables);
  Chart.defaults.font.family = fontFamily;
  chartJsReady = true;
}

/** Canvas pixels are transparent until painted; Telegram shows transparency as black in dark mode. */
const whiteBackground: Plugin = {
  id: 'voronkaWhiteBackground',
  beforeDraw(chart) {
    const { ctx, width, height } = chart;
    ctx.save();
    ctx.fillStyle = background;
    ctx.fillRect(0, 0, width, height);
    ctx.restore();
  },
};

function sizeOf(size: RenderSize | undefined): { width: number; height: number } {
  const width = size?.width ?? defaultChartSize.width;
  const height = size?.height ?? defaultChartSize.height;
  for (const side of [width, height]) {
    if (!Number.isInteger(side) || side < 100 || side > maxSide) {
      throw new RangeError(`chart size must be whole CSS pixels in 100..${maxSide}, got ${width}×${height}`);
    }
  }
  return { width, height };
}

async function renderLocally(spec: ChartSpec, width: number, height: number): Promise<Buffer> {
  setUpChartJs();
  const canvas = createCanvas(width, height);
  const copy = structuredClone(spec);
  const config = {
    ...copy,
    options: { ...copy.options, animation: false, responsive: false, devicePixelRatio },
    plugins: [whiteBackground],
  } as unknown as ChartConfiguration;
  let chart: Chart | undefined;
  try {
    chart = new Chart(canvas as unknown as ConstructorParameters<typeof Chart>[0], config);
    return await encodePng(canvas.data(), canvas.width, canvas.height);
  } catch (err) {
    throw new AppError(
      'chart_render_failed',
      `chart rendering failed: ${String(err)}`,
      'Не удалось нарисовать график.',
      {
        cause: err,
      },
    );
  } finally {
    chart?.destroy();
  }
}

function quickChartTarget(url: string): { host: string; scheme: 'http' | 'https'; origin: string } {
  const parsed = new URL(url);
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
    throw new Error(`QuickChart URL must be http(s): ${parsed.origin}`);
  }
  return {
    host: `${parsed.host}${parsed.pathname.replace(/\/+$/, '')}`,
    scheme: parsed.protocol === 'https:' ? 'https' : 'http',
    origin: parsed.origin,
  };
}

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`QuickChart did not answer in ${ms} ms`)), ms);
    timer.unref();
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/**
 * Renders chart specs to PNG: through a QuickChart server when
 * `quickchartUrl` is set, else (and whenever QuickChart fails) with Chart.js
 * on @napi-rs/canvas in this process. A QuickChart outage is logged once as a
 * warning, not once per chart.
 */
export function createChartRenderer({
  quickchartUrl,
  logger,
  quickchartTimeoutMs = 15_000,
}: ChartRendererOptions): ChartRenderer {
  const remote = quickchartUrl ? quickChartTarget(quickchartUrl) : null;
  if (!remote) setUpChartJs();
  let remoteFailing = false;
  let closed = false;

  async function renderRemotely(spec: ChartSpec, width: number, height: number): Promise<Buffer> {
    const target = remote as NonNullable<typeof remote>;
    const chart = new QuickChart()
      .setHost(target.host)
      .setScheme(target.scheme)
      .setVersion('4')
      .setConfig(JSON.stringify(spec))
      .setWidth(width)
      .setHeight(height)
      .setDevicePixelRatio(devicePixelRatio)
      .setBackgroundColor(background)
      .setFormat('png');
    const png = await withTimeout(chart.toBinary(), quickchartTimeoutMs);
    if (!pngSize(png)) throw new Error(`QuickChart answered ${png.length} bytes that are not a PNG`);
    return png;
  }

  return {
    async render(spec, size) {
      if (closed) throw new Error('chart renderer is closed');
      const { width, height } = sizeOf(size);
      if (remote) {
        try {
          const png = await renderRemotely(spec, width, height);
          if (remoteFailing) {
            remoteFailing = false;
            logger.info({ quickchart: remote.origin }, 'QuickChart renders charts again');
          }
          return png;
        } catch (err) {
          if (remoteFailing) {
            logger.debug(
              { err, quickchart: remote.origin },
              'QuickChart still failing, chart rendered locally',
            );
          } else {
            remoteFailing = true;
            logger.warn(
              { err, quickchart: remote.origin },
              'QuickChart failed; charts are rendered locally until it answers again',
            );
          }
        }
      }
      return renderLocally(spec, width, height);
    },
    close() {
      closed = true;
    },
  };
}
