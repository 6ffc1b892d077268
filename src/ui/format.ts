// Human formats for the operator UI: binary byte units, rates, durations, UTC times. Pure.

const BYTE_UNITS = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"] as const;

export function formatBytes(bytes: number): string {
  if (!Number.isFinite(bytes) || bytes < 0) return "?";
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < BYTE_UNITS.length - 1) {
    value /= 1024;
    unit++;
  }
  if (unit === 0) return `${value} B`;
  const digits = value >= 100 ? 0 : value >= 10 ? 1 : 2;
  return `${value.toFixed(digits)} ${BYTE_UNITS[unit]}`;
}

export function formatRate(bytesPerSec: number): string {
  return `${formatBytes(Math.round(bytesPerSec))}/s`;
}

/** A duration in the largest two units: 45s, 3m 05s, 2h 10m, 3d 4h. */
export function formatDuration(ms: number): string {
  if (!Number.isFinite(ms) || ms < 0) return "?";
  const s = Math.round(ms / 1000);
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m ${String(s % 60).padStart(2, "0")}s`;
  const h = Math.floor(m / 60);
  if (h < 48) return `${h}h ${String(m % 60).padStart(2, "0")}m`;
  return `${Math.floor(h / 24)}d ${h % 24}h`;
}

/** Absolute UTC time, minute precision: 2026-11-26 13:05 UTC. */
export function formatTime(ms: number): string {
  const iso = new Date(ms).toISOString();
  return `${iso.slice(0, 10)} ${iso.slice(11, 16)} UTC`;
}

/** Relative time: "just now", "5m ago", "3h ago", "2d ago". */
export function formatAgo(ms: number, nowMs: number): string {
  const delta = nowMs - ms;
  if (delta < 60_000) return "just now";
  if (delta < 3_600_000) return `${Math.floor(delta / 60_000)}m ago`;
  if (delta < 172_800_000) return `${Math.floor(delta / 3_600_000)}h ago`;
  return `${Math.floor(delta / 86_400_000)}d ago`;
}

/** A time ahead, in formatAgo's style: "in 30s", "in 5m", "in 3h", "in 2d". */
export function formatUntil(atMs: number, nowMs: number): string {
  const delta = Math.max(0, atMs - nowMs);
  if (delta < 60_000) return `in ${Math.round(delta / 1000)}s`;
  if (delta < 3_600_000) return `in ${Math.floor(delta / 60_000)}m`;
  if (delta < 172_800_000) return `in ${Math.floor(delta / 3_600_000)}h`;
  return `in ${Math.floor(delta / 86_400_000)}d`;
}

/** Remaining time for a transfer, or null when it cannot be estimated. */
export function etaMs(progress: { bytesDone: number; totalBytes: number | null; rateBytesPerSec: number }): number | null {
  if (progress.totalBytes === null || progress.rateBytesPerSec <= 0) return null;
  const left = progress.totalBytes - progress.bytesDone;
  if (left <= 0) return 0;
  return (left / progress.rateBytesPerSec) * 1000;
}

export function percent(done: number, total: number | null): number | null {
  if (total === null || total <= 0) return null;
  return Math.min(100, Math.floor((done / total) * 100));
}
