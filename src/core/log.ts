// One log line per event: `2026-11-26T12:00:00.000Z request method=GET path=/healthz status=200`.
// Pure formatting; the sink (stdout) lives in the shell. Values are quoted when they contain
// spaces or quotes so a line always splits back into fields.

export type LogValue = string | number | boolean | null | undefined;
export type LogFields = Record<string, LogValue>;

export interface Logger {
  event(name: string, fields: LogFields): void;
  /** Write out anything buffered (at shutdown, before the process exits). */
  flush?(): void;
}

function formatValue(value: LogValue): string {
  if (value === null || value === undefined) return "-";
  const text = String(value);
  return /^[^\s"=]+$/.test(text) ? text : JSON.stringify(text);
}

export function formatLogLine(nowMs: number, name: string, fields: LogFields): string {
  const parts = [new Date(nowMs).toISOString(), name];
  for (const [k, v] of Object.entries(fields)) {
    if (v === undefined) continue;
    parts.push(`${k}=${formatValue(v)}`);
  }
  return parts.join(" ");
}

/** A URL as the operator UI shows it: whole with --keep-query (the query is part of the key),
 *  else without its query, like the logs (a signed URL's token is a secret). */
export function displayUrl(raw: string, options: { keepQuery: boolean }): string {
  if (options.keepQuery) return raw;
  // Cut the raw text rather than re-serialising a parsed URL, so the path shows as recorded.
  const end = raw.search(/[?#]/);
  if (end < 0) return raw;
  return raw[end] === "?" ? `${raw.slice(0, end)}?…` : raw.slice(0, end);
}

/** A URL safe to log: scheme, host and path only; the query may carry a signed token. */
export function loggableUrl(raw: string): string {
  try {
    const u = new URL(raw);
    return `${u.protocol}//${u.host}${u.pathname}${u.search === "" ? "" : "?…"}`;
  } catch {
    return "(unparseable url)";
  }
}
