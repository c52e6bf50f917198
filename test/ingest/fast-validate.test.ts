import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { entityNames, entitySpecs } from '../../src/ingest/entities.ts';
import { compileValidator, UNDECIDED } from '../../src/ingest/fast-validate.ts';

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
      const compiled = compileValidator(spec.schema);
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
