import { fold, type Token } from './text.ts';
import type { NamedRecord } from './types.ts';

/** Strips a Russian inflectional ending so "сайта", "сайте", "сайт" meet at "сайт". */
export function stemWord(w: string): string {
  const m =
    /(иями|ями|ами|ией|иям|иях|ием|ого|его|ому|ему|ыми|ими|ия|ии|ию|ие|ей|ой|ом|ем|ам|ям|ах|ях|ов|ев|ую|юю|ая|яя|ое|ее|ые|ый|ий|ых|их|ым|им|а|я|о|е|и|ы|у|ю|ь|й)$/.exec(
      w,
    );
  if (!m) return w;
  const stem = w.slice(0, w.length - m[0].length);
  return stem.length >= 3 ? stem : w;
}

/** Words that name a kind of thing rather than one record ("отдел", "лид", "продажи"). */
const GENERIC = new Set(
  [
    'лид',
    'лиды',
    'отдел',
    'отделение',
    'продажа',
    'продажи',
    'продаж',
    'звонок',
    'звонки',
    'сделки',
    'воронка',
    'источник',
    'канал',
    'клиент',
    'клиенты',
    'группа',
    'команда',
    'филиал',
  ].map(stemWord),
);

/** Relative adjectives made from a name: "московский", "региональных". */
const ADJECTIVE_END = /(?:ск|н)(?:ий|ый|ой|ая|ое|ие|ые|ого|ому|ом|ым|им|ую|ых|их|ыми|ими)$/;

interface Entry {
  record: number;
  words: string[];
  stems: string[];
}

export interface EntityMatch {
  record: number;
  tokens: number[];
}

/**
 * Loose lookup of sources, departments or pipelines by name: "директ",
 * "яндекс директа", "с сайта", "рекомендации", "московский отдел".
 */
export class EntityIndex {
  readonly names: string[];
  private readonly entries: Entry[];
  /** Stems that occur in exactly one record and are not generic words. */
  private readonly distinctive = new Map<string, number>();
  /** First four letters of long distinctive stems, for adjectives ("московский" → "Москва"). */
  private readonly prefixes = new Map<string, number>();

  constructor(records: NamedRecord[]) {
    this.names = records.map((r) => r.name.trim());
    this.entries = records.map((r, i) => {
      const words = fold(r.name)
        .split(/[\s.\-_/,«»"]+/)
        .filter((w) => w.length >= 2);
      return { record: i, words, stems: words.map(stemWord) };
    });
    const owners = new Map<string, Set<number>>();
    for (const e of this.entries) {
      for (const s of e.stems) {
        const set = owners.get(s) ?? new Set();
        set.add(e.record);
        owners.set(s, set);
      }
    }
    for (const [stem, set] of owners) {
      if (set.size !== 1 || GENERIC.has(stem) || stem.length < 3) continue;
      const record = [...set][0]!;
      this.distinctive.set(stem, record);
      if (stem.length >= 5) {
        const p = stem.slice(0, 4);
        this.prefixes.set(p, this.prefixes.has(p) ? -1 : record);
      }
    }
  }

  /** The record and tokens named in the text, when exactly one record is named. */
  find(tokens: Token[], usable: (i: number) => boolean): EntityMatch | null {
    const stems = tokens.map((t, i) => (usable(i) && /^\p{L}+$/u.test(t.text) ? stemWord(t.text) : null));
    // Full names first: all words of the record in a row, any case.
    let best: { match: EntityMatch; words: number } | null = null;
    let tie = false;
    for (const e of this.entries) {
      const n = e.stems.length;
      for (let i = 0; i + n <= tokens.length; i++) {
        let ok = true;
        for (let k = 0; k < n && ok; k++) ok = stems[i + k] === e.stems[k];
        if (!ok) continue;
        const match = { record: e.record, tokens: Array.from({ length: n }, (_, k) => i + k) };
        if (!best || n > best.words) {
          best = { match, words: n };
          tie = false;
        } else if (n === best.words && best.match.record !== e.record) tie = true;
      }
    }
    if (best && !tie) return this.extend(best.match, stems);
    // Then a distinctive word of a single record ("директ", "москве", "региональный").
    for (let i = 0; i < tokens.length; i++) {
      const s = stems[i];
      if (!s) continue;
      let record = this.distinctive.get(s);
      if (record === undefined && s.length >= 5 && ADJECTIVE_END.test(tokens[i]!.text)) {
        const r = this.prefixes.get(s.slice(0, 4));
        if (r !== undefined && r >= 0) record = r;
      }
      if (record !== undefined) return this.extend({ record, tokens: [i] }, stems);
    }
    return null;
  }

  /** Takes in neighbouring words of the same record ("яндекс" before "директа"). */
  private extend(match: EntityMatch, stems: (string | null)[]): EntityMatch {
    const e = this.entries[match.record]!;
    const tokens = new Set(match.tokens);
    let lo = Math.min(...tokens);
    let hi = Math.max(...tokens);
    while (lo > 0 && stems[lo - 1] && e.stems.includes(stems[lo - 1]!)) tokens.add(--lo);
    while (hi + 1 < stems.length && stems[hi + 1] && e.stems.includes(stems[hi + 1]!)) tokens.add(++hi);
    return { record: match.record, tokens: [...tokens].sort((a, b) => a - b) };
  }

  /** The folded words of a record's name, for callers that check context around a match. */
  wordsOf(record: number): string[] {
    return this.entries[record]?.words ?? [];
  }
}
