/**
 * Text primitives for Russian call transcripts: case/ё folding that keeps
 * offsets, a small pattern language for lexicons, sentence and clause spans,
 * and quote cutting. Every quote the analyzers produce is cut from the
 * original string by offsets found on the folded copy, which is what keeps
 * quotes verbatim.
 */

/**
 * Lowercases, maps ё→е, every other letter to `x` and every other digit to
 * `0`, without changing the string length: an index in the folded text is the
 * same index in the original. Folded text has only a-z, а-я and 0-9 as word
 * characters, so lexicon regexes use small classes instead of Unicode
 * properties, which keeps compiling them fast (a CLI run compiles them all).
 */
export function fold(text: string): string {
  const codes = new Array<number>(text.length);
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code < 0x80) codes[i] = code >= 65 && code <= 90 ? code + 32 : code;
    else if (code >= 0x410 && code <= 0x42f) codes[i] = code + 32;
    else if (code >= 0x430 && code <= 0x44f) codes[i] = code;
    else if (code === 0x401 || code === 0x451) codes[i] = 0x435;
    else {
      const ch = text[i]!;
      codes[i] = /\p{L}/u.test(ch) ? 0x78 : /\p{N}/u.test(ch) ? 0x30 : code;
    }
  }
  let out = '';
  for (let i = 0; i < codes.length; i += 8192) out += String.fromCharCode(...codes.slice(i, i + 8192));
  return out;
}

/** Word characters of folded text. */
const FOLDED_LETTERS = 'a-zа-я';
const LETTER = `[${FOLDED_LETTERS}0-9]`;
/** Between two words of one phrase: anything but letters, digits and sentence ends. */
const GAP = `[^${FOLDED_LETTERS}0-9.!?…\\n]+`;
const WORD = `[${FOLDED_LETTERS}0-9'’-]+`;
/** Up to four arbitrary words between two anchors of a phrase. */
const LOOSE_GAP = `(?:${GAP}${WORD}){0,4}`;

const numberWordList = [
  'ноль|нуля|один|одна|одно|одну|одного|одной|одним',
  'два|две|двух|двум|двумя|три|трех|трем|тремя|четыре|четырех|четырем|четырьмя',
  'пять|пяти|пятью|шесть|шести|шестью|семь|семи|семью|восемь|восьми|восемью|девять|девяти|девятью|десять|десяти|десятью',
  '(?:одиннадцат|двенадцат|тринадцат|четырнадцат|пятнадцат|шестнадцат|семнадцат|восемнадцат|девятнадцат|двадцат|тридцат)(?:ь|и|ью)',
  'сорок|сорока|пятьдесят|пятидесяти|шестьдесят|шестидесяти|семьдесят|семидесяти|восемьдесят|восьмидесяти|девяносто|девяноста',
  'сто|ста|двести|двухсот|триста|трехсот|четыреста|четырехсот|пятьсот|пятисот|шестьсот|шестисот|семьсот|семисот|восемьсот|восьмисот|девятьсот|девятисот',
  'полтора|полторы|полутора',
].join('|');

/** One number: digits (with thousands separators) or a Russian number word. */
export const NUMBER = `(?:\\d+(?:[\\s\\u00a0.,]\\d{3})*(?:[.,]\\d+)?|(?:${numberWordList}))`;
/** A run of numbers, e.g. «двадцать одну», «девять тысяч девятьсот», «15 000». */
export const NUMBER_RUN = `${NUMBER}(?:${GAP}(?:${NUMBER}|тысяч[${FOLDED_LETTERS}]*))*`;

/**
 * Compiles lexicon phrases into one global, unicode regex over folded text.
 *
 * Phrase syntax: words separated by spaces must follow each other (punctuation
 * allowed between them, no sentence end); `*` ends a stem (`дорог*`); `~`
 * allows up to four other words; a word starting with `?` is optional;
 * `(а|б)` alternates; `#` is a number (digits or words). A phrase starting
 * with `re:` is a raw regex, where `\p{L}` and `\p{N}` may be used inside
 * brackets and stand for folded letters and digits. Matches start and end on
 * word boundaries.
 */
export function rx(...phrases: string[]): RegExp {
  const alternatives = phrases.map((phrase) => {
    if (phrase.startsWith('re:')) {
      return `(?:${phrase.slice(3).replaceAll('\\p{L}', FOLDED_LETTERS).replaceAll('\\p{N}', '0-9')})`;
    }
    const tokens = fold(phrase).trim().split(/\s+/);
    let out = '';
    let loose = false;
    for (const raw of tokens) {
      if (raw === '~') {
        loose = true;
        continue;
      }
      const optional = raw.startsWith('?') && raw.length > 1;
      const body = (optional ? raw.slice(1) : raw)
        .replaceAll('(', '(?:')
        .replaceAll('*', `[${FOLDED_LETTERS}-]*`)
        .replaceAll('#', NUMBER);
      if (out === '') {
        out = optional ? `(?:${body}${GAP})?` : body;
      } else {
        const gap = loose ? `${LOOSE_GAP}${GAP}` : GAP;
        out += optional ? `(?:${gap}${body})?` : `${gap}${body}`;
      }
      loose = false;
    }
    return `(?:${out})`;
  });
  return new RegExp(`(?<!${LETTER})(?:${alternatives.join('|')})(?!${LETTER})`, 'g');
}

export interface Span {
  start: number;
  end: number;
}

/** First match of `pattern` in `folded` within [from, to), or null. */
export function firstMatch(pattern: RegExp, folded: string, from = 0, to = folded.length): Span | null {
  pattern.lastIndex = from;
  const m = pattern.exec(folded);
  if (!m || m.index >= to) return null;
  return { start: m.index, end: Math.min(m.index + m[0].length, to) };
}

export function matches(pattern: RegExp, folded: string, from = 0, to = folded.length): boolean {
  return firstMatch(pattern, folded, from, to) !== null;
}

/** All matches of `pattern` in [from, to). */
export function allMatches(pattern: RegExp, folded: string, from = 0, to = folded.length): Span[] {
  const out: Span[] = [];
  pattern.lastIndex = from;
  for (let m = pattern.exec(folded); m && m.index < to; m = pattern.exec(folded)) {
    out.push({ start: m.index, end: m.index + m[0].length });
    if (m[0].length === 0) pattern.lastIndex++;
  }
  return out;
}

const WORD_RE = /[\p{L}\p{N}]+(?:[-'’][\p{L}\p{N}]+)*/gu;

export function countWords(text: string): number {
  let n = 0;
  WORD_RE.lastIndex = 0;
  while (WORD_RE.exec(text)) n++;
  return n;
}

export function words(text: string): string[] {
  return text.match(WORD_RE) ?? [];
}

/**
 * Sentence spans of one utterance: a sentence ends after `.`, `!`, `?` or `…`
 * (with closing quotes/brackets) followed by whitespace, or at the end.
 */
export function sentenceSpans(text: string): Span[] {
  const spans: Span[] = [];
  const re = /[.!?…]+["»”')\]]*(?=\s|$)/gu;
  let start = 0;
  for (let m = re.exec(text); m; m = re.exec(text)) {
    const end = m.index + m[0].length;
    pushTrimmed(text, start, end, spans);
    start = end;
  }
  pushTrimmed(text, start, text.length, spans);
  return spans;
}

function pushTrimmed(text: string, start: number, end: number, into: Span[]): void {
  let s = start;
  let e = end;
  while (s < e && /\s/u.test(text[s]!)) s++;
  while (e > s && /\s/u.test(text[e - 1]!)) e--;
  if (e > s && /[\p{L}\p{N}]/u.test(text.slice(s, e))) into.push({ start: s, end: e });
}

/** Clause boundaries inside a sentence: commas, semicolons, colons and dashes. */
function clauseSpans(text: string, sentence: Span): Span[] {
  const spans: Span[] = [];
  const re = /[,;:]\s|\s[—–-]\s/gu;
  re.lastIndex = sentence.start;
  let start = sentence.start;
  for (let m = re.exec(text); m && m.index < sentence.end; m = re.exec(text)) {
    pushTrimmed(text, start, m.index + 1, spans);
    start = m.index + m[0].length;
  }
  pushTrimmed(text, start, sentence.end, spans);
  return spans;
}

/** Longest quote we return before narrowing a sentence to a clause or a word window. */
export const MAX_QUOTE_CHARS = 160;
const MIN_CLAUSE_CHARS = 14;

/**
 * The smallest readable verbatim piece of `text` that contains `cue`: the
 * sentence when it is short, otherwise the clause(s) around the cue, otherwise
 * a window of words around it. Leading dashes and trailing commas are trimmed.
 */
export function quoteAround(text: string, cue: Span, maxChars = MAX_QUOTE_CHARS): string {
  const sentence = sentenceSpans(text).find((s) => cue.start >= s.start && cue.start < s.end) ?? {
    start: 0,
    end: text.length,
  };
  const endOfCue = Math.min(Math.max(cue.end, cue.start + 1), sentence.end);
  // Speech-to-text without punctuation makes a whole utterance one "sentence": cut a short window.
  if (
    !/[.!?…]["»”')\]]*$/u.test(text.slice(sentence.start, sentence.end)) &&
    sentence.end - sentence.start > 90
  ) {
    return cleanQuote(
      text,
      wordWindow(text, { start: cue.start, end: endOfCue }, sentence, Math.min(maxChars, 90)),
    );
  }
  if (sentence.end - sentence.start <= maxChars) return cleanQuote(text, sentence);

  const clauses = clauseSpans(text, sentence);
  let first = clauses.findIndex((c) => c.end > cue.start);
  let last = clauses.findIndex((c) => c.end >= endOfCue);
  if (first >= 0 && last >= first) {
    while (clauses[last]!.end - clauses[first]!.start < MIN_CLAUSE_CHARS) {
      if (last + 1 < clauses.length) last++;
      else if (first > 0) first--;
      else break;
    }
    const span = { start: clauses[first]!.start, end: clauses[last]!.end };
    if (span.end - span.start <= maxChars) return cleanQuote(text, span);
  }
  return cleanQuote(text, wordWindow(text, { start: cue.start, end: endOfCue }, sentence, maxChars));
}

function wordWindow(text: string, cue: Span, within: Span, maxChars: number): Span {
  const ws: Span[] = [];
  WORD_RE.lastIndex = within.start;
  for (let m = WORD_RE.exec(text); m && m.index < within.end; m = WORD_RE.exec(text)) {
    ws.push({ start: m.index, end: m.index + m[0].length });
  }
  if (ws.length === 0) return cue;
  let first = ws.findIndex((w) => w.end > cue.start);
  if (first < 0) first = ws.length - 1;
  let last = ws.findIndex((w) => w.end >= cue.end);
  if (last < first) last = first;
  while (last > first && ws[last]!.end - ws[first]!.start > maxChars) last--;
  let grew = true;
  for (let step = 0; grew && step < 12; step++) {
    grew = false;
    if (last + 1 < ws.length && ws[last + 1]!.end - ws[first]!.start <= maxChars) {
      last++;
      grew = true;
    }
    if (step % 2 === 0 && first > 0 && ws[last]!.end - ws[first - 1]!.start <= maxChars) {
      first--;
      grew = true;
    }
  }
  let end = ws[last]!.end;
  // Keep the sentence's own closing punctuation when the window reaches it.
  if (last === ws.length - 1) end = within.end;
  return { start: ws[first]!.start, end };
}

function cleanQuote(text: string, span: Span): string {
  let s = span.start;
  let e = span.end;
  while (s < e && /[\s,;:—–-]/u.test(text[s]!)) s++;
  while (e > s && /[\s,;:—–-]/u.test(text[e - 1]!)) e--;
  return text.slice(s, e);
}
