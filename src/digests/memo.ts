/**
 * Shares work between digests built close together: tool results of the same
 * caller, input and instant, and chart images of the same spec. Entries live
 * for `ttlMs` of wall time, so data imported since is seen by later digests;
 * a failed computation is forgotten at once.
 */
export function createToolMemo(opts: { ttlMs?: number; maxEntries?: number } = {}) {
  const ttlMs = opts.ttlMs ?? 5 * 60_000;
  const maxEntries = opts.maxEntries ?? 2_000;
  const entries = new Map<string, { at: number; value: Promise<unknown> }>();
  let hits = 0;
  let misses = 0;

  function sweep(now: number): void {
    for (const [key, e] of entries) {
      if (now - e.at > ttlMs || entries.size > maxEntries) entries.delete(key);
      else break;
    }
  }

  return {
    get<T>(key: string, compute: () => Promise<T>): Promise<T> {
      const now = Date.now();
      const found = entries.get(key);
      if (found && now - found.at <= ttlMs) {
        hits++;
        return found.value as Promise<T>;
      }
      misses++;
      sweep(now);
      const value = compute();
      // Re-inserted at the end, so the map stays in age order for the sweep.
      entries.delete(key);
      entries.set(key, { at: now, value });
      value.catch(() => {
        if (entries.get(key)?.value === value) entries.delete(key);
      });
      return value;
    },
    stats: () => ({ hits, misses, size: entries.size }),
    clear: () => entries.clear(),
  };
}

export type ToolMemo = ReturnType<typeof createToolMemo>;

/** A memo that keeps nothing: every digest computed from scratch (benchmarks, tests). */
export function noMemo(): ToolMemo {
  const memo = createToolMemo({ ttlMs: -1 });
  return memo;
}
