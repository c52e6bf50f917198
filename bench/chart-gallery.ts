/**
 * Renders one chart of every form from demo data into docs/charts/ and writes
 * docs/charts.md, so admins see what the bot sends.
 *
 *   DATABASE_URL=postgres://…/bench_medium npx tsx bench/chart-gallery.ts   (a database with a demo loaded)
 *   npx tsx bench/chart-gallery.ts                                           (generates the small demo in memory)
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { coreMetricTools, ToolRegistry } from '../src/agent/registry.ts';
import { analyzeOffline } from '../src/analysis/offline/analyzer.ts';
import { parseTranscript } from '../src/analysis/transcript.ts';
import { createChartRenderer, renderEnvelopeChart } from '../src/charts/index.ts';
import { loadConfig } from '../src/config.ts';
import { migrate, openDb } from '../src/db/client.ts';
import { generateDemo } from '../src/ingest/demo/index.ts';
import { importDirectory } from '../src/ingest/import.ts';
import { createLogger } from '../src/logger.ts';
import { previousPeriod, resolvePeriod } from '../src/metrics/period.ts';
import { ADMIN, type Envelope, type ToolInput } from '../src/metrics/types.ts';

const now = new Date(process.argv[2] ?? '2026-11-23T10:00:00+03:00');
const tz = 'Europe/Moscow';
const logger = createLogger('warn');
const config = loadConfig();
const db = await openDb({ databaseUrl: config.databaseUrl });
await migrate(db);
const [{ n }] = (await db.query<{ n: number }>('SELECT count(*) AS n FROM managers')) as [{ n: number }];
if (Number(n) === 0) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gallery-'));
  await generateDemo({ outDir: dir, scale: 'small', seed: 42, now });
  await importDirectory(db, { dir, logger });
}
// The objections chart needs call breakdowns: analyze the demo's transcripts offline, as `voronka analyze` would.
const [{ analyzed }] = (await db.query<{ analyzed: number }>(
  'SELECT count(*) AS analyzed FROM call_analyses',
)) as [{ analyzed: number }];
if (Number(analyzed) === 0) {
  const rows = await db.query<{ id: string; direction: 'in' | 'out'; transcript: unknown }>(
    'SELECT id, direction, transcript FROM calls WHERE transcript IS NOT NULL',
  );
  for (const r of rows) {
    const b = analyzeOffline(parseTranscript(r.transcript as string), {
      callId: r.id,
      direction: r.direction,
    });
    await db.query(
      `INSERT INTO call_analyses (call_id, analyzer, breakdown, confidence, readiness, churn_risk)
       VALUES ($1, $2, $3::jsonb, $4, $5, $6) ON CONFLICT DO NOTHING`,
      [r.id, b.analyzer, JSON.stringify(b), b.confidence, b.readiness, b.churn_risk],
    );
  }
}
const [{ calls }] = (await db.query<{ calls: number }>('SELECT count(*) AS calls FROM calls')) as [
  { calls: number },
];

const registry = new ToolRegistry(coreMetricTools);
const renderer = createChartRenderer({ logger });
const out = path.resolve('docs/charts');
fs.mkdirSync(out, { recursive: true });

const forms: Array<{
  file: string;
  title: string;
  question: string;
  tool: string;
  input: ToolInput;
  previous?: boolean;
}> = [
  {
    file: 'bar',
    title: 'Столбцы по менеджерам',
    question: 'звонки за неделю по менеджерам',
    tool: 'calls_stats',
    input: { period: { name: 'last_7_days' }, group_by: 'manager' },
  },
  {
    file: 'line',
    title: 'Динамика по дням с прошлым периодом пунктиром',
    question: 'звонки за месяц по дням',
    tool: 'calls_stats',
    input: { period: { name: 'last_month' }, group_by: 'day' },
    previous: true,
  },
  {
    file: 'stacked',
    title: 'Состояние лидов по источникам',
    question: 'лиды за месяц по источникам',
    tool: 'lead_stats',
    input: { period: { name: 'last_month' }, group_by: 'source' },
  },
  {
    file: 'channels',
    title: 'Звонки по каналам',
    question: 'звонки по каналам за месяц',
    tool: 'calls_stats',
    input: { period: { name: 'last_month' }, group_by: 'channel' },
  },
  {
    file: 'doughnut',
    title: 'Доли: продажи по воронкам',
    question: 'продажи за квартал по воронкам',
    tool: 'deal_stats',
    input: { period: { name: 'this_quarter' }, group_by: 'pipeline' },
  },
  {
    file: 'funnel',
    title: 'Воронка: конверсия по этапам',
    question: 'конверсия по этапам воронки за полгода',
    tool: 'stage_funnel',
    input: { period: { name: 'last_6_months' } },
  },
  {
    file: 'hours',
    title: 'Звонки по часам',
    question: 'в какие часы больше всего звонят',
    tool: 'calls_by_time',
    input: { period: { name: 'last_30_days' }, by: 'hour' },
  },
  {
    file: 'weekdays',
    title: 'Звонки по дням недели',
    question: 'звонки по дням недели за квартал',
    tool: 'calls_by_time',
    input: { period: { name: 'this_quarter' }, by: 'weekday' },
  },
  {
    file: 'plan',
    title: 'План и факт с прогнозом по темпу',
    question: 'выполнение плана за этот месяц по менеджерам',
    tool: 'plan_progress',
    input: { period: { name: 'this_month' }, group_by: 'manager' },
  },
  {
    file: 'tasks',
    title: 'Исполнительность с нормой 64 %',
    question: 'коэффициент исполнительности по менеджерам за месяц',
    tool: 'task_discipline',
    input: { period: { name: 'last_month' }, group_by: 'manager' },
  },
  {
    file: 'objections',
    title: 'Топ возражений',
    question: 'какие возражения чаще всего слышим',
    tool: 'call_quality',
    input: { period: { name: 'last_6_months' }, aspect: 'objections' },
  },
  {
    file: 'empty',
    title: 'Нет данных за период',
    question: 'звонки 1 января 2020 по менеджерам',
    tool: 'calls_stats',
    input: { period: { from: '2020-01-01', to: '2020-01-01' }, group_by: 'manager' },
  },
];

const lines = [
  '# Графики',
  '',
  'Так выглядят графики, которые бот присылает вместе с ответом и в сводках. Картинки построены на демо-данных',
  `(${Number(calls).toLocaleString('ru-RU')} звонков, на ${now.toISOString().slice(0, 10)}) командой \`npx tsx bench/chart-gallery.ts\`.`,
  '',
];
for (const f of forms) {
  const tool = registry.get(f.tool);
  if (!tool) {
    console.log(`skip ${f.file}: tool ${f.tool} is not registered`);
    continue;
  }
  const ctx = { db, caller: ADMIN, tz, now };
  const envelope = await tool.run(ctx, f.input);
  let previous: Envelope | undefined;
  if (f.previous && f.input.period) {
    const p = previousPeriod(resolvePeriod(f.input.period, { now, tz }), tz);
    previous = await tool.run(ctx, { ...f.input, period: { from: p.from, to: p.to } });
  }
  const chart = await renderEnvelopeChart(renderer, envelope, previous ? { previous } : {});
  if (!chart) {
    console.log(`skip ${f.file}: no chart for this result`);
    continue;
  }
  fs.writeFileSync(path.join(out, `${f.file}.png`), chart.png);
  lines.push(`## ${f.title}`, '', `Вопрос: «${f.question}»`, '', `![${f.title}](charts/${f.file}.png)`, '');
  console.log(`${f.file}.png`);
}
fs.writeFileSync(path.resolve('docs/charts.md'), `${lines.join('\n')}`);
renderer.close();
await db.close();
