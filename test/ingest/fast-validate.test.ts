import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { entityNames, entitySpecs } from '../../src/ingest/entities.ts';
import { isoTimestamp, recordReader, recordValidator, UNDECIDED } from '../../src/ingest/fast-validate.ts';
import { copyLine } from '../../src/ingest/upsert.ts';

/*
 * The compiled validator must never disagree with zod: on every input it
 * returns zod's own output (same keys, same order, same values) or gives up.
 * Inputs: every fixture record, and each of them with every field replaced by
 * values of the wrong kind, the edge of the right kind, or removed.
 */

const fixtureDirs = ['import-basic', 'metrics-calls', 'metrics-sales', 'metrics-team', 'metrics-quality'].map(
  (d) => path.resolve('test/fixtures', d),
);

function recordsOf(entity: string): Record<string, unknown>[] {
  const out: Record<string, unknown>[] = [];
  for (const dir of fixtureDirs) {
    const file = path.join(dir, `${entity}.jsonl`);
    if (!fs.existsSync(file)) continue;
    for (const line of fs.readFileSync(file, 'utf8').split('\n')) {
      try {
        const v = JSON.parse(line) as unknown;
        if (v && typeof v === 'object' && !Array.isArray(v)) out.push(v as Record<string, unknown>);
      } catch {
        // malformed lines are the importer's business, not the validator's
      }
    }
  }
  // Spread over the files so every fixture set contributes, and the test stays quick.
  const step = Math.max(1, Math.floor(out.length / 20));
  return out.filter((_, i) => i % step === 0);
}

const replacements: unknown[] = [
  null,
  '',
  'x',
  ' ',
  0,
  -1,
  1.5,
  2 ** 53,
  Number.POSITIVE_INFINITY,
  true,
  false,
  [],
  ['8 (912) 000-11-22'],
  [''],
  {},
  { campaign: 'c', extra: 1 },
  '2026-03-01',
  '2026-03-01T10:00:00',
  '2026-03-01T10:00:00+03:00',
  '2026-02-30T10:00:00Z',
  '2026-03-01 10:00Z',
  '2026-13',
  '2026-03',
  '+7 (495) 777-00-00',
  '8 912 000 11 22',
  'нет цифр',
  'in',
  'out',
  'answered',
  'lead',
  'deal',
  'contact',
  'won',
  'meeting',
  'amount',
  [{ text: 'Алло' }],
  [{ speaker: 'SPK00', role: 'manager', start_sec: 1.5, text: 'Добрый день' }],
  [{ role: 'boss', text: 'x' }],
  [{ start_sec: '1' }],
];

function variants(rec: Record<string, unknown>): unknown[] {
  const out: unknown[] = [
    rec,
    null,
    [],
    'x',
    { ...rec, unknown_field: { a: 1 } },
    JSON.parse(JSON.stringify(rec).replace(/^\{/, '{"__proto__":{"a":1},')),
  ];
  for (const key of Object.keys(rec)) {
    const without = { ...rec };
    delete without[key];
    out.push(without);
    for (const r of replacements) out.push({ ...rec, [key]: r });
  }
  return out;
}

describe('compiled record validators', () => {
  for (const entity of entityNames) {
    it(`${entity}: same result as zod, or leaves the decision to zod`, () => {
      const spec = entitySpecs[entity];
      const compiled = recordValidator(spec);
      expect(compiled, 'the record schema compiles').toBeDefined();
      const records = recordsOf(entity);
      let decided = 0;
      let checked = 0;
      for (const rec of records) {
        for (const input of variants(rec)) {
          const fast = compiled!(input);
          const slow = spec.schema.safeParse(input);
          checked++;
          if (fast === UNDECIDED) continue;
          decided++;
          expect(slow.success, JSON.stringify(input)).toBe(true);
          expect(JSON.stringify(fast)).toBe(JSON.stringify(slow.data));
          expect(fast).toStrictEqual(slow.data);
        }
        const plain = spec.schema.safeParse(rec);
        if (plain.success)
          expect(compiled!(rec), `a valid ${entity} record is decided without zod`).not.toBe(UNDECIDED);
      }
      expect(checked).toBeGreaterThan(0);
      expect(decided).toBeGreaterThan(0);
    });
  }
});

describe('compiled record readers', () => {
  /** What the importer makes of zod's output: the fields outside the format move to `extra`. */
  function withExtra(
    spec: (typeof entitySpecs)[keyof typeof entitySpecs],
    rec: Record<string, unknown>,
  ): Record<string, unknown> {
    const out: Record<string, unknown> = {};
    let extra: Record<string, unknown> | null = null;
    for (const [k, v] of Object.entries(rec)) {
      if (spec.known.has(k)) out[k] = v;
      else {
        extra ??= {};
        extra[k] = v;
      }
    }
    return { ...out, extra };
  }

  for (const entity of entityNames) {
    it(`${entity}: writes the row and key zod's output gives, or leaves the decision to zod`, () => {
      const spec = entitySpecs[entity];
      const read = recordReader(spec);
      expect(read, 'the record schema compiles').toBeDefined();
      let decided = 0;
      for (const rec of recordsOf(entity)) {
        for (const input of variants(rec)) {
          if (input === null || typeof input !== 'object' || Array.isArray(input)) continue;
          const fast = read!(input as Record<string, unknown>);
          const slow = spec.schema.safeParse(input);
          if (fast === UNDECIDED) continue;
          decided++;
          expect(slow.success, JSON.stringify(input)).toBe(true);
          const expected = withExtra(spec, slow.data as Record<string, unknown>);
          expect(copyLine(spec, fast)).toBe(copyLine(spec, expected));
          expect(spec.key(fast)).toBe(spec.key(expected));
          expect(fast.deleted === true).toBe(expected.deleted === true);
          for (const ref of spec.references)
            expect(fast[ref.field] ?? null).toEqual(expected[ref.field] ?? null);
        }
        if (spec.schema.safeParse(rec).success)
          expect(read!(rec), `a valid ${entity} record is decided without zod`).not.toBe(UNDECIDED);
      }
      expect(decided).toBeGreaterThan(0);
    });
  }
});

describe('record timestamps without Date#toISOString', () => {
  /** A small deterministic generator, so a failure names an input that can be rerun. */
  function* inputs(): Generator<string> {
    let seed = 7;
    const next = (n: number) => {
      seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31;
      return seed % n;
    };
    const p2 = (n: number) => String(n).padStart(2, '0');
    for (let k = 0; k < 20_000; k++) {
      const y =
        [1001, 1899, 1900, 1970, 1999, 2000, 2024, 2025, 2026, 2100, 9998][next(11)]! +
        (next(4) === 0 ? next(50) : 0);
      const mo = 1 + next(12);
      const d = 1 + next(31);
      const frac = ['', '.1', '.12', '.123', '.1234', '.'][next(6)];
      const zone = ['Z', '+03:00', '-05:30', '+14:00', '-12:00', '+23:59', '+00:00', 'z', '+0300', '+24:00'][
        next(10)
      ];
      yield `${y}-${p2(mo)}-${p2(d)}T${p2(next(25))}:${p2(next(61))}:${p2(next(61))}${frac}${zone}`;
    }
    yield* [
      '2024-02-29T23:59:59.999+00:00',
      '2023-02-29T10:00:00Z',
      '2026-03-01 10:00:00Z',
      '2026-03-01T10:00Z',
      '2026-3-01T10:00:00Z',
    ];
  }

  it('gives exactly what Date gives, or leaves it to Date', () => {
    let fast = 0;
    for (const s of inputs()) {
      const got = isoTimestamp(s);
      if (got === undefined) continue;
      fast++;
      const d = new Date(s);
      expect(Number.isNaN(d.getTime()), s).toBe(false);
      expect(got, s).toBe(d.toISOString());
    }
    expect(fast).toBeGreaterThan(5000);
  });

  it('takes the shapes the demo and most exports write', () => {
    expect(isoTimestamp('2025-03-17T12:00:15+03:00')).toBe('2025-03-17T09:00:15.000Z');
    expect(isoTimestamp('2025-01-24T09:42:37Z')).toBe('2025-01-24T09:42:37.000Z');
    expect(isoTimestamp('2026-01-01T02:30:00.5+03:00')).toBe('2025-12-31T23:30:00.500Z');
  });
});
