import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from '../logger.ts';
import { type FormObject, parseForm } from './body.ts';

/*
 * The HTTP surface: telephony and CRM webhooks, messenger webhooks, health.
 * Routes are plain objects so each module registers its own; every handler
 * sees the raw body (signature checks need the exact bytes) and helpers to
 * read it as JSON or as a form.
 */

export const DEFAULT_MAX_BODY_BYTES = 1024 * 1024;

export type HttpMethod = 'GET' | 'POST' | 'PUT' | 'DELETE' | 'PATCH';

export interface HttpRequest {
  method: string;
  /** The path without the query string. */
  path: string;
  /** Values of `:name` segments of the route. */
  params: Record<string, string>;
  query: URLSearchParams;
  headers: http.IncomingHttpHeaders;
  rawBody: Buffer;
  /** The body as UTF-8 text. */
  text(): string;
  /** The body parsed as JSON; a malformed body is answered with 400. */
  json<T = unknown>(): T;
  /** The body parsed as a form with PHP-style bracket keys; 400 when it is not one. */
  form(): FormObject;
}

export interface HttpResponse {
  status: number;
  /** A string or Buffer is sent as is; anything else as JSON. */
  body?: unknown;
  headers?: Record<string, string>;
}

export interface Route {
  method: HttpMethod;
  /** `/hooks/telephony/:provider`: literal segments and `:name` parameters. */
  path: string;
  handler: (req: HttpRequest) => Promise<HttpResponse> | HttpResponse;
}

/** Thrown by a handler to answer with a status and a short reason (never a stack). */
export class HttpError extends Error {
  override name = 'HttpError';
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

export interface HttpServer {
  readonly server: http.Server;
  /** Adds routes after creation; later registrations of the same method and path win. */
  addRoutes(routes: Route[]): void;
  listen(port: number, host?: string): Promise<{ port: number; url: string }>;
  close(): Promise<void>;
}

export interface HttpServerOptions {
  routes?: Route[];
  logger: Logger;
  /** Bodies above this size are answered with 413 (default 1 MB). */
  maxBodyBytes?: number;
  /** Extra facts for `GET /health` (database reachable, ...); a throw answers 503. */
  health?: () => Promise<Record<string, unknown>>;
}

interface CompiledRoute {
  route: Route;
  segments: string[];
}

function splitPath(p: string): string[] {
  return p.split('/').filter((s) => s !== '');
}

function match(compiled: CompiledRoute, segments: string[]): Record<string, string> | undefined {
  if (compiled.segments.length !== segments.length) return undefined;
  const params: Record<string, string> = {};
  for (let i = 0; i < segments.length; i++) {
    const pattern = compiled.segments[i]!;
    const actual = segments[i]!;
    if (pattern.startsWith(':')) {
      try {
        params[pattern.slice(1)] = decodeURIComponent(actual);
      } catch {
        return undefined;
      }
    } else if (pattern !== actual) {
      return undefined;
    }
  }
  return params;
}

function send(res: http.ServerResponse, out: HttpResponse) {
  const headers: Record<string, string> = { ...(out.headers ?? {}) };
  let payload: string | Buffer | undefined;
  if (out.body === undefined || out.body === null) {
    payload = undefined;
  } else if (typeof out.body === 'string' || Buffer.isBuffer(out.body)) {
    payload = out.body;
    headers['content-type'] ??= 'text/plain; charset=utf-8';
  } else {
    payload = JSON.stringify(out.body);
    headers['content-type'] ??= 'application/json; charset=utf-8';
  }
  res.writeHead(out.status, headers);
  res.end(payload);
}

/** Reads the body up to `limit` bytes; undefined means it was too large (and the rest is drained). */
function readBody(req: http.IncomingMessage, limit: number): Promise<Buffer | undefined> {
  return new Promise((resolve, reject) => {
    const declared = Number(req.headers['content-length']);
    if (Number.isFinite(declared) && declared > limit) {
      req.resume();
      resolve(undefined);
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    let tooLarge = false;
    req.on('data', (chunk: Buffer) => {
      if (tooLarge) return;
      size += chunk.length;
      if (size > limit) {
        tooLarge = true;
        chunks.length = 0;
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => resolve(tooLarge ? undefined : Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

function makeRequest(
  req: http.IncomingMessage,
  url: URL,
  params: Record<string, string>,
  rawBody: Buffer,
): HttpRequest {
  let text: string | undefined;
  const asText = () => (text ??= rawBody.toString('utf8'));
  return {
    method: req.method ?? 'GET',
    path: url.pathname,
    params,
    query: url.searchParams,
    headers: req.headers,
    rawBody,
    text: asText,
    json<T>() {
      try {
        return JSON.parse(asText()) as T;
      } catch {
        throw new HttpError(400, 'body is not valid JSON');
      }
    },
    form() {
      const body = asText();
      if (body.trim().startsWith('{')) throw new HttpError(400, 'body is not a form');
      return parseForm(body);
    },
  };
}

/**
 * A small node:http server: route table with `:param` segments, raw body with
 * a size limit (413 above it), 404/405 for unknown paths and methods, and
 * `GET /health`.
 */
export function createHttpServer(opts: HttpServerOptions): HttpServer {
  const { logger } = opts;
  const limit = opts.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;
  let compiled: CompiledRoute[] = [];
  const addRoutes = (routes: Route[]) => {
    for (const route of routes) {
      compiled = compiled.filter((c) => !(c.route.method === route.method && c.route.path === route.path));
      compiled.push({ route, segments: splitPath(route.path) });
    }
  };
  addRoutes([
    {
      method: 'GET',
      path: '/health',
      handler: async () => {
        try {
          const extra = opts.health ? await opts.health() : {};
          return { status: 200, body: { status: 'ok', ...extra } };
        } catch (err) {
          logger.warn({ err }, 'health check failed');
          return { status: 503, body: { status: 'unavailable' } };
        }
      },
    },
  ]);
  addRoutes(opts.routes ?? []);

  const server = http.createServer(async (req, res) => {
    const started = performance.now();
    let status = 500;
    // The pattern, not the URL: paths and queries may carry webhook secrets.
    let routePath = 'unmatched';
    try {
      const url = new URL(req.url ?? '/', 'http://localhost');
      const segments = splitPath(url.pathname);
      const candidates = compiled
        .map((c) => ({ c, params: match(c, segments) }))
        .filter((x): x is { c: CompiledRoute; params: Record<string, string> } => x.params !== undefined);
      if (candidates.length === 0) {
        req.resume();
        status = 404;
        send(res, { status, body: { error: 'not found' } });
        return;
      }
      const hit = candidates.find((x) => x.c.route.method === req.method);
      if (hit) routePath = hit.c.route.path;
      if (!hit) {
        req.resume();
        status = 405;
        const allow = [...new Set(candidates.map((x) => x.c.route.method))].join(', ');
        send(res, { status, body: { error: 'method not allowed' }, headers: { allow } });
        return;
      }
      const body = await readBody(req, limit);
      if (body === undefined) {
        status = 413;
        send(res, { status, body: { error: 'payload too large' }, headers: { connection: 'close' } });
        return;
      }
      const out = await hit.c.route.handler(makeRequest(req, url, hit.params, body));
      status = out.status;
      send(res, out);
    } catch (err) {
      if (err instanceof HttpError) {
        status = err.status;
        send(res, { status, body: { error: err.message } });
      } else {
        status = 500;
        logger.error({ err, route: routePath }, 'request failed');
        if (!res.headersSent) send(res, { status, body: { error: 'internal error' } });
        else res.end();
      }
    } finally {
      logger.debug(
        { method: req.method, route: routePath, status, ms: Math.round(performance.now() - started) },
        'http request',
      );
    }
  });

  return {
    server,
    addRoutes,
    listen(port, host = '0.0.0.0') {
      return new Promise((resolve, reject) => {
        server.once('error', reject);
        server.listen(port, host, () => {
          server.off('error', reject);
          const addr = server.address() as AddressInfo;
          const shownHost = host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host;
          resolve({ port: addr.port, url: `http://${shownHost}:${addr.port}` });
        });
      });
    },
    close() {
      return new Promise((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
    },
  };
}
