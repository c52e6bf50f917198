import { describe, expect, it } from 'vitest';
import { type Candidate, candidatesOf, judge, significantMoves } from '../../src/digests/changes.ts';
import type { Envelope } from '../../src/metrics/types.ts';

const count = (key: string, now: number, before: number): Candidate => ({
  kind: 'count',
  key,
  subject: 'Число входящих звонков',
  gender: 'n',
  now,
  before,
});

describe('what changed: size and significance', () => {
  it('reports a large count move in words', () => {
    // 40 → 70: z = 30 / √110 = 2.86 ≥ 2.5; +75 % ≥ 20 %.
    expect(judge(count('incoming', 70, 40))?.text).toBe('Число входящих звонков выросло с 40 до 70');
    // 300 → 200: z = −100 / √500 = −4.47; −33 %.
    expect(judge(count('incoming', 200, 300))?.text).toBe('Число входящих звонков снизилось с 300 до 200');
  });

  it('stays silent on noise: small counts, small moves, weak evidence', () => {
    // 4 → 9: fewer than 10 on both sides.
    expect(judge(count('incoming', 9, 4))).toBeNull();
    // 100 → 118: +18 % is under 20 %.
    expect(judge(count('incoming', 118, 100))).toBeNull();
    // 30 → 45: +50 %, but z = 15 / √75 = 1.73 < 2.5.
    expect(judge(count('incoming', 45, 30))).toBeNull();
  });

  it('tests shares with the two-proportion z-test and says them in percent', () => {
    const share = (
      hitsNow: number,
      ofNow: number,
      hitsBefore: number,
      ofBefore: number,
      zMin?: number,
    ): Candidate => ({
      kind: 'share',
      key: 'win_rate:avito',
      subject: 'Конверсия сделок с «Авито»',
      gender: 'f',
      now: { hits: hitsNow, of: ofNow },
      before: { hits: hitsBefore, of: ofBefore },
      ...(zMin ? { zMin } : {}),
    });
    // 21/100 → 12/100: pooled 0.165, se = √(0.165·0.835·0.02) = 0.0525, z = −0.09 / 0.0525 = −1.71: noise.
    expect(judge(share(12, 100, 21, 100))).toBeNull();
    // 84/400 → 48/400: pooled 0.165, se = √(0.165·0.835·0.005) = 0.0262, z = −3.43 ≥ 3 (the per-source bar).
    expect(judge(share(48, 400, 84, 400, 3))?.text).toBe(
      'Конверсия сделок с «Авито» упала с 21,0 % до 12,0 %',
    );
    // 63/300 → 36/300: se = 0.0303, z = −2.97: enough overall (2.5), not for a source (3).
    expect(judge(share(36, 300, 63, 300))).not.toBeNull();
    expect(judge(share(36, 300, 63, 300, 3))).toBeNull();
    // 30/100 → 33/100: +3 percentage points is under the 5-point minimum.
    expect(judge(share(33, 100, 30, 100))).toBeNull();
    // 19 trials now: too few.
    expect(judge(share(15, 19, 2, 100))).toBeNull();
  });

  it('reports sales amounts only with at least 10 deals on each side and a 30 % move', () => {
    const amount = (now: number, before: number, nowCount: number, beforeCount: number): Candidate => ({
      kind: 'amount',
      key: 'won_amount',
      subject: 'Сумма продаж',
      gender: 'f',
      now,
      before,
      nowCount,
      beforeCount,
    });
    expect(judge(amount(1_300_000, 2_000_000, 12, 15))?.text).toBe(
      'Сумма продаж упала с 2 000 000 ₽ до 1 300 000 ₽',
    );
    expect(judge(amount(1_300_000, 2_000_000, 4, 15))).toBeNull();
    expect(judge(amount(1_500_000, 2_000_000, 12, 15))).toBeNull();
  });

  it('keeps the three largest relative moves', () => {
    const moves = significantMoves([
      count('a', 70, 40), // +75 %
      count('b', 200, 300), // −33 %
      count('c', 100, 30), // +233 %, z = 70 / √130 = 6.1
      count('d', 45, 30), // noise
      count('e', 150, 100), // +50 %, z = 50 / √250 = 3.2
    ]);
    expect(moves.map((m) => m.key)).toEqual(['c', 'a', 'e']);
  });
});

describe('candidates from tool envelopes', () => {
  const env = (metric: string, figures: Envelope['figures'], groups: Envelope['groups'] = []): Envelope => ({
    metric,
    period: { from: '2026-11-16', to: '2026-11-22' },
    filters: {},
    figures,
    groups,
  });

  it('compares deals per source by win rate and leads per source by count, never cohort conversion', () => {
    const now = env('deal_stats', { won: 60, lost: 140, won_amount: 6e6 }, [
      { key: 'avito', label: 'Авито', figures: { won: 48, lost: 352 } },
      { key: 'none', label: 'Без источника', figures: { won: 0, lost: 100 } },
    ]);
    const before = env('deal_stats', { won: 90, lost: 110, won_amount: 6.2e6 }, [
      { key: 'avito', label: 'Авито', figures: { won: 84, lost: 316 } },
      { key: 'none', label: 'Без источника', figures: { won: 30, lost: 70 } },
    ]);
    const leadsNow = env('lead_stats', { received: 200, conv_to_deal: 0.01 }, [
      { key: 'site', label: 'Сайт', figures: { received: 120, conv_to_deal: 0 } },
    ]);
    const leadsBefore = env('lead_stats', { received: 190, conv_to_deal: 0.3 }, [
      { key: 'site', label: 'Сайт', figures: { received: 60, conv_to_deal: 0.3 } },
    ]);
    const moves = significantMoves(candidatesOf({ deals: [now, before], leads: [leadsNow, leadsBefore] }));
    // Site leads 60 → 120: z = 60 / √180 = 4.47 ≥ 3, +100 %.
    // Avito win rate 84/400 → 48/400: z = −3.43 (as above), −42.9 %.
    // Overall win rate 90/200 → 60/200: pooled 0.375, se = √(0.375·0.625·0.01) = 0.0484, z = −3.10, −33.3 %.
    // Won deals 90 → 60: z = −30 / √150 = −2.45 < 2.5: noise. Amount −3 %: too small.
    // "Без источника" is not a source; lead conversion 30 % → 1 % is a cohort effect and not compared.
    expect(moves.map((m) => m.text)).toEqual([
      'Число лидов с «Сайт» выросло с 60 до 120',
      'Конверсия сделок с «Авито» упала с 21,0 % до 12,0 %',
      'Конверсия сделок упала с 45,0 % до 30,0 %',
    ]);
  });
});
