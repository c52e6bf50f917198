import { type ChildProcess, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const bin = path.resolve('bin/voronka');
const home = fs.mkdtempSync(path.join(os.tmpdir(), 'voronka-cli-'));
// The operator's CLI on the embedded database, whatever the suite's DATABASE_URL.
const env = {
  ...process.env,
  VORONKA_HOME: home,
  DATABASE_URL: '',
  LOG_LEVEL: 'warn',
  TELEGRAM_BOT_TOKEN: '',
};

function run(
  args: string[],
  input = '',
  cwd = os.tmpdir(),
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(bin, args, { env, cwd });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => {
      stdout += d;
    });
    child.stderr.on('data', (d) => {
      stderr += d;
    });
    child.on('close', (code) => resolve({ code, stdout, stderr }));
    child.stdin.end(input);
  });
}

describe('voronka CLI on the embedded database', () => {
  let first: Awaited<ReturnType<typeof run>>;
  beforeAll(async () => {
    first = await run(['start'], '/stats\nсколько забытых сделок у Алексея Чуркина\n');
  }, 120_000);
  afterAll(() => fs.rmSync(home, { recursive: true, force: true }));

  it('first start loads the demo company and answers in the console, from any directory', () => {
    expect(first.code).toBe(0);
    expect(first.stdout).toContain('База пуста: создаю демо-данные');
    expect(first.stdout).toMatch(/Демо-данные загружены: \d+ записей/);
    expect(first.stdout).toMatch(/• звонки: \d[\d ]+/);
    expect(first.stdout).toMatch(/Забытые сделки — .*Алексей Чуркин/);
  });

  it('a second start reuses the data', async () => {
    const again = await run(['start'], '/stats\n');
    expect(again.code).toBe(0);
    expect(again.stdout).not.toContain('База пуста');
    expect(again.stdout).toContain('Загруженные данные');
  }, 60_000);

  it('ask --json answers follow-ups in one chat, one JSON line per question', async () => {
    const r = await run(
      ['ask', '--json', '--now', '2026-11-23T10:00:00+03:00'],
      'сколько лидов пришло вчера\nа за прошлую неделю?\n',
    );
    expect(r.code).toBe(0);
    const lines = r.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatchObject({
      engine: 'parser',
      intent: 'lead_stats',
      slots: { period: 'yesterday' },
    });
    expect(lines[1]).toMatchObject({ intent: 'lead_stats', slots: { period: 'last_week' } });
    expect(lines[1].calls[0]).toMatchObject({
      tool: 'lead_stats',
      result: { metric: 'lead_stats', period: { from: '2026-11-16', to: '2026-11-22' } },
    });
    expect(typeof lines[1].calls[0].result.figures.received).toBe('number');
  }, 60_000);

  it('tool prints an envelope whose figures match the answer to the same question', async () => {
    const r = await run([
      'tool',
      'lead_stats',
      '{"period":{"name":"last_week"}}',
      '--json',
      '--now',
      '2026-11-23T10:00:00+03:00',
    ]);
    expect(r.code).toBe(0);
    const env = JSON.parse(r.stdout);
    const asked = await run([
      'ask',
      'сколько лидов пришло за прошлую неделю',
      '--json',
      '--now',
      '2026-11-23T10:00:00+03:00',
    ]);
    expect(JSON.parse(asked.stdout).calls[0].result.figures).toEqual(env.figures);
  }, 60_000);

  it('a manager caller cannot see a colleague', async () => {
    const r = await run([
      'tool',
      'calls_stats',
      '{"filters":{"managers":["Марина Соколова"]}}',
      '--as',
      'M-5',
    ]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/недоступны/);
  }, 60_000);

  it('import exits non-zero and prints file:line: reason when records are rejected', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'voronka-cli-import-'));
    fs.writeFileSync(path.join(dir, 'sources.jsonl'), '{"id":"S-new","name":"Выставка"}\n{"id":"S-bad"}\n');
    const rejects = path.join(dir, 'rejects.jsonl');
    const r = await run(['import', dir, '--rejects', rejects]);
    expect(r.code).toBe(1);
    expect(r.stdout).toContain('sources.jsonl:2: missing required field name');
    expect(r.stdout).toMatch(/sources\s+1\s+0\s+0\s+0\s+1/);
    expect(r.stdout).toMatch(/rows\/s/);
    expect(fs.readFileSync(rejects, 'utf8')).toContain('"reason":"missing required field name"');
  }, 60_000);

  it('refuses to open the embedded database while `start` owns it, with a clear message', async () => {
    const child: ChildProcess = spawn(bin, ['start'], { env, stdio: ['pipe', 'pipe', 'pipe'] });
    await new Promise<void>((resolve) => {
      child.stdout!.on('data', (d) => {
        if (String(d).includes('Voronka готова')) resolve();
      });
    });
    const r = await run(['tool', 'calls_stats']);
    child.stdin!.end();
    await new Promise((resolve) => child.on('close', resolve));
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/занята процессом \d+/);
  }, 60_000);

  it('a bad setting stops start-up with a message naming the variable', async () => {
    const bad = await new Promise<{ code: number | null; stderr: string }>((resolve) => {
      const child = spawn(bin, ['migrate'], { env: { ...env, COMPANY_TZ: 'Mars/Olympus' } });
      let stderr = '';
      child.stderr.on('data', (d) => {
        stderr += d;
      });
      child.on('close', (code) => resolve({ code, stderr }));
    });
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toContain('COMPANY_TZ');
  });
});
