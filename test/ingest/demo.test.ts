import { createHash } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AppError } from '../../src/errors.ts';
import { generateDemo } from '../../src/ingest/demo/index.ts';

type Rec = Record<string, unknown>;

const NOW = new Date('2026-03-15T12:00:00+03:00');
const NOW_MS = NOW.getTime();

/** IMPORT_FORMAT.md, written out here independently of the generator. */
const REQUIRED: Record<string, string[]> = {
  departments: ['id', 'name'],
  managers: ['id', 'name'],
  pipelines: ['id', 'name', 'entity'],
  stages: ['id', 'pipeline_id', 'name', 'sort', 'semantic'],
  sources: ['id', 'name'],
  phone_lines: ['number', 'name'],
  companies: ['id', 'name', 'created_at'],
  contacts: ['id', 'created_at'],
  leads: ['id', 'pipeline_id', 'stage_id', 'created_at'],
  deals: ['id', 'pipeline_id', 'stage_id', 'created_at'],
  stage_history: ['entity', 'entity_id', 'stage_id', 'at'],
  activities: ['id', 'type', 'created_at'],
  tasks: ['id', 'responsible_id', 'created_at'],
  calls: ['id', 'direction', 'started_at', 'duration_sec', 'status', 'client_phone'],
  plans: ['month', 'metric', 'target'],
};

const TIMESTAMP_FIELDS = [
  'created_at',
  'closed_at',
  'at',
  'deadline',
  'completed_at',
  'start_plan_at',
  'started_at',
  'deadline_at',
  'answered_at',
  'ended_at',
];
/** Moments that record something that already happened (deadlines and plans may lie ahead). */
const PAST_FIELDS = [
  'created_at',
  'closed_at',
  'at',
  'completed_at',
  'started_at',
  'answered_at',
  'ended_at',
];
const ISO_WITH_OFFSET = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/;

async function readDir(dir: string): Promise<Record<string, Rec[]>> {
  const out: Record<string, Rec[]> = {};
  for (const name of Object.keys(REQUIRED)) {
    const text = await readFile(join(dir, `${name}.jsonl`), 'utf8');
    out[name] = text
      .split('\n')
      .filter((l) => l.length > 0)
      .map((l) => JSON.parse(l) as Rec);
  }
  return out;
}

async function hashes(dir: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const f of (await readdir(dir)).sort()) {
    out[f] = createHash('sha256')
      .update(await readFile(join(dir, f)))
      .digest('hex');
  }
  return out;
}

const str = (r: Rec, k: string) => r[k] as string;
const ms = (s: unknown) => Date.parse(s as string);
const digits = (p: string) => {
  const d = p.replace(/\D/g, '');
  return d.length === 11 && d.startsWith('8') ? `7${d.slice(1)}` : d;
};
/**
 * Collects violations instead of calling `expect` per field: hundreds of
 * thousands of expect calls would make the test slow. The first 20 are shown.
 */
class Problems {
  readonly list: string[] = [];
  check(ok: boolean, what: () => string): void {
    if (!ok && this.list.length < 20) this.list.push(what());
  }
}

/** Hour of the day in Moscow (UTC+3, no DST). */
const moscowHour = (s: unknown) => Math.floor(((((ms(s) / 1000 + 3 * 3600) % 86400) + 86400) % 86400) / 3600);

describe('demo dataset generator', () => {
  let root: string;
  let dirA: string;
  let data: Record<string, Rec[]>;
  const progress: [number, number][] = [];

  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'voronka-demo-'));
    dirA = join(root, 'a');
    await generateDemo({
      outDir: dirA,
      scale: 'small',
      seed: 7,
      now: NOW,
      onProgress: (done, total) => progress.push([done, total]),
    });
    data = await readDir(dirA);
  });

  afterAll(async () => {
    await rm(root, { recursive: true, force: true });
  });

  it('writes byte-identical files for the same seed and now, different ones for another seed', async () => {
    const dirB = join(root, 'b');
    const dirC = join(root, 'c');
    const summary = await generateDemo({ outDir: dirB, scale: 'small', seed: 7, now: NOW });
    await generateDemo({ outDir: dirC, scale: 'small', seed: 8, now: NOW });
    const a = await hashes(dirA);
    expect(Object.keys(a)).toHaveLength(15);
    expect(await hashes(dirB)).toEqual(a);
    const c = await hashes(dirC);
    for (const f of ['calls.jsonl', 'leads.jsonl', 'deals.jsonl', 'contacts.jsonl'])
      expect(c[f]).not.toBe(a[f]);
    expect(summary.files['calls.jsonl']).toBe(data.calls!.length);
    expect(summary.files['leads.jsonl']).toBe(data.leads!.length);
  });

  it('reports progress up to completion', () => {
    expect(progress.length).toBeGreaterThan(300);
    const [lastDone, lastTotal] = progress[progress.length - 1]!;
    expect(lastDone).toBe(lastTotal);
    for (let i = 1; i < progress.length; i++)
      expect(progress[i]![0]).toBeGreaterThanOrEqual(progress[i - 1]![0]);
  });

  it('has the small-scale volumes', () => {
    expect(data.calls!.length).toBeGreaterThan(15_000);
    expect(data.calls!.length).toBeLessThan(26_000);
    expect(data.leads!.length).toBeGreaterThan(1_000);
    expect(data.deals!.length).toBeGreaterThan(500);
    expect(data.managers!.length).toBeGreaterThanOrEqual(8);
    expect(data.managers!.length).toBeLessThanOrEqual(14);
  });

  it('has every required field, string ids and valid enum values', () => {
    const bad = new Problems();
    const idKeys = [
      'id',
      'manager_id',
      'stage_id',
      'contact_id',
      'deal_id',
      'lead_id',
      'entity_id',
      'pipeline_id',
    ];
    for (const [file, fields] of Object.entries(REQUIRED)) {
      for (const r of data[file]!) {
        for (const f of fields)
          bad.check(r[f] !== undefined && r[f] !== null, () => `${file} lacks ${f}: ${JSON.stringify(r)}`);
        for (const k of idKeys)
          bad.check(!(k in r) || typeof r[k] === 'string', () => `${file}.${k} not a string`);
      }
    }
    const oneOf = (file: string, key: string, allowed: string[], optional = false) => {
      for (const r of data[file]!) {
        bad.check(
          (optional && !(key in r)) || allowed.includes(str(r, key)),
          () => `${file}.${key}=${String(r[key])}`,
        );
      }
    };
    oneOf('pipelines', 'entity', ['lead', 'deal']);
    oneOf('stages', 'semantic', ['open', 'won', 'lost']);
    oneOf('managers', 'role', ['manager', 'head', 'admin'], true);
    oneOf('activities', 'type', ['meeting', 'email', 'case', 'task', 'comment', 'other']);
    oneOf('calls', 'direction', ['in', 'out']);
    oneOf('calls', 'status', ['answered', 'missed', 'busy', 'no_answer', 'failed']);
    oneOf('plans', 'metric', ['amount', 'count']);
    for (const c of data.calls!) {
      bad.check(
        Number.isInteger(c.duration_sec) && (c.duration_sec as number) >= 0,
        () => `duration ${c.id}`,
      );
      bad.check(
        c.status === 'answered' || c.duration_sec === 0,
        () => `unanswered call with talk time ${c.id}`,
      );
      bad.check(/^\d{11}$/.test(digits(str(c, 'client_phone'))), () => `phone ${String(c.client_phone)}`);
      bad.check(
        c.status !== 'answered' || 'answered_at' in c,
        () => `answered call without answered_at ${c.id}`,
      );
    }
    for (const c of data.contacts!) {
      for (const p of c.phones as string[])
        bad.check(/^7\d{10}$/.test(digits(p)), () => `contact phone ${p}`);
    }
    for (const p of data.plans!) {
      bad.check(/^\d{4}-\d{2}$/.test(str(p, 'month')), () => `plan month ${String(p.month)}`);
      bad.check(!('manager_id' in p && 'department_id' in p), () => 'plan with both manager and department');
    }
    expect(bad.list).toEqual([]);
  });

  it('writes timestamps with an offset, none of past events after now', () => {
    const bad = new Problems();
    let checked = 0;
    for (const [file, rows] of Object.entries(data)) {
      for (const r of rows) {
        for (const f of TIMESTAMP_FIELDS) {
          if (!(f in r)) continue;
          bad.check(ISO_WITH_OFFSET.test(str(r, f)), () => `${file}.${f}=${String(r[f])}`);
          if (PAST_FIELDS.includes(f))
            bad.check(ms(r[f]) <= NOW_MS, () => `${file}.${f}=${String(r[f])} after now`);
          checked++;
        }
      }
    }
    expect(bad.list).toEqual([]);
    expect(checked).toBeGreaterThan(50_000);
    const offsets = new Set(data.calls!.map((c) => str(c, 'started_at').slice(19)));
    expect(offsets).toEqual(new Set(['+03:00']));
  });

  it('resolves every reference', () => {
    const ids = (file: string) => new Set(data[file]!.map((r) => str(r, 'id')));
    const departments = ids('departments');
    const managers = ids('managers');
    const pipelines = new Map(data.pipelines!.map((p) => [str(p, 'id'), str(p, 'entity')]));
    const stages = new Map(data.stages!.map((s) => [str(s, 'id'), s]));
    const sources = ids('sources');
    const companies = ids('companies');
    const contacts = ids('contacts');
    const leads = ids('leads');
    const deals = ids('deals');
    const entities: Record<string, Set<string>> = {
      lead: leads,
      deal: deals,
      contact: contacts,
      company: companies,
    };
    const bad = new Problems();
    const ref = (set: Set<string>, r: Rec, k: string, file: string) => {
      bad.check(r[k] === undefined || set.has(str(r, k)), () => `${file}.${k}=${String(r[k])} dangles`);
    };
    const stageOf = (r: Rec, entity: string) => {
      const s = stages.get(str(r, 'stage_id'));
      bad.check(
        s !== undefined && pipelines.get(str(s, 'pipeline_id')) === entity,
        () => `stage ${String(r.stage_id)}`,
      );
      bad.check(
        !('pipeline_id' in r) || s?.pipeline_id === r.pipeline_id,
        () => `stage outside pipeline ${str(r, 'id')}`,
      );
    };
    for (const d of data.departments!) ref(departments, d, 'parent_id', 'departments');
    for (const m of data.managers!) ref(departments, m, 'department_id', 'managers');
    for (const s of data.stages!) ref(new Set(pipelines.keys()), s, 'pipeline_id', 'stages');
    for (const l of data.phone_lines!) ref(sources, l, 'source_id', 'phone_lines');
    for (const c of data.contacts!) ref(companies, c, 'company_id', 'contacts');
    for (const l of data.leads!) {
      stageOf(l, 'lead');
      ref(sources, l, 'source_id', 'leads');
      ref(managers, l, 'manager_id', 'leads');
      ref(contacts, l, 'contact_id', 'leads');
      ref(companies, l, 'company_id', 'leads');
      ref(deals, l, 'deal_id', 'leads');
    }
    for (const d of data.deals!) {
      stageOf(d, 'deal');
      ref(sources, d, 'source_id', 'deals');
      ref(managers, d, 'manager_id', 'deals');
      ref(contacts, d, 'contact_id', 'deals');
      ref(companies, d, 'company_id', 'deals');
      ref(leads, d, 'lead_id', 'deals');
    }
    for (const h of data.stage_history!) {
      ref(entities[str(h, 'entity')]!, h, 'entity_id', 'stage_history');
      stageOf(h, str(h, 'entity'));
      ref(managers, h, 'manager_id', 'stage_history');
    }
    for (const file of ['activities', 'tasks', 'calls']) {
      for (const r of data[file]!) {
        if (r.entity !== undefined) ref(entities[str(r, 'entity')]!, r, 'entity_id', file);
      }
    }
    for (const a of data.activities!) ref(managers, a, 'manager_id', 'activities');
    for (const t of data.tasks!) {
      ref(managers, t, 'responsible_id', 'tasks');
      ref(managers, t, 'creator_id', 'tasks');
      ref(departments, t, 'department_id', 'tasks');
    }
    for (const c of data.calls!) ref(managers, c, 'manager_id', 'calls');
    for (const p of data.plans!) {
      ref(managers, p, 'manager_id', 'plans');
      ref(departments, p, 'department_id', 'plans');
    }
    for (const file of Object.keys(REQUIRED)) {
      const key = file === 'phone_lines' ? 'number' : 'id';
      if (file === 'stage_history' || file === 'plans') continue;
      const all = data[file]!.map((r) => str(r, key));
      bad.check(new Set(all).size === all.length, () => `${file} ids not unique`);
    }
    expect(bad.list).toEqual([]);
  });

  it('keeps closed_at and the stage history consistent with the current stage', () => {
    const stages = new Map(data.stages!.map((s) => [str(s, 'id'), s]));
    const history = new Map<string, Rec[]>();
    for (const h of data.stage_history!) {
      const key = `${str(h, 'entity')}:${str(h, 'entity_id')}`;
      const list = history.get(key) ?? [];
      if (list.length === 0) history.set(key, list);
      list.push(h);
    }
    const bad = new Problems();
    let closed = 0;
    let skipped = 0;
    for (const entity of ['lead', 'deal'] as const) {
      for (const r of data[entity === 'lead' ? 'leads' : 'deals']!) {
        const semantic = stages.get(str(r, 'stage_id'))!.semantic;
        const id = str(r, 'id');
        bad.check(
          'closed_at' in r === (semantic !== 'open'),
          () => `${id}: closed_at vs ${String(semantic)} stage`,
        );
        const entries = [...(history.get(`${entity}:${id}`) ?? [])].sort((a, b) => ms(a.at) - ms(b.at));
        if (entries.length === 0) {
          bad.check(false, () => `${id} has no history`);
          continue;
        }
        bad.check(ms(entries[0]!.at) === ms(r.created_at), () => `${id}: first entry not at created_at`);
        const last = entries[entries.length - 1]!;
        bad.check(last.stage_id === r.stage_id, () => `${id}: last entry is not the current stage`);
        if (semantic !== 'open') {
          closed++;
          bad.check(
            ms(r.closed_at) === ms(last.at),
            () => `${id}: closed_at differs from entering ${String(r.stage_id)}`,
          );
        }
        // Funnel order: open stages by ascending sort, a won/lost stage only at the end.
        for (let i = 1; i < entries.length; i++) {
          const prev = stages.get(str(entries[i - 1]!, 'stage_id'))!;
          const cur = stages.get(str(entries[i]!, 'stage_id'))!;
          bad.check(prev.semantic === 'open', () => `${id}: moved on after a closing stage`);
          bad.check(ms(entries[i]!.at) > ms(entries[i - 1]!.at), () => `${id}: two entries at one moment`);
          bad.check(
            cur.semantic !== 'open' || (cur.sort as number) > (prev.sort as number),
            () => `${id}: went back`,
          );
        }
        const openSorts = [...stages.values()]
          .filter((s) => s.pipeline_id === r.pipeline_id && s.semantic === 'open')
          .map((s) => s.sort as number);
        const lastOpen = entries.filter((e) => stages.get(str(e, 'stage_id'))!.semantic === 'open');
        const maxReached = Math.max(...lastOpen.map((e) => stages.get(str(e, 'stage_id'))!.sort as number));
        if (openSorts.filter((s) => s <= maxReached).length > lastOpen.length) skipped++;
      }
    }
    expect(bad.list).toEqual([]);
    expect(closed).toBeGreaterThan(1000);
    expect(skipped).toBeGreaterThan(0);
  });

  it('lists stages out of funnel order and gives probabilities on some stages only', () => {
    const byPipeline = new Map<string, number[]>();
    for (const s of data.stages!) {
      const list = byPipeline.get(str(s, 'pipeline_id')) ?? [];
      list.push(s.sort as number);
      byPipeline.set(str(s, 'pipeline_id'), list);
    }
    const unsorted = [...byPipeline.values()].filter((sorts) =>
      sorts.some((v, i) => i > 0 && v < sorts[i - 1]!),
    );
    expect(unsorted.length).toBeGreaterThan(0);
    const withP = data.stages!.filter((s) => 'probability' in s);
    expect(withP.length).toBeGreaterThan(0);
    expect(withP.length).toBeLessThan(data.stages!.length);
    const dealPipelines = data.pipelines!.filter((p) => p.entity === 'deal').map((p) => p.name);
    expect(dealPipelines).toEqual(expect.arrayContaining(['Продажи', 'Повторные продажи']));
    const leadStages = data.stages!.filter(
      (s) => s.pipeline_id === data.pipelines!.find((p) => p.entity === 'lead')!.id,
    );
    expect(leadStages.map((s) => s.name)).toEqual(
      expect.arrayContaining(['Новый', 'В работе', 'Квалификация', 'Качественный', 'Некачественный']),
    );
  });

  it('has the managers the question set names, with the intended ambiguities', () => {
    const names = data.managers!.map((m) => str(m, 'name'));
    expect(new Set(names).size).toBe(names.length);
    for (const n of [
      'Алексей Чуркин',
      'Алексей Смирнов',
      'Марина Соколова',
      'Игорь Петров',
      'Ольга Кузнецова',
      'Дмитрий Смирнов',
    ]) {
      expect(names).toContain(n);
    }
    const withFirst = (first: string) => names.filter((n) => n.split(' ')[0] === first).sort();
    expect(withFirst('Алексей')).toEqual(['Алексей Смирнов', 'Алексей Чуркин']);
    expect(withFirst('Марина')).toEqual(['Марина Соколова']);
    expect(withFirst('Игорь')).toEqual(['Игорь Петров']);
    expect(withFirst('Ольга')).toEqual(['Ольга Кузнецова']);
    expect(withFirst('Дмитрий')).toEqual(['Дмитрий Смирнов']);
    const stem = (s: string) => names.filter((n) => n.toLowerCase().includes(s)).sort();
    expect(stem('смирнов')).toEqual(['Алексей Смирнов', 'Дмитрий Смирнов']);
    expect(stem('чуркин')).toEqual(['Алексей Чуркин']);
    expect(stem('соколов')).toEqual(['Марина Соколова']);
    expect(stem('петров')).toEqual(['Игорь Петров']);
    expect(stem('кузнецов')).toEqual(['Ольга Кузнецова']);
    for (const d of data.departments!) {
      expect(data.managers!.filter((m) => m.department_id === d.id && m.role === 'head')).toHaveLength(1);
    }
    expect(data.managers!.some((m) => m.active === false)).toBe(true);
  });

  it('shapes calls by Moscow business hours', () => {
    const byHour = new Array<number>(24).fill(0);
    for (const c of data.calls!) byHour[moscowHour(c.started_at)]!++;
    expect(byHour[11]!).toBeGreaterThan(byHour[3]! * 10);
    expect(byHour[15]!).toBeGreaterThan(byHour[13]!);
    expect(byHour[11]!).toBeGreaterThan(byHour[9]!);
    const working = byHour.slice(9, 19).reduce((s, n) => s + n, 0);
    expect(working / data.calls!.length).toBeGreaterThan(0.85);
    const sundays = data.calls!.filter(
      (c) => new Date(ms(c.started_at) + 3 * 3600_000).getUTCDay() === 0,
    ).length;
    const mondays = data.calls!.filter(
      (c) => new Date(ms(c.started_at) + 3 * 3600_000).getUTCDay() === 1,
    ).length;
    expect(mondays).toBeGreaterThan(sundays * 2);
  });

  it('has missed calls called back within 24 h, called back later, and never called back', () => {
    const calls = data.calls!;
    const outByPhone = new Map<string, number[]>();
    for (const c of calls) {
      if (c.direction !== 'out') continue;
      const p = digits(str(c, 'client_phone'));
      const list = outByPhone.get(p) ?? [];
      list.push(ms(c.started_at));
      outByPhone.set(p, list);
    }
    const missed = calls.filter((c) => c.direction === 'in' && c.status !== 'answered');
    const incoming = calls.filter((c) => c.direction === 'in');
    const share = missed.length / incoming.length;
    expect(share).toBeGreaterThan(0.08);
    expect(share).toBeLessThan(0.3);
    let within = 0;
    let later = 0;
    let never = 0;
    for (const m of missed) {
      const t = ms(m.started_at);
      const outs = (outByPhone.get(digits(str(m, 'client_phone'))) ?? []).filter((o) => o > t);
      if (outs.some((o) => o <= t + 86_400_000)) within++;
      else if (outs.length > 0) later++;
      else never++;
    }
    expect(within).toBeGreaterThan(missed.length * 0.3);
    expect(later).toBeGreaterThan(0);
    expect(never).toBeGreaterThan(0);
  });

  it('has repeat callers, calls from contacts, calls linked to leads and deals, and two "Авито" lines', () => {
    const calls = data.calls!;
    const perPhone = new Map<string, number>();
    for (const c of calls)
      perPhone.set(str(c, 'client_phone'), (perPhone.get(str(c, 'client_phone')) ?? 0) + 1);
    expect([...perPhone.values()].filter((n) => n > 1).length).toBeGreaterThan(100);
    const contactPhones = new Set(data.contacts!.flatMap((c) => (c.phones as string[]).map(digits)));
    expect(calls.filter((c) => contactPhones.has(digits(str(c, 'client_phone')))).length).toBeGreaterThan(
      1000,
    );
    expect(calls.filter((c) => c.entity === 'lead').length).toBeGreaterThan(500);
    expect(calls.filter((c) => c.entity === 'deal').length).toBeGreaterThan(500);
    const avito = data.phone_lines!.filter((l) => l.name === 'Авито');
    expect(avito).toHaveLength(2);
    const lines = new Set(avito.map((l) => str(l, 'number')));
    expect(
      calls.filter((c) => c.direction === 'in' && lines.has(str(c, 'line_number'))).length,
    ).toBeGreaterThan(500);
    expect(data.sources!.map((s) => s.name)).toEqual(
      expect.arrayContaining([
        'Авито',
        'Сайт',
        'Яндекс.Директ',
        'Лид-перехват',
        'Рекомендация',
        'Холодный обзвон',
      ]),
    );
    const campaigns = new Set(data.leads!.map((l) => (l.utm as Rec | undefined)?.campaign).filter(Boolean));
    expect(campaigns.size).toBeGreaterThan(3);
  });

  it('carries transcripts in all four formats', () => {
    const transcripts = data.calls!.filter((c) => c.transcript !== undefined);
    const answered = data.calls!.filter((c) => c.status === 'answered');
    expect(transcripts.length / answered.length).toBeGreaterThan(0.05);
    for (const c of transcripts) expect(c.status).toBe('answered');
    const strings = transcripts.map((c) => c.transcript).filter((t): t is string => typeof t === 'string');
    const arrays = transcripts.map((c) => c.transcript).filter((t) => Array.isArray(t)) as Rec[][];
    expect(strings.some((t) => /^[А-ЯЁ][а-яё]+ \(SPK\d\d\): /m.test(t))).toBe(true);
    expect(strings.some((t) => /^SPK\d\d: {2}\S/m.test(t))).toBe(true);
    expect(strings.some((t) => !t.includes('SPK'))).toBe(true);
    expect(arrays.length).toBeGreaterThan(0);
    for (const seg of arrays.flat()) {
      expect(['manager', 'client', 'other']).toContain(seg.role);
      expect(typeof seg.text).toBe('string');
      expect(typeof seg.start_sec).toBe('number');
    }
    const all = strings.join('\n') + JSON.stringify(arrays);
    for (const phrase of ['Окна Плюс', 'подумаю', 'дорого', 'замер', 'согласовать', 'дешевле']) {
      expect(all.toLowerCase()).toContain(phrase.toLowerCase());
    }
  });

  it('has converted leads, repeat customers, forgotten records, open and overdue work', () => {
    const stages = new Map(data.stages!.map((s) => [str(s, 'id'), s]));
    const sem = (r: Rec) => stages.get(str(r, 'stage_id'))!.semantic;
    expect(data.leads!.filter((l) => 'deal_id' in l).length).toBeGreaterThan(100);
    expect(data.deals!.filter((d) => 'lead_id' in d).length).toBeGreaterThan(100);
    for (const s of ['won', 'lost', 'open'])
      expect(data.deals!.filter((d) => sem(d) === s).length).toBeGreaterThan(10);
    const perContact = new Map<string, number>();
    for (const d of data.deals!)
      perContact.set(str(d, 'contact_id'), (perContact.get(str(d, 'contact_id')) ?? 0) + 1);
    expect([...perContact.values()].filter((n) => n > 1).length).toBeGreaterThan(20);

    // Forgotten: open deals whose latest own event is over 30 days old.
    const lastTouch = new Map<string, number>();
    const touch = (id: string, t: number) => {
      if (t <= NOW_MS && t > (lastTouch.get(id) ?? 0)) lastTouch.set(id, t);
    };
    for (const d of data.deals!) touch(`deal:${str(d, 'id')}`, ms(d.created_at));
    for (const h of data.stage_history!) touch(`${str(h, 'entity')}:${str(h, 'entity_id')}`, ms(h.at));
    for (const file of ['activities', 'calls'] as const) {
      for (const r of data[file]!) {
        if (r.entity) touch(`${str(r, 'entity')}:${str(r, 'entity_id')}`, ms(r.created_at ?? r.started_at));
      }
    }
    const forgotten = data.deals!.filter(
      (d) => sem(d) === 'open' && (lastTouch.get(`deal:${str(d, 'id')}`) ?? 0) < NOW_MS - 30 * 86_400_000,
    );
    expect(forgotten.length).toBeGreaterThan(5);

    const acts = data.activities!;
    expect(
      acts.filter((a) => a.deadline && !a.completed_at && ms(a.deadline) < NOW_MS).length,
    ).toBeGreaterThan(5);
    expect(
      acts.filter((a) => a.deadline && !a.completed_at && ms(a.deadline) > NOW_MS).length,
    ).toBeGreaterThan(0);
    expect(new Set(acts.map((a) => a.type))).toEqual(
      new Set(['meeting', 'email', 'case', 'task', 'comment', 'other']),
    );

    const tasks = data.tasks!;
    expect(tasks.filter((t) => !t.start_plan_at).length).toBeGreaterThan(0);
    expect(tasks.filter((t) => !t.started_at).length).toBeGreaterThan(0);
    expect(tasks.filter((t) => t.closed_at && ms(t.closed_at) <= ms(t.deadline_at)).length).toBeGreaterThan(
      10,
    );
    expect(tasks.filter((t) => t.closed_at && ms(t.closed_at) > ms(t.deadline_at)).length).toBeGreaterThan(
      10,
    );
  });

  it('has plans for every month of the range and the current month', () => {
    const months: string[] = [];
    for (let i = 12; i >= 0; i--) {
      const d = new Date(Date.UTC(2026, 2 - i, 1));
      months.push(`${d.getUTCFullYear()}-${String(d.getUTCMonth() + 1).padStart(2, '0')}`);
    }
    const plans = data.plans!;
    for (const m of months) {
      const company = plans.filter((p) => p.month === m && !p.manager_id && !p.department_id);
      expect(company.map((p) => p.metric).sort()).toEqual(['amount', 'count']);
      expect(plans.some((p) => p.month === m && p.manager_id && p.metric === 'amount')).toBe(true);
    }
    const churkin = data.managers!.find((m) => m.name === 'Алексей Чуркин')!;
    expect(plans.filter((p) => p.manager_id === churkin.id).map((p) => p.month)).toEqual(months);
  });

  it('rejects an unknown scale with a Russian message', async () => {
    const err = await generateDemo({
      outDir: join(root, 'x'),
      scale: 'huge' as 'small',
      seed: 1,
      now: NOW,
    }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AppError);
    expect((err as AppError).userMessage).toMatch(/small, medium, large/);
  });
});
