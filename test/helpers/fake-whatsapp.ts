import { createHmac } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface GraphCall {
  method: string;
  /** Path without the version prefix: `/PHONE_ID/messages`, `/PHONE_ID/media`. */
  path: string;
  authorization: string | undefined;
  /** JSON body of /messages. */
  json?: Record<string, unknown> | undefined;
  /** Multipart fields of /media (the file as bytes). */
  form?: { fields: Record<string, string>; file?: { name: string; type: string; bytes: Buffer } } | undefined;
  /** The media id an upload was answered with. */
  mediaId?: string | undefined;
}

export interface GraphFailure {
  status: number;
  code: number;
  message?: string;
}

/** A sent message as Graph received it, with the wamid it was answered with. */
export interface SentMessage {
  id: string;
  to: string;
  type: string;
  body: Record<string, unknown>;
}

/**
 * A loopback WhatsApp Cloud API (Graph) server: `POST /<version>/<phone>/messages`
 * and `POST /<version>/<phone>/media` (multipart), bearer-token checked,
 * recording every call and answering with wamids and media ids. It can be told
 * to fail the next calls of an endpoint with a Graph error, or to answer slowly.
 */
export async function startFakeWhatsApp(
  opts: { token?: string; phoneNumberId?: string; version?: string } = {},
) {
  const token = opts.token ?? 'wa-test-token';
  const phoneNumberId = opts.phoneNumberId ?? '100200300';
  const version = opts.version ?? 'v21.0';
  const calls: GraphCall[] = [];
  const sent: SentMessage[] = [];
  const failures = new Map<string, GraphFailure[]>();
  let delayMs = 0;
  let seq = 0;

  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', async () => {
      const send = (status: number, body: unknown) => {
        res.writeHead(status, { 'content-type': 'application/json' });
        res.end(JSON.stringify(body));
      };
      const graphError = (status: number, code: number, message: string) =>
        send(status, {
          error: {
            message,
            type: 'OAuthException',
            code,
            error_data: { messaging_product: 'whatsapp', details: message },
            fbtrace_id: 'AbCdEf',
          },
        });
      const url = new URL(req.url ?? '/', 'http://localhost');
      const prefix = `/${version}`;
      if (!url.pathname.startsWith(`${prefix}/`)) return graphError(400, 2500, 'Unknown path components');
      const path = url.pathname.slice(prefix.length);
      const body = Buffer.concat(chunks);
      const call: GraphCall = { method: req.method ?? 'GET', path, authorization: req.headers.authorization };
      const type = req.headers['content-type'] ?? '';
      if (type.startsWith('multipart/form-data')) {
        const form = await new Request('http://fake/', {
          method: 'POST',
          headers: { 'content-type': type },
          body,
        }).formData();
        const fields: Record<string, string> = {};
        let file: { name: string; type: string; bytes: Buffer } | undefined;
        for (const [k, v] of form.entries()) {
          if (typeof v === 'string') fields[k] = v;
          else file = { name: v.name, type: v.type, bytes: Buffer.from(await v.arrayBuffer()) };
        }
        call.form = { fields, file };
      } else if (body.length > 0) {
        call.json = JSON.parse(body.toString('utf8'));
      }
      calls.push(call);
      if (delayMs > 0) await new Promise((r) => setTimeout(r, delayMs));
      if (call.authorization !== `Bearer ${token}`)
        return graphError(401, 190, 'Invalid OAuth access token - Cannot parse access token');
      const endpoint =
        path === `/${phoneNumberId}/messages`
          ? 'messages'
          : path === `/${phoneNumberId}/media`
            ? 'media'
            : undefined;
      if (!endpoint || req.method !== 'POST') return graphError(400, 100, 'Unsupported post request');
      const planned = failures.get(endpoint)?.shift();
      if (planned) return graphError(planned.status, planned.code, planned.message ?? 'Something went wrong');
      if (endpoint === 'media') {
        if (call.form?.fields.messaging_product !== 'whatsapp' || !call.form.file) {
          return graphError(400, 100, 'The parameter messaging_product is required.');
        }
        call.mediaId = `media-${++seq}`;
        return send(200, { id: call.mediaId });
      }
      const msg = call.json ?? {};
      if (
        msg.messaging_product !== 'whatsapp' ||
        typeof msg.to !== 'string' ||
        typeof msg.type !== 'string'
      ) {
        return graphError(400, 100, 'Invalid parameter');
      }
      const id = `wamid.FAKE${++seq}`;
      sent.push({ id, to: msg.to, type: msg.type, body: msg[msg.type] as Record<string, unknown> });
      return send(200, {
        messaging_product: 'whatsapp',
        contacts: [{ input: msg.to, wa_id: msg.to }],
        messages: [{ id }],
      });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;

  return {
    token,
    phoneNumberId,
    graphUrl: `http://127.0.0.1:${port}/${version}`,
    calls,
    sent,
    /** Messages sent to one number, in order. */
    to: (wa: string) => sent.filter((m) => m.to === wa),
    /** Everything a number was told in words: texts, interactive bodies, captions. */
    saidTo: (wa: string) =>
      sent
        .filter((m) => m.to === wa)
        .map((m) => {
          if (m.type === 'text') return String(m.body.body ?? '');
          if (m.type === 'interactive')
            return String((m.body.body as { text?: string } | undefined)?.text ?? '');
          return String(m.body.caption ?? '');
        })
        .join('\n'),
    uploads: () => calls.filter((c) => c.form),
    failNext(endpoint: 'messages' | 'media', ...f: GraphFailure[]) {
      failures.set(endpoint, [...(failures.get(endpoint) ?? []), ...f]);
    },
    setDelay(ms: number) {
      delayMs = ms;
    },
    clear() {
      calls.length = 0;
      sent.length = 0;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

export type FakeWhatsApp = Awaited<ReturnType<typeof startFakeWhatsApp>>;

/* ---------- webhook posts as Meta builds them ---------- */

/** JSON as Meta writes webhook bodies: non-ASCII as \uXXXX and `/` as `\/` (the signature covers these bytes). */
export function metaJson(value: unknown): string {
  return JSON.stringify(value)
    .replace(/\//g, '\\/')
    .replace(/[^\0-~]/g, (ch) => `\\u${ch.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

export function signature(body: string | Buffer, appSecret: string): string {
  return `sha256=${createHmac('sha256', appSecret).update(body).digest('hex')}`;
}

export interface MessageSpec {
  from: string;
  id: string;
  /** Unix seconds. */
  timestamp: number;
  name?: string;
  text?: string;
  buttonReply?: { id: string; title: string };
  listReply?: { id: string; title: string };
  templateButton?: { text: string; payload: string };
  contextId?: string;
  type?: string;
}

export function inboundMessage(m: MessageSpec): Record<string, unknown> {
  const base: Record<string, unknown> = { from: m.from, id: m.id, timestamp: String(m.timestamp) };
  if (m.contextId) base.context = { from: '15550001111', id: m.contextId };
  if (m.text !== undefined) return { ...base, type: 'text', text: { body: m.text } };
  if (m.buttonReply)
    return {
      ...base,
      type: 'interactive',
      interactive: { type: 'button_reply', button_reply: m.buttonReply },
    };
  if (m.listReply)
    return { ...base, type: 'interactive', interactive: { type: 'list_reply', list_reply: m.listReply } };
  if (m.templateButton) return { ...base, type: 'button', button: m.templateButton };
  return {
    ...base,
    type: m.type ?? 'image',
    image: { id: 'in-media-1', mime_type: 'image/jpeg', sha256: 'x' },
  };
}

export interface StatusSpec {
  id: string;
  status: 'sent' | 'delivered' | 'read' | 'failed';
  recipient: string;
  timestamp: number;
  error?: { code: number; title: string };
}

export function statusUpdate(s: StatusSpec): Record<string, unknown> {
  return {
    id: s.id,
    status: s.status,
    timestamp: String(s.timestamp),
    recipient_id: s.recipient,
    ...(s.error
      ? {
          errors: [
            {
              code: s.error.code,
              title: s.error.title,
              message: s.error.title,
              error_data: { details: s.error.title },
            },
          ],
        }
      : {}),
  };
}

/** The whole webhook body of one change for the `messages` field. */
export function webhookBody(
  phoneNumberId: string,
  parts: { messages?: MessageSpec[]; statuses?: StatusSpec[] },
): Record<string, unknown> {
  const value: Record<string, unknown> = {
    messaging_product: 'whatsapp',
    metadata: { display_phone_number: '15550001111', phone_number_id: phoneNumberId },
  };
  if (parts.messages?.length) {
    value.contacts = parts.messages.map((m) => ({ profile: { name: m.name ?? 'Тест' }, wa_id: m.from }));
    value.messages = parts.messages.map(inboundMessage);
  }
  if (parts.statuses?.length) value.statuses = parts.statuses.map(statusUpdate);
  return {
    object: 'whatsapp_business_account',
    entry: [{ id: 'WABA-1', changes: [{ value, field: 'messages' }] }],
  };
}
