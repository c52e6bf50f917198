/**
 * Seeded randomness for the demo generator. Output must be byte-identical for
 * the same seed, so nothing here may touch Math.random or the clock.
 */

/** Murmur3 finalizer: spreads a 32-bit value so that neighbouring inputs give unrelated outputs. */
export function mix32(x: number): number {
  let h = x | 0;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** One 32-bit seed from several numbers (seed, stream label, record index). */
export function hashSeed(...parts: number[]): number {
  let h = 0x9e3779b9;
  for (const p of parts) {
    h = mix32(h ^ mix32((p | 0) + Math.imul(h, 31)));
    // Seeds above 2^32 (or negative) must still differ from their low 32 bits.
    h = mix32(h ^ Math.floor(p / 4294967296));
  }
  return h;
}

/** sfc32: small, fast and good enough for synthetic data; 128 bits of state. */
export class Rng {
  private a: number;
  private b: number;
  private c: number;
  private d: number;

  constructor(seed: number, stream = 0) {
    this.a = hashSeed(seed, stream, 1);
    this.b = hashSeed(seed, stream, 2);
    this.c = hashSeed(seed, stream, 3);
    this.d = 1;
    for (let i = 0; i < 12; i++) this.nextU32();
  }

  nextU32(): number {
    const t = (((this.a + this.b) | 0) + this.d) | 0;
    this.d = (this.d + 1) | 0;
    this.a = this.b ^ (this.b >>> 9);
    this.b = (this.c + (this.c << 3)) | 0;
    this.c = (this.c << 21) | (this.c >>> 11);
    this.c = (this.c + t) | 0;
    return t >>> 0;
  }

  /** Uniform in [0, 1). */
  next(): number {
    return this.nextU32() / 4294967296;
  }

  /** Integer in [lo, hi], both inclusive. */
  int(lo: number, hi: number): number {
    return lo + Math.floor(this.next() * (hi - lo + 1));
  }

  /** Uniform real in [lo, hi). */
  range(lo: number, hi: number): number {
    return lo + this.next() * (hi - lo);
  }

  chance(p: number): boolean {
    return this.next() < p;
  }

  pick<T>(items: readonly T[]): T {
    return items[Math.floor(this.next() * items.length)] as T;
  }

  /** Standard normal (Box-Muller, one value per call so the stream stays simple). */
  normal(): number {
    const u = 1 - this.next();
    const v = this.next();
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
  }

  /** Log-normal with the given median; `sigma` is the spread in natural-log units. */
  logNormal(median: number, sigma: number): number {
    return median * Math.exp(sigma * this.normal());
  }

  /** Index drawn from cumulative weights (see `cumulative`). */
  pickIndex(cum: Float64Array): number {
    const total = cum[cum.length - 1] as number;
    const x = this.next() * total;
    let lo = 0;
    let hi = cum.length - 1;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if ((cum[mid] as number) > x) hi = mid;
      else lo = mid + 1;
    }
    return lo;
  }

  /** A weighted choice from `[value, weight]` pairs; for small tables used rarely. */
  weighted<T>(table: readonly (readonly [T, number])[]): T {
    let total = 0;
    for (const [, w] of table) total += w;
    let x = this.next() * total;
    for (const [value, w] of table) {
      x -= w;
      if (x < 0) return value;
    }
    return (table[table.length - 1] as readonly [T, number])[0];
  }
}

export function cumulative(weights: readonly number[]): Float64Array {
  const cum = new Float64Array(weights.length);
  let s = 0;
  for (let i = 0; i < weights.length; i++) {
    s += weights[i] as number;
    cum[i] = s;
  }
  return cum;
}

/**
 * A bijection on [0, 10^9): distinct indices give distinct 9-digit tails, so
 * phone numbers are unique per index without keeping a set of used ones.
 * Two multiply-add rounds with multipliers coprime to 10; products stay below 2^53.
 */
export function permute9(index: number, seed: number): number {
  const M = 1_000_000_000;
  const b1 = seed % M;
  const b2 = mix32(seed) % M;
  const x = (((index % M) * 7_777_777 + b1) % M) * 3_141_593;
  return ((x % M) + b2) % M;
}
