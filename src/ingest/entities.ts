import type { z } from 'zod';
import * as r from './records.ts';

/** Entity kinds, in the load order of IMPORT_FORMAT.md. */
export const entityNames = [
  'departments',
  'managers',
  'pipelines',
  'stages',
  'sources',
  'phone_lines',
  'companies',
  'contacts',
  'leads',
  'deals',
  'stage_history',
  'activities',
  'tasks',
  'calls',
  'plans',
] as const;
export type EntityName = (typeof entityNames)[number];

/** Entities other records may point at. */
export type RefTarget =
  | 'departments'
  | 'managers'
  | 'pipelines'
  | 'stages'
  | 'sources'
  | 'companies'
  | 'contacts'
  | 'leads'
  | 'deals';

type Rec = Record<string, unknown>;

export interface Column {
  name: string;
  /** PostgreSQL type for the unnest array cast. */
  type: 'text' | 'timestamptz' | 'integer' | 'numeric' | 'double precision' | 'boolean' | 'jsonb' | 'text[]';
  value: (rec: Rec) => unknown;
  /** The record field the value is, as is (null when absent); undefined when `value` computes it. */
  field?: string;
}

export interface Reference {
  field: string;
  /** A fixed target, or a function of the record for polymorphic `entity`/`entity_id` pairs. */
  target: RefTarget | ((rec: Rec) => RefTarget | null);
}

export interface EntitySpec {
  name: EntityName;
  table: string;
  schema: z.ZodType<Rec>;
  /** The record's identity: `id` or a natural key. */
  key: (rec: Rec) => string;
  keyColumns: string[];
  columns: Column[];
  references: Reference[];
  /** Fields of the format itself; everything else goes to `extra`. */
  known: Set<string>;
  /** Update expressions that differ from `excluded.<column>` on conflict. */
  onConflict?: Record<string, string>;
}

const polymorphic: Record<string, RefTarget> = {
  lead: 'leads',
  deal: 'deals',
  contact: 'contacts',
  company: 'companies',
};
const byEntity = (rec: Rec): RefTarget | null =>
  rec.entity ? (polymorphic[rec.entity as string] ?? null) : null;

const v = (field: string) => (rec: Rec) => rec[field] ?? null;
/** A column: a record field as is (`field`, default the column's name) or computed from the record. */
const col = (name: string, type: Column['type'], value: Column['value'] | string = name): Column =>
  typeof value === 'string' ? { name, type, value: v(value), field: value } : { name, type, value };

function spec(
  name: EntityName,
  schema: z.ZodType<Rec>,
  columns: Column[],
  references: Reference[],
  opts: { key?: (rec: Rec) => string; keyColumns?: string[]; onConflict?: Record<string, string> } = {},
): EntitySpec {
  const shape = (schema as unknown as { shape: Record<string, unknown> }).shape;
  return {
    name,
    table: name,
    schema,
    key: opts.key ?? ((rec) => rec.id as string),
    keyColumns: opts.keyColumns ?? ['id'],
    columns: [...columns, col('extra', 'jsonb')],
    references,
    known: new Set([...Object.keys(shape), 'deleted']),
    ...(opts.onConflict ? { onConflict: opts.onConflict } : {}),
  };
}

export const entitySpecs: Record<EntityName, EntitySpec> = {
  departments: spec(
    'departments',
    r.departmentRecord,
    [col('id', 'text'), col('name', 'text'), col('parent_id', 'text')],
    [{ field: 'parent_id', target: 'departments' }],
  ),
  managers: spec(
    'managers',
    r.managerRecord,
    [
      col('id', 'text'),
      col('name', 'text'),
      col('department_id', 'text'),
      col('role', 'text', (x) => x.role ?? 'manager'),
      col('active', 'boolean', (x) => x.active ?? true),
      col('phone', 'text'),
      col('email', 'text'),
    ],
    [{ field: 'department_id', target: 'departments' }],
  ),
  pipelines: spec(
    'pipelines',
    r.pipelineRecord,
    [col('id', 'text'), col('name', 'text'), col('entity', 'text')],
    [],
  ),
  stages: spec(
    'stages',
    r.stageRecord,
    [
      col('id', 'text'),
      col('pipeline_id', 'text'),
      col('name', 'text'),
      col('sort', 'integer'),
      col('semantic', 'text'),
      col('probability', 'double precision'),
      col('imported_semantic', 'text', 'semantic'),
      col('imported_probability', 'double precision', 'probability'),
    ],
    [{ field: 'pipeline_id', target: 'pipelines' }],
    {
      // An admin's override survives re-imports and syncs.
      onConflict: {
        semantic: 'coalesce(stages.semantic_override, excluded.semantic)',
        probability:
          'CASE WHEN stages.probability_override IS NOT NULL THEN stages.probability_override ELSE excluded.probability END',
      },
    },
  ),
  sources: spec('sources', r.sourceRecord, [col('id', 'text'), col('name', 'text')], []),
  phone_lines: spec(
    'phone_lines',
    r.phoneLineRecord,
    [col('number', 'text'), col('name', 'text'), col('source_id', 'text')],
    [{ field: 'source_id', target: 'sources' }],
    { key: (x) => x.number as string, keyColumns: ['number'] },
  ),
  companies: spec(
    'companies',
    r.companyRecord,
    [col('id', 'text'), col('name', 'text'), col('created_at', 'timestamptz')],
    [],
  ),
  contacts: spec(
    'contacts',
    r.contactRecord,
    [
      col('id', 'text'),
      col('name', 'text'),
      col('phones', 'text[]', (x) => x.phones ?? []),
      col('company_id', 'text'),
      col('created_at', 'timestamptz'),
      col('city', 'text'),
    ],
    [{ field: 'company_id', target: 'companies' }],
  ),
  leads: spec(
    'leads',
    r.leadRecord,
    [
      col('id', 'text'),
      col('title', 'text'),
      col('pipeline_id', 'text'),
      col('stage_id', 'text'),
      col('source_id', 'text'),
      col('utm', 'jsonb'),
      col('utm_campaign', 'text', (x) => (x.utm as { campaign?: string } | null)?.campaign ?? null),
      col('manager_id', 'text'),
      col('contact_id', 'text'),
      col('company_id', 'text'),
      col('city', 'text'),
      col('created_at', 'timestamptz'),
      col('closed_at', 'timestamptz'),
      col('deal_id', 'text'),
    ],
    [
      { field: 'pipeline_id', target: 'pipelines' },
      { field: 'stage_id', target: 'stages' },
      { field: 'source_id', target: 'sources' },
      { field: 'manager_id', target: 'managers' },
      { field: 'contact_id', target: 'contacts' },
      { field: 'company_id', target: 'companies' },
      { field: 'deal_id', target: 'deals' },
    ],
  ),
  deals: spec(
    'deals',
    r.dealRecord,
    [
      col('id', 'text'),
      col('title', 'text'),
      col('pipeline_id', 'text'),
      col('stage_id', 'text'),
      col('manager_id', 'text'),
      col('amount', 'numeric', (x) => x.amount ?? 0),
      col('currency', 'text', (x) => x.currency ?? 'RUB'),
      col('source_id', 'text'),
      col('lead_id', 'text'),
      col('contact_id', 'text'),
      col('company_id', 'text'),
      col('created_at', 'timestamptz'),
      col('closed_at', 'timestamptz'),
      col('lost_reason', 'text'),
    ],
    [
      { field: 'pipeline_id', target: 'pipelines' },
      { field: 'stage_id', target: 'stages' },
      { field: 'manager_id', target: 'managers' },
      { field: 'source_id', target: 'sources' },
      { field: 'lead_id', target: 'leads' },
      { field: 'contact_id', target: 'contacts' },
      { field: 'company_id', target: 'companies' },
    ],
  ),
  stage_history: spec(
    'stage_history',
    r.stageHistoryRecord,
    [
      col('entity', 'text'),
      col('entity_id', 'text'),
      col('stage_id', 'text'),
      col('at', 'timestamptz'),
      col('manager_id', 'text'),
    ],
    [
      { field: 'entity_id', target: (x) => (x.entity === 'lead' ? 'leads' : 'deals') },
      { field: 'stage_id', target: 'stages' },
      { field: 'manager_id', target: 'managers' },
    ],
    {
      key: (x) => `${x.entity}|${x.entity_id}|${x.at}|${x.stage_id}`,
      keyColumns: ['entity', 'entity_id', 'at', 'stage_id'],
    },
  ),
  activities: spec(
    'activities',
    r.activityRecord,
    [
      col('id', 'text'),
      col('type', 'text'),
      col('entity', 'text'),
      col('entity_id', 'text'),
      col('manager_id', 'text'),
      col('created_at', 'timestamptz'),
      col('deadline', 'timestamptz'),
      col('completed_at', 'timestamptz'),
    ],
    [
      { field: 'entity_id', target: byEntity },
      { field: 'manager_id', target: 'managers' },
    ],
  ),
  tasks: spec(
    'tasks',
    r.taskRecord,
    [
      col('id', 'text'),
      col('title', 'text'),
      col('creator_id', 'text'),
      col('responsible_id', 'text'),
      col('department_id', 'text'),
      col('project', 'text'),
      col('created_at', 'timestamptz'),
      col('start_plan_at', 'timestamptz'),
      col('started_at', 'timestamptz'),
      col('deadline_at', 'timestamptz'),
      col('closed_at', 'timestamptz'),
      col('entity', 'text'),
      col('entity_id', 'text'),
    ],
    [
      { field: 'creator_id', target: 'managers' },
      { field: 'responsible_id', target: 'managers' },
      { field: 'department_id', target: 'departments' },
      { field: 'entity_id', target: byEntity },
    ],
  ),
  calls: spec(
    'calls',
    r.callRecord,
    [
      col('id', 'text'),
      col('direction', 'text'),
      col('started_at', 'timestamptz'),
      col('answered_at', 'timestamptz'),
      col('ended_at', 'timestamptz'),
      col('duration_sec', 'integer'),
      col('status', 'text'),
      col('manager_id', 'text'),
      col('client_phone', 'text'),
      col('line_number', 'text'),
      col('entity', 'text'),
      col('entity_id', 'text'),
      col('recording_url', 'text'),
      col('transcript', 'jsonb'),
    ],
    [
      { field: 'manager_id', target: 'managers' },
      { field: 'entity_id', target: byEntity },
    ],
  ),
  plans: spec(
    'plans',
    r.planRecord,
    [
      col('key', 'text', (x) => planKey(x)),
      col('month', 'text'),
      col('metric', 'text'),
      col('target', 'numeric'),
      col('manager_id', 'text'),
      col('department_id', 'text'),
      col('pipeline_id', 'text'),
      col('bonus', 'numeric'),
    ],
    [
      { field: 'manager_id', target: 'managers' },
      { field: 'department_id', target: 'departments' },
      { field: 'pipeline_id', target: 'pipelines' },
    ],
    { key: (x) => planKey(x), keyColumns: ['key'] },
  ),
};

function planKey(x: Rec): string {
  return [x.month, x.metric, x.manager_id ?? '', x.department_id ?? '', x.pipeline_id ?? ''].join('|');
}

/** The entity a file name stands for, or undefined for an unknown file. */
export function entityOfFile(fileName: string): EntityName | undefined {
  const base = fileName.replace(/\.jsonl$/, '');
  return (entityNames as readonly string[]).includes(base) ? (base as EntityName) : undefined;
}

export const referenceableEntities: readonly RefTarget[] = [
  'departments',
  'managers',
  'pipelines',
  'stages',
  'sources',
  'companies',
  'contacts',
  'leads',
  'deals',
];
