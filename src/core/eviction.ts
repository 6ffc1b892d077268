// Eviction under --max-cache-size: which artifacts to drop, least recently used first. Pure:
// the store lists candidates, this picks, the shell deletes. A blob shared by several keys is
// freed only when its last key goes, so the plan tracks bytes per blob, not per key.

export type EvictionCandidate = {
  key: string;
  sha256: string;
  sizeBytes: number;
  /** Last hit, or the fetch time for an artifact never hit. */
  recencyMs: number;
};

export type EvictionPlan = { keys: string[]; freedBytes: number; totalAfterBytes: number };

/**
 * Keys to delete, oldest recency first (ties by key), until the distinct-blob total is at most
 * `capBytes`. `keep` is never evicted (the artifact that was just filled).
 */
export function planEviction(candidates: readonly EvictionCandidate[], options: { capBytes: number; keep: ReadonlySet<string> }): EvictionPlan {
  const refs = new Map<string, { size: number; keys: number }>();
  for (const c of candidates) {
    const r = refs.get(c.sha256);
    if (r) r.keys += 1;
    else refs.set(c.sha256, { size: c.sizeBytes, keys: 1 });
  }
  let total = 0;
  for (const r of refs.values()) total += r.size;
  const order = [...candidates].sort((a, b) => a.recencyMs - b.recencyMs || (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  const keys: string[] = [];
  let freed = 0;
  for (const c of order) {
    if (total <= options.capBytes) break;
    if (options.keep.has(c.key)) continue;
    keys.push(c.key);
    const r = refs.get(c.sha256)!;
    r.keys -= 1;
    if (r.keys === 0) {
      total -= r.size;
      freed += r.size;
    }
  }
  return { keys, freedBytes: freed, totalAfterBytes: total };
}
