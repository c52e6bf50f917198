/**
 * A compact "key → line number" table for duplicate detection in files with
 * millions of records, where a Map of strings would not fit the memory budget.
 * Keys are stored as 53-bit hashes: a false match only makes the importer
 * re-read the file to compare lines, it never drops a record.
 */
export class KeyTable {
  private keys: Float64Array;
  private lines: Uint32Array;
  private size = 0;

  constructor(capacity = 1 << 16) {
    this.keys = new Float64Array(capacity);
    this.lines = new Uint32Array(capacity);
  }

  get(key: string): number | undefined {
    const h = hash53(key);
    const mask = this.keys.length - 1;
    for (let i = h & mask; ; i = (i + 1) & mask) {
      const k = this.keys[i]!;
      if (k === 0) return undefined;
      if (k === h) return this.lines[i];
    }
  }

  set(key: string, line: number): void {
    if ((this.size + 1) * 10 > this.keys.length * 7) this.grow();
    this.insert(hash53(key), line);
  }

  /** `get` then `set`, hashing the key once. */
  swap(key: string, line: number): number | undefined {
    if ((this.size + 1) * 10 > this.keys.length * 7) this.grow();
    const h = hash53(key);
    const mask = this.keys.length - 1;
    for (let i = h & mask; ; i = (i + 1) & mask) {
      const k = this.keys[i]!;
      if (k === 0) {
        this.keys[i] = h;
        this.lines[i] = line;
        this.size++;
        return undefined;
      }
      if (k === h) {
        const prev = this.lines[i];
        this.lines[i] = line;
        return prev;
      }
    }
  }

  private insert(h: number, line: number): void {
    const mask = this.keys.length - 1;
    for (let i = h & mask; ; i = (i + 1) & mask) {
      const k = this.keys[i]!;
      if (k === 0) {
        this.keys[i] = h;
        this.lines[i] = line;
        this.size++;
        return;
      }
      if (k === h) {
        this.lines[i] = line;
        return;
      }
    }
  }

  private grow(): void {
    const oldKeys = this.keys;
    const oldLines = this.lines;
    this.keys = new Float64Array(oldKeys.length * 2);
    this.lines = new Uint32Array(oldKeys.length * 2);
    this.size = 0;
    for (let i = 0; i < oldKeys.length; i++) if (oldKeys[i] !== 0) this.insert(oldKeys[i]!, oldLines[i]!);
  }
}

/** cyrb53: a fast 53-bit string hash; never 0, so 0 marks an empty slot. */
function hash53(str: string): number {
  let h1 = 0xdeadbeef;
  let h2 = 0x41c6ce57;
  for (let i = 0; i < str.length; i++) {
    const ch = str.charCodeAt(i);
    h1 = Math.imul(h1 ^ ch, 2654435761);
    h2 = Math.imul(h2 ^ ch, 1597334677);
  }
  h1 = Math.imul(h1 ^ (h1 >>> 16), 2246822507) ^ Math.imul(h2 ^ (h2 >>> 13), 3266489909);
  h2 = Math.imul(h2 ^ (h2 >>> 16), 2246822507) ^ Math.imul(h1 ^ (h1 >>> 13), 3266489909);
  return 4294967296 * (2097151 & h2) + (h1 >>> 0) + 1;
}
