import petrovich from 'petrovich';
import { fold, type Token, TypoIndex } from './text.ts';
import type { NamedRecord } from './types.ts';

type Gender = 'male' | 'female';
type Part = 'first' | 'last';

const CASES = ['nominative', 'genitive', 'dative', 'accusative', 'instrumental', 'prepositional'] as const;

/** First names ending in -а/-я that are male. */
const MALE_A_NAMES = new Set([
  'никита',
  'илья',
  'кузьма',
  'фома',
  'лука',
  'савва',
  'фока',
  'данила',
  'гаврила',
  'миша',
  'саша',
  'паша',
  'дима',
  'леша',
  'алеша',
  'сережа',
  'вова',
  'володя',
  'ваня',
  'коля',
  'женя',
  'костя',
  'гриша',
  'рома',
  'толя',
  'витя',
  'петя',
  'юра',
  'слава',
  'стас',
  'тема',
]);
/** Female first names ending in a soft sign. */
const FEMALE_SOFT_NAMES = new Set(['любовь', 'нинель', 'адель', 'эстель', 'рахиль', 'юдифь']);

/** Everyday short forms of first names: people write "у Лёши", "по Оле". */
const SHORT_FORMS: Record<string, string[]> = {
  александр: ['саша', 'шура'],
  александра: ['саша'],
  алексей: ['леша', 'алеша'],
  анастасия: ['настя'],
  анатолий: ['толя'],
  андрей: ['андрюша'],
  анна: ['аня'],
  артем: ['тема'],
  валентина: ['валя'],
  виктор: ['витя'],
  виктория: ['вика'],
  владимир: ['вова', 'володя'],
  вячеслав: ['слава'],
  галина: ['галя'],
  григорий: ['гриша'],
  дмитрий: ['дима'],
  евгений: ['женя'],
  евгения: ['женя'],
  екатерина: ['катя'],
  елена: ['лена'],
  иван: ['ваня'],
  ирина: ['ира'],
  константин: ['костя'],
  ксения: ['ксюша'],
  людмила: ['люда'],
  мария: ['маша'],
  михаил: ['миша'],
  надежда: ['надя'],
  наталья: ['наташа'],
  наталия: ['наташа'],
  николай: ['коля'],
  ольга: ['оля'],
  павел: ['паша'],
  петр: ['петя'],
  роман: ['рома'],
  сергей: ['сережа'],
  светлана: ['света'],
  станислав: ['стас'],
  татьяна: ['таня'],
  юлия: ['юля'],
  юрий: ['юра'],
};

/** Name forms that are also everyday words; they count as names only when capitalised. */
const AMBIGUOUS_WORDS = new Set([
  'вера',
  'веры',
  'вере',
  'веру',
  'верой',
  'надежда',
  'надежды',
  'надежду',
  'любовь',
  'роман',
  'романа',
  'лев',
  'льва',
  'мир',
  'слава',
  'славы',
  'марка',
  'марку',
  'марк',
]);

const FEMALE_SURNAME = /(ова|ева|ина|ына|ая|ская|цкая)$/;
const MALE_SURNAME = /(ов|ев|ин|ын|ский|цкий|ой|ий)$/;

function looksLikePatronymic(w: string): boolean {
  return /(вич|ич|вна|чна|шна)$/.test(w);
}

interface Person {
  first: string;
  last: string | null;
  gender: Gender;
}

/** Splits a display name into first name and surname and guesses the gender. */
function person(displayName: string): Person {
  const parts = fold(displayName)
    .split(/\s+/)
    .filter((p) => p.length > 0);
  let first = parts[0] ?? '';
  let last: string | null = null;
  let middle: string | null = null;
  if (parts.length === 2) {
    const [a, b] = parts as [string, string];
    // "Чуркин Алексей": surname first when the second word is a known first name and the first is not.
    if (isKnownFirstName(b) && !isKnownFirstName(a)) {
      first = b;
      last = a;
    } else {
      first = a;
      last = b;
    }
  } else if (parts.length >= 3) {
    const [a, b, c] = parts as [string, string, string];
    if (looksLikePatronymic(c)) {
      last = a;
      first = b;
      middle = c;
    } else {
      first = a;
      middle = looksLikePatronymic(b) ? b : null;
      last = c;
    }
  }
  let gender: Gender;
  const byMiddle = middle ? petrovich.detect_gender(middle) : 'androgynous';
  if (byMiddle !== 'androgynous') gender = byMiddle;
  else if (last && FEMALE_SURNAME.test(last)) gender = 'female';
  else if (last && MALE_SURNAME.test(last)) gender = 'male';
  else if (FEMALE_SOFT_NAMES.has(first)) gender = 'female';
  else if (/[ая]$/.test(first) && !MALE_A_NAMES.has(first)) gender = 'female';
  else gender = 'male';
  return { first, last, gender };
}

function isKnownFirstName(w: string): boolean {
  return w in SHORT_FORMS || MALE_A_NAMES.has(w) || FEMALE_SOFT_NAMES.has(w) || COMMON_FIRST_NAMES.has(w);
}

const COMMON_FIRST_NAMES = new Set([
  'игорь',
  'марина',
  'олег',
  'антон',
  'денис',
  'максим',
  'кирилл',
  'вадим',
  'илья',
  'никита',
  'егор',
  'глеб',
  'борис',
  'федор',
  'тимур',
  'руслан',
  'артур',
  'эдуард',
  'леонид',
  'степан',
  'арина',
  'алина',
  'полина',
  'дарья',
  'софья',
  'вероника',
  'кристина',
  'оксана',
  'жанна',
  'лариса',
  'нина',
  'зоя',
  'тамара',
  'майя',
  'диана',
  'эльвира',
]);

/** Drops one inflectional ending; the crude fallback when no exact form matched. */
export function stemName(w: string): string {
  const m = /(ыми|ими|ами|ями|ого|его|ому|ему|ой|ей|ом|ем|ым|им|ою|ею|ую|юю|ая|яя|а|я|у|ю|е|и|ы|ь|й)$/.exec(
    w,
  );
  if (!m) return w;
  const stem = w.slice(0, w.length - m[0].length);
  return stem.length >= 3 ? stem : w;
}

interface NameHit {
  manager: number;
  part: Part;
}

export interface ManagerMention {
  /** Indices of the tokens it covers. */
  tokens: number[];
  /** Candidate managers, in context order; one means resolved. */
  managers: number[];
}

/** Every case form of every manager's first name and surname (and common short forms). */
export class ManagerIndex {
  readonly names: string[];
  private readonly forms = new TypoIndex<NameHit>();
  private readonly stems = new Map<string, NameHit[]>();

  constructor(managers: NamedRecord[]) {
    this.names = managers.map((m) => m.name.trim());
    managers.forEach((m, i) => {
      const p = person(m.name);
      const inflect = petrovich[p.gender];
      const firsts = [p.first, ...(SHORT_FORMS[p.first] ?? [])];
      for (const f of firsts) this.addForms(f, (c) => inflect.first[c](f), { manager: i, part: 'first' });
      if (p.last) {
        const last = p.last;
        this.addForms(last, (c) => inflect.last[c](last), { manager: i, part: 'last' });
      }
    });
  }

  private addForms(base: string, inflectTo: (c: (typeof CASES)[number]) => string, hit: NameHit): void {
    const seen = new Set<string>();
    for (const c of CASES) {
      const form = fold(inflectTo(c));
      if (!seen.has(form)) {
        seen.add(form);
        this.forms.add(form, hit);
      }
    }
    if (!seen.has(base)) this.forms.add(base, hit);
    const stem = stemName(base);
    const list = this.stems.get(stem) ?? [];
    list.push(hit);
    this.stems.set(stem, list);
  }

  /** Whether a word is one typo away from some case form of some manager name. */
  hasNear(word: string): boolean {
    return this.forms.near(word).length > 0;
  }

  /** Whether a word is exactly some case form of some manager name. */
  isNameForm(word: string): boolean {
    return this.forms.exact(word) !== undefined;
  }

  private hitsFor(t: Token, isVocabulary: (w: string) => boolean): NameHit[] {
    const w = t.text;
    if (!/^\p{L}+$/u.test(w)) return [];
    if (AMBIGUOUS_WORDS.has(w) && !t.capital) return [];
    const exact = this.forms.exact(w);
    if (exact) return exact;
    if (isVocabulary(w)) return [];
    if (w.length >= 5) {
      const near = this.forms.near(w);
      if (near.length > 0) return near.flatMap((n) => n.values);
    }
    if (w.length >= 4) return this.stems.get(stemName(w)) ?? [];
    return [];
  }

  /**
   * Manager mentions among the tokens: "Игоря Петрова" (first name + surname,
   * any order, any case) is one mention; a lone first name or surname is a
   * mention with every manager it fits.
   */
  find(
    tokens: Token[],
    usable: (i: number) => boolean,
    isVocabulary: (w: string) => boolean,
  ): ManagerMention[] {
    const hits: NameHit[][] = tokens.map((t, i) => (usable(i) ? this.hitsFor(t, isVocabulary) : []));
    const out: ManagerMention[] = [];
    for (let i = 0; i < tokens.length; i++) {
      const here = hits[i]!;
      if (here.length === 0) continue;
      const next = hits[i + 1] ?? [];
      if (next.length > 0) {
        const both = uniq(
          here
            .filter((a) => next.some((b) => b.manager === a.manager && b.part !== a.part))
            .map((a) => a.manager),
        );
        if (both.length > 0) {
          out.push({ tokens: [i, i + 1], managers: both });
          i++;
          continue;
        }
      }
      out.push({ tokens: [i], managers: uniq(here.map((h) => h.manager)) });
    }
    return out;
  }
}

function uniq(xs: number[]): number[] {
  return [...new Set(xs)].sort((a, b) => a - b);
}
