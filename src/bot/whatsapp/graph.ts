import { WhatsAppAPI } from 'whatsapp-api-js';
import type { ClientMessage } from 'whatsapp-api-js/types';

/*
 * The WhatsApp Cloud API client. whatsapp-api-js builds every request against
 * the fixed host https://graph.facebook.com/<v>/…, so its `fetch` ponyfill
 * rewrites that prefix onto WHATSAPP_GRAPH_URL (which carries the version):
 * tests and on-premise proxies get every call, and the token never goes to a
 * host nobody configured. The same ponyfill turns Graph error answers into
 * `GraphError`, because the library parses any answer as success.
 */

const META_GRAPH = 'https://graph.facebook.com/';

/**
 * Meta error codes worth sending again later: rate limits, "something went
 * wrong", service unavailable, maintenance. Anything else (bad number, blocked,
 * template rejected, window closed) fails the same way on every attempt.
 */
export const RETRYABLE_CODES: ReadonlySet<number> = new Set([
  1, 2, 4, 80007, 130429, 131000, 131016, 131048, 131056, 131057, 133004,
]);

/** Sent outside the 24-hour customer service window: only a template may go now. */
export const WINDOW_CLOSED_CODE = 131047;

/** A failed Graph API call: HTTP status (0 when unreachable) and Meta's error code. */
export class GraphError extends Error {
  override name = 'GraphError';
  readonly retryable: boolean;
  constructor(
    readonly status: number,
    readonly code: number | undefined,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.retryable = isRetryable(status, code);
  }
}

export function isRetryable(status: number, code: number | undefined): boolean {
  if (code !== undefined && RETRYABLE_CODES.has(code)) return true;
  if (code !== undefined && status >= 400 && status < 500 && status !== 429) return false;
  return status === 0 || status === 429 || status >= 500;
}

interface GraphErrorBody {
  error?: { message?: string; code?: number; error_subcode?: number; error_data?: { details?: string } };
}

async function errorOf(res: Response): Promise<GraphError> {
  const body = (await res.json().catch(() => undefined)) as GraphErrorBody | undefined;
  const e = body?.error;
  const details = e?.error_data?.details ? `: ${e.error_data.details}` : '';
  return new GraphError(
    res.status,
    e?.code,
    `Graph API ${res.status}${e?.code ? ` (#${e.code})` : ''} ${e?.message ?? res.statusText}${details}`,
  );
}

/** A 2xx answer that still carries a Graph error object. */
function throwIfError(res: {
  error?: { code?: number; message?: string } | undefined;
}): asserts res is { error?: undefined } {
  if (res.error)
    throw new GraphError(
      200,
      res.error.code,
      `Graph API error #${res.error.code} ${res.error.message ?? ''}`,
    );
}

/**
 * A fetch that sends the library's graph.facebook.com requests to `graphUrl`
 * and rejects with `GraphError` on a non-2xx answer or a network failure.
 */
export function graphFetch(
  graphUrl: string,
  version: string,
  base: typeof fetch,
  timeoutMs: number,
): typeof fetch {
  const prefix = `${META_GRAPH}${version}/`;
  const root = `${graphUrl.replace(/\/+$/, '')}/`;
  return (async (input: string | URL | Request, init?: RequestInit) => {
    const url = typeof input === 'string' ? input : input instanceof URL ? input.href : input.url;
    if (!url.startsWith(prefix))
      throw new GraphError(0, undefined, `Refusing an unexpected Graph API URL ${url.split('?')[0]}`);
    let res: Response;
    try {
      res = await base(root + url.slice(prefix.length), { ...init, signal: AbortSignal.timeout(timeoutMs) });
    } catch (cause) {
      throw new GraphError(0, undefined, `Graph API unreachable: ${(cause as Error).message}`, { cause });
    }
    if (!res.ok) throw await errorOf(res);
    return res;
  }) as typeof fetch;
}

/** The version segment the library puts after the host; any non-empty token works, the real one reads best. */
function versionOf(graphUrl: string): string {
  const last = new URL(graphUrl).pathname.split('/').filter(Boolean).at(-1);
  return last ?? 'v';
}

export interface GraphOptions {
  token: string;
  appSecret: string;
  verifyToken: string;
  phoneNumberId: string;
  /** Base URL including the API version, e.g. https://graph.facebook.com/v21.0. */
  graphUrl: string;
  fetch?: typeof fetch | undefined;
  timeoutMs?: number | undefined;
}

export function createGraphClient(opts: GraphOptions) {
  const v = versionOf(opts.graphUrl);
  const api = new WhatsAppAPI({
    token: opts.token,
    appSecret: opts.appSecret,
    webhookVerifyToken: opts.verifyToken,
    v,
    ponyfill: { fetch: graphFetch(opts.graphUrl, v, opts.fetch ?? fetch, opts.timeoutMs ?? 15_000) },
  });

  return {
    api,
    /**
     * The GET handshake: the challenge to echo, or the library's error
     * (`httpStatus` 400 without parameters, 403 for a wrong token).
     */
    handshake(query: URLSearchParams): string {
      return api.get(Object.fromEntries(query) as Parameters<WhatsAppAPI['get']>[0]);
    },
    /**
     * Checks `X-Hub-Signature-256` against the raw body, as Meta signs it
     * (non-ASCII escaped as \uXXXX); the HMAC comparison is WebCrypto's
     * constant-time verify.
     */
    async verifySignature(rawBody: string, header: string | undefined): Promise<boolean> {
      if (!header) return false;
      try {
        return await api.verifyRequestSignature(rawBody, header);
      } catch {
        return false;
      }
    },
    /** Sends one message and returns its wamid. */
    async send(to: string, message: ClientMessage): Promise<string> {
      // The string recipient is the phone number (wa_id); the object form's type demands a BSUID we do not have.
      const res = await api.sendMessage(opts.phoneNumberId, to, message);
      throwIfError(res);
      const id = res.messages?.[0]?.id;
      if (!id) throw new GraphError(200, undefined, 'Graph API answered without a message id');
      return id;
    },
    /** Uploads a file to the phone number's media store; returns the media id. */
    async upload(data: Buffer, mime: string, filename: string): Promise<string> {
      const form = new FormData();
      form.append('messaging_product', 'whatsapp');
      form.append('type', mime);
      form.append('file', new Blob([new Uint8Array(data)], { type: mime }), filename);
      const res = await api.uploadMedia(opts.phoneNumberId, form);
      throwIfError(res);
      return res.id;
    },
  };
}

export type GraphClient = ReturnType<typeof createGraphClient>;
