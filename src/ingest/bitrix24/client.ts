import { AppError } from '../../errors.ts';
import type { Logger } from '../../logger.ts';
import { buildQuery } from './query.ts';

/*
 * Bitrix24 REST over an incoming webhook (https://portal/rest/USER/CODE/).
 * Requests are paced by the portal's leaky bucket (a counter that drains by 2
 * a second and blocks above 50 on ordinary plans); QUERY_LIMIT_EXCEEDED and
 * OPERATION_TIME_LIMIT are answered with waiting and a retry.
 */

export interface B24Time {
  date_start?: string;
  operating_reset_at?: number;
}

export interface B24Response<T = unknown> {
  result: T;
  total?: number;
  next?: number;
  time?: B24Time;
}

export interface B24BatchResult {
  result: Record<string, unknown>;
  errors: Record<string, { error: string; error_description?: string }>;
  total: Record<string, number>;
  next: Record<string, number>;
  time?: B24Time;
}

export interface B24Command {
  method: string;
  params?: Record<string, unknown>;
}

export class Bitrix24Error extends Error {
  override name = 'Bitrix24Error';
  constructor(
    readonly code: string,
    message: string,
    readonly status: number,
  ) {
    super(message);
  }
}

export interface RateLimit {
  /** How fast the portal's counter drains, requests per second (2; 5 on Enterprise). */
  perSecond: number;
  /** The counter value above which requests are blocked (50; 250 on Enterprise). */
  burst: number;
}

export const DEFAULT_RATE: RateLimit = { perSecond: 2, burst: 50 };

export interface Bitrix24ClientOptions {
  webhookUrl: string;
  logger: Logger;
  fetch?: typeof fetch;
  /** Milliseconds since the epoch; a virtual clock in tests. */
  now?: () => number;
  sleep?: (ms: number) => Promise<void>;
  rate?: RateLimit;
  /** Attempts for one request before giving up on a limit or a transient failure. */
  maxAttempts?: number;
  timeoutMs?: number;
}

const realSleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
const LIMIT_CODES = new Set(['QUERY_LIMIT_EXCEEDED', 'OPERATION_TIME_LIMIT']);

export class Bitrix24Client {
  private readonly base: string;
  private readonly doFetch: typeof fetch;
  private readonly now: () => number;
  private readonly sleep: (ms: number) => Promise<void>;
  private readonly rate: RateLimit;
  private readonly maxAttempts: number;
  private readonly timeoutMs: number;
  private readonly logger: Logger;
  /** Our estimate of the portal's request counter, and when it was last drained. */
  private level = 0;
  private levelAt = 0;
  /** When each method's operation-time budget next frees up (from `time.operating_reset_at`). */
  private readonly resetAt = new Map<string, number>();
  /** Methods blocked by OPERATION_TIME_LIMIT, until when. */
  private readonly blockedUntil = new Map<string, number>();
  /** The portal's clock at the first response, for "modified since" cursors. */
  serverTime: string | undefined;
  requests = 0;

  constructor(opts: Bitrix24ClientOptions) {
    this.base = opts.webhookUrl.endsWith('/') ? opts.webhookUrl : `${opts.webhookUrl}/`;
    this.doFetch = opts.fetch ?? fetch;
    this.now = opts.now ?? Date.now;
    this.sleep = opts.sleep ?? realSleep;
    this.rate = opts.rate ?? DEFAULT_RATE;
    this.maxAttempts = opts.maxAttempts ?? 8;
    this.timeoutMs = opts.timeoutMs ?? 60_000;
    this.logger = opts.logger;
  }

  /** Waits until one more request keeps the counter within the burst. */
  private async pace(): Promise<void> {
    for (;;) {
      const t = this.now();
      this.level = Math.max(0, this.level - ((t - this.levelAt) / 1000) * this.rate.perSecond);
      this.levelAt = t;
      if (this.level + 1 <= this.rate.burst) {
        this.level += 1;
        return;
      }
      await this.sleep(Math.ceil(((this.level + 1 - this.rate.burst) / this.rate.perSecond) * 1000));
    }
  }

  private backoffMs(attempt: number): number {
    return Math.min(1000 * 2 ** attempt, 60_000);
  }

  /** One HTTP request with pacing and retries; returns the decoded JSON body. */
  private async request(method: string, body: Record<string, unknown>): Promise<Record<string, unknown>> {
    let lastError: unknown;
    for (let attempt = 0; attempt < this.maxAttempts; attempt++) {
      const blockedUntil = this.blockedUntil.get(method);
      if (blockedUntil !== undefined && blockedUntil > this.now())
        await this.sleep(blockedUntil - this.now());
      await this.pace();
      this.requests++;
      let res: Response;
      try {
        res = await this.doFetch(`${this.base}${method}`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', accept: 'application/json' },
          body: JSON.stringify(body),
          signal: AbortSignal.timeout(this.timeoutMs),
        });
      } catch (cause) {
        lastError = cause;
        this.logger.warn(
          { method, attempt, err: (cause as Error).message },
          'bitrix24: request failed, retrying',
        );
        await this.sleep(this.backoffMs(attempt));
        continue;
      }
      const text = await res.text();
      let json: Record<string, unknown> | undefined;
      try {
        json = text ? (JSON.parse(text) as Record<string, unknown>) : undefined;
      } catch {
        json = undefined;
      }
      const code = typeof json?.error === 'string' ? json.error : undefined;
      if (code && LIMIT_CODES.has(code)) {
        lastError = new Bitrix24Error(code, `${method}: ${code}`, res.status);
        await this.waitForLimit(method, code, attempt);
        continue;
      }
      if (res.status >= 500 && !code) {
        lastError = new Bitrix24Error('HTTP_' + res.status, `${method}: HTTP ${res.status}`, res.status);
        this.logger.warn({ method, status: res.status, attempt }, 'bitrix24: server error, retrying');
        await this.sleep(this.backoffMs(attempt));
        continue;
      }
      if (code || !json) {
        const description =
          typeof json?.error_description === 'string' ? json.error_description : text.slice(0, 200);
        const err = new Bitrix24Error(
          code ?? `HTTP_${res.status}`,
          `${method}: ${code ?? res.status} ${description}`,
          res.status,
        );
        if (
          res.status === 401 ||
          code === 'NO_AUTH_FOUND' ||
          code === 'INVALID_CREDENTIALS' ||
          code === 'insufficient_scope'
        ) {
          throw new AppError(
            'bitrix24_auth',
            err.message,
            'Битрикс24 отклонил вебхук: проверьте BITRIX24_WEBHOOK_URL и права вебхука (crm, user, department, telephony, task).',
            { cause: err },
          );
        }
        throw err;
      }
      this.noteTime(method, json.time as B24Time | undefined);
      return json;
    }
    throw new AppError(
      'bitrix24_unavailable',
      `Bitrix24 ${method} failed after ${this.maxAttempts} attempts`,
      'Битрикс24 не отвечает или ограничивает запросы; синхронизация продолжится позже.',
      { cause: lastError },
    );
  }

  private noteTime(method: string, time: B24Time | undefined) {
    if (!time) return;
    this.serverTime ??= time.date_start;
    if (typeof time.operating_reset_at === 'number') this.resetAt.set(method, time.operating_reset_at * 1000);
  }

  private async waitForLimit(method: string, code: string, attempt: number) {
    if (code === 'QUERY_LIMIT_EXCEEDED') {
      // The portal's counter is full: drain it before the next request.
      this.level = this.rate.burst;
      this.levelAt = this.now();
      const ms = this.backoffMs(attempt);
      this.logger.warn({ method, ms }, 'bitrix24: QUERY_LIMIT_EXCEEDED, backing off');
      await this.sleep(ms);
      return;
    }
    // OPERATION_TIME_LIMIT blocks one method until its oldest minute bucket expires (at most 10 minutes).
    const resetAt = this.resetAt.get(method);
    const ms =
      resetAt !== undefined && resetAt > this.now()
        ? resetAt - this.now()
        : Math.min(60_000 * (attempt + 1), 600_000);
    this.logger.warn({ method, ms }, 'bitrix24: OPERATION_TIME_LIMIT, waiting for the method to unblock');
    this.blockedUntil.set(method, this.now() + ms);
    await this.sleep(ms);
  }

  async call<T = unknown>(method: string, params: Record<string, unknown> = {}): Promise<B24Response<T>> {
    const json = await this.request(method, params);
    return json as unknown as B24Response<T>;
  }

  /**
   * Up to 50 calls in one HTTP request. A call that hit a limit repeats the
   * whole batch after waiting; any other failed call throws.
   */
  async batch(cmds: Record<string, B24Command>): Promise<B24BatchResult> {
    const keys = Object.keys(cmds);
    if (keys.length > 50) throw new Error(`batch of ${keys.length} commands: at most 50`);
    const cmd = Object.fromEntries(
      keys.map((k) => {
        const c = cmds[k]!;
        const query = buildQuery(c.params ?? {});
        return [k, query ? `${c.method}?${query}` : c.method];
      }),
    );
    for (let attempt = 0; ; attempt++) {
      const json = await this.request('batch', { halt: 0, cmd });
      const r = (json.result ?? {}) as Record<string, unknown>;
      const errors = asRecord(r.result_error) as B24BatchResult['errors'];
      const limited = Object.entries(errors).find(([, e]) => LIMIT_CODES.has(e.error));
      if (limited) {
        if (attempt + 1 >= this.maxAttempts) {
          throw new AppError(
            'bitrix24_unavailable',
            `Bitrix24 batch limited (${limited[1].error}) after ${this.maxAttempts} attempts`,
            'Битрикс24 ограничивает запросы; синхронизация продолжится позже.',
          );
        }
        const method = cmds[limited[0]]!.method;
        await this.waitForLimit(method, limited[1].error, attempt);
        continue;
      }
      const failed = Object.entries(errors)[0];
      if (failed) {
        throw new Bitrix24Error(
          failed[1].error,
          `${cmds[failed[0]]!.method}: ${failed[1].error} ${failed[1].error_description ?? ''}`.trim(),
          400,
        );
      }
      const times = asRecord(r.result_time) as Record<string, B24Time>;
      for (const [k, t] of Object.entries(times)) this.noteTime(cmds[k]?.method ?? 'batch', t);
      return {
        result: asRecord(r.result),
        errors,
        total: asRecord(r.result_total) as Record<string, number>,
        next: asRecord(r.result_next) as Record<string, number>,
        time: json.time as B24Time | undefined,
      };
    }
  }
}

/** PHP serialises an empty associative array as `[]`: read both as an object. */
function asRecord(v: unknown): Record<string, unknown> {
  return v && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : {};
}
