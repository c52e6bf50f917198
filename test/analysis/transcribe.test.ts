import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { createTranscriber, TranscriptionError } from '../../src/analysis/transcribe.ts';
import { parseTranscript } from '../../src/analysis/transcript.ts';
import { AppError } from '../../src/errors.ts';
import { startFakeOpenAI } from '../helpers/fake-openai.ts';

const API_KEY = 'sk-test-secret-key-123';
/** Any bytes stand for the audio: the fake transcriber does not decode them. */
const AUDIO = Buffer.from('ID3\u0004\u0000fake mp3 frames \u00ff\u00fb\u0090', 'latin1');

const VERBOSE = {
  task: 'transcribe',
  language: 'russian',
  duration: 9.5,
  text: 'Добрый день, компания Окна Плюс. Сколько стоит окно?',
  segments: [
    { id: 0, seek: 0, start: 0, end: 3.2, text: ' Добрый день, компания Окна Плюс.', tokens: [1, 2] },
    { id: 1, seek: 0, start: 3.4, end: 6.1, text: ' Сколько стоит окно?', tokens: [3] },
  ],
};

/** A loopback recording store: serves the audio at one path, records every request. */
async function startRecordings() {
  const seen: string[] = [];
  const server = http.createServer((req, res) => {
    seen.push(req.url ?? '');
    if (req.url?.startsWith('/records/call-1.mp3')) {
      res.writeHead(200, { 'content-type': 'audio/mpeg', 'content-length': AUDIO.length });
      res.end(AUDIO);
    } else {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found');
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: (path: string) => `http://127.0.0.1:${port}${path}`,
    seen,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

let fake: Awaited<ReturnType<typeof startFakeOpenAI>>;
let recordings: Awaited<ReturnType<typeof startRecordings>>;
let logs: string[];

async function setup(opts: { maxBytes?: number } = {}) {
  fake = await startFakeOpenAI();
  fake.setAudioReply(VERBOSE);
  recordings = await startRecordings();
  logs = [];
  const logger = pino({ level: 'debug' }, { write: (line: string) => logs.push(line) });
  return createTranscriber({
    baseUrl: `${fake.baseURL}/`,
    apiKey: API_KEY,
    model: 'whisper-1',
    logger,
    ...opts,
  });
}

afterEach(async () => {
  await fake?.close();
  await recordings?.close();
});

describe('transcription of a call recording', () => {
  it('downloads the recording and posts it as multipart with model, language=ru and verbose_json', async () => {
    const transcriber = await setup();
    const result = await transcriber.transcribe(recordings.url('/records/call-1.mp3?token=telephony-secret'));

    expect(recordings.seen).toEqual(['/records/call-1.mp3?token=telephony-secret']);
    expect(fake.audioRequests).toHaveLength(1);
    const request = fake.audioRequests[0]!;
    expect(request.headers.authorization).toBe(`Bearer ${API_KEY}`);
    expect(request.headers['content-type']).toMatch(/^multipart\/form-data; boundary=/u);
    const form = await new Response(new Uint8Array(request.body), {
      headers: { 'content-type': request.headers['content-type']! },
    }).formData();
    expect(form.get('model')).toBe('whisper-1');
    expect(form.get('language')).toBe('ru');
    expect(form.get('response_format')).toBe('verbose_json');
    expect(form.getAll('timestamp_granularities[]')).toEqual(['segment']);
    const file = form.get('file') as File;
    expect(file.name).toBe('call-1.mp3');
    expect(file.type).toBe('audio/mpeg');
    expect(Buffer.from(await file.arrayBuffer()).equals(AUDIO)).toBe(true);

    expect(result).toEqual({
      text: 'Добрый день, компания Окна Плюс. Сколько стоит окно?',
      language: 'russian',
      segments: [
        { start_sec: 0, text: 'Добрый день, компания Окна Плюс.' },
        { start_sec: 3.4, text: 'Сколько стоит окно?' },
      ],
    });
  });

  it('returns segments the transcript parser reads as the call transcript', async () => {
    const transcriber = await setup();
    const { segments } = await transcriber.transcribe(recordings.url('/records/call-1.mp3'));
    const parsed = parseTranscript(
      segments.map((s) => ({ speaker: 'SPK00', start_sec: s.start_sec, text: s.text })),
    );
    expect(parsed.format).toBe('json_segments');
    expect(parsed.text).toBe('Добрый день, компания Окна Плюс. Сколько стоит окно?');
    expect(parsed.segments[0]!.start_sec).toBe(0);
  });

  it('keeps the whole text as one segment when the service sends no segments', async () => {
    const transcriber = await setup();
    fake.setAudioReply({ text: ' Алло, это замерщик. ' });
    const result = await transcriber.transcribe(recordings.url('/records/call-1.mp3'));
    expect(result).toEqual({
      text: 'Алло, это замерщик.',
      language: 'ru',
      segments: [{ start_sec: 0, text: 'Алло, это замерщик.' }],
    });
  });

  it('fails with an AppError naming the download step when the recording is missing (404)', async () => {
    const transcriber = await setup();
    const error = await transcriber
      .transcribe(recordings.url('/records/gone.mp3?token=telephony-secret'))
      .catch((e: unknown) => e);

    expect(error).toBeInstanceOf(AppError);
    expect(error).toBeInstanceOf(TranscriptionError);
    const e = error as TranscriptionError;
    expect(e.step).toBe('download');
    expect(e.status).toBe(404);
    expect(e.userMessage).toMatch(/Запись звонка не найдена/u);
    expect(e.message).toContain('404');
    expect(e.message).toContain('/records/gone.mp3');
    expect(e.message).not.toContain('telephony-secret');
    expect(fake.audioRequests).toHaveLength(0);
  });

  it('reports the transcription step and status without ever writing the API key', async () => {
    const transcriber = await setup();
    fake.setAudioReply(
      { error: { message: `Incorrect API key provided: ${API_KEY}`, type: 'invalid_request_error' } },
      401,
    );
    const error = await transcriber
      .transcribe(recordings.url('/records/call-1.mp3'))
      .catch((e: unknown) => e);

    expect(error).toBeInstanceOf(TranscriptionError);
    const e = error as TranscriptionError;
    expect(e.step).toBe('transcribe');
    expect(e.status).toBe(401);
    expect(e.userMessage).toMatch(/ключ доступа/u);
    expect(e.message).toContain('Incorrect API key provided');
    expect(e.message).not.toContain(API_KEY);

    fake.setAudioReply(VERBOSE);
    await transcriber.transcribe(recordings.url('/records/call-1.mp3'));
    expect(logs.length).toBeGreaterThan(0);
    expect(logs.join('\n')).not.toContain(API_KEY);
  });

  it('refuses a recording over the size limit without uploading it', async () => {
    const transcriber = await setup({ maxBytes: 10 });
    const error = await transcriber
      .transcribe(recordings.url('/records/call-1.mp3'))
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TranscriptionError);
    expect((error as TranscriptionError).code).toBe('recording_too_large');
    expect((error as TranscriptionError).userMessage).toMatch(/слишком большая/u);
    expect(fake.audioRequests).toHaveLength(0);
  });

  it('rejects an answer that is not a verbose_json transcript', async () => {
    const transcriber = await setup();
    fake.setAudioReply({ result: 'ok' });
    const error = await transcriber
      .transcribe(recordings.url('/records/call-1.mp3'))
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TranscriptionError);
    expect((error as TranscriptionError).step).toBe('response');
    expect((error as TranscriptionError).userMessage).toMatch(/неожиданном формате/u);
  });
});
