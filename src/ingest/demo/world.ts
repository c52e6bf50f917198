/**
 * The day-by-day simulation behind the demo dataset. Each lead is generated
 * with its whole life (stage changes, calls, activities, the deal it turns
 * into) the day it is created; events later than `now` are cut off, which is
 * what leaves recent leads and deals open. Only counters, a few ring buffers of
 * recent contacts and the per-day call counts stay in memory, so the large scale
 * runs in constant memory.
 */

import { join } from 'node:path';
import { type EntityName, entityNames } from '../entities.ts';
import {
  buildCompany,
  type Department,
  LEAD_PIPELINE,
  MAIN_LINE,
  type Manager,
  PHONE_LINES,
  PIPELINES,
  type Pipeline,
  REPEAT_PIPELINE,
  SALES_PIPELINE,
  type ScaleSpec,
  SOURCES,
  type Source,
  type Stage,
  UNLISTED_LINE,
} from './catalog.ts';
import { CITIES, companyName, FEMALE_FIRST, femaleSurname, MALE_FIRST, SURNAMES } from './names.ts';
import { cumulative, permute9, Rng } from './random.ts';
import {
  DAY,
  HOUR,
  localHour,
  localMonthStart,
  localWeekday,
  localYearMonth,
  MINUTE,
  monthKey,
  TimestampFormatter,
  toWorkingTime,
} from './time.ts';
import { makeTranscript, type TalkKind } from './transcripts.ts';
import { JsonlWriter } from './writer.ts';

/** Entity files in the load order of IMPORT_FORMAT.md: the importer's own list. */
export const DEMO_FILES = entityNames;
type FileName = EntityName;

type CallStatus = 'answered' | 'missed' | 'busy' | 'no_answer' | 'failed';
type EntityKind = 'lead' | 'deal' | 'contact' | 'company';

interface ContactRef {
  index: number;
  id: string;
  phone: string;
  firstName: string | null;
  female: boolean;
  city: string;
  companyIndex: number;
}

/** What a transcript needs to know about the other side of a call. */
interface TalkCtx {
  contact: ContactRef | null;
  topic?: string;
  sourceName: string | undefined;
  b2b: boolean;
}

const REFERRAL = SOURCES.find((s) => s.id === 'referral') as Source;

const NO_CTX: TalkCtx = { contact: null, sourceName: undefined, b2b: false };

/**
 * Leads start this many days before the twelve months, so the first months
 * already have deals in progress instead of an empty funnel filling up. Their
 * calls before the range are not written.
 */
const WARMUP_DAYS = 42;

/** Calls per hour of a working day, peaking at 11:00 and 15:00 Moscow time. */
const IN_HOURS = [
  0.3, 0.2, 0.1, 0.1, 0.1, 0.2, 0.4, 1, 3, 7, 10, 13, 11, 8, 10, 12.5, 10, 8, 6, 3, 2, 1.3, 0.8, 0.5,
];
const OUT_HOURS = [0, 0, 0, 0, 0, 0, 0, 0, 0.3, 6, 10, 13, 10, 6, 10, 13, 10, 8, 5, 1.5, 0.2, 0, 0, 0];
/** Web forms arrive around the clock with an evening bump. */
const LEAD_HOURS = [
  0.5, 0.3, 0.2, 0.1, 0.1, 0.2, 0.5, 1.5, 3, 5, 7, 8, 8, 7, 7, 7.5, 7, 6.5, 6, 6, 6.5, 5, 3, 1.5,
];
/** Windows sell in spring and autumn; January is dead. Indexed by calendar month. */
const SEASON = [0.55, 0.7, 0.95, 1.15, 1.2, 1.1, 1.05, 1.1, 1.25, 1.2, 0.95, 0.7];
const CALL_WEEKDAY = [1.05, 1.05, 1, 1, 0.95, 0.4, 0.2];
const LEAD_WEEKDAY = [1.1, 1.05, 1, 1, 0.95, 0.65, 0.55];

const LOST_REASONS = [
  'Дорого',
  'Выбрал конкурента',
  'Не выходит на связь',
  'Передумал',
  'Не устроили сроки',
  'Нет бюджета',
];

/** What a client asks for: the lead/deal title, how often, and the deal amount (units × price per unit). */
interface Topic {
  title: string;
  weight: number;
  units: readonly [number, number];
  price: readonly [number, number];
}

const TOPICS: readonly Topic[] = [
  { title: 'Замена окон', weight: 35, units: [2, 6], price: [22_000, 42_000] },
  { title: 'Остекление балкона', weight: 20, units: [1, 1], price: [60_000, 200_000] },
  { title: 'Москитные сетки', weight: 6, units: [2, 8], price: [2_000, 4_500] },
  { title: 'Ремонт окон', weight: 6, units: [1, 4], price: [2_500, 7_000] },
  { title: 'Окна в частный дом', weight: 12, units: [8, 20], price: [28_000, 45_000] },
  { title: 'Ремонт под ключ', weight: 8, units: [1, 1], price: [400_000, 2_000_000] },
  { title: 'Шумоизоляция окон', weight: 13, units: [2, 5], price: [28_000, 55_000] },
];
const TOPIC_CUM = cumulative(TOPICS.map((t) => t.weight));
const B2B_TOPIC: Topic = {
  title: 'Остекление объекта',
  weight: 0,
  units: [1, 1],
  price: [300_000, 6_000_000],
};
const REPEAT_TOPICS: readonly Topic[] = [
  { title: 'Москитные сетки', weight: 1, units: [2, 8], price: [2_000, 4_500] },
  { title: 'Доп. окно', weight: 1, units: [1, 2], price: [22_000, 42_000] },
  { title: 'Регулировка и сервис', weight: 1, units: [1, 1], price: [3_000, 15_000] },
  { title: 'Остекление балкона', weight: 1, units: [1, 1], price: [60_000, 200_000] },
];

const DIRECT_CAMPAIGNS = [
  'okna_poisk_msk',
  'okna_rsya',
  'balkony_poisk',
  'remont_pod_klyuch',
  'okna_regiony',
];
const DIRECT_TERMS = ['пластиковые окна цена', 'остекление балкона', 'окна под ключ', 'замена окон'];
const SITE_CAMPAIGNS = ['seo', 'vk_target', 'email_rassylka'];

const DEAL_TASK_TITLES = [
  'Подготовить договор',
  'Согласовать дату монтажа',
  'Рассчитать смету',
  'Заказать профиль у поставщика',
  'Отправить счёт на предоплату',
];
const ROUTINE_TASKS = [
  ['Обзвонить базу повторных клиентов', 'Повторные продажи'],
  ['Подготовить отчёт за неделю', 'Отчётность'],
  ['Обновить шаблон КП', 'Маркетинг'],
  ['Провести аудит зависших сделок', 'Контроль воронки'],
  ['Разобрать пропущенные звонки', 'Контроль воронки'],
] as const;

/** Fixed-size memory of recent items (contacts, customers, callers) to draw repeats from. */
class Ring {
  private readonly a: Int32Array;
  private readonly b: Int32Array;
  private readonly c: Int32Array;
  private n = 0;
  constructor(private readonly size: number) {
    this.a = new Int32Array(size);
    this.b = new Int32Array(size);
    this.c = new Int32Array(size);
  }
  get length(): number {
    return Math.min(this.n, this.size);
  }
  push(a: number, b = -1, c = -1): void {
    const i = this.n % this.size;
    this.a[i] = a;
    this.b[i] = b;
    this.c[i] = c;
    this.n++;
  }
  /** A random slot; caller reads it with `at`. */
  slot(rng: Rng): number {
    return Math.floor(rng.next() * this.length);
  }
  at(slot: number): [number, number, number] {
    return [this.a[slot] as number, this.b[slot] as number, this.c[slot] as number];
  }
}

export interface WorldOptions {
  outDir: string;
  spec: ScaleSpec;
  seed: number;
  now: Date;
  onProgress?: ((done: number, total: number) => void) | undefined;
}

export class World {
  private readonly rng: Rng;
  /** Separate stream for transcript text, so transcript wording never shifts the numbers. */
  private readonly talkRng: Rng;
  private readonly fmt = new TimestampFormatter();
  private readonly writers: Record<FileName, JsonlWriter>;
  private readonly seed: number;
  private readonly spec: ScaleSpec;
  private readonly now: number;
  private readonly start: number;
  private readonly days: number;
  private readonly months: { key: string; start: number }[] = [];
  private readonly managers: Manager[];
  private readonly departments: Department[];
  private readonly deptManagers = new Map<
    Department,
    { members: Manager[]; cum: Float64Array; head: Manager }
  >();
  private readonly allWorkers: { members: Manager[]; cum: Float64Array };
  private readonly cityDept = new Map<string, Department>();
  private readonly moscowDept: Department;
  private readonly regionsDept: Department;
  private readonly b2bDept: Department | undefined;
  private readonly repeatDept: Department | undefined;
  private readonly moscowCities = new Set(CITIES.filter((c) => c.moscow).map((c) => c.name));
  private readonly cityCum = cumulative(CITIES.map((c) => c.weight));
  private readonly sourceCum = cumulative(SOURCES.map((s) => s.weight));
  private readonly lineCum = cumulative([...PHONE_LINES.map((l) => l.weight), 3]);
  private readonly inHourCum = cumulative(IN_HOURS);
  private readonly outHourCum = cumulative(OUT_HOURS);
  private readonly leadHourCum = cumulative(LEAD_HOURS);
  private readonly callsPerDay: Int32Array;
  private readonly callQuota: Float64Array;
  private readonly leadQuota: Float64Array;
  private readonly wonAmount: Float64Array;
  private readonly wonCount: Float64Array;

  private leadSeq = 0;
  private dealSeq = 0;
  private contactSeq = 0;
  private companySeq = 0;
  private callSeq = 0;
  private activitySeq = 0;
  private taskSeq = 0;
  private anonSeq = 0;
  private leadCarry = 0;

  private readonly recentContacts = new Ring(20_000);
  private readonly customers = new Ring(20_000);
  private readonly recentCompanies = new Ring(5_000);
  private readonly recentCallers = new Ring(3_000);

  constructor(private readonly opts: WorldOptions) {
    this.seed = opts.seed;
    this.spec = opts.spec;
    this.rng = new Rng(opts.seed, 1);
    this.talkRng = new Rng(opts.seed, 2);
    this.now = Math.floor(opts.now.getTime() / 1000);
    const { year, month } = localYearMonth(this.now);
    this.start = localMonthStart(year, month - 12);
    for (let m = 0; m <= 12; m++) {
      this.months.push({ key: monthKey(year, month - 12 + m), start: localMonthStart(year, month - 12 + m) });
    }
    this.days = Math.ceil((this.now - this.start) / DAY);
    this.callsPerDay = new Int32Array(this.days + 1);
    this.callQuota = new Float64Array(this.days);
    this.leadQuota = new Float64Array(WARMUP_DAYS + this.days);

    const company = buildCompany(new Rng(opts.seed, 3), opts.spec, this.start, this.now);
    this.managers = company.managers;
    this.departments = company.departments;
    this.wonAmount = new Float64Array(this.managers.length * this.months.length);
    this.wonCount = new Float64Array(this.months.length);
    for (const d of this.departments) {
      const members = this.managers.filter((m) => m.department === d && m.role !== 'admin');
      const head = members.find((m) => m.role === 'head') as Manager;
      this.deptManagers.set(d, { members, cum: cumulative(members.map((m) => m.volume)), head });
      if (d.city) this.cityDept.set(d.city, d);
    }
    this.moscowDept = this.departments.find((d) => d.kind === 'moscow')!;
    this.regionsDept = this.departments.find((d) => d.kind === 'regions')!;
    this.b2bDept = this.departments.find((d) => d.kind === 'b2b');
    this.repeatDept = this.departments.find((d) => d.kind === 'repeat');
    const workers = this.managers.filter((m) => m.role !== 'admin' && m.department.kind !== 'root');
    this.allWorkers = { members: workers, cum: cumulative(workers.map((m) => m.volume)) };

    this.writers = Object.fromEntries(
      DEMO_FILES.map((f) => [f, new JsonlWriter(join(opts.outDir, `${f}.jsonl`))]),
    ) as Record<FileName, JsonlWriter>;
    this.planVolumes();
  }

  async run(): Promise<{ files: Record<string, number>; bytes: number }> {
    try {
      this.writeCatalog();
      const total = WARMUP_DAYS + this.days + 1;
      for (let d = -WARMUP_DAYS; d < this.days; d++) {
        this.simulateDay(d);
        for (const f of DEMO_FILES) await this.writers[f].settle();
        this.opts.onProgress?.(WARMUP_DAYS + d + 1, total);
      }
      this.writePlans();
      const files: Record<string, number> = {};
      let bytes = 0;
      for (const f of DEMO_FILES) {
        const w = this.writers[f];
        await w.close();
        files[`${f}.jsonl`] = w.records;
        bytes += w.bytes;
      }
      this.opts.onProgress?.(total, total);
      return { files, bytes };
    } catch (err) {
      for (const f of DEMO_FILES) this.writers[f].destroy();
      throw err;
    }
  }

  /* ---------- volumes ---------- */

  private planVolumes(): void {
    const rng = new Rng(this.seed, 4);
    const callW = new Float64Array(this.days);
    const leadW = new Float64Array(WARMUP_DAYS + this.days);
    let callSum = 0;
    let leadSum = 0;
    for (let d = -WARMUP_DAYS; d < this.days; d++) {
      const t = this.start + d * DAY;
      const season = SEASON[localYearMonth(t).month] as number;
      const trend = 0.85 + (0.3 * d) / this.days;
      const wd = localWeekday(t);
      // The last day is cut at `now`; its share shrinks with it.
      const part = Math.min(1, (this.now - t) / DAY);
      const noise = rng.range(0.85, 1.15);
      const lw = (LEAD_WEEKDAY[wd] as number) * season * trend * rng.range(0.8, 1.2) * part;
      leadW[WARMUP_DAYS + d] = lw;
      if (d < 0) continue;
      callW[d] = (CALL_WEEKDAY[wd] as number) * season * trend * noise * part;
      callSum += callW[d] as number;
      leadSum += lw;
    }
    for (let d = 0; d < this.days; d++)
      this.callQuota[d] = (this.spec.calls * (callW[d] as number)) / callSum;
    for (let i = 0; i < leadW.length; i++)
      this.leadQuota[i] = (this.spec.leads * (leadW[i] as number)) / leadSum;
  }

  private simulateDay(d: number): void {
    const rng = this.rng;
    const dayStart = this.start + d * DAY;
    const want = (this.leadQuota[WARMUP_DAYS + d] as number) + this.leadCarry;
    const nLeads = Math.floor(want);
    this.leadCarry = want - nLeads;
    for (let i = 0; i < nLeads; i++) {
      const t0 = dayStart + this.secondOfDay(this.leadHourCum);
      if (t0 <= this.now) this.lead(t0);
    }
    const nRepeat = Math.round(nLeads * 0.07 * rng.range(0.5, 1.5));
    for (let i = 0; i < nRepeat && this.customers.length > 20; i++) {
      const t0 = toWorkingTime(dayStart + this.secondOfDay(this.outHourCum), rng);
      if (t0 <= this.now) this.repeatDeal(t0);
    }
    if (d < 0) return;
    if (localWeekday(dayStart) === 0) this.routineTasks(dayStart);
    const quota = this.callQuota[d] as number;
    const background = Math.max(Math.round(quota - (this.callsPerDay[d] as number)), Math.round(quota * 0.1));
    for (let i = 0; i < background; i++) {
      if (rng.chance(0.58)) {
        const t = dayStart + this.secondOfDay(this.inHourCum);
        if (t <= this.now) this.inboundCall(t);
      } else {
        const t = dayStart + this.secondOfDay(this.outHourCum);
        if (t <= this.now) this.outboundCall(t);
      }
    }
  }

  private secondOfDay(hourCum: Float64Array): number {
    return this.rng.pickIndex(hourCum) * HOUR + Math.floor(this.rng.next() * HOUR);
  }

  /* ---------- people ---------- */

  private employed(m: Manager, t: number): boolean {
    return m.hiredAt <= t && (m.firedAt === null || t < m.firedAt);
  }

  private pickFrom(pool: { members: Manager[]; cum: Float64Array }, t: number, fallback: Manager): Manager {
    for (let i = 0; i < 12; i++) {
      const m = pool.members[this.rng.pickIndex(pool.cum)] as Manager;
      if (this.employed(m, t)) return m;
    }
    return fallback;
  }

  private pickManager(dept: Department, t: number): Manager {
    const pool = this.deptManagers.get(dept)!;
    return this.pickFrom(pool, t, pool.head);
  }

  private anyManager(t: number): Manager {
    return this.pickFrom(this.allWorkers, t, this.managers[0] as Manager);
  }

  /** Who actually acts for a record's manager at `t`: a departed manager's work falls to the head. */
  private actor(m: Manager, t: number): Manager {
    return this.employed(m, t) ? m : this.deptManagers.get(m.department)!.head;
  }

  private deptFor(city: string, b2b: boolean): Department {
    if (b2b && this.b2bDept) return this.b2bDept;
    return this.cityDept.get(city) ?? (this.moscowCities.has(city) ? this.moscowDept : this.regionsDept);
  }

  private phoneOf(index: number): string {
    return `79${String(permute9(index, this.seed)).padStart(9, '0')}`;
  }

  /** A contact's attributes are a function of its index, so old contacts can be revisited without storing them. */
  private contactAt(index: number, companyIndex: number): ContactRef {
    const r = new Rng(this.seed, 0x40000000 + index);
    const female = r.chance(0.5);
    const first = female ? r.pick(FEMALE_FIRST) : r.pick(MALE_FIRST);
    const named = r.next() < 0.9;
    const city = (CITIES[r.pickIndex(this.cityCum)] as (typeof CITIES)[number]).name;
    return {
      index,
      id: `C-${index + 1}`,
      phone: this.phoneOf(index),
      firstName: named ? first : null,
      female,
      city,
      companyIndex,
    };
  }

  private newContact(t: number, companyIndex: number): ContactRef {
    const index = this.contactSeq++;
    const c = this.contactAt(index, companyIndex);
    const r = new Rng(this.seed, 0x50000000 + index);
    const surname = r.pick(SURNAMES);
    const last = c.female ? femaleSurname(surname) : surname;
    const style = r.next();
    let name: string | undefined;
    if (c.firstName)
      name = style < 0.65 ? `${c.firstName} ${last}` : style < 0.9 ? c.firstName : `${last} ${c.firstName}`;
    const phones = [this.formatPhone(c.phone, r)];
    if (r.chance(0.06)) phones.push(`79${String(permute9(300_000_000 + index, this.seed)).padStart(9, '0')}`);
    this.writers.contacts.line(
      JSON.stringify({
        id: c.id,
        name,
        phones,
        company_id: companyIndex >= 0 ? `CO-${companyIndex + 1}` : undefined,
        created_at: this.fmt.msk(Math.min(t, this.now)),
        city: r.chance(0.9) ? c.city : undefined,
      }),
    );
    this.recentContacts.push(index, companyIndex);
    return c;
  }

  /** Most numbers are stored as digits; a few as people type them, which the importer normalizes. */
  private formatPhone(digits: string, r: Rng): string {
    const x = r.next();
    if (x > 0.04) return digits;
    const p = digits.slice(1);
    if (x < 0.02) return `+7 (${p.slice(0, 3)}) ${p.slice(3, 6)}-${p.slice(6, 8)}-${p.slice(8)}`;
    return `8 ${p.slice(0, 3)} ${p.slice(3, 6)}-${p.slice(6, 8)}-${p.slice(8)}`;
  }

  private newCompany(t: number): number {
    const index = this.companySeq++;
    const r = new Rng(this.seed, 0x60000000 + index);
    this.writers.companies.line(
      JSON.stringify({
        id: `CO-${index + 1}`,
        name: companyName(r),
        created_at: this.fmt.msk(t),
      }),
    );
    this.recentCompanies.push(index);
    return index;
  }

  /* ---------- records ---------- */

  /**
   * Writes one call unless it would end after `now`; returns its end, or -1.
   * Built by hand rather than with JSON.stringify: at the large scale there are
   * ten million of them and every field is a known-safe string or number.
   */
  private call(
    dir: 'in' | 'out',
    start: number,
    status: CallStatus,
    mgr: Manager | null,
    phone: string,
    line: string | null,
    entity: EntityKind | null,
    entityId: string | null,
    kind: TalkKind | null,
    ctx: TalkCtx,
  ): number {
    const rng = this.rng;
    let ring: number;
    if (status === 'answered') ring = dir === 'in' ? rng.int(3, 25) : rng.int(5, 30);
    else if (status === 'busy') ring = rng.int(1, 4);
    else if (status === 'failed') ring = rng.int(0, 2);
    else ring = rng.int(15, 60);
    let talk = 0;
    let transcript: string | null = null;
    if (status === 'answered') {
      if (kind !== null && mgr !== null && this.talkRng.chance(this.spec.transcriptShare)) {
        const tr = makeTranscript(this.talkRng, {
          kind,
          managerFirstName: mgr.firstName,
          managerFemale: mgr.female,
          clientFirstName: ctx.contact?.firstName ?? undefined,
          clientFemale: ctx.contact ? ctx.contact.female : this.talkRng.chance(0.5),
          sourceName: ctx.sourceName,
          topic: ctx.topic,
          b2b: ctx.b2b,
          inbound: dir === 'in',
          habits: mgr.habits,
        });
        talk = tr.seconds;
        transcript = JSON.stringify(tr.value);
      } else {
        talk = Math.min(3600, Math.max(4, Math.round(rng.logNormal(dir === 'in' ? 110 : 75, 0.8))));
      }
    }
    const end = start + ring + talk;
    if (end > this.now || start < this.start) return -1;
    const fmt = this.fmt;
    const id = `CL-${++this.callSeq}`;
    const startedAt = fmt.msk(start);
    let s = `{"id":"${id}","direction":"${dir}","started_at":"${startedAt}"`;
    if (status === 'answered') s += `,"answered_at":"${fmt.msk(start + ring)}"`;
    s += `,"ended_at":"${fmt.msk(end)}","duration_sec":${talk},"status":"${status}"`;
    if (mgr) s += `,"manager_id":"${mgr.id}"`;
    s += `,"client_phone":"${phone}"`;
    if (line) s += `,"line_number":"${line}"`;
    if (entity) s += `,"entity":"${entity}","entity_id":"${entityId}"`;
    if (status === 'answered' && (transcript !== null || rng.chance(0.5))) {
      s += `,"recording_url":"https://records.okna-plus.example/${startedAt.slice(0, 7)}/${id}.mp3"`;
    }
    if (transcript !== null) s += `,"transcript":${transcript}`;
    if (rng.chance(0.003)) s += `,"tags":["${rng.pick(['vip', 'жалоба', 'повторный'])}"]`;
    this.writers.calls.line(`${s}}`);
    const day = Math.floor((start - this.start) / DAY);
    this.callsPerDay[day] = (this.callsPerDay[day] as number) + 1;
    return end;
  }

  private activity(
    type: 'meeting' | 'email' | 'case' | 'task' | 'comment' | 'other',
    entity: EntityKind,
    entityId: string,
    mgr: Manager | null,
    createdAt: number,
    deadline: number | null,
    completedAt: number | null,
  ): void {
    if (createdAt > this.now) return;
    const fmt = this.fmt;
    let s = `{"id":"A-${++this.activitySeq}","type":"${type}","entity":"${entity}","entity_id":"${entityId}"`;
    if (mgr) s += `,"manager_id":"${mgr.id}"`;
    s += `,"created_at":"${fmt.msk(createdAt)}"`;
    if (deadline !== null) s += `,"deadline":"${fmt.msk(deadline)}"`;
    if (completedAt !== null && completedAt <= this.now)
      s += `,"completed_at":"${fmt.msk(Math.max(completedAt, createdAt))}"`;
    this.writers.activities.line(`${s}}`);
  }

  /** Tasks come from a separate task tracker that exports UTC (`Z`) timestamps. */
  private task(
    title: string,
    creator: Manager | null,
    responsible: Manager,
    project: string | null,
    createdAt: number,
    startPlanAt: number | null,
    startedAt: number | null,
    deadlineAt: number,
    closedAt: number | null,
    entity: EntityKind | null,
    entityId: string | null,
  ): void {
    if (createdAt > this.now) return;
    this.writers.tasks.line(
      JSON.stringify({
        id: `T-${++this.taskSeq}`,
        title,
        creator_id: creator?.id,
        responsible_id: responsible.id,
        department_id: responsible.department.id,
        project: project ?? undefined,
        created_at: this.fmt.utc(createdAt),
        start_plan_at: startPlanAt === null ? undefined : this.fmt.utc(startPlanAt),
        started_at: this.pastUtc(startedAt),
        deadline_at: this.fmt.utc(deadlineAt),
        closed_at: this.pastUtc(closedAt),
        entity: entity ?? undefined,
        entity_id: entityId ?? undefined,
      }),
    );
  }

  private pastUtc(t: number | null): string | undefined {
    return t !== null && t <= this.now ? this.fmt.utc(t) : undefined;
  }

  /**
   * Writes the history entries that happened by `now`; returns the last one (the current stage).
   * Each entry names who owned the record then: a departed manager's records pass to the head.
   */
  private history(
    entity: 'lead' | 'deal',
    id: string,
    entries: [Stage, number][],
    mgr: Manager | null,
  ): [Stage, number] {
    let last = entries[0] as [Stage, number];
    for (const e of entries) {
      if (e[1] > this.now) break;
      last = e;
      let s = `{"entity":"${entity}","entity_id":"${id}","stage_id":"${e[0].id}","at":"${this.fmt.msk(e[1])}"`;
      if (mgr) s += `,"manager_id":"${this.actor(mgr, e[1]).id}"`;
      this.writers.stage_history.line(`${s}}`);
    }
    return last;
  }

  /* ---------- telephony ---------- */

  private missChance(t: number): number {
    const h = localHour(t);
    const wd = localWeekday(t);
    let p = h >= 9 && h < 19 ? 0.09 : h === 8 || h === 19 || h === 20 ? 0.35 : 0.85;
    if (wd === 5) p += 0.08;
    if (wd === 6) p += 0.25;
    return Math.min(0.95, p);
  }

  private missedStatus(): CallStatus {
    const r = this.rng.next();
    return r < 0.7 ? 'missed' : r < 0.85 ? 'no_answer' : r < 0.95 ? 'busy' : 'failed';
  }

  private failedOutStatus(): CallStatus {
    const r = this.rng.next();
    return r < 0.7 ? 'no_answer' : r < 0.9 ? 'busy' : 'failed';
  }

  /** After a missed incoming call: our callback (quick, late, after a day, or never) and the client's own retry. */
  private afterMissed(
    t: number,
    phone: string,
    line: string | null,
    hint: Manager | null,
    ctx: TalkCtx,
  ): void {
    const rng = this.rng;
    const r = rng.next();
    let delay = -1;
    if (r < 0.55) delay = rng.int(2, 60) * MINUTE;
    else if (r < 0.8) delay = rng.int(1, 20) * HOUR + rng.int(0, 3599);
    else if (r < 0.88) delay = rng.int(25, 72) * HOUR + rng.int(0, 3599);
    if (delay >= 0) {
      const cb = toWorkingTime(t + delay, rng);
      const m = hint && this.employed(hint, cb) ? hint : this.anyManager(cb);
      const ok = rng.chance(0.8);
      this.call(
        'out',
        cb,
        ok ? 'answered' : this.failedOutStatus(),
        m,
        phone,
        MAIN_LINE,
        null,
        null,
        'callback',
        ctx,
      );
      if (!ok && rng.chance(0.5)) {
        const again = toWorkingTime(cb + rng.int(1, 5) * HOUR, rng);
        const ok2 = rng.chance(0.6);
        this.call(
          'out',
          again,
          ok2 ? 'answered' : this.failedOutStatus(),
          m,
          phone,
          MAIN_LINE,
          null,
          null,
          'callback',
          ctx,
        );
      }
    }
    if (rng.chance(0.15)) {
      const retry = t + rng.int(10, 360) * MINUTE;
      const missed = rng.chance(this.missChance(retry));
      this.call(
        'in',
        retry,
        missed ? this.missedStatus() : 'answered',
        missed ? null : this.anyManager(retry),
        phone,
        line,
        null,
        null,
        'inbound_inquiry',
        ctx,
      );
    }
  }

  private incomingLine(): string {
    const i = this.rng.pickIndex(this.lineCum);
    return i < PHONE_LINES.length ? (PHONE_LINES[i] as (typeof PHONE_LINES)[number]).number : UNLISTED_LINE;
  }

  /** An incoming call not tied to a lead's life: a new number, a repeat caller or a known contact. */
  private inboundCall(t: number): void {
    const rng = this.rng;
    const r = rng.next();
    let mode = r < 0.45 ? 'new' : r < 0.65 ? 'repeat' : 'contact';
    if (
      (mode === 'repeat' && this.recentCallers.length === 0) ||
      (mode === 'contact' && this.contactSeq === 0)
    )
      mode = 'new';
    let phone: string;
    let contact: ContactRef | null = null;
    let kind: TalkKind;
    if (mode === 'new') {
      const anon = this.anonSeq++;
      this.recentCallers.push(anon);
      phone = this.anonPhone(anon);
      const k = rng.next();
      kind = k < 0.75 ? 'inbound_inquiry' : k < 0.87 ? 'wrong_number' : k < 0.94 ? 'job_seeker' : 'spam';
    } else if (mode === 'repeat') {
      phone = this.anonPhone(this.recentCallers.at(this.recentCallers.slot(rng))[0]);
      kind = 'inbound_inquiry';
    } else {
      // Recent contacts call more often than old ones.
      const u = rng.next();
      const index = this.contactSeq - 1 - Math.floor(this.contactSeq * u * u);
      contact = this.contactAt(index, -1);
      phone = contact.phone;
      kind = rng.chance(0.45) ? 'after_sale' : 'inbound_inquiry';
    }
    const line = this.incomingLine();
    const ctx: TalkCtx = contact ? { contact, sourceName: undefined, b2b: false } : NO_CTX;
    if (rng.chance(this.missChance(t))) {
      const hint = rng.chance(0.4) ? this.anyManager(t) : null;
      this.call('in', t, this.missedStatus(), hint, phone, line, null, null, null, ctx);
      this.afterMissed(t, phone, line, hint, ctx);
      return;
    }
    const linked = contact !== null && rng.chance(0.3);
    this.call(
      'in',
      t,
      'answered',
      this.anyManager(t),
      phone,
      line,
      linked ? 'contact' : null,
      linked ? contact!.id : null,
      kind,
      ctx,
    );
  }

  /** An outgoing call outside a lead's life: a known client or cold calling. */
  private outboundCall(t: number): void {
    const rng = this.rng;
    const m = this.anyManager(t);
    if (this.contactSeq > 0 && rng.chance(0.55)) {
      const contact = this.contactAt(Math.floor(rng.next() * this.contactSeq), -1);
      const ok = rng.chance(0.68);
      const linked = rng.chance(0.3);
      this.call(
        'out',
        t,
        ok ? 'answered' : this.failedOutStatus(),
        m,
        contact.phone,
        MAIN_LINE,
        linked ? 'contact' : null,
        linked ? contact.id : null,
        rng.chance(0.5) ? 'after_sale' : 'offer_followup',
        { contact, sourceName: undefined, b2b: false },
      );
      return;
    }
    const anon = this.anonSeq++;
    const ok = rng.chance(0.4);
    this.call(
      'out',
      t,
      ok ? 'answered' : this.failedOutStatus(),
      m,
      this.anonPhone(anon),
      MAIN_LINE,
      null,
      null,
      'cold_call',
      {
        contact: null,
        sourceName: undefined,
        b2b: true,
      },
    );
  }

  private anonPhone(anon: number): string {
    return `79${String(permute9(600_000_000 + anon, this.seed)).padStart(9, '0')}`;
  }

  /* ---------- leads ---------- */

  private utm(src: Source, city: string): Record<string, string> | undefined {
    const rng = this.rng;
    switch (src.id) {
      case 'direct':
        return {
          source: 'yandex',
          medium: 'cpc',
          campaign: this.moscowCities.has(city) ? rng.pick(DIRECT_CAMPAIGNS.slice(0, 4)) : 'okna_regiony',
          content: rng.pick(['text_a', 'text_b', 'banner_1']),
          term: rng.pick(DIRECT_TERMS),
        };
      case 'site':
        if (rng.chance(0.5)) return undefined;
        return rng.chance(0.5)
          ? { source: 'google', medium: 'organic', campaign: 'seo' }
          : {
              source: rng.pick(['vk', 'email']),
              medium: 'social',
              campaign: rng.pick(SITE_CAMPAIGNS.slice(1)),
            };
      case 'avito':
        return rng.chance(0.6)
          ? { source: 'avito', medium: 'classified', campaign: 'avito_okna' }
          : undefined;
      case 'intercept':
        return { source: 'leadintercept', medium: 'callback' };
      default:
        return undefined;
    }
  }

  private lead(t0: number): void {
    const rng = this.rng;
    const src = SOURCES[rng.pickIndex(this.sourceCum)] as Source;
    const b2b = rng.chance(src.b2b);

    let contact: ContactRef;
    if (this.recentContacts.length > 50 && rng.chance(0.06)) {
      const [index, companyIndex] = this.recentContacts.at(this.recentContacts.slot(rng));
      contact = this.contactAt(index, companyIndex);
    } else {
      let companyIndex = -1;
      if (b2b)
        companyIndex =
          this.recentCompanies.length > 10 && rng.chance(0.35)
            ? this.recentCompanies.at(this.recentCompanies.slot(rng))[0]
            : this.newCompany(t0 - rng.int(60, 3600));
      contact = this.newContact(t0 + rng.int(5, 120), companyIndex);
    }
    const isB2b = b2b || contact.companyIndex >= 0;
    const topic = this.topic(isB2b, contact);
    const dept = this.deptFor(contact.city, isB2b);
    const ctx: TalkCtx = { contact, topic: topic.title, sourceName: src.name, b2b: isB2b };
    const id = `L-${++this.leadSeq}`;
    const origin = rng.next();
    const byCall = origin < src.inboundCall;
    const byColdCall = !byCall && origin < src.inboundCall + src.outboundCall;
    const unassigned = !byCall && !byColdCall && rng.chance(0.025);
    const owner = unassigned ? null : this.pickManager(dept, t0);
    const phone = contact.phone;

    let contacted = -1;
    if (byCall) {
      const line = src.lines.length > 0 ? rng.pick(src.lines) : MAIN_LINE;
      const callStart = t0 - rng.int(60, 400);
      if (rng.chance(this.missChance(callStart))) {
        this.call('in', callStart, this.missedStatus(), null, phone, line, 'lead', id, null, ctx);
      } else {
        this.call('in', callStart, 'answered', owner, phone, line, 'lead', id, 'inbound_inquiry', ctx);
        contacted = t0;
      }
    } else if (byColdCall) {
      this.call(
        'out',
        t0 - rng.int(120, 600),
        'answered',
        owner,
        phone,
        MAIN_LINE,
        'lead',
        id,
        'cold_call',
        ctx,
      );
      contacted = t0;
    }

    type Fate = 'junk' | 'stall' | 'qualified' | 'lost';
    let fate: Fate;
    if (!owner) fate = rng.chance(0.7) ? 'stall' : 'junk';
    else {
      const r = rng.next();
      const stall = 0.04 * owner.neglect;
      const qualified = (1 - src.junk) * Math.min(0.9, 0.62 * owner.skill);
      fate =
        r < src.junk
          ? 'junk'
          : r < src.junk + stall
            ? 'stall'
            : r < src.junk + stall + qualified
              ? 'qualified'
              : 'lost';
    }

    const [NEW, WORK, QUAL] = LEAD_PIPELINE.open as [Stage, Stage, Stage];
    const entries: [Stage, number][] = [[NEW, t0]];
    let closeAt = -1;
    let closeStage: Stage | null = null;
    const untouched = !owner || (fate === 'stall' && rng.chance(0.35));

    if (owner && rng.chance(0.2)) {
      const when = t0 + rng.int(30, 900);
      this.activity('comment', 'lead', id, owner, when, null, when);
    }
    if (!owner && fate === 'junk') {
      // Spam and duplicates get closed from the shared queue without anyone calling.
      closeAt = t0 + rng.int(1, 48) * HOUR;
      closeStage = LEAD_PIPELINE.lost;
    }

    if (!untouched && owner) {
      // First response: our outgoing attempts until somebody answers.
      let attempt = toWorkingTime(t0 + Math.round(rng.logNormal(owner.responseMinutes, 0.9) * MINUTE), rng);
      if (contacted >= 0) attempt = toWorkingTime(t0 + rng.int(1, 30) * HOUR, rng);
      if (src.id === 'site' && rng.chance(0.25)) {
        this.activity(
          'email',
          'lead',
          id,
          this.actor(owner, attempt),
          attempt,
          null,
          attempt + rng.int(60, 600),
        );
      }
      for (let n = 0; n < 4 && contacted < 0; n++) {
        const ok = rng.chance(0.62);
        const by = this.actor(owner, attempt);
        this.call(
          'out',
          attempt,
          ok ? 'answered' : this.failedOutStatus(),
          by,
          phone,
          MAIN_LINE,
          'lead',
          id,
          'lead_first_contact',
          ctx,
        );
        if (ok) contacted = attempt;
        else attempt = toWorkingTime(attempt + rng.int(1, 24) * HOUR + rng.int(0, 3599), rng);
      }
      if (contacted < 0) {
        if (fate !== 'stall') {
          fate = 'junk';
          closeAt = attempt + rng.int(1, 72) * HOUR;
          closeStage = LEAD_PIPELINE.lost;
        }
      } else {
        let t = contacted + rng.int(1, 15) * MINUTE;
        if (rng.chance(0.85)) entries.push([WORK, t]);
        if (rng.chance(0.3)) {
          const deadline = toWorkingTime(t + rng.int(18, 48) * HOUR, rng);
          const done = fate === 'stall' ? null : t + Math.round((deadline - t) * rng.range(0.2, 1.3));
          this.activity('task', 'lead', id, this.actor(owner, t), t, deadline, done);
        }
        if (fate === 'junk') {
          closeAt = t + rng.int(10 * MINUTE, 2 * DAY);
          closeStage = LEAD_PIPELINE.lost;
        } else {
          if (rng.chance(fate === 'stall' ? 0.4 : 0.7)) {
            t = toWorkingTime(t + Math.max(HOUR, Math.round(rng.logNormal(1, 0.8) * DAY)), rng);
            entries.push([QUAL, t]);
          }
          if (fate !== 'stall') {
            const followUps = rng.int(0, 2);
            let ft = t;
            for (let k = 0; k < followUps; k++) {
              ft = toWorkingTime(ft + rng.int(2, 30) * HOUR, rng);
              const inbound = rng.chance(0.3);
              const ok = rng.chance(0.75);
              this.call(
                inbound ? 'in' : 'out',
                ft,
                ok ? 'answered' : inbound ? this.missedStatus() : this.failedOutStatus(),
                this.actor(owner, ft),
                phone,
                MAIN_LINE,
                'lead',
                id,
                'lead_first_contact',
                ctx,
              );
            }
            closeAt = toWorkingTime(
              Math.max(ft, t) + Math.max(HOUR, Math.round(rng.logNormal(1.5, 0.8) * DAY)),
              rng,
            );
            closeStage = fate === 'qualified' ? LEAD_PIPELINE.won : LEAD_PIPELINE.lost;
          }
        }
      }
    }
    if (closeStage) entries.push([closeStage, closeAt]);

    const [stage, at] = this.history('lead', id, entries, owner);
    const closed = stage.semantic !== 'open';
    const holder = owner ? this.actor(owner, closed ? at : this.now) : null;

    let dealId: string | undefined;
    let leadLinksDeal = false;
    if (closed && stage === LEAD_PIPELINE.won && owner && rng.chance(0.9)) {
      dealId = `D-${++this.dealSeq}`;
      const linkRoll = rng.next();
      leadLinksDeal = linkRoll < 0.75;
      const dealT0 = Math.min(this.now, at + rng.int(0, 900));
      this.deal({
        id: dealId,
        pipeline: SALES_PIPELINE,
        t0: dealT0,
        owner: this.actor(owner, dealT0),
        contact,
        source: src,
        leadId: linkRoll >= 0.4 && linkRoll < 0.75 ? null : id,
        b2b: isB2b,
        topic,
        firstCallDone: true,
      });
    }

    const city = rng.chance(0.95) ? contact.city : undefined;
    this.writers.leads.line(
      JSON.stringify({
        id,
        title: `${topic.title}${city ? `, ${city}` : ''}`,
        pipeline_id: LEAD_PIPELINE.id,
        stage_id: stage.id,
        source_id: src.id,
        utm: this.utm(src, contact.city),
        manager_id: holder?.id,
        contact_id: contact.id,
        company_id: contact.companyIndex >= 0 ? `CO-${contact.companyIndex + 1}` : undefined,
        city,
        created_at: this.fmt.msk(t0),
        closed_at: closed ? this.fmt.msk(at) : undefined,
        deal_id: leadLinksDeal ? dealId : undefined,
        form_name: src.id === 'site' && rng.chance(0.05) ? 'Калькулятор окон' : undefined,
      }),
    );
  }

  private topic(b2b: boolean, contact: ContactRef): Topic {
    if (b2b && contact.companyIndex >= 0) return B2B_TOPIC;
    return TOPICS[this.rng.pickIndex(TOPIC_CUM)] as Topic;
  }

  /* ---------- deals ---------- */

  private amount(topic: Topic): number {
    const rng = this.rng;
    const a =
      topic === B2B_TOPIC
        ? Math.min(12_000_000, Math.max(200_000, rng.logNormal(1_200_000, 0.7)))
        : rng.int(topic.units[0], topic.units[1]) * rng.range(topic.price[0], topic.price[1]);
    const rounded = Math.round(a / 100) * 100;
    return rng.chance(0.03) ? rounded + 0.5 : rounded;
  }

  private repeatDeal(t0: number): void {
    const rng = this.rng;
    const [contactIndex, companyIndex, managerIndex] = this.customers.at(this.customers.slot(rng));
    const contact = this.contactAt(contactIndex, companyIndex);
    const repeatDept = this.repeatDept;
    const previous = this.managers[managerIndex] as Manager;
    const owner = repeatDept
      ? this.pickManager(repeatDept, t0)
      : this.employed(previous, t0)
        ? previous
        : this.pickManager(this.deptFor(contact.city, companyIndex >= 0), t0);
    this.deal({
      id: `D-${++this.dealSeq}`,
      pipeline: REPEAT_PIPELINE,
      t0,
      owner,
      contact,
      source: rng.chance(0.6) ? REFERRAL : null,
      leadId: null,
      b2b: companyIndex >= 0,
      topic: rng.pick(REPEAT_TOPICS),
      firstCallDone: false,
    });
  }

  private deal(d: {
    id: string;
    pipeline: Pipeline;
    t0: number;
    owner: Manager;
    contact: ContactRef;
    source: Source | null;
    leadId: string | null;
    b2b: boolean;
    topic: Topic;
    firstCallDone: boolean;
  }): void {
    const rng = this.rng;
    const { id, pipeline, owner, contact } = d;
    const ctx: TalkCtx = { contact, topic: d.topic.title, sourceName: d.source?.name, b2b: d.b2b };
    const amount = this.amount(d.topic);
    const winP = Math.min(0.85, 0.45 * owner.skill + (pipeline === REPEAT_PIPELINE ? 0.15 : 0));
    const stallP = 0.05 * owner.neglect;
    const r = rng.next();
    const fate = r < winP ? 'won' : r < winP + stallP ? 'stall' : 'lost';
    const open = pipeline.open;
    const n = open.length;
    let lastIdx: number;
    if (fate === 'won') lastIdx = n - 1;
    else {
      // Deals fall out early more often than late.
      const u = rng.next();
      lastIdx = Math.min(n - 1, Math.floor(n * u * u));
    }
    const visited = [0];
    for (let i = 1; i <= lastIdx; i++) if (rng.chance(0.82)) visited.push(i);

    const entries: [Stage, number][] = [[open[0] as Stage, d.t0]];
    const medianDays = pipeline === SALES_PIPELINE ? [1, 3, 1.5, 3, 4, 3] : [1, 2, 3, 2];
    let t = d.t0;
    for (const i of visited.slice(1)) {
      t = toWorkingTime(t + this.stageDuration(medianDays[i - 1] as number, owner), rng);
      entries.push([open[i] as Stage, t]);
    }
    let closeAt = -1;
    if (fate !== 'stall') {
      closeAt = toWorkingTime(t + this.stageDuration(medianDays[n - 1] as number, owner), rng);
      entries.push([fate === 'won' ? pipeline.won : pipeline.lost, closeAt]);
    }

    // Touches inside each stage's time window.
    const phone = contact.phone;
    for (let k = 0; k < entries.length; k++) {
      const [stage, at] = entries[k] as [Stage, number];
      if (stage.semantic !== 'open') break;
      const next = k + 1 < entries.length ? (entries[k + 1] as [Stage, number])[1] : -1;
      const until = next >= 0 ? next : at + rng.int(1, 5) * DAY;
      const by = this.actor(owner, at);
      this.stageTouches(stage, id, by, at, until, next >= 0, phone, ctx, k === 0 && d.firstCallDone);
      if (rng.chance(by.taskRate)) {
        const deadline = toWorkingTime(at + rng.int(18, 72) * HOUR, rng);
        let done: number | null;
        if (next >= 0)
          done = rng.chance(by.discipline)
            ? at + Math.round((Math.min(deadline, next) - at) * rng.range(0.1, 0.95))
            : Math.max(next, deadline + rng.int(1, 48) * HOUR);
        else
          done =
            fate === 'stall' && rng.chance(0.7)
              ? null
              : at + Math.round((deadline - at) * rng.range(0.3, 1.4));
        this.activity('task', 'deal', id, by, at + rng.int(60, 1800), deadline, done);
      }
      if (rng.chance(0.25)) {
        const when = at + rng.int(60, 7200);
        this.activity('comment', 'deal', id, by, when, null, when);
      }
      if (k === 1 && rng.chance(0.22)) this.dealTask(id, by, at);
    }

    const [stage, at] = this.history('deal', id, entries, owner);
    const closed = stage.semantic !== 'open';
    const holder = this.actor(owner, closed ? at : this.now);
    if (closed && stage.semantic === 'won') {
      const mi = this.monthIndex(at);
      const cell = holder.index * this.months.length + mi;
      this.wonAmount[cell] = (this.wonAmount[cell] as number) + amount;
      this.wonCount[mi] = (this.wonCount[mi] as number) + 1;
      this.customers.push(contact.index, contact.companyIndex, holder.index);
      if (rng.chance(0.2)) {
        const when = toWorkingTime(at + rng.int(1, 10) * DAY, rng);
        this.activity(
          'email',
          'contact',
          contact.id,
          this.actor(owner, when),
          when,
          null,
          when + rng.int(0, 600),
        );
      }
      if (contact.companyIndex >= 0 && rng.chance(0.3)) {
        const when = toWorkingTime(at + rng.int(3, 20) * DAY, rng);
        this.activity(
          'other',
          'company',
          `CO-${contact.companyIndex + 1}`,
          this.actor(owner, when),
          when,
          when + DAY,
          when + rng.int(1, 30) * HOUR,
        );
      }
      if (rng.chance(0.15)) {
        const after = toWorkingTime(at + rng.int(5, 40) * DAY, rng);
        this.call(
          'in',
          after,
          'answered',
          this.actor(owner, after),
          phone,
          MAIN_LINE,
          'contact',
          contact.id,
          'after_sale',
          ctx,
        );
      }
    }
    this.writers.deals.line(
      JSON.stringify({
        id,
        title: d.topic.title,
        pipeline_id: pipeline.id,
        stage_id: stage.id,
        manager_id: holder.id,
        amount,
        currency: rng.chance(0.5) ? 'RUB' : undefined,
        source_id: d.source?.id,
        lead_id: d.leadId ?? undefined,
        contact_id: contact.id,
        company_id: contact.companyIndex >= 0 ? `CO-${contact.companyIndex + 1}` : undefined,
        created_at: this.fmt.msk(d.t0),
        closed_at: closed ? this.fmt.msk(at) : undefined,
        lost_reason: closed && stage.semantic === 'lost' ? rng.pick(LOST_REASONS) : undefined,
        discount_pct: rng.chance(0.02) ? rng.pick([5, 7, 10]) : undefined,
      }),
    );
  }

  /** Time in a stage; at least ten minutes so history entries never share a moment. */
  private stageDuration(medianDays: number, owner: Manager): number {
    return Math.max(600, Math.round(this.rng.logNormal(medianDays, 0.7) * DAY * owner.pace));
  }

  /** What happens at a deal stage: the замер, the КП, negotiation calls. */
  private stageTouches(
    stage: Stage,
    id: string,
    by: Manager,
    at: number,
    until: number,
    moved: boolean,
    phone: string,
    ctx: TalkCtx,
    firstCallDone: boolean,
  ): void {
    const rng = this.rng;
    const span = Math.max(HOUR, until - at);
    switch (stage.id) {
      case 'sales_new':
      case 'repeat_new':
        if (!firstCallDone || rng.chance(0.3))
          this.dealCall(
            by,
            phone,
            id,
            ctx,
            stage.id === 'repeat_new' ? 'offer_followup' : 'lead_first_contact',
            toWorkingTime(at + rng.int(5, 180) * MINUTE, rng),
          );
        break;
      case 'sales_measure_set': {
        this.dealCall(by, phone, id, ctx, 'measure_booking', at);
        const visit = moved ? until : toWorkingTime(at + rng.int(1, 4) * DAY, rng);
        this.activity(
          'meeting',
          'deal',
          id,
          by,
          at + rng.int(60, 600),
          visit,
          moved || rng.chance(0.3) ? visit + rng.int(1, 3) * HOUR : null,
        );
        break;
      }
      case 'sales_measure_done':
        this.activity('case', 'deal', id, by, at + rng.int(60, 3600), null, at + rng.int(1, 20) * HOUR);
        break;
      case 'sales_offer':
      case 'repeat_offer':
        this.activity('email', 'deal', id, by, at, null, at + rng.int(0, 300));
        this.dealCall(
          by,
          phone,
          id,
          ctx,
          'offer_followup',
          toWorkingTime(this.within(at, span, rng.range(0.3, 0.9)), rng),
        );
        break;
      case 'sales_negotiation': {
        const calls = rng.int(1, 3);
        for (let i = 0; i < calls; i++)
          this.dealCall(
            by,
            phone,
            id,
            ctx,
            rng.chance(0.5) ? 'offer_followup' : 'closing',
            toWorkingTime(this.within(at, span, rng.next()), rng),
            rng.chance(0.3),
          );
        if (rng.chance(0.3)) {
          const when = toWorkingTime(this.within(at, span, rng.range(0.2, 0.8)), rng);
          this.activity('meeting', 'deal', id, by, at + rng.int(60, 3600), when, when + rng.int(1, 2) * HOUR);
        }
        break;
      }
      case 'sales_contract':
      case 'repeat_invoice':
        this.dealCall(
          by,
          phone,
          id,
          ctx,
          'closing',
          toWorkingTime(this.within(at, span, rng.range(0, 0.5)), rng),
        );
        this.activity('case', 'deal', id, by, at + rng.int(60, 3600), null, at + rng.int(1, 30) * HOUR);
        break;
    }
  }

  /** A call about a deal; most are answered. */
  private dealCall(
    by: Manager,
    phone: string,
    id: string,
    ctx: TalkCtx,
    kind: TalkKind,
    when: number,
    inbound = false,
  ): void {
    const ok = this.rng.chance(0.78);
    const status = ok ? 'answered' : inbound ? this.missedStatus() : this.failedOutStatus();
    this.call(inbound ? 'in' : 'out', when, status, by, phone, MAIN_LINE, 'deal', id, kind, ctx);
  }

  private within(at: number, span: number, f: number): number {
    return at + Math.floor(span * f);
  }

  private dealTask(dealId: string, by: Manager, at: number): void {
    const rng = this.rng;
    const created = at + rng.int(10, 240) * MINUTE;
    const head = this.deptManagers.get(by.department)!.head;
    const startPlan = rng.chance(0.7) ? created + rng.int(1, 24) * HOUR : null;
    const deadline = toWorkingTime(created + rng.int(1, 5) * DAY, rng);
    this.taskLife(
      rng.pick(DEAL_TASK_TITLES),
      rng.chance(0.5) ? head : by,
      by,
      'Сделки',
      created,
      startPlan,
      deadline,
      'deal',
      dealId,
    );
  }

  /** Starts and closes a task on time or late according to the person's discipline; some never start. */
  private taskLife(
    title: string,
    creator: Manager | null,
    by: Manager,
    project: string | null,
    created: number,
    startPlan: number | null,
    deadline: number,
    entity: EntityKind | null,
    entityId: string | null,
  ): void {
    const rng = this.rng;
    let started: number | null = null;
    let closed: number | null = null;
    if (!rng.chance(0.02 + (1 - by.discipline) * 0.2)) {
      const planned = startPlan ?? created + Math.floor((deadline - created) * 0.3);
      started = rng.chance(by.discipline)
        ? created + Math.floor((planned - created) * rng.range(0.1, 1))
        : toWorkingTime(planned + rng.int(1, 48) * HOUR, rng);
      // Careless people leave tasks hanging: these become the overdue ones.
      if (!rng.chance(0.03 + (1 - by.discipline) * 0.25)) {
        closed = rng.chance(by.discipline)
          ? Math.max(started + 600, deadline - Math.floor((deadline - started) * rng.range(0, 0.8)))
          : toWorkingTime(Math.max(started, deadline) + rng.int(1, 96) * HOUR, rng);
      }
    }
    this.task(title, creator, by, project, created, startPlan, started, deadline, closed, entity, entityId);
  }

  private routineTasks(monday: number): void {
    const rng = this.rng;
    for (const m of this.managers) {
      if (m.role !== 'manager' || !this.employed(m, monday) || !rng.chance(0.7)) continue;
      const [title, project] = rng.pick(ROUTINE_TASKS);
      const created = monday + 9 * HOUR + rng.int(0, 120) * MINUTE;
      const startPlan = rng.chance(0.6) ? created + rng.int(1, 30) * HOUR : null;
      const deadline = monday + 4 * DAY + 18 * HOUR;
      const head = this.deptManagers.get(m.department)!.head;
      this.taskLife(title, head, m, project, created, startPlan, deadline, null, null);
    }
  }

  private monthIndex(t: number): number {
    for (let i = this.months.length - 1; i >= 0; i--)
      if (t >= (this.months[i] as { start: number }).start) return i;
    return 0;
  }

  /* ---------- static files and plans ---------- */

  private writeCatalog(): void {
    const w = this.writers;
    for (const d of this.departments)
      w.departments.line(JSON.stringify({ id: d.id, name: d.name, parent_id: d.parentId ?? undefined }));
    for (const m of this.managers) {
      w.managers.line(
        JSON.stringify({
          id: m.id,
          name: m.name,
          department_id: m.department.id,
          role: m.role,
          active: m.firedAt === null,
          phone: m.phone,
          email: m.email,
        }),
      );
    }
    for (const p of PIPELINES) {
      w.pipelines.line(JSON.stringify({ id: p.id, name: p.name, entity: p.entity }));
      for (const s of p.fileOrder) {
        w.stages.line(
          JSON.stringify({
            id: s.id,
            pipeline_id: p.id,
            name: s.name,
            sort: s.sort,
            semantic: s.semantic,
            probability: s.probability,
          }),
        );
      }
    }
    for (const s of SOURCES) w.sources.line(JSON.stringify({ id: s.id, name: s.name }));
    for (const l of PHONE_LINES)
      w.phone_lines.line(JSON.stringify({ number: l.number, name: l.name, source_id: l.sourceId }));
  }

  /**
   * Monthly plans: per manager (amount) and for the company (amount and count).
   * Targets come from each manager's own average so some beat the plan and some miss it.
   */
  private writePlans(): void {
    const rng = new Rng(this.seed, 5);
    const M = this.months.length;
    const full = M - 1;
    let companyAmount = 0;
    let companyCount = 0;
    for (let i = 0; i < full; i++) companyCount += this.wonCount[i] as number;
    for (const m of this.managers) {
      if (m.role !== 'manager') continue;
      let sum = 0;
      let worked = 0;
      for (let i = 0; i < full; i++) {
        const ms = (this.months[i] as { start: number }).start;
        if (this.employed(m, ms) || this.employed(m, ms + 27 * DAY)) {
          sum += this.wonAmount[m.index * M + i] as number;
          worked++;
        }
      }
      companyAmount += sum;
      const avg = worked > 0 ? sum / worked : 0;
      for (let i = 0; i < M; i++) {
        const month = this.months[i] as { key: string; start: number };
        if (!this.employed(m, month.start) && !this.employed(m, month.start + 27 * DAY)) continue;
        const season = SEASON[localYearMonth(month.start).month] as number;
        const target = Math.max(150_000, Math.round((avg * season * rng.range(0.85, 1.3)) / 10_000) * 10_000);
        this.writers.plans.line(
          JSON.stringify({
            month: month.key,
            metric: 'amount',
            target,
            manager_id: m.id,
            bonus: rng.pick([10_000, 15_000, 20_000]),
          }),
        );
      }
    }
    const avgAmount = companyAmount / full;
    const avgCount = companyCount / full;
    for (let i = 0; i < M; i++) {
      const month = this.months[i] as { key: string; start: number };
      const season = SEASON[localYearMonth(month.start).month] as number;
      const amount = Math.max(
        1_000_000,
        Math.round((avgAmount * season * rng.range(1, 1.15)) / 100_000) * 100_000,
      );
      const count = Math.max(5, Math.round(avgCount * season * rng.range(1, 1.15)));
      this.writers.plans.line(JSON.stringify({ month: month.key, metric: 'amount', target: amount }));
      this.writers.plans.line(JSON.stringify({ month: month.key, metric: 'count', target: count }));
    }
  }
}
