import { readFile } from 'node:fs/promises';
import { basename, extname } from 'node:path';
import { AppError } from '../errors.ts';
import { analyzeOffline } from './offline/analyzer.ts';
import type { CallBreakdown } from './schema.ts';
import { type ParseTranscriptOptions, parseTranscript } from './transcript.ts';

export { formatBreakdownRu } from './format.ts';

export interface AnalyzeTranscriptFileOptions extends ParseTranscriptOptions {
  /** Defaults to the file name without its extension. */
  callId?: string;
}

/**
 * `voronka analyze-transcript FILE`: reads a transcript in any format of
 * TRANSCRIPTS.md (a JSON array of segments or text) and returns the offline
 * breakdown.
 */
export async function analyzeTranscriptFile(
  path: string,
  opts: AnalyzeTranscriptFileOptions = {},
): Promise<CallBreakdown> {
  let content: string;
  try {
    content = await readFile(path, 'utf8');
  } catch (cause) {
    throw new AppError(
      'transcript_unreadable',
      `cannot read transcript ${path}`,
      `Не удалось прочитать файл ${path}.`,
      {
        cause,
      },
    );
  }
  if (content.trim() === '') {
    throw new AppError(
      'transcript_empty',
      `transcript ${path} is empty`,
      `Файл ${path} пуст: нечего анализировать.`,
    );
  }
  const parsed = parseTranscript(content, { roleDictionary: opts.roleDictionary, direction: opts.direction });
  if (parsed.segments.length === 0) {
    throw new AppError(
      'transcript_empty',
      `transcript ${path} has no utterances after cleaning`,
      `В файле ${path} нет реплик: только шум или служебные строки.`,
    );
  }
  return analyzeOffline(parsed, {
    callId: opts.callId ?? basename(path, extname(path)),
    direction: opts.direction,
  });
}
