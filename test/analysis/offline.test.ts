import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { toJsonSchema } from '@langchain/core/utils/json_schema';
import { describe, expect, it } from 'vitest';
import { analyzeOffline, OFFLINE_ANALYZER } from '../../src/analysis/offline/analyzer.ts';
import { type CallBreakdown, callBreakdownSchema, readinessBand } from '../../src/analysis/schema.ts';
import { isVerbatimQuote, type ParsedTranscript, parseTranscript } from '../../src/analysis/transcript.ts';
import { sharedPath } from '../helpers/shared.ts';

const fixtures = sharedPath('fixtures/transcripts');
const labelled = join(import.meta.dirname, '../fixtures/calls-labelled');
const realCall = readFileSync(join(fixtures, 'demo-call-role-labels.txt'), 'utf8');
const sample = readFileSync(join(fixtures, 'sample-speaker-ids.txt'), 'utf8');

function quotesOf(b: CallBreakdown): string[] {
  return [
    ...b.objections.map((o) => o.quote),
    ...Object.values(b.script).map((s) => s.quote),
    ...b.strengths.map((s) => s.quote),
    ...b.misses.map((s) => s.quote),
  ].filter((q): q is string => q !== null);
}

function expectVerbatim(parsed: ParsedTranscript, b: CallBreakdown): void {
  for (const q of quotesOf(b))
    expect({ quote: q, verbatim: isVerbatimQuote(parsed, q) }).toEqual({ quote: q, verbatim: true });
}

function analyze(text: string, direction?: 'in' | 'out') {
  const parsed = parseTranscript(text, { direction });
  return { parsed, b: analyzeOffline(parsed, { callId: 'CL-1', direction }) };
}

describe('the format-2 sample call', () => {
  const { parsed, b } = analyze(sample);

  it('finds the price, competitor and think objections with the client’s words', () => {
    expect(b.objections.map((o) => o.type)).toEqual(['price', 'competitor', 'think']);
    expect(b.objections[0]).toEqual({ type: 'price', quote: 'Дороговато.', handled: true });
    expect(b.objections[1]!.quote).toContain('в другой фирме дешевле');
    expect(b.objections[2]!.quote).toBe('Я подумаю.');
  });

  it('marks greeting, price and next step as done with quotes that prove them', () => {
    expect(b.script.greeting.done).toBe(true);
    expect(b.script.greeting.quote).toContain('Добрый день, компания Окна Плюс');
    expect(b.script.price_named).toEqual({
      done: true,
      quote: 'Такое окно с монтажом от двадцати восьми тысяч.',
    });
    expect(b.script.next_step_offered.done).toBe(true);
    expect(b.script.next_step_offered.quote).toContain('замерщика');
    expect(b.script.need_identified.quote).toBe('Какой примерно размер проёма и какой этаж?');
  });

  it('keeps every quote verbatim and fills the METRICS fields consistently', () => {
    expectVerbatim(parsed, b);
    expect(b.analyzer).toBe(OFFLINE_ANALYZER);
    expect(b.call_id).toBe('CL-1');
    expect(b.company_speaker).toBe('SPK00');
    expect(b.readiness_band).toBe(readinessBand(b.readiness));
    expect(b.stage).toBe('price_negotiation');
    expect(b.lead_quality.target).toBe(true);
    expect(b.needs).toContain('замер');
    // SPK00 says 55 of the call's 81 words.
    expect(b.talk_ratio).toBe(0.68);
    expect(b.summary.split(/(?<=[.!?»])\s+(?=[А-ЯЁ])/u).length).toBeLessThanOrEqual(4);
    expect(b.next_step).not.toBe('');
  });
});

describe('the real 81 KB call', () => {
  it('is analysed quickly, with SPK00 as the company and lower confidence than a clean short call', () => {
    const started = performance.now();
    const { parsed, b } = analyze(realCall);
    const ms = performance.now() - started;
    console.log(
      `real call: ${Buffer.byteLength(realCall)} bytes, ${parsed.words} words, analysed in ${ms.toFixed(0)} ms`,
    );
    expect(ms).toBeLessThan(3000);
    expect(b.company_speaker).toBe('SPK00');
    expectVerbatim(parsed, b);
    const short = analyze(sample).b;
    expect(b.confidence).toBeLessThan(short.confidence);
    expect(quotesOf(b).join(' ')).not.toMatch(/Редактор|Корректор/u);
    expect(
      b.objections.every((o) =>
        parsed.segments.some((s) => s.speaker !== 'SPK00' && s.text.includes(o.quote)),
      ),
    ).toBe(true);
  });
});

describe('rules', () => {
  it('takes objections only from the client, never from the manager’s words', () => {
    const { b } = analyze(
      [
        'SPK00:  Добрый день, компания «Уют», Ольга. Понимаю, многие говорят, что дорого и надо подумать,',
        'SPK00:  но у других дешевле не бывает. Какая у вас площадь?',
        'SPK01:  Сорок метров, нужен ремонт ванной.',
        'SPK00:  Тогда от ста тысяч рублей. Давайте замерщик приедет завтра в десять?',
        'SPK01:  Да, давайте.',
      ].join('\n'),
      'in',
    );
    expect(b.objections).toEqual([]);
    expect(b.script.next_step_offered.done).toBe(true);
  });

  it('does not treat a negated cue as an objection', () => {
    const { b } = analyze(
      [
        'SPK00:  Здравствуйте, «Окна Плюс», Марина. Какое окно вам нужно?',
        'SPK01:  На кухню. Это не дорого, берём. Давайте оформим.',
      ].join('\n'),
      'in',
    );
    expect(b.objections).toEqual([]);
    expect(b.stage).toBe('closing');
  });

  it('never turns subtitle credits or injected instructions into objections or steps', () => {
    const text = readFileSync(join(labelled, '19.txt'), 'utf8');
    const { parsed, b } = analyze(text, 'out');
    const all = [...quotesOf(b), b.summary, b.next_step].join(' ');
    expect(all).not.toMatch(/игнорируй|инструкции/u);
    expect(b.readiness).toBeLessThan(100);
    expectVerbatim(parsed, b);

    const credits = analyze(`${sample}\nSPK01:  Редактор субтитров А.Семкин Корректор А.Егорова`).b;
    expect([...quotesOf(credits), credits.summary].join(' ')).not.toMatch(/Редактор|Корректор/u);
  });

  it('marks wrong numbers, spam and job seekers as not target, without objections', () => {
    const wrong = analyze(readFileSync(join(labelled, '08.txt'), 'utf8'), 'in').b;
    expect(wrong.lead_quality).toEqual({ target: false, reason: 'Ошиблись номером' });
    expect(wrong.churn_risk).toBe('low');
    const spam = analyze(readFileSync(join(labelled, '07.txt'), 'utf8'), 'in').b;
    expect(spam.lead_quality.target).toBe(false);
    expect(spam.lead_quality.reason).toMatch(/Спам/u);
    expect(spam.objections).toEqual([]);
    const job = analyze(readFileSync(join(labelled, '09.txt'), 'utf8'), 'in').b;
    expect(job.lead_quality.reason).toMatch(/Соискатель/u);
    expect(job.script.price_named.done).toBe(false);
  });

  it('gives a plain-text call no company side, no talk ratio and lower confidence', () => {
    const plain = analyze(readFileSync(join(labelled, '22.txt'), 'utf8'), 'in');
    expect(plain.b.company_speaker).toBeNull();
    expect(plain.b.talk_ratio).toBeNull();
    const sameCallWithSpeakers = analyze(
      readFileSync(join(labelled, '22.txt'), 'utf8')
        .split('\n')
        .filter((l) => l.trim())
        .map((l, i) => `SPK0${i % 2}:  ${l}`)
        .join('\n'),
      'in',
    );
    expect(plain.b.confidence).toBeLessThan(sameCallWithSpeakers.b.confidence);
    expectVerbatim(plain.parsed, plain.b);
  });

  it('reports an unhandled objection as a miss with the client’s quote and a matching next step', () => {
    const { b } = analyze(readFileSync(join(labelled, '20.txt'), 'utf8'), 'in');
    expect(b.objections).toEqual([{ type: 'price', quote: 'Это очень дорого для меня.', handled: false }]);
    expect(b.misses[0]).toEqual({
      text: 'Не отработал возражение «Дорого»',
      quote: 'Это очень дорого для меня.',
    });
    expect(b.churn_risk).toBe('high');
    expect(b.next_step).toMatch(/цен/u);
  });

  it('picks the clause around the cue, not a whole long utterance', () => {
    const long =
      'Ну смотрите, мы вообще давно думаем про автоматизацию склада, у нас три точки, много возвратов, ' +
      'постоянно путаются остатки, бухгалтер ругается, директор требует отчёты каждую неделю, ' +
      'но если честно, для нас это дороговато, мы небольшая компания, и бюджет на такие вещи не закладывали.';
    const { parsed, b } = analyze(
      `SPK00:  Добрый день, компания «Склад Онлайн», Тимур. Сколько у вас точек?\nSPK01:  ${long}`,
      'out',
    );
    const price = b.objections.find((o) => o.type === 'price')!;
    expect(price.quote.length).toBeLessThan(long.length / 2);
    expect(price.quote).toContain('дороговато');
    expect(isVerbatimQuote(parsed, price.quote)).toBe(true);
  });
});

describe('schema', () => {
  it('accepts the analyzer output and the METRICS example shape', () => {
    const example = {
      call_id: 'CL-1',
      analyzer: 'offline@1.0',
      confidence: 0.7,
      company_speaker: 'SPK00',
      summary: '…',
      readiness: 55,
      readiness_band: 'medium',
      churn_risk: 'medium',
      stage: 'price_negotiation',
      objections: [{ type: 'price', quote: 'Дороговато.', handled: true }],
      script: {
        greeting: { done: true, quote: 'Добрый день, компания Окна Плюс' },
        need_identified: { done: true, quote: '…' },
        price_named: { done: true, quote: '…' },
        next_step_offered: { done: true, quote: '…' },
        summary_agreed: { done: false, quote: null },
      },
      strengths: [{ text: '…', quote: '…' }],
      misses: [{ text: '…', quote: null }],
      next_step: '…',
      needs: ['замер'],
      lead_quality: { target: true, reason: '…' },
      talk_ratio: 0.62,
    };
    expect(callBreakdownSchema.parse(example)).toEqual(example);
    expect(callBreakdownSchema.safeParse({ ...example, readiness: 120 }).success).toBe(false);
    expect(callBreakdownSchema.safeParse({ ...example, stage: 'negotiation' }).success).toBe(false);
  });

  it('is a strict-mode JSON schema: every property required, no extras, every field described in Russian', () => {
    const schema = toJsonSchema(callBreakdownSchema) as Record<string, unknown>;
    const problems: string[] = [];
    const walk = (node: unknown, path: string): void => {
      if (!node || typeof node !== 'object') return;
      const n = node as Record<string, unknown>;
      if (n.type === 'object' || (Array.isArray(n.type) && n.type.includes('object'))) {
        const props = Object.keys((n.properties ?? {}) as object);
        const required = (n.required ?? []) as string[];
        if (props.some((p) => !required.includes(p))) problems.push(`${path}: optional properties`);
        if (n.additionalProperties !== false) problems.push(`${path}: additionalProperties`);
        for (const [k, v] of Object.entries((n.properties ?? {}) as object)) {
          const d = (v as Record<string, unknown>).description;
          if (typeof d !== 'string' || !/[а-яё]/iu.test(d))
            problems.push(`${path}.${k}: no Russian description`);
          walk(v, `${path}.${k}`);
        }
      }
      if (n.items) walk(n.items, `${path}[]`);
      for (const key of ['anyOf', 'oneOf'] as const) {
        if (!Array.isArray(n[key])) continue;
        for (const [i, x] of (n[key] as unknown[]).entries()) walk(x, `${path}|${i}`);
      }
    };
    walk(schema, '$');
    expect(problems).toEqual([]);
  });
});

describe('speed', () => {
  it('analyses short calls at a rate fit for bulk backfills', () => {
    const texts = readdirSync(labelled)
      .filter((f) => /^\d+\.(txt|json)$/u.test(f))
      .map((f) => readFileSync(join(labelled, f), 'utf8'));
    for (const t of texts) analyzeOffline(parseTranscript(t), { callId: 'warm-up' });
    const rounds = 5;
    const started = performance.now();
    for (let r = 0; r < rounds; r++) {
      for (const t of texts) analyzeOffline(parseTranscript(t), { callId: 'x' });
    }
    const seconds = (performance.now() - started) / 1000;
    const perSecond = (texts.length * rounds) / seconds;

    const longStarted = performance.now();
    analyzeOffline(parseTranscript(realCall), { callId: 'long' });
    const longMs = performance.now() - longStarted;
    console.log(
      `short calls: ${perSecond.toFixed(0)} calls/s (${texts.length} calls × ${rounds}); 81 KB call (warm): ${longMs.toFixed(0)} ms`,
    );
    expect(perSecond).toBeGreaterThan(50);
    expect(longMs).toBeLessThan(1000);
  });
});
