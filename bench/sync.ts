/**
 * Sync benchmarks: `npx tsx bench/sync.ts [--scale 2] [--calls 40] [--demo small|none]`.
 *
 * 1. Full sync throughput of Bitrix24 and amoCRM against the loopback fakes
 *    of the tests. The fakes enforce the real limits on a virtual clock, so
 *    the waiting the limits impose is counted rather than slept: projected
 *    time = wall time + the waits. The bound the source sets:
 *    Bitrix24 2 req/s × batch of 50 lists × 50 records = 5 000 records/s
 *    (timeline comments: one list per lead or deal, 100 of them a second);
 *    amoCRM 7 req/s × 250 records = 1 750 records/s (events: 700/s).
 * 2. The delay from a call-end webhook to the call stored and handed to
 *    `onCallsStored` (where the analysis job is queued), on a database that
 *    holds the demo company: telephony `generic` and Bitrix24
 *    ONVOXIMPLANTCALLEND (which fetches the call from the portal first).
 *    Target: p95 ≤ 1 s.
 *
 * DATABASE_URL selects PostgreSQL (a scratch database is created and
 * dropped); without it the embedded PGlite is used.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import postgres from 'postgres';
import { loadConfig } from '../src/config.ts';
import { type Db, migrate, openDb } from '../src/db/client.ts';
import { generateDemo } from '../src/ingest/demo/index.ts';
import { importDirectory } from '../src/ingest/import.ts';
import { crmWebhookRoutes, type SyncSource, syncSource } from '../src/ingest/sync.ts';
import { telephonyRoutes } from '../src/ingest/telephony/index.ts';
import { silentLogger } from '../src/logger.ts';
import { createHttpServer } from '../src/server/http.ts';
import { FakeAmocrm } from '../test/fixtures/amocrm/fake-amocrm.ts';
import { buildAmoWorld } from '../test/fixtures/amocrm/world.ts';
import { b24Time, eventBody, FakePortal } from '../test/fixtures/bitrix24/fake-portal.ts';
import { virtualClock } from '../test/fixtures/bitrix24/sync-helpers.ts';
import { buildBitrixWorld } from '../test/fixtures/bitrix24/world.ts';

const { values } = parseArgs({
  options: {
    scale: { type: 'string', default: '2' },
    calls: { type: 'string', default: '40' },
    demo: { type: 'string', default: 'small' },
  },
});
const scale = Number(values.scale);
const callCount = Number(values.calls);
const databaseUrl = loadConfig().databaseUrl;

async function scratchDb(): Promise<{ db: Db; drop: () => Promise<void> }> {
  if (!databaseUrl) {
    const db = await openDb({});
    await migrate(db);
    return { db, drop: () => db.close() };
  }
  const name = `voronka_bench_${Math.random().toString(36).slice(2, 10)}`;
  const admin = postgres(databaseUrl, { max: 1, onnotice: () => {} });
  await admin.unsafe(`CREATE DATABASE ${name}`);
  const url = new URL(databaseUrl);
  url.pathname = `/${name}`;
  const db = await openDb({ databaseUrl: url.toString() });
  await migrate(db);
  return {
    db,
    drop: async () => {
      await db.close();
      await admin.unsafe(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await admin.end();
    },
  };
}

const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)]!;
};
const fmt = (n: number) => (n >= 100 ? Math.round(n).toLocaleString('en-US') : n.toFixed(1));

async function throughput(source: SyncSource) {
  const { db, drop } = await scratchDb();
  const clock = virtualClock();
  try {
    let url: string;
    let stop: () => Promise<void>;
    let requests: () => number;
    let refusals: () => number;
    if (source === 'bitrix24') {
      const fake = new FakePortal(buildBitrixWorld(7, scale).data, clock.ms);
      url = await fake.start();
      stop = () => fake.stop();
      requests = () => fake.httpRequests;
      refusals = () => fake.limitRefusals;
    } else {
      const fake = new FakeAmocrm(buildAmoWorld(5).data, clock.ms);
      url = await fake.start();
      stop = () => fake.stop();
      requests = () => fake.log.length;
      refusals = () => fake.refusals;
    }
    const t0 = performance.now();
    const cfg =
      source === 'bitrix24'
        ? { webhookUrl: url, appToken: undefined }
        : { baseUrl: url, token: 'long-lived-token-xyz', webhookSecret: undefined };
    const report = await syncSource(
      { db, logger: silentLogger, now: clock.now, sleep: clock.sleep },
      source,
      cfg,
      { full: true },
    );
    const wall = (performance.now() - t0) / 1000;
    const waited = clock.slept() / 1000;
    const records = Object.values(report.fetched).reduce((a, b) => a + b, 0);
    await stop();
    return {
      source,
      records,
      requests: requests(),
      refusals: refusals(),
      wall,
      waited,
      perSec: records / (wall + waited),
      rejected: report.rejected,
    };
  } finally {
    await drop();
  }
}

async function callDelays() {
  const { db, drop } = await scratchDb();
  const clock = virtualClock();
  const world = buildBitrixWorld(3, 0.05);
  const portal = new FakePortal(world.data, clock.ms);
  const webhookUrl = await portal.start();
  let sentAt = 0;
  let queuedAt = 0;
  const onCallsStored = async () => {
    queuedAt = performance.now();
  };
  try {
    let demoRows = 0;
    if (values.demo !== 'none') {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'voronka-bench-demo-'));
      await generateDemo({
        outDir: dir,
        scale: values.demo as 'small',
        seed: 42,
        now: new Date('2026-03-10T09:00:00Z'),
      });
      demoRows = (await importDirectory(db, { dir, logger: silentLogger })).rows;
      fs.rmSync(dir, { recursive: true, force: true });
      // PGlite has no autovacuum: without statistics the last-activity refresh plans badly.
      await db.exec('ANALYZE');
    }
    const deps = { db, logger: silentLogger, now: clock.now, sleep: clock.sleep, onCallsStored };
    const cfg = { webhookUrl, appToken: 'bench-token' };
    const server = createHttpServer({
      logger: silentLogger,
      routes: [
        ...telephonyRoutes({ db, logger: silentLogger, secret: 'bench', tz: 'Europe/Moscow', onCallsStored }),
        ...crmWebhookRoutes({ ...deps, config: { bitrix24: cfg, amocrm: undefined } }),
      ],
    });
    const base = (await server.listen(0, '127.0.0.1')).url;
    const telephony: number[] = [];
    const bitrix: number[] = [];
    for (let i = 0; i < callCount; i++) {
      const call = {
        id: `bench-${i}`,
        direction: i % 2 ? 'in' : 'out',
        started_at: new Date(Date.parse('2026-03-10T09:00:00Z') + i * 60_000).toISOString(),
        duration_sec: 30 + i,
        status: 'answered',
        client_phone: `7916${String(1_000_000 + i).slice(-7)}`,
        recording_url: `https://pbx.example/${i}.mp3`,
      };
      sentAt = performance.now();
      const res = await fetch(`${base}/hooks/telephony/generic`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-voronka-secret': 'bench' },
        body: JSON.stringify(call),
      });
      if (res.status !== 200)
        throw new Error(`telephony webhook answered ${res.status}: ${await res.text()}`);
      telephony.push(queuedAt - sentAt);

      const callId = `externalCall.bench.${i}`;
      const startedAt = clock.ms() - 60_000;
      world.data.stats.push({
        ...world.data.stats[0]!,
        ID: String(world.data.stats.length + 1),
        CALL_ID: callId,
        CALL_START_DATE: b24Time(startedAt),
        CALL_FAILED_CODE: '200',
        CALL_DURATION: '60',
        CRM_ACTIVITY_ID: null,
      });
      sentAt = performance.now();
      const ev = await fetch(`${base}/hooks/bitrix24`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: eventBody(
          'ONVOXIMPLANTCALLEND',
          { CALL_ID: callId, CALL_TYPE: '2', CALL_START_DATE: b24Time(startedAt) },
          'bench-token',
        ),
      });
      if (ev.status !== 200) throw new Error(`bitrix24 webhook answered ${ev.status}`);
      bitrix.push(queuedAt - sentAt);
    }
    await server.close();
    return { demoRows, telephony, bitrix };
  } finally {
    await portal.stop();
    await drop();
  }
}

const driver = databaseUrl ? 'PostgreSQL' : 'PGlite';
console.log(
  `# Sync benchmark (${driver}, Node ${process.version}, ${os.cpus().length} CPUs, load ${os.loadavg()[0]!.toFixed(1)})\n`,
);
console.log('## Full sync throughput (limits enforced by the fakes on a virtual clock)\n');
console.log(
  '| source | records | HTTP requests | limit refusals | wall s | waits for the limit s | records/s | bound records/s |',
);
console.log('| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |');
for (const source of ['bitrix24', 'amocrm'] as const) {
  const r = await throughput(source);
  const bound = source === 'bitrix24' ? '5 000 (lists) / 100 (comments)' : '1 750 (events 700)';
  console.log(
    `| ${r.source} | ${r.records} | ${r.requests} | ${r.refusals} | ${fmt(r.wall)} | ${fmt(r.waited)} | ${fmt(r.perSec)} | ${bound} |`,
  );
}
console.log(`\n## Call-end webhook → stored and queued for analysis (${callCount} calls each)\n`);
const d = await callDelays();
console.log(`database: demo company, ${d.demoRows} rows${values.demo === 'none' ? ' (skipped)' : ''}\n`);
console.log('| webhook | p50 ms | p95 ms | max ms |');
console.log('| --- | ---: | ---: | ---: |');
for (const [name, xs] of [
  ['telephony generic', d.telephony],
  ['Bitrix24 ONVOXIMPLANTCALLEND', d.bitrix],
] as const) {
  console.log(`| ${name} | ${fmt(pct(xs, 50))} | ${fmt(pct(xs, 95))} | ${fmt(Math.max(...xs))} |`);
}
