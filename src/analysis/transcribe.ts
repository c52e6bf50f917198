import { basename } from 'node:path';
import { z } from 'zod';
import { AppError } from '../errors.ts';
import type { Logger } from '../logger.ts';

/** One timed piece of speech from the transcription service (no speaker: it does not diarize). */
export interface TranscriptionSegment {
  start_sec: number;
  text: string;
}

export interface Transcription {
  text: string;
  segments: TranscriptionSegment[];
  /** As the service reports it (`russian` from OpenAI), `ru` when it does not. */
  language: string;
}

export interface TranscriberOptions {
  /** An OpenAI-compatible API root, e.g. `https://api.openai.com/v1`. */
  baseUrl: string;
  apiKey: string;
  /** e.g. `whisper-1`. */
  model: string;
  fetch?: typeof fetch;
  logger: Logger;
  /** Largest recording sent; OpenAI accepts up to 25 MB. */
  maxBytes?: number;
  /** Per step (download, transcription); 10 minutes by default. */
  timeoutMs?: number;
}

export interface Transcriber {
  transcribe(recordingUrl: string): Promise<Transcription>;
}

export type TranscriptionStep = 'download' | 'transcribe' | 'response';

/** A transcription failure, with the step that failed and the HTTP status when there was one. */
export class TranscriptionError extends AppError {
  override name = 'TranscriptionError';
  readonly step: TranscriptionStep;
  readonly status: number | null;

  constructor(
    code: string,
    step: TranscriptionStep,
    status: number | null,
    message: string,
    userMessage: string,
    options?: { cause?: unknown },
  ) {
    super(code, message, userMessage, options);
    this.step = step;
    this.status = status;
  }
}

const verboseJsonSchema = z.object({
  text: z.string(),
  language: z.string().optional(),
  segments: z.array(z.object({ start: z.number(), text: z.string() })).optional(),
});

const MB = 1024 * 1024;

/**
 * Speech-to-text through an OpenAI-compatible `/audio/transcriptions`
 * endpoint (TRANSCRIPTS.md: "our own transcription step"). Returns the
 * verbose JSON's timed segments so the caller can store them as the call's
 * transcript. The API key only ever goes into the Authorization header; the
 * recording URL is logged and reported without its query string, which often
 * carries a telephony access token.
 */
export function createTranscriber(options: TranscriberOptions): Transcriber {
  const doFetch = options.fetch ?? fetch;
  const endpoint = `${options.baseUrl.replace(/\/+$/u, '')}/audio/transcriptions`;
  const maxBytes = options.maxBytes ?? 25 * MB;
  const timeoutMs = options.timeoutMs ?? 600_000;
  const logger = options.logger;

  async function download(recordingUrl: string, shownUrl: string): Promise<{ bytes: Buffer; type: string }> {
    let res: Response;
    try {
      res = await doFetch(recordingUrl, { signal: AbortSignal.timeout(timeoutMs) });
    } catch (cause) {
      throw new TranscriptionError(
        'recording_download_failed',
        'download',
        null,
        `transcription: cannot download ${shownUrl}: ${(cause as Error).message}`,
        'Не удалось скачать запись звонка для расшифровки: сервер записи недоступен.',
        { cause },
      );
    }
    if (!res.ok) {
      await res.body?.cancel();
      throw new TranscriptionError(
        'recording_download_failed',
        'download',
        res.status,
        `transcription: download of ${shownUrl} answered HTTP ${res.status}`,
        res.status === 404
          ? 'Запись звонка не найдена (HTTP 404): возможно, ссылка устарела.'
          : `Не удалось скачать запись звонка: сервер записи ответил ошибкой ${res.status}.`,
      );
    }
    const declared = Number(res.headers.get('content-length'));
    if (declared > maxBytes) {
      await res.body?.cancel();
      throw tooLarge(shownUrl, declared, maxBytes);
    }
    const bytes = Buffer.from(await res.arrayBuffer());
    if (bytes.length > maxBytes) throw tooLarge(shownUrl, bytes.length, maxBytes);
    if (bytes.length === 0) {
      throw new TranscriptionError(
        'recording_empty',
        'download',
        res.status,
        `transcription: ${shownUrl} is empty`,
        'Запись звонка пустая: расшифровывать нечего.',
      );
    }
    return { bytes, type: res.headers.get('content-type') ?? 'application/octet-stream' };
  }

  async function transcribe(recordingUrl: string): Promise<Transcription> {
    const shownUrl = withoutQuery(recordingUrl);
    if (shownUrl === null) {
      throw new TranscriptionError(
        'recording_url_invalid',
        'download',
        null,
        'transcription: the recording URL is not a valid http(s) URL',
        'У звонка некорректная ссылка на запись: расшифровать её нельзя.',
      );
    }
    const { bytes, type } = await download(recordingUrl, shownUrl);

    const form = new FormData();
    form.append('file', new Blob([bytes], { type }), fileNameOf(recordingUrl));
    form.append('model', options.model);
    form.append('language', 'ru');
    form.append('response_format', 'verbose_json');
    form.append('timestamp_granularities[]', 'segment');

    const started = Date.now();
    let res: Response;
    try {
      res = await doFetch(endpoint, {
        method: 'POST',
        headers: { authorization: `Bearer ${options.apiKey}` },
        body: form,
        signal: AbortSignal.timeout(timeoutMs),
      });
    } catch (cause) {
      throw new TranscriptionError(
        'transcription_failed',
        'transcribe',
        null,
        `transcription: request to ${endpoint} failed: ${(cause as Error).message}`,
        'Сервис расшифровки недоступен. Попробуйте позже.',
        { cause },
      );
    }
    const body = await res.text();
    if (!res.ok) {
      throw new TranscriptionError(
        'transcription_failed',
        'transcribe',
        res.status,
        `transcription: ${endpoint} answered HTTP ${res.status}: ${errorTextOf(body, options.apiKey)}`,
        res.status === 401 || res.status === 403
          ? 'Сервис расшифровки отклонил ключ доступа: проверьте настройки подключения.'
          : `Сервис расшифровки не смог обработать запись звонка (ошибка ${res.status}). Попробуйте позже.`,
      );
    }
    let parsed: z.infer<typeof verboseJsonSchema>;
    try {
      parsed = verboseJsonSchema.parse(JSON.parse(body));
    } catch (cause) {
      throw new TranscriptionError(
        'transcription_invalid',
        'response',
        res.status,
        `transcription: ${endpoint} returned no verbose_json transcript: ${(cause as Error).message.slice(0, 300)}`,
        'Сервис расшифровки вернул ответ в неожиданном формате.',
        { cause },
      );
    }

    const segments = (parsed.segments ?? [{ start: 0, text: parsed.text }])
      .map((s) => ({ start_sec: s.start, text: s.text.trim() }))
      .filter((s) => s.text !== '');
    logger.info(
      {
        recording: shownUrl,
        model: options.model,
        bytes: bytes.length,
        segments: segments.length,
        ms: Date.now() - started,
      },
      'call recording transcribed',
    );
    return { text: parsed.text.trim(), segments, language: parsed.language ?? 'ru' };
  }

  return { transcribe };
}

function tooLarge(shownUrl: string, size: number, maxBytes: number): TranscriptionError {
  return new TranscriptionError(
    'recording_too_large',
    'download',
    null,
    `transcription: ${shownUrl} is ${size} bytes, over the ${maxBytes} limit`,
    `Запись звонка слишком большая для расшифровки: ${(size / MB).toFixed(1)} МБ при максимуме ${(maxBytes / MB).toFixed(0)} МБ.`,
  );
}

/** The URL without credentials, query and fragment; null unless it is http(s). */
function withoutQuery(url: string): string | null {
  try {
    const u = new URL(url);
    return u.protocol === 'http:' || u.protocol === 'https:' ? `${u.protocol}//${u.host}${u.pathname}` : null;
  } catch {
    return null;
  }
}

/** The service guesses the audio format from the file name, so keep the recording's own name. */
function fileNameOf(url: string): string {
  try {
    const name = basename(decodeURIComponent(new URL(url).pathname));
    return /\.[a-z0-9]{2,4}$/iu.test(name) ? name : 'recording.mp3';
  } catch {
    return 'recording.mp3';
  }
}

/** The error text of an OpenAI-style error body, shortened, with the key masked should a server echo it. */
function errorTextOf(body: string, apiKey: string): string {
  let text = body;
  try {
    const message = (JSON.parse(body) as { error?: { message?: unknown } }).error?.message;
    if (typeof message === 'string') text = message;
  } catch {
    // Not JSON: keep the raw text.
  }
  return (apiKey ? text.replaceAll(apiKey, '[redacted]') : text).slice(0, 300);
}
