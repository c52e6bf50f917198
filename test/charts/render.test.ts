import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createCanvas, loadImage } from '@napi-rs/canvas';
import { pino } from 'pino';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  type ChartRenderer,
  type ChartSpec,
  chartSpecFor,
  createChartRenderer,
  renderEnvelopeChart,
} from '../../src/charts/index.ts';
import { silentLogger } from '../../src/logger.ts';
import { envelope } from './envelopes.ts';

const signature = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];

/** Width and height straight from the IHDR chunk, after checking the 8-byte PNG signature. */
function pngDimensions(png: Buffer): { width: number; height: number } {
  expect([...png.subarray(0, 8)]).toEqual(signature);
  expect(png.toString('ascii', 12, 16)).toBe('IHDR');
  return { width: png.readUInt32BE(16), height: png.readUInt32BE(20) };
}

/** Decodes the PNG with Skia's decoder and returns its RGBA pixels. */
async function pixels(png: Buffer): Promise<{ data: Uint8ClampedArray; width: number; height: number }> {
  const image = await loadImage(png);
  const canvas = createCanvas(image.width, image.height);
  const ctx = canvas.getContext('2d');
  ctx.drawImage(image, 0, 0);
  return {
    data: ctx.getImageData(0, 0, image.width, image.height).data,
    width: image.width,
    height: image.height,
  };
}

function isWhite(data: Uint8ClampedArray, i: number): boolean {
  return data[i] === 255 && data[i + 1] === 255 && data[i + 2] === 255 && data[i + 3] === 255;
}

/** Share of non-white pixels inside a rectangle of the image. */
function inkIn(
  img: { data: Uint8ClampedArray; width: number },
  x0: number,
  y0: number,
  x1: number,
  y1: number,
): number {
  let ink = 0;
  for (let y = y0; y < y1; y++)
    for (let x = x0; x < x1; x++) if (!isWhite(img.data, (y * img.width + x) * 4)) ink++;
  return ink / ((x1 - x0) * (y1 - y0));
}

function chart(name: string, opts: Parameters<typeof chartSpecFor>[1] = {}): ChartSpec {
  const spec = chartSpecFor(envelope(name), opts);
  if (!spec) throw new Error(`no chart for ${name}`);
  return spec;
}

interface LogLine {
  level: number;
  msg: string;
}

function capturingLogger() {
  const lines: LogLine[] = [];
  const logger = pino(
    { level: 'debug' },
    { write: (line: string) => lines.push(JSON.parse(line) as LogLine) },
  );
  return { logger, warnings: () => lines.filter((l) => l.level === 40) };
}

describe('local renderer', () => {
  let renderer: ChartRenderer;
  beforeAll(() => {
    renderer = createChartRenderer({ logger: silentLogger });
  });
  afterAll(() => renderer.close());

  it('renders a 2000×1200 PNG by default (1000×600 at device pixel ratio 2)', async () => {
    const png = await renderer.render(chart('calls_by_manager'));
    expect(pngDimensions(png)).toEqual({ width: 2000, height: 1200 });
  });

  it('produces a PNG that decodes, with a white background and the chart drawn on it', async () => {
    const img = await pixels(await renderer.render(chart('deals_won_by_manager')));
    expect(img.width).toBe(2000);
    expect(isWhite(img.data, 0)).toBe(true);
    expect(isWhite(img.data, (img.width * img.height - 1) * 4)).toBe(true);
    expect(inkIn(img, 0, 0, 2000, 120)).toBeGreaterThan(0.01);
    expect(inkIn(img, 400, 200, 1600, 1100)).toBeGreaterThan(0.2);
  });

  it('renders at a requested size', async () => {
    const png = await renderer.render(chart('calls_by_day'), { width: 800, height: 450 });
    expect(pngDimensions(png)).toEqual({ width: 1600, height: 900 });
  });

  it('renders every chart form', async () => {
    const forms: [string, Parameters<typeof chartSpecFor>[1]][] = [
      ['calls_by_day', { previous: envelope('calls_by_day_prev') }],
      ['leads_by_source', {}],
      ['calls_by_channel', {}],
      ['stage_funnel', {}],
      ['calls_by_hour', {}],
      ['plan_progress', {}],
      ['plan_progress_company', {}],
      ['task_discipline', {}],
      ['call_quality_objections', {}],
    ];
    for (const [name, opts] of forms) {
      const img = await pixels(await renderer.render(chart(name, opts)));
      expect({ name, width: img.width, height: img.height }).toEqual({ name, width: 2000, height: 1200 });
      expect(inkIn(img, 200, 300, 1800, 1100)).toBeGreaterThan(0.03);
    }
  });

  it('draws "Нет данных за период" in the middle of an otherwise empty image', async () => {
    const img = await pixels(await renderer.render(chart('leads_by_source_empty')));
    expect({ width: img.width, height: img.height }).toEqual({ width: 2000, height: 1200 });
    expect(inkIn(img, 300, 0, 1700, 110)).toBeGreaterThan(0.02);
    expect(inkIn(img, 300, 420, 1700, 640)).toBeGreaterThan(0.02);
    expect(inkIn(img, 0, 800, 2000, 1200)).toBe(0);
  });

  it('renders concurrent charts independently', async () => {
    const pngs = await Promise.all([
      renderer.render(chart('calls_by_manager')),
      renderer.render(chart('stage_funnel')),
      renderer.render(chart('calls_by_manager')),
    ]);
    expect(pngs.map(pngDimensions)).toEqual(Array(3).fill({ width: 2000, height: 1200 }));
    expect(pngs[0]?.equals(pngs[2] as Buffer)).toBe(true);
    expect(pngs[0]?.equals(pngs[1] as Buffer)).toBe(false);
  });

  it('renders an envelope, or nothing when the answer is a single number', async () => {
    const drawn = await renderEnvelopeChart(renderer, envelope('task_discipline'));
    expect(drawn?.spec.type).toBe('bar');
    expect(pngDimensions(drawn?.png as Buffer)).toEqual({ width: 2000, height: 1200 });
    expect(await renderEnvelopeChart(renderer, envelope('calls_headline'))).toBeNull();
  });

  it('refuses sizes QuickChart would refuse', async () => {
    await expect(renderer.render(chart('calls_by_manager'), { width: 4000 })).rejects.toThrow(RangeError);
  });
});

interface ChartRequest {
  chart: string;
  width: number;
  height: number;
  format: string;
  version: string;
  backgroundColor: string;
  devicePixelRatio: number;
}

/** A QuickChart stand-in: POST /chart with the JSON body quickchart-js sends, answering a PNG or an error. */
class FakeQuickChart {
  readonly requests: ChartRequest[] = [];
  status = 200;
  /** Accept the request and never answer. */
  hang = false;
  body: Buffer = Buffer.alloc(0);
  private server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      if (req.method !== 'POST' || req.url !== '/chart') {
        res.writeHead(404).end();
        return;
      }
      this.requests.push(JSON.parse(Buffer.concat(chunks).toString('utf8')) as ChartRequest);
      if (this.hang) return;
      if (this.status !== 200) {
        res.writeHead(this.status, { 'x-quickchart-error': 'render failed' }).end('error');
        return;
      }
      res.writeHead(200, { 'content-type': 'image/png' }).end(this.body);
    });
  });

  async start(): Promise<string> {
    this.server.listen(0, '127.0.0.1');
    await once(this.server, 'listening');
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  async stop(): Promise<void> {
    this.server.closeAllConnections();
    this.server.close();
    await once(this.server, 'close');
  }
}

describe('QuickChart renderer', () => {
  const fake = new FakeQuickChart();
  let url: string;
  let served: Buffer;

  beforeAll(async () => {
    served = await createCanvas(30, 20).encode('png');
    url = await fake.start();
  });
  afterAll(() => fake.stop());
  afterEach(() => {
    fake.requests.length = 0;
    fake.status = 200;
    fake.hang = false;
  });

  it('asks QuickChart for a Chart.js 4 chart with the spec and returns its PNG', async () => {
    fake.body = served;
    const { logger, warnings } = capturingLogger();
    const renderer = createChartRenderer({ quickchartUrl: url, logger });
    const spec = chart('plan_progress');
    const png = await renderer.render(spec);
    expect(png.equals(served)).toBe(true);
    expect(fake.requests).toHaveLength(1);
    const request = fake.requests[0] as ChartRequest;
    expect(request).toMatchObject({
      version: '4',
      width: 1000,
      height: 600,
      format: 'png',
      backgroundColor: '#ffffff',
      devicePixelRatio: 2,
    });
    expect(JSON.parse(request.chart)).toEqual(spec);
    expect(warnings()).toEqual([]);
  });

  it('falls back to local rendering when QuickChart fails, warning once', async () => {
    fake.status = 500;
    const { logger, warnings } = capturingLogger();
    const renderer = createChartRenderer({ quickchartUrl: url, logger });
    const first = await renderer.render(chart('calls_by_manager'));
    const second = await renderer.render(chart('stage_funnel'));
    expect(fake.requests).toHaveLength(2);
    expect(pngDimensions(first)).toEqual({ width: 2000, height: 1200 });
    expect(pngDimensions(second)).toEqual({ width: 2000, height: 1200 });
    expect(warnings()).toHaveLength(1);
    expect(warnings()[0]?.msg).toMatch(/QuickChart/);
  });

  it('treats an answer that is not a PNG as a failure', async () => {
    fake.body = Buffer.from('<html>proxy error</html>');
    const { logger, warnings } = capturingLogger();
    const renderer = createChartRenderer({ quickchartUrl: url, logger });
    const png = await renderer.render(chart('calls_by_manager'));
    expect(pngDimensions(png)).toEqual({ width: 2000, height: 1200 });
    expect(warnings()).toHaveLength(1);
  });

  it('warns again after QuickChart came back and failed anew', async () => {
    const { logger, warnings } = capturingLogger();
    const renderer = createChartRenderer({ quickchartUrl: url, logger });
    fake.status = 500;
    await renderer.render(chart('calls_by_manager'));
    fake.status = 200;
    fake.body = served;
    expect((await renderer.render(chart('calls_by_manager'))).equals(served)).toBe(true);
    fake.status = 500;
    await renderer.render(chart('calls_by_manager'));
    expect(warnings()).toHaveLength(2);
  });

  it('stops waiting for a QuickChart that does not answer', async () => {
    fake.hang = true;
    const { logger, warnings } = capturingLogger();
    const renderer = createChartRenderer({ quickchartUrl: url, logger, quickchartTimeoutMs: 300 });
    const started = Date.now();
    const png = await renderer.render(chart('calls_by_manager'));
    expect(Date.now() - started).toBeLessThan(5000);
    expect(pngDimensions(png)).toEqual({ width: 2000, height: 1200 });
    expect(fake.requests).toHaveLength(1);
    expect(warnings()).toHaveLength(1);
  });

  it('falls back when nothing listens at the QuickChart address', async () => {
    const closed = new FakeQuickChart();
    const deadUrl = await closed.start();
    await closed.stop();
    const { logger, warnings } = capturingLogger();
    const renderer = createChartRenderer({ quickchartUrl: deadUrl, logger });
    expect(pngDimensions(await renderer.render(chart('calls_by_manager')))).toEqual({
      width: 2000,
      height: 1200,
    });
    expect(warnings()).toHaveLength(1);
  });
});
