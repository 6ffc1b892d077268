// The /b/<token>/<name> wire token: URL-safe base64 (RFC 4648 §5) of the origin URL, padding
// stripped. Decoding accepts padded input too (older clients), nothing else.

const TOKEN_PATTERN = /^[A-Za-z0-9_-]*={0,2}$/;

export function encodeToken(originUrl: string): string {
  return Buffer.from(originUrl, "utf8").toString("base64url");
}

export type DecodedToken = { ok: true; url: string } | { ok: false; message: string };

export function decodeToken(token: string): DecodedToken {
  if (token.length === 0) return { ok: false, message: "token is empty" };
  if (!TOKEN_PATTERN.test(token)) return { ok: false, message: "token is not url-safe base64" };
  const bare = token.replace(/=+$/, "");
  if (bare.length % 4 === 1) return { ok: false, message: "token has an impossible length for base64" };
  const bytes = Buffer.from(bare, "base64url");
  // Reject non-canonical encodings (stray low bits) so one URL has exactly one token.
  if (bytes.toString("base64url") !== bare) return { ok: false, message: "token is not canonical base64" };
  const url = new TextDecoder("utf-8", { fatal: false }).decode(bytes);
  if (Buffer.from(url, "utf8").compare(bytes) !== 0) return { ok: false, message: "token does not decode to utf-8" };
  return { ok: true, url };
}
