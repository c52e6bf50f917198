import {
  COMPANY_OFFER,
  CUSTOMER_PAST_ACTION,
  CUSTOMER_QUESTION,
  CUSTOMER_WANTS,
  GREETING,
  isDiscoveryQuestion,
  isQuestion,
  JOB_SEEKER,
  MONEY,
  NOT_OUR_PRICE,
  SELF_INTRODUCTION,
  SPAM,
  VENDOR_PITCH,
  WRONG_NUMBER,
} from './cues.ts';
import { countWords, fold, matches, rx, sentenceSpans } from './text.ts';
import type { SpeakerRole } from './transcript.ts';

/** How the company side (сторона компании) of a call was decided, stored with the analysis. */
export interface CompanySideInference {
  /** `roles` — the role labels were consistent and used; `inferred` — decided from the content; `none` — no speakers. */
  method: 'roles' | 'inferred' | 'none';
  companySpeaker: string | null;
  /** 0..1. */
  confidence: number;
  /** Short Russian reasons, for `/explain` and logs. */
  reasons: string[];
}

interface Utterance {
  speaker: string;
  text: string;
}

/** Words a customer uses when objecting; a light signal of the customer side. */
const OBJECTION_WORDS = rx(
  'дорого',
  'дороговат*',
  'подумаю',
  'подумаем',
  'не интересно',
  'не нужно',
  'посоветоваться',
  'согласовать',
  'дешевле',
);

interface Evidence {
  company: number;
  customer: number;
  reasons: string[];
}

/**
 * Decides which speaker is the company (TRANSCRIPTS.md): role labels when
 * they are consistent and the content does not clearly contradict them;
 * otherwise the call's direction, who introduces the company, asks the
 * discovery questions, names prices and offers next steps, and talk share.
 */
export function inferCompanySide(
  utterances: Utterance[],
  hints: ReadonlyMap<string, SpeakerRole | null>,
  direction?: 'in' | 'out',
): CompanySideInference {
  const speakers = [...new Set(utterances.map((u) => u.speaker))];
  if (speakers.length === 0) {
    return { method: 'none', companySpeaker: null, confidence: 0, reasons: ['пустая расшифровка'] };
  }
  const wordsOf = new Map<string, number>();
  for (const u of utterances) wordsOf.set(u.speaker, (wordsOf.get(u.speaker) ?? 0) + countWords(u.text));
  const total = [...wordsOf.values()].reduce((a, b) => a + b, 0) || 1;
  const evidence = collectEvidence(utterances, speakers, wordsOf, total, direction);
  const net = (s: string): number => evidence.get(s)!.company - evidence.get(s)!.customer;
  const main = speakers.filter((s) => (wordsOf.get(s) ?? 0) / total >= 0.05);
  const byContent = [...speakers].sort((a, b) => net(b) - net(a));
  const best = byContent[0]!;

  const hintedManagers = main.filter((s) => hints.get(s) === 'manager');
  const consistent =
    main.length > 0 &&
    hintedManagers.length === 1 &&
    main.every((s) => hints.get(s)) &&
    main.some((s) => hints.get(s) !== 'manager');

  if (consistent) {
    const labelled = hintedManagers[0]!;
    if (best === labelled || net(best) - net(labelled) < 4) {
      return {
        method: 'roles',
        companySpeaker: labelled,
        confidence: best === labelled ? 0.95 : 0.8,
        reasons: [`роли из разметки: ${labelled} — менеджер`, ...evidence.get(labelled)!.reasons].slice(0, 4),
      };
    }
  }

  const prior = (s: string): number => {
    const hint = hints.get(s);
    if (hint === 'manager') return 1.5;
    if (hint === 'client') return -1.5;
    if (hint === 'other') return -1;
    return 0;
  };
  const ranked = [...speakers].sort((a, b) => net(b) + prior(b) - (net(a) + prior(a)));
  const top = ranked[0]!;
  const topScore = net(top) + prior(top);
  const second = ranked[1];
  const margin = second === undefined ? topScore : topScore - (net(second) + prior(second));
  if (margin <= 0 && second === undefined) {
    return {
      method: 'inferred',
      companySpeaker: null,
      confidence: 0,
      reasons: ['один говорящий без признаков компании'],
    };
  }
  if (margin <= 0) {
    const talker = [...speakers].sort((a, b) => (wordsOf.get(b) ?? 0) - (wordsOf.get(a) ?? 0))[0]!;
    return {
      method: 'inferred',
      companySpeaker: talker,
      confidence: 0.3,
      reasons: ['нет признаков стороны компании: выбран говорящий с наибольшей долей речи'],
    };
  }
  let confidence = 0.5 + 0.45 * (1 - Math.exp(-margin / 3));
  const reasons: string[] = [];
  const hinted = speakers.filter((s) => hints.get(s));
  if (hinted.length > 0) {
    reasons.push(
      consistent
        ? `разметка ролей противоречит содержанию: компания — ${top}`
        : 'разметка ролей неполная или противоречивая, сторона определена по содержанию',
    );
    confidence = Math.min(confidence, 0.85);
  }
  reasons.push(...evidence.get(top)!.reasons);
  const share = (wordsOf.get(top) ?? 0) / total;
  reasons.push(`доля речи ${top} — ${Math.round(share * 100)}%`);
  return {
    method: 'inferred',
    companySpeaker: top,
    confidence: round2(confidence),
    reasons: reasons.slice(0, 5),
  };
}

function collectEvidence(
  utterances: Utterance[],
  speakers: string[],
  wordsOf: ReadonlyMap<string, number>,
  total: number,
  direction: 'in' | 'out' | undefined,
): Map<string, Evidence> {
  const punctuated =
    utterances.filter((u) => /[.!?]/u.test(u.text)).length >= Math.max(1, utterances.length * 0.3);
  const counters = new Map<string, Record<string, number>>();
  const bump = (speaker: string, key: string): void => {
    const c = counters.get(speaker) ?? {};
    c[key] = (c[key] ?? 0) + 1;
    counters.set(speaker, c);
  };
  const seenUtterances = new Map<string, number>();

  for (const u of utterances) {
    const nth = seenUtterances.get(u.speaker) ?? 0;
    seenUtterances.set(u.speaker, nth + 1);
    const folded = fold(u.text);
    if (nth < 2 && matches(SELF_INTRODUCTION, folded.slice(0, 200))) {
      bump(u.speaker, 'intro');
      if (matches(GREETING, folded.slice(0, 200))) bump(u.speaker, 'greeting');
    }
    for (const span of sentenceSpans(u.text)) {
      const s = folded.slice(span.start, span.end);
      if (isDiscoveryQuestion(s, punctuated)) bump(u.speaker, 'discovery');
      if (!isQuestion(s) && matches(MONEY, s) && !matches(NOT_OUR_PRICE, s)) bump(u.speaker, 'price');
      if (matches(COMPANY_OFFER, s)) bump(u.speaker, 'offer');
      if (isQuestion(s) && matches(CUSTOMER_QUESTION, s)) bump(u.speaker, 'asks');
      if (!isQuestion(s) && matches(CUSTOMER_WANTS, s)) bump(u.speaker, 'wants');
      if (matches(CUSTOMER_PAST_ACTION, s)) bump(u.speaker, 'past');
      if (matches(OBJECTION_WORDS, s)) bump(u.speaker, 'objects');
      if (matches(JOB_SEEKER, s) || matches(WRONG_NUMBER, s)) bump(u.speaker, 'outsider');
      if (direction !== 'out' && matches(SPAM, s)) bump(u.speaker, 'spam');
      if (direction === 'in' && matches(VENDOR_PITCH, s)) bump(u.speaker, 'spam');
    }
  }

  const first = utterances[0]?.speaker;
  const totals: Record<string, number> = {};
  for (const c of counters.values()) for (const [k, v] of Object.entries(c)) totals[k] = (totals[k] ?? 0) + v;
  // Each cue's weight is split between speakers by their share of its occurrences, so a
  // long monologue does not win by volume alone and a short call still counts fully.
  const shareOf = (c: Record<string, number>, key: string): number =>
    totals[key] ? (c[key] ?? 0) / totals[key]! : 0;

  const out = new Map<string, Evidence>();
  for (const speaker of speakers) {
    const c = counters.get(speaker) ?? {};
    const reasons: string[] = [];
    let company = 0;
    let customer = 0;
    if ((c.intro ?? 0) > 0) {
      company += 3 + ((c.greeting ?? 0) > 0 ? 1 : 0);
      reasons.push(`${speaker} представляется и называет компанию`);
    }
    const discovery = shareOf(c, 'discovery');
    if (discovery >= 0.5) reasons.push(`${speaker} задаёт вопросы о потребности`);
    const price = shareOf(c, 'price');
    if (price >= 0.5) reasons.push(`${speaker} называет цену`);
    company += 3 * discovery + 3 * price + 2 * shareOf(c, 'offer');
    customer +=
      3 * shareOf(c, 'asks') +
      3 * shareOf(c, 'wants') +
      2 * shareOf(c, 'past') +
      2 * shareOf(c, 'objects') +
      3 * shareOf(c, 'outsider') +
      3 * shareOf(c, 'spam');
    if (speaker === first && direction === 'in') {
      company += 2.5;
      reasons.push('входящий звонок: первой отвечает компания');
    }
    if (speaker === first && direction === 'out') customer += 2.5;
    company += 1.5 * ((wordsOf.get(speaker) ?? 0) / total);
    out.set(speaker, { company, customer, reasons });
  }
  return out;
}

function round2(x: number): number {
  return Math.round(x * 100) / 100;
}
