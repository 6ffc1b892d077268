// Opaque, signed page cursors for the JSON API. A cursor carries the position after the last row
// of a page (the sort value and the key, for keyset pagination) and the query it belongs to; it
// is HMAC-signed so a client can neither forge a position nor reuse a cursor with another sort or
// filter. Pure: the caller passes the key.
import { createHmac, timingSafeEqual } from "node:crypto";

/** What a cursor pins: the listing (its sort, direction, filter) and where the last page ended. */
export type CursorState = {
  /** Which listing and query the cursor belongs to, e.g. `artifacts|size|desc|cuda`. */
  scope: string;
  /** The last row's sort value (number or string) and key. */
  value: number | string | null;
  key: string;
};

const CURSOR_CHARS_MAX = 12_000;
const MAC_CHARS = 22;

function mac(secret: Uint8Array, body: string): string {
  return createHmac("sha256", secret).update(`withcache cursor v1\0${body}`).digest("base64url").slice(0, MAC_CHARS);
}

export function signCursor(secret: Uint8Array, state: CursorState): string {
  const body = Buffer.from(JSON.stringify([state.scope, state.value, state.key])).toString("base64url");
  return `${body}.${mac(secret, body)}`;
}

export type CursorResult = { ok: true; state: CursorState } | { ok: false; message: string };

/** The cursor's position, if it is ours, untampered, and for this listing (`scope`). */
export function verifyCursor(secret: Uint8Array, cursor: string, scope: string): CursorResult {
  const bad = (why: string): CursorResult => ({ ok: false, message: `cursor ${why}; start again without a cursor` });
  if (cursor.length > CURSOR_CHARS_MAX) return bad("is too long");
  const dot = cursor.indexOf(".");
  if (dot <= 0) return bad("is malformed");
  const body = cursor.slice(0, dot);
  const given = Buffer.from(cursor.slice(dot + 1));
  const expected = Buffer.from(mac(secret, body));
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) return bad("was not issued by this server or was altered");
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(body, "base64url").toString("utf8"));
  } catch {
    return bad("is malformed");
  }
  if (!Array.isArray(parsed) || parsed.length !== 3) return bad("is malformed");
  const [s, value, key] = parsed as unknown[];
  if (typeof s !== "string" || typeof key !== "string" || !(value === null || typeof value === "number" || typeof value === "string")) return bad("is malformed");
  if (s !== scope) return bad("belongs to another listing (sort, direction or filter changed)");
  return { ok: true, state: { scope: s, value, key } };
}
