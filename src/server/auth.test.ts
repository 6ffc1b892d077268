import { describe, expect, test } from "bun:test";
import {
  LoginRateLimiter,
  RevokedSessions,
  SESSION_LIFETIME_MS,
  clientAddress,
  crossSiteReason,
  csrfToken,
  deriveKeys,
  hostName,
  isSecureRequest,
  parseCookies,
  sessionCookie,
  signSession,
  uiHostRefused,
  verifyCsrfToken,
  verifySession,
} from "./auth.ts";

const T0 = 1_800_000_000_000;
const keys = deriveKeys({ secret: "s3cret-s3cret-s3cret", password: "hunter2" });
const session = { id: "abcdefghijklmnopqrstuv", issuedAtMs: T0 };

describe("session cookies", () => {
  test("sign then verify round-trips", () => {
    const v = verifySession(keys, signSession(keys, session), T0 + 1000);
    expect(v).toEqual({ ok: true, session });
  });
  test("tampered issue time, id or mac is rejected", () => {
    const cookie = signSession(keys, session);
    const [, iat, id, mac] = cookie.split(".");
    for (const bad of [`v1.${Number(iat) + 1}.${id}.${mac}`, `v1.${iat}.${id}x.${mac}`, `v1.${iat}.${id}.${mac!.slice(0, -1)}A`, `v2.${iat}.${id}.${mac}`, "garbage", ""]) {
      expect(verifySession(keys, bad, T0).ok).toBe(false);
    }
  });
  test("expires after seven days, refuses the far future", () => {
    const cookie = signSession(keys, session);
    expect(verifySession(keys, cookie, T0 + SESSION_LIFETIME_MS - 1).ok).toBe(true);
    expect(verifySession(keys, cookie, T0 + SESSION_LIFETIME_MS)).toEqual({ ok: false, reason: "session cookie has expired" });
    expect(verifySession(keys, cookie, T0 - 3_600_000).ok).toBe(false);
  });
  test("a password change or another secret invalidates every session", () => {
    const cookie = signSession(keys, session);
    expect(verifySession(deriveKeys({ secret: "s3cret-s3cret-s3cret", password: "hunter3" }), cookie, T0).ok).toBe(false);
    expect(verifySession(deriveKeys({ secret: "other-secret", password: "hunter2" }), cookie, T0).ok).toBe(false);
  });
  test("a blank secret is refused, not used", () => {
    expect(() => deriveKeys({ secret: "  ", password: "x" })).toThrow();
  });
  test("cookie attributes", () => {
    expect(sessionCookie("v", { secure: false })).toBe(`withcache_session=v; Path=/; HttpOnly; SameSite=Strict; Max-Age=604800`);
    expect(sessionCookie("v", { secure: true })).toContain("; Secure;");
    expect(sessionCookie(null, { secure: false })).toContain("Max-Age=0");
    expect(parseCookies("a=1; withcache_session=x.y; b=2")).toEqual(new Map([["a", "1"], ["withcache_session", "x.y"], ["b", "2"]]));
  });
  test("revoked sessions stay revoked until they would have expired", () => {
    const revoked = new RevokedSessions(2);
    revoked.revoke(session);
    expect(revoked.isRevoked(session, T0 + 1)).toBe(true);
    expect(revoked.isRevoked(session, T0 + SESSION_LIFETIME_MS)).toBe(false);
  });
});

describe("csrf and origins", () => {
  test("csrf token is bound to the session", () => {
    const token = csrfToken(keys, "session-a");
    expect(verifyCsrfToken(keys, "session-a", token)).toBe(true);
    expect(verifyCsrfToken(keys, "session-b", token)).toBe(false);
    expect(verifyCsrfToken(keys, "session-a", "")).toBe(false);
  });
  test("cross-site requests are named, same-origin ones pass", () => {
    const req = (h: Record<string, string>) => ({ url: "http://127.0.0.1:3000/admin/add", headers: new Headers({ host: "127.0.0.1:3000", ...h }) });
    const opts = { trustProxy: false };
    expect(crossSiteReason(req({ origin: "http://127.0.0.1:3000" }), opts)).toBeNull();
    expect(crossSiteReason(req({}), opts)).toBeNull();
    expect(crossSiteReason(req({ origin: "http://evil.example" }), opts)).toContain("is not http://127.0.0.1:3000");
    expect(crossSiteReason(req({ origin: "null" }), opts)).not.toBeNull();
    expect(crossSiteReason(req({ "sec-fetch-site": "cross-site" }), opts)).toBe("sec-fetch-site is cross-site");
    expect(crossSiteReason(req({ referer: "http://evil.example/x" }), opts)).not.toBeNull();
    expect(crossSiteReason(req({ referer: "http://127.0.0.1:3000/admin/misses" }), opts)).toBeNull();
    const proxied = req({ origin: "https://cache.lab", "x-forwarded-proto": "https", "x-forwarded-host": "cache.lab" });
    expect(crossSiteReason(proxied, { trustProxy: true })).toBeNull();
    expect(crossSiteReason(proxied, opts)).not.toBeNull();
  });
  test("secure only over https or a trusted proxy saying https", () => {
    const r = (h: Record<string, string>) => ({ url: "http://h/", headers: new Headers(h) });
    expect(isSecureRequest(r({}), { trustProxy: false })).toBe(false);
    expect(isSecureRequest(r({ "x-forwarded-proto": "https" }), { trustProxy: false })).toBe(false);
    expect(isSecureRequest(r({ "x-forwarded-proto": "https" }), { trustProxy: true })).toBe(true);
    expect(isSecureRequest(r({ "x-forwarded-proto": "https, http" }), { trustProxy: true })).toBe(false);
    expect(isSecureRequest({ url: "https://h/", headers: new Headers() }, { trustProxy: false })).toBe(true);
  });
  test("client address: peer, or the proxy-appended forwarded address", () => {
    const r = { headers: new Headers({ "x-forwarded-for": "6.6.6.6, 10.0.0.9" }) };
    expect(clientAddress(r, "127.0.0.1", { trustProxy: false })).toBe("127.0.0.1");
    expect(clientAddress(r, "127.0.0.1", { trustProxy: true })).toBe("10.0.0.9");
  });
});

describe("the rebinding guard of a password-less ui", () => {
  const req = (h: Record<string, string>) => ({ url: "http://127.0.0.1:3000/admin/add", headers: new Headers(h) });
  const opts = { trustProxy: false, uiHosts: ["cache.lab.example", "*.ops.example"], machineHostname: "Build-01" };
  test("host names compare without port, case or a trailing dot", () => {
    expect(hostName("Cache.Lab.Example.:3000")).toBe("cache.lab.example");
    expect(hostName("[::1]:3000")).toBe("[::1]");
    expect(hostName("127.0.0.1")).toBe("127.0.0.1");
    expect(hostName("::1")).toBeNull(); // an IPv6 literal in Host always has brackets
    expect(hostName("a:b:3000")).toBeNull();
    expect(hostName("")).toBeNull();
  });
  test("IP literals, localhost, this machine's hostname and the listed names pass", () => {
    for (const host of ["127.0.0.1:3000", "10.1.2.3", "[::1]:3000", "[2001:db8::7]", "localhost:3000", "LOCALHOST.", "build-01", "BUILD-01.:3000", "cache.lab.example:3000", "Cache.Lab.Example.", "a.ops.example"]) {
      expect(uiHostRefused(req({ host }), opts), host).toBeNull();
    }
  });
  test("any other name is refused, whatever Origin says", () => {
    expect(uiHostRefused(req({ host: "evil.example", origin: "http://evil.example" }), opts)).toEqual({ host: "evil.example" });
    expect(uiHostRefused(req({ host: "EVIL.example.:3000" }), opts)).toEqual({ host: "evil.example" });
    for (const host of ["ops.example", "x.cache.lab.example", "build-01.evil.example", "localhost.evil.example", "127.0.0.1.evil.example", "1.2.3"]) {
      expect(uiHostRefused(req({ host }), opts), host).toEqual({ host });
    }
    expect(uiHostRefused(req({ host: "cache.lab.example" }), { ...opts, uiHosts: [] })).toEqual({ host: "cache.lab.example" });
    expect(uiHostRefused(req({ host: "build-01" }), { ...opts, machineHostname: "" })).toEqual({ host: "build-01" });
  });
  test("behind a trusted proxy the forwarded host is judged, as for the same-origin check", () => {
    // A proxy that appends keeps the page's own header in front: the last entry is the proxy's.
    const proxied = req({ host: "127.0.0.1:3000", "x-forwarded-host": "cache.lab.example, evil.example" });
    expect(uiHostRefused(proxied, { ...opts, trustProxy: true })).toEqual({ host: "evil.example" });
    expect(uiHostRefused(proxied, opts)).toBeNull(); // not trusted: the header is ignored
    expect(uiHostRefused(req({ host: "evil.example", "x-forwarded-host": "cache.lab.example" }), { ...opts, trustProxy: true })).toBeNull();
    expect(uiHostRefused(req({ host: "evil.example", "x-forwarded-host": "cache.lab.example" }), opts)).toEqual({ host: "evil.example" });
  });
  test("--ui-host '*' turns the guard off", () => {
    expect(uiHostRefused(req({ host: "anything.example" }), { ...opts, uiHosts: ["*"] })).toBeNull();
  });
});

describe("login rate limit", () => {
  test("five failures in the window lock the address until the oldest leaves it", () => {
    const rl = new LoginRateLimiter({ maxFailures: 5, windowMs: 60_000, maxClients: 100 });
    for (let i = 0; i < 5; i++) {
      expect(rl.retryAfterMs("a", T0 + i)).toBeNull();
      rl.recordFailure("a", T0 + i);
    }
    expect(rl.retryAfterMs("a", T0 + 10)).toBe(60_000 - 10);
    expect(rl.retryAfterMs("b", T0 + 10)).toBeNull();
    expect(rl.retryAfterMs("a", T0 + 60_000)).toBeNull();
  });
  test("an ipv6 client is its /64; an ipv4-mapped address is its ipv4 address", () => {
    const rl = new LoginRateLimiter({ maxFailures: 5, windowMs: 60_000, maxClients: 100 });
    for (let i = 1; i <= 5; i++) rl.recordFailure(`2001:db8:1:2::${i}`, T0);
    expect(rl.retryAfterMs("2001:db8:1:2:ffff:ffff:ffff:ffff", T0)).not.toBeNull();
    expect(rl.retryAfterMs("2001:db8:1:3::1", T0)).toBeNull();
    for (let i = 0; i < 5; i++) rl.recordFailure("::ffff:10.0.0.9", T0);
    expect(rl.retryAfterMs("10.0.0.9", T0)).not.toBeNull();
    rl.recordSuccess("2001:db8:1:2::77");
    expect(rl.retryAfterMs("2001:db8:1:2::1", T0)).toBeNull();
  });
  test("success clears; the table is bounded", () => {
    const rl = new LoginRateLimiter({ maxFailures: 1, windowMs: 60_000, maxClients: 2 });
    rl.recordFailure("a", T0);
    rl.recordSuccess("a");
    expect(rl.retryAfterMs("a", T0)).toBeNull();
    rl.recordFailure("a", T0);
    rl.recordFailure("b", T0);
    rl.recordFailure("c", T0);
    expect(rl.retryAfterMs("a", T0)).toBeNull(); // forgotten, oldest
    expect(rl.retryAfterMs("c", T0)).not.toBeNull();
  });
});
