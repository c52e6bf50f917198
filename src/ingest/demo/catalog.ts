/**
 * The fixed part of the demo company "Окна Плюс": departments, managers,
 * pipelines with stages, lead sources and phone lines.
 */

import {
  CITIES,
  FEMALE_FIRST,
  femaleSurname,
  MALE_FIRST,
  NAMED_MANAGERS,
  SURNAMES,
  translit,
} from './names.ts';
import type { Rng } from './random.ts';
import { DAY } from './time.ts';
import type { ScriptHabits } from './transcripts.ts';

export type DemoScale = 'small' | 'medium' | 'large';

export interface ScaleSpec {
  /** Calls over the whole history, the figure the scale is named by. */
  calls: number;
  leads: number;
  /** Managers beyond the six named ones, the heads and the admin. */
  extraManagers: number;
  /** City departments under "Отдел продаж Регионы". */
  cityDepartments: readonly string[];
  b2bDepartment: boolean;
  repeatDepartment: boolean;
  /** Share of answered calls that get a transcript. */
  transcriptShare: number;
}

export const SCALES: Record<DemoScale, ScaleSpec> = {
  small: {
    calls: 20_000,
    leads: 3_000,
    extraManagers: 2,
    cityDepartments: [],
    b2bDepartment: false,
    repeatDepartment: false,
    transcriptShare: 0.1,
  },
  medium: {
    calls: 500_000,
    leads: 75_000,
    extraManagers: 47,
    cityDepartments: ['Санкт-Петербург'],
    b2bDepartment: true,
    repeatDepartment: true,
    transcriptShare: 0.03,
  },
  large: {
    calls: 10_000_000,
    leads: 1_500_000,
    extraManagers: 475,
    cityDepartments: [
      'Санкт-Петербург',
      'Казань',
      'Екатеринбург',
      'Новосибирск',
      'Нижний Новгород',
      'Краснодар',
      'Самара',
      'Ростов-на-Дону',
      'Воронеж',
      'Уфа',
      'Пермь',
      'Челябинск',
    ],
    b2bDepartment: true,
    repeatDepartment: true,
    transcriptShare: 0.008,
  },
};

export type DepartmentKind = 'root' | 'moscow' | 'regions' | 'city' | 'b2b' | 'repeat';

export interface Department {
  index: number;
  id: string;
  name: string;
  parentId: string | null;
  kind: DepartmentKind;
  city: string | null;
  /** Share of the incoming work, used to size the team. */
  load: number;
}

export interface Manager {
  index: number;
  id: string;
  name: string;
  firstName: string;
  female: boolean;
  department: Department;
  role: 'manager' | 'head' | 'admin';
  /** Employment window in epoch seconds; `firedAt` set means `active: false`. */
  hiredAt: number;
  firedAt: number | null;
  phone: string;
  email: string;
  /** Relative share of leads and calls routed to this person. */
  volume: number;
  /** Multiplies win chances. */
  skill: number;
  /** Median minutes until the first call on a new lead. */
  responseMinutes: number;
  /** Multiplies the chance a lead or deal is abandoned (forgotten). */
  neglect: number;
  /** Chance that a stage change comes with a follow-up task. */
  taskRate: number;
  /** Chance of starting / finishing tasks on time. */
  discipline: number;
  /** Multiplies time spent in each deal stage. */
  pace: number;
  habits: ScriptHabits;
}

export interface Stage {
  id: string;
  name: string;
  sort: number;
  semantic: 'open' | 'won' | 'lost';
  probability?: number;
}

export interface Pipeline {
  id: string;
  name: string;
  entity: 'lead' | 'deal';
  /** Open stages in funnel order, then won, then lost. */
  open: Stage[];
  won: Stage;
  lost: Stage;
  /** The order the stages are written in: deliberately not funnel order. */
  fileOrder: Stage[];
}

function pipeline(
  id: string,
  name: string,
  entity: 'lead' | 'deal',
  stages: Stage[],
  fileOrder: readonly number[],
): Pipeline {
  const open = stages.filter((s) => s.semantic === 'open');
  const won = stages.find((s) => s.semantic === 'won') as Stage;
  const lost = stages.find((s) => s.semantic === 'lost') as Stage;
  return { id, name, entity, open, won, lost, fileOrder: fileOrder.map((i) => stages[i] as Stage) };
}

export const LEAD_PIPELINE = pipeline(
  'leads',
  'Лиды',
  'lead',
  [
    { id: 'lead_new', name: 'Новый', sort: 10, semantic: 'open' },
    { id: 'lead_work', name: 'В работе', sort: 20, semantic: 'open' },
    { id: 'lead_qual', name: 'Квалификация', sort: 30, semantic: 'open' },
    { id: 'lead_good', name: 'Качественный', sort: 40, semantic: 'won' },
    { id: 'lead_junk', name: 'Некачественный', sort: 50, semantic: 'lost' },
  ],
  [4, 0, 2, 1, 3],
);

export const SALES_PIPELINE = pipeline(
  'sales',
  'Продажи',
  'deal',
  [
    { id: 'sales_new', name: 'Новая сделка', sort: 100, semantic: 'open' },
    { id: 'sales_measure_set', name: 'Замер назначен', sort: 200, semantic: 'open' },
    { id: 'sales_measure_done', name: 'Замер проведён', sort: 300, semantic: 'open' },
    { id: 'sales_offer', name: 'КП отправлено', sort: 400, semantic: 'open', probability: 0.4 },
    { id: 'sales_negotiation', name: 'Переговоры', sort: 500, semantic: 'open', probability: 0.6 },
    { id: 'sales_contract', name: 'Договор и предоплата', sort: 600, semantic: 'open', probability: 0.85 },
    { id: 'sales_won', name: 'Успешно', sort: 1000, semantic: 'won' },
    { id: 'sales_lost', name: 'Провал', sort: 1100, semantic: 'lost' },
  ],
  [6, 4, 0, 7, 3, 1, 5, 2],
);

export const REPEAT_PIPELINE = pipeline(
  'repeat',
  'Повторные продажи',
  'deal',
  [
    { id: 'repeat_new', name: 'Новый запрос', sort: 10, semantic: 'open' },
    { id: 'repeat_offer', name: 'Подбор и расчёт', sort: 20, semantic: 'open', probability: 0.5 },
    { id: 'repeat_invoice', name: 'Счёт выставлен', sort: 30, semantic: 'open' },
    { id: 'repeat_won', name: 'Оплачено', sort: 40, semantic: 'won' },
    { id: 'repeat_lost', name: 'Отказ', sort: 50, semantic: 'lost' },
  ],
  [0, 1, 2, 3, 4],
);

export const PIPELINES = [LEAD_PIPELINE, SALES_PIPELINE, REPEAT_PIPELINE] as const;

export interface Source {
  id: string;
  name: string;
  weight: number;
  /** Share of its leads that turn out junk ("некачественный"). */
  junk: number;
  b2b: number;
  /** Share of its leads that start with an incoming call rather than a form. */
  inboundCall: number;
  /** Share of its leads that start with our outgoing call. */
  outboundCall: number;
  lines: readonly string[];
}

export const MAIN_LINE = '74957770000';
/** A manager's direct number that is missing from phone_lines ("Без канала"). */
export const UNLISTED_LINE = '74951234599';

export const SOURCES: readonly Source[] = [
  {
    id: 'avito',
    name: 'Авито',
    weight: 24,
    junk: 0.35,
    b2b: 0.04,
    inboundCall: 0.5,
    outboundCall: 0,
    lines: ['74951234501', '74951234502'],
  },
  {
    id: 'site',
    name: 'Сайт',
    weight: 18,
    junk: 0.28,
    b2b: 0.08,
    inboundCall: 0.35,
    outboundCall: 0,
    lines: ['74951234510'],
  },
  {
    id: 'direct',
    name: 'Яндекс.Директ',
    weight: 26,
    junk: 0.45,
    b2b: 0.06,
    inboundCall: 0.4,
    outboundCall: 0,
    lines: ['74951234520'],
  },
  {
    id: 'intercept',
    name: 'Лид-перехват',
    weight: 10,
    junk: 0.55,
    b2b: 0.03,
    inboundCall: 0,
    outboundCall: 0,
    lines: [],
  },
  {
    id: 'referral',
    name: 'Рекомендация',
    weight: 10,
    junk: 0.1,
    b2b: 0.2,
    inboundCall: 0.5,
    outboundCall: 0,
    lines: [MAIN_LINE],
  },
  {
    id: 'cold',
    name: 'Холодный обзвон',
    weight: 12,
    junk: 0.5,
    b2b: 0.6,
    inboundCall: 0,
    outboundCall: 1,
    lines: [],
  },
];

export interface PhoneLine {
  number: string;
  name: string;
  sourceId?: string;
  /** Share of incoming calls that arrive on this line. */
  weight: number;
}

/** Two lines share the name "Авито": reports must sum them. */
export const PHONE_LINES: readonly PhoneLine[] = [
  { number: '74951234501', name: 'Авито', sourceId: 'avito', weight: 22 },
  { number: '74951234502', name: 'Авито', sourceId: 'avito', weight: 13 },
  { number: '74951234510', name: 'Сайт', sourceId: 'site', weight: 20 },
  { number: '74951234520', name: 'Яндекс.Директ', sourceId: 'direct', weight: 20 },
  { number: MAIN_LINE, name: 'Основной номер', weight: 22 },
];

export interface Company {
  departments: Department[];
  managers: Manager[];
}

const MOSCOW_LOAD = CITIES.filter((c) => c.moscow).reduce((s, c) => s + c.weight, 0);
const TOTAL_LOAD = CITIES.reduce((s, c) => s + c.weight, 0);

function departments(spec: ScaleSpec): Department[] {
  const out: Department[] = [];
  const add = (
    name: string,
    parentId: string | null,
    kind: DepartmentKind,
    city: string | null,
    load: number,
  ) => {
    const index = out.length;
    const d: Department = { index, id: `DEP-${index + 1}`, name, parentId, kind, city, load };
    out.push(d);
    return d;
  };
  const root = add('Коммерческий департамент', null, 'root', null, 0);
  // B2B and repeat sales get more people than their share of leads: B2B deals are long, and
  // the repeat team works the whole customer base.
  const b2bShare = spec.b2bDepartment ? 0.13 : 0;
  const repeatShare = spec.repeatDepartment ? 0.15 : 0;
  const cityShare = 1 - b2bShare - repeatShare;
  add('Отдел продаж Москва', root.id, 'moscow', null, (cityShare * MOSCOW_LOAD) / TOTAL_LOAD);
  const cityLoad = spec.cityDepartments.reduce(
    (s, name) => s + (CITIES.find((c) => c.name === name)?.weight ?? 0),
    0,
  );
  const regions = add(
    'Отдел продаж Регионы',
    root.id,
    'regions',
    null,
    (cityShare * (TOTAL_LOAD - MOSCOW_LOAD - cityLoad)) / TOTAL_LOAD,
  );
  for (const city of spec.cityDepartments) {
    const w = CITIES.find((c) => c.name === city)?.weight ?? 0;
    add(`Отдел продаж ${city}`, regions.id, 'city', city, (cityShare * w) / TOTAL_LOAD);
  }
  if (spec.b2bDepartment) add('Отдел корпоративных продаж', root.id, 'b2b', null, b2bShare);
  if (spec.repeatDepartment) add('Отдел повторных продаж', root.id, 'repeat', null, repeatShare);
  return out;
}

const DEFAULT_HABITS: ScriptHabits = {
  greeting: 0.85,
  discovery: 0.7,
  price: 0.7,
  nextStep: 0.65,
  summary: 0.45,
  handling: 0.55,
};

/** Character traits of the six named managers, so the demo has stories to find. */
const NAMED_TRAITS: Record<string, Partial<Omit<Manager, 'habits'>> & { habits?: Partial<ScriptHabits> }> = {
  'Алексей Чуркин': { neglect: 4, skill: 0.9, responseMinutes: 90 },
  'Алексей Смирнов': { skill: 1, neglect: 0.8, responseMinutes: 35 },
  'Марина Соколова': {
    skill: 1.3,
    neglect: 0.3,
    responseMinutes: 8,
    discipline: 0.92,
    volume: 1.3,
    habits: { greeting: 0.98, discovery: 0.9, nextStep: 0.9, summary: 0.8, handling: 0.85 },
  },
  'Игорь Петров': { discipline: 0.45, habits: { price: 0.2, summary: 0.2 } },
  'Ольга Кузнецова': { pace: 1.8, skill: 1.1, habits: { discovery: 0.9 } },
  'Дмитрий Смирнов': { taskRate: 0.08, volume: 0.9, habits: { nextStep: 0.4 } },
};

function clamp01(x: number): number {
  return Math.min(0.98, Math.max(0.02, x));
}

/**
 * Builds departments and managers. Every full name is unique; the generated
 * ones never use the first names and surname stems reserved in names.ts.
 */
export function buildCompany(rng: Rng, spec: ScaleSpec, start: number, now: number): Company {
  const deps = departments(spec);
  const used = new Set<string>(NAMED_MANAGERS.map((m) => m.name));
  const usedEmails = new Set<string>();
  const managers: Manager[] = [];

  const newName = (): { first: string; last: string; female: boolean } => {
    for (;;) {
      const female = rng.chance(0.55);
      const first = female ? rng.pick(FEMALE_FIRST) : rng.pick(MALE_FIRST);
      const base = rng.pick(SURNAMES);
      const last = female ? femaleSurname(base) : base;
      const full = `${first} ${last}`;
      if (!used.has(full)) {
        used.add(full);
        return { first, last, female };
      }
    }
  };

  const add = (
    first: string,
    last: string,
    female: boolean,
    department: Department,
    role: Manager['role'],
    permanent: boolean,
  ): Manager => {
    const index = managers.length;
    const name = `${first} ${last}`;
    const habits: ScriptHabits = {
      greeting: clamp01(DEFAULT_HABITS.greeting + rng.range(-0.2, 0.12)),
      discovery: clamp01(DEFAULT_HABITS.discovery + rng.range(-0.3, 0.2)),
      price: clamp01(DEFAULT_HABITS.price + rng.range(-0.35, 0.2)),
      nextStep: clamp01(DEFAULT_HABITS.nextStep + rng.range(-0.3, 0.25)),
      summary: clamp01(DEFAULT_HABITS.summary + rng.range(-0.3, 0.3)),
      handling: clamp01(DEFAULT_HABITS.handling + rng.range(-0.3, 0.3)),
    };
    let hiredAt = start - 400 * DAY;
    let firedAt: number | null = null;
    if (!permanent && role === 'manager') {
      const r = rng.next();
      const span = now - start;
      if (r < 0.1) firedAt = start + Math.floor(span * rng.range(0.2, 0.85));
      else if (r < 0.2) hiredAt = start + Math.floor(span * rng.range(0.1, 0.7));
    }
    let email = `${translit(first).charAt(0)}.${translit(last)}@okna-plus.example`;
    if (usedEmails.has(email)) email = email.replace('@', `${index + 1}@`);
    usedEmails.add(email);
    const m: Manager = {
      index,
      id: `M-${index + 1}`,
      name,
      firstName: first,
      female,
      department,
      role,
      hiredAt,
      firedAt,
      phone: `7916${String(5_000_000 + index * 7919)
        .padStart(7, '0')
        .slice(-7)}`,
      email,
      volume: role === 'manager' ? rng.range(0.7, 1.3) : role === 'head' ? 0.15 : 0,
      skill: rng.range(0.75, 1.2),
      responseMinutes: rng.logNormal(30, 0.6),
      neglect: rng.range(0.5, 1.6),
      taskRate: rng.range(0.3, 0.7),
      discipline: rng.range(0.6, 0.92),
      pace: rng.range(0.8, 1.25),
      habits,
    };
    const traits = NAMED_TRAITS[name];
    if (traits) {
      const { habits: h, ...rest } = traits;
      Object.assign(m, rest);
      if (h) m.habits = { ...m.habits, ...h };
    }
    managers.push(m);
    return m;
  };

  for (const d of deps) {
    const h = newName();
    add(h.first, h.last, h.female, d, 'head', true);
  }
  const root = deps[0] as Department;
  const admin = newName();
  add(admin.first, admin.last, admin.female, root, 'admin', true);

  const moscow = deps.find((d) => d.kind === 'moscow') as Department;
  const regions = deps.find((d) => d.kind === 'regions') as Department;
  NAMED_MANAGERS.forEach((n, i) => {
    const [first, last] = n.name.split(' ') as [string, string];
    add(first, last, n.female, i === 0 || i === 2 || i === 3 ? moscow : regions, 'manager', true);
  });

  // Team sizes follow each department's share of the work, counting the named ones already there.
  const working = deps.filter((d) => d.kind !== 'root');
  const totalTeam = spec.extraManagers + 6;
  const want = working.map((d) => Math.max(2, Math.round(totalTeam * d.load)));
  const have = working.map((d) => managers.filter((m) => m.department === d && m.role === 'manager').length);
  let remaining = spec.extraManagers;
  const slots: Department[] = [];
  working.forEach((d, i) => {
    const need = Math.max(0, (want[i] as number) - (have[i] as number));
    for (let k = 0; k < need; k++) slots.push(d);
  });
  for (let i = 0; i < slots.length && remaining > 0; i++, remaining--) {
    const n = newName();
    add(n.first, n.last, n.female, slots[i] as Department, 'manager', false);
  }
  for (let i = 0; remaining > 0; i++, remaining--) {
    const n = newName();
    add(n.first, n.last, n.female, working[i % working.length] as Department, 'manager', false);
  }
  // Someone always has left the company: inactive managers keep their history.
  if (!managers.some((m) => m.firedAt !== null)) {
    const leaver = managers[managers.length - 1] as Manager;
    leaver.hiredAt = start - 400 * DAY;
    leaver.firedAt = start + Math.floor((now - start) * 0.6);
  }
  return { departments: deps, managers };
}
