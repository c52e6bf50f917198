import { sql } from 'drizzle-orm';
import {
  bigint,
  bigserial,
  boolean,
  date,
  doublePrecision,
  type ExtraConfigColumn,
  index,
  integer,
  jsonb,
  numeric,
  pgTable,
  primaryKey,
  serial,
  text,
  timestamp,
  uniqueIndex,
} from 'drizzle-orm/pg-core';
import { CALLBACK_BUCKET, CYCLE_BUCKET, MANAGER_KEY, RESPONSE_BUCKET } from './delay-buckets.ts';

/*
 * CRM and telephony entities of IMPORT_FORMAT.md. Primary keys are the source
 * system's ids (strings), so imports and connectors upsert without a lookup;
 * references are validated by the importer rather than by FOREIGN KEYs, because
 * the format allows references in any line order (and leads ↔ deals refer to
 * each other). Unknown fields go to `extra`.
 */

const tstz = (name: string) => timestamp(name, { withTimezone: true, mode: 'date' });

export const departments = pgTable('departments', {
  id: text('id').primaryKey(),
  name: text('name').notNull(),
  parentId: text('parent_id'),
  extra: jsonb('extra'),
});

export const managers = pgTable(
  'managers',
  {
    id: text('id').primaryKey(),
    name: text('name').notNull(),
    departmentId: text('department_id'),
    role: text('role', { enum: ['manager', 'head', 'admin'] })
      .notNull()
      .default('manager'),
    active: boolean('active').notNull().default(true),
    phone: text('phone'),
    email: text('email'),
    extra: jsonb('extra'),
  },
  (t) => [index('managers_department_idx').on(t.departmentId)],
);

export const pipelines = pgTable('pipelines', {
  id: text('id').primaryKey(),
  name: text('name').notNull(),
  entity: text('entity', { enum: ['lead', 'deal'] }).notNull(),
  extra: jsonb('extra'),
});

/**
 * Stages. `semantic`/`probability` are the effective values the metrics use:
 * the imported value unless an admin overrode it (`voronka stages set`), because
 * real CRMs have custom "successfully closed" stages that are not final.
 */
export const stages = pgTable(
  'stages',
  {
    id: text('id').primaryKey(),
    pipelineId: text('pipeline_id').notNull(),
    name: text('name').notNull(),
    sort: integer('sort').notNull(),
    semantic: text('semantic', { enum: ['open', 'won', 'lost'] }).notNull(),
    probability: doublePrecision('probability'),
    importedSemantic: text('imported_semantic', { enum: ['open', 'won', 'lost'] }).notNull(),
    importedProbability: doublePrecision('imported_probability'),
    semanticOverride: text('semantic_override', { enum: ['open', 'won', 'lost'] }),
    probabilityOverride: doublePrecision('probability_override'),
    extra: jsonb('extra'),
  },
  (t) => [index('stages_pipeline_idx').on(t.pipelineId, t.sort)],
);

export const sources = pgTable('sources', {
  id: text('id').primaryKey(),
  name: text('name').notNull(),
  extra: jsonb('extra'),
});

export const phoneLines = pgTable('phone_lines', {
  number: text('number').primaryKey(),
  name: text('name').notNull(),
  sourceId: text('source_id'),
  extra: jsonb('extra'),
});

export const companies = pgTable('companies', {
  id: text('id').primaryKey(),
  name: text('name').notNull(),
  createdAt: tstz('created_at').notNull(),
  extra: jsonb('extra'),
});

export const contacts = pgTable(
  'contacts',
  {
    id: text('id').primaryKey(),
    name: text('name'),
    phones: text('phones').array().notNull().default(sql`'{}'::text[]`),
    companyId: text('company_id'),
    createdAt: tstz('created_at').notNull(),
    city: text('city'),
    extra: jsonb('extra'),
  },
  (t) => [index('contacts_company_idx').on(t.companyId)],
);

/** One row per (phone, contact): "is this number known?" and "whose number is it?" lookups. */
export const contactPhones = pgTable(
  'contact_phones',
  {
    phone: text('phone').notNull(),
    contactId: text('contact_id').notNull(),
    contactCreatedAt: tstz('contact_created_at').notNull(),
  },
  (t) => [
    primaryKey({ columns: [t.phone, t.contactId] }),
    index('contact_phones_contact_idx').on(t.contactId),
  ],
);

export const leads = pgTable(
  'leads',
  {
    id: text('id').primaryKey(),
    title: text('title'),
    pipelineId: text('pipeline_id').notNull(),
    stageId: text('stage_id').notNull(),
    sourceId: text('source_id'),
    utm: jsonb('utm'),
    utmCampaign: text('utm_campaign'),
    managerId: text('manager_id'),
    contactId: text('contact_id'),
    companyId: text('company_id'),
    city: text('city'),
    createdAt: tstz('created_at').notNull(),
    closedAt: tstz('closed_at'),
    dealId: text('deal_id'),
    /** Последняя активность as of the latest write; see METRICS.md "Last activity". */
    lastActivityAt: tstz('last_activity_at'),
    extra: jsonb('extra'),
  },
  (t) => [
    index('leads_created_idx').on(t.createdAt),
    index('leads_manager_created_idx').on(t.managerId, t.createdAt),
    index('leads_stage_idx').on(t.stageId),
    index('leads_contact_idx').on(t.contactId),
    index('leads_deal_idx').on(t.dealId),
    index('leads_last_activity_idx').on(t.lastActivityAt),
    ...leadMetricIndexes(t),
  ],
);

export const deals = pgTable(
  'deals',
  {
    id: text('id').primaryKey(),
    title: text('title'),
    pipelineId: text('pipeline_id').notNull(),
    stageId: text('stage_id').notNull(),
    managerId: text('manager_id'),
    amount: numeric('amount', { precision: 18, scale: 2, mode: 'number' }).notNull().default(0),
    currency: text('currency').notNull().default('RUB'),
    sourceId: text('source_id'),
    leadId: text('lead_id'),
    contactId: text('contact_id'),
    companyId: text('company_id'),
    createdAt: tstz('created_at').notNull(),
    closedAt: tstz('closed_at'),
    lostReason: text('lost_reason'),
    lastActivityAt: tstz('last_activity_at'),
    extra: jsonb('extra'),
  },
  (t) => [
    index('deals_created_idx').on(t.createdAt),
    // manager_efficiency counts a period's new and closed deals per manager by index range alone.
    index('deals_manager_created_idx').on(t.managerId, t.createdAt),
    index('deals_manager_closed_idx').on(t.managerId, t.stageId, t.closedAt),
    index('deals_closed_idx').on(t.closedAt),
    index('deals_stage_manager_idx').on(t.stageId, t.managerId),
    index('deals_manager_idx').on(t.managerId),
    index('deals_contact_idx').on(t.contactId, t.createdAt),
    index('deals_company_idx').on(t.companyId, t.createdAt),
    index('deals_lead_idx').on(t.leadId),
    index('deals_last_activity_idx').on(t.lastActivityAt),
    ...dealMetricIndexes(t),
  ],
);

export const stageHistory = pgTable(
  'stage_history',
  {
    entity: text('entity', { enum: ['lead', 'deal'] }).notNull(),
    entityId: text('entity_id').notNull(),
    stageId: text('stage_id').notNull(),
    at: tstz('at').notNull(),
    managerId: text('manager_id'),
    extra: jsonb('extra'),
  },
  (t) => [primaryKey({ columns: [t.entity, t.entityId, t.at, t.stageId] })],
);

export const activities = pgTable(
  'activities',
  {
    id: text('id').primaryKey(),
    type: text('type', { enum: ['meeting', 'email', 'case', 'task', 'comment', 'other'] }).notNull(),
    entity: text('entity', { enum: ['lead', 'deal', 'contact', 'company'] }),
    entityId: text('entity_id'),
    managerId: text('manager_id'),
    createdAt: tstz('created_at').notNull(),
    deadline: tstz('deadline'),
    completedAt: tstz('completed_at'),
    extra: jsonb('extra'),
  },
  (t) => [
    index('activities_entity_idx').on(t.entity, t.entityId),
    index('activities_completed_idx').on(t.completedAt),
    index('activities_manager_completed_idx').on(t.managerId, t.completedAt),
    ...activityMetricIndexes(t),
  ],
);

export const tasks = pgTable(
  'tasks',
  {
    id: text('id').primaryKey(),
    title: text('title'),
    creatorId: text('creator_id'),
    responsibleId: text('responsible_id').notNull(),
    departmentId: text('department_id'),
    project: text('project'),
    createdAt: tstz('created_at').notNull(),
    startPlanAt: tstz('start_plan_at'),
    startedAt: tstz('started_at'),
    deadlineAt: tstz('deadline_at'),
    closedAt: tstz('closed_at'),
    entity: text('entity', { enum: ['lead', 'deal', 'contact', 'company'] }),
    entityId: text('entity_id'),
    extra: jsonb('extra'),
  },
  (t) => [
    index('tasks_deadline_idx').on(t.deadlineAt),
    index('tasks_responsible_idx').on(t.responsibleId, t.deadlineAt),
    index('tasks_entity_idx').on(t.entity, t.entityId),
    ...taskMetricIndexes(t),
  ],
);

export const calls = pgTable(
  'calls',
  {
    id: text('id').primaryKey(),
    direction: text('direction', { enum: ['in', 'out'] }).notNull(),
    startedAt: tstz('started_at').notNull(),
    answeredAt: tstz('answered_at'),
    endedAt: tstz('ended_at'),
    durationSec: integer('duration_sec').notNull(),
    status: text('status', { enum: ['answered', 'missed', 'busy', 'no_answer', 'failed'] }).notNull(),
    managerId: text('manager_id'),
    clientPhone: text('client_phone').notNull(),
    lineNumber: text('line_number'),
    entity: text('entity', { enum: ['lead', 'deal', 'contact', 'company'] }),
    entityId: text('entity_id'),
    recordingUrl: text('recording_url'),
    /** A transcript string (TRANSCRIPTS.md formats 1, 2, 4) or a JSON segment array (format 3). */
    transcript: jsonb('transcript'),
    extra: jsonb('extra'),
    /**
     * Derived, kept by src/db/rollups/calls.ts (never imported): "Новый номер" — the
     * number's first call (ties by id) with no contact created before it listing the number.
     */
    isNew: boolean('is_new').notNull().default(false),
    /** For a missed call: the first outgoing attempt to the number in (start, start + 24 h], not capped at now. */
    callbackAt: tstz('callback_at'),
    /** For a missed call: the first answered call with the number in (start, start + 24 h], not capped at now. */
    answeredAfterAt: tstz('answered_after_at'),
  },
  (t) => [
    index('calls_started_idx').on(t.startedAt),
    index('calls_manager_started_idx').on(t.managerId, t.startedAt),
    index('calls_phone_started_idx').on(t.clientPhone, t.startedAt),
    index('calls_entity_idx').on(t.entity, t.entityId),
    // Callback delays ("Время до перезвона") are percentiles over single calls: read from this index alone.
    index('calls_called_back_idx')
      .on(t.startedAt, t.callbackAt, t.managerId, t.lineNumber)
      .where(sql`callback_at IS NOT NULL`),
    // The exact callback-delay percentile reads the values of one delay bucket (src/metrics/delay-percentiles.ts).
    index('calls_callback_bucket_idx')
      .on(sql.raw(CALLBACK_BUCKET('')), sql.raw(MANAGER_KEY('')), t.startedAt, t.callbackAt, t.managerId)
      .where(sql`callback_at IS NOT NULL`),
  ],
);

export const plans = pgTable(
  'plans',
  {
    /** Natural key: month|metric|manager|department|pipeline, since plan rows carry no id. */
    key: text('key').primaryKey(),
    month: text('month').notNull(),
    metric: text('metric', { enum: ['amount', 'count'] }).notNull(),
    target: numeric('target', { precision: 18, scale: 2, mode: 'number' }).notNull(),
    managerId: text('manager_id'),
    departmentId: text('department_id'),
    pipelineId: text('pipeline_id'),
    bonus: numeric('bonus', { precision: 18, scale: 2, mode: 'number' }),
    extra: jsonb('extra'),
  },
  (t) => [index('plans_month_idx').on(t.month)],
);

/* ---------- The application's own tables ---------- */

/** A person allowed to talk to the bot, bound to a manager record and a role. */
export const botUsers = pgTable('bot_users', {
  id: serial('id').primaryKey(),
  name: text('name').notNull(),
  role: text('role', { enum: ['manager', 'head', 'admin'] }).notNull(),
  managerId: text('manager_id'),
  timeZone: text('time_zone'),
  /** Where per-call breakdowns and digests go by default. */
  preferredChannel: text('preferred_channel', { enum: ['telegram', 'whatsapp', 'console'] }),
  createdAt: tstz('created_at').notNull().defaultNow(),
  revokedAt: tstz('revoked_at'),
});

export const messengerIdentities = pgTable(
  'messenger_identities',
  {
    id: serial('id').primaryKey(),
    userId: integer('user_id')
      .notNull()
      .references(() => botUsers.id, { onDelete: 'cascade' }),
    channel: text('channel', { enum: ['telegram', 'whatsapp', 'console'] }).notNull(),
    externalId: text('external_id').notNull(),
    chatId: text('chat_id').notNull(),
    /** Last inbound message time: WhatsApp's 24-hour customer service window. */
    lastInboundAt: tstz('last_inbound_at'),
    createdAt: tstz('created_at').notNull().defaultNow(),
  },
  (t) => [uniqueIndex('messenger_identities_channel_ext_uq').on(t.channel, t.externalId)],
);

export const invites = pgTable('invites', {
  code: text('code').primaryKey(),
  role: text('role', { enum: ['manager', 'head', 'admin'] }).notNull(),
  managerId: text('manager_id'),
  name: text('name'),
  createdAt: tstz('created_at').notNull().defaultNow(),
  expiresAt: tstz('expires_at').notNull(),
  usedAt: tstz('used_at'),
  usedByUserId: integer('used_by_user_id'),
});

/** Per-chat dialogue state (follow-ups, pending clarifications). Never kept in memory. */
export const dialogueStates = pgTable('dialogue_states', {
  chatKey: text('chat_key').primaryKey(),
  state: jsonb('state').notNull(),
  updatedAt: tstz('updated_at').notNull().defaultNow(),
});

export const subscriptions = pgTable(
  'subscriptions',
  {
    id: serial('id').primaryKey(),
    userId: integer('user_id')
      .notNull()
      .references(() => botUsers.id, { onDelete: 'cascade' }),
    /** `alerts` rows carry the alert switches (`alerts`) and quiet hours, not a schedule. */
    kind: text('kind', { enum: ['daily', 'weekly', 'alerts'] }).notNull(),
    channel: text('channel', { enum: ['telegram', 'whatsapp', 'console'] }).notNull(),
    /** Local time of day, HH:MM. */
    timeOfDay: text('time_of_day').notNull().default('09:00'),
    /** ISO weekday for weekly digests, 1 = Monday. */
    weekday: integer('weekday'),
    timeZone: text('time_zone').notNull(),
    active: boolean('active').notNull().default(true),
    alerts: jsonb('alerts'),
    quietFrom: text('quiet_from'),
    quietTo: text('quiet_to'),
    createdAt: tstz('created_at').notNull().defaultNow(),
  },
  (t) => [uniqueIndex('subscriptions_user_kind_channel_uq').on(t.userId, t.kind, t.channel)],
);

/** The outbox: one row per message to deliver; `key` makes every delivery happen once. */
export const deliveries = pgTable(
  'deliveries',
  {
    id: bigserial('id', { mode: 'number' }).primaryKey(),
    key: text('key').notNull(),
    userId: integer('user_id'),
    channel: text('channel', { enum: ['telegram', 'whatsapp', 'console'] }).notNull(),
    kind: text('kind').notNull(),
    payload: jsonb('payload').notNull(),
    /** `skipped`: the subscription or user was gone by the time it was due. */
    status: text('status', { enum: ['pending', 'sending', 'sent', 'delivered', 'read', 'failed', 'skipped'] })
      .notNull()
      .default('pending'),
    attempts: integer('attempts').notNull().default(0),
    lastError: text('last_error'),
    late: boolean('late').notNull().default(false),
    externalId: text('external_id'),
    scheduledAt: tstz('scheduled_at').notNull().defaultNow(),
    sentAt: tstz('sent_at'),
    updatedAt: tstz('updated_at').notNull().defaultNow(),
    /** The subscription a digest or alert belongs to. */
    subscriptionId: integer('subscription_id'),
    /** When a job was queued for this row; null = due rows still to hand to the job queue. */
    enqueuedAt: tstz('enqueued_at'),
    /** Messages of a multi-message delivery already sent, so a resumed delivery sends only the rest. */
    partsSent: integer('parts_sent').notNull().default(0),
  },
  (t) => [
    uniqueIndex('deliveries_key_uq').on(t.key),
    index('deliveries_status_idx').on(t.status, t.scheduledAt),
    index('deliveries_external_idx').on(t.externalId),
  ],
);

/**
 * WhatsApp message ids already taken for processing: Meta redelivers a webhook
 * it did not see acknowledged, and every process behind a load balancer must
 * answer a message once.
 */
export const whatsappInbound = pgTable(
  'whatsapp_inbound',
  {
    messageId: text('message_id').primaryKey(),
    receivedAt: tstz('received_at').notNull().defaultNow(),
  },
  (t) => [index('whatsapp_inbound_received_idx').on(t.receivedAt)],
);

/** One AI breakdown per call and analyzer version ("Разбор звонка"). */
export const callAnalyses = pgTable(
  'call_analyses',
  {
    id: bigserial('id', { mode: 'number' }).primaryKey(),
    callId: text('call_id').notNull(),
    analyzer: text('analyzer').notNull(),
    model: text('model'),
    breakdown: jsonb('breakdown').notNull(),
    confidence: doublePrecision('confidence'),
    readiness: integer('readiness'),
    churnRisk: text('churn_risk'),
    createdAt: tstz('created_at').notNull().defaultNow(),
  },
  (t) => [
    uniqueIndex('call_analyses_call_analyzer_uq').on(t.callId, t.analyzer),
    index('call_analyses_created_idx').on(t.createdAt),
  ],
);

/** Where each CRM/telephony source's incremental sync stands. */
export const syncState = pgTable('sync_state', {
  source: text('source').primaryKey(),
  cursor: jsonb('cursor'),
  status: text('status').notNull().default('idle'),
  lastSyncAt: tstz('last_sync_at'),
  lastSuccessAt: tstz('last_success_at'),
  lastError: text('last_error'),
  updatedAt: tstz('updated_at').notNull().defaultNow(),
});

/** Every question asked, how it was understood and how fast it was answered. */
export const questionLog = pgTable(
  'question_log',
  {
    id: bigserial('id', { mode: 'number' }).primaryKey(),
    userId: integer('user_id'),
    chatKey: text('chat_key'),
    question: text('question').notNull(),
    engine: text('engine', { enum: ['parser', 'llm', 'none'] }).notNull(),
    intent: text('intent'),
    slots: jsonb('slots'),
    confidence: doublePrecision('confidence'),
    durationMs: integer('duration_ms'),
    error: text('error'),
    createdAt: tstz('created_at').notNull().defaultNow(),
  },
  (t) => [index('question_log_created_idx').on(t.createdAt)],
);

/*
 * Pre-aggregated figures (rollups) for the metric tools on large data. Each is
 * derived from the tables above, never imported: triggers mark what a write
 * changed in rollup_dirty, and src/db/rollups/ recomputes those days at the end
 * of every import. Days are local dates in the time zone kept in rollup_state.
 */

/** What writes changed since the last refresh: key '*' means everything of the family. */
export const rollupDirty = pgTable(
  'rollup_dirty',
  {
    family: text('family').notNull(),
    /** A phone number ('call_phones') or a UTC date 'YYYY-MM-DD' ('call_days'), or '*'. */
    key: text('key').notNull(),
  },
  (t) => [primaryKey({ columns: [t.family, t.key] })],
);

/** The time zone each rollup family was built in (a different COMPANY_TZ rebuilds it). */
export const rollupState = pgTable('rollup_state', {
  family: text('family').primaryKey(),
  tz: text('tz').notNull(),
  refreshedAt: tstz('refreshed_at').notNull().defaultNow(),
});

/**
 * Inactivity gaps of leads and deals, for "забытые" as of a past moment R
 * (src/db/rollups/gaps.ts): consecutive moments of a record's last-activity
 * set (METRICS.md "Precise readings", from its creation on) more than 24 h
 * apart. Such a record's last activity as of R is `from_at` of the gap with
 * from_at ≤ R < to_at, and with the smallest threshold of one day no shorter
 * gap can make it forgotten. Marked by triggers in rollup_dirty (family
 * 'record_gaps', custom migration).
 */
export const recordGaps = pgTable(
  'record_gaps',
  {
    kind: text('kind', { enum: ['lead', 'deal'] }).notNull(),
    entityId: text('entity_id').notNull(),
    fromAt: tstz('from_at').notNull(),
    toAt: tstz('to_at').notNull(),
  },
  // to_at in the key too: "the last gap starting by R" is then read from the index alone.
  (t) => [primaryKey({ columns: [t.kind, t.entityId, t.fromAt, t.toAt] })],
);

/** Figures of calls_stats / missed_calls summed per local day and call key. */
const callFigureColumns = {
  calls: integer('calls').notNull(),
  incoming: integer('incoming').notNull(),
  outgoing: integer('outgoing').notNull(),
  answered: integer('answered').notNull(),
  missed: integer('missed').notNull(),
  connected: integer('connected').notNull(),
  notConnected: integer('not_connected').notNull(),
  talkTimeTotal: bigint('talk_time_total', { mode: 'number' }).notNull(),
  talkAnswered: bigint('talk_answered', { mode: 'number' }).notNull(),
  newNumberCalls: integer('new_number_calls').notNull(),
  /** Missed calls with an outgoing attempt within 24 h (uncapped: only settled days are read). */
  calledBack: integer('called_back').notNull(),
  lostMissed: integer('lost_missed').notNull(),
  lostNewClients: integer('lost_new_clients').notNull(),
};

const hourColumns = (direction: 'in' | 'out') =>
  Object.fromEntries(
    Array.from({ length: 24 }, (_, h) => {
      const name = `${direction}_h${String(h).padStart(2, '0')}`;
      return [name, integer(name).notNull()];
    }),
  );

/** Calls per local day and manager ('' = none), with calls per local hour for calls_by_time. */
export const callDays = pgTable(
  'call_days',
  {
    day: date('day', { mode: 'string' }).notNull(),
    managerId: text('manager_id').notNull(),
    ...callFigureColumns,
    ...hourColumns('in'),
    ...hourColumns('out'),
  },
  (t) => [primaryKey({ columns: [t.day, t.managerId] })],
);

/** call_days summed per local month (`month` = its first day): long periods read a row per month. */
export const callMonths = pgTable(
  'call_months',
  {
    month: date('month', { mode: 'string' }).notNull(),
    managerId: text('manager_id').notNull(),
    ...callFigureColumns,
  },
  (t) => [primaryKey({ columns: [t.month, t.managerId] })],
);

/** Calls per local day, manager, phone line ('' = none) and direction: channels and source filters. */
export const callLineDays = pgTable(
  'call_line_days',
  {
    day: date('day', { mode: 'string' }).notNull(),
    managerId: text('manager_id').notNull(),
    lineNumber: text('line_number').notNull(),
    direction: text('direction', { enum: ['in', 'out'] }).notNull(),
    ...callFigureColumns,
  },
  (t) => [primaryKey({ columns: [t.day, t.managerId, t.lineNumber, t.direction] })],
);

/**
 * "Скорость ответа на заявку" per lead that got a response: the first outgoing call (linked, or
 * to a phone of the lead's contact) or linked activity at or after creation, not capped at now;
 * with the lead's creation, manager and source, so the median reads this narrow table alone.
 */
export const leadResponses = pgTable(
  'lead_responses',
  {
    leadId: text('lead_id').primaryKey(),
    createdAt: tstz('created_at').notNull(),
    managerId: text('manager_id'),
    sourceId: text('source_id'),
    firstResponseAt: tstz('first_response_at').notNull(),
  },
  (t) => [
    index('lead_responses_created_idx').on(t.createdAt, t.firstResponseAt, t.managerId, t.sourceId),
    // The exact first-response median reads the values of one delay bucket (src/metrics/delay-percentiles.ts).
    index('lead_responses_bucket_idx').on(
      sql.raw(RESPONSE_BUCKET('')),
      sql.raw(MANAGER_KEY('')),
      t.createdAt,
      t.firstResponseAt,
      t.managerId,
    ),
    // Responses after a past "now" are taken out of the rollup's counts.
    index('lead_responses_response_idx').on(t.firstResponseAt, t.createdAt, t.managerId),
  ],
);

/** A delay histogram table: per kind, local month, manager and bucket, the running count `before` that month. */
function delayHistogram<N extends string>(name: N) {
  return pgTable(
    name,
    {
      kind: text('kind').notNull(),
      month: date('month', { mode: 'string' }).notNull(),
      managerId: text('manager_id').notNull(),
      bucket: integer('bucket').notNull(),
      before: bigint('before', { mode: 'number' }).notNull(),
    },
    (t) => [primaryKey({ columns: [t.kind, t.month, t.managerId, t.bucket] })],
  );
}

/**
 * Delay histograms for exact percentiles (src/db/rollups/delays.ts): per kind
 * ('callback' = callback delays of missed calls by the call's start,
 * 'response' = first responses by the lead's creation), local month, manager
 * ('' = none, '*' = everyone) and delay bucket (src/db/delay-buckets.ts), how
 * many values fell in the months before `month` — a running count, so any run
 * of whole months is the difference of two rows. Zero counts are left out.
 */
export const delayMonths = delayHistogram('delay_months');

/** Completed activities per local day of completion, manager ('' = none) and type: manager_efficiency's score. */
export const activityDays = pgTable(
  'activity_days',
  {
    day: date('day', { mode: 'string' }).notNull(),
    managerId: text('manager_id').notNull(),
    type: text('type').notNull(),
    completed: integer('completed').notNull(),
  },
  (t) => [primaryKey({ columns: [t.day, t.managerId, t.type] })],
);

/** activity_days summed per local month (`month` = its first day). */
export const activityMonths = pgTable(
  'activity_months',
  {
    month: date('month', { mode: 'string' }).notNull(),
    managerId: text('manager_id').notNull(),
    type: text('type').notNull(),
    completed: integer('completed').notNull(),
  },
  (t) => [primaryKey({ columns: [t.month, t.managerId, t.type] })],
);

/*
 * ---------------------------------------------------------------------------
 * Lead rollups (perf, issue #3): pre-aggregated lead cohorts behind lead_stats
 * and lead_stage_reach. Keyed by the company-local day of `leads.created_at`
 * (the zone is in lead_rollup_state) and by raw ids — stage meaning
 * (open/won/lost, sort) and a manager's department are joined at query time,
 * because admins override them. Kept current by statement triggers that mark
 * dirty UTC days in lead_rollup_dirty (custom migration) and by
 * refreshLeadRollups (src/db/rollups/leads.ts).
 *
 * `level` picks a cube and a grain: cube f = every dimension, m = the manager
 * dimensions only (manager, pipeline, stages; the others NULL), a = every
 * dimension but the manager (manager NULL), n = only the pipeline and the
 * stages (for the company-wide figures); grain d = a day, m = a calendar
 * month (`day` is its first day). f-d rows are computed from the base tables,
 * the others are sums of f-d rows; a query reads the smallest cube that has
 * the dimensions it filters and groups by, month rows for the whole months of
 * its period and day rows for the rest.
 */

/** Cohort counts: one row per (created day, manager, source, pipeline, stage, campaign, city, stages of the linked deals). */
export const leadCohortRollup = pgTable(
  'lead_cohort_rollup',
  {
    level: text('level', { enum: ['fd', 'fm', 'md', 'mm', 'ad', 'am', 'nd', 'nm'] }).notNull(),
    day: date('day', { mode: 'string' }).notNull(),
    managerId: text('manager_id'),
    sourceId: text('source_id'),
    pipelineId: text('pipeline_id').notNull(),
    stageId: text('stage_id').notNull(),
    utmCampaign: text('utm_campaign'),
    /** The lead's city, else its contact's (trimmed, NULL when neither). */
    city: text('city'),
    /** Sorted distinct stage ids of the deals linked either way ('{}' = no deal). */
    dealStages: text('deal_stages').array().notNull(),
    leads: integer('leads').notNull(),
    /** Leads with closed_at, and the sum of their closed_at − created_at in seconds. */
    closedLeads: integer('closed_leads').notNull(),
    closedSeconds: numeric('closed_seconds', { mode: 'number' }).notNull(),
  },
  (t) => [
    index('lead_cohort_rollup_level_day_idx').on(t.level, t.day),
    index('lead_cohort_rollup_level_manager_idx').on(t.level, t.managerId, t.day),
  ],
);

/** Amounts of the deals linked to cohort leads, by the deal's current stage (a deal counted once per lead). */
export const leadSaleRollup = pgTable(
  'lead_sale_rollup',
  {
    level: text('level', { enum: ['fd', 'fm', 'md', 'mm', 'ad', 'am', 'nd', 'nm'] }).notNull(),
    day: date('day', { mode: 'string' }).notNull(),
    managerId: text('manager_id'),
    sourceId: text('source_id'),
    pipelineId: text('pipeline_id').notNull(),
    utmCampaign: text('utm_campaign'),
    city: text('city'),
    /** The lead's own stage (a lead in an unknown stage is left out, as in the cohort). */
    stageId: text('stage_id').notNull(),
    dealStageId: text('deal_stage_id').notNull(),
    amount: numeric('amount', { mode: 'number' }).notNull(),
  },
  (t) => [
    index('lead_sale_rollup_level_day_idx').on(t.level, t.day),
    index('lead_sale_rollup_level_manager_idx').on(t.level, t.managerId, t.day),
  ],
);

/** Stage reach: cohort leads that ever entered a stage (history or current stage). */
export const leadReachRollup = pgTable(
  'lead_reach_rollup',
  {
    level: text('level', { enum: ['fd', 'fm', 'md', 'mm', 'ad', 'am', 'nd', 'nm'] }).notNull(),
    day: date('day', { mode: 'string' }).notNull(),
    managerId: text('manager_id'),
    sourceId: text('source_id'),
    pipelineId: text('pipeline_id').notNull(),
    utmCampaign: text('utm_campaign'),
    stageId: text('stage_id').notNull(),
    leads: integer('leads').notNull(),
  },
  (t) => [
    index('lead_reach_rollup_level_day_idx').on(t.level, t.pipelineId, t.day),
    index('lead_reach_rollup_level_manager_idx').on(t.level, t.managerId, t.day),
  ],
);

/** UTC days ('YYYY-MM-DD') of lead creation whose rollup rows are stale; '*' = rebuild all. */
export const leadRollupDirty = pgTable('lead_rollup_dirty', {
  key: text('key').notNull(),
});

/** The time zone the lead rollups were built in (one row). */
export const leadRollupState = pgTable('lead_rollup_state', {
  id: integer('id').primaryKey().default(1),
  tz: text('tz').notNull(),
});

// End of the lead rollups.
// ---------------------------------------------------------------------------

// ---------------------------------------------------------------------------
// Deal rollups (perf, issue #3): deal_stats and stage_funnel on large data.
// Statement triggers (custom migration) put the ids of deals a write may
// change in deal_rollup_dirty; refreshDealRollups (src/db/rollups/deals.ts)
// recomputes their facts and stays and the rollup days those touched, before
// and after, in the company zone.

/** Per deal, what the figures need beyond the deals row: the repeat flag and the last open stage before closing. */
export const dealFacts = pgTable(
  'deal_facts',
  {
    id: text('id').primaryKey(),
    managerId: text('manager_id'),
    sourceId: text('source_id'),
    pipelineId: text('pipeline_id').notNull(),
    stageId: text('stage_id').notNull(),
    amount: numeric('amount', { precision: 18, scale: 2, mode: 'number' }).notNull(),
    createdAt: tstz('created_at').notNull(),
    closedAt: tstz('closed_at'),
    /** The contact or company has a deal created earlier. */
    repeat: boolean('repeat').notNull(),
    /** The last history entry in an open stage at or before closed_at (NULL: none, or not closed). */
    lostStageId: text('lost_stage_id'),
    /** The current stage is a won one (a change of stage meanings rebuilds the facts). */
    won: boolean('won').notNull(),
  },
  (t) => [
    index('deal_facts_created_idx').on(t.createdAt),
    index('deal_facts_closed_idx').on(t.closedAt),
    index('deal_facts_stage_idx').on(t.stageId),
    // cycle_days_median: the won deals of a period with what their cycle and groups need, from the index alone.
    index('deal_facts_won_idx')
      .on(t.closedAt, t.createdAt, t.managerId, t.sourceId, t.pipelineId)
      .where(sql`${t.won}`),
    // The exact cycle median reads the cycles of one bucket (src/metrics/delay-percentiles.ts).
    index('deal_facts_cycle_bucket_idx')
      .on(sql.raw(CYCLE_BUCKET('')), sql.raw(MANAGER_KEY('')), t.closedAt, t.createdAt, t.managerId)
      .where(sql`won`),
  ],
);

/**
 * Cycle histograms of won deals, as delay_months (kind 'cycle'), by the local
 * month of closing: kept by the deal rollup refresh, which alone knows when
 * deal_facts change, in a table of its own so its ANALYZE never runs
 * alongside the delay refresh's.
 */
export const dealCycleMonths = delayHistogram('deal_cycle_months');

/**
 * One row per stage-history entry of a deal: a stay from `at` to `ended_at` =
 * least(next entry, closed_at when after `at`), NULL while nothing ended it.
 * `regular` (open stages only, NULL for the others): created_at <= at and (not
 * closed or closed after at) — then the stage_time liveness conditions follow
 * from the stay's own times; the few others are read one by one.
 */
export const dealStays = pgTable(
  'deal_stays',
  {
    dealId: text('deal_id').notNull(),
    stageId: text('stage_id').notNull(),
    at: tstz('at').notNull(),
    endedAt: tstz('ended_at'),
    managerId: text('manager_id'),
    sourceId: text('source_id'),
    pipelineId: text('pipeline_id').notNull(),
    createdAt: tstz('created_at').notNull(),
    closedAt: tstz('closed_at'),
    regular: boolean('regular'),
  },
  (t) => [
    primaryKey({ columns: [t.dealId, t.at, t.stageId] }),
    index('deal_stays_ended_idx').on(
      t.endedAt,
      t.at,
      t.stageId,
      t.regular,
      t.managerId,
      t.sourceId,
      t.pipelineId,
    ),
    index('deal_stays_irregular_idx').on(t.dealId).where(sql`NOT ${t.regular}`),
    // Stays still under way (the current stage of an open deal): a few among many closing entries.
    index('deal_stays_open_idx')
      .on(t.at, t.stageId, t.managerId, t.sourceId, t.pipelineId)
      .where(sql`${t.endedAt} IS NULL AND ${t.regular}`),
  ],
);

/**
 * Deal counts by company-local day: kind c = created that day, by current
 * stage; r = created that day and ever in stage_id (history or current stage);
 * x = closed that day, by current stage and lost_stage_id; w = x without
 * lost_stage_id; o = every deal by current stage (day NULL, grain d only).
 * Kind c keeps stage_id only for a
 * deal whose stage is not configured (deal_stats leaves those out; a change of
 * the stages rebuilds everything).
 *
 * `level`: f = every dimension, m = the source left out (NULL), n = the
 * source and the manager left out; grain d = a
 * day, m = a calendar month (`day` is its first day). f-d rows come from
 * deal_facts, the others are their sums; a query reads month rows for the
 * whole months of its period and day rows for the rest.
 */
export const dealRollup = pgTable(
  'deal_rollup',
  {
    level: text('level', { enum: ['fd', 'fm', 'md', 'mm', 'nd', 'nm'] }).notNull(),
    kind: text('kind', { enum: ['c', 'r', 'x', 'w', 'o'] }).notNull(),
    day: date('day', { mode: 'string' }),
    managerId: text('manager_id'),
    sourceId: text('source_id'),
    pipelineId: text('pipeline_id').notNull(),
    stageId: text('stage_id'),
    lostStageId: text('lost_stage_id'),
    deals: bigint('deals', { mode: 'number' }).notNull(),
    amount: numeric('amount').notNull(),
    cycleSeconds: numeric('cycle_seconds').notNull(),
    repeats: bigint('repeats', { mode: 'number' }).notNull(),
  },
  (t) => [index('deal_rollup_level_kind_day_idx').on(t.level, t.kind, t.day)],
);

/** Regular ended stays by company-local day of ended_at: their number and summed seconds; levels as in deal_rollup. */
export const dealStayRollup = pgTable(
  'deal_stay_rollup',
  {
    level: text('level', { enum: ['fd', 'fm', 'md', 'mm', 'nd', 'nm'] }).notNull(),
    day: date('day', { mode: 'string' }).notNull(),
    stageId: text('stage_id').notNull(),
    managerId: text('manager_id'),
    sourceId: text('source_id'),
    pipelineId: text('pipeline_id').notNull(),
    stays: bigint('stays', { mode: 'number' }).notNull(),
    seconds: numeric('seconds').notNull(),
  },
  (t) => [index('deal_stay_rollup_level_day_idx').on(t.level, t.day)],
);

/** Ids of deals whose facts, stays and rollup days are stale; '*' = rebuild all. */
export const dealRollupDirty = pgTable('deal_rollup_dirty', {
  key: text('key').notNull(),
});

/** The time zone the deal rollups were built in (one row). */
export const dealRollupState = pgTable('deal_rollup_state', {
  id: integer('id').primaryKey().default(1),
  tz: text('tz').notNull(),
});

// End of the deal rollups.
// ---------------------------------------------------------------------------

export type Manager = typeof managers.$inferSelect;
export type Stage = typeof stages.$inferSelect;
export type Call = typeof calls.$inferSelect;
export type Lead = typeof leads.$inferSelect;
export type Deal = typeof deals.$inferSelect;
export type BotUser = typeof botUsers.$inferSelect;
export type Invite = typeof invites.$inferSelect;
export type Subscription = typeof subscriptions.$inferSelect;
export type Delivery = typeof deliveries.$inferSelect;
export type CallAnalysis = typeof callAnalyses.$inferSelect;

// ---------------------------------------------------------------------------
// Metric indexes (issue #3: list and snapshot tools on the large demo). Narrow
// covering indexes, so counts and "top N" pages read index entries only and
// fetch full rows for the page alone. Stage meaning is never baked in: open
// stages are looked up at query time and bound as stage ids. The trailing key
// columns only serve index-only scans (drizzle has no INCLUDE).

type Cols<K extends string> = { [k in K]: ExtraConfigColumn };

function leadMetricIndexes(
  t: Cols<'stageId' | 'lastActivityAt' | 'createdAt' | 'managerId' | 'id' | 'closedAt'>,
) {
  return [
    // forgotten_leads: leads of the open stages by last activity.
    index('leads_stage_activity_idx').on(t.stageId, t.lastActivityAt, t.createdAt, t.managerId, t.id),
    // forgotten_leads for a past period: leads closed after its end, with what the list reads.
    index('leads_closed_idx').on(t.closedAt, t.stageId, t.lastActivityAt, t.createdAt, t.managerId, t.id),
    // list_records of leads: the count and the newest page of a period.
    index('leads_created_cover_idx').on(t.createdAt, t.stageId, t.managerId, t.id),
  ];
}

function dealMetricIndexes(
  t: Cols<
    'stageId' | 'lastActivityAt' | 'createdAt' | 'managerId' | 'amount' | 'id' | 'closedAt' | 'pipelineId'
  >,
) {
  return [
    // forgotten_deals, deals_without_tasks: deals of the open stages with manager and amount.
    index('deals_stage_activity_idx').on(
      t.stageId,
      t.lastActivityAt,
      t.createdAt,
      t.managerId,
      t.amount,
      t.id,
    ),
    // plan_progress facts, list_records of won/lost deals: deals closed in a period.
    index('deals_closed_cover_idx').on(t.closedAt, t.stageId, t.managerId, t.pipelineId, t.amount, t.id),
    // forgotten_deals for a past period: deals closed after its end, with what the list reads.
    index('deals_closed_activity_idx').on(
      t.closedAt,
      t.stageId,
      t.lastActivityAt,
      t.createdAt,
      t.managerId,
      t.amount,
      t.id,
    ),
  ];
}

function activityMetricIndexes(t: Cols<'entity' | 'entityId' | 'deadline' | 'completedAt'>) {
  // deals_without_tasks: activities with a deadline not yet completed.
  return [
    index('activities_pending_entity_idx')
      .on(t.entity, t.entityId)
      .where(sql`${t.deadline} IS NOT NULL AND ${t.completedAt} IS NULL`),
  ];
}

function taskMetricIndexes(t: Cols<'entity' | 'entityId' | 'closedAt'>) {
  // deals_without_tasks: tasks not closed.
  return [index('tasks_open_entity_idx').on(t.entity, t.entityId).where(sql`${t.closedAt} IS NULL`)];
}
