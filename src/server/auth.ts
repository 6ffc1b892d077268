// Operator auth: signed session cookies, CSRF tokens, origin checks and the login rate limit.
// No I/O here (the secret file lives in auth-secret.ts); clocks come in as nowMs.
//
// Cookie value: v1.<issuedAtMs>.<sessionId>.<mac>, mac = HMAC-SHA256(sessionKey, "v1.<iat>.<id>"),
// base64url. sessionKey = HMAC-SHA256(secret, "withcache session key v1" + SHA-256(password)), so
// changing the password changes the key and every existing cookie stops verifying.
import { createHash, createHmac, randomBytes, timingSafeEqual } from "node:crypto";
import { clientNetwork, hostAllowed, isIpLiteral } from "../core/address.ts";

export const SESSION_COOKIE = "withcache_session";
/** Sessions last a week from login; there is no sliding renewal. */
export const SESSION_LIFETIME_MS = 7 * 24 * 60 * 60 * 1000;
/** A cookie issued this far in the future is refused (clock skew between restarts is tolerated). */
const FUTURE_SKEW_MS = 5 * 60 * 1000;
/** Upper bound on a cookie value we even look at. */
const COOKIE_VALUE_MAX_CHARS = 256;

export interface AuthKeys {
  session: Buffer;
  csrf: Buffer;
}

export interface Session {
  id: string;
  issuedAtMs: number;
}

export type VerifyResult = { ok: true; session: Session } | { ok: false; reason: string };

function sha256(data: string | Buffer): Buffer {
  return createHash("sha256").update(data).digest();
}

function hmac(key: Buffer | string, data: string): Buffer {
  return createHmac("sha256", key).update(data).digest();
}

/** Derive the signing keys. The password enters only as its SHA-256 inside an HMAC. */
export function deriveKeys(options: { secret: string; password: string }): AuthKeys {
  if (options.secret.trim() === "") throw new Error("assertion failed: session secret is blank");
  const passwordDigest = sha256(options.password).toString("hex");
  return {
    session: hmac(options.secret, `withcache session key v1\0${passwordDigest}`),
    csrf: hmac(options.secret, `withcache csrf key v1\0${passwordDigest}`),
  };
}

/** Constant-time string equality (lengths may differ; both sides are hashed first). */
export function safeEqual(a: string, b: string): boolean {
  return timingSafeEqual(sha256(a), sha256(b));
}

export function newSessionId(): string {
  return randomBytes(16).toString("base64url");
}

export function signSession(keys: AuthKeys, session: Session): string {
  const body = `v1.${session.issuedAtMs}.${session.id}`;
  return `${body}.${hmac(keys.session, body).toString("base64url")}`;
}

export function verifySession(keys: AuthKeys, value: string, nowMs: number): VerifyResult {
  if (value.length > COOKIE_VALUE_MAX_CHARS) return { ok: false, reason: "session cookie is too long" };
  const parts = value.split(".");
  if (parts.length !== 4 || parts[0] !== "v1") return { ok: false, reason: "session cookie is malformed" };
  const [, iat, id, mac] = parts as [string, string, string, string];
  if (!/^\d{1,15}$/.test(iat) || !/^[A-Za-z0-9_-]{16,64}$/.test(id)) return { ok: false, reason: "session cookie is malformed" };
  const expected = hmac(keys.session, `v1.${iat}.${id}`).toString("base64url");
  if (!safeEqual(mac, expected)) return { ok: false, reason: "session cookie signature does not verify" };
  const issuedAtMs = Number(iat);
  if (issuedAtMs > nowMs + FUTURE_SKEW_MS) return { ok: false, reason: "session cookie is issued in the future" };
  if (nowMs - issuedAtMs >= SESSION_LIFETIME_MS) return { ok: false, reason: "session cookie has expired" };
  return { ok: true, session: { id, issuedAtMs } };
}

/** The CSRF token bound to a session id (or to a fixed label when there is no session). */
export function csrfToken(keys: AuthKeys, binding: string): string {
  return hmac(keys.csrf, `csrf\0${binding}`).toString("base64url");
}

export function verifyCsrfToken(keys: AuthKeys, binding: string, token: string): boolean {
  return safeEqual(token, csrfToken(keys, binding));
}

export function checkPassword(given: string, expected: string): boolean {
  return safeEqual(given, expected);
}

export function parseCookies(header: string | null): Map<string, string> {
  const out = new Map<string, string>();
  if (header === null) return out;
  for (const part of header.split(";")) {
    const eq = part.indexOf("=");
    if (eq < 0) continue;
    const name = part.slice(0, eq).trim();
    if (name !== "" && !out.has(name)) out.set(name, part.slice(eq + 1).trim());
  }
  return out;
}

/** Set-Cookie for a session (value) or for clearing it (value null). */
export function sessionCookie(value: string | null, options: { secure: boolean }): string {
  const attrs = ["Path=/", "HttpOnly", "SameSite=Strict"];
  if (options.secure) attrs.push("Secure");
  if (value === null) return `${SESSION_COOKIE}=; ${attrs.join("; ")}; Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:00 GMT`;
  return `${SESSION_COOKIE}=${value}; ${attrs.join("; ")}; Max-Age=${SESSION_LIFETIME_MS / 1000}`;
}

/** The entry a trusted proxy wrote into an X-Forwarded-* header: the last one. A proxy that
 *  appends keeps what the client sent in front of its own entry (a page can send
 *  `X-Forwarded-Host: <a listed name>` itself), one that overwrites leaves only its own. */
function proxyEntry(value: string | null): string | undefined {
  const last = value?.split(",").pop()?.trim();
  return last === "" ? undefined : last;
}

/** The host[:port] the browser addressed: the Host header, or with a trusted proxy the
 *  X-Forwarded-Host entry the proxy wrote (it copies the browser's Host there). */
export function requestHost(request: { url: string; headers: Headers }, options: { trustProxy: boolean }): string {
  let host = request.headers.get("host") ?? new URL(request.url).host;
  if (options.trustProxy) {
    const fwdHost = proxyEntry(request.headers.get("x-forwarded-host"));
    if (fwdHost) host = fwdHost;
  }
  return host;
}

/** Where the browser thinks it is talking to: scheme and host, honouring a trusted proxy. */
export function requestOrigin(request: { url: string; headers: Headers }, options: { trustProxy: boolean }): string {
  const url = new URL(request.url);
  let proto = url.protocol.replace(/:$/, "");
  if (options.trustProxy) {
    const fwdProto = proxyEntry(request.headers.get("x-forwarded-proto"))?.toLowerCase();
    if (fwdProto === "https" || fwdProto === "http") proto = fwdProto;
  }
  return `${proto}://${requestHost(request, options).toLowerCase()}`;
}

/** A host[:port] as a name to compare: lowercased, without the port and one trailing dot; an
 *  IPv6 literal keeps its brackets. Null when it is not of that shape. */
export function hostName(host: string): string | null {
  const h = host.trim().toLowerCase();
  const m = /^(\[[0-9a-f:.]+\]|[^\[\]:]+)(?::\d*)?$/.exec(h);
  if (!m) return null;
  const name = m[1]!.replace(/\.$/, "");
  return name === "" ? null : name;
}

/**
 * The DNS-rebinding guard of an operator UI without a password. A page on evil.example whose
 * name is made to resolve to the cache-host reaches it as a same-origin page (its Origin and the
 * Host both say evil.example), so it could read the CSRF token and drive the UI. Such a page
 * always sends the attacker's name as Host, so the UI answers only names that cannot be the
 * attacker's: an IP literal, localhost, this machine's hostname, or a name the operator listed
 * (--ui-host; `*.example.com` patterns as for --allow-host). Null: allowed; else the name refused.
 */
export function uiHostRefused(
  request: { url: string; headers: Headers },
  options: { trustProxy: boolean; uiHosts: readonly string[]; machineHostname: string },
): { host: string } | null {
  const raw = requestHost(request, options);
  const name = hostName(raw);
  if (name === null) return { host: raw };
  if (name === "localhost") return null;
  if (name.startsWith("[") ? isIpLiteral(name) : !name.includes(":") && isIpLiteral(name)) return null;
  const machine = options.machineHostname.trim().toLowerCase().replace(/\.$/, "");
  if (machine !== "" && name === machine) return null;
  if (options.uiHosts.length > 0 && hostAllowed(name, options.uiHosts)) return null;
  return { host: name };
}

export function isSecureRequest(request: { url: string; headers: Headers }, options: { trustProxy: boolean }): boolean {
  return requestOrigin(request, options).startsWith("https://");
}

/** Cross-site check for state-changing requests: Sec-Fetch-Site, then Origin, then Referer.
 *  A request carrying none of them (curl, scripts) passes here and must still bring a token. */
export function crossSiteReason(request: { url: string; headers: Headers }, options: { trustProxy: boolean }): string | null {
  const site = request.headers.get("sec-fetch-site");
  if (site !== null && site !== "same-origin" && site !== "none") return `sec-fetch-site is ${site}`;
  const expected = requestOrigin(request, options);
  const origin = request.headers.get("origin");
  if (origin !== null) return origin.toLowerCase() === expected ? null : `origin ${JSON.stringify(origin.slice(0, 200))} is not ${expected}`;
  const referer = request.headers.get("referer");
  if (referer !== null) {
    let refOrigin: string;
    try {
      refOrigin = new URL(referer).origin.toLowerCase();
    } catch {
      return "referer is not a url";
    }
    return refOrigin === expected ? null : `referer origin ${JSON.stringify(refOrigin.slice(0, 200))} is not ${expected}`;
  }
  return null;
}

/** The client address for rate limiting: the socket peer, or with a trusted proxy the address
 *  that proxy appended last to X-Forwarded-For (earlier entries are client-controlled). */
export function clientAddress(request: { headers: Headers }, peer: string | null, options: { trustProxy: boolean }): string {
  if (options.trustProxy) {
    const forwarded = request.headers.get("x-forwarded-for");
    const last = forwarded?.split(",").pop()?.trim();
    if (last) return last.slice(0, 64);
  }
  return peer ?? "unknown";
}

export interface RateLimitOptions {
  /** Failed attempts allowed per address within windowMs. */
  maxFailures: number;
  windowMs: number;
  /** Addresses tracked at once; the least recently failing ones are forgotten beyond this. */
  maxClients: number;
}

export const LOGIN_RATE_LIMIT: RateLimitOptions = { maxFailures: 5, windowMs: 5 * 60 * 1000, maxClients: 10_000 };

/** Per-client sliding window of failed logins. Once maxFailures fall inside the window, further
 *  attempts are refused until the oldest failure leaves it. A client is an IPv4 address or an
 *  IPv6 /64 (a host that owns a /64 could otherwise take a fresh address per five guesses). */
export class LoginRateLimiter {
  private readonly failures = new Map<string, number[]>();
  constructor(private readonly options: RateLimitOptions = LOGIN_RATE_LIMIT) {}

  private recent(address: string, nowMs: number): number[] {
    address = clientNetwork(address);
    const list = (this.failures.get(address) ?? []).filter((t) => nowMs - t < this.options.windowMs);
    if (list.length === 0) this.failures.delete(address);
    else this.failures.set(address, list);
    return list;
  }

  /** null when an attempt is allowed, else how long to wait. */
  retryAfterMs(address: string, nowMs: number): number | null {
    const list = this.recent(address, nowMs);
    if (list.length < this.options.maxFailures) return null;
    const oldest = list[list.length - this.options.maxFailures] ?? nowMs;
    return Math.max(1, oldest + this.options.windowMs - nowMs);
  }

  recordFailure(address: string, nowMs: number): void {
    address = clientNetwork(address);
    const list = this.recent(address, nowMs);
    list.push(nowMs);
    if (list.length > this.options.maxFailures) list.splice(0, list.length - this.options.maxFailures);
    this.failures.delete(address); // re-insert: Map order is least recently failing first
    this.failures.set(address, list);
    while (this.failures.size > this.options.maxClients) {
      const first = this.failures.keys().next();
      if (first.done) break;
      this.failures.delete(first.value);
    }
  }

  recordSuccess(address: string): void {
    this.failures.delete(clientNetwork(address));
  }
}

/** Session ids logged out before their expiry, in this process (the store keeps them across
 *  restarts; this copy holds even when the database could not take the write). Bounded. */
export class RevokedSessions {
  private readonly revoked = new Map<string, number>();
  constructor(private readonly maxEntries = 10_000) {}

  revoke(session: Session): void {
    this.revoked.set(session.id, session.issuedAtMs + SESSION_LIFETIME_MS);
    while (this.revoked.size > this.maxEntries) {
      const first = this.revoked.keys().next();
      if (first.done) break;
      this.revoked.delete(first.value);
    }
  }

  isRevoked(session: Session, nowMs: number): boolean {
    const expiresAtMs = this.revoked.get(session.id);
    if (expiresAtMs === undefined) return false;
    if (expiresAtMs <= nowMs) {
      this.revoked.delete(session.id);
      return false;
    }
    return true;
  }
}
