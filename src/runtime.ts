import { createHmac } from 'node:crypto';
import path from 'node:path';
import type { Logger } from './logger.ts';
import type { App } from './main.ts';
import { createHttpServer, type HttpServer, type Route } from './server/http.ts';
import type { Services } from './services.ts';

/** Something `voronka start` runs until SIGTERM. */
export interface Runnable {
  name: string;
  stop(): Promise<void>;
}

/**
 * The Telegram webhook secret: configured, or derived from the bot token so
 * every process behind a load balancer registers and checks the same one.
 */
export function webhookSecret(token: string, configured: string | undefined): string {
  return (
    configured ?? createHmac('sha256', token).update('voronka-telegram-webhook').digest('hex').slice(0, 48)
  );
}

/**
 * Starts every configured adapter: Telegram (long polling, or a webhook when
 * PUBLIC_URL is set), WhatsApp, telephony and CRM webhooks, the CRM sync
 * scheduler, and the HTTP server they need. Returns what to stop.
 */
export async function startAdapters(
  app: App,
  services: Services,
  opts: { onCallsStored?: (callIds: string[]) => Promise<void> } = {},
): Promise<Runnable[]> {
  const running: Runnable[] = [];
  const routes: Route[] = [];
  const { config, logger } = app;
  // Webhooks are registered only once the HTTP server listens, so the first delivery finds it.
  const afterListen: Array<() => Promise<void>> = [];

  if (config.telegram) {
    const { createTelegramBot } = await import('./bot/telegram/index.ts');
    const tg = createTelegramBot({
      token: config.telegram.token,
      apiRoot: config.telegram.apiRoot,
      core: services.core,
      logger: logger.child({ adapter: 'telegram' }),
    });
    const { sendReply } = await import('./bot/telegram/index.ts');
    services.router.register('telegram', (chatId, reply) => sendReply(tg.bot.api, chatId, reply));
    if (config.publicUrl) {
      const { telegramWebhookRoute, TELEGRAM_WEBHOOK_PATH } = await import('./bot/telegram/webhook.ts');
      const secret = webhookSecret(config.telegram.token, config.telegram.webhookSecret);
      routes.push(telegramWebhookRoute(tg, secret, logger));
      const url = new URL(TELEGRAM_WEBHOOK_PATH, config.publicUrl).toString();
      afterListen.push(() => tg.startWebhook(url, secret));
    } else {
      await tg.startPolling();
      running.push({ name: 'telegram-polling', stop: () => tg.stop() });
    }
  }

  if (config.whatsapp) {
    const { createWhatsAppAdapter } = await import('./bot/whatsapp/index.ts');
    const wa = createWhatsAppAdapter({
      settings: config.whatsapp,
      db: app.db,
      core: services.core,
      logger: logger.child({ adapter: 'whatsapp' }),
      now: app.now,
    });
    routes.push(...wa.routes);
    services.router.register('whatsapp', wa.sendToChat, async (req) => {
      await wa.sendBreakdown(req);
    });
    wa.start();
    running.push({ name: 'whatsapp', stop: () => wa.stop() });
  }

  const syncDeps = {
    db: app.db,
    logger: logger.child({ part: 'sync' }),
    now: app.now,
    onCallsStored: opts.onCallsStored,
  };
  if (config.telephonySecret) {
    const { telephonyRoutes } = await import('./ingest/telephony/index.ts');
    routes.push(...telephonyRoutes({ ...syncDeps, secret: config.telephonySecret, tz: config.companyTz }));
  }
  if (config.bitrix24 || config.amocrm) {
    const { crmWebhookRoutes, startSyncScheduler } = await import('./ingest/sync.ts');
    routes.push(...crmWebhookRoutes({ ...syncDeps, config }));
    const scheduler = startSyncScheduler({ ...syncDeps, config });
    running.push({ name: 'sync', stop: () => scheduler.stop() });
  }

  if (routes.length > 0 || config.publicUrl) {
    const server: HttpServer = createHttpServer({
      routes,
      logger: logger.child({ adapter: 'http' }),
      health: async () => {
        await app.db.query('SELECT 1');
        return { db: app.db.kind };
      },
    });
    const { url } = await server.listen(config.port, '0.0.0.0');
    logger.info({ url }, 'HTTP server listening');
    running.push({ name: 'http', stop: () => server.close() });
    for (const register of afterListen) await register();
  }
  return running;
}

/**
 * The durable call-analysis pipeline (pg-boss in the same database), with
 * this process's workers: breakdown-ready events go to the messenger notifier.
 */
export async function startPipeline(app: App, services: Services, opts: { workers?: boolean } = {}) {
  const { startBoss } = await import('./jobs/boss.ts');
  const { createAnalysisPipeline } = await import('./analysis/pipeline/index.ts');
  const { analysisFromConfig } = await import('./analysis/setup.ts');
  const logger = app.logger.child({ part: 'analysis' });
  const boss = await startBoss(app.db, logger, { supervise: opts.workers !== false, schedule: false });
  const { analyzer, transcriber } = analysisFromConfig(app.config, logger);
  const pipeline = createAnalysisPipeline({
    db: app.db,
    boss,
    logger,
    analyzer,
    transcriber,
    now: app.now,
    onBreakdownReady: services.breakdownReady,
  });
  if (opts.workers !== false) await pipeline.start();
  const runnable: Runnable = {
    name: 'analysis',
    async stop() {
      await pipeline.stop();
      await boss.stop({ graceful: true, timeout: 5_000 });
    },
  };
  return { pipeline, runnable, boss };
}

/** Digests and alerts: scheduler and delivery worker on the same pg-boss, senders per channel. */
export async function startDigests(
  app: App,
  services: Services,
  boss: import('pg-boss').PgBoss,
): Promise<Runnable> {
  const { startDigestService, createTelegramSender, createConsoleSender, senderFromRouter } = await import(
    './digests/index.ts'
  );
  const { config } = app;
  const digests = await startDigestService({
    db: app.db,
    logger: app.logger,
    now: app.now,
    companyTz: config.companyTz,
    registry: services.registry,
    renderer: services.renderer,
    callsPerDayNorm: config.callsPerDayNorm,
    boss,
    senders: {
      ...(config.telegram
        ? {
            telegram: createTelegramSender({
              token: config.telegram.token,
              apiRoot: config.telegram.apiRoot,
            }),
          }
        : {}),
      whatsapp: senderFromRouter(services.router),
      console: createConsoleSender({ dir: path.join(config.home, 'digests'), now: app.now }),
    },
  });
  return { name: 'digests', stop: () => digests.stop() };
}

/** Stops everything in reverse order, giving up after `timeoutMs` so SIGTERM ends the process in time. */
export async function stopAll(running: Runnable[], logger: Logger, timeoutMs = 8_000): Promise<void> {
  const all = (async () => {
    for (const r of [...running].reverse()) {
      try {
        await r.stop();
      } catch (err) {
        logger.warn({ err: (err as Error).message, part: r.name }, 'stop failed');
      }
    }
  })();
  await Promise.race([all, new Promise((resolve) => setTimeout(resolve, timeoutMs).unref())]);
}
