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
