// Traffic counters: hits, misses, bytes served from the cache and bytes fetched from origins.
// Counted in memory on the request path (a few additions, no I/O) and written to the OpsStore's
// hourly buckets every `flushEveryMs` and at close, so a crash loses at most that much.
import { addTraffic, hourStart, isZeroTraffic, ZERO_TRAFFIC, type TrafficDelta } from "../core/traffic.ts";
import type { HourlyTraffic, OpsStore } from "./types.ts";

export const TRAFFIC_FLUSH_MS = 10_000;

export class TrafficRecorder {
  /** Since this process started (what /metrics counts from). */
  private sinceStart: TrafficDelta = { ...ZERO_TRAFFIC };
  /** Not yet written, per hour start. */
  private pending = new Map<number, TrafficDelta>();
  private timer: ReturnType<typeof setInterval> | null = null;
  private flushing: Promise<void> = Promise.resolve();
  /** The last failed write's message (reported once by the caller's log). */
  lastError: string | null = null;

  constructor(
    private readonly ops: OpsStore,
    private readonly nowMs: () => number,
    private readonly flushEveryMs = TRAFFIC_FLUSH_MS,
  ) {}

  start(): void {
    if (this.timer !== null) return;
    this.timer = setInterval(() => void this.flush(), this.flushEveryMs);
    this.timer.unref?.();
  }

  private add(delta: TrafficDelta): void {
    this.sinceStart = addTraffic(this.sinceStart, delta);
    const hour = hourStart(this.nowMs());
    this.pending.set(hour, addTraffic(this.pending.get(hour) ?? ZERO_TRAFFIC, delta));
  }

  hit(): void {
    this.add({ ...ZERO_TRAFFIC, hits: 1 });
  }
  miss(): void {
    this.add({ ...ZERO_TRAFFIC, misses: 1 });
  }
  servedFromCache(bytes: number): void {
    if (bytes > 0) this.add({ ...ZERO_TRAFFIC, bytesFromCache: bytes });
  }
  fetchedFromOrigin(bytes: number): void {
    if (bytes > 0) this.add({ ...ZERO_TRAFFIC, bytesFromOrigin: bytes });
  }

  totalsSinceStart(): Readonly<TrafficDelta> {
    return this.sinceStart;
  }

  /** What has not been written yet (the dashboard adds it to the stored buckets). */
  unwritten(): HourlyTraffic[] {
    return [...this.pending].map(([hourMs, d]) => ({ hourMs, ...d }));
  }

  /** Write the pending buckets; a failed write keeps them for the next try. */
  flush(): Promise<void> {
    this.flushing = this.flushing.then(async () => {
      if (this.pending.size === 0) return;
      const batch = this.pending;
      this.pending = new Map();
      const rows = [...batch].filter(([, d]) => !isZeroTraffic(d)).map(([hourMs, d]) => ({ hourMs, ...d }));
      try {
        await this.ops.addTraffic(rows);
        this.lastError = null;
      } catch (err) {
        this.lastError = err instanceof Error ? err.message.split("\n")[0]! : String(err);
        for (const [hour, d] of batch) this.pending.set(hour, addTraffic(this.pending.get(hour) ?? ZERO_TRAFFIC, d));
      }
    });
    return this.flushing;
  }

  async close(): Promise<void> {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
    await this.flush();
  }
}
