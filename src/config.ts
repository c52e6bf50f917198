import path from 'node:path';
import { z } from 'zod';

/**
 * Every setting Voronka reads from the environment. This module is the only
 * reader of `process.env`: everything else receives a typed `Config`.
 */
const emptyToUndefined = (v: unknown) => (typeof v === 'string' && v.trim() === '' ? undefined : v);
const optionalString = z.preprocess(emptyToUndefined, z.string().optional());
const optionalUrl = z.preprocess(emptyToUndefined, z.url().optional());

const envSchema = z.object({
  DATABASE_URL: z.preprocess(
    emptyToUndefined,
    z
      .string()
      .regex(/^postgres(ql)?:\/\//, 'must be a postgres:// or postgresql:// URL')
      .optional(),
  ),
  VORONKA_HOME: z.preprocess(emptyToUndefined, z.string().default('.voronka')),
  COMPANY_TZ: z.preprocess(
    emptyToUndefined,
    z
      .string()
      .default('Europe/Moscow')
      .refine((tz) => isValidTimeZone(tz), 'must be an IANA time zone such as Europe/Moscow'),
  ),
  LOG_LEVEL: z.preprocess(
    emptyToUndefined,
    z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  ),
  PORT: z.preprocess(emptyToUndefined, z.coerce.number().int().min(1).max(65535).default(8080)),
  PUBLIC_URL: optionalUrl,
  TELEGRAM_BOT_TOKEN: optionalString,
  TELEGRAM_API_ROOT: optionalUrl,
  TELEGRAM_BOT_USERNAME: optionalString,
  TELEGRAM_WEBHOOK_SECRET: optionalString,
  WHATSAPP_TOKEN: optionalString,
  WHATSAPP_PHONE_NUMBER_ID: optionalString,
  WHATSAPP_APP_SECRET: optionalString,
  WHATSAPP_VERIFY_TOKEN: optionalString,
  WHATSAPP_GRAPH_URL: z.preprocess(emptyToUndefined, z.url().default('https://graph.facebook.com/v21.0')),
  WHATSAPP_TEMPLATE_BREAKDOWN: optionalString,
  OPENAI_API_KEY: optionalString,
  OPENAI_BASE_URL: optionalUrl,
  OPENAI_MODEL: z.preprocess(emptyToUndefined, z.string().default('gpt-4o-mini')),
  OPENAI_TRANSCRIBE_MODEL: z.preprocess(emptyToUndefined, z.string().default('whisper-1')),
  LLM_TIMEOUT_MS: z.preprocess(emptyToUndefined, z.coerce.number().int().positive().default(30_000)),
  QUICKCHART_URL: optionalUrl,
  BITRIX24_WEBHOOK_URL: optionalUrl,
  BITRIX24_APP_TOKEN: optionalString,
  AMOCRM_BASE_URL: optionalUrl,
  AMOCRM_TOKEN: optionalString,
  AMOCRM_WEBHOOK_SECRET: optionalString,
  TELEPHONY_SECRET: optionalString,
  SYNC_INTERVAL: z.preprocess(emptyToUndefined, z.string().default('5m')),
  CALLS_PER_DAY_NORM: z.preprocess(emptyToUndefined, z.coerce.number().positive().default(60)),
});

export type Env = z.infer<typeof envSchema>;

export interface Config {
  databaseUrl: string | undefined;
  home: string;
  companyTz: string;
  logLevel: Env['LOG_LEVEL'];
  port: number;
  publicUrl: string | undefined;
  telegram:
    | {
        token: string;
        apiRoot: string | undefined;
        webhookSecret: string | undefined;
        username: string | undefined;
      }
    | undefined;
  whatsapp:
    | {
        token: string;
        phoneNumberId: string;
        appSecret: string;
        verifyToken: string;
        graphUrl: string;
        breakdownTemplate: string | undefined;
      }
    | undefined;
  llm:
    | {
        apiKey: string;
        baseUrl: string | undefined;
        model: string;
        transcribeModel: string;
        timeoutMs: number;
      }
    | undefined;
  quickchartUrl: string | undefined;
  bitrix24: { webhookUrl: string; appToken: string | undefined } | undefined;
  /** `webhookSecret` is the secret path segment of `POST /hooks/amocrm/:secret`; without it amoCRM webhooks are refused. */
  amocrm: { baseUrl: string; token: string; webhookSecret: string | undefined } | undefined;
  telephonySecret: string | undefined;
  syncIntervalMs: number;
  callsPerDayNorm: number;
}

export class ConfigError extends Error {
  override name = 'ConfigError';
}

function isValidTimeZone(tz: string): boolean {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: tz });
    return true;
  } catch {
    return false;
  }
}

function parseDuration(name: string, value: string): number {
  const m = /^(\d+)\s*(ms|s|m|h)?$/.exec(value.trim());
  if (!m) throw new ConfigError(`${name}: "${value}" is not a duration (examples: 300s, 5m, 1h)`);
  const n = Number(m[1]);
  const unit = m[2] ?? 's';
  return n * { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[unit]!;
}

/** Reads and validates the environment once; a bad value names its variable. */
export function loadConfig(env: Record<string, string | undefined> = process.env): Config {
  const parsed = envSchema.safeParse(env);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) => `  ${i.path.join('.')}: ${i.message}`);
    throw new ConfigError(`Invalid configuration:\n${lines.join('\n')}`);
  }
  const e = parsed.data;
  const requireAll = (group: string, vars: Record<string, string | undefined>) => {
    const set = Object.entries(vars).filter(([, v]) => v !== undefined);
    if (set.length > 0 && set.length < Object.keys(vars).length) {
      const missing = Object.entries(vars)
        .filter(([, v]) => v === undefined)
        .map(([k]) => k);
      throw new ConfigError(
        `Invalid configuration:\n  ${missing.join(', ')}: required when other ${group} variables are set`,
      );
    }
    return set.length > 0;
  };
  const whatsappOn = requireAll('WHATSAPP_*', {
    WHATSAPP_TOKEN: e.WHATSAPP_TOKEN,
    WHATSAPP_PHONE_NUMBER_ID: e.WHATSAPP_PHONE_NUMBER_ID,
    WHATSAPP_APP_SECRET: e.WHATSAPP_APP_SECRET,
    WHATSAPP_VERIFY_TOKEN: e.WHATSAPP_VERIFY_TOKEN,
  });
  const amoOn = requireAll('AMOCRM_*', { AMOCRM_BASE_URL: e.AMOCRM_BASE_URL, AMOCRM_TOKEN: e.AMOCRM_TOKEN });
  return {
    databaseUrl: e.DATABASE_URL,
    home: path.resolve(e.VORONKA_HOME),
    companyTz: e.COMPANY_TZ,
    logLevel: e.LOG_LEVEL,
    port: e.PORT,
    publicUrl: e.PUBLIC_URL,
    telegram: e.TELEGRAM_BOT_TOKEN
      ? {
          token: e.TELEGRAM_BOT_TOKEN,
          apiRoot: e.TELEGRAM_API_ROOT,
          webhookSecret: e.TELEGRAM_WEBHOOK_SECRET,
          username: e.TELEGRAM_BOT_USERNAME?.replace(/^@/, ''),
        }
      : undefined,
    whatsapp: whatsappOn
      ? {
          token: e.WHATSAPP_TOKEN!,
          phoneNumberId: e.WHATSAPP_PHONE_NUMBER_ID!,
          appSecret: e.WHATSAPP_APP_SECRET!,
          verifyToken: e.WHATSAPP_VERIFY_TOKEN!,
          graphUrl: e.WHATSAPP_GRAPH_URL,
          breakdownTemplate: e.WHATSAPP_TEMPLATE_BREAKDOWN,
        }
      : undefined,
    llm: e.OPENAI_API_KEY
      ? {
          apiKey: e.OPENAI_API_KEY,
          baseUrl: e.OPENAI_BASE_URL,
          model: e.OPENAI_MODEL,
          transcribeModel: e.OPENAI_TRANSCRIBE_MODEL,
          timeoutMs: e.LLM_TIMEOUT_MS,
        }
      : undefined,
    quickchartUrl: e.QUICKCHART_URL,
    bitrix24: e.BITRIX24_WEBHOOK_URL
      ? { webhookUrl: e.BITRIX24_WEBHOOK_URL, appToken: e.BITRIX24_APP_TOKEN }
      : undefined,
    amocrm: amoOn
      ? { baseUrl: e.AMOCRM_BASE_URL!, token: e.AMOCRM_TOKEN!, webhookSecret: e.AMOCRM_WEBHOOK_SECRET }
      : undefined,
    telephonySecret: e.TELEPHONY_SECRET,
    syncIntervalMs: parseDuration('SYNC_INTERVAL', e.SYNC_INTERVAL),
    callsPerDayNorm: e.CALLS_PER_DAY_NORM,
  };
}
