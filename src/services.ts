import { ChatOpenAI } from '@langchain/openai';
import { createAnswerEngine } from './agent/engine.ts';
import { createLlmAgent } from './agent/llm/agent.ts';
import { coreMetricTools, ToolRegistry } from './agent/registry.ts';
import type { Identity } from './bot/access.ts';
import { createBreakdownNotifier } from './bot/breakdowns.ts';
import { type ChartMaker, createConversationCore } from './bot/core.ts';
import { createMessengerRouter } from './bot/router.ts';
import { createChartRenderer, renderEnvelopeChart } from './charts/index.ts';
import { createDigestBuilder } from './digests/content.ts';
import { AppError } from './errors.ts';
import type { App } from './main.ts';
import { ADMIN, type Caller } from './metrics/types.ts';

/** The console is the operator's seat: it talks as an admin bound to this identity. */
export const CONSOLE_IDENTITY: Identity = {
  channel: 'console',
  externalId: 'local',
  chatId: 'local',
  displayName: 'Администратор',
};

/**
 * Builds the answering stack once: tool registry, LLM client (if configured),
 * chart renderer (local, or QuickChart when configured), answer engine,
 * conversation core.
 */
export function createServices(app: App) {
  const renderer = createChartRenderer({ quickchartUrl: app.config.quickchartUrl, logger: app.logger });
  const chart: ChartMaker = async (envelope) => (await renderEnvelopeChart(renderer, envelope))?.png ?? null;
  const registry = new ToolRegistry(coreMetricTools);
  const llmConfig = app.config.llm;
  const llm = llmConfig
    ? createLlmAgent({
        model: new ChatOpenAI({
          model: llmConfig.model,
          apiKey: llmConfig.apiKey,
          configuration: llmConfig.baseUrl ? { baseURL: llmConfig.baseUrl } : {},
          timeout: llmConfig.timeoutMs,
          maxRetries: 1,
          temperature: 0,
        }),
        registry,
        logger: app.logger,
        timeoutMs: llmConfig.timeoutMs,
      })
    : undefined;
  const engine = createAnswerEngine({
    db: app.db,
    tz: app.config.companyTz,
    now: app.now,
    logger: app.logger,
    registry,
    llm,
    callsPerDayNorm: app.config.callsPerDayNorm,
  });
  const router = createMessengerRouter();
  const digestBuilder = createDigestBuilder({
    db: app.db,
    registry,
    renderer,
    companyTz: app.config.companyTz,
    callsPerDayNorm: app.config.callsPerDayNorm,
    logger: app.logger.child({ part: 'digests' }),
  });
  const core = createConversationCore({
    digestBuilder,
    sendToUser: (to, reply) => router.send(to, reply),
    db: app.db,
    engine,
    registry,
    tz: app.config.companyTz,
    now: app.now,
    logger: app.logger,
    chart,
  });
  const breakdownReady = createBreakdownNotifier({
    db: app.db,
    send: (to, reply) => router.send(to, reply),
    breakdownSender: (channel) => router.breakdownSender(channel),
    logger: app.logger,
    now: app.now,
  });
  return { registry, engine, core, llm, renderer, chart, router, breakdownReady };
}

export type Services = ReturnType<typeof createServices>;

/** Makes sure the console identity is an admin bot user. */
export async function ensureConsoleAdmin(app: App): Promise<void> {
  const rows = await app.db.query(
    `SELECT 1 FROM messenger_identities WHERE channel = 'console' AND external_id = 'local'`,
  );
  if (rows.length > 0) return;
  await app.db.transaction(async (tx) => {
    const [u] = await tx.query<{ id: number }>(
      `INSERT INTO bot_users (name, role, preferred_channel) VALUES ('Администратор (консоль)', 'admin', 'console') RETURNING id`,
    );
    await tx.query(
      `INSERT INTO messenger_identities (user_id, channel, external_id, chat_id) VALUES ($1, 'console', 'local', 'local')
       ON CONFLICT DO NOTHING`,
      [u!.id],
    );
  });
}

/** `--as admin` or `--as MANAGER_ID`: whose eyes a CLI question is asked with. */
export async function callerFromFlag(app: App, as: string | undefined): Promise<Caller> {
  if (!as || as === 'admin') return ADMIN;
  const [m] = await app.db.query<{ id: string; role: Caller['role'] }>(
    'SELECT id, role FROM managers WHERE id = $1',
    [as],
  );
  if (!m) throw new AppError('unknown_manager', `No manager ${as}`, `Менеджер с id «${as}» не найден.`);
  return { role: m.role, managerId: m.id };
}
