import { z } from 'zod';
import { AppError } from '../errors.ts';
import { type CompanySideInference, inferCompanySide } from './side.ts';
import { countWords, fold, words } from './text.ts';

/** Who is speaking: the company's side (менеджер), the customer (клиент) or somebody else. */
export const speakerRoles = ['manager', 'client', 'other'] as const;
export const speakerRoleSchema = z.enum(speakerRoles);
export type SpeakerRole = z.infer<typeof speakerRoleSchema>;

/** One utterance as it arrives in JSON (format 3 of TRANSCRIPTS.md, e.g. the `transcript` of calls.jsonl). */
export const transcriptSegmentInputSchema = z.object({
  speaker: z.union([z.string(), z.number()]).transform(String),
  role: z.string().nullish(),
  start_sec: z.number().nullish(),
  text: z.string(),
});
export type TranscriptSegmentInput = z.input<typeof transcriptSegmentInputSchema>;

export interface TranscriptSegment {
  speaker: string;
  role: SpeakerRole | null;
  start_sec?: number;
  text: string;
}

export type TranscriptFormat = 'role_and_speaker' | 'speaker_only' | 'json_segments' | 'plain_text';

export interface SpeakerSummary {
  speaker: string;
  /** The role the diarizer's label or the JSON suggested, before inference. */
  hintedRole: SpeakerRole | null;
  role: SpeakerRole | null;
  words: number;
  /** Share of all words in the call, 0..1. */
  share: number;
}

export interface ParsedTranscript {
  format: TranscriptFormat;
  /** Utterances after cleaning, duplicate collapsing and merging; `role` is the resolved role. */
  segments: TranscriptSegment[];
  /**
   * The transcript text quotes are checked against: one line per utterance,
   * a speaker's consecutive lines merged with single spaces.
   */
  text: string;
  /** Speaker id of the company side (менеджер), null when it cannot be told (plain text). */
  companySpeaker: string | null;
  sideInference: CompanySideInference;
  speakers: SpeakerSummary[];
  /** Total words in `segments`. */
  words: number;
  stats: { noiseRemoved: number; fillersRemoved: number; duplicatesCollapsed: number };
}

export interface ParseTranscriptOptions {
  /** Extra or overriding role words, e.g. `{ 'Консультант': 'manager' }`; matched case- and ё-insensitively. */
  roleDictionary?: Record<string, SpeakerRole>;
  /** Call direction from telephony: `in` — the client called, `out` — the company called. */
  direction?: 'in' | 'out';
}

/** Role words of TRANSCRIPTS.md. */
export const defaultRoleDictionary: Readonly<Record<string, SpeakerRole>> = {
  Менеджер: 'manager',
  Оператор: 'manager',
  Сотрудник: 'manager',
  Саппорт: 'manager',
  Продавец: 'manager',
  Agent: 'manager',
  Operator: 'manager',
  Клиент: 'client',
  Абонент: 'client',
  Покупатель: 'client',
  Client: 'client',
  Customer: 'client',
  Другое: 'other',
  Other: 'other',
};

/** Speaker label used for plain text, where nobody is named. */
export const UNKNOWN_SPEAKER = 'UNKNOWN';

interface RawLine {
  speaker: string;
  hint: SpeakerRole | null;
  start_sec?: number;
  text: string;
}

/**
 * Parses a transcript in any of the four formats of TRANSCRIPTS.md into
 * merged utterances with resolved roles and the inferred company side.
 */
export function parseTranscript(
  input: string | ReadonlyArray<TranscriptSegmentInput>,
  opts: ParseTranscriptOptions = {},
): ParsedTranscript {
  const dictionary = buildDictionary(opts.roleDictionary);
  let format: TranscriptFormat;
  let lines: RawLine[];
  const jsonSegments = typeof input === 'string' ? jsonSegmentsOf(input) : input;
  if (jsonSegments) {
    format = 'json_segments';
    lines = fromJsonSegments(jsonSegments, dictionary);
  } else {
    ({ format, lines } = fromText(input as string, dictionary));
  }

  const stats = { noiseRemoved: 0, fillersRemoved: 0, duplicatesCollapsed: 0 };
  const cleaned: RawLine[] = [];
  for (const line of lines) {
    const text = stripNoise(line.text);
    if (text === '') {
      stats.noiseRemoved++;
      continue;
    }
    if (isFillerOnly(text)) {
      stats.fillersRemoved++;
      continue;
    }
    const previous = cleaned.at(-1);
    if (previous && previous.text === text && (previous.speaker === line.speaker || countWords(text) >= 3)) {
      stats.duplicatesCollapsed++;
      continue;
    }
    cleaned.push({ ...line, text });
  }

  const merged: RawLine[] = [];
  for (const line of cleaned) {
    const last = merged.at(-1);
    if (last && last.speaker === line.speaker) {
      last.text = `${last.text} ${line.text}`;
      last.hint ??= line.hint;
    } else {
      merged.push({ ...line });
    }
  }

  const hints = speakerHints(merged);
  const side: CompanySideInference =
    format === 'plain_text'
      ? { method: 'none', confidence: 0, companySpeaker: null, reasons: ['в тексте нет говорящих'] }
      : inferCompanySide(
          merged.map((m) => ({ speaker: m.speaker, text: m.text })),
          hints,
          opts.direction,
        );

  const roleOf = (speaker: string): SpeakerRole | null => {
    if (side.companySpeaker === null) return hints.get(speaker) ?? null;
    if (speaker === side.companySpeaker) return 'manager';
    return hints.get(speaker) === 'other' ? 'other' : 'client';
  };

  const segments: TranscriptSegment[] = merged.map((m) => {
    const segment: TranscriptSegment = { speaker: m.speaker, role: roleOf(m.speaker), text: m.text };
    if (m.start_sec !== undefined) segment.start_sec = m.start_sec;
    return segment;
  });

  const wordsBySpeaker = new Map<string, number>();
  for (const s of segments)
    wordsBySpeaker.set(s.speaker, (wordsBySpeaker.get(s.speaker) ?? 0) + countWords(s.text));
  const totalWords = [...wordsBySpeaker.values()].reduce((a, b) => a + b, 0);
  const speakers: SpeakerSummary[] = [...wordsBySpeaker].map(([speaker, n]) => ({
    speaker,
    hintedRole: hints.get(speaker) ?? null,
    role: roleOf(speaker),
    words: n,
    share: totalWords === 0 ? 0 : n / totalWords,
  }));

  return {
    format,
    segments,
    text: segments.map((s) => s.text).join('\n'),
    companySpeaker: side.companySpeaker,
    sideInference: side,
    speakers,
    words: totalWords,
    stats,
  };
}

/**
 * True when `quote` is a verbatim part of one utterance of the transcript
 * (METRICS.md: every non-null quote is a substring of the merged text).
 */
export function isVerbatimQuote(parsed: Pick<ParsedTranscript, 'text'>, quote: string): boolean {
  return quote.trim() !== '' && !quote.includes('\n') && parsed.text.includes(quote);
}

/**
 * Finds `candidate` in the transcript ignoring case, ё/е, runs of spaces,
 * quote and dash styles and surrounding punctuation, and returns the exact
 * verbatim text it corresponds to, or null. Lets a model's slightly
 * reformatted quote be repaired into a verbatim one instead of dropped.
 */
export function findVerbatimQuote(parsed: Pick<ParsedTranscript, 'text'>, candidate: string): string | null {
  const trimmed = candidate.trim();
  if (trimmed !== '' && isVerbatimQuote(parsed, trimmed)) return trimmed;
  const core = trimmed.replace(/^[\s"'«»“”„.…,;:—–-]+|[\s"'«»“”„…,;:—–-]+$/gu, '');
  if (core === '') return null;
  const haystack = looseIndex(parsed.text);
  const needle = looseIndex(core).text;
  const at = haystack.text.indexOf(needle);
  if (at < 0) return null;
  const start = haystack.origin[at]!;
  const end = haystack.origin[at + needle.length - 1]! + 1;
  const found = parsed.text.slice(start, end);
  return found.includes('\n') ? null : found;
}

function looseIndex(text: string): { text: string; origin: number[] } {
  const folded = fold(text);
  let out = '';
  const origin: number[] = [];
  let lastWasSpace = false;
  for (let i = 0; i < folded.length; i++) {
    let ch = folded[i]!;
    if (ch === '\n') {
      lastWasSpace = false;
    } else if (/\s/u.test(ch)) {
      if (lastWasSpace) continue;
      ch = ' ';
      lastWasSpace = true;
    } else {
      lastWasSpace = false;
      if ('«»“”„"'.includes(ch)) ch = '"';
      else if ('—–−'.includes(ch)) ch = '-';
    }
    out += ch;
    origin.push(i);
  }
  return { text: out, origin };
}

/** Renders utterances as `SPK00 (менеджер): текст` lines, e.g. for an LLM prompt. */
export function renderTranscript(parsed: Pick<ParsedTranscript, 'segments'>): string {
  const roleRu: Record<SpeakerRole, string> = { manager: 'менеджер', client: 'клиент', other: 'другой' };
  return parsed.segments
    .map((s) => (s.role ? `${s.speaker} (${roleRu[s.role]}): ${s.text}` : `${s.speaker}: ${s.text}`))
    .join('\n');
}

function buildDictionary(extra: Record<string, SpeakerRole> | undefined): Map<string, SpeakerRole> {
  const map = new Map<string, SpeakerRole>();
  for (const [word, role] of Object.entries({ ...defaultRoleDictionary, ...extra })) {
    map.set(fold(word.trim()), role);
  }
  return map;
}

function lookupRole(
  dictionary: Map<string, SpeakerRole>,
  word: string | null | undefined,
): SpeakerRole | null {
  if (!word) return null;
  const key = fold(word.trim());
  if ((speakerRoles as readonly string[]).includes(key) && !dictionary.has(key)) return key as SpeakerRole;
  return dictionary.get(key) ?? null;
}

function jsonSegmentsOf(input: string): unknown[] | null {
  const trimmed = input.trim();
  if (!trimmed.startsWith('[') && !trimmed.startsWith('{')) return null;
  let value: unknown;
  try {
    value = JSON.parse(trimmed);
  } catch {
    return null;
  }
  if (Array.isArray(value)) return value;
  if (value && typeof value === 'object') {
    const inner =
      (value as Record<string, unknown>).segments ?? (value as Record<string, unknown>).transcript;
    if (Array.isArray(inner)) return inner;
  }
  return null;
}

function fromJsonSegments(items: ReadonlyArray<unknown>, dictionary: Map<string, SpeakerRole>): RawLine[] {
  const parsed = z.array(transcriptSegmentInputSchema).safeParse(items);
  if (!parsed.success) {
    throw new AppError(
      'transcript_invalid',
      `transcript JSON segments do not match {speaker, role, start_sec?, text}: ${parsed.error.message}`,
      'Не удалось разобрать расшифровку: ожидался список реплик вида {speaker, role, text}.',
      { cause: parsed.error },
    );
  }
  return parsed.data.map((s) => {
    const line: RawLine = {
      speaker: s.speaker.trim() || UNKNOWN_SPEAKER,
      hint: lookupRole(dictionary, s.role),
      text: s.text,
    };
    if (typeof s.start_sec === 'number') line.start_sec = s.start_sec;
    return line;
  });
}

const TIMESTAMP = String.raw`[\[(]?((?:\d{1,2}:)?\d{1,2}:\d{2}(?:[.,]\d{1,3})?)[\])]?\s*[-–—]?\s*`;
const ROLE_AND_SPEAKER = new RegExp(
  String.raw`^\s*(?:${TIMESTAMP})?([^():\n]{1,40}?)\s*\(\s*([^()\n]{1,40}?)\s*\)\s*:\s?(.*)$`,
  'u',
);
const SPEAKER_ONLY = new RegExp(
  String.raw`^\s*(?:${TIMESTAMP})?([\p{L}\p{N}_.-]{1,30}(?: [\p{L}\p{N}_.-]{1,30})?)\s*:\s*(.*)$`,
  'u',
);
const SPEAKER_ID = /^(?:spk|speaker|спикер|говорящий|голос|s|с)[\s_-]*\d{1,3}$|^[a-zа-я]$/u;

function fromText(
  input: string,
  dictionary: Map<string, SpeakerRole>,
): { format: TranscriptFormat; lines: RawLine[] } {
  const rawLines = input
    .replace(/^\uFEFF/u, '')
    .split(/\r?\n/u)
    .filter((l) => l.trim() !== '');
  if (rawLines.length === 0) return { format: 'plain_text', lines: [] };

  const roleMatches = rawLines.map((l) => ROLE_AND_SPEAKER.exec(l));
  if (roleMatches.filter(Boolean).length >= rawLines.length / 2) {
    return {
      format: 'role_and_speaker',
      lines: collectLines(rawLines, roleMatches, (m) => {
        let roleWord = m[2]!.trim();
        let speaker = m[3]!.trim();
        // «Марина (Менеджер): …» puts the role in brackets and the name first.
        if (!dictionary.has(fold(roleWord)) && dictionary.has(fold(speaker)))
          [roleWord, speaker] = [speaker, roleWord];
        return { speaker, hint: lookupRole(dictionary, roleWord), start: m[1], text: m[4] ?? '' };
      }),
    };
  }

  const speakerMatches = rawLines.map((l) => SPEAKER_ONLY.exec(l));
  const labelCounts = new Map<string, number>();
  for (const m of speakerMatches) if (m) labelCounts.set(m[2]!, (labelCounts.get(m[2]!) ?? 0) + 1);
  const isSpeakerLabel = (label: string): boolean =>
    SPEAKER_ID.test(fold(label)) ||
    dictionary.has(fold(label)) ||
    (labelCounts.size <= 8 && (labelCounts.get(label) ?? 0) >= 2 && countWords(label) === 1);
  const speakerLines = speakerMatches.map((m) => (m && isSpeakerLabel(m[2]!) ? m : null));
  if (speakerLines.filter(Boolean).length >= rawLines.length / 2) {
    return {
      format: 'speaker_only',
      lines: collectLines(rawLines, speakerLines, (m) => ({
        speaker: m[2]!.trim(),
        hint: lookupRole(dictionary, m[2]),
        start: m[1],
        text: m[3] ?? '',
      })),
    };
  }

  return {
    format: 'plain_text',
    lines: rawLines.map((l) => ({ speaker: UNKNOWN_SPEAKER, hint: null, text: l })),
  };
}

/** Lines that do not start with a speaker continue the previous speaker's utterance. */
function collectLines(
  rawLines: string[],
  found: Array<RegExpExecArray | null>,
  read: (m: RegExpExecArray) => {
    speaker: string;
    hint: SpeakerRole | null;
    start: string | undefined;
    text: string;
  },
): RawLine[] {
  const lines: RawLine[] = [];
  rawLines.forEach((raw, i) => {
    const m = found[i];
    if (m) {
      const { speaker, hint, start, text } = read(m);
      const line: RawLine = { speaker, hint, text };
      if (start) line.start_sec = secondsOf(start);
      lines.push(line);
    } else {
      const previous = lines.at(-1);
      lines.push({ speaker: previous?.speaker ?? UNKNOWN_SPEAKER, hint: previous?.hint ?? null, text: raw });
    }
  });
  return lines;
}

function secondsOf(stamp: string): number {
  return stamp
    .replace(',', '.')
    .split(':')
    .reduce((acc, part) => acc * 60 + Number(part), 0);
}

/** Majority role hint per speaker (by lines). */
function speakerHints(lines: RawLine[]): Map<string, SpeakerRole | null> {
  const votes = new Map<string, Map<SpeakerRole, number>>();
  for (const l of lines) {
    if (!votes.has(l.speaker)) votes.set(l.speaker, new Map());
    if (l.hint) {
      const v = votes.get(l.speaker)!;
      v.set(l.hint, (v.get(l.hint) ?? 0) + 1);
    }
  }
  const hints = new Map<string, SpeakerRole | null>();
  for (const [speaker, v] of votes) {
    const best = [...v].sort((a, b) => b[1] - a[1])[0];
    hints.set(speaker, best ? best[0] : null);
  }
  return hints;
}

/**
 * Subtitle credits and "subscribe" lines that speech-to-text models
 * hallucinate at the end of recordings; everything from the match to the end
 * of the line is dropped.
 */
const CREDITS_TO_END =
  /(?:редактор\s+субтитров|корректор\s+[А-ЯЁA-Z]\.\s?[А-ЯЁA-Z]|субтитры\s+(?:сделал|создавал|подготовил|делал|выполнил|создал|подогнал)|dimatorzok)[\s\S]*$/iu;
const CREDIT_PHRASES =
  /(?:продолжение\s+следует|спасибо\s+за\s+просмотр|подписывайтесь\s+на\s+(?:наш\s+)?канал|ставьте\s+лайк\p{L}*)[^.!?\n]*[.!?…]*/giu;
/** Transcriber annotations and inline timing marks: `[музыка]`, `(смеётся)`, `<шум>`, `(00:12)`. */
const ANNOTATIONS =
  /\[[^\]\n]{0,60}\]|<[^>\n]{0,40}>|\(\d{1,2}:\d{2}(?::\d{2})?(?:[.,]\d+)?\)|\((?:пауза|смех|смеется|смеётся|смеются|неразборчиво|музыка|шум|вздох|вздыхает|кашель|тишина|гудки|гудок|inaudible|music|laughter|noise|silence)[^)\n]{0,20}\)/giu;

function stripNoise(text: string): string {
  return text
    .replace(ANNOTATIONS, ' ')
    .replace(CREDITS_TO_END, '')
    .replace(CREDIT_PHRASES, ' ')
    .replace(/\s+/gu, ' ')
    .trim();
}

/** Backchannel words that carry no content when they are the whole line. */
const FILLERS = new Set([
  'угу',
  'ага',
  'мгм',
  'м',
  'мм',
  'ммм',
  'хм',
  'хмм',
  'э',
  'ээ',
  'эээ',
  'а',
  'аа',
  'ааа',
  'ну',
  'вот',
  'так',
]);

function isFillerOnly(text: string): boolean {
  const ws = words(fold(text));
  return ws.length > 0 && ws.every((w) => FILLERS.has(w));
}
