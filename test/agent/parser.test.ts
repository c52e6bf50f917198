import { describe, expect, it } from 'vitest';
import {
  createParser,
  type DialogueState,
  dialogueStateSchema,
  type ParseResult,
  parseQuestion,
} from '../../src/agent/parser/index.ts';
import { bankContext, bankNow } from './parser-context.ts';

const parser = createParser(bankContext, { clock: () => bankNow, tz: 'Europe/Moscow' });
const parse = (q: string, prev?: DialogueState): ParseResult => parser.parse(q, prev);

/** Asks the questions in order, each with the state the previous answer left. */
function dialogue(...questions: string[]): ParseResult[] {
  const out: ParseResult[] = [];
  let state: DialogueState | undefined;
  for (const q of questions) {
    const r = parse(q, state);
    out.push(r);
    state = r.state;
  }
  return out;
}

const last = <T>(xs: T[]): T => xs[xs.length - 1]!;

describe('managers by name in any case', () => {
  it.each([
    ['сколько забытых сделок у Алексея Чуркина', 'Алексей Чуркин'],
    ['забытые сделки Чуркина', 'Алексей Чуркин'],
    ['покажи забытые лиды по Марине', 'Марина Соколова'],
    ['что с Ольгой по звонкам', 'Ольга Кузнецова'],
    ['звонки Игоря Петрова', 'Игорь Петров'],
    ['средний чек у Кузнецовой', 'Ольга Кузнецова'],
    ['сделки, которые ведёт Павел Лебедев', 'Павел Лебедев'],
    ['поговорим о сделках Лебедевым закрытых в октябре', 'Павел Лебедев'],
    ['забытые лиды Наташи', 'Наталья Волкова'],
    ['звонки Лёши Чуркина', 'Алексей Чуркин'],
    ['звонки Диме Смирнову', 'Дмитрий Смирнов'],
  ])('%s → %s', (q, manager) => {
    expect(parse(q).slots.manager).toBe(manager);
  });

  it('tolerates one typo in names of five letters or more', () => {
    expect(parse('сколько звонков у Чуркнина').slots.manager).toBe('Алексей Чуркин');
    expect(parse('звонки Марны за вчера').slots.manager).toBe('Марина Соколова');
    expect(parse('средний чек у Сокловой').slots.manager).toBe('Марина Соколова');
  });

  it('does not guess from a short misspelled name, and does not answer for everyone either', () => {
    const r = parse('звонки у Олги');
    expect(r.intent).toBe('clarify');
    expect(r.slots.manager).toBeUndefined();
    expect(r.unknownName).toBe('Олги');
  });

  it('asks back about a name that is no manager instead of counting the whole company', () => {
    for (const q of ['по Жукову пропущенные за месяц', 'звонки Ксюши за октябрь']) {
      const r = parse(q);
      expect(r.intent, q).toBe('clarify');
      expect(r.unknownName, q).toMatch(/^(Жукову|Ксюши)$/);
    }
    // Known sources, months and managers are not strangers.
    expect(parse('лиды с Авито в Марте').intent).toBe('lead_stats');
    expect(parse('звонки Марины Соколовой за неделю').slots.manager).toBe('Марина Соколова');
  });

  it('inflects names of any company with petrovich, including gender and word order', () => {
    const p = createParser(
      {
        managers: [
          { id: '1', name: 'Никита Ким' },
          { id: '2', name: 'Белова Анна' },
          { id: '3', name: 'Любовь Орлова' },
          { id: '4', name: 'Кирилл Андреевич Зайцев' },
        ],
        departments: [],
        sources: [],
        pipelines: [],
      },
      { clock: () => bankNow },
    );
    expect(p.parse('звонки у Никиты').slots.manager).toBe('Никита Ким');
    expect(p.parse('сделки Анны Беловой').slots.manager).toBe('Белова Анна');
    expect(p.parse('забытые сделки у Беловой').slots.manager).toBe('Белова Анна');
    expect(p.parse('звонки Любови Орловой').slots.manager).toBe('Любовь Орлова');
    expect(p.parse('что с Зайцевым по сделкам').slots.manager).toBe('Кирилл Андреевич Зайцев');
    expect(p.parse('звонки Кирилла').slots.manager).toBe('Кирилл Андреевич Зайцев');
  });
});

describe('ambiguous names and the clarification that follows', () => {
  it('asks back when two managers share a first name, in context order', () => {
    const r = parse('Сколько забытых сделок у Алексея?');
    expect(r.intent).toBe('clarify');
    expect(r.slots).toEqual({ manager_candidates: ['Алексей Чуркин', 'Алексей Смирнов'] });
    expect(r.state.pending?.intent).toBe('forgotten_deals');
  });

  it('asks back when two managers share a surname', () => {
    expect(parse('забытые сделки Смирнова').slots.manager_candidates).toEqual([
      'Алексей Смирнов',
      'Дмитрий Смирнов',
    ]);
  });

  it('resolves a full name of two namesakes without asking', () => {
    expect(parse('звонки Алексея Смирнова').slots.manager).toBe('Алексей Смирнов');
    expect(parse('звонки Дмитрия Смирнова').slots.manager).toBe('Дмитрий Смирнов');
  });

  it.each([
    ['Смирнов', 'Алексей Смирнов'],
    ['Чуркин', 'Алексей Чуркин'],
    ['второй', 'Алексей Смирнов'],
    ['первого', 'Алексей Чуркин'],
    ['Алексей Чуркин', 'Алексей Чуркин'],
    ['давай последнего', 'Алексей Смирнов'],
  ])('completes the pending question with the reply "%s"', (reply, manager) => {
    const [, answer] = dialogue('сколько пропущенных у Алексея за вчера?', reply);
    expect(answer!.intent).toBe('missed_calls');
    expect(answer!.slots).toEqual({ manager, period: 'yesterday' });
    expect(answer!.state.pending).toBeNull();
  });

  it('picks a namesake by first name when the surname was ambiguous', () => {
    const [, answer] = dialogue('сделки Смирнова без задач', 'Дмитрий');
    expect(answer).toMatchObject({ intent: 'deals_without_tasks', slots: { manager: 'Дмитрий Смирнов' } });
  });

  it('asks again when the reply still fits both', () => {
    const [, again] = dialogue('сколько забытых сделок у Алексея?', 'Алексей');
    expect(again!.intent).toBe('clarify');
    expect(again!.slots.manager_candidates).toEqual(['Алексей Чуркин', 'Алексей Смирнов']);
  });

  it('drops the pending question when the user asks something new', () => {
    const [, fresh] = dialogue('сколько забытых сделок у Алексея?', 'сколько звонков было вчера');
    expect(fresh).toMatchObject({ intent: 'calls_stats', slots: { period: 'yesterday' } });
    expect(fresh!.state.pending).toBeNull();
  });
});

describe('sources, departments and pipelines by loose names', () => {
  it.each([
    ['лиды с директа', 'Яндекс.Директ'],
    ['сколько некачественных лидов с Яндекс Директа', 'Яндекс.Директ'],
    ['лиды с авито за вчера', 'Авито'],
    ['какие потребности у клиентов с сайта', 'Сайт'],
    ['конверсия лидов из рекомендаций', 'Рекомендация'],
    ['лиды с лид-перехвата', 'Лид-перехват'],
    ['лиды по холодному обзвону', 'Холодный обзвон'],
  ])('%s → %s', (q, source) => {
    expect(parse(q).slots.source).toBe(source);
  });

  it('does not read a source name as the subject of the question', () => {
    expect(parse('лиды с лид-перехвата').intent).toBe('lead_stats');
    expect(parse('лиды по холодному обзвону').intent).toBe('lead_stats');
  });

  it('finds departments by a distinctive word or its adjective', () => {
    expect(parse('выполнение плана отдела Москва').slots.department).toBe('Отдел продаж Москва');
    expect(parse('лиды московского отдела').slots.department).toBe('Отдел продаж Москва');
    expect(parse('просроченные задачи регионального отдела').slots.department).toBe('Отдел продаж Регионы');
  });

  it('names a pipeline only after "воронка", and treats "воронка продаж" as the generic funnel', () => {
    expect(parse('сделки в воронке Повторные продажи').slots.pipeline).toBe('Повторные продажи');
    expect(parse('сколько сделок в воронке Продажи в работе').slots.pipeline).toBe('Продажи');
    expect(parse('конверсия по этапам воронки продаж за полгода').slots).toEqual({ period: 'last_6_months' });
    expect(parse('новые и повторные продажи за квартал').slots.pipeline).toBeUndefined();
  });
});

describe('grouping, ranking and thresholds', () => {
  it('groups by the dimension named', () => {
    expect(parse('звонки за неделю по менеджерам').slots.group_by).toBe('manager');
    expect(parse('лиды по источникам за март').slots.group_by).toBe('source');
    expect(parse('коэффициент исполнительности по отделам').slots.group_by).toBe('department');
  });

  it('ranks: "у кого больше всего", "кто меньше всех", "топ 5", "рейтинг"', () => {
    expect(parse('у кого больше всего забытых сделок?').slots).toEqual({ group_by: 'manager', sort: 'desc' });
    expect(parse('кто меньше всех звонил на этой неделе')).toMatchObject({
      intent: 'manager_efficiency',
      slots: { period: 'this_week', metric: 'calls', sort: 'asc' },
    });
    expect(parse('топ 5 менеджеров по выручке за месяц').slots).toEqual({
      period: 'this_month',
      group_by: 'manager',
      metric: 'won_amount',
      sort: 'desc',
      limit: 5,
    });
    expect(parse('рейтинг менеджеров по эффективности за прошлый месяц').slots).toEqual({
      period: 'last_month',
      sort: 'desc',
    });
  });

  it('does not sort where there is nothing to rank', () => {
    expect(parse('в какие часы больше всего звонят').slots).toEqual({ by: 'hour', period: 'last_30_days' });
    expect(parse('какие возражения чаще всего слышим на этой неделе').slots.sort).toBeUndefined();
  });

  it.each([
    ['сделки без активности больше 30 дней', 30],
    ['сделки без движения дольше двух недель', 14],
    ['лиды без активности 10 дней', 10],
    ['сделки, которые не трогали больше месяца', 30],
  ])('%s → %i days', (q, days) => {
    expect(parse(q).slots.days).toBe(days);
  });
});

describe('periods in questions', () => {
  it.each([
    ['сколько было звонков вчера', 'yesterday'],
    ['звонки за неделю', 'last_7_days'],
    ['звонки на этой неделе', 'this_week'],
    ['пропущенные за прошлую неделю', 'last_week'],
    ['лиды в марте', 'month:03'],
    ['лиды за март 2025', 'month:2025-03'],
    ['средний чек в марте прошлого года', 'month:2025-03'],
    ['выручка за 3 квартал', 'quarter:2026-3'],
    ['выручка за полгода', 'last_6_months'],
    ['звонки за последние 2 недели', 'last_14_days'],
    ['лиды с 1 по 15 марта', '2026-03-01..2026-03-15'],
    ['звонки с 01.11 по 15.11', '2026-11-01..2026-11-15'],
    ['пропущенные за позавчера', '2026-11-21..2026-11-21'],
    ['звонки за 20 ноября', '2026-11-20..2026-11-20'],
    ['продажи в 2025 году', 'year:2025'],
  ])('%s → %s', (q, period) => {
    expect(parse(q).slots.period).toBe(period);
  });

  it('puts a range without a year into the most recent past, across New Year', () => {
    const january = createParser(bankContext, { clock: () => new Date('2026-01-10T12:00:00+03:00') });
    expect(january.parse('звонки с 25 декабря по 5 января').slots.period).toBe('2025-12-25..2026-01-05');
    expect(january.parse('лиды с 1 по 15 марта').slots.period).toBe('2025-03-01..2025-03-15');
  });

  it('applies the tool default when no period is named, and none for snapshots', () => {
    expect(parse('средний чек').slots.period).toBe('this_month');
    expect(parse('в какие часы больше всего звонят').slots.period).toBe('last_30_days');
    expect(parse('сколько забытых сделок').slots.period).toBeUndefined();
    expect(parse('сколько сейчас сделок в работе и на какую сумму по этапам').slots).toEqual({
      metric: 'by_stage',
    });
  });
});

describe('follow-ups', () => {
  it('changes the manager, then the period, then the grouping of the previous question', () => {
    const [, marina, lastMonth, bySource] = dialogue(
      'конверсия лидов в сделки у Игоря за март',
      'а у Марины?',
      'а за прошлый месяц?',
      'а по источникам?',
    );
    expect(marina).toMatchObject({
      intent: 'lead_stats',
      slots: { manager: 'Марина Соколова', period: 'month:03', metric: 'conv_to_deal' },
    });
    expect(lastMonth!.slots).toEqual({
      manager: 'Марина Соколова',
      period: 'last_month',
      metric: 'conv_to_deal',
    });
    expect(bySource!.slots).toEqual({
      manager: 'Марина Соколова',
      period: 'last_month',
      metric: 'conv_to_deal',
      group_by: 'source',
    });
  });

  it("turns a ranking into one manager's figure when a manager is named", () => {
    const [, one] = dialogue('у кого больше всего пропущенных за неделю', 'а у Павла?');
    expect(one!.slots).toEqual({ manager: 'Павел Лебедев', period: 'last_7_days' });
  });

  it('asks back on an ambiguous follow-up and keeps the question', () => {
    const results = dialogue('забытые лиды Чуркина', 'а Смирнова?', 'первого');
    expect(results[1]!.slots).toEqual({ manager_candidates: ['Алексей Смирнов', 'Дмитрий Смирнов'] });
    expect(last(results)).toMatchObject({ intent: 'forgotten_leads', slots: { manager: 'Алексей Смирнов' } });
  });

  it('carries the manager and period to a new subject after "а"', () => {
    const [, leads] = dialogue('звонки Елены за неделю', 'а лиды?');
    expect(leads).toMatchObject({
      intent: 'lead_stats',
      slots: { manager: 'Елена Новикова', period: 'last_7_days' },
    });
  });

  it('keeps a snapshot question a snapshot', () => {
    const [, other] = dialogue('сколько просроченных задач у Игоря Петрова', 'а у Дмитрия?');
    expect(other!.slots).toEqual({ manager: 'Дмитрий Смирнов', metric: 'overdue' });
  });

  it('drops the filters for "в целом"', () => {
    const [, all] = dialogue('средняя длительность разговора у Натальи', 'а в целом по компании?');
    expect(all!.slots).toEqual({ period: 'this_month', metric: 'avg_talk_time' });
  });

  it('starts fresh without a follow-up marker', () => {
    const [, fresh] = dialogue('звонки Елены за неделю', 'сколько лидов пришло в марте');
    expect(fresh!.slots).toEqual({ period: 'month:03', metric: 'received' });
  });
});

describe('conversation moves', () => {
  it.each(['что умеешь?', 'помощь', '/help', 'привет'])('"%s" is help', (q) => {
    expect(parse(q)).toMatchObject({ intent: 'help', slots: {} });
  });

  it.each([
    ['откуда берётся конверсия в продажу?', 'conv_to_sale'],
    ['как считается средний чек', 'avg_check'],
    ['что такое забытая сделка', 'forgotten_deals'],
    ['как рассчитывается коэффициент исполнительности', 'execution_coefficient'],
  ])('"%s" explains %s', (q, metric) => {
    expect(parse(q)).toMatchObject({ intent: 'explain', slots: { metric } });
  });

  it('explains the figure just given when asked "откуда цифра?"', () => {
    const [, why, again] = dialogue('средний чек за прошлый месяц', 'откуда цифра?', 'а за этот месяц?');
    expect(why).toMatchObject({ intent: 'explain', slots: { metric: 'avg_check' } });
    expect(again).toMatchObject({
      intent: 'deal_stats',
      slots: { period: 'this_month', metric: 'avg_check' },
    });
  });

  it.each(['погода в москве', 'расскажи анекдот', 'кто выиграл чемпионат мира по футболу', 'курс доллара'])(
    '"%s" is out of scope with high confidence',
    (q) => {
      const r = parse(q);
      expect(r.intent).toBe('out_of_scope');
      expect(r.confidence).toBeGreaterThanOrEqual(0.9);
    },
  );

  it('calls key mashing unknown with low confidence', () => {
    for (const q of ['ывлоапр дылвоа', 'asdf qwerty', 'ккк']) {
      const r = parse(q);
      expect(r.intent).toBe('unknown');
      expect(r.confidence).toBeLessThanOrEqual(0.1);
    }
  });

  it('says what it did understand when it cannot tell the question', () => {
    const r = parse('что там у Марины в марте?');
    expect(r.intent).toBe('unknown');
    expect(r.understood).toContain('менеджер Марина Соколова');
    expect(r.understood.some((u) => u.includes('март 2026'))).toBe(true);
  });

  it('is unsure when it had to leave out something the user asked for', () => {
    const r = parse('забытые сделки по источникам');
    expect(r.intent).toBe('forgotten_deals');
    expect(r.confidence).toBeLessThan(0.6);
  });
});

describe('state and API', () => {
  it('keeps a plain JSON state that survives storage', () => {
    const first = parse('Сколько забытых сделок у Алексея?');
    const stored = JSON.parse(JSON.stringify(first.state));
    expect(dialogueStateSchema.parse(stored)).toEqual(first.state);
    expect(parse('второй', stored)).toMatchObject({
      intent: 'forgotten_deals',
      slots: { manager: 'Алексей Смирнов' },
    });
  });

  it('keeps the previous question through help and out-of-scope messages', () => {
    const results = dialogue('сколько лидов с сайта пришло в октябре', 'погода в москве', 'а в сентябре?');
    expect(last(results)).toMatchObject({
      intent: 'lead_stats',
      slots: { source: 'Сайт', period: 'month:09', metric: 'received' },
    });
  });

  it('parseQuestion answers like a prepared parser', () => {
    const r = parseQuestion('звонки Игоря за вчера', bankContext, undefined, { clock: () => bankNow });
    expect(r).toMatchObject({
      intent: 'calls_stats',
      slots: { manager: 'Игорь Петров', period: 'yesterday' },
    });
  });

  it('lists what it recognised in Russian', () => {
    expect(parse('сколько забытых сделок у Алексея Чуркина').understood).toEqual([
      'забытые сделки',
      'менеджер Алексей Чуркин',
    ]);
  });
});
