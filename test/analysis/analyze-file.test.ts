import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { analyzeTranscriptFile, formatBreakdownRu } from '../../src/analysis/analyze-file.ts';
import { analyzeOffline } from '../../src/analysis/offline/analyzer.ts';
import type { CallBreakdown } from '../../src/analysis/schema.ts';
import { parseTranscript } from '../../src/analysis/transcript.ts';
import { AppError } from '../../src/errors.ts';
import { sharedPath } from '../helpers/shared.ts';

const samplePath = sharedPath('fixtures/transcripts/sample-speaker-ids.txt');
const labelled = join(import.meta.dirname, '../fixtures/calls-labelled');

async function errorOf(promise: Promise<unknown>): Promise<AppError> {
  try {
    await promise;
  } catch (e) {
    if (e instanceof AppError) return e;
    throw e;
  }
  throw new Error('expected a rejection');
}

describe('analyzeTranscriptFile', () => {
  it('analyses a text transcript, naming the call after the file', async () => {
    const b = await analyzeTranscriptFile(samplePath);
    expect(b.call_id).toBe('sample-speaker-ids');
    expect(b).toEqual(
      analyzeOffline(parseTranscript(readFileSync(samplePath, 'utf8')), { callId: 'sample-speaker-ids' }),
    );
  });

  it('analyses a JSON array of segments and passes the direction and call id through', async () => {
    const b = await analyzeTranscriptFile(join(labelled, '14.json'), { callId: 'CL-14', direction: 'in' });
    expect(b.call_id).toBe('CL-14');
    expect(b.company_speaker).toBe('A');
    expect(b.summary).toMatch(/^Входящий звонок/u);
  });

  it('explains in Russian when the file is missing, empty or only noise', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'voronka-analysis-'));
    const missing = await errorOf(analyzeTranscriptFile(join(dir, 'nope.txt')));
    expect(missing.code).toBe('transcript_unreadable');
    expect(missing.userMessage).toMatch(/Не удалось прочитать/u);

    writeFileSync(join(dir, 'empty.txt'), '  \n');
    expect((await errorOf(analyzeTranscriptFile(join(dir, 'empty.txt')))).code).toBe('transcript_empty');

    writeFileSync(
      join(dir, 'noise.txt'),
      'SPK00:  Редактор субтитров А.Семкин Корректор А.Егорова\nSPK01:  Угу.\n',
    );
    const noise = await errorOf(analyzeTranscriptFile(join(dir, 'noise.txt')));
    expect(noise.code).toBe('transcript_empty');
    expect(noise.userMessage).toMatch(/нет реплик/u);
  });
});

describe('formatBreakdownRu', () => {
  const breakdown: CallBreakdown = {
    call_id: 'CL-7',
    analyzer: 'offline@1.0',
    confidence: 0.7,
    company_speaker: 'SPK00',
    summary: 'Клиент хочет окно.',
    readiness: 55,
    readiness_band: 'medium',
    churn_risk: 'high',
    stage: 'price_negotiation',
    objections: [
      { type: 'price', quote: 'Дороговато.', handled: true },
      { type: 'competitor', quote: 'Мне в другой фирме дешевле предлагали.', handled: false },
    ],
    script: {
      greeting: { done: true, quote: 'Добрый день, компания Окна Плюс' },
      need_identified: { done: true, quote: 'Какой примерно размер проёма?' },
      price_named: { done: true, quote: 'от двадцати восьми тысяч' },
      next_step_offered: { done: false, quote: null },
      summary_agreed: { done: false, quote: null },
    },
    strengths: [{ text: 'Отработал возражение «Дорого»', quote: 'Давайте я пришлю замерщика бесплатно' }],
    misses: [
      {
        text: 'Не отработал возражение «У других дешевле / конкуренты»',
        quote: 'Мне в другой фирме дешевле предлагали.',
      },
      { text: 'Не предложил конкретный следующий шаг с датой', quote: null },
    ],
    next_step: 'Перезвонить со сравнением с конкурентом.',
    needs: ['замер'],
    lead_quality: { target: true, reason: 'Клиент обсуждает покупку' },
    talk_ratio: 0.6,
  };

  it('renders readiness, risk, stage, objections, script, quotes and the next step in Russian', () => {
    expect(formatBreakdownRu(breakdown)).toBe(
      [
        'Разбор звонка CL-7',
        'Готовность купить: 55/100 (средняя) · Риск потери: высокий',
        'Стадия: Переговоры о цене',
        'Возражения:',
        '✓ Дорого: «Дороговато.»',
        '✗ У других дешевле / конкуренты: «Мне в другой фирме дешевле предлагали.» — не отработано',
        'Скрипт: ✓ приветствие · ✓ потребность · ✓ цена · ✗ след. шаг · ✗ итог',
        'Цитаты:',
        '• «Давайте я пришлю замерщика бесплатно» — отработал возражение «Дорого»',
        '• «Добрый день, компания Окна Плюс» — приветствие и представление',
        'Упущено: не предложил конкретный следующий шаг с датой',
        'Следующий шаг: Перезвонить со сравнением с конкурентом.',
      ].join('\n'),
    );
  });

  it('says when a lead is not a customer and when there were no objections', () => {
    const text = formatBreakdownRu({
      ...breakdown,
      objections: [],
      misses: [],
      strengths: [],
      lead_quality: { target: false, reason: 'Ошиблись номером' },
    });
    expect(text).toContain('Нецелевой: Ошиблись номером');
    expect(text).toContain('Возражений нет');
  });

  it('fits a real breakdown into a short message', async () => {
    const text = formatBreakdownRu(await analyzeTranscriptFile(samplePath));
    expect(text).toContain('✓ Дорого: «Дороговато.»');
    expect(text.length).toBeLessThan(1200);
  });
});
