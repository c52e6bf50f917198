/** Lowercase, ё→е: the one spelling every lookup uses. */
export function fold(s: string): string {
  return s.toLowerCase().replaceAll('ё', 'е');
}

export interface Token {
  /** Folded text. */
  text: string;
  start: number;
  end: number;
  /** The user typed it with a capital letter (a hint that it is a name). */
  capital: boolean;
}

const TOKEN_RE = /[\p{L}\p{N}]+(?:[.\-/:+][\p{L}\p{N}]+)*/gu;

/**
 * Tokens of a question. Letters joined by `.`/`-` ("яндекс.директ",
 * "лид-перехват") become separate words; anything with a digit stays whole
 * ("15.03.2026", "топ-5", "cl-17").
 */
export function tokenize(original: string): { text: string; tokens: Token[] } {
  const cleaned = original.replace(/[–—−]/g, '-').replace(/[«»"“”„']/g, ' ');
  const folded = fold(cleaned);
  const tokens: Token[] = [];
  for (const m of folded.matchAll(TOKEN_RE)) {
    const raw = m[0];
    const at = m.index ?? 0;
    if (/\d/.test(raw)) {
      tokens.push({ text: raw, start: at, end: at + raw.length, capital: false });
      continue;
    }
    let offset = 0;
    for (const part of raw.split(/[.\-/:+]/)) {
      const s = at + offset;
      const first = cleaned[s] ?? '';
      tokens.push({ text: part, start: s, end: s + part.length, capital: first !== fold(first) });
      offset += part.length + 1;
    }
  }
  return { text: folded, tokens };
}

/** Damerau–Levenshtein (optimal string alignment) distance, stopping early above `max`. */
export function editDistance(a: string, b: string, max = 1): number {
  if (Math.abs(a.length - b.length) > max) return max + 1;
  const n = a.length;
  const m = b.length;
  let prev2: number[] = [];
  let prev: number[] = Array.from({ length: m + 1 }, (_, j) => j);
  for (let i = 1; i <= n; i++) {
    const cur: number[] = [i];
    let rowMin = i;
    for (let j = 1; j <= m; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let v = Math.min(prev[j]! + 1, cur[j - 1]! + 1, prev[j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1])
        v = Math.min(v, prev2[j - 2]! + 1);
      cur.push(v);
      if (v < rowMin) rowMin = v;
    }
    if (rowMin > max) return max + 1;
    prev2 = prev;
    prev = cur;
  }
  return prev[m]!;
}

/**
 * Finds words within one edit (insertion, deletion, substitution or swap of
 * neighbours) without scanning the whole dictionary: every word is indexed
 * under itself and each of its one-letter deletions.
 */
export class TypoIndex<T> {
  private readonly byKey = new Map<string, Set<string>>();
  private readonly values = new Map<string, T[]>();

  add(word: string, value: T): void {
    const list = this.values.get(word);
    if (list) {
      list.push(value);
      return;
    }
    this.values.set(word, [value]);
    for (const key of deletions(word)) {
      let set = this.byKey.get(key);
      if (!set) {
        set = new Set();
        this.byKey.set(key, set);
      }
      set.add(word);
    }
  }

  exact(word: string): T[] | undefined {
    return this.values.get(word);
  }

  /** Words at distance exactly ≤ 1 (excluding the word itself), nearest first by dictionary order. */
  near(word: string): { word: string; values: T[] }[] {
    const seen = new Set<string>();
    const out: { word: string; values: T[] }[] = [];
    for (const key of deletions(word)) {
      for (const w of this.byKey.get(key) ?? []) {
        if (w === word || seen.has(w)) continue;
        seen.add(w);
        if (editDistance(word, w, 1) <= 1) out.push({ word: w, values: this.values.get(w)! });
      }
    }
    return out;
  }
}

function deletions(word: string): string[] {
  const out = [word];
  for (let i = 0; i < word.length; i++) out.push(word.slice(0, i) + word.slice(i + 1));
  return out;
}

const UNITS: Record<string, number> = {
  один: 1,
  одна: 1,
  одну: 1,
  одного: 1,
  одной: 1,
  одни: 1,
  два: 2,
  две: 2,
  двух: 2,
  пару: 2,
  пара: 2,
  три: 3,
  трех: 3,
  четыре: 4,
  четырех: 4,
  пять: 5,
  пяти: 5,
  шесть: 6,
  шести: 6,
  семь: 7,
  семи: 7,
  восемь: 8,
  восьми: 8,
  девять: 9,
  девяти: 9,
  десять: 10,
  десяти: 10,
  одиннадцать: 11,
  двенадцать: 12,
  пятнадцать: 15,
  пятнадцати: 15,
  двадцать: 20,
  двадцати: 20,
  тридцать: 30,
  тридцати: 30,
  сорок: 40,
  сорока: 40,
  пятьдесят: 50,
  шестьдесят: 60,
  шестидесяти: 60,
  девяносто: 90,
  девяноста: 90,
  сто: 100,
  ста: 100,
};

/** Regex source matching a number written in digits or Russian words ("30", "двух", "двадцать пять"). */
export const NUMBER_RE = `(?:\\d{1,4}|(?:${Object.keys(UNITS).join('|')})(?: (?:${Object.keys(UNITS).join('|')}))?)`;

/** The value of a number matched by NUMBER_RE. */
export function numberValue(s: string): number | null {
  if (/^\d+$/.test(s)) return Number(s);
  let total = 0;
  for (const w of s.split(' ')) {
    const v = UNITS[w];
    if (v === undefined) return null;
    total += v;
  }
  return total || null;
}

/**
 * A word boundary over folded text (lowercase, ё→е). The small class keeps
 * the check cheap; `\\p{L}` made every regex several times slower.
 */
const W = '[а-яa-z0-9]';
const WORD_BOUNDARY = `(?:(?<!${W})(?=${W})|(?<=${W})(?!${W}))`;

/**
 * A regex over folded text where `\\b` is a word boundary that knows Cyrillic,
 * a space means "one or more spaces" (consumed words leave gaps) and ` ?` "any spaces".
 */
export function rx(source: string, flags = 'u'): RegExp {
  return new RegExp(
    factorBoundary(source).replaceAll('\\b', WORD_BOUNDARY).replaceAll(' ?', '\\s*').replaceAll(' ', '\\s+'),
    flags,
  );
}

/**
 * `\\bа|\\bб|\\bв` → `\\b(?:а|б|в)`: the same language, but the boundary is
 * checked once per position instead of once per alternative.
 */
function factorBoundary(source: string): string {
  const alternatives: string[] = [];
  let depth = 0;
  let inClass = false;
  let from = 0;
  for (let i = 0; i < source.length; i++) {
    const c = source[i];
    if (c === '\\') {
      i++;
      continue;
    }
    if (inClass) {
      if (c === ']') inClass = false;
    } else if (c === '[') inClass = true;
    else if (c === '(') depth++;
    else if (c === ')') depth--;
    else if (c === '|' && depth === 0) {
      alternatives.push(source.slice(from, i));
      from = i + 1;
    }
  }
  alternatives.push(source.slice(from));
  if (alternatives.length < 2 || !alternatives.every((a) => a.startsWith('\\b'))) return source;
  return `\\b(?:${alternatives.map((a) => a.slice(2)).join('|')})`;
}

/**
 * The question as a sequence of words, from which recognised parts (a period,
 * a manager, a source) are taken out so the rest can be read for the intent.
 */
export class Work {
  private chars: string[];
  private cached: string | null = null;
  readonly tokens: Token[];
  readonly used: boolean[];

  constructor(tokens: Token[]) {
    let s = ' ';
    this.tokens = tokens.map((t) => {
      const start = s.length;
      s += `${t.text} `;
      return { ...t, start, end: start + t.text.length };
    });
    this.chars = [...s];
    this.used = this.tokens.map(() => false);
  }

  get text(): string {
    if (this.cached === null) this.cached = this.chars.join('');
    return this.cached;
  }

  /** The remaining words joined by single spaces, padded with a space at both ends. */
  rest(): string {
    return ` ${this.text.replace(/\s+/g, ' ').trim()} `;
  }

  /**
   * Runs `re` (global) over the remaining text; every match the callback
   * accepts (returns true) is taken out. Returns how many were taken.
   */
  take(re: RegExp, accept: (m: RegExpExecArray) => boolean, once = true): number {
    const text = this.text;
    const g = re.global ? re : new RegExp(re.source, `${re.flags}g`);
    g.lastIndex = 0;
    let taken = 0;
    for (let m = g.exec(text); m; m = g.exec(text)) {
      if (m[0].length === 0) {
        g.lastIndex++;
        continue;
      }
      if (accept(m)) {
        this.blank(m.index, m.index + m[0].length);
        taken++;
        if (once) break;
      }
    }
    return taken;
  }

  /** Whether `re` matches the remaining text. */
  has(re: RegExp): boolean {
    return re.test(this.rest());
  }

  blank(from: number, to: number): void {
    this.cached = null;
    for (let i = from; i < to; i++) this.chars[i] = ' ';
    this.tokens.forEach((t, i) => {
      if (t.start < to && t.end > from) this.used[i] = true;
    });
  }

  blankTokens(indices: number[]): void {
    for (const i of indices) {
      const t = this.tokens[i];
      if (t) this.blank(t.start, t.end);
    }
  }
}
