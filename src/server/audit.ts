// The audit log: operator actions and security events, kept in the OpsStore for
// --event-retention. Recording is synchronous for the caller (an append to a buffer) and written
// in one transaction a moment later, so a flood of refused requests costs no write per request.
import type { Logger } from "../core/log.ts";
import type { EventRow, NewEvent, OpsStore } from "../store/types.ts";

export const AUDIT_FLUSH_MS = 250;
/** Buffered events past which new ones are dropped (and counted) until the next write. */
export const AUDIT_BUFFER_MAX = 10_000;
export const AUDIT_PRUNE_EVERY_MS = 60 * 60 * 1000;
/** Longest detail kept (one line). */
const DETAIL_CHARS_MAX = 500;

export type AuditEntry = {
  kind: string;
  actor: string;
  client: string;
  outcome: EventRow["outcome"];
  detail?: string;
};

export class AuditLog {
  private buffer: NewEvent[] = [];
  private dropped = 0;
  private timer: ReturnType<typeof setTimeout> | null = null;
  private pruneTimer: ReturnType<typeof setInterval> | null = null;
  private writing: Promise<void> = Promise.resolve();

  constructor(
    private readonly ops: OpsStore,
    private readonly options: { nowMs: () => number; retentionMs: number; log: Logger },
  ) {}

  start(): void {
    void this.prune();
    this.pruneTimer = setInterval(() => void this.prune(), AUDIT_PRUNE_EVERY_MS);
    this.pruneTimer.unref?.();
  }

  record(entry: AuditEntry): void {
    if (this.options.retentionMs === 0) return;
    if (this.buffer.length >= AUDIT_BUFFER_MAX) {
      this.dropped += 1;
      return;
    }
    const detail = (entry.detail ?? "").replace(/[\r\n]+/g, " ").slice(0, DETAIL_CHARS_MAX);
    this.buffer.push({ atMs: this.options.nowMs(), kind: entry.kind, actor: entry.actor, client: entry.client, outcome: entry.outcome, detail });
    if (this.timer === null) {
      this.timer = setTimeout(() => void this.flush(), AUDIT_FLUSH_MS);
      this.timer.unref?.();
    }
  }

  /** Write what is buffered (tests and the events page call it to read their own writes). */
  flush(): Promise<void> {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    this.writing = this.writing.then(async () => {
      const batch = this.buffer;
      this.buffer = [];
      if (this.dropped > 0) {
        batch.push({ atMs: this.options.nowMs(), kind: "audit-overflow", actor: "system", client: "-", outcome: "failed", detail: `${this.dropped} events dropped: more than ${AUDIT_BUFFER_MAX} waited to be written` });
        this.dropped = 0;
      }
      if (batch.length === 0) return;
      try {
        await this.ops.recordEvents(batch);
      } catch (err) {
        this.options.log.event("audit-error", { events: batch.length, error: err instanceof Error ? err.message.split("\n")[0] : String(err) });
      }
    });
    return this.writing;
  }

  private async prune(): Promise<void> {
    try {
      const removed = await this.ops.pruneEvents(this.options.nowMs() - this.options.retentionMs);
      if (removed > 0) this.options.log.event("audit", { pruned: removed });
    } catch (err) {
      this.options.log.event("audit-error", { error: err instanceof Error ? err.message.split("\n")[0] : String(err) });
    }
  }

  async close(): Promise<void> {
    if (this.pruneTimer !== null) clearInterval(this.pruneTimer);
    await this.flush();
  }
}
