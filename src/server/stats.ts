// The numbers behind the dashboard, `withcache stats` and /api/v1/stats: hit ratio and bytes for
// 24 h / 7 d / all time from the hourly buckets (plus what is not written yet), the last 24
// hours hour by hour, what is stored against the cap, running fills, top artifacts.
import { addTraffic, hitRatio, HOUR_MS, hourStart, ZERO_TRAFFIC, type TrafficDelta } from "../core/traffic.ts";
import type { HourlyTraffic } from "../store/types.ts";
import type { DashboardView } from "../ui/dashboard.ts";
import type { ServerContext } from "./context.ts";

export type TrafficWindow = TrafficDelta & {
  hitRatio: number | null;
  /** Bytes clients got from the cache minus what the cache fetched: origin egress saved (≥ 0). */
  bytesSaved: number;
};

/** The dashboard's view (src/ui/dashboard.ts) with the raw hourly buckets and when it was made. */
export type Stats = Omit<DashboardView, "windows" | "hourly"> & {
  generatedAtMs: number;
  windows: { "24h": TrafficWindow; "7d": TrafficWindow; all: TrafficWindow };
  /** The last 24 hours, oldest first, one entry per hour (zeros included). */
  hourly: HourlyTraffic[];
  uptimeMs: number;
};

function windowOf(t: TrafficDelta): TrafficWindow {
  return { ...t, hitRatio: hitRatio(t), bytesSaved: Math.max(0, t.bytesFromCache - t.bytesFromOrigin) };
}

/** Stored buckets and unwritten ones merged by hour. */
export function mergeBuckets(stored: readonly HourlyTraffic[], unwritten: readonly HourlyTraffic[]): Map<number, TrafficDelta> {
  const byHour = new Map<number, TrafficDelta>();
  for (const b of [...stored, ...unwritten]) {
    const { hourMs, ...d } = b;
    byHour.set(hourMs, addTraffic(byHour.get(hourMs) ?? ZERO_TRAFFIC, d));
  }
  return byHour;
}

export async function computeStats(ctx: ServerContext, options: { displayUrl: (raw: string) => string; topLimit?: number }): Promise<Stats> {
  const now = ctx.nowMs();
  const thisHour = hourStart(now);
  const weekStart = thisHour - 7 * 24 * HOUR_MS + HOUR_MS;
  const dayStart = thisHour - 23 * HOUR_MS;
  const [recent, total, top] = await Promise.all([ctx.store.ops.trafficSince(weekStart), ctx.store.ops.trafficTotal(), ctx.store.ops.topArtifactsBySaved(options.topLimit ?? 10)]);
  const unwritten = ctx.traffic.unwritten();
  const byHour = mergeBuckets(recent, unwritten);
  let day: TrafficDelta = { ...ZERO_TRAFFIC };
  let week: TrafficDelta = { ...ZERO_TRAFFIC };
  for (const [hour, d] of byHour) {
    if (hour >= weekStart) week = addTraffic(week, d);
    if (hour >= dayStart) day = addTraffic(day, d);
  }
  let all: TrafficDelta = { hits: total.hits, misses: total.misses, bytesFromCache: total.bytesFromCache, bytesFromOrigin: total.bytesFromOrigin };
  for (const { hourMs: _hour, ...d } of unwritten) all = addTraffic(all, d);
  const hourly: HourlyTraffic[] = [];
  for (let h = dayStart; h <= thisHour; h += HOUR_MS) hourly.push({ hourMs: h, ...(byHour.get(h) ?? ZERO_TRAFFIC) });
  const totals = ctx.store.metadata.totals();
  return {
    generatedAtMs: now,
    windows: { "24h": windowOf(day), "7d": windowOf(week), all: windowOf(all) },
    hourly,
    stored: { artifacts: totals.artifactCount, bytes: totals.bytes, misses: totals.missCount },
    capBytes: ctx.config.maxCacheBytes > 0 ? ctx.config.maxCacheBytes : null,
    disk: ctx.store.diskSpace(),
    fills: { queued: ctx.store.metadata.countJobs(["queued"]), running: ctx.store.metadata.countJobs(["running"]) },
    topArtifacts: top.map((t) => ({ url: options.displayUrl(t.url), sizeBytes: t.sizeBytes, hits: t.hits, bytesSaved: t.bytesSaved })),
    uptimeMs: now - ctx.startedAtMs,
  };
}
