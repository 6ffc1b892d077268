// Human durations for flags and config: "30s", "250ms", "5m", "2h", "7d". A bare number is
// refused (is `--fill-backoff 5` five seconds or five milliseconds?), except 0, which is 0 in any unit.

const UNITS_MS: Record<string, number> = {
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
};

export type ParsedDuration = { ok: true; ms: number } | { ok: false; message: string };

export function parseDuration(text: string): ParsedDuration {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*$/.exec(text);
  if (m && m[2] === "") return Number(m[1]) === 0 ? { ok: true, ms: 0 } : { ok: false, message: `${JSON.stringify(text)} has no unit; expected e.g. 5s or 500ms` };
  const unit = m ? UNITS_MS[m[2]!.toLowerCase()] : undefined;
  if (!m || unit === undefined) return { ok: false, message: `${JSON.stringify(text)} is not a duration; expected e.g. 30s` };
  const ms = Math.round(Number(m[1]) * unit);
  if (!Number.isSafeInteger(ms)) return { ok: false, message: `${JSON.stringify(text)} is too large` };
  return { ok: true, ms };
}
