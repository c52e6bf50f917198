import { formatPeriodRu, localDate, periodInputFromSlot, resolvePeriod } from '../../metrics/period.ts';
import { monthWords, type Today, takePeriod, takeThresholdDays } from './dates.ts';
import { EntityIndex, stemWord } from './entities.ts';
import { callsRankingMetric, codeOfAnswer, explainCode, type Reading, readIntent } from './intents.ts';
import { ManagerIndex, type ManagerMention } from './names.ts';
import { NUMBER_RE, numberValue, rx, type Token, TypoIndex, tokenize, Work } from './text.ts';
import {
  type DialogueState,
  emptyDialogueState,
  type Intent,
  isToolIntent,
  type ParseResult,
  type ParserContext,
  type ParserOptions,
  type Slots,
  type ToolIntent,
} from './types.ts';
import { domainWords, everydayWords } from './vocabulary.ts';

export * from './types.ts';

type SlotKey = keyof Slots;

/** Which slots each tool takes; anything else the question mentions is left out. */
const ALLOWED: Record<ToolIntent, SlotKey[]> = {
  calls_stats: ['manager', 'department', 'period', 'group_by', 'sort', 'metric', 'limit'],
  calls_by_time: ['manager', 'department', 'period', 'by', 'direction'],
  missed_calls: ['manager', 'department', 'period', 'group_by', 'sort', 'metric', 'filter', 'limit'],
  lead_stats: [
    'manager',
    'department',
    'source',
    'pipeline',
    'period',
    'group_by',
    'sort',
    'metric',
    'limit',
  ],
  lead_stage_reach: ['manager', 'department', 'source', 'pipeline', 'period', 'group_by'],
  deal_stats: ['manager', 'department', 'pipeline', 'period', 'group_by', 'sort', 'metric', 'limit'],
  stage_funnel: ['manager', 'department', 'pipeline', 'period', 'metric'],
  forgotten_deals: ['manager', 'department', 'pipeline', 'period', 'group_by', 'sort', 'days', 'limit'],
  forgotten_leads: [
    'manager',
    'department',
    'source',
    'pipeline',
    'period',
    'group_by',
    'sort',
    'days',
    'limit',
  ],
  deals_without_tasks: ['manager', 'department', 'pipeline', 'group_by', 'sort', 'limit'],
  plan_progress: ['manager', 'department', 'pipeline', 'period', 'group_by', 'sort', 'metric'],
  manager_efficiency: ['manager', 'department', 'period', 'sort', 'metric', 'limit'],
  task_discipline: ['manager', 'department', 'period', 'group_by', 'sort', 'metric'],
  call_quality: ['manager', 'department', 'source', 'period', 'group_by', 'sort', 'metric', 'filter'],
  call_breakdown: ['manager', 'which'],
  list_records: ['manager', 'department', 'source', 'pipeline', 'period', 'which', 'filter', 'limit'],
};

/** Groupings each tool supports (METRICS.md). */
const GROUPS: Partial<Record<ToolIntent, string[]>> = {
  calls_stats: ['manager', 'department', 'channel', 'client', 'day', 'week', 'month'],
  missed_calls: ['manager', 'department', 'channel', 'day', 'week', 'month'],
  lead_stats: ['source', 'campaign', 'manager', 'department', 'city', 'pipeline', 'day', 'week', 'month'],
  lead_stage_reach: ['source', 'manager'],
  deal_stats: ['manager', 'department', 'pipeline', 'stage', 'day', 'week', 'month', 'quarter'],
  forgotten_deals: ['manager', 'department', 'pipeline', 'stage'],
  forgotten_leads: ['manager', 'department', 'source'],
  deals_without_tasks: ['manager', 'department', 'pipeline'],
  plan_progress: ['manager', 'department', 'month'],
  task_discipline: ['manager', 'department', 'week'],
  call_quality: ['manager', 'source', 'department'],
};

/** A ranking ("у кого больше всего", "топ 5") only makes sense over these groups. */
const RANKED_GROUPS = new Set(['manager', 'department', 'source', 'channel', 'campaign', 'pipeline', 'city']);

/** Tools that describe the state now; a period is used only when the question names one. */
const SNAPSHOT_TOOLS = new Set<ToolIntent>([
  'forgotten_deals',
  'forgotten_leads',
  'deals_without_tasks',
  'call_breakdown',
  'list_records',
]);

const TOOL_WORDS: Record<ToolIntent, string> = {
  calls_stats: 'звонки',
  calls_by_time: 'звонки по часам и дням недели',
  missed_calls: 'пропущенные звонки',
  lead_stats: 'лиды',
  lead_stage_reach: 'прохождение стадий лидами',
  deal_stats: 'сделки',
  stage_funnel: 'конверсия по этапам сделок',
  forgotten_deals: 'забытые сделки',
  forgotten_leads: 'забытые лиды',
  deals_without_tasks: 'сделки без задач',
  plan_progress: 'выполнение плана',
  manager_efficiency: 'эффективность менеджеров',
  task_discipline: 'исполнительность по задачам',
  call_quality: 'качество звонков',
  call_breakdown: 'разбор звонка',
  list_records: 'список записей',
};

const METRIC_WORDS: Record<string, string> = {
  received: 'поступившие лиды',
  new: 'неразобранные лиды',
  in_work: 'лиды в работе',
  qualified: 'качественные лиды',
  junk: 'некачественные лиды',
  conv_to_deal: 'конверсия в сделку',
  conv_to_sale: 'конверсия в продажу',
  sales_amount: 'сумма продаж',
  revenue_per_lead: 'выручка с лида',
  first_response: 'скорость ответа на заявку',
  avg_processing_days: 'время обработки лида',
  won: 'успешные сделки',
  won_amount: 'сумма продаж',
  lost: 'проваленные сделки',
  avg_check: 'средний чек',
  win_rate: 'конверсия сделок',
  cycle_days: 'длительность сделки',
  new_vs_repeat: 'новые и повторные продажи',
  forecast: 'прогноз продаж',
  by_stage: 'сделки в работе по этапам',
  open: 'сделки в работе',
  created: 'созданные сделки',
  stage_time: 'время на этапе',
  avg_talk_time: 'средняя длительность разговора',
  total_talk_time: 'общее время разговоров',
  talk_time: 'время разговоров',
  new_number_calls: 'звонки с новых номеров',
  connected: 'дозвоны',
  not_connected: 'недозвоны',
  incoming: 'входящие',
  outgoing: 'исходящие',
  answered: 'принятые звонки',
  callback_delay: 'время до перезвона',
  lost_new_client: 'потерянные клиенты',
  called_back: 'перезвоны',
  calls: 'число звонков',
  overdue: 'просроченные задачи',
  started_on_time: 'задачи, начатые в срок',
  finished_on_time: 'задачи, завершённые в срок',
  objections: 'возражения',
  needs: 'потребности клиентов',
  churn_risk: 'риск потери клиента',
  readiness: 'готовность купить',
  lead_quality: 'целевые обращения',
  talk_ratio: 'доля речи менеджера',
  script: 'выполнение скрипта',
  'script.price_named': 'называет ли цену',
  'script.need_identified': 'выявляет ли потребность',
  'script.next_step_offered': 'предлагает ли следующий шаг',
  'script.greeting': 'приветствие',
  'script.summary_agreed': 'подводит ли итог',
  amount: 'план по сумме',
  count: 'план по количеству',
};

const GROUP_WORDS: Record<string, string> = {
  manager: 'по менеджерам',
  department: 'по отделам',
  source: 'по источникам',
  channel: 'по каналам',
  campaign: 'по кампаниям',
  pipeline: 'по воронкам',
  stage: 'по этапам',
  client: 'по клиентам',
  city: 'по городам',
  day: 'по дням',
  week: 'по неделям',
  month: 'по месяцам',
  quarter: 'по кварталам',
};

const GROUP_RULES: [RegExp, string][] = [
  [
    rx(
      `\\bкто из клиентов|\\bпо клиент|\\bв разрезе клиент|\\bкак[а-я]* клиент[а-я]* (?:\\S+ )?(?:звонил|звонят|чаще)`,
    ),
    'client',
  ],
  [
    rx(
      `\\bпо (?:менеджер|сотрудник|продавц|работник)|\\bв разрезе (?:менеджер|сотрудник)|\\bкажд[а-я]* (?:менеджер|сотрудник)|\\bкто из (?:менеджер|сотрудник|продавц|ребят)|\\bпо каждому\\b|\\bпо людям\\b|\\b(?:как|котор)[а-я]* (?:менеджер|сотрудник|продавц)|\\bсравни[а-я]* (?:менеджер|сотрудник)|\\bмежду (?:менеджер|сотрудник)`,
    ),
    'manager',
  ],
  [
    rx(
      `\\bпо источник|\\bв разрезе источник|\\b(?:как|котор)[а-я]* (?:\\S+ )?источник|\\bисточник(?:и|ов|ам|ах)\\b|\\bоткуда (?:приход|больше|лучше)`,
    ),
    'source',
  ],
  [
    rx(
      `\\bпо отдел|\\bв разрезе отдел|\\b(?:как|котор)[а-я]* отдел|\\bкажд[а-я]* отдел|\\bотдел(?:ов|ам|ах|ы)\\b`,
    ),
    'department',
  ],
  [rx(`\\bпо (?:канал|лини)|\\b(?:как|котор)[а-я]* (?:канал|лини)|\\bканал(?:ов|ам|ах)\\b`), 'channel'],
  [
    rx(
      `\\bпо (?:рекламн[а-я]* )?кампани|\\b(?:как|котор)[а-я]* (?:рекламн[а-я]* )?кампани|\\butm\\b|\\bпо метк`,
    ),
    'campaign',
  ],
  [rx(`\\bпо воронк|\\bв разрезе воронок|\\b(?:как|котор)[а-я]* воронк`), 'pipeline'],
  [rx(`\\bпо (?:этап|стади)|\\bна (?:как|котор)[а-я]* (?:этап|стади)|\\bэтап(?:ам|ах)\\b`), 'stage'],
  [rx(`\\bпо город|\\b(?:как|котор)[а-я]* город|\\bгород(?:ам|ах)\\b`), 'city'],
  [rx(`\\bпо дням(?! недел)|\\bподневн|\\bпо дн(?:ям)? (?!недел)`), 'day'],
  [rx(`\\bпо неделям|\\bпонедельно|\\bнеделя к неделе`), 'week'],
  [rx(`\\bпо месяцам|\\bпомесячн|\\bмесяц к месяцу`), 'month'],
  [rx(`\\bпо кварталам|\\bпоквартальн`), 'quarter'],
];
const MANAGERS_PLURAL = rx(`\\b(?:менеджер|сотрудник|продавц)(?:ов|ы|и|ам|ами)\\b`);
const WHO = rx(`\\bкто\\b|\\bу кого\\b|\\bкого\\b|\\bкем\\b`);

const SORT_ASC = rx(
  `\\bменьше (?:всего|всех)|\\bхуже (?:всего|всех)|\\bхудш|\\bотста|\\bаутсайдер|\\bнаименьш|\\bминимальн|\\bсам[а-я]* (?:низк|мал|слаб|неэффективн|плох|ленив|пассивн|непродуктивн)|\\bне выполня|\\bне справля|\\bне дотягива|\\bпровалива[а-я]* план|\\b(?:кто|у кого|какой|какая|какие|какого) (?:\\S+ )?меньше\\b|\\bреже всех`,
);
const SORT_DESC = rx(
  `\\bбольше (?:всего|всех)|\\bлучше (?:всего|всех)|\\bлучш|\\bлидер|\\bтоп\\b|\\bрейтинг|\\bнаибольш|\\bмаксимальн|\\bсам[а-я]* (?:высок|больш|много|эффективн|активн|прибыльн|результативн|успешн|продуктивн|денежн|лучш)|\\b(?:кто|у кого|какой|какая|какие|какого) (?:\\S+ )?больше\\b|\\bчемпион`,
);
const LIMIT_RULES: RegExp[] = [
  rx(`\\bтоп[- ]?(${NUMBER_RE})\\b`, 'gu'),
  rx(`\\b(${NUMBER_RE}) (?:лучш|худш|сам|перв|последн)[а-я]*`, 'gu'),
  rx(`\\b(?:последн|перв)[а-я]* (${NUMBER_RE})\\b(?! (?:дн|день|дня|недел|месяц|сут|час|год|лет))`, 'gu'),
];
const WORST = rx(`\\bхудш|\\bотстающ`);

const FOLLOW_UP = rx(
  `^ (?:а|и|ну а|а что|а если|а как|теперь|тогда|также|тоже|то же|то же самое|а теперь|ещё|еще)\\b`,
);
const ALL_AGAIN = rx(
  `\\bпо всем\\b|\\bв целом\\b|\\bпо компании\\b|\\bбез фильтр|\\bвсего\\b|\\bобщ[а-я]*\\b|\\bвсех менеджер`,
);

const ORDINALS: [RegExp, number][] = [
  [rx(`\\b(?:перв[а-я]*|1(?:-[а-я]+)?)\\b`), 0],
  [rx(`\\b(?:втор[а-я]*|2(?:-[а-я]+)?)\\b`), 1],
  [rx(`\\b(?:трет[а-я]*|3(?:-[а-я]+)?)\\b`), 2],
  [rx(`\\b(?:четверт[а-я]*|4(?:-[а-я]+)?)\\b`), 3],
  [rx(`\\b(?:последн[а-я]*)\\b`), -1],
];

export interface Parser {
  parse(text: string, previous?: DialogueState): ParseResult;
}

interface Mentions {
  manager?: string;
  candidates?: string[];
  managerMentions: ManagerMention[];
  source?: string;
  department?: string;
  pipeline?: string;
  period?: string;
  days?: number;
  limit?: number;
  groupBy?: string;
  weakManagerGroup: boolean;
  sort?: 'asc' | 'desc';
  rest: string;
  folded: string;
  /** Share of words that are known words of any kind; near zero for key mashing. */
  knownShare: number;
  /** A capitalised word that is no manager or known word: a person we do not know ("по Морозову"). */
  unknownName?: string;
}

/**
 * Builds a parser over one company's reference data. The name and entity
 * lookups are computed here once; `parse` is then a few microseconds of
 * regex work per question.
 */
export function createParser(ctx: ParserContext, options: ParserOptions = {}): Parser {
  const clock = options.clock ?? (() => new Date());
  const tz = options.tz ?? 'Europe/Moscow';
  const managers = new ManagerIndex(ctx.managers);
  const sources = new EntityIndex(ctx.sources);
  const departments = new EntityIndex(ctx.departments);
  const pipelines = new EntityIndex(ctx.pipelines);
  const vocabulary = new TypoIndex<string>();
  for (const w of domainWords) vocabulary.add(w, w);
  const entityStems = new Set<string>();
  for (const list of [ctx.sources, ctx.departments, ctx.pipelines, ctx.stages ?? []]) {
    for (const r of list)
      for (const w of r.name
        .toLowerCase()
        .replaceAll('ё', 'е')
        .split(/[\s.\-_/]+/))
        entityStems.add(stemWord(w));
  }
  const isVocabulary = (w: string): boolean =>
    vocabulary.exact(w) !== undefined ||
    everydayWords.has(w) ||
    monthWords.has(w) ||
    entityStems.has(stemWord(w));

  /** Fixes one-letter typos in domain words ("сдлеки" → "сделки"), leaving names alone. */
  function correct(tokens: Token[]): Token[] {
    return tokens.map((t) => {
      const w = t.text;
      if (w.length < 5 || !/^\p{L}+$/u.test(w) || isVocabulary(w) || managers.isNameForm(w)) return t;
      const near = vocabulary.near(w);
      if (near.length === 0) return t;
      // Another inflection of a known word ("неделям" next to "неделя") is not a typo.
      if (near.some((n) => stemWord(n.word) === stemWord(w))) return t;
      if (t.capital && managers.hasNear(w)) return t;
      return { ...t, text: near[0]!.word };
    });
  }

  // The local date changes at most once a minute; Intl calls are the costliest part of a parse.
  let todayCache: { minute: number; today: Today; key: string } | null = null;
  function today(): { today: Today; key: string } {
    const minute = Math.floor(clock().getTime() / 60_000);
    if (todayCache?.minute !== minute) {
      const key = localDate(new Date(minute * 60_000), tz);
      const [y, m, d] = key.split('-').map(Number) as [number, number, number];
      todayCache = { minute, today: { y, m, d }, key };
    }
    return todayCache;
  }

  function read(text: string): Mentions {
    const { text: folded, tokens: raw } = tokenize(text);
    const tokens = correct(raw);
    const work = new Work(tokens);
    let limit: number | undefined;
    let sortFromLimit: 'asc' | 'desc' | undefined;
    for (const re of LIMIT_RULES) {
      work.take(re, (m) => {
        const n = numberValue(m[1]!);
        if (!n || n > 1000) return false;
        limit = n;
        if (WORST.test(` ${m[0]} `)) sortFromLimit = 'asc';
        else if (!/^\s*(?:последн|перв)/u.test(m[0]) && !/(?:последн|перв)[а-я]*\s*$/u.test(m[0]))
          sortFromLimit = 'desc';
        return true;
      });
      if (limit) break;
    }
    const days = takeThresholdDays(work) ?? undefined;
    const period = takePeriod(work, today().today) ?? undefined;
    const usable = (i: number): boolean => !work.used[i];

    const m: Mentions = {
      managerMentions: [],
      weakManagerGroup: false,
      rest: '',
      folded: ` ${folded
        .replace(/[^\p{L}\p{N}\s/-]/gu, ' ')
        .replace(/\s+/g, ' ')
        .trim()} `,
      knownShare: 0,
    };
    if (limit) m.limit = limit;
    if (days) m.days = days;
    if (period) m.period = period;

    const src = sources.find(work.tokens, usable);
    if (src) {
      m.source = sources.names[src.record]!;
      work.blankTokens(src.tokens);
    }
    const dep = departments.find(work.tokens, usable);
    if (dep) {
      m.department = departments.names[dep.record]!;
      work.blankTokens(dep.tokens);
    }
    const pipe = pipelines.find(work.tokens, usable);
    if (pipe && pipelineInContext(work.tokens, pipe.tokens, pipelines.wordsOf(pipe.record))) {
      m.pipeline = pipelines.names[pipe.record]!;
      work.blankTokens(pipe.tokens);
    }

    m.managerMentions = managers.find(work.tokens, usable, isVocabulary);
    const resolved = m.managerMentions.find((x) => x.managers.length === 1);
    if (resolved) m.manager = managers.names[resolved.managers[0]!]!;
    else if (m.managerMentions[0])
      m.candidates = m.managerMentions[0].managers.map((i) => managers.names[i]!);
    for (const mention of m.managerMentions) work.blankTokens(mention.tokens);

    const rest = work.rest();
    m.rest = rest;
    for (const [re, g] of GROUP_RULES) {
      if (re.test(rest)) {
        m.groupBy = g;
        break;
      }
    }
    // "топ 5 менеджеров", "лучшие сотрудники": a ranking over managers.
    if (!m.groupBy && (SORT_ASC.test(rest) || SORT_DESC.test(rest) || limit) && MANAGERS_PLURAL.test(rest)) {
      m.groupBy = 'manager';
    }
    m.weakManagerGroup = WHO.test(rest);
    if (SORT_ASC.test(rest)) m.sort = 'asc';
    else if (SORT_DESC.test(rest)) m.sort = 'desc';
    if (!m.sort && sortFromLimit) m.sort = sortFromLimit;

    let known = 0;
    for (const t of tokens) {
      if (/\d/.test(t.text) || isVocabulary(t.text) || managers.isNameForm(t.text)) known++;
    }
    m.knownShare = tokens.length ? known / tokens.length : 0;
    // Answering for the whole company when a name was not recognised would be a wrong number.
    const stranger = work.tokens.find(
      (t, i) => i > 0 && t.capital && !work.used[i] && /^[а-я]{3,}$/.test(t.text) && !isVocabulary(t.text),
    );
    if (stranger && !m.manager && !m.candidates)
      m.unknownName = stranger.text.charAt(0).toUpperCase() + stranger.text.slice(1);
    return m;
  }

  /** A pipeline is named after "воронка"; a one-word name must stand as written ("воронка продаж" is generic). */
  function pipelineInContext(tokens: Token[], idx: number[], words: string[]): boolean {
    const first = idx[0]!;
    const before = [tokens[first - 1]?.text ?? '', tokens[first - 2]?.text ?? ''];
    if (!before.some((w) => /^(воронк|пайплайн|направлени)/.test(w))) return false;
    if (words.length === 1 && idx.length === 1) return tokens[first]!.text === words[0];
    return true;
  }

  const periodWordsCache = new Map<string, string>();
  function periodWords(slot: string): string {
    const key = `${today().key}|${slot}`;
    let words = periodWordsCache.get(key);
    if (words === undefined) {
      try {
        words = formatPeriodRu(resolvePeriod(periodInputFromSlot(slot), { now: clock(), tz }));
      } catch {
        words = slot;
      }
      if (periodWordsCache.size > 1000) periodWordsCache.clear();
      periodWordsCache.set(key, words);
    }
    return words;
  }

  /** Short Russian phrases for "Я понял: …" replies. */
  function understoodOf(intent: Intent, slots: Slots): string[] {
    const out: string[] = [];
    if (isToolIntent(intent)) out.push(TOOL_WORDS[intent]);
    if (slots.metric) out.push(METRIC_WORDS[slots.metric] ?? slots.metric);
    if (slots.manager) out.push(`менеджер ${slots.manager}`);
    if (slots.manager_candidates) out.push(`менеджер ${slots.manager_candidates.join(' или ')}?`);
    if (slots.department) out.push(`отдел «${slots.department}»`);
    if (slots.source) out.push(`источник «${slots.source}»`);
    if (slots.pipeline) out.push(`воронка «${slots.pipeline}»`);
    if (slots.period) out.push(`период — ${periodWords(slots.period)}`);
    if (slots.group_by) out.push(GROUP_WORDS[slots.group_by] ?? slots.group_by);
    if (slots.days) out.push(`без активности дольше ${slots.days} дн.`);
    if (slots.limit) out.push(`первые ${slots.limit}`);
    return out;
  }

  /** Slots named in this message, before the tool's rules are applied. */
  function mentionedSlots(m: Mentions, r: Reading): Slots {
    const s: Slots = {};
    if (m.manager) s.manager = m.manager;
    if (m.source) s.source = m.source;
    if (m.department) s.department = m.department;
    if (m.pipeline) s.pipeline = m.pipeline;
    if (m.period) s.period = m.period;
    if (m.days) s.days = m.days;
    if (m.limit) s.limit = m.limit;
    const group = r.groupBy ?? m.groupBy;
    if (group) s.group_by = group;
    if (m.sort) s.sort = m.sort;
    if (r.metric) s.metric = r.metric;
    if (r.filter) s.filter = r.filter;
    if (r.which) s.which = r.which;
    if (r.by) s.by = r.by;
    if (r.direction) s.direction = r.direction;
    return s;
  }

  /** Applies a tool's rules: ranking tool switches, allowed slots and groupings, default period. */
  function finish(
    intentIn: ToolIntent,
    slotsIn: Slots,
    r: Reading,
    m: Mentions,
  ): { intent: ToolIntent; slots: Slots } {
    let intent = intentIn;
    const s: Slots = { ...slotsIn };
    if (r.noGroup) delete s.group_by;
    if (!s.group_by && m.weakManagerGroup && !s.manager && intent !== 'manager_efficiency')
      s.group_by = 'manager';
    if (s.group_by === 'manager' && s.manager) delete s.group_by;

    if (
      intent === 'calls_stats' &&
      s.group_by === 'manager' &&
      s.sort &&
      (!s.metric || /talk/.test(s.metric))
    ) {
      intent = 'manager_efficiency';
      s.metric = callsRankingMetric(m.rest);
      delete s.group_by;
    }
    if (
      intent === 'deal_stats' &&
      (s.source || s.group_by === 'source') &&
      (!s.metric || s.metric === 'won' || s.metric === 'won_amount')
    ) {
      intent = 'lead_stats';
      s.metric = 'sales_amount';
    }
    if (intent === 'manager_efficiency') delete s.group_by;

    const groups = GROUPS[intent] ?? [];
    if (s.group_by && !groups.includes(s.group_by)) delete s.group_by;
    const ranked =
      intent === 'manager_efficiency' || (s.group_by !== undefined && RANKED_GROUPS.has(s.group_by));
    if (!ranked || s.manager) {
      delete s.sort;
      if (intent !== 'list_records') delete s.limit;
    } else if (s.limit && !s.sort) s.sort = 'desc';

    // "какой источник даёт больше всего лидов": a ranking of leads is by their count.
    if (intent === 'lead_stats' && s.sort && !s.metric) s.metric = 'received';
    if (!s.period && !SNAPSHOT_TOOLS.has(intent) && !r.snapshot) {
      if (intent === 'calls_by_time') s.period = 'last_30_days';
      else if (intent === 'call_quality' && (s.group_by === 'manager' || s.manager))
        s.period = 'last_30_days';
      else s.period = 'this_month';
    }
    if (intent === 'call_breakdown' && !s.which) s.which = 'last';

    const out: Slots = {};
    for (const k of ALLOWED[intent]) {
      if (s[k] !== undefined) (out as Record<string, unknown>)[k] = s[k];
    }
    return { intent, slots: out };
  }

  function lostMentions(m: Mentions, r: Reading, result: { intent: ToolIntent; slots: Slots }): boolean {
    const s = result.slots;
    if ((m.source && !s.source) || (m.department && !s.department) || (m.pipeline && !s.pipeline))
      return true;
    if (m.days && !s.days) return true;
    const group = r.groupBy ?? m.groupBy;
    if (!group || s.group_by === group || r.noGroup) return false;
    // Some tools are per-stage or per-manager by nature: "конверсия по этапам" loses nothing.
    const inherent =
      (group === 'manager' && (result.intent === 'manager_efficiency' || s.manager !== undefined)) ||
      (group === 'stage' &&
        (result.intent === 'stage_funnel' ||
          result.intent === 'lead_stage_reach' ||
          (result.intent === 'deal_stats' && (s.metric === 'by_stage' || s.metric === 'lost'))));
    return !inherent;
  }

  function keepContext(prev: DialogueState): DialogueState {
    return { intent: prev.intent, slots: prev.slots, pending: null };
  }

  function answer(intent: ToolIntent, slots: Slots, confidence: number): ParseResult {
    return {
      intent,
      slots,
      confidence,
      understood: understoodOf(intent, slots),
      state: { intent, slots, pending: null },
    };
  }

  function clarify(intent: ToolIntent, slots: Slots, candidates: string[], prev: DialogueState): ParseResult {
    const pendingSlots = { ...slots };
    delete pendingSlots.manager;
    return {
      intent: 'clarify',
      slots: { manager_candidates: candidates },
      confidence: 0.9,
      understood: [...understoodOf(intent, pendingSlots), `менеджер ${candidates.join(' или ')}?`],
      state: { intent: prev.intent, slots: prev.slots, pending: { intent, slots: pendingSlots, candidates } },
    };
  }

  function other(
    intent: Intent,
    slots: Slots,
    confidence: number,
    prev: DialogueState,
    understood?: string[],
  ): ParseResult {
    return {
      intent,
      slots,
      confidence,
      understood: understood ?? understoodOf(intent, slots),
      state: keepContext(prev),
    };
  }

  /** Completes a question that waited for the user to pick one of several managers. */
  function resolvePending(m: Mentions, r: Reading, prev: DialogueState): ParseResult | null {
    const pending = prev.pending;
    if (!pending) return null;
    const candidates = pending.candidates;
    let chosen: string[] = [];
    if (m.managerMentions.length > 0) {
      for (const mention of m.managerMentions) {
        const names = mention.managers.map((i) => managers.names[i]!);
        const inCandidates = names.filter((n) => candidates.includes(n));
        chosen = inCandidates.length > 0 ? inCandidates : names;
        if (chosen.length === 1) break;
      }
    } else if (m.rest.trim().split(' ').length <= 4) {
      for (const [re, idx] of ORDINALS) {
        if (re.test(m.rest)) {
          const name = idx < 0 ? candidates[candidates.length - 1] : candidates[idx];
          if (name) chosen = [name];
          break;
        }
      }
    }
    const isNewQuestion = isToolIntent(r.intent) && r.strong;
    if (chosen.length === 0) {
      if (isNewQuestion || r.intent === 'help' || r.intent === 'explain' || r.intent === 'out_of_scope')
        return null;
      return {
        intent: 'clarify',
        slots: { manager_candidates: candidates },
        confidence: 0.6,
        understood: [`менеджер ${candidates.join(' или ')}?`],
        state: prev,
      };
    }
    if (isNewQuestion && r.intent !== pending.intent) return null;
    if (chosen.length > 1) return clarify(pending.intent, pending.slots, chosen, prev);
    const extra = mentionedSlots(m, { intent: null, strong: false });
    delete extra.sort;
    const slots: Slots = { ...pending.slots, ...extra, manager: chosen[0]! };
    const done = finish(
      pending.intent,
      slots,
      { intent: pending.intent, strong: true },
      { ...m, weakManagerGroup: false },
    );
    return answer(done.intent, done.slots, 0.9);
  }

  /** A follow-up changes one thing of the previous question ("а у Марины?", "а за прошлый месяц?"). */
  function followUp(
    prev: DialogueState,
    m: Mentions,
    r: Reading,
  ): { intent: ToolIntent; slots: Slots } | null {
    const intent = prev.intent;
    if (!intent) return null;
    const changes = mentionedSlots(m, r);
    const s: Slots = { ...prev.slots };
    if (ALL_AGAIN.test(m.rest) && !m.manager && !m.candidates) {
      delete s.manager;
      delete s.source;
      delete s.department;
      delete s.pipeline;
    }
    if (m.candidates) delete s.manager;
    if (changes.manager || m.candidates) {
      if (s.group_by === 'manager') delete s.group_by;
      delete s.sort;
      delete s.limit;
    }
    if (changes.group_by === 'manager') delete s.manager;
    if (changes.group_by && !changes.sort && !RANKED_GROUPS.has(changes.group_by)) delete s.sort;
    Object.assign(s, changes);
    // A snapshot question stays a snapshot unless the follow-up names a period.
    const snapshot = !prev.slots.period && !changes.period;
    return finish(
      intent,
      s,
      { ...r, intent, snapshot, metric: changes.metric ?? prev.slots.metric },
      { ...m, weakManagerGroup: false },
    );
  }

  function parse(text: string, previous?: DialogueState): ParseResult {
    const prev = previous ?? emptyDialogueState;
    const m = read(text);
    const r = readIntent(m.rest, m.groupBy);

    const completed = resolvePending(m, r, prev);
    if (completed) return completed;

    if (r.intent === 'help') return other('help', {}, 0.95, prev);
    if (r.intent === 'explain') {
      const code = explainCode(m.folded) ?? (prev.intent ? codeOfAnswer(prev.intent, prev.slots) : undefined);
      return other('explain', code ? { metric: code } : {}, code ? 0.9 : 0.6, prev);
    }
    if (r.intent === 'out_of_scope') return other('out_of_scope', {}, 0.95, prev);

    const marker = FOLLOW_UP.test(m.folded);
    const mentioned =
      m.manager !== undefined ||
      m.candidates !== undefined ||
      m.source !== undefined ||
      m.department !== undefined ||
      m.pipeline !== undefined ||
      m.period !== undefined ||
      m.groupBy !== undefined ||
      m.days !== undefined ||
      m.limit !== undefined ||
      (marker && ALL_AGAIN.test(m.rest));

    let result: { intent: ToolIntent; slots: Slots } | null = null;
    let confidence = 0.9;
    if (isToolIntent(r.intent) && (r.strong || !prev.intent || !marker)) {
      let slots = mentionedSlots(m, r);
      if (marker && prev.intent) {
        const carried: Slots = {};
        for (const k of ['manager', 'source', 'department', 'pipeline', 'period'] as const) {
          if (prev.slots[k] !== undefined && slots[k] === undefined && !(k === 'manager' && m.candidates)) {
            (carried as Record<string, unknown>)[k] = prev.slots[k];
          }
        }
        if (carried.manager && slots.group_by === 'manager') delete carried.manager;
        slots = { ...carried, ...slots };
        confidence = 0.85;
      }
      result = finish(r.intent, slots, r, m);
      if (!r.strong) confidence = 0.6;
    } else if (prev.intent && (mentioned || marker)) {
      result = followUp(prev, m, r);
      confidence = 0.85;
    }

    if (result) {
      if (
        !result.slots.manager &&
        m.candidates &&
        m.candidates.length > 1 &&
        ALLOWED[result.intent].includes('manager')
      ) {
        return clarify(result.intent, result.slots, m.candidates, prev);
      }
      if (m.unknownName && !result.slots.manager && ALLOWED[result.intent].includes('manager')) {
        return {
          intent: 'clarify',
          slots: { manager_candidates: [] },
          confidence: 0.9,
          understood: understoodOf(result.intent, result.slots),
          unknownName: m.unknownName,
          // "а у Марины?" then completes the question.
          state: { intent: result.intent, slots: result.slots, pending: null },
        };
      }
      // Something the user asked for was left out (the tool cannot filter or group by it): not sure enough.
      if (lostMentions(m, r, result)) confidence = Math.min(confidence, 0.5);
      return answer(result.intent, result.slots, confidence);
    }

    const understood = understoodOf('unknown', mentionedSlots(m, { intent: null, strong: false }));
    if (m.candidates) understood.push(`менеджер ${m.candidates.join(' или ')}?`);
    const gibberish = m.knownShare < 0.34 && understood.length === 0;
    return other('unknown', {}, gibberish ? 0.05 : 0.25, prev, understood);
  }

  return { parse };
}

/** One-off parse; for many questions build the lookups once with `createParser`. */
export function parseQuestion(
  text: string,
  ctx: ParserContext,
  previous?: DialogueState,
  options?: ParserOptions,
): ParseResult {
  return createParser(ctx, options).parse(text, previous);
}
