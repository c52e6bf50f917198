import { AppError } from '../../errors.ts';
import type { Logger } from '../../logger.ts';

/** The model answered, but not with a breakdown we can use (not JSON, wrong shape, prompt text in it). */
export class MalformedOutputError extends Error {
  override name = 'MalformedOutputError';
}

export type LlmFailureKind = 'network' | 'rate_limit' | 'server' | 'malformed' | 'rejected' | 'aborted';

export interface LlmFailure {
  kind: LlmFailureKind;
  retryable: boolean;
  status: number | null;
  /** From a `Retry-After` header, when the server sent one. */
  retryAfterMs: number | null;
}

const NETWORK_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  'EAI_AGAIN',
  'ENOTFOUND',
  'ENETUNREACH',
  'EHOSTUNREACH',
  'UND_ERR_SOCKET',
  'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_HEADERS_TIMEOUT',
  'UND_ERR_BODY_TIMEOUT',
]);

/**
 * Sorts a failure of a structured-output call. Duck-typed on purpose: the
 * OpenAI SDK's error classes are not our dependency, and LangChain rewraps
 * some of them (a timeout becomes a plain Error named `TimeoutError`).
 */
export function classifyLlmError(err: unknown): LlmFailure {
  const e = (err ?? {}) as {
    name?: unknown;
    status?: unknown;
    code?: unknown;
    cause?: unknown;
    headers?: unknown;
    constructor?: { name?: string };
  };
  const status = typeof e.status === 'number' ? e.status : null;
  const failure = (kind: LlmFailureKind, retryable: boolean): LlmFailure => ({
    kind,
    retryable,
    status,
    retryAfterMs: retryAfterOf(e.headers),
  });
  if (err instanceof MalformedOutputError || err instanceof SyntaxError) return failure('malformed', true);
  if (e.name === 'ZodError' || e.name === '$ZodError' || e.name === 'OutputParserException')
    return failure('malformed', true);
  if (e.name === 'AbortError') return failure('aborted', false);
  if (status !== null) {
    if (status === 429) return failure('rate_limit', true);
    if (status >= 500 || status === 408 || status === 409) return failure('server', true);
    return failure('rejected', false);
  }
  if (e.name === 'TimeoutError' || /Connection/u.test(e.constructor?.name ?? '') || hasNetworkCode(err))
    return failure('network', true);
  return failure('rejected', false);
}

function hasNetworkCode(err: unknown): boolean {
  for (let e = err, depth = 0; e && typeof e === 'object' && depth < 5; depth++) {
    const { code, message } = e as { code?: unknown; message?: unknown };
    if (typeof code === 'string' && NETWORK_CODES.has(code)) return true;
    if (e instanceof TypeError && message === 'fetch failed') return true;
    e = (e as { cause?: unknown }).cause;
  }
  return false;
}

function retryAfterOf(headers: unknown): number | null {
  let value: string | null | undefined;
  if (headers && typeof (headers as Headers).get === 'function')
    value = (headers as Headers).get('retry-after');
  else if (headers && typeof headers === 'object') {
    const raw = (headers as Record<string, unknown>)['retry-after'];
    value = typeof raw === 'string' ? raw : undefined;
  }
  if (!value) return null;
  const seconds = Number(value);
  if (Number.isFinite(seconds)) return Math.max(0, seconds * 1000);
  const at = Date.parse(value);
  return Number.isNaN(at) ? null : Math.max(0, at - Date.now());
}

export interface RetryOptions {
  /** Retries after the first attempt. */
  maxRetries: number;
  /** First delay; each next one doubles. */
  baseDelayMs: number;
  maxDelayMs: number;
  sleep: (ms: number) => Promise<void>;
  logger: Logger;
  /** For logs: what is being asked, e.g. `часть 2/5`. */
  what: string;
}

const USER_MESSAGES: Record<LlmFailureKind, string> = {
  network: 'Не удалось связаться с сервисом ИИ для разбора звонка. Попробуйте позже.',
  rate_limit: 'Сервис ИИ перегружен запросами и не успел разобрать звонок. Попробуйте через несколько минут.',
  server: 'Сервис ИИ не смог разобрать звонок: он отвечает ошибкой. Попробуйте позже.',
  malformed: 'ИИ несколько раз вернул некорректный разбор звонка. Попробуйте позже.',
  rejected: 'Сервис ИИ отклонил запрос на разбор звонка. Проверьте настройки подключения к ИИ.',
  aborted: 'Разбор звонка был прерван.',
};

/**
 * Runs `call`, retrying network errors, 429/5xx answers and malformed output
 * with exponential backoff (a server's `Retry-After` wins when longer). The
 * final failure, or a failure that retrying cannot fix (a 400/401, an
 * abort), becomes an AppError with a Russian message.
 */
export async function withRetries<T>(call: (attempt: number) => Promise<T>, opts: RetryOptions): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await call(attempt);
    } catch (err) {
      if (err instanceof AppError) throw err;
      const failure = classifyLlmError(err);
      const message = (err instanceof Error ? err.message : String(err)).slice(0, 500);
      if (!failure.retryable || attempt >= opts.maxRetries) {
        const tries = attempt + 1;
        throw new AppError(
          `llm_${failure.kind}`,
          `LLM call analysis (${opts.what}) failed after ${tries} attempt(s): ${failure.kind}${failure.status ? ` HTTP ${failure.status}` : ''}: ${message}`,
          USER_MESSAGES[failure.kind],
          { cause: err },
        );
      }
      const backoff = Math.min(opts.maxDelayMs, opts.baseDelayMs * 2 ** attempt);
      const delay = Math.min(opts.maxDelayMs, Math.max(backoff, failure.retryAfterMs ?? 0));
      opts.logger.warn(
        { what: opts.what, attempt: attempt + 1, kind: failure.kind, status: failure.status, delayMs: delay },
        `LLM call analysis failed, retrying: ${message}`,
      );
      await opts.sleep(delay);
    }
  }
}
