import { AppError } from '../../errors.ts';
import type { Logger } from '../../logger.ts';

/*
 * amoCRM API v4 with a long-lived token. At most 7 requests in any second
 * (the integration limit); 429 is answered with backoff. An empty list answers
 * 204 without a body, which is an empty page, not an error.
 */

type Rec = Record<string, unknown>;

export class AmocrmError extends Error {
  override name = 'AmocrmError';
  constructor(
    message: string,
    readonly status: number,
  ) {
    super(message);
  }
}

export interface AmocrmClientOptions {
  baseUrl: string;
  token: string;
  logger: Logger;
  fetch?: typeof fetch;
  now?: () => number;
  sleep?: (ms: number) => Promise<void>;
  /** Requests allowed in any 1-second window (7). */
  perSecond?: number;
  maxAttempts?: number;
  timeoutMs?: number;
}

const realSleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

export class AmocrmClient {
  private readonly base: string;
  private readonly token: string;
  private readonly doFetch: typeof fetch;
  private readonly now: () => number;
  private readonly sleep: (ms: number) => Promise<void>;
  private readonly perSecond: number;
  private readonly maxAttempts: number;
  private readonly timeoutMs: number;
  private readonly logger: Logger;
  /** Start times of the latest requests, oldest first (a sliding one-second window). */
  private readonly recent: number[] = [];
  requests = 0;

  constructor(opts: AmocrmClientOptions) {
    this.base = opts.baseUrl.replace(/\/+$/, '');
    this.token = opts.token;
    this.doFetch = opts.fetch ?? fetch;
    this.now = opts.now ?? Date.now;
    this.sleep = opts.sleep ?? realSleep;
    this.perSecond = opts.perSecond ?? 7;
    this.maxAttempts = opts.maxAttempts ?? 6;
    this.timeoutMs = opts.timeoutMs ?? 60_000;
    this.logger = opts.logger;
  }

  private async pace(): Promise<void> {
    for (;;) {
      const t = this.now();
      while (this.recent.length > 0 && t - this.recent[0]! >= 1000) this.recent.shift();
      if (this.recent.length < this.perSecond) {
        this.recent.push(t);
        return;
      }
      await this.sleep(1000 - (t - this.recent[0]!));
    }
  }

  /** GET a path (`/api/v4/leads`) with query parameters; undefined for 204 No Content. */
  async get<T = Rec>(pathname: string, query?: URLSearchParams): Promise<T | undefined> {
    const url = `${this.base}${pathname}${query && [...query].length > 0 ? `?${query}` : ''}`;
    let lastError: unknown;
    for (let attempt = 0; attempt < this.maxAttempts; attempt++) {
      await this.pace();
      this.requests++;
      let res: Response;
      try {
        res = await this.doFetch(url, {
          headers: { authorization: `Bearer ${this.token}`, accept: 'application/hal+json' },
          signal: AbortSignal.timeout(this.timeoutMs),
        });
      } catch (cause) {
        lastError = cause;
        this.logger.warn(
          { path: pathname, attempt, err: (cause as Error).message },
          'amocrm: request failed, retrying',
        );
        await this.sleep(Math.min(1000 * 2 ** attempt, 30_000));
        continue;
      }
      if (res.status === 204) {
        await res.arrayBuffer();
        return undefined;
      }
      if (res.status === 429 || res.status >= 500) {
        await res.arrayBuffer();
        lastError = new AmocrmError(`${pathname}: HTTP ${res.status}`, res.status);
        const ms = Math.min(1000 * 2 ** attempt, 30_000);
        this.logger.warn(
          { path: pathname, status: res.status, ms },
          'amocrm: limited or failing, backing off',
        );
        await this.sleep(ms);
        continue;
      }
      const text = await res.text();
      if (res.status === 401 || res.status === 403) {
        throw new AppError(
          'amocrm_auth',
          `amoCRM ${pathname}: HTTP ${res.status} ${text.slice(0, 200)}`,
          'amoCRM отклонил запрос: проверьте AMOCRM_TOKEN (долгосрочный токен) и AMOCRM_BASE_URL; при превышении лимитов amoCRM временно блокирует доступ.',
        );
      }
      if (res.status >= 400)
        throw new AmocrmError(`${pathname}: HTTP ${res.status} ${text.slice(0, 300)}`, res.status);
      try {
        return JSON.parse(text) as T;
      } catch (cause) {
        throw new AmocrmError(`${pathname}: response is not JSON (${(cause as Error).message})`, res.status);
      }
    }
    throw new AppError(
      'amocrm_unavailable',
      `amoCRM ${pathname} failed after ${this.maxAttempts} attempts`,
      'amoCRM не отвечает или ограничивает запросы; синхронизация продолжится позже.',
      { cause: lastError },
    );
  }
}

/** The records of a HAL list (`_embedded.<key>`), empty for 204. */
export function embedded(body: Rec | undefined, key: string): Rec[] {
  const list = (body?._embedded as Rec | undefined)?.[key];
  return Array.isArray(list) ? (list as Rec[]) : [];
}

export function hasNext(body: Rec | undefined): boolean {
  const next = (body?._links as Rec | undefined)?.next as Rec | undefined;
  return typeof next?.href === 'string';
}
