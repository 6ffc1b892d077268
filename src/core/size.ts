// Human byte sizes for flags and config: "50GiB", "512MiB", "1.5GB", "1000". Parsed once at the edge.

const UNITS: Record<string, number> = {
  "": 1,
  b: 1,
  k: 1000,
  kb: 1000,
  m: 1000 ** 2,
  mb: 1000 ** 2,
  g: 1000 ** 3,
  gb: 1000 ** 3,
  t: 1000 ** 4,
  tb: 1000 ** 4,
  kib: 1024,
  mib: 1024 ** 2,
  gib: 1024 ** 3,
  tib: 1024 ** 4,
};

export type ParsedSize = { ok: true; bytes: number } | { ok: false; message: string };

/** Parse a size; the message names no flag, the caller prefixes it (`--max-size: …`). */
export function parseSize(text: string): ParsedSize {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*$/.exec(text);
  const unit = m ? UNITS[m[2]!.toLowerCase()] : undefined;
  if (!m || unit === undefined) return { ok: false, message: `${JSON.stringify(text)} is not a size; expected e.g. 20GiB` };
  const bytes = Math.floor(Number(m[1]) * unit);
  if (!Number.isSafeInteger(bytes)) return { ok: false, message: `${JSON.stringify(text)} is too large` };
  return { ok: true, bytes };
}

/** Format bytes for people: 1.5 GiB, 200 B. */
export function formatSize(bytes: number): string {
  const steps = ["B", "KiB", "MiB", "GiB", "TiB"];
  let value = bytes;
  let i = 0;
  while (value >= 1024 && i < steps.length - 1) {
    value /= 1024;
    i += 1;
  }
  return i === 0 ? `${bytes} B` : `${value.toFixed(value < 10 ? 1 : 0)} ${steps[i]}`;
}

/**
 * --min-free-disk: a size ("2GiB"), a percentage of the data dir's filesystem ("5%"), or "auto"
 * (5% of the filesystem, at most 1 GiB: 5% of a 4 TB disk would keep 200 GB idle for nothing).
 */
export type MinFreeDisk = { kind: "auto" } | { kind: "bytes"; bytes: number } | { kind: "percent"; percent: number };

/** The auto rule: this share of the filesystem… */
export const MIN_FREE_AUTO_PERCENT = 5;
/** …but never more than this. */
export const MIN_FREE_AUTO_CAP_BYTES = 1024 ** 3;

export type ParsedMinFree = { ok: true; value: MinFreeDisk } | { ok: false; message: string };

export function parseMinFreeDisk(text: string): ParsedMinFree {
  const t = text.trim().toLowerCase();
  if (t === "auto") return { ok: true, value: { kind: "auto" } };
  const pct = /^(\d+(?:\.\d+)?)\s*%$/.exec(t);
  if (pct) {
    const percent = Number(pct[1]);
    if (percent > 100) return { ok: false, message: `${JSON.stringify(text)} is over 100%` };
    return { ok: true, value: { kind: "percent", percent } };
  }
  const size = parseSize(text);
  if (!size.ok) return { ok: false, message: `${JSON.stringify(text)} is not a size or a percentage; expected e.g. 2GiB or 5%` };
  return { ok: true, value: { kind: "bytes", bytes: size.bytes } };
}

/** The rule of a --min-free-disk value the config schema has validated. */
export function minFreeDiskRule(text: string): MinFreeDisk {
  const parsed = parseMinFreeDisk(text);
  if (!parsed.ok) throw new Error(`--min-free-disk: ${parsed.message}`);
  return parsed.value;
}

/** Bytes that must stay free on a filesystem of `totalBytes`. */
export function minFreeBytes(rule: MinFreeDisk, totalBytes: number): number {
  switch (rule.kind) {
    case "auto":
      return Math.min(Math.floor((totalBytes * MIN_FREE_AUTO_PERCENT) / 100), MIN_FREE_AUTO_CAP_BYTES);
    case "percent":
      return Math.floor((totalBytes * rule.percent) / 100);
    case "bytes":
      return rule.bytes;
  }
}

/** --min-free-disk 0 (or 0%) turns the disk guard off (a full disk then ends a write with ENOSPC). */
export function diskGuardOff(rule: MinFreeDisk): boolean {
  return (rule.kind === "bytes" && rule.bytes === 0) || (rule.kind === "percent" && rule.percent === 0);
}

/**
 * The disk guard's verdict before or while a fill (or a local copy, `what`) writes: may
 * `moreBytes` still be written (null) or not (a one-line reason naming the directory, the free
 * space and the minimum).
 */
export function diskGuard(input: {
  freeBytes: number;
  totalBytes: number;
  /** What other writers (fills, local copies) still mean to write: counted as used. */
  promisedBytes: number;
  moreBytes: number;
  rule: MinFreeDisk;
  dir: string;
  starting: boolean;
  what?: string;
}): string | null {
  if (diskGuardOff(input.rule)) return null;
  const minimum = minFreeBytes(input.rule, input.totalBytes);
  const after = input.freeBytes - input.promisedBytes - input.moreBytes;
  if (after >= minimum) return null;
  const verb = `${input.what ?? "fill"} ${input.starting ? "not started" : "stopped"}`;
  const others = input.promisedBytes > 0 ? `, ${formatSize(input.promisedBytes)} of it still to be written by other fills` : "";
  // Before a fill, what it still needs is the point; while writing, the free space is.
  const need = input.starting && input.moreBytes > 0 ? `${others === "" ? "" : ","} and ${formatSize(input.moreBytes)} still to write` : "";
  return `${verb}: only ${formatSize(input.freeBytes)} free on ${input.dir}${others}${need} (minimum ${formatSize(minimum)} free, --min-free-disk)`;
}
