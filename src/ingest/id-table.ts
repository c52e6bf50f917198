/**
 * An exact string → non-negative integer map kept off the JavaScript heap,
 * for the millions of record ids a large import holds for its whole run (a
 * `Map` of strings costs about twice as much, all of it for the garbage
 * collector to walk). Keys are stored as bytes (one per code unit below 255,
 * three otherwise, after a 4-byte length) in one growing buffer; slots hold a 32-bit hash, the key's
 * offset and the value. Lookups compare the whole key: no false matches.
 */
export class IdTable {
  private hashes: Uint32Array;
  private offsets: Uint32Array;
  private values: Uint32Array;
  private bytes: Uint8Array;
  private used = 1;
  private count = 0;

  /** `hash` is replaceable so tests can make every key collide. */
  constructor(
    capacity = 1 << 12,
    private readonly hash: (key: string) => number = hash32,
  ) {
    this.hashes = new Uint32Array(capacity);
    this.offsets = new Uint32Array(capacity);
    this.values = new Uint32Array(capacity);
    this.bytes = new Uint8Array(1 << 16);
  }

  get size(): number {
    return this.count;
  }

  get(key: string): number | undefined {
    const i = this.find(key, this.hash(key) >>> 0);
    return this.offsets[i] === 0 ? undefined : this.values[i];
  }

  has(key: string): boolean {
    return this.offsets[this.find(key, this.hash(key) >>> 0)] !== 0;
  }

  set(key: string, value: number): void {
    const h = this.hash(key) >>> 0;
    let i = this.find(key, h);
    if (this.offsets[i] === 0) {
      if ((this.count + 1) * 4 > this.hashes.length * 3) {
        this.grow();
        i = this.find(key, h);
      }
      this.hashes[i] = h;
      this.offsets[i] = this.store(key);
      this.count++;
    }
    this.values[i] = value;
  }

  /** The slot holding `key`, or the empty slot where it would go. */
  private find(key: string, h: number): number {
    const mask = this.hashes.length - 1;
    for (let i = h & mask; ; i = (i + 1) & mask) {
      const at = this.offsets[i]!;
      if (at === 0) return i;
      if (this.hashes[i] === h && this.equals(at, key)) return i;
    }
  }

  /** Key bytes: a 4-byte length (in code units), then the units. */
  private store(key: string): number {
    const need = 4 + key.length * 3;
    if (this.used + need > this.bytes.length) {
      let size = this.bytes.length * 2;
      while (this.used + need > size) size *= 2;
      const bigger = new Uint8Array(size);
      bigger.set(this.bytes.subarray(0, this.used));
      this.bytes = bigger;
    }
    const b = this.bytes;
    const at = this.used;
    const n = key.length;
    b[at] = n >>> 24;
    b[at + 1] = (n >>> 16) & 255;
    b[at + 2] = (n >>> 8) & 255;
    b[at + 3] = n & 255;
    let p = at + 4;
    for (let k = 0; k < key.length; k++) {
      const c = key.charCodeAt(k);
      if (c < 255) b[p++] = c;
      else {
        b[p++] = 255;
        b[p++] = c >>> 8;
        b[p++] = c & 255;
      }
    }
    this.used = p;
    return at;
  }

  private equals(at: number, key: string): boolean {
    const b = this.bytes;
    if (((b[at]! << 24) | (b[at + 1]! << 16) | (b[at + 2]! << 8) | b[at + 3]!) >>> 0 !== key.length)
      return false;
    let p = at + 4;
    for (let k = 0; k < key.length; k++) {
      const c = key.charCodeAt(k);
      if (c < 255) {
        if (b[p++] !== c) return false;
      } else if (b[p] !== 255 || ((b[p + 1]! << 8) | b[p + 2]!) !== c) return false;
      else p += 3;
    }
    return true;
  }

  private grow(): void {
    const { hashes, offsets, values } = this;
    const size = hashes.length * 2;
    this.hashes = new Uint32Array(size);
    this.offsets = new Uint32Array(size);
    this.values = new Uint32Array(size);
    const mask = size - 1;
    for (let j = 0; j < hashes.length; j++) {
      if (offsets[j] === 0) continue;
      let i = hashes[j]! & mask;
      while (this.offsets[i] !== 0) i = (i + 1) & mask;
      this.hashes[i] = hashes[j]!;
      this.offsets[i] = offsets[j]!;
      this.values[i] = values[j]!;
    }
  }
}

/** FNV-1a over UTF-16 code units, finished with a murmur3 mix so sequential ids spread. */
function hash32(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}
