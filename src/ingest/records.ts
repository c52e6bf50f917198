import { z } from 'zod';

/*
 * Record schemas of the canonical import format v1 (IMPORT_FORMAT.md). Each
 * schema validates one JSONL line and normalizes it into the row we store:
 * timestamps as ISO UTC strings, phones as digits, unknown fields kept in `extra`.
 */

const OFFSET_TS = /^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}(:?\d{2})?)$/i;

/** ISO 8601 timestamp with an offset or Z; returned as a UTC ISO string. */
export const timestamp = z
  .string({ error: 'ожидается время в формате ISO 8601 со смещением' })
  .refine((s) => OFFSET_TS.test(s), {
    message: 'timestamp without an offset (ожидается смещение, например +03:00 или Z)',
  })
  .transform((s, ctx) => {
    const d = new Date(s);
    if (Number.isNaN(d.getTime())) {
      ctx.addIssue({ code: 'custom', message: `invalid timestamp "${s}"` });
      return z.NEVER;
    }
    return d.toISOString();
  });

/**
 * Phone numbers are compared by digits only; an 11-digit number starting with 8
 * is the Russian trunk prefix for +7.
 */
export function normalizePhone(raw: string): string {
  let plain = true;
  for (let i = 0; i < raw.length && plain; i++) {
    const c = raw.charCodeAt(i);
    plain = c >= 48 && c <= 57;
  }
  const digits = plain ? raw : raw.replace(/\D+/g, '');
  return digits.length === 11 && digits.startsWith('8') ? `7${digits.slice(1)}` : digits;
}

export const phone = z.string().transform((s, ctx) => {
  const p = normalizePhone(s);
  if (p.length < 3) {
    ctx.addIssue({ code: 'custom', message: `phone "${s}" has no digits` });
    return z.NEVER;
  }
  return p;
});

const id = z.string({ error: 'id must be a string' }).min(1, 'empty id');
const ref = z.string({ error: 'reference must be a string id' }).min(1).nullish();
const text = z.string().nullish();
const month = z.string().regex(/^\d{4}-(0[1-9]|1[0-2])$/, 'month must be YYYY-MM');
const entityRef = z.enum(['lead', 'deal', 'contact', 'company']).nullish();
const deleted = z.boolean().optional();

export const departmentRecord = z.looseObject({ id, name: z.string().min(1), parent_id: ref, deleted });
export const managerRecord = z.looseObject({
  id,
  name: z.string().min(1),
  department_id: ref,
  role: z.enum(['manager', 'head', 'admin']).nullish(),
  active: z.boolean().nullish(),
  phone: text,
  email: text,
  deleted,
});
export const pipelineRecord = z.looseObject({
  id,
  name: z.string().min(1),
  entity: z.enum(['lead', 'deal']),
  deleted,
});
export const stageRecord = z.looseObject({
  id,
  pipeline_id: id,
  name: z.string().min(1),
  sort: z.number().int(),
  semantic: z.enum(['open', 'won', 'lost']),
  probability: z.number().min(0).max(1).nullish(),
  deleted,
});
export const sourceRecord = z.looseObject({ id, name: z.string().min(1), deleted });
export const phoneLineRecord = z.looseObject({
  number: phone,
  name: z.string().min(1),
  source_id: ref,
  deleted,
});
export const companyRecord = z.looseObject({ id, name: z.string().min(1), created_at: timestamp, deleted });
export const contactRecord = z.looseObject({
  id,
  name: text,
  phones: z.array(phone).nullish(),
  company_id: ref,
  created_at: timestamp,
  city: text,
  deleted,
});
export const utmSchema = z.looseObject({
  source: text,
  medium: text,
  campaign: text,
  content: text,
  term: text,
});
export const leadRecord = z.looseObject({
  id,
  title: text,
  pipeline_id: id,
  stage_id: id,
  source_id: ref,
  utm: utmSchema.nullish(),
  manager_id: ref,
  contact_id: ref,
  company_id: ref,
  city: text,
  created_at: timestamp,
  closed_at: timestamp.nullish(),
  deal_id: ref,
  deleted,
});
export const dealRecord = z.looseObject({
  id,
  title: text,
  pipeline_id: id,
  stage_id: id,
  manager_id: ref,
  amount: z.number().finite().nullish(),
  currency: z.string().min(1).nullish(),
  source_id: ref,
  lead_id: ref,
  contact_id: ref,
  company_id: ref,
  created_at: timestamp,
  closed_at: timestamp.nullish(),
  lost_reason: text,
  deleted,
});
export const stageHistoryRecord = z.looseObject({
  entity: z.enum(['lead', 'deal']),
  entity_id: id,
  stage_id: id,
  at: timestamp,
  manager_id: ref,
  deleted,
});
export const activityRecord = z.looseObject({
  id,
  type: z.enum(['meeting', 'email', 'case', 'task', 'comment', 'other'], {
    error: 'type must be meeting, email, case, task, comment or other (calls go to calls.jsonl)',
  }),
  entity: entityRef,
  entity_id: ref,
  manager_id: ref,
  created_at: timestamp,
  deadline: timestamp.nullish(),
  completed_at: timestamp.nullish(),
  deleted,
});
export const taskRecord = z.looseObject({
  id,
  title: text,
  creator_id: ref,
  responsible_id: id,
  department_id: ref,
  project: text,
  created_at: timestamp,
  start_plan_at: timestamp.nullish(),
  started_at: timestamp.nullish(),
  deadline_at: timestamp.nullish(),
  closed_at: timestamp.nullish(),
  entity: entityRef,
  entity_id: ref,
  deleted,
});
export const transcriptSegment = z.looseObject({
  speaker: z.string().nullish(),
  role: z.enum(['manager', 'client', 'other']).nullish(),
  start_sec: z.number().nullish(),
  text: z.string(),
});
export const callRecord = z.looseObject({
  id,
  direction: z.enum(['in', 'out']),
  started_at: timestamp,
  answered_at: timestamp.nullish(),
  ended_at: timestamp.nullish(),
  duration_sec: z.number().int().min(0),
  status: z.enum(['answered', 'missed', 'busy', 'no_answer', 'failed']),
  manager_id: ref,
  client_phone: phone,
  line_number: phone.nullish(),
  entity: entityRef,
  entity_id: ref,
  recording_url: text,
  transcript: z.union([z.string(), z.array(transcriptSegment)]).nullish(),
  deleted,
});
export const planRecord = z.looseObject({
  month,
  metric: z.enum(['amount', 'count']),
  target: z.number().finite().min(0),
  manager_id: ref,
  department_id: ref,
  pipeline_id: ref,
  bonus: z.number().finite().nullish(),
  deleted,
});

export type CallRecord = z.infer<typeof callRecord>;
export type LeadRecord = z.infer<typeof leadRecord>;
export type DealRecord = z.infer<typeof dealRecord>;
