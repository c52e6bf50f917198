/*
 * Bitrix24 records → canonical records (IMPORT_FORMAT.md).
 *
 * Ids are Bitrix24's own, unprefixed, except where two Bitrix24 lists would
 * collide in one of our tables:
 * - pipelines: `lead` (leads have one funnel) and `deal:<CATEGORY_ID>`;
 * - stages: deal stages keep STATUS_ID (`NEW`, `C2:WON` — unique across deal
 *   funnels), lead statuses get `lead:` (`lead:NEW`), since both lists have NEW;
 * - timeline comments become activities `comment:<ID>` (their ids are a
 *   separate sequence from activities);
 * - calls are keyed by the telephony CALL_ID, which the call-end event carries too.
 * Stages are told apart by their semantics (P/S/F), never by name.
 */

type Rec = Record<string, unknown>;

/** Empty values Bitrix24 uses for "none": null, '', and the id "0". */
export function ref(v: unknown): string | null {
  if (v === null || v === undefined) return null;
  const s = String(v).trim();
  return s === '' || s === '0' ? null : s;
}

export function text(v: unknown): string | null {
  if (v === null || v === undefined) return null;
  const s = String(v).trim();
  return s === '' ? null : s;
}

/** An ISO date-time with an offset, as Bitrix24 sends them; '' and unparsable values are null. */
export function ts(v: unknown): string | null {
  const s = text(v);
  if (!s) return null;
  const d = new Date(s);
  if (Number.isNaN(d.getTime()) || d.getUTCFullYear() >= 9000) return null;
  return s;
}

function int(v: unknown): number {
  const n = Number(v);
  return Number.isFinite(n) ? Math.trunc(n) : 0;
}

export type Semantic = 'open' | 'won' | 'lost';

/** P (process) / S (success) / F (failure), as in SEMANTICS and STAGE_SEMANTIC_ID. */
export function semanticOf(code: unknown): Semantic {
  return code === 'S' ? 'won' : code === 'F' ? 'lost' : 'open';
}

export const LEAD_PIPELINE = 'lead';
export const dealPipelineId = (categoryId: unknown) => `deal:${ref(categoryId) ?? '0'}`;
export const leadStageId = (statusId: unknown) => `lead:${String(statusId)}`;

export function department(d: Rec): Rec {
  return { id: String(d.ID), name: text(d.NAME) ?? `Отдел ${d.ID}`, parent_id: ref(d.PARENT) };
}

export function manager(u: Rec, heads: Set<string>, departmentIds: Set<string>): Rec {
  const id = String(u.ID);
  const name =
    [text(u.NAME), text(u.LAST_NAME)].filter(Boolean).join(' ') || text(u.EMAIL) || `Сотрудник ${id}`;
  const deps = Array.isArray(u.UF_DEPARTMENT) ? u.UF_DEPARTMENT.map((x) => String(x)) : [];
  return {
    id,
    name,
    department_id: deps.find((d) => departmentIds.has(d)) ?? null,
    role: heads.has(id) ? 'head' : 'manager',
    active: u.ACTIVE === true || u.ACTIVE === 'Y' || u.ACTIVE === 'true',
    phone: text(u.WORK_PHONE) ?? text(u.PERSONAL_MOBILE),
    email: text(u.EMAIL),
    bitrix_user_type: text(u.USER_TYPE),
  };
}

export function dealPipeline(c: Rec): Rec {
  return { id: dealPipelineId(c.id), name: text(c.name) ?? `Воронка ${c.id}`, entity: 'deal' };
}

/** A status of crm.status.list: a deal stage (DEAL_STAGE, DEAL_STAGE_<n>) or a lead status (STATUS). */
export function stage(s: Rec): Rec {
  const isLead = s.ENTITY_ID === 'STATUS';
  const semantics = s.SEMANTICS ?? (s.EXTRA as Rec | undefined)?.SEMANTICS;
  const code =
    semantics === 'success' ? 'S' : semantics === 'failure' || semantics === 'apology' ? 'F' : semantics;
  return {
    id: isLead ? leadStageId(s.STATUS_ID) : String(s.STATUS_ID),
    pipeline_id: isLead ? LEAD_PIPELINE : dealPipelineId(s.CATEGORY_ID),
    name: text(s.NAME) ?? String(s.STATUS_ID),
    sort: int(s.SORT),
    semantic: semanticOf(code),
  };
}

export function source(s: Rec): Rec {
  return { id: String(s.STATUS_ID), name: text(s.NAME) ?? String(s.STATUS_ID) };
}

export function phoneLine(l: Rec): Rec | null {
  const number = text(l.NUMBER);
  if (!number || number.replace(/\D/g, '').length < 5) return null;
  return { number, name: text(l.NAME) ?? number };
}

function multiValues(v: unknown): string[] {
  if (!Array.isArray(v)) return [];
  return v.map((x) => text((x as Rec).VALUE)).filter((x): x is string => x !== null && /\d{3}/.test(x));
}

export function company(c: Rec): Rec {
  return { id: String(c.ID), name: text(c.TITLE) ?? `Компания ${c.ID}`, created_at: ts(c.DATE_CREATE) };
}

export function contact(c: Rec): Rec {
  const name = [text(c.NAME), text(c.SECOND_NAME), text(c.LAST_NAME)].filter(Boolean).join(' ');
  return {
    id: String(c.ID),
    name: name || null,
    phones: multiValues(c.PHONE),
    company_id: ref(c.COMPANY_ID),
    created_at: ts(c.DATE_CREATE),
    city: text(c.ADDRESS_CITY),
  };
}

function utm(r: Rec): Rec | null {
  const u = {
    source: text(r.UTM_SOURCE),
    medium: text(r.UTM_MEDIUM),
    campaign: text(r.UTM_CAMPAIGN),
    content: text(r.UTM_CONTENT),
    term: text(r.UTM_TERM),
  };
  return Object.values(u).some((x) => x !== null) ? u : null;
}

/**
 * The moment a lead or deal closed. CLOSEDATE is a date without a time (the
 * planned close), so it is never used: MOVED_TIME is when the record last
 * changed stage, which for a closed one is when it closed; the stage history
 * entry into the final stage is the fallback.
 */
function closedAt(semantic: Semantic, r: Rec, historyAt: string | undefined): string | null {
  if (semantic === 'open') return null;
  return ts(r.MOVED_TIME) ?? historyAt ?? null;
}

export function lead(l: Rec, dealId: string | undefined, historyAt?: string): Rec {
  const semantic = semanticOf(l.STATUS_SEMANTIC_ID);
  return {
    id: String(l.ID),
    title: text(l.TITLE),
    pipeline_id: LEAD_PIPELINE,
    stage_id: leadStageId(l.STATUS_ID),
    source_id: ref(l.SOURCE_ID),
    utm: utm(l),
    manager_id: ref(l.ASSIGNED_BY_ID),
    contact_id: ref(l.CONTACT_ID),
    company_id: ref(l.COMPANY_ID),
    city: text(l.ADDRESS_CITY),
    created_at: ts(l.DATE_CREATE),
    closed_at: closedAt(semantic, l, historyAt) ?? (semantic !== 'open' ? ts(l.DATE_CLOSED) : null),
    deal_id: dealId ?? null,
    bitrix_modified_at: ts(l.DATE_MODIFY),
    bitrix_last_activity_at: ts(l.LAST_ACTIVITY_TIME),
  };
}

export function deal(d: Rec, historyAt?: string): Rec {
  const semantic = semanticOf(d.STAGE_SEMANTIC_ID);
  const amount = Number(d.OPPORTUNITY);
  return {
    id: String(d.ID),
    title: text(d.TITLE),
    pipeline_id: dealPipelineId(d.CATEGORY_ID),
    stage_id: String(d.STAGE_ID),
    manager_id: ref(d.ASSIGNED_BY_ID),
    amount: Number.isFinite(amount) ? amount : 0,
    currency: text(d.CURRENCY_ID) ?? 'RUB',
    source_id: ref(d.SOURCE_ID),
    lead_id: ref(d.LEAD_ID),
    contact_id: ref(d.CONTACT_ID),
    company_id: ref(d.COMPANY_ID),
    created_at: ts(d.DATE_CREATE),
    closed_at: closedAt(semantic, d, historyAt),
    utm: utm(d),
    bitrix_modified_at: ts(d.DATE_MODIFY),
    bitrix_last_activity_at: ts(d.LAST_ACTIVITY_TIME),
  };
}

export function stageHistory(h: Rec, kind: 'lead' | 'deal'): Rec {
  return {
    entity: kind,
    entity_id: String(h.OWNER_ID),
    stage_id: kind === 'lead' ? leadStageId(h.STATUS_ID ?? h.STAGE_ID) : String(h.STAGE_ID),
    at: ts(h.CREATED_TIME),
    bitrix_history_id: String(h.ID),
  };
}

const OWNER_TYPES: Record<string, 'lead' | 'deal' | 'contact' | 'company'> = {
  '1': 'lead',
  '2': 'deal',
  '3': 'contact',
  '4': 'company',
};

export const ownerEntity = (ownerTypeId: unknown) => OWNER_TYPES[String(ownerTypeId)] ?? null;

/** crm.activity TYPE_ID: 1 meeting, 2 call, 3 task, 4 email, 5 action, 6 provider (PROVIDER_ID tells). */
const CALL_TYPE_ID = '2';

function activityType(a: Rec): string {
  switch (String(a.TYPE_ID)) {
    case '1':
      return 'meeting';
    case '3':
      return 'task';
    case '4':
      return 'email';
    default:
      break;
  }
  switch (String(a.PROVIDER_ID)) {
    case 'CRM_MEETING':
      return 'meeting';
    case 'CRM_EMAIL':
      return 'email';
    case 'CRM_TASKS_TASK':
      return 'task';
    case 'CRM_TODO':
      return 'case';
    default:
      return 'other';
  }
}

/**
 * An activity. A call activity is not an activity in our format: a made call
 * comes from the telephony statistics (which name the activity), so a
 * completed call activity yields a deletion of any earlier "planned call"
 * record; a planned call that has not happened yet is a case with a deadline.
 */
export function activity(a: Rec): Rec {
  const id = String(a.ID);
  const isCall = String(a.TYPE_ID) === CALL_TYPE_ID;
  const completed = a.COMPLETED === 'Y';
  if (isCall && completed) return { id, deleted: true };
  return {
    id,
    type: isCall ? 'case' : activityType(a),
    entity: ownerEntity(a.OWNER_TYPE_ID),
    entity_id: ref(a.OWNER_ID),
    manager_id: ref(a.RESPONSIBLE_ID),
    created_at: ts(a.CREATED),
    deadline: ts(a.DEADLINE),
    // Bitrix24 keeps no completion time; the last update of a completed activity is when it was closed.
    completed_at: completed ? (ts(a.LAST_UPDATED) ?? ts(a.END_TIME)) : null,
    bitrix_provider: text(a.PROVIDER_ID),
  };
}

export function comment(c: Rec): Rec {
  const entity = String(c.ENTITY_TYPE).toLowerCase();
  const created = ts(c.CREATED);
  return {
    id: `comment:${c.ID}`,
    type: 'comment',
    entity: ['lead', 'deal', 'contact', 'company'].includes(entity) ? entity : null,
    entity_id: ref(c.ENTITY_ID),
    manager_id: ref(c.AUTHOR_ID),
    created_at: created,
    completed_at: created,
  };
}

/** CALL_TYPE: 1 outgoing, 2 incoming, 3 incoming redirected, 4 callback (we call the client), 5 informational (outgoing). */
export function callDirection(callType: unknown): 'in' | 'out' {
  const t = String(callType);
  return t === '2' || t === '3' ? 'in' : 'out';
}

/**
 * CALL_FAILED_CODE → our status, from the company's side. 200 is a
 * conversation; 304 (missed) and 603-S (cancelled by the caller) mean nobody
 * picked up; 486 busy; 603 (declined) is a busy signal for the caller; 480
 * (unavailable) is no answer; the rest (wrong number, no funds, blocked,
 * unreachable) failed.
 */
export function callStatus(
  code: unknown,
  direction: 'in' | 'out',
): 'answered' | 'missed' | 'busy' | 'no_answer' | 'failed' {
  const c = String(code ?? '').toUpperCase();
  const unanswered = direction === 'in' ? 'missed' : 'no_answer';
  switch (c) {
    case '200':
      return 'answered';
    case '304':
    case '603-S':
    case '480':
      return unanswered;
    case '486':
      return direction === 'in' ? 'missed' : 'busy';
    case '603':
      return direction === 'in' ? 'missed' : 'busy';
    default:
      return 'failed';
  }
}

/** A line number only when PORTAL_NUMBER is a phone number (it can be a SIP account such as "reg133788"). */
function lineNumber(portalNumber: unknown): string | null {
  const s = text(portalNumber);
  if (!s || /[a-z]/i.test(s)) return null;
  return s.replace(/\D/g, '').length >= 5 ? s : null;
}

export function call(s: Rec, owner: { entity: string | null; id: string | null } | undefined): Rec {
  const direction = callDirection(s.CALL_TYPE);
  const status = callStatus(s.CALL_FAILED_CODE, direction);
  const fallbackEntity = text(s.CRM_ENTITY_TYPE)?.toLowerCase() ?? null;
  const entity =
    owner?.entity ??
    (fallbackEntity && ['lead', 'deal', 'contact', 'company'].includes(fallbackEntity)
      ? fallbackEntity
      : null);
  const entityId = owner?.entity ? owner.id : entity ? ref(s.CRM_ENTITY_ID) : null;
  return {
    id: String(s.CALL_ID),
    direction,
    started_at: ts(s.CALL_START_DATE),
    duration_sec: status === 'answered' ? Math.max(0, int(s.CALL_DURATION)) : 0,
    status,
    manager_id: ref(s.PORTAL_USER_ID),
    client_phone: text(s.PHONE_NUMBER) ?? '',
    line_number: lineNumber(s.PORTAL_NUMBER),
    entity: entityId ? entity : null,
    entity_id: entityId,
    recording_url: text(s.CALL_RECORD_URL),
    bitrix_activity_id: ref(s.CRM_ACTIVITY_ID),
    bitrix_failed_code: text(s.CALL_FAILED_CODE),
    bitrix_portal_number: text(s.PORTAL_NUMBER),
  };
}

/** ufCrmTask bindings: L_ lead, D_ deal, C_ contact, CO_ company; the deal wins when there are several. */
function taskBinding(bindings: unknown): { entity: string; id: string } | null {
  if (!Array.isArray(bindings)) return null;
  const parsed = bindings
    .map((b) => /^(CO|L|D|C)_(\d+)$/.exec(String(b)))
    .filter((m): m is RegExpExecArray => m !== null)
    .map((m) => ({ entity: { CO: 'company', L: 'lead', D: 'deal', C: 'contact' }[m[1]!]!, id: m[2]! }));
  const order = ['deal', 'lead', 'contact', 'company'];
  parsed.sort((a, b) => order.indexOf(a.entity) - order.indexOf(b.entity));
  return parsed[0] ?? null;
}

/** tasks.task.list answers in camelCase whatever the select says. */
export function task(t: Rec): Rec {
  const binding = taskBinding(t.ufCrmTask);
  const group = t.group as Rec | unknown[] | undefined;
  const project = group && !Array.isArray(group) ? text((group as Rec).name) : null;
  return {
    id: String(t.id),
    title: text(t.title),
    creator_id: ref(t.createdBy),
    responsible_id: ref(t.responsibleId),
    project,
    created_at: ts(t.createdDate),
    start_plan_at: ts(t.startDatePlan),
    started_at: ts(t.dateStart),
    deadline_at: ts(t.deadline),
    closed_at: ts(t.closedDate),
    entity: binding?.entity ?? null,
    entity_id: binding?.id ?? null,
  };
}
