import { formatInt, formatMoney, formatShare } from '../bot/format.ts';
import { NONE_KEY } from '../metrics/leads.ts';
import type { Envelope, EnvelopeGroup, Figure } from '../metrics/types.ts';

/*
 * "Что изменилось": the 1–3 largest moves of a digest's figures against the
 * comparison period, said in words. A move is reported only when it is both
 * large enough to matter and unlikely to be noise:
 *
 * - a count (calls, leads, won deals) — at least 10 on one side, ±20 % or
 *   more, and |z| ≥ 2.5 with z = (now − before) / √(now + before): for two
 *   Poisson counts over equal time, the normal approximation of the test that
 *   the split of now + before between the periods is 50/50;
 * - a share (a conversion) — at least 20 trials on each side, ±5 percentage
 *   points or more, and |z| ≥ 2.5 in the two-proportion z-test with the
 *   pooled share;
 * - an amount (sales in rubles) — at least 10 won deals on each side and
 *   ±30 % or more: sums of a few deals swing with one large deal, and the
 *   tools give no per-deal spread to test against.
 *
 * A digest tests some twenty figures at once, so the bar is |z| ≥ 2.5 rather
 * than 2, and 3 for per-source figures, of which there are many. Moves that
 * pass are ranked by relative size (|now − before| / before).
 *
 * Lead conversion (conv_to_deal) is a cohort figure — leads of the period as
 * they stand now — so a younger cohort always looks worse; it is left out.
 * Per-source conversion is the deals' win rate (deals closed in the period),
 * which compares like with like.
 */

export const Z_MIN = 2.5;
/** The bar for per-source figures. */
export const Z_MIN_GROUP = 3;
export const MAX_MOVES = 3;

type Gender = 'n' | 'f';

export type Candidate =
  | {
      kind: 'count';
      key: string;
      subject: string;
      gender: Gender;
      now: number;
      before: number;
      zMin?: number;
    }
  | {
      kind: 'share';
      key: string;
      subject: string;
      gender: Gender;
      /** Successes and trials in each period. */
      now: { hits: number; of: number };
      before: { hits: number; of: number };
      zMin?: number;
    }
  | {
      kind: 'amount';
      key: string;
      subject: string;
      gender: Gender;
      now: number;
      before: number;
      nowCount: number;
      beforeCount: number;
    };

export interface Move {
  key: string;
  text: string;
  /** |relative change|, the ranking figure. */
  size: number;
  z: number | null;
}

const VERBS: Record<Gender, { up: string; down: string }> = {
  n: { up: 'выросло', down: 'снизилось' },
  f: { up: 'выросла', down: 'упала' },
};

function words(c: Candidate, up: boolean, from: string, to: string): string {
  const verb = up ? VERBS[c.gender].up : VERBS[c.gender].down;
  return `${c.subject} ${verb} с ${from} до ${to}`;
}

/** The move a candidate makes, or null when it is too small or may be noise. */
export function judge(c: Candidate): Move | null {
  if (c.kind === 'count') {
    const { now, before } = c;
    if (Math.max(now, before) < 10 || now === before) return null;
    const z = (now - before) / Math.sqrt(now + before);
    const size = before === 0 ? Number.POSITIVE_INFINITY : Math.abs(now - before) / before;
    if (Math.abs(z) < (c.zMin ?? Z_MIN) || size < 0.2) return null;
    return { key: c.key, size, z, text: words(c, now > before, formatInt(before), formatInt(now)) };
  }
  if (c.kind === 'share') {
    const { now, before } = c;
    if (now.of < 20 || before.of < 20) return null;
    const p1 = now.hits / now.of;
    const p0 = before.hits / before.of;
    const pooled = (now.hits + before.hits) / (now.of + before.of);
    const se = Math.sqrt(pooled * (1 - pooled) * (1 / now.of + 1 / before.of));
    if (se === 0 || Math.abs(p1 - p0) < 0.05) return null;
    const z = (p1 - p0) / se;
    if (Math.abs(z) < (c.zMin ?? Z_MIN)) return null;
    const size = p0 === 0 ? Number.POSITIVE_INFINITY : Math.abs(p1 - p0) / p0;
    return { key: c.key, size, z, text: words(c, p1 > p0, formatShare(p0), formatShare(p1)) };
  }
  if (Math.min(c.nowCount, c.beforeCount) < 10 || c.before <= 0) return null;
  const size = Math.abs(c.now - c.before) / c.before;
  if (size < 0.3) return null;
  return {
    key: c.key,
    size,
    z: null,
    text: words(c, c.now > c.before, formatMoney(c.before), formatMoney(c.now)),
  };
}

/** The largest moves that pass, at most `max`, largest first. */
export function significantMoves(candidates: readonly Candidate[], max = MAX_MOVES): Move[] {
  const moves = candidates.map(judge).filter((m): m is Move => m !== null);
  moves.sort((a, b) => b.size - a.size || Math.abs(b.z ?? 0) - Math.abs(a.z ?? 0));
  return moves.slice(0, max);
}

const n = (v: Figure | undefined): number => (typeof v === 'number' ? v : 0);

export interface ComparedEnvelopes {
  /** calls_stats, now and before. */
  calls?: [Envelope, Envelope] | undefined;
  /** missed_calls, now and before (the earlier one as of the same age). */
  missed?: [Envelope, Envelope] | undefined;
  /** lead_stats grouped by source. */
  leads?: [Envelope, Envelope] | undefined;
  /** deal_stats grouped by source. */
  deals?: [Envelope, Envelope] | undefined;
}

/** Groups present in both periods, real sources only. */
function pairs(a: Envelope, b: Envelope): Array<[EnvelopeGroup, EnvelopeGroup]> {
  const before = new Map((b.groups ?? []).map((g) => [g.key, g]));
  return (a.groups ?? []).flatMap((g) => {
    const p = before.get(g.key);
    return p && g.key !== NONE_KEY ? [[g, p] as [EnvelopeGroup, EnvelopeGroup]] : [];
  });
}

/**
 * The candidate moves of a digest, from the same tool envelopes its figures
 * come from (now, before): calls, callbacks, leads (overall and per source),
 * won deals, sales and win rate (overall and per source).
 */
export function candidatesOf(e: ComparedEnvelopes): Candidate[] {
  const out: Candidate[] = [];
  if (e.calls) {
    const [a, b] = e.calls;
    const count = (key: string, subject: string) =>
      out.push({
        kind: 'count',
        key,
        subject,
        gender: 'n',
        now: n(a.figures[key]),
        before: n(b.figures[key]),
      });
    count('incoming', 'Число входящих звонков');
    count('outgoing', 'Число исходящих звонков');
    count('missed', 'Число пропущенных звонков');
  }
  if (e.missed) {
    const [a, b] = e.missed;
    out.push({
      kind: 'share',
      key: 'not_called_back_share',
      subject: 'Доля пропущенных без перезвона',
      gender: 'f',
      now: { hits: n(a.figures.not_called_back), of: n(a.figures.missed) },
      before: { hits: n(b.figures.not_called_back), of: n(b.figures.missed) },
    });
  }
  if (e.leads) {
    const [a, b] = e.leads;
    out.push({
      kind: 'count',
      key: 'received',
      subject: 'Число лидов',
      gender: 'n',
      now: n(a.figures.received),
      before: n(b.figures.received),
    });
    for (const [g, p] of pairs(a, b)) {
      out.push({
        kind: 'count',
        key: `received:${g.key}`,
        subject: `Число лидов с «${g.label}»`,
        gender: 'n',
        now: n(g.figures.received),
        before: n(p.figures.received),
        zMin: Z_MIN_GROUP,
      });
    }
  }
  if (e.deals) {
    const [a, b] = e.deals;
    const won = n(a.figures.won);
    const wonBefore = n(b.figures.won);
    out.push({
      kind: 'count',
      key: 'won',
      subject: 'Число успешных сделок',
      gender: 'n',
      now: won,
      before: wonBefore,
    });
    out.push({
      kind: 'amount',
      key: 'won_amount',
      subject: 'Сумма продаж',
      gender: 'f',
      now: n(a.figures.won_amount),
      before: n(b.figures.won_amount),
      nowCount: won,
      beforeCount: wonBefore,
    });
    const winRate = (
      key: string,
      subject: string,
      x: Envelope['figures'],
      y: Envelope['figures'],
      zMin?: number,
    ) =>
      out.push({
        kind: 'share',
        key,
        subject,
        gender: 'f',
        now: { hits: n(x.won), of: n(x.won) + n(x.lost) },
        before: { hits: n(y.won), of: n(y.won) + n(y.lost) },
        ...(zMin ? { zMin } : {}),
      });
    winRate('win_rate', 'Конверсия сделок', a.figures, b.figures);
    for (const [g, p] of pairs(a, b)) {
      winRate(`win_rate:${g.key}`, `Конверсия сделок с «${g.label}»`, g.figures, p.figures, Z_MIN_GROUP);
    }
  }
  return out;
}
