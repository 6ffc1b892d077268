// Human durations for flags and config: "30s", "250ms", "5m", "2h", "7d"; a bare number is ms.

const UNITS_MS: Record<string, number> = {
  "": 1,
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
};

export type ParsedDuration = { ok: true; ms: number } | { ok: false; message: string };

export function parseDuration(text: string): ParsedDuration {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*$/.exec(text);
  const unit = m ? UNITS_MS[m[2]!.toLowerCase()] : undefined;
  if (!m || unit === undefined) return { ok: false, message: `${JSON.stringify(text)} is not a duration; expected e.g. 30s` };
  const ms = Math.round(Number(m[1]) * unit);
  if (!Number.isSafeInteger(ms)) return { ok: false, message: `${JSON.stringify(text)} is too large` };
  return { ok: true, ms };
}
