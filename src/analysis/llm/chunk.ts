import { type ParsedTranscript, renderTranscript } from '../transcript.ts';
import { neutralizeDelimiters } from './prompt.ts';

/** Default part size: a long call (an hour of talk is ~40k characters) becomes a handful of parts. */
export const DEFAULT_CHUNK_CHARS = 12_000;

/**
 * Splits a transcript into parts of at most `maxChars` characters along
 * utterance boundaries, each line rendered as `SPK00 (менеджер): текст`.
 * An utterance longer than a part is cut at sentence ends or spaces, every
 * piece keeping its speaker label, so each piece is still a verbatim part of
 * the utterance and quotes from it pass the verbatim check. A part after the
 * first starts with the previous part's last line when it is short: an
 * objection at the end of one part is usually answered at the start of the
 * next, and the model needs both to judge `handled`.
 */
export function chunkTranscript(parsed: Pick<ParsedTranscript, 'segments'>, maxChars: number): string[] {
  const lines = parsed.segments.flatMap((segment) => {
    const label = neutralizeDelimiters(renderTranscript({ segments: [{ ...segment, text: '' }] }));
    const text = neutralizeDelimiters(segment.text);
    if (label.length + text.length <= maxChars) return [label + text];
    return splitText(text, Math.max(1, maxChars - label.length)).map((piece) => label + piece);
  });

  const chunks: string[] = [];
  let current: string[] = [];
  let size = 0;
  for (const line of lines) {
    const added = current.length === 0 ? line.length : size + 1 + line.length;
    if (added <= maxChars) {
      current.push(line);
      size = added;
      continue;
    }
    const carried = current.at(-1);
    chunks.push(current.join('\n'));
    if (
      carried !== undefined &&
      carried.length <= maxChars / 5 &&
      carried.length + 1 + line.length <= maxChars
    ) {
      current = [carried, line];
      size = carried.length + 1 + line.length;
    } else {
      current = [line];
      size = line.length;
    }
  }
  if (current.length > 0) chunks.push(current.join('\n'));
  return chunks;
}

/** Cuts text into pieces of at most `max` characters, preferring sentence ends, then spaces. */
function splitText(text: string, max: number): string[] {
  const pieces: string[] = [];
  let rest = text;
  while (rest.length > max) {
    const window = rest.slice(0, max + 1);
    let cut = Math.max(
      window.lastIndexOf('. '),
      window.lastIndexOf('? '),
      window.lastIndexOf('! '),
      window.lastIndexOf('… '),
    );
    if (cut >= max / 2) cut += 1;
    else {
      cut = window.lastIndexOf(' ');
      if (cut <= 0) cut = max;
    }
    pieces.push(rest.slice(0, cut).trimEnd());
    rest = rest.slice(cut).trimStart();
  }
  if (rest !== '') pieces.push(rest);
  return pieces;
}
