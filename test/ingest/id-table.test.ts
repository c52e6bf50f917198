import { describe, expect, it } from 'vitest';
import { IdTable } from '../../src/ingest/id-table.ts';

/** The id table must answer exactly as a Map would, through growth, for any string. */
describe('id table', () => {
  it('behaves as a Map for many keys, through growth, with overwrites and near-identical keys', () => {
    const table = new IdTable(4);
    const map = new Map<string, number>();
    let seed = 11;
    const next = (n: number) => {
      seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31;
      return seed % n;
    };
    const alphabet = ['L-', 'D-', 'C-', 'Ё', 'я', '😀', 'ÿ', '\u00ff', '\u0100', ' ', '0', '9', '', 'x'];
    const keyOf = () => {
      let k = '';
      const n = next(6);
      for (let i = 0; i < n; i++) k += alphabet[next(alphabet.length)];
      return `${k}${next(50_000)}`;
    };
    for (let i = 0; i < 60_000; i++) {
      const k = keyOf();
      const v = next(2 ** 31);
      table.set(k, v);
      map.set(k, v);
    }
    expect(table.size).toBe(map.size);
    for (const [k, v] of map) expect(table.get(k)).toBe(v);
    for (let i = 0; i < 20_000; i++) {
      const k = keyOf();
      expect(table.has(k)).toBe(map.has(k));
      expect(table.get(k)).toBe(map.get(k));
    }
    for (const k of ['', 'L-1', 'L-1 ', 'l-1', 'L-01', 'Ё1', 'Е1', '\u00ff\u00ff', '\u00ff\u0100']) {
      expect(table.get(k)).toBe(map.get(k));
    }
  });

  it('tells keys apart by their whole text when every hash collides', () => {
    const table = new IdTable(4, () => 7);
    const keys = [
      'L-1',
      'L-1 ',
      'L-10',
      'L-',
      '',
      'Ё1',
      'Е1',
      'ё1',
      '\u00ff\u0100',
      '\u00ff\u0101',
      '\u0100\u00ff',
      '😀',
      '😁',
      'ÿ',
      'ÿÿ',
    ];
    for (const [i, k] of keys.entries()) table.set(k, i);
    for (const [i, k] of keys.entries()) expect(table.get(k), JSON.stringify(k)).toBe(i);
    for (const absent of ['L-2', 'L-1  ', 'Е2', '\u00ff\u0102', '\u0101\u00ff', '😂', 'ÿÿÿ']) {
      expect(table.get(absent), JSON.stringify(absent)).toBeUndefined();
    }
    expect(table.size).toBe(keys.length);
  });

  it('keeps long keys and values up to 2^32 - 1', () => {
    const table = new IdTable();
    const long = 'ключ'.repeat(70_000);
    table.set(long, 4_294_967_295);
    table.set(`${long}!`, 0);
    expect(table.get(long)).toBe(4_294_967_295);
    expect(table.get(`${long}!`)).toBe(0);
    expect(table.get(long.slice(1))).toBeUndefined();
  });
});
