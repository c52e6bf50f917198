import { once } from 'node:events';
import { createWriteStream, type WriteStream } from 'node:fs';

const CHUNK_BYTES = 1 << 20;

/**
 * A JSONL file written through a buffered stream. Lines are encoded straight
 * into a 1 MiB buffer (no joined strings, no second UTF-8 pass); full buffers go
 * to the stream. The generator calls `settle()` between days so that a slow
 * disk holds generation back instead of letting chunks pile up in memory.
 */
export class JsonlWriter {
  records = 0;
  bytes = 0;
  private readonly stream: WriteStream;
  private buf = Buffer.allocUnsafe(CHUNK_BYTES);
  private pos = 0;
  private blocked = false;
  private failure: Error | null = null;

  constructor(path: string) {
    this.stream = createWriteStream(path, { highWaterMark: CHUNK_BYTES });
    this.stream.on('error', (err) => {
      this.failure = err;
    });
    // Tracked by a listener: a drain that fires while we wait on another file must not be missed.
    this.stream.on('drain', () => {
      this.blocked = false;
    });
  }

  line(json: string): void {
    // A UTF-8 character takes at most 3 bytes per UTF-16 unit.
    const worst = json.length * 3 + 1;
    if (this.pos + worst > this.buf.length) {
      this.flush();
      if (worst > this.buf.length) this.buf = Buffer.allocUnsafe(worst);
    }
    this.pos += this.buf.write(json, this.pos);
    this.buf[this.pos++] = 10;
    this.records++;
  }

  /** Waits until the stream has room again; rethrows a write error. */
  async settle(): Promise<void> {
    if (this.failure) throw this.failure;
    if (this.blocked) {
      // `once` rejects if the stream emits 'error' while we wait.
      await once(this.stream, 'drain');
    }
  }

  async close(): Promise<void> {
    this.flush();
    await this.settle();
    this.stream.end();
    await once(this.stream, 'close');
    if (this.failure) throw this.failure;
  }

  destroy(): void {
    this.stream.destroy();
  }

  private flush(): void {
    if (this.pos === 0) return;
    const chunk = this.buf.subarray(0, this.pos);
    this.bytes += this.pos;
    this.buf = Buffer.allocUnsafe(CHUNK_BYTES);
    this.pos = 0;
    if (!this.stream.write(chunk)) this.blocked = true;
  }
}
