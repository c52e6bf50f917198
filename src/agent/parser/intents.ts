import { rx } from './text.ts';
import type { Slots, ToolIntent } from './types.ts';

/** What the words of a question (names, periods and sources taken out) say it asks for. */
export interface Reading {
  intent: ToolIntent | 'help' | 'explain' | 'out_of_scope' | null;
  metric?: string;
  filter?: string;
  which?: string;
  by?: 'hour' | 'weekday';
  direction?: 'in' | 'out';
  /** The metric is a snapshot of now: no default period. */
  snapshot?: boolean;
  /** The grouping the question implies by itself, overriding a generic "по ..." one. */
  groupBy?: string;
  /** Drop any grouping (the metric already is "by stage"). */
  noGroup?: boolean;
  /** The intent came from a strong, specific phrase. */
  strong: boolean;
}

const R = (s: string): RegExp => rx(s);

const cache = new Map<string, RegExp>();
/** Tests a one-off pattern (compiled once). */
function T(source: string, s: string): boolean {
  let re = cache.get(source);
  if (!re) {
    re = rx(source);
    cache.set(source, re);
  }
  return re.test(s);
}

// Conversation ----------------------------------------------------------------

const HELP = R(
  `^ (?:/?(?:help|start|помощь|справка|меню|команды)|привет[а-я]*|здравствуй[а-я]*|добрый (?:день|вечер)|доброе утро|хай|hello|hi) $|\\bчто (?:ты )?(?:умеешь|можешь|знаешь)|\\b(?:какие|что) (?:вопросы )?(?:можно|могу) (?:спросить|задать|задавать|узнать)|\\bкакие вопросы\\b|\\bкак (?:тобой |с тобой |этим )?пользоваться|\\bсписок команд|\\bпомощь\\b|^ /help`,
);
const EXPLAIN = R(
  `\\bкак (?:\\S+ )?(?:счита|рассчитыва|вычисля|посчита|подсчитыва|определя|получа|формиру)|\\bоткуда (?:бер|взял|взят|эт|цифр|числ|данн|такая|такие|такой)|\\bчто (?:такое|значит|означает|входит в|считается)|\\bчто за (?:цифр|метрик|показател|число)|\\bпочему (?:так|столько|такая|такой|такие)|^ /explain|\\bобъясни|\\bпоясни|\\bрасшифруй|\\bиз чего (?:склад|состо)|\\bопределени[ея] `,
);
/** Topics outside sales analytics; they win when no domain noun is present. */
const OFF_TOPIC = R(
  `\\bпогод|\\bанекдот|\\bшутк|\\bпошути|\\bрецепт|\\bприготов|\\bфильм|\\bкино\\b|\\bсериал|\\bмузык|\\bпесн|\\bстих|\\bфутбол|\\bхоккей|\\bматч|\\bчемпионат|\\bспорт|\\bновост|\\bполитик|\\bпрезидент|\\bвыбор[аы]|\\bкурс (?:доллар|евро|валют|рубл|биткоин|акци)|\\bдоллар|\\bбиткоин|\\bкрипт|\\bгороскоп|\\bпереведи|\\bперевод (?:на|с)|\\bстолиц|\\bсколько будет|\\d+ ?[+*/×] ?\\d+|\\bнапиши (?:код|программ|стих|сочинени|письмо|эссе|сказк)|\\bпоиграем|\\bсыграем|\\bкак (?:у тебя )?дела\\b|\\bкто тебя|\\bсмысл жизни|\\bпробк|\\bтакси|\\bпицц|\\bресторан|\\bпоесть|\\bврач|\\bлекарств|\\bтемператур|\\bдожд|\\bснег|\\bпраздник|\\bдень рождени|\\bсказк|\\bзагадк|\\bвикипеди|\\bкто такой|\\bкто такая|\\bрасскажи (?:о себе|историю|что-нибудь)|\\bгде купить|\\bкак похудеть|\\bгде поесть|\\bавиабилет|\\bбилет[ыа]? (?:на|в)`,
);
/** Requests for entertainment or writing: out of scope even when they mention sales. */
const ENTERTAINMENT = R(
  `\\b(?:напиши|сочини|придумай|спой|расскажи) (?:\\S+ )?(?:стих|песн|сказк|анекдот|шутк|поэм|рассказ|историю|тост)|\\bрасскажи анекдот|\\bпошути|\\bанекдот`,
);
const DOMAIN_NOUN = R(
  `\\bзвон|\\bдозвон|\\bсдел(?:к|ок)|\\bлид|\\bзаяв(?:к|ок)|\\bплан(?!ир|ерк)|\\bзадач|\\bконвер(?:с|т)|\\bменеджер|\\bвыручк|\\bпродаж|\\bворонк|\\bисточник|\\bсотрудник|\\bвозражен|\\bскрипт|\\bчек\\b`,
);

// Domain flags ----------------------------------------------------------------

const LEAD = R(`\\bлид|\\bзаяв(?:к|ок)`);
const DEAL = R(`\\bсдел(?:к|ок)`);
const CALL = R(
  `\\bзвон|\\bдозвон|\\bнедозвон|\\bпозвон|\\bсозвон|\\bразговор|\\bразговарива|\\bговорил|\\bвходящ|\\bисходящ|\\bтрубк|\\bнаговор|\\bобзвон`,
);

const BREAKDOWN = R(
  `\\bразбор|\\bразбер|\\bпроанализир|\\bанализ[а-я]* (?:\\S+ )?звонк|\\bоцени (?:\\S+ )?звонок|\\bcl-\\d+`,
);
const WITHOUT_TASKS = R(
  `\\bбез (?:\\S+ )?(?:задач|дел\\b|следующ[а-я]* шаг|запланированн)|\\bнет (?:ни одной )?(?:\\S+ )?(?:задач|следующ[а-я]* шаг)|\\bне (?:поставлен|запланирован|назначен)[а-я]* (?:\\S+ )?задач`,
);
const FORGOTTEN = R(
  `\\bзабыт|\\bзабыл|\\bзаброш|\\bброшен|\\bбез активност|\\bбез движени|\\bнет активност|\\bне было активност|\\bне трогал|\\bне трогают|\\bзавис|\\bпротух|\\bбез касани|\\bдавно не (?:было|звонил|связывал|работал|трогал)|\\bникто не (?:занимается|работает|трогает)|\\bне двигал|\\bвисят\\b|\\bвисит\\b|\\bстоят без`,
);

// Call quality (AI breakdowns)
const OBJECTIONS = R(`\\bвозражени`);
const PRICE_NAMED = R(`\\b(?:называ|назвал|озвучива|озвучил|говор)[а-я]* (?:\\S+ )?цен`);
const NEED_IDENTIFIED = R(
  `\\b(?:выявля|выявил|выясня|выяснил|узна[её]т|узнают|спрашива)[а-я]* (?:\\S+ )?потребност`,
);
const NEXT_STEP = R(
  `\\b(?:предлага|предложил|назнача|назначил|договарива)[а-я]* (?:\\S+ )?(?:встреч|следующ|кп\\b|замер|шаг)`,
);
const GREETING = R(`\\bздорова|\\bприветстви|\\bпредставля[а-я]*ся`);
const SUMMARY = R(`\\b(?:подвод|подвел)[а-я]* (?:\\S+ ){0,2}итог|\\bрезюмир`);
const SCRIPT = R(`\\bскрипт`);
const NEEDS = R(
  `\\bпотребност|\\b(?:что|чего) (?:\\S+ )?(?:хотят|ищут|спрашивают|просят) (?:\\S+ )?клиент|\\b(?:что|чего) (?:\\S+ )?клиент[а-я]* (?:\\S+ )?(?:хотят|ищут|спрашивают|просят)|\\bзапрос[а-я]* клиент|\\bчто нужно клиентам`,
);
const CHURN = R(`\\bриск`);
const READINESS = R(`\\bготовност|\\bготов[а-я]* (?:\\S+ )?купить|\\bгоряч[а-я]* (?:клиент|лид)`);
const LEAD_QUALITY = R(`\\bцелев|\\bнецелев`);
const TALK_RATIO = R(
  `\\b(?:кто|сколько) (?:\\S+ )?(?:больше|много|дольше) говорит|\\bдол[яи] (?:речи|слов)|\\bперебива|\\btalk ratio`,
);
const QUALITY = R(
  `\\bкачеств[а-я]* (?:\\S+ )?(?:звонк|разговор|переговор|общени)|\\bоценк[а-я]* (?:\\S+ )?звонк`,
);

// Tasks and plan
const TASKS = R(`\\bзадач|\\bисполнительн|\\bпросроч|\\bдисциплин|\\bпоручени`);
const OVERDUE = R(`\\bпросроч`);
const STARTED_ON_TIME = R(
  `\\b(?:начина|начал|приступа)[а-я]* (?:\\S+ )?(?:в срок|вовремя)|\\b(?:в срок|вовремя) (?:\\S+ )?(?:начина|начал|приступа)`,
);
const FINISHED_ON_TIME = R(
  `\\b(?:закрыва|заверша|выполня|закрыл|завершил|выполнил)[а-я]* (?:\\S+ )?(?:в срок|вовремя)|\\b(?:в срок|вовремя) (?:\\S+ )?(?:закрыва|заверша|выполня|закрыл|завершил|выполнил)`,
);
const PLAN = R(`\\bплан(?!ир|ерк)|\\bплан-факт`);
const PLAN_COUNT = R(`\\bпо количеств|\\bв штуках|\\bпо числу`);
const PLAN_AMOUNT = R(`\\bпо сумм|\\bв деньгах|\\bв рублях|\\bпо выручк`);

// Missed calls
const MISSED = R(
  `\\bпропущ|\\bпропуст|\\bне перезвон|\\bперезвон|\\bперезван|\\bнеотвечен|\\bне (?:ответили|отвечаем|взяли трубку|берем трубку)|\\bпотерянн[а-я]* (?:\\S+ )?(?:клиент|звонк|обращени)|\\bпотерял[а-я]* (?:\\S+ )?(?:клиент|звонк)`,
);
const CALLBACK_DELAY = R(
  `\\b(?:как быстро|скорост[а-я]*|время|через сколько|как долго|как оперативно|сколько времени) (?:\\S+ ){0,2}(?:перезван|перезвон)`,
);
const NEW_NUMBERS = R(`\\bнов[а-я]* (?:\\S+ )?(?:номер|абонент)`);
const LOST = R(`\\bпотер`);
const NOT_CALLED_BACK = R(`\\bне перезвон|\\bбез перезвон|\\bне перезван`);
const CALLED_BACK = R(`\\b(?:сколько|скольким|кому) (?:\\S+ )?перезвонил`);

// Calls by time
const BY_HOUR = R(
  `\\bпо час|\\bв как[а-я]* (?:\\S+ )?час|\\bв как[а-я]* время|\\bчас[а-я]* пик|\\bпиков[а-я]* (?:\\S+ )?час|\\bвремя суток|\\bкогда (?:больше всего|чаще всего|меньше всего) (?:звон|позвон)`,
);
const BY_WEEKDAY = R(
  `\\bпо дням недели|\\bв как[а-я]* (?:\\S+ )?(?:дни|день|дням) недели|\\bдень недели|\\bв как[а-я]* дни\\b|\\bпо дням нед`,
);

// Managers
const EFFICIENCY = R(
  `\\bэффективн|\\bбалл[а-я]* (?:\\S+ )?активност|\\bактивност[а-я]* (?:\\S+ )?(?:менеджер|сотрудник)|\\bпродуктивн|\\bрейтинг (?:\\S+ )?(?:менеджер|сотрудник|продавц)|\\bкто (?:\\S+ )?(?:лучше|хуже) (?:всех |всего )?работа|\\bсам[а-я]* (?:активн|ленив|продуктивн)|\\b(?:лучш|худш)[а-я]* (?:менеджер|сотрудник|продавц)|\\bкто (?:\\S+ )?(?:работает|работал|трудится) (?:лучше|хуже|больше|меньше)`,
);

// Funnel
const STAGE_CONVERSION = R(
  `\\bконверси[а-я]* (?:\\S+ )?(?:\\S+ )?(?:по|между) (?:этап|стади)|\\bпереход[а-я]* (?:\\S+ )?(?:между|по) (?:этап|стади)|\\bпереход[а-я]* (?:\\S+ )?с этапа|\\bворонк[а-я]* (?:сделок|продаж)|\\bпрохожден[а-я]* (?:\\S+ )?(?:этап|стади)|\\bпо этапам воронки`,
);
const STAGE_TIME = R(
  `\\b(?:время|сколько (?:дней|времени)|как долго|долго|дольше всего) (?:\\S+ ){0,3}(?:на этап|на стади|висят|застрева|сидят)|\\bзастрева|\\bвремя на этап|\\bзастря`,
);
const STAGE_WORD = R(`\\bэтап|\\bстади`);
const REACH = R(`\\bзастрева|\\bдоход|\\bпрохо|\\bдостига|\\bворонк|\\bзастря|\\bотваливаю|\\bтеря`);

// Leads
const REVENUE_PER_LEAD = R(
  `\\b(?:выручк|доход|денег|прибыл)[а-я]* (?:с|на) (?:одного |один |каждого )?(?:лид|заяв(?:к|ок))|\\b(?:выручк|доход)[а-я]* (?:\\S+ )?на лид`,
);
const FIRST_RESPONSE = R(
  `\\b(?:как быстро|скорост[а-я]*|время|через сколько|как оперативно|как долго|сколько времени) (?:\\S+ ){0,3}(?:отвеча|реагир|отклика|бер(?:ем|ут|ет)|взяли|реакци|ответ|первого касани|первого контакт|связываемся|связыва|звоним|перезваниваем на заяв|обрабатываем нов)`,
);
const PROCESSING = R(
  `\\b(?:время|срок|как долго|сколько (?:дней|времени)|скорость) (?:\\S+ ){0,2}обработк|\\bобрабатыва[а-я]* (?:\\S+ ){0,2}(?:в среднем|долго|дней)|\\bдолго обрабатыва`,
);
const CONV_TO_SALE = R(`\\bконвер(?:си|т)[а-я]* (?:\\S+ ){0,2}(?:в продаж|в оплат|в покупк|в деньги)`);
const CONV_TO_DEAL = R(`\\bконвер(?:си|т)[а-я]* (?:\\S+ ){0,2}в сделк|\\bконвер(?:си|тир)`);
const JUNK = R(`\\bнекачествен|\\bмусор|\\bбрак|\\bспам|\\bнекачеств`);
const QUALIFIED = R(`\\bкачествен|\\bсконвертир|\\bквалифицир|\\bуспешн[а-я]* (?:лид|заяв(?:к|ок))`);
const NEW_LEADS = R(`\\bнеразобран|\\bнеобработан|\\bв статусе нов|\\bв новых\\b|\\bне взяли в работу`);
const IN_WORK = R(`\\bв работе\\b`);
const MONEY = R(
  `\\bвыручк|\\bсумм[а-я]* продаж|\\bденег|\\bденьг|\\bдоход|\\bзаработа|\\bоборот|\\bна какую сумму|\\bпринос[а-я]* (?:\\S+ )?(?:больше|меньше)? ?(?:денег|выручк|продаж)`,
);
const RECEIVED = R(
  `\\bсколько|\\bколичеств|\\bчисло\\b|\\bпришл|\\bпришед|\\bпоступ|\\bполучили|\\bпритекл|\\bнов[а-я]* (?:лид|заяв(?:к|ок))|\\bпришло`,
);

// Deals
const FORECAST = R(`\\bпрогноз`);
const AVG_CHECK = R(
  `\\bсредн[а-я]* чек|\\bчек\\b|\\bсредн[а-я]* (?:сумм|размер)[а-я]* (?:\\S+ )?(?:сделк|продаж)`,
);
const CYCLE = R(
  `\\bцикл|\\bдлительност[а-я]* (?:\\S+ )?сдел(?:к|ок)|\\b(?:сколько (?:\\S+ ){0,2}дней|как долго|за сколько (?:дней|времени)|как быстро) (?:\\S+ ){0,2}(?:закрыва|длится|идет|живет|проходит)`,
);
const REPEAT = R(`\\bповторн`);
const WIN_RATE = R(
  `\\bконверси[а-я]* (?:\\S+ )?сделок|\\bпроцент (?:\\S+ )?(?:выигр|успешн|закрыт)|\\bвинрейт|\\bwin ?rate|\\bдол[яи] (?:\\S+ )?(?:выигр|успешн)|\\bконверси[а-я]* (?:\\S+ )?в (?:успех|выигр)`,
);
const OPEN = R(
  `\\bв работе\\b|\\bоткрыт[а-я]* сдел(?:к|ок)|\\bактивн[а-я]* сдел(?:к|ок)|\\bнезакрыт|\\bв процессе|\\bсделк[а-я]* (?:\\S+ )?(?:открыт|активн)`,
);
const LOST_DEALS = R(
  `\\bпровал|\\bпроигр|\\bслил|\\bслит|\\bотвал|\\bпотерял[а-я]* (?:\\S+ )?сделк|\\bпотерянн[а-я]* сделк|\\bотказ|\\bнеуспешн|\\bсорвал`,
);
const WON = R(
  `\\bуспешн|\\bвыигр|\\bв успех|\\bзакрыл|\\bзакрыт|\\bзакрыва|\\bсделк[а-я]* (?:\\S+ )?выиграл|\\bоплачен|\\bоплатил`,
);
const SALES = R(`\\bпродаж|\\bпродал|\\bпродан`);
const CREATED = R(
  `\\bсоздан|\\bсоздал|\\bзавел|\\bзаведен|\\bоткрыл|\\bнов[а-я]* сдел(?:к|ок)|\\bпоявил|\\bсоздают`,
);

// Calls
const AVG_TALK = R(
  `\\bсредн[а-я]* (?:\\S+ )?(?:длительност|продолжительност|время)|\\b(?:длительност|продолжительност)[а-я]* (?:\\S+ )?(?:разговор|звонк)|\\bсколько (?:в среднем )?(?:длится|длятся|идет|идут) (?:\\S+ )?(?:разговор|звонк)`,
);
const TOTAL_TALK = R(
  `\\b(?:общ|суммарн|всего)[а-я]* (?:\\S+ )?(?:время|длительност)|\\bсколько (?:\\S+ )?(?:минут|часов|времени) (?:\\S+ )?(?:наговор|говорил|разговарива|провел|на телефоне)|\\bнаговор`,
);
const CONNECTED = R(`\\bдозвон(?!ил)|\\bдозвонил|\\bсостоявш`);
const NOT_CONNECTED = R(`\\bнедозвон|\\bне дозвон|\\bнеудачн[а-я]* (?:\\S+ )?(?:звонк|вызов)`);
const INCOMING = R(`\\bвходящ`);
const OUTGOING = R(`\\bисходящ`);
const ANSWERED = R(`\\bприняты[а-я]*|\\bпринятых|\\bпринял|\\bотвеченн|\\bответили на`);
const TALK_RANK = R(`\\bразговарива|\\bговорил|\\bнаговор|\\bдлительност|\\bвремя`);

// Lists
const LIST_VERB = R(
  `\\bсписок|\\bсписком|\\bперечисли|\\bвыгруз|\\bпокажи|\\bпоказать|\\bвыведи|\\bкакие|\\bкакая|\\bдай|\\bпришли`,
);
const STATS_WORD = R(
  `\\bсколько|\\bконвер(?:с|т)|\\bсумм|\\bсредн|\\bдол[яию]\\b|\\bпроцент|\\bколичеств|\\bрейтинг|\\bдинамик|\\bитог|\\bстатистик|\\bчаще|\\bбольше|\\bменьше`,
);
const RECORD_NOUN: [RegExp, string][] = [
  [R(`\\bсдел(?:к|ок)`), 'deals'],
  [R(`\\bлид|\\bзаяв(?:к|ок)`), 'leads'],
  [R(`\\bзвонк|\\bзвонок|\\bразговор`), 'calls'],
  [R(`\\bзадач`), 'tasks'],
];

function first<T>(pairs: [RegExp, T][], s: string): T | undefined {
  for (const [re, v] of pairs) if (re.test(s)) return v;
  return undefined;
}

function listRecords(s: string): Reading | null {
  if (!LIST_VERB.test(s) || STATS_WORD.test(s)) return null;
  const which = first(RECORD_NOUN, s);
  return which ? { intent: 'list_records', which, strong: true } : null;
}

/**
 * Reads the intent and tool-specific slots from the words left after the
 * entities were taken out. Order matters: specific phrases first
 * ("сделки без задач" before "задачи", "выручка с лида" before "выручка").
 */
export function readIntent(s: string, group: string | undefined): Reading {
  if (HELP.test(s)) return { intent: 'help', strong: true };
  if (EXPLAIN.test(s)) return { intent: 'explain', strong: true };
  if (ENTERTAINMENT.test(s) || (OFF_TOPIC.test(s) && !DOMAIN_NOUN.test(s)))
    return { intent: 'out_of_scope', strong: true };

  const lead = LEAD.test(s);
  const deal = DEAL.test(s);
  const call = CALL.test(s);

  if (BREAKDOWN.test(s) && (call || /\bcl-\d+/.test(s) || !(lead || deal))) {
    const id = /(?:^|\s)(cl-\d+)(?=\s|$)/.exec(s);
    return { intent: 'call_breakdown', which: id ? id[1]!.toUpperCase() : 'last', strong: true };
  }
  if (WITHOUT_TASKS.test(s)) return { intent: 'deals_without_tasks', strong: true };
  if (STAGE_TIME.test(s) && STAGE_WORD.test(s) && !lead)
    return { intent: 'stage_funnel', metric: 'stage_time', strong: true };
  if (FORGOTTEN.test(s) && !(call && !lead && !deal)) {
    return { intent: lead && !deal ? 'forgotten_leads' : 'forgotten_deals', strong: true };
  }

  // AI call breakdown aggregates
  const quality = ((): Reading | null => {
    if (OBJECTIONS.test(s)) return { intent: 'call_quality', metric: 'objections', strong: true };
    if (PRICE_NAMED.test(s)) return { intent: 'call_quality', metric: 'script.price_named', strong: true };
    if (NEED_IDENTIFIED.test(s))
      return { intent: 'call_quality', metric: 'script.need_identified', strong: true };
    if (NEXT_STEP.test(s))
      return { intent: 'call_quality', metric: 'script.next_step_offered', strong: true };
    if (SUMMARY.test(s)) return { intent: 'call_quality', metric: 'script.summary_agreed', strong: true };
    if (GREETING.test(s) && (call || SCRIPT.test(s) || T(`\\bменеджер`, s))) {
      return { intent: 'call_quality', metric: 'script.greeting', strong: true };
    }
    if (SCRIPT.test(s)) return { intent: 'call_quality', metric: 'script', strong: true };
    if (NEEDS.test(s)) return { intent: 'call_quality', metric: 'needs', strong: true };
    if (CHURN.test(s)) {
      const level = T(`\\bсредн`, s) ? 'medium' : T(`\\bнизк`, s) ? 'low' : 'high';
      return { intent: 'call_quality', metric: 'churn_risk', filter: level, strong: true };
    }
    if (READINESS.test(s)) return { intent: 'call_quality', metric: 'readiness', strong: true };
    if (LEAD_QUALITY.test(s)) {
      const r: Reading = { intent: 'call_quality', metric: 'lead_quality', strong: true };
      if (T(`\\bнецелев|\\bне целев`, s)) r.filter = 'not_target';
      return r;
    }
    if (TALK_RATIO.test(s)) return { intent: 'call_quality', metric: 'talk_ratio', strong: true };
    if (QUALITY.test(s)) return { intent: 'call_quality', strong: true };
    return null;
  })();
  if (quality) return quality;

  if (TASKS.test(s) && !(deal && !T(`\\bзадач|\\bисполнительн|\\bпросроч`, s))) {
    if (OVERDUE.test(s))
      return { intent: 'task_discipline', metric: 'overdue', snapshot: true, strong: true };
    if (STARTED_ON_TIME.test(s))
      return { intent: 'task_discipline', metric: 'started_on_time', strong: true };
    if (FINISHED_ON_TIME.test(s))
      return { intent: 'task_discipline', metric: 'finished_on_time', strong: true };
    const list = listRecords(s);
    if (list && list.which === 'tasks') return list;
    return { intent: 'task_discipline', strong: true };
  }
  if (PLAN.test(s)) {
    const r: Reading = { intent: 'plan_progress', strong: true };
    if (PLAN_COUNT.test(s)) r.metric = 'count';
    else if (PLAN_AMOUNT.test(s)) r.metric = 'amount';
    return r;
  }
  if (MISSED.test(s) || (NEW_NUMBERS.test(s) && LOST.test(s))) {
    const r: Reading = { intent: 'missed_calls', strong: true };
    if (CALLBACK_DELAY.test(s)) r.metric = 'callback_delay';
    else if (LOST.test(s) && (NEW_NUMBERS.test(s) || T(`\\bклиент`, s))) {
      r.metric = 'lost_new_client';
    } else if (NOT_CALLED_BACK.test(s)) r.filter = 'not_called_back';
    else if (CALLED_BACK.test(s)) r.metric = 'called_back';
    else if (LOST.test(s)) r.filter = 'lost';
    return r;
  }
  const byHour = BY_HOUR.test(s);
  const byWeekday = BY_WEEKDAY.test(s);
  if ((byHour || byWeekday) && (call || !(lead || deal))) {
    const r: Reading = { intent: 'calls_by_time', by: byWeekday ? 'weekday' : 'hour', strong: call };
    if (INCOMING.test(s)) r.direction = 'in';
    else if (OUTGOING.test(s)) r.direction = 'out';
    return r;
  }
  if (EFFICIENCY.test(s)) return { intent: 'manager_efficiency', strong: true };

  // Funnels
  if (lead && STAGE_WORD.test(s) && REACH.test(s)) return { intent: 'lead_stage_reach', strong: true };
  if (T(`\\bпрохожден[а-я]* (?:\\S+ )?(?:этап|стади)`, s) && lead)
    return { intent: 'lead_stage_reach', strong: true };
  if (STAGE_CONVERSION.test(s) && !lead) return { intent: 'stage_funnel', strong: true };
  if (STAGE_TIME.test(s) && !lead && (deal || STAGE_WORD.test(s))) {
    return { intent: 'stage_funnel', metric: 'stage_time', strong: true };
  }

  // Leads: lead-only metrics, or anything about leads
  const leadMetric = ((): string | undefined => {
    if (REVENUE_PER_LEAD.test(s)) return 'revenue_per_lead';
    if (FIRST_RESPONSE.test(s) && (lead || !deal)) return 'first_response';
    if (PROCESSING.test(s) && lead) return 'avg_processing_days';
    if (!lead) return undefined;
    if (CONV_TO_SALE.test(s)) return 'conv_to_sale';
    if (CONV_TO_DEAL.test(s)) return 'conv_to_deal';
    if (JUNK.test(s)) return 'junk';
    if (QUALIFIED.test(s)) return 'qualified';
    if (NEW_LEADS.test(s)) return 'new';
    if (IN_WORK.test(s)) return 'in_work';
    if (MONEY.test(s)) return 'sales_amount';
    if (RECEIVED.test(s)) return 'received';
    return undefined;
  })();
  if (leadMetric || lead) {
    const list = leadMetric ? null : listRecords(s);
    if (list) return list;
    const r: Reading = { intent: 'lead_stats', strong: true };
    if (leadMetric) r.metric = leadMetric;
    return r;
  }

  // Deals and sales
  const dealMetric = ((): Reading | null => {
    if (FORECAST.test(s)) return { intent: 'deal_stats', metric: 'forecast', strong: true };
    if (AVG_CHECK.test(s)) return { intent: 'deal_stats', metric: 'avg_check', strong: true };
    if (WIN_RATE.test(s)) return { intent: 'deal_stats', metric: 'win_rate', strong: true };
    if (CYCLE.test(s) && (deal || T(`\\bцикл`, s)))
      return { intent: 'deal_stats', metric: 'cycle_days', strong: true };
    if (REPEAT.test(s) && (SALES.test(s) || deal || T(`\\bклиент|\\bпокуп`, s))) {
      return { intent: 'deal_stats', metric: 'new_vs_repeat', strong: true };
    }
    if (CONV_TO_SALE.test(s)) return { intent: 'lead_stats', metric: 'conv_to_sale', strong: true };
    if (T(`\\bконвер(?:си|тир)`, s) && !call)
      return { intent: 'lead_stats', metric: 'conv_to_deal', strong: false };
    if (LOST_DEALS.test(s) && (deal || SALES.test(s) || !call)) {
      const r: Reading = { intent: 'deal_stats', metric: 'lost', strong: true };
      if (T(`\\bна (?:как|котор)[а-я]* (?:\\S+ )?(?:этап|стади)`, s)) r.groupBy = 'stage';
      return r;
    }
    if (OPEN.test(s) && (deal || !call)) {
      if (STAGE_WORD.test(s))
        return { intent: 'deal_stats', metric: 'by_stage', snapshot: true, noGroup: true, strong: true };
      return { intent: 'deal_stats', metric: 'open', snapshot: true, strong: true };
    }
    if (WON.test(s) && (deal || SALES.test(s))) return { intent: 'deal_stats', metric: 'won', strong: true };
    if (MONEY.test(s)) return { intent: 'deal_stats', metric: 'won_amount', strong: true };
    if (SALES.test(s)) return { intent: 'deal_stats', metric: 'won', strong: true };
    if (deal && CREATED.test(s)) return { intent: 'deal_stats', metric: 'created', strong: true };
    return null;
  })();
  if (dealMetric) {
    if (dealMetric.metric === 'won' || dealMetric.metric === 'created' || dealMetric.metric === 'lost') {
      const list = listRecords(s);
      if (list && list.which === 'deals') return { ...list, filter: dealMetric.metric };
    }
    return dealMetric;
  }
  if (deal) {
    const list = listRecords(s);
    if (list) return list;
    return { intent: 'deal_stats', strong: true };
  }

  // Calls
  if (call || group === 'channel' || group === 'client') {
    const r: Reading = { intent: 'calls_stats', strong: call };
    if (TOTAL_TALK.test(s)) r.metric = 'total_talk_time';
    else if (AVG_TALK.test(s)) r.metric = 'avg_talk_time';
    else if (NEW_NUMBERS.test(s)) r.metric = 'new_number_calls';
    else if (NOT_CONNECTED.test(s)) r.metric = 'not_connected';
    else if (CONNECTED.test(s)) r.metric = 'connected';
    else if (ANSWERED.test(s)) r.metric = 'answered';
    else if (INCOMING.test(s)) r.metric = 'incoming';
    else if (OUTGOING.test(s)) r.metric = 'outgoing';
    if (!r.metric) {
      const list = listRecords(s);
      if (list) return list;
    }
    return r;
  }
  if (TOTAL_TALK.test(s) || AVG_TALK.test(s)) {
    return {
      intent: 'calls_stats',
      metric: TOTAL_TALK.test(s) ? 'total_talk_time' : 'avg_talk_time',
      strong: false,
    };
  }
  if (OFF_TOPIC.test(s)) return { intent: 'out_of_scope', strong: true };
  return { intent: null, strong: false };
}

/**
 * A ranking of managers by calls ("кто меньше всех звонил") is a manager
 * efficiency question: that tool has per-manager calls and talk time.
 */
export function callsRankingMetric(s: string): string {
  return TALK_RANK.test(s) ? 'talk_time' : 'calls';
}

/** The METRICS.md code a user asks to explain ("как считается средний чек" → avg_check). */
const EXPLAIN_CODES: [RegExp, string][] = [
  [R(`\\bзабыт[а-я]* (?:\\S+ )?(?:лид|заяв(?:к|ок))`), 'forgotten_leads'],
  [R(`\\bзабыт`), 'forgotten_deals'],
  [R(`\\bбез задач`), 'deals_without_tasks'],
  [R(`\\bконвер(?:си|т)[а-я]* (?:\\S+ ){0,2}(?:в продаж|в оплат)`), 'conv_to_sale'],
  [R(`\\bконверси[а-я]* (?:\\S+ )?(?:по|между) (?:этап|стади)`), 'stage_conversion'],
  [R(`\\bконверси[а-я]* (?:\\S+ )?сделок|\\bвинрейт|\\bwin ?rate`), 'win_rate'],
  [R(`\\bконверси`), 'conv_to_deal'],
  [R(`\\bсредн[а-я]* чек|\\bчек\\b`), 'avg_check'],
  [R(`\\bвыручк[а-я]* (?:с|на) лид`), 'revenue_per_lead'],
  [R(`\\bцикл|\\bдлительност[а-я]* сдел(?:к|ок)`), 'cycle_days'],
  [R(`\\bпрогноз[а-я]* (?:\\S+ )?(?:выполнени|план)`), 'forecast_completion'],
  [R(`\\bпрогноз`), 'forecast_amount'],
  [R(`\\bвыполнени[а-я]* (?:\\S+ )?план|\\bплан`), 'completion'],
  [R(`\\bбалл`), 'score'],
  [R(`\\bэффективн`), 'efficiency'],
  [R(`\\bисполнительн`), 'execution_coefficient'],
  [R(`\\bпросроч`), 'overdue'],
  [R(`\\bпотерянн[а-я]* клиент|\\bпотерянн[а-я]* нов`), 'lost_new_clients'],
  [R(`\\bпотерянн`), 'lost_missed'],
  [R(`\\b(?:время|скорост)[а-я]* (?:\\S+ )?(?:до )?перезвон`), 'callback_delay_median'],
  [R(`\\bперезвон`), 'called_back'],
  [R(`\\bпропущ`), 'missed'],
  [R(`\\bнов[а-я]* номер`), 'new_number_calls'],
  [R(`\\bобщ[а-я]* (?:\\S+ )?(?:время|длительност)`), 'talk_time_total'],
  [R(`\\bдлительност|\\bвремя разговор`), 'talk_time_avg'],
  [R(`\\bнедозвон`), 'not_connected'],
  [R(`\\bдозвон`), 'connected'],
  [R(`\\bскорост[а-я]* (?:\\S+ )?ответ|\\bпервого (?:касани|ответ)`), 'first_response_median'],
  [R(`\\bвремя (?:\\S+ )?обработк|\\bобработк`), 'avg_processing_days'],
  [R(`\\bнекачествен`), 'junk'],
  [R(`\\bкачествен`), 'qualified'],
  [R(`\\bкасани`), 'touch'],
  [R(`\\bготовност`), 'readiness'],
  [R(`\\bриск`), 'churn_risk'],
  [R(`\\bвозражени`), 'objections'],
  [R(`\\bскрипт`), 'script'],
  [R(`\\bцелев`), 'lead_quality'],
  [R(`\\bпрохожден[а-я]* (?:\\S+ )?стади`), 'stage_reach'],
  [R(`\\bвремя (?:\\S+ )?на этап`), 'stage_time'],
  [R(`\\bповторн`), 'won_repeat'],
  [R(`\\bсумм[а-я]* продаж|\\bвыручк`), 'won_amount'],
  [R(`\\bуспешн|\\bвыигр`), 'won'],
  [R(`\\bпровал|\\bпроигр`), 'lost'],
  [R(`\\bв работе`), 'open'],
  [R(`\\bвходящ`), 'incoming'],
  [R(`\\bисходящ`), 'outgoing'],
  [R(`\\bпринят`), 'answered'],
  [R(`\\bпоступ|\\bпришл`), 'received'],
  [R(`\\bзвонк|\\bзвонок`), 'calls'],
];

export function explainCode(s: string): string | undefined {
  return first(EXPLAIN_CODES, s);
}

/** The METRICS.md code behind an answered question, for "откуда эта цифра?" right after it. */
export function codeOfAnswer(intent: ToolIntent, slots: Slots): string | undefined {
  const m = slots.metric;
  const byMetric: Record<string, string> = {
    avg_talk_time: 'talk_time_avg',
    total_talk_time: 'talk_time_total',
    callback_delay: 'callback_delay_median',
    lost_new_client: 'lost_new_clients',
    first_response: 'first_response_median',
    forecast: 'forecast_amount',
    new_vs_repeat: 'won_new',
    talk_time: 'talk_time_avg',
  };
  if (m && intent !== 'plan_progress' && intent !== 'manager_efficiency' && intent !== 'call_quality') {
    return byMetric[m] ?? m;
  }
  switch (intent) {
    case 'calls_stats':
      return 'calls';
    case 'calls_by_time':
      return slots.by === 'weekday' ? 'by_weekday' : 'by_hour';
    case 'missed_calls':
      return 'missed';
    case 'lead_stats':
      return 'received';
    case 'lead_stage_reach':
      return 'stage_reach';
    case 'deal_stats':
      return 'won';
    case 'stage_funnel':
      return 'stage_conversion';
    case 'plan_progress':
      return 'completion';
    case 'manager_efficiency':
      return m === 'calls' ? 'calls' : 'efficiency';
    case 'task_discipline':
      return m ?? 'execution_coefficient';
    case 'call_quality':
      return m?.startsWith('script') ? 'script' : (m ?? 'objections');
    case 'forgotten_deals':
    case 'forgotten_leads':
    case 'deals_without_tasks':
      return intent;
    default:
      return undefined;
  }
}
