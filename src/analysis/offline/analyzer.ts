import type { Analyzer } from '../analyzer.ts';
import {
  CUSTOMER_PAST_ACTION,
  CUSTOMER_QUESTION,
  CUSTOMER_WANTS,
  GREETING,
  isDiscoveryQuestion,
  isQuestion,
  JOB_SEEKER,
  MONEY,
  NOT_OUR_PRICE,
  PRICE_ASK,
  SELF_INTRODUCTION,
  SPAM,
  VENDOR_PITCH,
  WRONG_NUMBER,
} from '../cues.ts';
import {
  type CallBreakdown,
  type CallStage,
  type ChurnRisk,
  callBreakdownSchema,
  type Objection,
  type ObjectionType,
  objectionLabelsRu,
  type Remark,
  readinessBand,
  type ScriptCheck,
  type ScriptStep,
} from '../schema.ts';
import {
  countWords,
  firstMatch,
  fold,
  matches,
  NUMBER_RUN,
  quoteAround,
  type Span,
  sentenceSpans,
} from '../text.ts';
import { isVerbatimQuote, type ParsedTranscript } from '../transcript.ts';
import {
  AFTER_SALE,
  AGREEMENT,
  BRUSH_OFF,
  CHEAPER,
  CHEAPER_REQUEST,
  CLOSING_ACTION,
  CLOSING_SIGNAL,
  CUSTOMER_DETAIL_QUESTION,
  DISAGREEMENT,
  DISCOUNT,
  HANDLING,
  INJECTION,
  NEED_TAGS,
  NEXT_STEP_ACTION,
  NEXT_STEP_TIME,
  NOT_SERVED,
  OBJECTION_CUES,
  OPENING_HOURS,
  PAST_CONTEXT,
  PAST_TENSE,
  PRESENTATION,
  RECAP,
  RECAP_WEAK,
  REFUSAL,
  RELATIVE_CLAUSE,
  REQUEST_CONTEXT,
  RESIGNATION,
  TRUST_QUESTION,
} from './lexicon.ts';

/** Name and version stored with every breakdown this analyzer produces. */
export const OFFLINE_ANALYZER = 'offline@1.0';

export interface AnalyzeOfflineOptions {
  callId: string;
  /** `in` — the client called, `out` — the company called. */
  direction?: 'in' | 'out';
}

type Side = 'company' | 'client' | 'other' | 'unknown';

interface Sentence {
  start: number;
  end: number;
  folded: string;
  question: boolean;
  /** Text addressed to a model ("игнорируй инструкции…"): never used as evidence. */
  injected: boolean;
}

interface Utterance {
  index: number;
  side: Side;
  text: string;
  folded: string;
  sentences: Sentence[];
  words: number;
  /** Offset of the utterance in `parsed.text`. */
  offset: number;
}

interface Hit {
  utterance: Utterance;
  sentence: Sentence;
  /** Span in the utterance text. */
  span: Span;
}

const objectionOrder: Array<Exclude<ObjectionType, 'other'>> = [
  'price',
  'competitor',
  'think',
  'timing',
  'need',
  'trust',
  'authority',
];

/**
 * Разбор звонка without an LLM: Russian lexicons and rules over the parsed
 * transcript. Deterministic, fast, and every quote is cut verbatim from the
 * transcript text.
 */
export function analyzeOffline(parsed: ParsedTranscript, opts: AnalyzeOfflineOptions): CallBreakdown {
  const utterances = toUtterances(parsed);
  const all = utterances.flatMap((u) => u.sentences.map((s) => ({ u, s })));
  const punctuated =
    utterances.filter((u) => /[.!?]/u.test(u.text)).length >= Math.max(1, utterances.length * 0.3);
  const companyKnown = parsed.companySpeaker !== null;
  const isCompany = (u: Utterance): boolean => u.side === 'company' || u.side === 'unknown';
  const isClient = (u: Utterance): boolean => u.side === 'client' || u.side === 'unknown';

  const find = (
    who: (u: Utterance) => boolean,
    test: (s: Sentence, u: Utterance) => Span | null,
    from = 0,
  ): Hit | null => {
    for (const { u, s } of all) {
      if (u.index < from || !who(u) || s.injected) continue;
      const span = test(s, u);
      if (span) return { utterance: u, sentence: s, span };
    }
    return null;
  };
  const inSentence = (re: RegExp) => (s: Sentence) => {
    const m = firstMatch(re, s.folded);
    return m ? { start: s.start + m.start, end: s.start + m.end } : null;
  };
  const whole = (s: Sentence): Span => ({ start: s.start, end: s.end });
  const quoteOf = (hit: Hit): string => quoteAround(hit.utterance.text, hit.span);

  // Lead quality first: objections and script misses mean nothing on a wrong number.
  const spam =
    find(isClient, inSentence(SPAM)) ??
    (opts.direction === 'in' ? find(isClient, inSentence(VENDOR_PITCH)) : null);
  const wrongNumber = find(() => true, inSentence(WRONG_NUMBER));
  const jobSeeker = find(isClient, inSentence(JOB_SEEKER));
  const notServed = find(isCompany, inSentence(NOT_SERVED));
  let leadQuality: CallBreakdown['lead_quality'];
  if (spam) leadQuality = { target: false, reason: 'Спам: рекламный или автоматический звонок' };
  else if (wrongNumber) leadQuality = { target: false, reason: 'Ошиблись номером' };
  else if (jobSeeker) leadQuality = { target: false, reason: 'Соискатель: звонок по поводу работы' };
  else if (notServed)
    leadQuality = { target: false, reason: 'Нецелевой запрос: услуга или регион не обслуживается' };
  else leadQuality = { target: true, reason: '' };

  // Script steps (company side). With no customer on the line (spam, wrong number, job seeker)
  // only the greeting applies.
  const salesCall = leadQuality.target || notServed !== null;
  const greetingHit = findGreeting(utterances, isCompany);
  const needHit = !salesCall
    ? null
    : find(isCompany, (s, u) =>
        isDiscoveryQuestion(s.folded, punctuated, u.side === 'company') && objectionTypesIn(s).length === 0
          ? whole(s)
          : null,
      );
  const priceHit = salesCall ? findPrice(utterances, all, isCompany, isClient) : null;
  const nextStep = salesCall ? findNextStep(utterances, isCompany) : null;
  const recapHit = !salesCall
    ? null
    : find(isCompany, (s, u) => {
        // A recap restates something: a bare «Договорились.» is an acknowledgement.
        if (u.offset + s.start < parsed.text.length * 0.4 || matches(PAST_CONTEXT, s.folded)) return null;
        if (countWords(s.folded) < 3) return null;
        const strong = inSentence(RECAP)(s);
        if (strong) return strong;
        return hasTime(s.folded) || matches(NEXT_STEP_ACTION, s.folded) ? inSentence(RECAP_WEAK)(s) : null;
      });

  const script: Record<ScriptStep, ScriptCheck> = {
    greeting: check(greetingHit && quoteAround(greetingHit.utterance.text, greetingHit.span, 180)),
    need_identified: check(needHit && quoteOf(needHit)),
    price_named: check(priceHit && quoteOf(priceHit)),
    next_step_offered: check(nextStep && quoteAround(nextStep.hit.utterance.text, nextStep.hit.span, 180)),
    summary_agreed: check(recapHit && quoteOf(recapHit)),
  };

  // Objections (client side only), each type once, with whether the company's next reply worked with it.
  const found: Array<{
    type: Exclude<ObjectionType, 'other'>;
    hit: Hit;
    handled: boolean;
    answer: Hit | null;
  }> = [];
  if (leadQuality.target) {
    for (const u of utterances) {
      if (!isClient(u)) continue;
      for (const s of u.sentences) {
        if (s.injected) continue;
        for (const type of objectionTypesIn(s)) {
          if (found.some((f) => f.type === type)) continue;
          const m =
            firstMatch(OBJECTION_CUES[type], s.folded) ??
            firstMatch(type === 'trust' ? TRUST_QUESTION : CHEAPER, s.folded)!;
          const hit: Hit = {
            utterance: u,
            sentence: s,
            span: { start: s.start + m.start, end: s.start + m.end },
          };
          const answer = companyAnswer(utterances, u, s, companyKnown, punctuated);
          found.push({ type, hit, handled: answer !== null, answer });
        }
      }
    }
  }
  found.sort((a, b) => a.hit.utterance.index - b.hit.utterance.index || a.hit.span.start - b.hit.span.start);
  const objections: Objection[] = found.map((f) => ({
    type: f.type,
    quote: quoteOf(f.hit),
    handled: f.handled,
  }));

  // Readiness to buy (готовность купить) from the customer's signals.
  const clientSays = (re: RegExp, questionsOnly = false): Hit | null =>
    find(isClient, (s) => (questionsOnly && !s.question ? null : inSentence(re)(s)));
  // What the customer came for: a stated want, an earlier order, or a question about the product.
  const notObjecting = (re: RegExp, questions: boolean) => (s: Sentence) =>
    s.question === questions && objectionTypesIn(s).length === 0 ? inSentence(re)(s) : null;
  const interest =
    find(isClient, notObjecting(CUSTOMER_WANTS, false)) ??
    find(isClient, notObjecting(CUSTOMER_PAST_ACTION, false)) ??
    find(isClient, notObjecting(CUSTOMER_QUESTION, true));
  const detailQuestion = clientSays(CUSTOMER_DETAIL_QUESTION, true);
  const closingSignal = clientSays(CLOSING_SIGNAL);
  const refusal = clientSays(REFUSAL);
  const lastClient = [...utterances].reverse().find((u) => u.side === 'client');
  const brushOff = lastClient !== undefined && matches(BRUSH_OFF, lastClient.folded);
  const agreed = nextStep !== null && customerAgrees(utterances, nextStep.hit.utterance, companyKnown);

  let readiness = 35;
  if (interest) readiness += 10;
  if (detailQuestion) readiness += 5;
  if (agreed) readiness += 25;
  if (closingSignal) readiness += 15;
  for (const o of found) {
    readiness -= 7;
    if (!o.handled) readiness -= 6;
    if (o.type === 'need') readiness -= 12;
  }
  if (refusal) readiness -= 15;
  if (brushOff) readiness -= 5;
  readiness = leadQuality.target ? clamp(Math.round(readiness), 3, 97) : 5;

  const unhandled = found.filter((o) => !o.handled);
  let churnRisk: ChurnRisk;
  if (!leadQuality.target) churnRisk = 'low';
  else if (
    readiness < 35 ||
    refusal ||
    unhandled.some((o) => o.type === 'need' || o.type === 'competitor') ||
    (unhandled.length > 0 && !agreed)
  )
    churnRisk = 'high';
  else if (agreed && unhandled.length === 0 && readiness >= 60) churnRisk = 'low';
  else churnRisk = 'medium';

  // Stage (стадия): the furthest one the conversation reached.
  let stage: CallStage = 'first_contact';
  if (leadQuality.target) {
    const companyText = utterances.filter(isCompany);
    if (clientSays(AFTER_SALE) || find(isCompany, inSentence(/гарантийн[а-я]* случа[а-я]*/g)))
      stage = 'after_sale';
    else if (closingSignal || (agreed && nextStep && matches(CLOSING_ACTION, nextStep.hit.sentence.folded)))
      stage = 'closing';
    else if (
      found.some((o) => o.type === 'price' || o.type === 'competitor') ||
      (priceHit && find(() => true, inSentence(DISCOUNT), priceHit.utterance.index))
    )
      stage = 'price_negotiation';
    else if (priceHit || companyText.some((u) => u.words >= 25 || matches(PRESENTATION, u.folded)))
      stage = 'presentation';
    else if (needHit) stage = 'needs_discovery';
  }

  // What the manager did well and missed, each with a quote where one proves it.
  const strengths: Remark[] = [];
  const misses: Remark[] = [];
  // One reply often answers several objections at once: one strength per reply.
  const answers = new Map<string, string[]>();
  for (const o of found) {
    if (!o.handled || !o.answer) continue;
    const quote = quoteOf(o.answer);
    answers.set(quote, [...(answers.get(quote) ?? []), `«${objectionLabelsRu[o.type]}»`]);
  }
  for (const [quote, labels] of answers) {
    const text =
      labels.length === 1 ? `Отработал возражение ${labels[0]}` : `Отработал возражения ${labels.join(', ')}`;
    strengths.push({ text, quote });
  }
  if (script.next_step_offered.done)
    strengths.push({ text: 'Предложил конкретный следующий шаг', quote: script.next_step_offered.quote });
  if (script.need_identified.done)
    strengths.push({ text: 'Выявлял потребность вопросами', quote: script.need_identified.quote });
  if (script.summary_agreed.done)
    strengths.push({ text: 'Проговорил итог и договорённости', quote: script.summary_agreed.quote });
  if (script.price_named.done) strengths.push({ text: 'Назвал цену', quote: script.price_named.quote });
  if (script.greeting.done)
    strengths.push({ text: 'Поздоровался и представился', quote: script.greeting.quote });

  if (leadQuality.target) {
    for (const o of unhandled) {
      misses.push({ text: `Не отработал возражение «${objectionLabelsRu[o.type]}»`, quote: quoteOf(o.hit) });
    }
    if (!script.next_step_offered.done)
      misses.push({ text: 'Не предложил конкретный следующий шаг с датой', quote: null });
    if (!script.need_identified.done)
      misses.push({ text: 'Не задал вопросов о потребности клиента', quote: null });
    const priceAsked = find(isClient, (s) => (s.question && matches(PRICE_ASK, s.folded) ? whole(s) : null));
    if (!script.price_named.done && priceAsked) {
      misses.push({ text: 'Клиент спросил цену, а цена не названа', quote: quoteOf(priceAsked) });
    }
    if (!script.greeting.done) {
      const opening = utterances.find((u) => u.side === 'company' && u.sentences.length > 0);
      misses.push({
        text: 'Не поздоровался и не назвал компанию',
        quote: opening
          ? quoteAround(opening.text, {
              start: opening.sentences[0]!.start,
              end: opening.sentences[0]!.start + 1,
            })
          : null,
      });
    }
    if (script.next_step_offered.done && !script.summary_agreed.done) {
      misses.push({ text: 'Не подвёл итог договорённостей', quote: null });
    }
  }

  // Needs (потребности) as tags: what the customer said, and the request the company restated.
  const needs: string[] = [];
  if (leadQuality.target) {
    const sources = all.filter(
      ({ u, s }) => !s.injected && (isClient(u) || matches(REQUEST_CONTEXT, s.folded)) && u.side !== 'other',
    );
    for (const [tag, re] of NEED_TAGS) {
      if (needs.length < 6 && sources.some(({ s }) => matches(re, s.folded))) needs.push(tag);
    }
  }
  if (leadQuality.target) {
    leadQuality = {
      target: true,
      reason: interest
        ? `Клиент обсуждает покупку${needs.length ? `: ${needs.slice(0, 3).join(', ')}` : ''}`
        : 'Нет признаков нецелевого обращения',
    };
  }

  const nextStepText = recommendNextStep({
    target: leadQuality.target,
    reason: leadQuality.reason,
    agreed,
    agreedQuote: script.summary_agreed.quote ?? script.next_step_offered.quote,
    unhandled: unhandled.map((o) => o.type),
    objections: found.map((o) => o.type),
    stage,
  });

  const summary = summarize({
    direction: opts.direction,
    leadQuality,
    greeting: script.greeting.quote,
    want: interest ? quoteOf(interest) : firstClientSentence(utterances),
    objections: found.map((o) => o.type),
    outcome: agreed ? (script.summary_agreed.quote ?? script.next_step_offered.quote) : null,
    offered: script.next_step_offered.quote,
  });

  const companyWords = utterances.filter((u) => u.side === 'company').reduce((a, u) => a + u.words, 0);
  const totalWords = utterances.reduce((a, u) => a + u.words, 0);

  const breakdown: CallBreakdown = {
    call_id: opts.callId,
    analyzer: OFFLINE_ANALYZER,
    confidence: confidenceOf(
      parsed,
      totalWords,
      punctuated,
      found.length + Object.values(script).filter((c) => c.done).length,
    ),
    company_speaker: parsed.companySpeaker,
    summary,
    readiness,
    readiness_band: readinessBand(readiness),
    churn_risk: churnRisk,
    stage,
    objections,
    script,
    strengths: strengths.slice(0, 3),
    misses: misses.slice(0, 3),
    next_step: nextStepText,
    needs,
    lead_quality: leadQuality,
    talk_ratio: companyKnown && totalWords > 0 ? Math.round((companyWords / totalWords) * 100) / 100 : null,
  };
  return callBreakdownSchema.parse(dropUnverifiedQuotes(breakdown, parsed));
}

function toUtterances(parsed: ParsedTranscript): Utterance[] {
  let offset = 0;
  return parsed.segments.map((seg, index) => {
    const folded = fold(seg.text);
    const side: Side =
      parsed.companySpeaker === null
        ? 'unknown'
        : seg.speaker === parsed.companySpeaker
          ? 'company'
          : seg.role === 'other'
            ? 'other'
            : 'client';
    const sentences = sentenceSpans(seg.text).map((span) => {
      const f = folded.slice(span.start, span.end);
      return { ...span, folded: f, question: isQuestion(f), injected: matches(INJECTION, f) };
    });
    const u: Utterance = {
      index,
      side,
      text: seg.text,
      folded,
      sentences,
      words: countWords(seg.text),
      offset,
    };
    offset += seg.text.length + 1;
    return u;
  });
}

function check(quote: string | null | undefined | false): ScriptCheck {
  return quote ? { done: true, quote } : { done: false, quote: null };
}

/** Hello and a self-introduction in one of the company's first two utterances (or the opening of plain text). */
function findGreeting(utterances: Utterance[], isCompany: (u: Utterance) => boolean): Hit | null {
  const opening = utterances.filter(isCompany).slice(0, 2);
  for (const u of opening) {
    const limit = u.side === 'unknown' ? Math.min(u.folded.length, 250) : u.folded.length;
    const hello = firstMatch(GREETING, u.folded, 0, limit);
    if (!hello) continue;
    const sentence = u.sentences.find((s) => hello.start >= s.start && hello.start < s.end);
    if (!sentence || sentence.injected) continue;
    // The introduction may come just before the hello («Окна Плюс», здравствуйте) or after it.
    // Without speakers the next sentence may already be the other person's.
    const from = u.side === 'unknown' ? sentence.start : Math.max(0, hello.start - 60);
    const to = u.side === 'unknown' ? sentence.end : Math.min(limit, hello.end + 160);
    const intro = firstMatch(SELF_INTRODUCTION, u.folded, from, to);
    if (!intro) continue;
    const start = Math.min(hello.start, intro.start);
    const end = Math.max(hello.end, intro.end);
    return { utterance: u, sentence, span: { start, end } };
  }
  return null;
}

/** A money amount the company states (not a salary, the client's budget or a rival's price). */
function findPrice(
  utterances: Utterance[],
  all: Array<{ u: Utterance; s: Sentence }>,
  isCompany: (u: Utterance) => boolean,
  isClient: (u: Utterance) => boolean,
): Hit | null {
  for (let k = 0; k < all.length; k++) {
    const { u, s } = all[k]!;
    if (!isCompany(u) || s.injected || s.question) continue;
    const m = firstMatch(MONEY, s.folded) ?? bareAmountAfterPriceQuestion(all, k, isClient);
    if (!m || matches(NOT_OUR_PRICE, s.folded)) continue;
    const previous = utterances[u.index - 1];
    if (
      previous &&
      isClient(previous) &&
      previous !== u &&
      matches(/зарплат|оклад|заработ/u, previous.folded)
    )
      continue;
    return { utterance: u, sentence: s, span: { start: s.start + m.start, end: s.start + m.end } };
  }
  return null;
}

const BARE_AMOUNT = new RegExp(`^(?:от\\s+|около\\s+|примерно\\s+)?${NUMBER_RUN}[.!…]?$`, 'u');

/** «Сколько стоит замена экрана?» — «Восемь пятьсот.»: a bare number answering a price question. */
function bareAmountAfterPriceQuestion(
  all: Array<{ u: Utterance; s: Sentence }>,
  k: number,
  isClient: (u: Utterance) => boolean,
): Span | null {
  const { s } = all[k]!;
  const previous = all[k - 1];
  if (!previous || !isClient(previous.u) || !matches(PRICE_ASK, previous.s.folded)) return null;
  return BARE_AMOUNT.test(s.folded) ? { start: 0, end: s.folded.length } : null;
}

/** A concrete action (замер, встреча, КП, звонок…) tied to a time in the same or the next sentence. */
function findNextStep(utterances: Utterance[], isCompany: (u: Utterance) => boolean): { hit: Hit } | null {
  for (const u of utterances) {
    if (!isCompany(u)) continue;
    for (let i = 0; i < u.sentences.length; i++) {
      const s = u.sentences[i]!;
      if (s.injected || matches(PAST_CONTEXT, s.folded) || !matches(NEXT_STEP_ACTION, s.folded)) continue;
      if (hasTime(s.folded))
        return { hit: { utterance: u, sentence: s, span: { start: s.start, end: s.end } } };
      const next = u.sentences[i + 1];
      if (next && !next.injected && hasTime(next.folded)) {
        return { hit: { utterance: u, sentence: s, span: { start: s.start, end: next.end } } };
      }
    }
  }
  return null;
}

function hasTime(folded: string): boolean {
  return matches(
    NEXT_STEP_TIME,
    folded.replace(OPENING_HOURS, (m) => ' '.repeat(m.length)),
  );
}

/** Objection types voiced in one customer sentence. */
function objectionTypesIn(s: Sentence): Array<Exclude<ObjectionType, 'other'>> {
  const types: Array<Exclude<ObjectionType, 'other'>> = [];
  for (const type of objectionOrder) {
    const m = firstMatch(OBJECTION_CUES[type], s.folded);
    // «Через месяц сгорела»: a time phrase in a story about the past is not a deferral.
    if (type === 'timing' && m && (matches(PAST_CONTEXT, s.folded) || PAST_TENSE.test(s.folded))) continue;
    if (type === 'need' && m && matches(RELATIVE_CLAUSE, s.folded.slice(Math.max(0, m.start - 30), m.start)))
      continue;
    if (m && !negated(s.folded, m.start)) types.push(type);
    else if (type === 'trust' && s.question && matches(TRUST_QUESTION, s.folded)) types.push(type);
  }
  // «У дилера в соседнем городе дешевле»: someone else is cheaper — unless it is a request for a lower price.
  if (
    !types.includes('competitor') &&
    !s.question &&
    matches(CHEAPER, s.folded) &&
    !matches(CHEAPER_REQUEST, s.folded)
  ) {
    types.push('competitor');
  }
  return types;
}

function negated(folded: string, at: number): boolean {
  const before = folded.slice(Math.max(0, at - 4), at);
  return /(?:^|[^a-zа-я])(?:не|ни)\s$/.test(before);
}

/**
 * The company's reply to an objection, when it works with it: the company's
 * next utterance (another party may speak in between) or, in plain text
 * without speakers, the next sentence.
 */
function companyAnswer(
  utterances: Utterance[],
  u: Utterance,
  s: Sentence,
  companyKnown: boolean,
  punctuated: boolean,
): Hit | null {
  if (!companyKnown) {
    const i = u.sentences.indexOf(s);
    const next = u.sentences.slice(i + 1).find((n) => !n.injected && objectionTypesIn(n).length === 0);
    return next ? handlingIn(u, next, punctuated) : null;
  }
  // Another person on the client's side may first add to the objection (a spouse); if they
  // say something else, the conversation has moved on without the company answering.
  for (let j = u.index + 1; j < Math.min(utterances.length, u.index + 4); j++) {
    const reply = utterances[j]!;
    if (reply.side === 'client' && !reply.sentences.some((x) => objectionTypesIn(x).length > 0)) return null;
    if (reply.side !== 'company') continue;
    const sentences = reply.sentences.filter((x) => !x.injected);
    const text = sentences.map((x) => x.folded).join(' ');
    const question = sentences.some((x) => x.question);
    const n = countWords(text);
    if (n < (question ? 4 : 5)) return null;
    if (matches(RESIGNATION, text) && n < 10) return null;
    for (const x of sentences) {
      const hit = handlingIn(reply, x, punctuated);
      if (hit) return hit;
    }
    return null;
  }
  return null;
}

/** An argument, a concrete step or a clarifying question in one sentence of the reply. */
function handlingIn(u: Utterance, s: Sentence, punctuated: boolean): Hit | null {
  if (isDiscoveryQuestion(s.folded, punctuated, true))
    return { utterance: u, sentence: s, span: { start: s.start, end: s.end } };
  const m = firstMatch(HANDLING, s.folded) ?? firstMatch(NEXT_STEP_ACTION, s.folded);
  return m ? { utterance: u, sentence: s, span: { start: s.start + m.start, end: s.start + m.end } } : null;
}

/** The customer's next utterance after a proposed step says yes (or proposes another time). */
function customerAgrees(utterances: Utterance[], offer: Utterance, companyKnown: boolean): boolean {
  if (!companyKnown) {
    const rest = offer.folded.slice(offer.folded.length - 120);
    return matches(AGREEMENT, rest);
  }
  for (let j = offer.index + 1; j < Math.min(utterances.length, offer.index + 5); j++) {
    const reply = utterances[j]!;
    if (reply.side !== 'client') continue;
    if (!matches(AGREEMENT, reply.folded)) return false;
    return !matches(DISAGREEMENT, reply.folded) || matches(NEXT_STEP_TIME, reply.folded);
  }
  return false;
}

function firstClientSentence(utterances: Utterance[]): string | null {
  for (const u of utterances) {
    if (u.side !== 'client') continue;
    const s = u.sentences.find((x) => !x.injected && countWords(u.text.slice(x.start, x.end)) >= 3);
    if (s) return quoteAround(u.text, { start: s.start, end: s.end });
  }
  return null;
}

const objectionWordsRu: Record<Exclude<ObjectionType, 'other'>, string> = {
  price: 'цена',
  competitor: 'конкуренты',
  think: '«подумаю»',
  timing: '«не сейчас»',
  need: '«не нужно»',
  trust: 'недоверие',
  authority: 'нужно согласовать',
};

function summarize(x: {
  direction: 'in' | 'out' | undefined;
  leadQuality: CallBreakdown['lead_quality'];
  greeting: string | null;
  want: string | null;
  objections: Array<Exclude<ObjectionType, 'other'>>;
  outcome: string | null;
  offered: string | null;
}): string {
  const kind =
    x.direction === 'in' ? 'Входящий звонок' : x.direction === 'out' ? 'Исходящий звонок' : 'Звонок';
  const sentences: string[] = [];
  sentences.push(x.greeting ? `${kind}, менеджер: «${short(x.greeting)}».` : `${kind}.`);
  if (!x.leadQuality.target) {
    sentences.push(`${x.leadQuality.reason}.`);
    if (x.want) sentences.push(`Собеседник: «${short(x.want)}».`);
    return sentences.join(' ');
  }
  if (x.want) sentences.push(`Клиент: «${short(x.want)}».`);
  if (x.objections.length > 0)
    sentences.push(`Возражения: ${x.objections.map((t) => objectionWordsRu[t]).join(', ')}.`);
  if (x.outcome) sentences.push(`Договорились: «${short(x.outcome)}».`);
  else if (x.offered) sentences.push(`Менеджер предложил: «${short(x.offered)}», согласия клиента нет.`);
  else sentences.push('Следующий шаг не назначен.');
  return sentences.slice(0, 4).join(' ');
}

function short(quote: string): string {
  const q = quote.replace(/[.!?…]+$/u, '');
  if (q.length <= 120) return q;
  return `${q.slice(0, 117).replace(/\s+\S*$/u, '')}…`;
}

const pushByObjection: Record<Exclude<ObjectionType, 'other'>, string> = {
  price:
    'Перезвонить и показать ценность: из чего складывается цена, предложить вариант дешевле, рассрочку или акцию.',
  competitor:
    'Перезвонить со сравнением с предложением конкурента: что входит в цену, гарантия, сроки — и назначить встречу.',
  think: 'Перезвонить через 1–2 дня, выяснить, что именно смущает, и предложить конкретный шаг с датой.',
  timing: 'Поставить задачу перезвонить в срок, который назвал клиент, и заранее зафиксировать условия.',
  need: 'Уточнить, актуальна ли потребность; если нет — закрыть лид с причиной «не нужно».',
  trust: 'Отправить отзывы, примеры работ и условия гарантии, затем созвониться и назначить встречу.',
  authority:
    'Отправить материалы для согласования и договориться о звонке или встрече вместе с тем, кто принимает решение.',
};

function recommendNextStep(x: {
  target: boolean;
  reason: string;
  agreed: boolean;
  agreedQuote: string | null;
  unhandled: Array<Exclude<ObjectionType, 'other'>>;
  objections: Array<Exclude<ObjectionType, 'other'>>;
  stage: CallStage;
}): string {
  if (!x.target) return `Закрыть обращение как нецелевое (${x.reason.toLowerCase()}).`;
  if (x.agreed && x.agreedQuote) {
    return `Выполнить договорённость («${short(x.agreedQuote)}») и накануне напомнить клиенту.`;
  }
  const main = x.unhandled[0] ?? x.objections[0];
  if (main) return pushByObjection[main];
  if (x.stage === 'after_sale')
    return 'Проконтролировать решение вопроса клиента и перезвонить, чтобы убедиться, что всё в порядке.';
  return 'Перезвонить в течение дня и назначить конкретный следующий шаг с датой: замер, встречу или КП.';
}

/**
 * Lower when the evidence is thin: a short call, no speakers, a company side
 * inferred from content, unpunctuated text, a very long meandering call.
 */
function confidenceOf(parsed: ParsedTranscript, words: number, punctuated: boolean, cues: number): number {
  let c = 0.9;
  const side = parsed.sideInference;
  if (side.method === 'none') c *= 0.6;
  else if (side.method === 'inferred') c *= 0.55 + 0.45 * side.confidence;
  if (words < 40) c *= 0.6;
  else if (words < 80) c *= 0.8;
  else if (words < 150) c *= 0.9;
  else if (words > 3000) c *= 0.75;
  if (!punctuated) c *= 0.85;
  if (cues === 0) c *= 0.85;
  return Math.round(clamp(c, 0.05, 0.95) * 100) / 100;
}

function clamp(x: number, lo: number, hi: number): number {
  return Math.min(hi, Math.max(lo, x));
}

/** A last guard for the contract: a quote that is not verbatim is dropped rather than stored. */
function dropUnverifiedQuotes(b: CallBreakdown, parsed: ParsedTranscript): CallBreakdown {
  const ok = (q: string | null): string | null => (q !== null && isVerbatimQuote(parsed, q) ? q : null);
  const script = Object.fromEntries(
    Object.entries(b.script).map(([k, v]) => {
      const quote = ok(v.quote);
      return [k, { done: v.done && quote !== null, quote }];
    }),
  ) as CallBreakdown['script'];
  return {
    ...b,
    objections: b.objections.filter((o) => ok(o.quote) !== null),
    script,
    strengths: b.strengths.map((r) => ({ ...r, quote: ok(r.quote) })),
    misses: b.misses.map((r) => ({ ...r, quote: ok(r.quote) })),
  };
}

/** The offline analyzer behind the common `Analyzer` interface (the pipeline's default). */
export const offlineAnalyzer: Analyzer = {
  name: OFFLINE_ANALYZER,
  analyze: async (parsed, opts) => analyzeOffline(parsed, opts),
};
