import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../src/config.ts';

describe('config', () => {
  it('runs with no settings at all: embedded database, Moscow time, no messengers', () => {
    const c = loadConfig({});
    expect(c.databaseUrl).toBeUndefined();
    expect(c.companyTz).toBe('Europe/Moscow');
    expect(c.home.endsWith('.voronka')).toBe(true);
    expect(c.telegram).toBeUndefined();
    expect(c.llm).toBeUndefined();
    expect(c.syncIntervalMs).toBe(300_000);
  });

  it('names the variable whose value is wrong', () => {
    expect(() => loadConfig({ COMPANY_TZ: 'Moscow/Nowhere' })).toThrow(
      /COMPANY_TZ: must be an IANA time zone/,
    );
    expect(() => loadConfig({ DATABASE_URL: 'mysql://x' })).toThrow(/DATABASE_URL: must be a postgres/);
    expect(() => loadConfig({ PORT: 'eighty' })).toThrow(/PORT/);
    expect(() => loadConfig({ SYNC_INTERVAL: 'soon' })).toThrow(ConfigError);
  });

  it('requires the whole WhatsApp group once part of it is set', () => {
    expect(() => loadConfig({ WHATSAPP_TOKEN: 't' })).toThrow(
      /WHATSAPP_PHONE_NUMBER_ID, WHATSAPP_APP_SECRET, WHATSAPP_VERIFY_TOKEN/,
    );
  });

  it('treats empty variables as unset', () => {
    expect(loadConfig({ DATABASE_URL: '', TELEGRAM_BOT_TOKEN: ' ' }).telegram).toBeUndefined();
  });
});
