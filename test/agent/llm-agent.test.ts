import { ChatOpenAI } from '@langchain/openai';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createAnswerEngine } from '../../src/agent/engine.ts';
import { createLlmAgent } from '../../src/agent/llm/agent.ts';
import { unverifiedNumbers } from '../../src/agent/llm/verify.ts';
import { coreMetricTools, ToolRegistry } from '../../src/agent/registry.ts';
import { silentLogger } from '../../src/logger.ts';
import { ADMIN, type Caller } from '../../src/metrics/types.ts';
import { createTestDb, drivers, type TestDb } from '../helpers/db.ts';
import { DEMO_NOW, loadDemo } from '../helpers/demo.ts';
import { type ChatRequest, startFakeOpenAI } from '../helpers/fake-openai.ts';

const driver = drivers.at(-1)!;
/** A question the offline parser does not understand, so it goes to the LLM. */
const VAGUE = 'ну и как оно там вообще?';

/** The JSON a tool returned to the model, read from the conversation the model was sent. */
function toolResult(req: ChatRequest): {
  figures: Record<string, number | null>;
  period: { from: string; to: string };
} {
  const msg = [...req.messages].reverse().find((m) => m.role === 'tool');
  return JSON.parse(String(msg?.content));
}

describe(`LLM answer agent against a fake OpenAI-compatible server (${driver})`, () => {
  let db: TestDb;
  let fake: Awaited<ReturnType<typeof startFakeOpenAI>>;
  const registry = new ToolRegistry(coreMetricTools);

  const engineFor = (timeoutMs = 10_000) => {
    const model = new ChatOpenAI({
      model: 'fake-model',
      apiKey: 'test-key',
      configuration: { baseURL: fake.baseURL },
      maxRetries: 0,
      timeout: timeoutMs,
    });
    const llm = createLlmAgent({ model, registry, logger: silentLogger, timeoutMs });
    return createAnswerEngine({
      db,
      tz: 'Europe/Moscow',
      now: () => DEMO_NOW,
      logger: silentLogger,
      registry,
      llm,
    });
  };
  const ask = (q: string, caller: Caller = ADMIN, timeoutMs?: number) =>
    engineFor(timeoutMs).ask(q, { caller });

  beforeAll(async () => {
    db = await createTestDb(driver);
    await loadDemo(db);
    fake = await startFakeOpenAI();
  }, 180_000);
  afterAll(async () => {
    await fake?.close();
    await db?.dispose();
  });
  beforeEach(() => {
    fake.requests.length = 0;
  });

  it('calls a metric tool and answers with its numbers', async () => {
    fake.push(
      {
        toolCalls: [
          { name: 'lead_stats', args: { period: { name: 'last_week' }, filters: { sources: ['Авито'] } } },
        ],
      },
      (req) => {
        const r = toolResult(req);
        return { content: `За прошлую неделю с Авито поступило ${r.figures.received} лидов.` };
      },
    );
    const r = await ask(VAGUE);
    expect(r.engine).toBe('llm');
    expect(r.calls).toHaveLength(1);
    expect(r.calls[0]).toMatchObject({
      tool: 'lead_stats',
      result: { period: { from: '2026-11-16', to: '2026-11-22' } },
    });
    expect(r.answer).toBe(
      `За прошлую неделю с Авито поступило ${r.calls[0]!.result.figures.received} лидов.`,
    );
    // The model was offered every tool with a schema, and told the date, zone and scope in Russian.
    const first = fake.requests[0]!;
    expect(first.tools?.map((t) => t.function.name)).toEqual(
      expect.arrayContaining(['lead_stats', 'forgotten_deals', 'plan_progress']),
    );
    const content = first.messages.find((m) => m.role === 'system')?.content;
    const system = typeof content === 'string' ? content : JSON.stringify(content);
    expect(system).toContain('Сегодня 2026-11-23');
    expect(system).toContain('Europe/Moscow');
    expect(system).toContain('администратор');
  });

  it('never lets an invented number through: regenerates, then falls back to the tool result wording', async () => {
    fake.push(
      { toolCalls: [{ name: 'deal_stats', args: { period: { name: 'this_month' } } }] },
      { content: 'В этом месяце выиграно 987654 сделок.' },
      { content: 'Ой, точнее 123456789 сделок.' },
    );
    const r = await ask(VAGUE);
    expect(r.engine).toBe('llm');
    expect(r.answer).not.toContain('987654');
    expect(r.answer).not.toContain('123456789');
    expect(r.answer).toContain('Сделки — ');
    // The second request told the model which numbers were not in the tool results.
    const correction = fake.requests
      .map((q) => q.messages.at(-1)?.content)
      .find((c) => String(c).includes('987654'));
    expect(String(correction)).toMatch(/чисел.*нет в результатах|нет в результатах/);
  });

  it('passes a tool error back to the model instead of failing', async () => {
    fake.push(
      { toolCalls: [{ name: 'calls_stats', args: { filters: { managers: ['Иван Несуществующий'] } } }] },
      (req) => {
        const tool = [...req.messages].reverse().find((m) => m.role === 'tool');
        return {
          content: String(tool?.content).includes('Несуществующий')
            ? 'Такого менеджера нет в CRM.'
            : 'нет ошибки',
        };
      },
    );
    const r = await ask(VAGUE);
    expect(r.answer).toBe('Такого менеджера нет в CRM.');
  });

  it('cannot widen a manager’s scope: a colleague’s figures come back as an error, not numbers', async () => {
    fake.push(
      { toolCalls: [{ name: 'calls_stats', args: { filters: { managers: ['Марина Соколова'] } } }] },
      (req) => {
        const tool = [...req.messages].reverse().find((m) => m.role === 'tool');
        return {
          content: String(tool?.content).includes('недоступны') ? 'Эти данные вам недоступны.' : 'утечка',
        };
      },
    );
    const r = await ask(VAGUE, { role: 'manager', managerId: 'M-5' });
    expect(r.answer).toBe('Эти данные вам недоступны.');
    expect(r.calls).toHaveLength(0);
  });

  it('answers with a clear Russian message when the LLM times out', async () => {
    fake.push({ delayMs: 3_000, reply: { content: 'слишком поздно' } });
    const t0 = Date.now();
    const r = await ask(VAGUE, ADMIN, 500);
    expect(Date.now() - t0).toBeLessThan(2_500);
    expect(r.engine).toBe('llm');
    expect(r.answer).toMatch(/языковая модель сейчас недоступна/);
  });

  it('answers with a clear Russian message when the LLM server fails', async () => {
    fake.push({ status: 500 });
    const r = await ask(VAGUE);
    expect(r.answer).toMatch(/языковая модель сейчас недоступна/);
  });

  it('does not call the LLM when the parser is confident', async () => {
    const r = await ask('сколько лидов пришло вчера');
    expect(r.engine).toBe('parser');
    expect(fake.requests).toHaveLength(0);
  });
});

describe('number verification', () => {
  const result = {
    figures: { won_amount: 1234567.5, win_rate: 0.1843, talk_time_avg: 227, received: 59 },
    period: { from: '2026-11-16', to: '2026-11-22' },
  };
  it('accepts numbers as people write them', () => {
    expect(
      unverifiedNumbers(
        'Продажи 1 234 568 ₽, конверсия 18,4 %, разговор 3:47, 59 лидов за 16–22 ноября 2026',
        [result],
      ),
    ).toEqual([]);
    expect(unverifiedNumbers('около 1,2 млн ₽', [result])).toEqual([]);
  });
  it('flags numbers that are in no result', () => {
    expect(unverifiedNumbers('конверсия 21 %, лидов 60', [result])).toEqual(['21', '60']);
  });
});
