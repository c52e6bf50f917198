import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  findVerbatimQuote,
  isVerbatimQuote,
  parseTranscript,
  renderTranscript,
} from '../../src/analysis/transcript.ts';
import { AppError } from '../../src/errors.ts';
import { sharedPath } from '../helpers/shared.ts';

const fixtures = sharedPath('fixtures/transcripts');
const realCall = readFileSync(join(fixtures, 'demo-call-role-labels.txt'), 'utf8');
const sample = readFileSync(join(fixtures, 'sample-speaker-ids.txt'), 'utf8');

describe('format 1: role and speaker id', () => {
  const text = [
    'Менеджер (SPK00): Добрый день, компания «Уют», меня зовут Ольга.',
    'Клиент (SPK01): Здравствуйте, сколько стоит',
    'Клиент (SPK01): диван «Монако»?',
    'Менеджер (SPK00): Шестьдесят тысяч.',
  ].join('\n');

  it('reads speakers, role words and merges consecutive lines with single spaces', () => {
    const parsed = parseTranscript(text);
    expect(parsed.format).toBe('role_and_speaker');
    expect(parsed.segments).toEqual([
      { speaker: 'SPK00', role: 'manager', text: 'Добрый день, компания «Уют», меня зовут Ольга.' },
      { speaker: 'SPK01', role: 'client', text: 'Здравствуйте, сколько стоит диван «Монако»?' },
      { speaker: 'SPK00', role: 'manager', text: 'Шестьдесят тысяч.' },
    ]);
    expect(parsed.companySpeaker).toBe('SPK00');
    expect(parsed.sideInference.method).toBe('roles');
  });

  it('keeps the speaker when the name comes first and the role is in brackets', () => {
    const parsed = parseTranscript('Марина (Менеджер): Добрый день!\nИгорь (Клиент): Здравствуйте.');
    expect(parsed.segments.map((s) => [s.speaker, s.role])).toEqual([
      ['Марина', 'manager'],
      ['Игорь', 'client'],
    ]);
  });
});

describe('format 2: speaker id only', () => {
  it('handles two spaces after the colon and merges a speaker’s split lines', () => {
    const parsed = parseTranscript(sample);
    expect(parsed.format).toBe('speaker_only');
    expect(parsed.segments[0]).toEqual({
      speaker: 'SPK00',
      role: 'manager',
      text: 'Добрый день, компания Окна Плюс, меня зовут Марина. Вы оставляли заявку на замер, удобно говорить?',
    });
    expect(parsed.segments[1]!.text).toBe('Да, удобно. Сколько стоит пластиковое окно на кухню?');
    expect(parsed.segments.map((s) => s.speaker)).toEqual([
      'SPK00',
      'SPK01',
      'SPK00',
      'SPK01',
      'SPK00',
      'SPK01',
      'SPK00',
      'SPK01',
      'SPK00',
    ]);
  });

  it('reads a leading timestamp into start_sec', () => {
    const parsed = parseTranscript('[00:00:01] SPK00: Алло, добрый день.\n[00:01:04] SPK01: Здравствуйте.');
    expect(parsed.segments.map((s) => s.start_sec)).toEqual([1, 64]);
    expect(parsed.segments[1]!.text).toBe('Здравствуйте.');
  });

  it('treats role words used as labels as roles', () => {
    const parsed = parseTranscript(
      'Оператор: Служба доставки «Родник», здравствуйте.\nАбонент: Хочу заказать воду.',
    );
    expect(parsed.segments.map((s) => [s.speaker, s.role])).toEqual([
      ['Оператор', 'manager'],
      ['Абонент', 'client'],
    ]);
  });
});

describe('format 3: JSON segments', () => {
  const segments = [
    { speaker: 'A', role: 'manager', start_sec: 0, text: 'Автосалон «Восток», Руслан, добрый день.' },
    { speaker: 'B', role: 'client', start_sec: 3.5, text: 'Здравствуйте,' },
    { speaker: 'B', role: 'client', start_sec: 5, text: 'интересует Тигуан.' },
  ];

  it('accepts an array and merges consecutive segments of a speaker, keeping the first start', () => {
    const parsed = parseTranscript(segments);
    expect(parsed.format).toBe('json_segments');
    expect(parsed.segments).toEqual([
      { speaker: 'A', role: 'manager', start_sec: 0, text: 'Автосалон «Восток», Руслан, добрый день.' },
      { speaker: 'B', role: 'client', start_sec: 3.5, text: 'Здравствуйте, интересует Тигуан.' },
    ]);
  });

  it('accepts the same array as JSON text, with role words and null roles', () => {
    const text = JSON.stringify([
      { speaker: 'SPK00', role: 'Менеджер', text: 'Банкетный зал «Панорама», Екатерина, добрый день.' },
      { speaker: 'SPK01', role: null, text: 'Добрый день, хотим отметить юбилей.' },
    ]);
    const parsed = parseTranscript(text);
    expect(parsed.format).toBe('json_segments');
    expect(parsed.speakers.map((s) => [s.speaker, s.hintedRole, s.role])).toEqual([
      ['SPK00', 'manager', 'manager'],
      ['SPK01', null, 'client'],
    ]);
  });

  it('rejects segments without text with a Russian message', () => {
    let error: unknown;
    try {
      parseTranscript([{ speaker: 'A', role: 'manager' } as never]);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(AppError);
    expect((error as AppError).code).toBe('transcript_invalid');
    expect((error as AppError).userMessage).toMatch(/расшифровку/u);
  });
});

describe('format 4: plain text', () => {
  it('is one segment without a role and without a company side', () => {
    const parsed = parseTranscript(
      'Алло, здравствуйте.\nЗдравствуйте, сколько стоит уборка?\nДевять тысяч рублей.',
    );
    expect(parsed.format).toBe('plain_text');
    expect(parsed.segments).toEqual([
      {
        speaker: 'UNKNOWN',
        role: null,
        text: 'Алло, здравствуйте. Здравствуйте, сколько стоит уборка? Девять тысяч рублей.',
      },
    ]);
    expect(parsed.companySpeaker).toBeNull();
    expect(parsed.sideInference.method).toBe('none');
  });

  it('does not take a colon inside a sentence for a speaker label', () => {
    const parsed = parseTranscript(
      'Добрый день, клининг «Блеск».\nИтак: суббота, девять утра.\nСпасибо, до свидания.',
    );
    expect(parsed.format).toBe('plain_text');
  });
});

describe('cleaning', () => {
  it('collapses the real call’s runs of identical lines, even when the diarizer switched speakers', () => {
    const line =
      'Хорошо, я понял. Татьяна, давайте тогда договоримся, как обновить, напишите мне, пожалуйста, чтобы у вас все корректно работало и вы верили нашему отчету. Вот.';
    expect(realCall.split(line).length - 1).toBe(7);
    const parsed = parseTranscript(realCall);
    expect(parsed.text.split(line).length - 1).toBe(1);
    expect(parsed.stats.duplicatesCollapsed).toBeGreaterThanOrEqual(6);
  });

  it('collapses exact repeats of one speaker but keeps a short answer repeated by the other side', () => {
    const parsed = parseTranscript(
      [
        'SPK00:  Добрый день, студия «Уют».',
        'SPK00:  Добрый день, студия «Уют».',
        'SPK01:  Да.',
        'SPK00:  Да.',
      ].join('\n'),
    );
    expect(parsed.segments.map((s) => s.text)).toEqual(['Добрый день, студия «Уют».', 'Да.', 'Да.']);
  });

  it('removes the subtitle credits at the end of the real call', () => {
    const parsed = parseTranscript(realCall);
    expect(realCall).toContain('Редактор субтитров А.Семкин Корректор А.Егорова');
    expect(parsed.text).not.toContain('Редактор');
    expect(parsed.text).not.toContain('Корректор');
    expect(parsed.segments.at(-1)).toMatchObject({ speaker: 'SPK02', text: 'Вам тоже. До свидания.' });
  });

  it('removes other transcriber credits, annotations and filler-only lines', () => {
    const parsed = parseTranscript(
      [
        'SPK00:  Здравствуйте, «Лотос», Алина. [музыка]',
        'SPK01:  Угу.',
        'SPK01:  Хотела узнать (00:07) про абонементы.',
        'SPK00:  Продолжение следует...',
        'SPK01:  Субтитры сделал DimaTorzok',
      ].join('\n'),
    );
    expect(parsed.segments.map((s) => s.text)).toEqual([
      'Здравствуйте, «Лотос», Алина.',
      'Хотела узнать про абонементы.',
    ]);
    expect(parsed.stats.noiseRemoved).toBe(2);
    expect(parsed.stats.fillersRemoved).toBe(1);
  });
});

describe('roles', () => {
  const custom = [
    'Консультант (SPK07): Добрый день, салон «Дом», чем помочь?',
    'Гость (SPK08): Ищу диван.',
  ].join('\n');

  it('uses a role dictionary override', () => {
    const withDictionary = parseTranscript(custom, {
      roleDictionary: { Консультант: 'manager', Гость: 'client' },
    });
    expect(withDictionary.speakers.map((s) => [s.speaker, s.hintedRole])).toEqual([
      ['SPK07', 'manager'],
      ['SPK08', 'client'],
    ]);
    expect(withDictionary.sideInference.method).toBe('roles');

    const withoutDictionary = parseTranscript(custom);
    expect(withoutDictionary.speakers.map((s) => s.hintedRole)).toEqual([null, null]);
    expect(withoutDictionary.sideInference.method).toBe('inferred');
    expect(withoutDictionary.companySpeaker).toBe('SPK07');
  });

  it('lets a dictionary entry override a default role word', () => {
    const parsed = parseTranscript('Саппорт (SPK00): Добрый день.\nМенеджер (SPK01): Здравствуйте.', {
      roleDictionary: { Саппорт: 'client' },
    });
    expect(parsed.speakers.map((s) => s.hintedRole)).toEqual(['client', 'manager']);
  });

  it('infers the company on the real call, where the role words are wrong', () => {
    const parsed = parseTranscript(realCall);
    expect(parsed.companySpeaker).toBe('SPK00');
    expect(parsed.sideInference.method).toBe('inferred');
    expect(parsed.sideInference.confidence).toBeLessThan(0.9);
    const byId = Object.fromEntries(parsed.speakers.map((s) => [s.speaker, s]));
    expect(byId.SPK00).toMatchObject({ hintedRole: 'manager', role: 'manager' });
    expect(byId.SPK02).toMatchObject({ hintedRole: 'manager', role: 'client' });
    expect(byId.SPK03).toMatchObject({ hintedRole: 'other', role: 'other' });
  });

  it('infers the company on the format-2 sample: the one who says «компания Окна Плюс»', () => {
    const parsed = parseTranscript(sample);
    expect(parsed.companySpeaker).toBe('SPK00');
    expect(parsed.sideInference.method).toBe('inferred');
    expect(parsed.sideInference.confidence).toBeGreaterThan(0.7);
    expect(parsed.sideInference.reasons.join(' ')).toMatch(/называет компанию/u);
  });

  it('overrides consistent role labels that are swapped', () => {
    const parsed = parseTranscript(
      [
        'Клиент (SPK00): Здравствуйте, фитнес-клуб «Атлет», администратор Дарья.',
        'Менеджер (SPK01): Здравствуйте, сколько у вас стоит годовой абонемент?',
        'Клиент (SPK00): Годовой безлимит — тридцать две тысячи. А вы раньше у нас занимались?',
        'Менеджер (SPK01): Нет. Дороговато, я подумаю.',
      ].join('\n'),
    );
    expect(parsed.companySpeaker).toBe('SPK00');
    expect(parsed.sideInference.method).toBe('inferred');
  });

  it('uses the call direction when the content says little', () => {
    const call = 'SPK00:  Алло.\nSPK01:  Добрый день, это по поводу вашей заявки.\nSPK00:  Да.';
    expect(parseTranscript(call, { direction: 'out' }).companySpeaker).toBe('SPK01');
    expect(parseTranscript(call, { direction: 'in' }).companySpeaker).toBe('SPK00');
  });
});

describe('quotes', () => {
  const parsed = parseTranscript(sample);

  it('accepts verbatim parts of one utterance of the merged text', () => {
    expect(isVerbatimQuote(parsed, 'Дороговато.')).toBe(true);
    expect(isVerbatimQuote(parsed, 'компания Окна Плюс, меня зовут Марина')).toBe(true);
  });

  it('rejects text that is not verbatim or spans two utterances', () => {
    expect(isVerbatimQuote(parsed, 'дороговато')).toBe(false);
    expect(isVerbatimQuote(parsed, 'Окна Плюс,  меня зовут')).toBe(false);
    expect(isVerbatimQuote(parsed, 'удобно говорить?\nДа, удобно.')).toBe(false);
    expect(isVerbatimQuote(parsed, ' ')).toBe(false);
  });

  it('repairs a reformatted quote into the verbatim one', () => {
    expect(findVerbatimQuote(parsed, '«дороговато»')).toBe('Дороговато');
    expect(findVerbatimQuote(parsed, 'ЗАПИСАЛА НА СУББОТУ,  ДЕСЯТЬ УТРА')).toBe(
      'Записала на субботу, десять утра',
    );
    expect(findVerbatimQuote(parsed, 'какой примерно размер проема')).toBe('Какой примерно размер проёма');
    expect(findVerbatimQuote(parsed, 'мне в другой фирме намного дешевле')).toBeNull();
  });

  it('renders utterances with speakers and resolved roles', () => {
    expect(renderTranscript(parsed).split('\n').slice(0, 2)).toEqual([
      'SPK00 (менеджер): Добрый день, компания Окна Плюс, меня зовут Марина. Вы оставляли заявку на замер, удобно говорить?',
      'SPK01 (клиент): Да, удобно. Сколько стоит пластиковое окно на кухню?',
    ]);
  });
});
