/*
 * amoCRM records → canonical records (IMPORT_FORMAT.md).
 *
 * An amoCRM "lead" is our deal (amoCRM has no separate lead entity). A stage
 * is a (pipeline, status) pair, because the closing statuses 142 (won) and
 * 143 (lost) exist in every pipeline: stage id `<pipeline_id>:<status_id>`.
 * Other ids are amoCRM's own. Times are Unix seconds in amoCRM.
 */

type Rec = Record<string, unknown>;

export const WON_STATUS = 142;
export const LOST_STATUS = 143;

export const stageId = (pipelineId: unknown, statusId: unknown) => `${pipelineId}:${statusId}`;

function text(v: unknown): string | null {
  if (v === null || v === undefined) return null;
  const s = String(v).trim();
  return s === '' ? null : s;
}

/** A user id; 0 is amoCRM itself (robots, integrations). */
export function userRef(v: unknown): string | null {
  const n = Number(v);
  return Number.isFinite(n) && n > 0 ? String(n) : null;
}

export function unixTs(v: unknown): string | null {
  const n = Number(v);
  if (!Number.isFinite(n) || n <= 0) return null;
  return new Date(n * 1000).toISOString();
}

function firstEmbeddedId(r: Rec, key: string, preferMain = false): string | null {
  const list = (r._embedded as Rec | undefined)?.[key];
  if (!Array.isArray(list) || list.length === 0) return null;
  const pick = (preferMain ? (list as Rec[]).find((x) => x.is_main === true) : undefined) ?? (list[0] as Rec);
  return pick?.id !== undefined ? String(pick.id) : null;
}

/** Values of a custom field by its code (PHONE, UTM_SOURCE, ...). */
function fieldValues(r: Rec, code: string): string[] {
  const fields = r.custom_fields_values;
  if (!Array.isArray(fields)) return [];
  const f = (fields as Rec[]).find((x) => x.field_code === code);
  if (!f || !Array.isArray(f.values)) return [];
  return (f.values as Rec[]).map((v) => text(v.value)).filter((x): x is string => x !== null);
}

export function department(g: Rec): Rec {
  return { id: String(g.id), name: text(g.name) ?? `Группа ${g.id}` };
}

export function manager(u: Rec, groupIds: Set<string>): Rec {
  const rights = (u.rights as Rec | undefined) ?? {};
  const group = rights.group_id !== null && rights.group_id !== undefined ? String(rights.group_id) : null;
  return {
    id: String(u.id),
    name: text(u.name) ?? text(u.email) ?? `Пользователь ${u.id}`,
    department_id: group && groupIds.has(group) ? group : null,
    active: rights.is_active !== false,
    email: text(u.email),
  };
}

export function pipeline(p: Rec): Rec {
  return { id: String(p.id), name: text(p.name) ?? `Воронка ${p.id}`, entity: 'deal' };
}

export function stages(p: Rec): Rec[] {
  const statuses = (p._embedded as Rec | undefined)?.statuses;
  if (!Array.isArray(statuses)) return [];
  return (statuses as Rec[]).map((s) => {
    const id = Number(s.id);
    return {
      id: stageId(p.id, s.id),
      pipeline_id: String(p.id),
      name: text(s.name) ?? String(s.id),
      sort: Math.trunc(Number(s.sort) || 0),
      semantic: id === WON_STATUS ? 'won' : id === LOST_STATUS ? 'lost' : 'open',
    };
  });
}

export function company(c: Rec): Rec {
  return { id: String(c.id), name: text(c.name) ?? `Компания ${c.id}`, created_at: unixTs(c.created_at) };
}

export function contact(c: Rec): Rec {
  return {
    id: String(c.id),
    name: text(c.name) ?? ([text(c.first_name), text(c.last_name)].filter(Boolean).join(' ') || null),
    phones: fieldValues(c, 'PHONE').filter((p) => /\d{3}/.test(p)),
    company_id: firstEmbeddedId(c, 'companies'),
    created_at: unixTs(c.created_at),
  };
}

/** An amoCRM lead as our deal; UTM marks (tracking custom fields) are kept in `extra.utm`. */
export function deal(l: Rec, currency: string): Rec {
  if (l.is_deleted === true) return { id: String(l.id), deleted: true };
  const lossReason = (l._embedded as Rec | undefined)?.loss_reason;
  const utm = {
    source: fieldValues(l, 'UTM_SOURCE')[0] ?? null,
    medium: fieldValues(l, 'UTM_MEDIUM')[0] ?? null,
    campaign: fieldValues(l, 'UTM_CAMPAIGN')[0] ?? null,
    content: fieldValues(l, 'UTM_CONTENT')[0] ?? null,
    term: fieldValues(l, 'UTM_TERM')[0] ?? null,
  };
  const status = Number(l.status_id);
  const closed = status === WON_STATUS || status === LOST_STATUS;
  return {
    id: String(l.id),
    title: text(l.name),
    pipeline_id: String(l.pipeline_id),
    stage_id: stageId(l.pipeline_id, l.status_id),
    manager_id: userRef(l.responsible_user_id),
    amount: Number(l.price) || 0,
    currency,
    contact_id: firstEmbeddedId(l, 'contacts', true),
    company_id: firstEmbeddedId(l, 'companies'),
    created_at: unixTs(l.created_at),
    closed_at: closed ? (unixTs(l.closed_at) ?? unixTs(l.updated_at)) : null,
    lost_reason:
      status === LOST_STATUS && Array.isArray(lossReason) && lossReason.length > 0
        ? text((lossReason[0] as Rec).name)
        : null,
    ...(Object.values(utm).some((v) => v !== null) ? { utm } : {}),
  };
}

/** lead_added / lead_status_changed → the moment a deal entered a stage. */
export function stageEntry(e: Rec): Rec | null {
  const after = Array.isArray(e.value_after) ? (e.value_after as Rec[]) : [];
  const status = after.map((v) => v.lead_status as Rec | undefined).find((s) => s !== undefined);
  if (!status) return null;
  return {
    entity: 'deal',
    entity_id: String(e.entity_id),
    stage_id: stageId(status.pipeline_id, status.id),
    at: unixTs(e.created_at),
    manager_id: userRef(e.created_by),
    amocrm_event_id: String(e.id),
  };
}

const NOTE_ENTITY: Record<string, 'deal' | 'contact' | 'company'> = {
  leads: 'deal',
  contacts: 'contact',
  companies: 'company',
};

/**
 * amoCRM call_status: 1 left a voice message, 2 call back later, 3 the person
 * was not there, 4 conversation, 5 wrong number, 6 no answer, 7 busy. 2 and 3
 * mean somebody picked up; without a status the duration decides.
 */
function callStatus(callStatus: unknown, duration: number, direction: 'in' | 'out') {
  const unanswered = direction === 'in' ? 'missed' : 'no_answer';
  switch (Number(callStatus)) {
    case 2:
    case 3:
    case 4:
      return 'answered';
    case 1:
    case 6:
      return unanswered;
    case 5:
      return 'failed';
    case 7:
      return direction === 'in' ? 'missed' : 'busy';
    default:
      return duration > 0 ? 'answered' : unanswered;
  }
}

/** A call_in / call_out note as a call; `entityType` is the notes list it came from (leads, contacts, companies). */
export function call(n: Rec, entityType: string): Rec | null {
  const type = String(n.note_type);
  if (type !== 'call_in' && type !== 'call_out') return null;
  const params = (n.params as Rec | undefined) ?? {};
  const direction = type === 'call_in' ? 'in' : 'out';
  const duration = Math.max(0, Math.trunc(Number(params.duration) || 0));
  const status = callStatus(params.call_status, duration, direction);
  return {
    id: String(n.id),
    direction,
    started_at: unixTs(n.created_at),
    duration_sec: status === 'answered' ? duration : 0,
    status,
    manager_id: userRef(n.responsible_user_id) ?? userRef(n.created_by),
    client_phone: text(params.phone) ?? '',
    entity: NOTE_ENTITY[entityType] ?? null,
    entity_id: n.entity_id !== undefined ? String(n.entity_id) : null,
    recording_url: text(params.link),
    amocrm_call_uniq: text(params.uniq),
    amocrm_call_source: text(params.source),
  };
}

const TASK_ENTITY: Record<string, 'deal' | 'contact' | 'company'> = {
  leads: 'deal',
  contacts: 'contact',
  companies: 'company',
};

/**
 * A task. amoCRM keeps no completion time, so a completed task's last update
 * is taken as when it was closed.
 */
export function task(t: Rec): Rec | null {
  const responsible = userRef(t.responsible_user_id);
  if (!responsible) return null;
  return {
    id: String(t.id),
    title: text(t.text),
    creator_id: userRef(t.created_by),
    responsible_id: responsible,
    created_at: unixTs(t.created_at),
    deadline_at: unixTs(t.complete_till),
    closed_at: t.is_completed === true ? unixTs(t.updated_at) : null,
    entity: TASK_ENTITY[String(t.entity_type)] ?? null,
    entity_id: TASK_ENTITY[String(t.entity_type)] && t.entity_id ? String(t.entity_id) : null,
    amocrm_task_type: t.task_type_id ?? null,
  };
}
