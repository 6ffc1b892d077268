// API tokens: `wc_` + 43 characters of URL-safe base64 (32 random bytes). Only a token's sha256 is
// stored; the token itself is shown once, at creation. Tokens travel only in the Authorization
// header (`Bearer wc_…`): never in a query string, where logs and proxies would keep them.

export const API_TOKEN_PREFIX = "wc_";
export const API_TOKEN_RANDOM_BYTES = 32;
const API_TOKEN_PATTERN = /^wc_[A-Za-z0-9_-]{43}$/;
export const API_TOKEN_SCOPES = ["read", "admin"] as const;
export type ApiTokenScope = (typeof API_TOKEN_SCOPES)[number];
/** Token names: what an operator types and a log line shows. */
export const TOKEN_NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

/** Why a new token cannot have this name (one line; shown by the UI, the API and the CLI). */
export function tokenNameTaken(name: string): string {
  return `a token named "${name}" exists; revoke it first or choose another name`;
}

/** A new token from 32 random bytes (the caller draws them: the core has no randomness). */
export function apiTokenFromBytes(random: Uint8Array): string {
  if (random.byteLength !== API_TOKEN_RANDOM_BYTES) throw new Error(`api token needs ${API_TOKEN_RANDOM_BYTES} random bytes, got ${random.byteLength}`);
  return API_TOKEN_PREFIX + Buffer.from(random).toString("base64url");
}

export function isApiTokenShape(token: string): boolean {
  return API_TOKEN_PATTERN.test(token);
}

export type BearerResult = { kind: "none" } | { kind: "token"; token: string } | { kind: "invalid"; message: string };

/** The Authorization header, read strictly: absent, one well-formed `Bearer wc_…`, or why not. */
export function parseBearer(header: string | null): BearerResult {
  if (header === null || header.trim() === "") return { kind: "none" };
  const m = /^Bearer[ ]+(\S+)[ ]*$/i.exec(header);
  if (m === null) return { kind: "invalid", message: "authorization header is not \"Bearer <token>\"" };
  const token = m[1]!;
  if (!isApiTokenShape(token)) return { kind: "invalid", message: "bearer token is not a withcache token (wc_ followed by 43 characters)" };
  return { kind: "token", token };
}

/** A token's shown prefix (for lists and logs): enough to tell tokens apart, useless to an attacker. */
export function tokenHint(token: string): string {
  return token.slice(0, API_TOKEN_PREFIX.length + 4) + "…";
}
