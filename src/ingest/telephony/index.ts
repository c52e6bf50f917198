import { timingSafeEqual } from 'node:crypto';
import type { Db } from '../../db/client.ts';
import type { Logger } from '../../logger.ts';
import { HttpError, type HttpRequest, type Route } from '../../server/http.ts';
import { normalizePhone } from '../records.ts';
import { writeCanonical } from '../sync.ts';
import { asteriskCall } from './asterisk.ts';

/*
 * `POST /hooks/telephony/:provider`: a PBX or cloud telephony reports a
 * finished call. Providers:
 * - `generic`: the body is one calls.jsonl record (IMPORT_FORMAT.md) as JSON;
 * - `asterisk`: an Asterisk CDR (see asterisk.ts), JSON or form-encoded.
 * Every request carries the shared secret (TELEPHONY_SECRET) in the
 * `X-Voronka-Secret` header, as `Authorization: Bearer …`, or as `?secret=`
 * (the one a dialplan CURL() can add). The call is written through the import
 * path, then handed to `onCallsStored` to queue its analysis; a repeated
 * report of the same call changes nothing.
 */

type Rec = Record<string, unknown>;

export interface TelephonyDeps {
  db: Db;
  logger: Logger;
  /** TELEPHONY_SECRET; without it every request is refused. */
  secret: string | undefined;
  /** The company's time zone: PBX times without an offset are local times. */
  tz: string;
  onCallsStored?: (callIds: string[]) => Promise<void>;
  rejectsFile?: string;
}

export const telephonyProviders = ['generic', 'asterisk'] as const;
export type TelephonyProvider = (typeof telephonyProviders)[number];

function sameSecret(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

function presentedSecret(req: HttpRequest): string | undefined {
  const header = req.headers['x-voronka-secret'];
  if (typeof header === 'string' && header) return header;
  const auth = req.headers.authorization;
  if (typeof auth === 'string' && auth.toLowerCase().startsWith('bearer ')) return auth.slice(7).trim();
  return req.query.get('secret') ?? undefined;
}

function bodyObject(req: HttpRequest): Rec {
  const type = String(req.headers['content-type'] ?? '');
  const parsed: unknown = type.includes('application/x-www-form-urlencoded') ? req.form() : req.json();
  if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed))
    throw new HttpError(400, 'body must be one object');
  return parsed as Rec;
}

/** The manager whose extension (stored as their phone, or `extension` in extra) took the call. */
async function managerByExtension(db: Db, extension: string): Promise<string | null> {
  const rows = await db.query<{ id: string }>(
    `SELECT id FROM managers
     WHERE extra->>'extension' = $1 OR regexp_replace(coalesce(phone, ''), '\\D', '', 'g') = $1
     ORDER BY active DESC, id LIMIT 1`,
    [extension],
  );
  return rows[0]?.id ?? null;
}

async function toCall(provider: TelephonyProvider, body: Rec, deps: TelephonyDeps): Promise<Rec> {
  if (provider === 'generic') {
    if (typeof body.id !== 'string' || body.id === '') throw new HttpError(400, 'id is required');
    return body;
  }
  const parsed = asteriskCall(body, deps.tz);
  if ('error' in parsed) throw new HttpError(400, parsed.error);
  const rec = parsed.record;
  if (parsed.extension) rec.manager_id = await managerByExtension(deps.db, parsed.extension);
  return rec;
}

/** The telephony webhook route; the lead's composition root adds it to the HTTP server. */
export function telephonyRoutes(deps: TelephonyDeps): Route[] {
  return [
    {
      method: 'POST',
      path: '/hooks/telephony/:provider',
      handler: async (req) => {
        const given = presentedSecret(req);
        if (!deps.secret || !given || !sameSecret(given, deps.secret))
          throw new HttpError(401, 'bad or missing secret');
        const provider = req.params.provider as TelephonyProvider;
        if (!telephonyProviders.includes(provider))
          throw new HttpError(404, `unknown provider ${req.params.provider}`);
        const call = await toCall(provider, bodyObject(req), deps);
        const res = await writeCanonical(deps, { calls: [call] });
        if (res.rejected > 0 || res.callsStored.length === 0) {
          const reason = res.firstRejects[0]?.reason ?? 'rejected';
          deps.logger.warn({ provider, id: call.id, reason }, 'telephony: call rejected');
          return { status: 422, body: { error: reason } };
        }
        // Queued on every accepted report: if a retry comes because the first answer was lost, the queue still gets it.
        if (deps.onCallsStored) await deps.onCallsStored(res.callsStored);
        deps.logger.info(
          { provider, id: call.id, phone: normalizePhone(String(call.client_phone ?? '')).slice(-4) },
          'telephony: call stored',
        );
        return { status: 200, body: { ok: true, id: call.id } };
      },
    },
  ];
}
