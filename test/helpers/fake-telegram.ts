import http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface RecordedCall {
  method: string;
  /** JSON body, or the multipart fields (files as `{ filename, size, type, bytes }`). */
  params: Record<string, unknown>;
}

export interface UploadedFile {
  filename: string;
  size: number;
  type: string;
  bytes: Buffer;
}

/**
 * Parses multipart/form-data the way the Bot API does: leniently (grammY
 * writes `name=x` headers without spaces and unquoted filenames).
 */
function parseMultipart(body: Buffer, contentType: string): Record<string, unknown> {
  const boundary = /boundary=([^;]+)/.exec(contentType)?.[1];
  if (!boundary) throw new Error('multipart without boundary');
  const delimiter = Buffer.from(`--${boundary}`);
  const out: Record<string, unknown> = {};
  let pos = body.indexOf(delimiter);
  while (pos !== -1) {
    const start = pos + delimiter.length;
    if (body.subarray(start, start + 2).toString() === '--') break;
    const next = body.indexOf(delimiter, start);
    if (next === -1) break;
    const part = body.subarray(start + 2, next - 2);
    const sep = part.indexOf('\r\n\r\n');
    const head = part.subarray(0, sep).toString('utf8');
    const content = part.subarray(sep + 4);
    const name = /name="?([^";\r\n]+)"?/i.exec(head)?.[1] ?? '';
    const filename = /filename="?([^";\r\n]+)"?/i.exec(head)?.[1];
    const type = /content-type:\s*([^\r\n]+)/i.exec(head)?.[1] ?? '';
    out[name] = filename
      ? ({ filename, size: content.length, type, bytes: Buffer.from(content) } satisfies UploadedFile)
      : content.toString('utf8');
    pos = next;
  }
  return out;
}

/**
 * A loopback Telegram Bot API server: `POST /bot<token>/<method>` with JSON or
 * multipart bodies, recording every call and upload. It can be told to answer
 * the next calls of a method with 429 (retry_after) or 5xx.
 */
export async function startFakeTelegram(token = '123456:TEST') {
  const calls: RecordedCall[] = [];
  const failures = new Map<string, Array<{ status: number; retryAfter?: number }>>();
  let messageId = 100;
  const botInfo = {
    id: 123456,
    is_bot: true as const,
    first_name: 'Воронка',
    username: 'voronka_test_bot',
    can_join_groups: false,
    can_read_all_group_messages: false,
    supports_inline_queries: false,
    can_connect_to_business: false,
    has_main_web_app: false,
    has_topics_enabled: false,
    allows_users_to_create_topics: false,
    can_manage_bots: false,
    supports_join_request_queries: false,
  };

  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', async () => {
      const m = /^\/bot([^/]+)\/(\w+)$/.exec(req.url ?? '');
      const send = (status: number, body: unknown) => {
        res.writeHead(status, { 'content-type': 'application/json' });
        res.end(JSON.stringify(body));
      };
      if (!m || m[1] !== token) return send(404, { ok: false, error_code: 404, description: 'Not Found' });
      const method = m[2]!;
      const body = Buffer.concat(chunks);
      const type = req.headers['content-type'] ?? '';
      let params: Record<string, unknown> = {};
      if (type.startsWith('multipart/form-data')) {
        params = parseMultipart(body, type);
        // grammY sends the file as an attach:// reference plus the part.
        for (const [k, v] of Object.entries(params)) {
          if (typeof v === 'string' && v.startsWith('attach://'))
            params[k] = params[v.slice('attach://'.length)];
          else if (typeof v === 'string' && (v.startsWith('{') || v.startsWith('['))) {
            try {
              params[k] = JSON.parse(v);
            } catch {
              // A plain text field that happens to start with a brace.
            }
          }
        }
      } else if (body.length > 0) {
        params = JSON.parse(body.toString('utf8'));
      }
      const planned = failures.get(method)?.shift();
      calls.push({ method, params });
      if (planned) {
        return send(planned.status, {
          ok: false,
          error_code: planned.status,
          description:
            planned.status === 429
              ? `Too Many Requests: retry after ${planned.retryAfter ?? 1}`
              : 'Internal Server Error',
          ...(planned.retryAfter !== undefined ? { parameters: { retry_after: planned.retryAfter } } : {}),
        });
      }
      const chat = { id: Number(params.chat_id ?? 0), type: 'private' as const };
      const message = (extra: Record<string, unknown>) => ({
        message_id: ++messageId,
        date: Math.floor(Date.now() / 1000),
        chat,
        ...extra,
      });
      switch (method) {
        case 'getMe':
          return send(200, { ok: true, result: botInfo });
        case 'getUpdates':
          return send(200, { ok: true, result: [] });
        case 'sendMessage':
          return send(200, { ok: true, result: message({ text: params.text }) });
        case 'sendPhoto':
          return send(200, {
            ok: true,
            result: message({ photo: [{ file_id: 'p1', file_unique_id: 'u1', width: 2000, height: 1200 }] }),
          });
        case 'sendDocument':
          return send(200, {
            ok: true,
            result: message({ document: { file_id: 'd1', file_unique_id: 'u2' } }),
          });
        default:
          return send(200, { ok: true, result: true });
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    token,
    botInfo,
    apiRoot: `http://127.0.0.1:${port}`,
    calls,
    /** Calls of one method, in order. */
    of: (method: string) => calls.filter((c) => c.method === method),
    failNext(method: string, ...f: Array<{ status: number; retryAfter?: number }>) {
      failures.set(method, [...(failures.get(method) ?? []), ...f]);
    },
    clear: () => {
      calls.length = 0;
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
