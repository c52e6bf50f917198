import { timingSafeEqual } from 'node:crypto';
import type { Db } from '../../db/client.ts';
import { HttpError, type Route } from '../../server/http.ts';
import {
  type AmocrmConfig,
  type CanonicalRecords,
  type Connector,
  type ConnectorStream,
  recallFact,
  rememberFact,
  type StreamContext,
  type SyncDeps,
  type WebhookDeps,
  writeCanonical,
} from '../sync.ts';
import { AmocrmClient, embedded, hasNext } from './client.ts';
import * as map from './map.ts';

/*
 * The amoCRM connector. Lists are read with page/limit (250, events 100)
 * ordered by `updated_at` and re-anchored on the last `updated_at` seen, so a
 * record edited during the run moves ahead of the reader instead of shifting
 * the pages under it; the next run starts from the last `updated_at` read.
 * Events only grow, so they are read in a fixed [since, run start] window.
 */

type Rec = Record<string, unknown>;

const LIMIT = 250;
const EVENTS_LIMIT = 100;
const EVENT_TYPES = ['lead_added', 'lead_status_changed'];
const CALL_NOTES = ['call_in', 'call_out'];
/** Events are re-read this far back, in case one was recorded with an earlier time after the last run. */
const EVENTS_OVERLAP_S = 60;

export function amocrmClient(deps: SyncDeps, cfg: AmocrmConfig): AmocrmClient {
  return new AmocrmClient({
    baseUrl: cfg.baseUrl,
    token: cfg.token,
    logger: deps.logger,
    ...(deps.fetch ? { fetch: deps.fetch } : {}),
    ...(deps.sleep ? { sleep: deps.sleep } : {}),
    now: () => deps.now().getTime(),
  });
}

interface KeysetPos {
  from: number | null;
  page: number;
}

/**
 * Pages of a list ordered by `updated_at`, from `since` (inclusive). After a
 * page the reader re-anchors on its last `updated_at`; only when a whole page
 * shares one `updated_at` does it move to the next page of the same anchor.
 */
async function* updatedScan(
  client: AmocrmClient,
  pathname: string,
  key: string,
  base: Array<[string, string]>,
  start: KeysetPos,
): AsyncGenerator<{ records: Rec[]; pos: KeysetPos; maxUpdated: number | null }> {
  let pos = start;
  for (;;) {
    const q = new URLSearchParams(base);
    q.set('limit', String(LIMIT));
    q.set('page', String(pos.page));
    q.set('order[updated_at]', 'asc');
    if (pos.from !== null) q.set('filter[updated_at][from]', String(pos.from));
    const body = await client.get(pathname, q);
    const records = embedded(body, key);
    if (records.length === 0) return;
    const last = Number(records.at(-1)!.updated_at);
    const more = hasNext(body);
    const next: KeysetPos =
      Number.isFinite(last) && (pos.from === null || last > pos.from)
        ? { from: last, page: 1 }
        : { from: pos.from, page: pos.page + 1 };
    const maxUpdated = records.reduce<number | null>((m, r) => {
      const u = Number(r.updated_at);
      return Number.isFinite(u) && (m === null || u > m) ? u : m;
    }, null);
    yield { records, pos: next, maxUpdated };
    if (!more) return;
    pos = next;
  }
}

function stream(name: string, run: (ctx: StreamContext) => Promise<void>): ConnectorStream {
  return { name, run };
}

async function accountFacts(
  client: AmocrmClient,
  db: Db,
): Promise<{ id: string; currency: string; groups: Rec[] }> {
  const account =
    (await client.get('/api/v4/account', new URLSearchParams([['with', 'users_groups']]))) ?? {};
  const id = String(account.id);
  await rememberFact(db, 'amocrm', 'accountId', id);
  const currency = typeof account.currency === 'string' && account.currency ? account.currency : 'RUB';
  await rememberFact(db, 'amocrm', 'currency', currency);
  return { id, currency, groups: embedded(account, 'users_groups') };
}

async function currencyOf(db: Db): Promise<string> {
  const c = await recallFact(db, 'amocrm', 'currency');
  return typeof c === 'string' ? c : 'RUB';
}

export function amocrmConnector(deps: SyncDeps, cfg: AmocrmConfig): Connector {
  const client = amocrmClient(deps, cfg);
  const { db } = deps;

  const directory = stream('directory', async (ctx) => {
    const account = await accountFacts(client, db);
    const users: Rec[] = [];
    for (let page = 1; ; page++) {
      const body = await client.get(
        '/api/v4/users',
        new URLSearchParams([
          ['limit', String(LIMIT)],
          ['page', String(page)],
        ]),
      );
      users.push(...embedded(body, 'users'));
      if (!hasNext(body)) break;
    }
    const pipelines = embedded(await client.get('/api/v4/leads/pipelines'), 'pipelines');
    const groupIds = new Set(account.groups.map((g) => String(g.id)));
    await ctx.emit(
      {
        departments: account.groups.map(map.department),
        managers: users.map((u) => map.manager(u, groupIds)),
        pipelines: pipelines.map(map.pipeline),
        stages: pipelines.flatMap(map.stages),
      },
      null,
      users.length + pipelines.length + account.groups.length,
    );
  });

  /** A list read by `updated_at`; the next run starts from the newest `updated_at` read. */
  const keysetStream = (
    name: string,
    pathname: string,
    key: string,
    base: Array<[string, string]>,
    toRecords: (recs: Rec[]) => Promise<CanonicalRecords>,
  ) =>
    stream(name, async (ctx) => {
      const start = (ctx.pos as KeysetPos | undefined) ?? {
        from: ctx.since === null ? null : Number(ctx.since),
        page: 1,
      };
      // On a resumed run the newest `updated_at` read before the interruption still counts.
      const known = ctx.nextSince ?? ctx.since;
      let newest = known === null ? null : Number(known);
      if (newest !== null) ctx.setNextSince(String(newest));
      for await (const page of updatedScan(client, pathname, key, base, start)) {
        if (page.maxUpdated !== null && (newest === null || page.maxUpdated > newest))
          newest = page.maxUpdated;
        if (newest !== null) ctx.setNextSince(String(newest));
        await ctx.emit(await toRecords(page.records), page.pos, page.records.length);
      }
    });

  const events = stream('events', async (ctx) => {
    const pos = ctx.pos as { from: number | null; to: number; page: number } | undefined;
    const to = pos?.to ?? Math.floor(deps.now().getTime() / 1000);
    const from = pos ? pos.from : ctx.since === null ? null : Number(ctx.since) - EVENTS_OVERLAP_S;
    ctx.setNextSince(String(to));
    for (let page = pos?.page ?? 1; ; page++) {
      const q = new URLSearchParams([
        ['limit', String(EVENTS_LIMIT)],
        ['page', String(page)],
        ['filter[entity][]', 'lead'],
        ...EVENT_TYPES.map((t): [string, string] => ['filter[type][]', t]),
        ['filter[created_at][to]', String(to)],
      ]);
      if (from !== null) q.set('filter[created_at][from]', String(from));
      const body = await client.get('/api/v4/events', q);
      const list = embedded(body, 'events');
      if (list.length === 0) break;
      const entries = list.map(map.stageEntry).filter((x): x is Rec => x !== null);
      await ctx.emit({ stage_history: entries }, { from, to, page: page + 1 }, list.length);
      if (!hasNext(body)) break;
    }
  });

  const noteStreams = (['leads', 'contacts', 'companies'] as const).map((entityType) =>
    keysetStream(
      `${entityType}_calls`,
      `/api/v4/${entityType}/notes`,
      'notes',
      CALL_NOTES.map((t): [string, string] => ['filter[note_type][]', t]),
      async (notes) => ({
        calls: notes.map((n) => map.call(n, entityType)).filter((x): x is Rec => x !== null),
      }),
    ),
  );

  return {
    streams: [
      directory,
      keysetStream('companies', '/api/v4/companies', 'companies', [], async (r) => ({
        companies: r.map(map.company),
      })),
      keysetStream('contacts', '/api/v4/contacts', 'contacts', [['with', 'companies']], async (r) => ({
        contacts: r.map(map.contact),
      })),
      keysetStream('leads', '/api/v4/leads', 'leads', [['with', 'contacts,loss_reason']], async (r) => {
        const currency = await currencyOf(db);
        return { deals: r.map((l) => map.deal(l, currency)) };
      }),
      events,
      ...noteStreams,
      keysetStream('tasks', '/api/v4/tasks', 'tasks', [], async (r) => ({
        tasks: r.map(map.task).filter((x): x is Rec => x !== null),
      })),
    ],
    requests: () => client.requests,
  };
}

/* ---------------- webhooks ---------------- */

type Form = Record<string, unknown>;

const obj = (v: unknown): Form => (v && typeof v === 'object' && !Array.isArray(v) ? (v as Form) : {});
const list = (v: unknown): Form[] => (Array.isArray(v) ? (v as Form[]) : Object.values(obj(v)).map(obj));

function sameSecret(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

function idsOf(section: unknown, actions: string[], type?: string): string[] {
  const s = obj(section);
  return actions.flatMap((a) =>
    list(s[a])
      .filter((x) => type === undefined || (x.type ?? 'contact') === type)
      .map((x) => String(x.id ?? ''))
      .filter((id) => id !== ''),
  );
}

const UPSERT = ['add', 'update', 'status', 'restore', 'responsible'];

function idFilter(ids: string[], extra: Array<[string, string]> = []): URLSearchParams {
  return new URLSearchParams([...ids.map((id): [string, string] => ['filter[id][]', id]), ...extra]);
}

/** Fetches what a webhook names and returns it as canonical records, plus the call ids among them. */
async function fetchForWebhook(client: AmocrmClient, db: Db, body: Form): Promise<CanonicalRecords> {
  const out: CanonicalRecords = {};
  const push = (e: keyof CanonicalRecords, recs: Rec[]) => {
    if (recs.length === 0) return;
    const into = out[e] ?? [];
    into.push(...recs);
    out[e] = into;
  };
  const leadIds = idsOf(body.leads, UPSERT);
  const deletedLeads = idsOf(body.leads, ['delete']);
  const contactIds = [...idsOf(body.contacts, UPSERT, 'contact')];
  const companyIds = [...idsOf(body.contacts, UPSERT, 'company'), ...idsOf(body.companies, UPSERT)];
  const taskIds = idsOf(body.task ?? body.tasks, UPSERT);
  push(
    'deals',
    deletedLeads.map((id) => ({ id, deleted: true })),
  );
  push(
    'contacts',
    idsOf(body.contacts, ['delete'], 'contact').map((id) => ({ id, deleted: true })),
  );
  push(
    'companies',
    [...idsOf(body.contacts, ['delete'], 'company'), ...idsOf(body.companies, ['delete'])].map((id) => ({
      id,
      deleted: true,
    })),
  );
  push(
    'tasks',
    idsOf(body.task ?? body.tasks, ['delete']).map((id) => ({ id, deleted: true })),
  );

  if (leadIds.length > 0) {
    const currency = await currencyOf(db);
    const leads = embedded(
      await client.get('/api/v4/leads', idFilter(leadIds, [['with', 'contacts,loss_reason']])),
      'leads',
    );
    push(
      'deals',
      leads.map((l) => map.deal(l, currency)),
    );
    // A lead may name a contact or company created since the last sync.
    for (const l of leads) {
      const emb = obj(l._embedded);
      contactIds.push(...list(emb.contacts).map((c) => String(c.id)));
      companyIds.push(...list(emb.companies).map((c) => String(c.id)));
    }
    const q = new URLSearchParams([
      ['limit', String(EVENTS_LIMIT)],
      ['filter[entity][]', 'lead'],
      ...leadIds.map((id): [string, string] => ['filter[entity_id][]', id]),
      ...EVENT_TYPES.map((t): [string, string] => ['filter[type][]', t]),
    ]);
    for (let page = 1; ; page++) {
      q.set('page', String(page));
      const ev = await client.get('/api/v4/events', q);
      push(
        'stage_history',
        embedded(ev, 'events')
          .map(map.stageEntry)
          .filter((x): x is Rec => x !== null),
      );
      if (!hasNext(ev)) break;
    }
  }
  if (contactIds.length > 0) {
    const contacts = embedded(
      await client.get('/api/v4/contacts', idFilter([...new Set(contactIds)], [['with', 'companies']])),
      'contacts',
    );
    push('contacts', contacts.map(map.contact));
    for (const c of contacts) companyIds.push(...list(obj(c._embedded).companies).map((x) => String(x.id)));
  }
  if (companyIds.length > 0) {
    push(
      'companies',
      embedded(await client.get('/api/v4/companies', idFilter([...new Set(companyIds)])), 'companies').map(
        map.company,
      ),
    );
  }
  if (taskIds.length > 0) {
    push(
      'tasks',
      embedded(await client.get('/api/v4/tasks', idFilter(taskIds)), 'tasks')
        .map(map.task)
        .filter((x): x is Rec => x !== null),
    );
  }
  // Notes: `note[note_type]` 10/11 (or call_in/call_out) on an element of type 1 contact, 2 lead, 3 company.
  const ELEMENT: Record<string, string> = { '1': 'contacts', '2': 'leads', '3': 'companies' };
  for (const n of list(obj(body.notes).add)) {
    const note = obj(n.note ?? n);
    const type = String(note.note_type ?? '');
    if (!['10', '11', 'call_in', 'call_out'].includes(type)) continue;
    const entityType = ELEMENT[String(note.element_type)];
    const id = String(note.id ?? '');
    const entityId = String(note.element_id ?? '');
    if (!entityType || !id || !entityId) continue;
    const one = await client.get<Rec>(`/api/v4/${entityType}/${entityId}/notes/${id}`);
    const c = one ? map.call(one, entityType) : null;
    if (c) push('calls', [c]);
  }
  return out;
}

/**
 * `POST /hooks/amocrm/:secret`: amoCRM posts form-encoded events with no
 * signature, so the URL carries a secret (AMOCRM_WEBHOOK_SECRET) and the body
 * must name our account. The changed records are fetched and written before
 * answering; a repeated event writes the same records again.
 */
export function amocrmWebhookRoute(deps: WebhookDeps, cfg: AmocrmConfig): Route {
  const client = amocrmClient(deps, cfg);
  return {
    method: 'POST',
    path: '/hooks/amocrm/:secret',
    handler: async (req) => {
      if (!cfg.webhookSecret || !sameSecret(req.params.secret ?? '', cfg.webhookSecret)) {
        throw new HttpError(401, 'bad webhook secret');
      }
      const body = req.form();
      let accountId = await recallFact(deps.db, 'amocrm', 'accountId');
      if (accountId === undefined) accountId = (await accountFacts(client, deps.db)).id;
      if (String(obj(body.account).id ?? '') !== String(accountId))
        throw new HttpError(401, 'unknown account');
      const records = await fetchForWebhook(client, deps.db, body);
      const res = await writeCanonical(deps, records);
      if (res.callsStored.length > 0 && deps.onCallsStored) await deps.onCallsStored(res.callsStored);
      deps.logger.info({ rejected: res.rejected, entities: Object.keys(records) }, 'amocrm webhook applied');
      return { status: 200, body: { ok: true } };
    },
  };
}
