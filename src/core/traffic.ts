// Traffic accounting vocabulary: what a request or a fill adds to the counters behind /metrics and
// the dashboard, and the hourly buckets those counters are persisted in (rows per hour, not per
// request, so the numbers survive a restart at a bounded cost).

export const HOUR_MS = 60 * 60 * 1000;

/** The start of the hour `ms` falls in (UTC). */
export function hourStart(ms: number): number {
  return Math.floor(ms / HOUR_MS) * HOUR_MS;
}

export type TrafficDelta = {
  hits: number;
  misses: number;
  /** Body bytes sent to clients from the cache (hits and streams of a running fill). */
  bytesFromCache: number;
  /** Body bytes the fills downloaded from origins. */
  bytesFromOrigin: number;
};

export const ZERO_TRAFFIC: Readonly<TrafficDelta> = Object.freeze({ hits: 0, misses: 0, bytesFromCache: 0, bytesFromOrigin: 0 });

export function addTraffic(a: TrafficDelta, b: TrafficDelta): TrafficDelta {
  return { hits: a.hits + b.hits, misses: a.misses + b.misses, bytesFromCache: a.bytesFromCache + b.bytesFromCache, bytesFromOrigin: a.bytesFromOrigin + b.bytesFromOrigin };
}

export function isZeroTraffic(d: TrafficDelta): boolean {
  return d.hits === 0 && d.misses === 0 && d.bytesFromCache === 0 && d.bytesFromOrigin === 0;
}

/**
 * How a read-path request counts, from its logged result: a hit (sendfile from a blob, a stream of
 * a running fill, a stale copy served), a miss (the client went to the origin), or neither (HEAD
 * probes that found a hit count once, on their GET; errors and refusals count as nothing).
 */
export function classifyRead(r: { method: string; status: number; result: string | null }): "hit" | "miss" | null {
  if (r.result === null) return null;
  if (r.result.startsWith("miss")) return r.method === "GET" || r.method === "HEAD" ? "miss" : null;
  if (r.method !== "GET") return null;
  if (r.status !== 200 && r.status !== 206) return null;
  return "hit";
}

/** Hit ratio in [0, 1], or null when nothing was asked. */
export function hitRatio(t: { hits: number; misses: number }): number | null {
  const asked = t.hits + t.misses;
  return asked === 0 ? null : t.hits / asked;
}
