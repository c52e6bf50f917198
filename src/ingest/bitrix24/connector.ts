import { timingSafeEqual } from 'node:crypto';
import type { Db } from '../../db/client.ts';
import { HttpError, type Route } from '../../server/http.ts';
import type {
  Bitrix24Config,
  CanonicalRecords,
  Connector,
  ConnectorStream,
  StreamContext,
  SyncDeps,
  WebhookDeps,
} from '../sync.ts';
import { writeCanonical } from '../sync.ts';
import { type B24Command, Bitrix24Client } from './client.ts';
import { type ListSpec, offsetScan, type Page, pagedScan, type WindowPos, windowScan } from './lists.ts';
import * as map from './map.ts';

/*
 * The Bitrix24 connector: what to read, in which order, and how each list is
 * paged. Directories (users, departments, funnels, stages, sources, lines) are
 * read whole every run; CRM records incrementally by DATE_MODIFY /
 * LAST_UPDATED / CHANGED_DATE; stage history and calls, which only grow, by id.
 */

type Rec = Record<string, unknown>;

/** A "modified since" bound is moved back by this much, so records saved while a run began are read again. */
const SINCE_MARGIN_MS = 60_000;

export function bitrix24Client(deps: SyncDeps, cfg: Bitrix24Config): Bitrix24Client {
  return new Bitrix24Client({
    webhookUrl: cfg.webhookUrl,
    logger: deps.logger,
    ...(deps.fetch ? { fetch: deps.fetch } : {}),
    ...(deps.sleep ? { sleep: deps.sleep } : {}),
    now: () => deps.now().getTime(),
  });
}

const arr = (v: unknown): Rec[] => (Array.isArray(v) ? (v as Rec[]) : []);
const itemsOf = (key: string) => (result: unknown) => arr((result as Rec | undefined)?.[key]);
const byUpperId = (r: Rec) => Number(r.ID);
const crmOrder = (dir: 'ASC' | 'DESC') => ({ order: { ID: dir } });

const crmList = (method: string, select: string[], extra: Partial<ListSpec> = {}): ListSpec => ({
  method,
  params: { select },
  order: crmOrder,
  items: arr,
  idOf: byUpperId,
  gt: '>ID',
  lte: '<=ID',
  windows: true,
  ...extra,
});

export const specs = {
  companies: crmList('crm.company.list', ['*']),
  contacts: crmList('crm.contact.list', ['*', 'PHONE']),
  leads: crmList('crm.lead.list', ['*']),
  deals: crmList('crm.deal.list', ['*']),
  activities: crmList('crm.activity.list', ['*']),
  history: (entityTypeId: 1 | 2): ListSpec => ({
    method: 'crm.stagehistory.list',
    params: { entityTypeId },
    order: crmOrder,
    items: itemsOf('items'),
    idOf: byUpperId,
    gt: '>ID',
    lte: '<=ID',
  }),
  calls: {
    method: 'voximplant.statistic.get',
    filterKey: 'FILTER',
    order: (dir) => ({ SORT: 'ID', ORDER: dir }),
    items: arr,
    idOf: byUpperId,
    gt: '>ID',
    lte: '<=ID',
  } satisfies ListSpec,
  tasks: {
    method: 'tasks.task.list',
    params: {
      select: [
        'ID',
        'TITLE',
        'CREATED_BY',
        'RESPONSIBLE_ID',
        'GROUP_ID',
        'CREATED_DATE',
        'START_DATE_PLAN',
        'DATE_START',
        'DEADLINE',
        'CLOSED_DATE',
        'CHANGED_DATE',
        'STATUS',
        'UF_CRM_TASK',
      ],
    },
    order: (dir) => ({ order: { ID: dir.toLowerCase() } }),
    items: itemsOf('tasks'),
    idOf: (r) => Number(r.id),
    gt: '>ID',
    lte: '<=ID',
  } satisfies ListSpec,
};

/** The incremental bound for a run: the portal's time at its start, less a margin. */
function nextSinceFrom(client: Bitrix24Client, deps: SyncDeps): string {
  const server = client.serverTime ? new Date(client.serverTime) : deps.now();
  const at = Number.isNaN(server.getTime()) ? deps.now() : server;
  return new Date(at.getTime() - SINCE_MARGIN_MS).toISOString();
}

/** Bitrix24 filters compare in the portal's time zone; an ISO string with an offset is read correctly. */
const sinceFilter = (field: string, since: string | null) => (since ? { [`>=${field}`]: since } : {});

/**
 * Reads a CRM list: id windows on a full run; otherwise `start`/`next` pages
 * filtered by each of the "changed since" fields in turn (for leads and deals
 * also LAST_ACTIVITY_TIME, which a new comment moves without DATE_MODIFY).
 */
async function* scanCrm(
  client: Bitrix24Client,
  spec: ListSpec,
  ctx: StreamContext,
  changedFields: string[],
): AsyncGenerator<{ page: Page; pos: unknown }> {
  if (ctx.since === null && spec.windows) {
    const start = (ctx.pos as WindowPos | undefined) ?? undefined;
    for await (const page of windowScan(client, spec, start)) yield { page, pos: page.pos };
    return;
  }
  const pos = (ctx.pos as { pass?: number; after?: number } | undefined) ?? {};
  for (let pass = pos.pass ?? 0; pass < changedFields.length; pass++) {
    const filtered: ListSpec = {
      ...spec,
      filter: { ...(spec.filter ?? {}), ...sinceFilter(changedFields[pass]!, ctx.since) },
    };
    const after = pass === pos.pass ? (pos.after ?? 0) : 0;
    for await (const page of pagedScan(client, filtered, after))
      yield { page, pos: { pass, after: page.after } };
    if (ctx.since === null) return;
  }
}

/** Which deal each lead became: Bitrix24 keeps the link on the deal (LEAD_ID) only. */
async function dealsOfLeads(db: Db, leadIds: string[]): Promise<Map<string, string>> {
  if (leadIds.length === 0) return new Map();
  const rows = await db.query<{ lead_id: string; id: string }>(
    `SELECT DISTINCT ON (lead_id) lead_id, id FROM deals WHERE lead_id = ANY($1::text[]) ORDER BY lead_id, created_at, id`,
    [leadIds],
  );
  return new Map(rows.map((r) => [r.lead_id, r.id]));
}

/**
 * The moment each closed lead or deal without MOVED_TIME entered its current
 * stage: from stored history, else from the portal's history (its latest entry).
 */
async function enteredAt(
  client: Bitrix24Client,
  db: Db,
  kind: 'lead' | 'deal',
  recs: Rec[],
): Promise<Map<string, string>> {
  const semantic = (r: Rec) => (kind === 'lead' ? r.STATUS_SEMANTIC_ID : r.STAGE_SEMANTIC_ID);
  const missing = recs
    .filter((r) => !map.ts(r.MOVED_TIME) && map.semanticOf(semantic(r)) !== 'open')
    .map((r) => String(r.ID));
  if (missing.length === 0) return new Map();
  const rows = await db.query<{ entity_id: string; at: Date }>(
    `SELECT entity_id, max(at) AS at FROM stage_history WHERE entity = $1 AND entity_id = ANY($2::text[]) GROUP BY entity_id`,
    [kind, missing],
  );
  const out = new Map(rows.map((r) => [r.entity_id, new Date(r.at).toISOString()]));
  const ask = missing.filter((id) => !out.has(id));
  for (let i = 0; i < ask.length; i += 50) {
    const cmds: Record<string, B24Command> = {};
    for (const id of ask.slice(i, i + 50)) {
      cmds[`h${id}`] = {
        method: 'crm.stagehistory.list',
        params: {
          entityTypeId: kind === 'lead' ? 1 : 2,
          filter: { OWNER_ID: id },
          order: { ID: 'DESC' },
          start: -1,
        },
      };
    }
    const res = await client.batch(cmds);
    for (const id of ask.slice(i, i + 50)) {
      const latest = itemsOf('items')(res.result[`h${id}`])[0];
      const at = latest ? map.ts(latest.CREATED_TIME) : null;
      if (at) out.set(id, at);
    }
  }
  return out;
}

async function mapLeads(client: Bitrix24Client, db: Db, leads: Rec[]): Promise<Rec[]> {
  const deals = await dealsOfLeads(
    db,
    leads.map((l) => String(l.ID)),
  );
  const entered = await enteredAt(client, db, 'lead', leads);
  return leads.map((l) => map.lead(l, deals.get(String(l.ID)), entered.get(String(l.ID))));
}

async function mapDeals(client: Bitrix24Client, db: Db, deals: Rec[]): Promise<Rec[]> {
  const entered = await enteredAt(client, db, 'deal', deals);
  return deals.map((d) => map.deal(d, entered.get(String(d.ID))));
}

/** The owner (lead, deal, contact, company) of each call activity: a call belongs to what its activity is bound to. */
async function activityOwners(
  client: Bitrix24Client,
  activityIds: string[],
): Promise<Map<string, { entity: string | null; id: string | null }>> {
  const owners = new Map<string, { entity: string | null; id: string | null }>();
  const ids = [...new Set(activityIds)];
  for (let i = 0; i < ids.length; i += 50 * 50) {
    const cmds: Record<string, B24Command> = {};
    const chunk = ids.slice(i, i + 2500);
    for (let k = 0; k * 50 < chunk.length; k++) {
      cmds[`a${k}`] = {
        method: 'crm.activity.list',
        params: {
          filter: { '@ID': chunk.slice(k * 50, k * 50 + 50) },
          select: ['ID', 'OWNER_TYPE_ID', 'OWNER_ID'],
        },
      };
    }
    const res = await client.batch(cmds);
    for (const key of Object.keys(cmds)) {
      for (const a of arr(res.result[key])) {
        owners.set(String(a.ID), { entity: map.ownerEntity(a.OWNER_TYPE_ID), id: map.ref(a.OWNER_ID) });
      }
    }
  }
  return owners;
}

async function mapCalls(client: Bitrix24Client, stats: Rec[]): Promise<Rec[]> {
  const owners = await activityOwners(
    client,
    stats.map((s) => map.ref(s.CRM_ACTIVITY_ID)).filter((x): x is string => x !== null),
  );
  return stats.map((s) => map.call(s, owners.get(String(map.ref(s.CRM_ACTIVITY_ID)))));
}

/** Timeline comments of the given leads and deals: one list call per record, 50 a batch. */
async function fetchComments(
  client: Bitrix24Client,
  targets: Array<{ entity: 'lead' | 'deal'; id: string }>,
): Promise<Rec[]> {
  const out: Rec[] = [];
  let queue = targets.map((t) => ({ ...t, start: 0 }));
  while (queue.length > 0) {
    const chunk = queue.slice(0, 50);
    queue = queue.slice(50);
    const cmds: Record<string, B24Command> = {};
    chunk.forEach((t, k) => {
      cmds[`c${k}`] = {
        method: 'crm.timeline.comment.list',
        params: {
          filter: { ENTITY_ID: t.id, ENTITY_TYPE: t.entity },
          select: ['ID', 'ENTITY_ID', 'ENTITY_TYPE', 'CREATED', 'AUTHOR_ID'],
          order: { ID: 'ASC' },
          start: t.start,
        },
      };
    });
    const res = await client.batch(cmds);
    chunk.forEach((t, k) => {
      out.push(...arr(res.result[`c${k}`]));
      const next = res.next[`c${k}`];
      if (next !== undefined) queue.push({ ...t, start: Number(next) });
    });
  }
  return out.map(map.comment);
}

function stream(name: string, run: (ctx: StreamContext) => Promise<void>): ConnectorStream {
  return { name, run };
}

export function bitrix24Connector(deps: SyncDeps, cfg: Bitrix24Config): Connector {
  const client = bitrix24Client(deps, cfg);
  const { db } = deps;

  const directory = stream('directory', async (ctx) => {
    const departments: Rec[] = [];
    for await (const page of offsetScan(
      client,
      'department.get',
      { sort: 'ID', order: 'ASC' },
      arr,
      'START',
    )) {
      departments.push(...page);
    }
    const users: Rec[] = [];
    for await (const page of offsetScan(client, 'user.get', { sort: 'ID', order: 'ASC' }, arr))
      users.push(...page);
    const lists = await client.batch({
      categories: { method: 'crm.category.list', params: { entityTypeId: 2 } },
      leadStatuses: {
        method: 'crm.status.list',
        params: { filter: { ENTITY_ID: 'STATUS' }, order: { SORT: 'ASC' } },
      },
      sources: {
        method: 'crm.status.list',
        params: { filter: { ENTITY_ID: 'SOURCE' }, order: { SORT: 'ASC' } },
      },
      lines: { method: 'telephony.externalLine.get' },
    });
    const categories = itemsOf('categories')(lists.result.categories);
    if (!categories.some((c) => String(c.id) === '0')) categories.push({ id: 0, name: 'Общая' });
    const stageCmds: Record<string, B24Command> = {};
    for (const c of categories.slice(0, 50)) {
      const entityId = String(c.id) === '0' ? 'DEAL_STAGE' : `DEAL_STAGE_${c.id}`;
      stageCmds[`s${c.id}`] = {
        method: 'crm.status.list',
        params: { filter: { ENTITY_ID: entityId }, order: { SORT: 'ASC' } },
      };
    }
    const stageLists = await client.batch(stageCmds);
    const dealStages = Object.keys(stageCmds).flatMap((k) => arr(stageLists.result[k]));
    const departmentIds = new Set(departments.map((d) => String(d.ID)));
    const heads = new Set(departments.map((d) => map.ref(d.UF_HEAD)).filter((x): x is string => x !== null));
    const records: CanonicalRecords = {
      departments: departments.map(map.department),
      managers: users.map((u) => map.manager(u, heads, departmentIds)),
      pipelines: [
        { id: map.LEAD_PIPELINE, name: 'Лиды', entity: 'lead' },
        ...categories.map(map.dealPipeline),
      ],
      stages: [...arr(lists.result.leadStatuses), ...dealStages].map(map.stage),
      sources: arr(lists.result.sources).map(map.source),
      phone_lines: arr(lists.result.lines)
        .map(map.phoneLine)
        .filter((x): x is Rec => x !== null),
    };
    const n = departments.length + users.length + categories.length + dealStages.length;
    await ctx.emit(records, null, n);
    ctx.setNextSince(ctx.nextSince ?? nextSinceFrom(client, deps));
  });

  const crmStream = (
    name: string,
    spec: ListSpec,
    changedFields: string[],
    toRecords: (recs: Rec[]) => Promise<CanonicalRecords>,
  ) =>
    stream(name, async (ctx) => {
      ctx.setNextSince(ctx.nextSince ?? nextSinceFrom(client, deps));
      for await (const { page, pos } of scanCrm(client, spec, ctx, changedFields)) {
        await ctx.emit(await toRecords(page.records), pos, page.records.length, page.total);
      }
    });

  /** Stage history only grows: read by id from where the last run ended. */
  const historyStream = (name: string, kind: 'lead' | 'deal') =>
    stream(name, async (ctx) => {
      let after = (ctx.pos as { after?: number } | undefined)?.after ?? Number(ctx.since ?? 0);
      ctx.setNextSince(String(after));
      for await (const page of pagedScan(client, specs.history(kind === 'lead' ? 1 : 2), after)) {
        after = page.after;
        ctx.setNextSince(String(after));
        await ctx.emit(
          { stage_history: page.records.map((h) => map.stageHistory(h, kind)) },
          { after },
          page.records.length,
          page.total,
        );
      }
    });

  /**
   * Comments of leads and deals read from our database: all of them on a full
   * run, otherwise those whose modification or last activity time moved since
   * the last run (a new comment moves LAST_ACTIVITY_TIME).
   */
  const commentsStream = stream('comments', async (ctx) => {
    await ctx.flush();
    ctx.setNextSince(ctx.nextSince ?? nextSinceFrom(client, deps));
    const pos = (ctx.pos as { kind: 'lead' | 'deal'; after: string } | undefined) ?? {
      kind: 'lead',
      after: '',
    };
    for (const kind of ['lead', 'deal'] as const) {
      if (kind === 'lead' && pos.kind === 'deal') continue;
      let after = pos.kind === kind ? pos.after : '';
      for (;;) {
        const rows = await db.query<{ id: string }>(
          `SELECT id FROM ${kind}s WHERE id > $1
             AND ($2::timestamptz IS NULL OR (extra->>'bitrix_modified_at')::timestamptz >= $2::timestamptz
                  OR (extra->>'bitrix_last_activity_at')::timestamptz >= $2::timestamptz)
           ORDER BY id LIMIT 2500`,
          [after, ctx.since],
        );
        if (rows.length === 0) break;
        const comments = await fetchComments(
          client,
          rows.map((r) => ({ entity: kind, id: r.id })),
        );
        after = rows.at(-1)!.id;
        await ctx.emit({ activities: comments }, { kind, after }, comments.length);
      }
    }
  });

  /** Calls only grow: voximplant statistics by id. */
  const callsStream = stream('calls', async (ctx) => {
    let after = (ctx.pos as { after?: number } | undefined)?.after ?? Number(ctx.since ?? 0);
    ctx.setNextSince(String(after));
    for await (const page of pagedScan(client, specs.calls, after)) {
      after = page.after;
      ctx.setNextSince(String(after));
      await ctx.emit(
        { calls: await mapCalls(client, page.records) },
        { after },
        page.records.length,
        page.total,
      );
    }
  });

  const tasksStream = stream('tasks', async (ctx) => {
    ctx.setNextSince(ctx.nextSince ?? nextSinceFrom(client, deps));
    const spec: ListSpec = { ...specs.tasks, filter: sinceFilter('CHANGED_DATE', ctx.since) };
    const after = (ctx.pos as { after?: number } | undefined)?.after ?? 0;
    for await (const page of pagedScan(client, spec, after)) {
      await ctx.emit(
        { tasks: page.records.map(map.task) },
        { after: page.after },
        page.records.length,
        page.total,
      );
    }
  });

  return {
    streams: [
      directory,
      crmStream('companies', specs.companies, ['DATE_MODIFY'], async (r) => ({
        companies: r.map(map.company),
      })),
      crmStream('contacts', specs.contacts, ['DATE_MODIFY'], async (r) => ({ contacts: r.map(map.contact) })),
      crmStream('leads', specs.leads, ['DATE_MODIFY', 'LAST_ACTIVITY_TIME'], async (r) => ({
        leads: await mapLeads(client, db, r),
      })),
      crmStream('deals', specs.deals, ['DATE_MODIFY', 'LAST_ACTIVITY_TIME'], async (r) => ({
        deals: await mapDeals(client, db, r),
      })),
      historyStream('lead_history', 'lead'),
      historyStream('deal_history', 'deal'),
      crmStream('activities', specs.activities, ['LAST_UPDATED'], async (r) => ({
        activities: r.map(map.activity),
      })),
      commentsStream,
      callsStream,
      tasksStream,
    ],
    requests: () => client.requests,
    afterWrite: linkLeadsToDeals,
  };
}

/**
 * Sets `deal_id` of the leads just written or named by the deals just written,
 * from the deals that name them: Bitrix24 keeps the link on the deal only
 * (LEAD_ID), and a lead is usually written before the deal made from it.
 */
async function linkLeadsToDeals(db: Db, written: CanonicalRecords): Promise<void> {
  const leadIds = new Set<string>();
  for (const l of written.leads ?? []) if (l.deleted !== true) leadIds.add(String(l.id));
  for (const d of written.deals ?? []) if (typeof d.lead_id === 'string') leadIds.add(d.lead_id);
  if (leadIds.size === 0) return;
  await db.query(
    `UPDATE leads SET deal_id = d.id
     FROM (SELECT DISTINCT ON (lead_id) lead_id, id FROM deals WHERE lead_id = ANY($1::text[]) ORDER BY lead_id, created_at, id) d
     WHERE leads.id = d.lead_id AND leads.deal_id IS DISTINCT FROM d.id`,
    [[...leadIds]],
  );
}

/* ---------------- outbound event webhooks ---------------- */

type EventKind = 'lead' | 'deal' | 'contact' | 'company' | 'activity' | 'task' | 'call' | 'comment';

const CRM_EVENT = /^ONCRM(LEAD|DEAL|CONTACT|COMPANY|ACTIVITY)(ADD|UPDATE|DELETE)$/;

function classify(event: string): { kind: EventKind; action: 'upsert' | 'delete' } | null {
  const m = CRM_EVENT.exec(event);
  if (m) return { kind: m[1]!.toLowerCase() as EventKind, action: m[2] === 'DELETE' ? 'delete' : 'upsert' };
  if (event === 'ONTASKADD' || event === 'ONTASKUPDATE') return { kind: 'task', action: 'upsert' };
  if (event === 'ONTASKDELETE') return { kind: 'task', action: 'delete' };
  if (event === 'ONVOXIMPLANTCALLEND') return { kind: 'call', action: 'upsert' };
  if (event === 'ONCRMTIMELINECOMMENTADD' || event === 'ONCRMTIMELINECOMMENTUPDATE')
    return { kind: 'comment', action: 'upsert' };
  if (event === 'ONCRMTIMELINECOMMENTDELETE') return { kind: 'comment', action: 'delete' };
  return null;
}

function sameSecret(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

const str = (v: unknown): string | undefined =>
  typeof v === 'string' && v !== '' ? v : typeof v === 'number' ? String(v) : undefined;
const obj = (v: unknown): Rec => (v && typeof v === 'object' && !Array.isArray(v) ? (v as Rec) : {});

const deletedEntity: Record<string, 'leads' | 'deals' | 'contacts' | 'companies' | 'activities' | 'tasks'> = {
  lead: 'leads',
  deal: 'deals',
  contact: 'contacts',
  company: 'companies',
  activity: 'activities',
  task: 'tasks',
};

/** Fetches the record an event names (and what it needs) and returns it as canonical records. */
async function fetchForEvent(
  client: Bitrix24Client,
  db: Db,
  kind: EventKind,
  id: string,
  eventData: Rec,
): Promise<CanonicalRecords> {
  const one = (spec: ListSpec) => ({ method: spec.method, params: { ...spec.params, filter: { ID: id } } });
  switch (kind) {
    case 'contact': {
      const r = await client.batch({ c: one(specs.contacts) });
      return { contacts: arr(r.result.c).map(map.contact) };
    }
    case 'company': {
      const r = await client.batch({ c: one(specs.companies) });
      return { companies: arr(r.result.c).map(map.company) };
    }
    case 'lead':
    case 'deal': {
      const spec = kind === 'lead' ? specs.leads : specs.deals;
      const r = await client.batch({
        rec: one(spec),
        history: {
          method: 'crm.stagehistory.list',
          params: { entityTypeId: kind === 'lead' ? 1 : 2, filter: { OWNER_ID: id }, order: { ID: 'ASC' } },
        },
      });
      const recs = arr(r.result.rec);
      const rec = recs[0];
      if (!rec) return {};
      // A new lead or deal may name a contact or company the last sync has not seen yet.
      const linked: Record<string, B24Command> = {};
      const contactId = map.ref(rec.CONTACT_ID);
      const companyId = map.ref(rec.COMPANY_ID);
      if (contactId)
        linked.contact = {
          method: specs.contacts.method,
          params: { ...specs.contacts.params, filter: { ID: contactId } },
        };
      if (companyId)
        linked.company = {
          method: specs.companies.method,
          params: { ...specs.companies.params, filter: { ID: companyId } },
        };
      const extra = Object.keys(linked).length > 0 ? await client.batch(linked) : undefined;
      const history = itemsOf('items')(r.result.history).map((h) => map.stageHistory(h, kind));
      const comments = await fetchComments(client, [{ entity: kind, id }]);
      return {
        ...(extra?.result.contact ? { contacts: arr(extra.result.contact).map(map.contact) } : {}),
        ...(extra?.result.company ? { companies: arr(extra.result.company).map(map.company) } : {}),
        ...(kind === 'lead'
          ? { leads: await mapLeads(client, db, recs) }
          : { deals: await mapDeals(client, db, recs) }),
        stage_history: history,
        activities: comments,
      };
    }
    case 'activity': {
      const r = await client.batch({ a: one(specs.activities) });
      return { activities: arr(r.result.a).map(map.activity) };
    }
    case 'task': {
      const r = await client.batch({
        t: { method: specs.tasks.method, params: { ...specs.tasks.params, filter: { ID: id } } },
      });
      return { tasks: itemsOf('tasks')(r.result.t).map(map.task) };
    }
    case 'call': {
      const r = await client.call('voximplant.statistic.get', { FILTER: { CALL_ID: id } });
      // The statistics row is written before the event is sent; if it is not there, the event itself has the facts.
      const stats = arr(r.result);
      return { calls: await mapCalls(client, stats.length > 0 ? stats : [eventData]) };
    }
    case 'comment': {
      const r = await client.call<Rec>('crm.timeline.comment.get', { id });
      return { activities: [map.comment(obj(r.result))] };
    }
  }
}

/**
 * `POST /hooks/bitrix24`: Bitrix24 posts events form-encoded; the request is
 * trusted only with the outgoing webhook's `auth[application_token]`. The
 * changed record is fetched and written before answering, so a repeated event
 * just writes the same record again.
 */
export function bitrix24WebhookRoute(deps: WebhookDeps, cfg: Bitrix24Config): Route {
  const client = bitrix24Client(deps, cfg);
  return {
    method: 'POST',
    path: '/hooks/bitrix24',
    handler: async (req) => {
      const body = req.form();
      const token = str(obj(body.auth).application_token);
      if (!cfg.appToken) throw new HttpError(401, 'BITRIX24_APP_TOKEN is not configured');
      if (!token || !sameSecret(token, cfg.appToken)) throw new HttpError(401, 'bad application_token');
      const event = String(body.event ?? '').toUpperCase();
      const what = classify(event);
      if (!what) return { status: 200, body: { ok: true, ignored: event } };
      const data = obj(body.data);
      const fields = obj(data.FIELDS);
      const id =
        what.kind === 'call'
          ? str(data.CALL_ID)
          : what.kind === 'task'
            ? str(obj(what.action === 'delete' ? data.FIELDS_BEFORE : data.FIELDS_AFTER).ID)
            : what.kind === 'comment'
              ? (str(data.ID) ?? str(fields.ID))
              : str(fields.ID);
      if (!id) throw new HttpError(400, 'event without a record id');
      let records: CanonicalRecords;
      if (what.action === 'delete') {
        records =
          what.kind === 'comment'
            ? { activities: [{ id: `comment:${id}`, deleted: true }] }
            : what.kind === 'call'
              ? {}
              : { [deletedEntity[what.kind]!]: [{ id, deleted: true }] };
      } else {
        records = await fetchForEvent(client, deps.db, what.kind, id, data);
      }
      const res = await writeCanonical(deps, records);
      await linkLeadsToDeals(deps.db, records);
      if (what.kind === 'call' && res.callsStored.length > 0 && deps.onCallsStored) {
        await deps.onCallsStored(res.callsStored);
      }
      deps.logger.info({ event, id, rejected: res.rejected }, 'bitrix24 event applied');
      return { status: 200, body: { ok: true } };
    },
  };
}
