import { describe, expect, test } from "bun:test";
import {
  CACHE_CONTROL_BYTES_MAX,
  conditionalHeaders,
  type Freshness,
  freshnessOf,
  LIFETIME_MAX_MS,
  notModifiedMerge,
  type OriginHeaders,
  originHeadersOf,
  parseCacheControl,
  type Policy,
  readVerdict,
  serveStaleUntilMs,
  storability,
  VALIDATED_USE_MS,
  validEtag,
} from "./freshness.ts";
import { formatHttpDate } from "./http-date.ts";

const T = Date.UTC(2026, 0, 1);
const SECOND_MS = 1000;
const MINUTE_MS = 60 * SECOND_MS;
const HOUR_MS = 60 * MINUTE_MS;
const DAY_MS = 24 * HOUR_MS;
const OPTIONS = { heuristicMaxMs: DAY_MS, defaultMaxAgeMs: HOUR_MS };
const AT_T = { requestAtMs: T, responseAtMs: T };
const ORIGIN: Policy = { kind: "origin" };

/** The headers an origin response carries, as stored (over-long values dropped). */
function stored(init: Record<string, string>): OriginHeaders {
  return originHeadersOf(new Headers(init));
}

function http(ms: number): string {
  return formatHttpDate(ms);
}

/** Freshness of a response received at T under the origin policy. */
function fresh(init: Record<string, string>, policy: Policy = ORIGIN): Freshness {
  return freshnessOf(stored(init), AT_T, policy, OPTIONS);
}

describe("storability", () => {
  test("a plain 200 may be stored", () => {
    expect(storability(200, new Headers({ "cache-control": "max-age=60" }), ORIGIN)).toEqual({ ok: true });
    expect(storability(200, new Headers(), ORIGIN)).toEqual({ ok: true });
  });
  test("no-store is refused", () => {
    expect(storability(200, new Headers({ "cache-control": "max-age=60, no-store" }), ORIGIN)).toEqual({ ok: false, reason: "origin sent cache-control: no-store" });
  });
  test("directive names are case-insensitive", () => {
    expect(storability(200, new Headers({ "cache-control": "No-Store" }), ORIGIN)).toEqual({ ok: false, reason: "origin sent cache-control: no-store" });
  });
  test("private is refused", () => {
    expect(storability(200, new Headers({ "cache-control": "private, max-age=60" }), ORIGIN)).toEqual({ ok: false, reason: "origin sent cache-control: private" });
  });
  test("vary: * is refused, also in a list", () => {
    expect(storability(200, new Headers({ vary: "*" }), ORIGIN)).toEqual({ ok: false, reason: "origin sent vary: *" });
    expect(storability(200, new Headers({ vary: "accept-encoding, *" }), ORIGIN)).toEqual({ ok: false, reason: "origin sent vary: *" });
  });
  test("vary on a named header may be stored", () => {
    expect(storability(200, new Headers({ vary: "accept-encoding" }), ORIGIN)).toEqual({ ok: true });
  });
  test("set-cookie is refused under the origin and revalidate policies", () => {
    const headers = new Headers({ "set-cookie": "track=1" });
    expect(storability(200, headers, ORIGIN)).toEqual({ ok: false, reason: "origin sent set-cookie" });
    expect(storability(200, headers, { kind: "revalidate" })).toEqual({ ok: false, reason: "origin sent set-cookie" });
  });
  test("status 404 is refused", () => {
    expect(storability(404, new Headers(), ORIGIN)).toEqual({ ok: false, reason: "origin answered 404" });
  });
  test("status 206 is refused", () => {
    expect(storability(206, new Headers(), ORIGIN)).toEqual({ ok: false, reason: "origin answered 206" });
  });
  test("set-cookie is allowed under the immutable and max-age policies", () => {
    const headers = new Headers({ "set-cookie": "track=1" });
    expect(storability(200, headers, { kind: "immutable" })).toEqual({ ok: true });
    expect(storability(200, headers, { kind: "max-age", ms: HOUR_MS })).toEqual({ ok: true });
  });
  test("no-store, private and vary: * are refused also under the immutable and max-age policies", () => {
    for (const policy of [{ kind: "immutable" }, { kind: "max-age", ms: HOUR_MS }] satisfies Policy[]) {
      expect(storability(200, new Headers({ "cache-control": "no-store", "set-cookie": "a=1" }), policy)).toEqual({ ok: false, reason: "origin sent cache-control: no-store" });
      expect(storability(200, new Headers({ "cache-control": "private" }), policy)).toEqual({ ok: false, reason: "origin sent cache-control: private" });
      expect(storability(200, new Headers({ vary: "*" }), policy)).toEqual({ ok: false, reason: "origin sent vary: *" });
    }
  });
  test("the never policy refuses even a clean 200", () => {
    expect(storability(200, new Headers(), { kind: "never" })).toEqual({ ok: false, reason: "an operator rule says never cache it" });
  });
  test("a cache-control over 4096 bytes is refused; one of exactly 4096 is not", () => {
    const over = `max-age=60, x=${"a".repeat(CACHE_CONTROL_BYTES_MAX)}`;
    expect(storability(200, new Headers({ "cache-control": over }), ORIGIN)).toEqual({ ok: false, reason: "origin sent a cache-control header over 4096 bytes" });
    const exact = `max-age=60, x=${"a".repeat(CACHE_CONTROL_BYTES_MAX - "max-age=60, x=".length)}`;
    expect(exact.length).toBe(4096);
    expect(storability(200, new Headers({ "cache-control": exact }), ORIGIN)).toEqual({ ok: true });
  });
});

describe("parseCacheControl", () => {
  test("names lowercased, quoted values unquoted, commas inside quotes kept", () => {
    const d = parseCacheControl('Max-Age=60, no-cache="set-cookie, x", Public');
    expect([...d.values]).toEqual([
      ["max-age", "60"],
      ["no-cache", "set-cookie, x"],
      ["public", true],
    ]);
    expect([...d.conflicting]).toEqual([]);
  });
  test("a directive repeated with a different value is conflicting; with the same value it is not", () => {
    expect([...parseCacheControl("max-age=60, max-age=0").conflicting]).toEqual(["max-age"]);
    expect([...parseCacheControl("max-age=60, max-age=60").conflicting]).toEqual([]);
  });
  test("null is no directives", () => {
    expect(parseCacheControl(null).values.size).toBe(0);
  });
});

describe("validEtag", () => {
  test("strong and weak entity-tags are kept", () => {
    expect(validEtag('"abc"')).toBe('"abc"');
    expect(validEtag('W/"abc"')).toBe('W/"abc"');
    expect(validEtag('""')).toBe('""');
  });
  test("unquoted, half-quoted and over-long values are not entity-tags", () => {
    expect(validEtag("abc")).toBeNull();
    expect(validEtag('"abc')).toBeNull();
    expect(validEtag('"a"b"')).toBeNull();
    expect(validEtag(`"${"a".repeat(10 * 1024)}"`)).toBeNull();
  });
});

describe("freshnessOf: lifetime precedence", () => {
  test("s-maxage beats max-age and expires", () => {
    const f = fresh({ date: http(T), "cache-control": "max-age=60, s-maxage=120", expires: http(T + HOUR_MS) });
    expect(f.source).toBe("s-maxage");
    expect(f.lifetimeMs).toBe(120 * SECOND_MS);
    expect(f.freshUntilMs).toBe(T + 120 * SECOND_MS);
  });
  test("max-age beats expires", () => {
    const f = fresh({ date: http(T), "cache-control": "max-age=60", expires: http(T + HOUR_MS) });
    expect(f.source).toBe("max-age");
    expect(f.lifetimeMs).toBe(60 * SECOND_MS);
    expect(f.freshUntilMs).toBe(T + 60 * SECOND_MS);
  });
  test("expires − date when there is no max-age", () => {
    const f = fresh({ date: http(T), expires: http(T + 2 * HOUR_MS), "last-modified": http(T - 100 * DAY_MS) });
    expect(f.source).toBe("expires");
    expect(f.lifetimeMs).toBe(2 * HOUR_MS);
    expect(f.freshUntilMs).toBe(T + 2 * HOUR_MS);
  });
  test("expires without a date counts from the receipt time", () => {
    const f = fresh({ expires: http(T + 2 * HOUR_MS) });
    expect(f.lifetimeMs).toBe(2 * HOUR_MS);
  });
  test("expires in the past is a lifetime of 0", () => {
    const f = fresh({ date: http(T), expires: http(T - HOUR_MS) });
    expect(f.source).toBe("expires");
    expect(f.lifetimeMs).toBe(0);
    expect(f.freshUntilMs).toBe(T);
  });
  test("heuristic: 10% of date − last-modified", () => {
    const f = fresh({ date: http(T), "last-modified": http(T - 5 * DAY_MS) });
    expect(f.source).toBe("heuristic");
    expect(f.lifetimeMs).toBe(12 * HOUR_MS);
    expect(f.freshUntilMs).toBe(T + 12 * HOUR_MS);
  });
  test("heuristic is capped by heuristicMaxMs", () => {
    const f = fresh({ date: http(T), "last-modified": http(T - 100 * DAY_MS) });
    expect(f.source).toBe("heuristic");
    expect(f.lifetimeMs).toBe(DAY_MS);
  });
  test("defaultMaxAgeMs when there is no freshness and no last-modified", () => {
    const f = fresh({ date: http(T) });
    expect(f.source).toBe("default");
    expect(f.lifetimeMs).toBe(HOUR_MS);
    expect(f.freshUntilMs).toBe(T + HOUR_MS);
  });
  test("an etag alone does not make a heuristic: default max age, etag kept", () => {
    const f = fresh({ date: http(T), etag: '"v1"' });
    expect(f.source).toBe("default");
    expect(f.lifetimeMs).toBe(HOUR_MS);
    expect(f.etag).toBe('"v1"');
  });
});

describe("freshnessOf: age", () => {
  test("the Age header counts against the lifetime", () => {
    const f = fresh({ date: http(T), "cache-control": "max-age=600", age: "100" });
    expect(f.lifetimeMs).toBe(600 * SECOND_MS);
    expect(f.freshUntilMs).toBe(T + 500 * SECOND_MS);
  });
  test("the response delay counts against the lifetime", () => {
    const f = freshnessOf(stored({ date: http(T), "cache-control": "max-age=600" }), { requestAtMs: T - 5 * SECOND_MS, responseAtMs: T }, ORIGIN, OPTIONS);
    expect(f.freshUntilMs).toBe(T + 595 * SECOND_MS);
  });
  test("a Date days in the past makes it stale at once (apparent age)", () => {
    const f = fresh({ date: http(T - 3 * DAY_MS), "cache-control": "max-age=3600" });
    expect(f.lifetimeMs).toBe(HOUR_MS);
    expect(f.freshUntilMs).toBe(T + HOUR_MS - 3 * DAY_MS);
    expect(readVerdict(f, null, T)).toEqual({ kind: "stale", staleSinceMs: T + HOUR_MS - 3 * DAY_MS });
  });
  test("expires − date is immune to an origin clock running a day fast", () => {
    const f = fresh({ date: http(T + DAY_MS), expires: http(T + DAY_MS + HOUR_MS) });
    expect(f.lifetimeMs).toBe(HOUR_MS);
    expect(f.freshUntilMs).toBe(T + HOUR_MS);
  });
  test("expires − date gives the same lifetime from an origin clock running a day slow", () => {
    const f = fresh({ date: http(T - DAY_MS), expires: http(T - DAY_MS + HOUR_MS) });
    expect(f.lifetimeMs).toBe(HOUR_MS);
  });
});

describe("freshnessOf: hostile inputs", () => {
  test("max-age=99999999999999999999 is capped at LIFETIME_MAX_MS", () => {
    const f = fresh({ date: http(T), "cache-control": "max-age=99999999999999999999" });
    expect(f.source).toBe("max-age");
    expect(f.lifetimeMs).toBe(LIFETIME_MAX_MS);
    expect(f.freshUntilMs).toBe(T + LIFETIME_MAX_MS);
  });
  test("s-maxage=99999999999999999999 is capped at LIFETIME_MAX_MS", () => {
    const f = fresh({ date: http(T), "cache-control": "s-maxage=99999999999999999999" });
    expect(f.lifetimeMs).toBe(LIFETIME_MAX_MS);
  });
  test("max-age=-1 is stale, source invalid", () => {
    const f = fresh({ date: http(T), "cache-control": "max-age=-1" });
    expect(f.source).toBe("invalid");
    expect(f.lifetimeMs).toBe(0);
    expect(f.freshUntilMs).toBe(T);
    expect(f.reason).toBe("origin sent an invalid max-age: stale");
    expect(readVerdict(f, null, T)).toEqual({ kind: "stale", staleSinceMs: T });
  });
  test("max-age without a value is stale, source invalid", () => {
    const f = fresh({ "cache-control": "max-age" });
    expect(f.source).toBe("invalid");
    expect(f.lifetimeMs).toBe(0);
  });
  test("max-age=1.5 is stale, source invalid", () => {
    expect(fresh({ "cache-control": "max-age=1.5" }).source).toBe("invalid");
  });
  test('quoted max-age="60" is accepted as 60 s', () => {
    const f = fresh({ date: http(T), "cache-control": 'max-age="60"' });
    expect(f.source).toBe("max-age");
    expect(f.lifetimeMs).toBe(60 * SECOND_MS);
  });
  test("two conflicting max-age values are stale", () => {
    const f = fresh({ date: http(T), "cache-control": "max-age=60, max-age=0" });
    expect(f.source).toBe("invalid");
    expect(f.lifetimeMs).toBe(0);
    expect(f.reason).toBe("origin sent conflicting max-age values: stale");
  });
  test("duplicate equal max-age values are fine", () => {
    const f = fresh({ date: http(T), "cache-control": "max-age=60, max-age=60" });
    expect(f.source).toBe("max-age");
    expect(f.lifetimeMs).toBe(60 * SECOND_MS);
  });
  test("expires: 0 is stale", () => {
    const f = fresh({ date: http(T), expires: "0" });
    expect(f.source).toBe("invalid");
    expect(f.lifetimeMs).toBe(0);
    expect(f.freshUntilMs).toBe(T);
    expect(f.reason).toBe('origin sent an invalid expires "0": stale');
  });
  test("a garbage last-modified: no heuristic, no validator, default max age", () => {
    const f = fresh({ date: http(T), "last-modified": "yesterday-ish" });
    expect(f.source).toBe("default");
    expect(f.lifetimeMs).toBe(HOUR_MS);
    expect(f.lastModified).toBeNull();
    expect(conditionalHeaders(f)).toEqual({});
  });
  test("a far-future last-modified: heuristic lifetime 0", () => {
    const f = fresh({ date: http(T), "last-modified": http(T + 10 * DAY_MS) });
    expect(f.source).toBe("heuristic");
    expect(f.lifetimeMs).toBe(0);
    expect(f.freshUntilMs).toBe(T);
  });
  test("a 10 KiB etag is dropped: etag null, not a validator", () => {
    const f = fresh({ date: http(T), etag: `"${"a".repeat(10 * 1024)}"` });
    expect(f.etag).toBeNull();
    expect(conditionalHeaders(f)).toEqual({});
  });
  test("a weak etag is kept and sent as If-None-Match", () => {
    const f = fresh({ date: http(T), etag: 'W/"x"' });
    expect(f.etag).toBe('W/"x"');
    expect(conditionalHeaders(f)).toEqual({ "if-none-match": 'W/"x"' });
  });
  test("an invalid Age is stale", () => {
    for (const age of ["abc", "-5", "1.5"]) {
      const f = fresh({ date: http(T), "cache-control": "max-age=600", age });
      expect(f.source).toBe("invalid");
      expect(f.lifetimeMs).toBe(0);
      expect(f.freshUntilMs).toBe(T);
      expect(f.reason).toBe(`origin sent an invalid age ${JSON.stringify(age)}: stale`);
    }
  });
  test("an invalid value keeps the validators for revalidation", () => {
    const f = fresh({ "cache-control": "max-age=-1", etag: '"v1"', "last-modified": http(T - DAY_MS) });
    expect(f.etag).toBe('"v1"');
    expect(f.lastModified).toBe(http(T - DAY_MS));
  });
});

describe("freshnessOf: rows without headers", () => {
  test("null headers (filled before freshness was tracked): stale, source unknown, no validators", () => {
    const f = freshnessOf(null, null, ORIGIN, OPTIONS);
    expect(f.source).toBe("unknown");
    expect(f.lifetimeMs).toBe(0);
    expect(f.etag).toBeNull();
    expect(f.lastModified).toBeNull();
    expect(conditionalHeaders(f)).toEqual({});
    expect(readVerdict(f, null, T).kind).toBe("stale");
  });
  test("headers without response times are treated the same: unknown, no validators", () => {
    const f = freshnessOf(stored({ "cache-control": "max-age=600", etag: '"v1"' }), null, ORIGIN, OPTIONS);
    expect(f.source).toBe("unknown");
    expect(f.etag).toBeNull();
    expect(readVerdict(f, null, T).kind).toBe("stale");
  });
  test("null headers under a max-age rule: the rule's lifetime from the receipt time", () => {
    const f = freshnessOf(null, AT_T, { kind: "max-age", ms: 5 * MINUTE_MS }, OPTIONS);
    expect(f.source).toBe("rule");
    expect(f.freshUntilMs).toBe(T + 5 * MINUTE_MS);
  });
});

describe("freshnessOf: policies", () => {
  test("immutable: never revalidated, fresh forever, whatever the origin said", () => {
    const f = fresh({ "cache-control": "no-cache, max-age=0" }, { kind: "immutable" });
    expect(f.neverRevalidate).toBe(true);
    expect(f.source).toBe("rule");
    expect(f.lifetimeMs).toBe(Infinity);
    expect(f.freshUntilMs).toBe(Infinity);
    expect(readVerdict(f, null, T + 10 * 365 * DAY_MS)).toEqual({ kind: "fresh" });
  });
  test("immutable also for a row without headers", () => {
    const f = freshnessOf(null, null, { kind: "immutable" }, OPTIONS);
    expect(f.neverRevalidate).toBe(true);
    expect(readVerdict(f, null, T)).toEqual({ kind: "fresh" });
  });
  test("a max-age rule overrides the origin's lifetime and no-cache", () => {
    const f = fresh({ date: http(T), "cache-control": "max-age=60, no-cache, must-revalidate" }, { kind: "max-age", ms: 5 * MINUTE_MS });
    expect(f.source).toBe("rule");
    expect(f.lifetimeMs).toBe(5 * MINUTE_MS);
    expect(f.freshUntilMs).toBe(T + 5 * MINUTE_MS);
    expect(f.revalidateEachUse).toBe(false);
    expect(f.noStaleServing).toBe(false);
    expect(readVerdict(f, null, T + 4 * MINUTE_MS)).toEqual({ kind: "fresh" });
  });
  test("a max-age rule overrides an invalid origin max-age", () => {
    const f = fresh({ "cache-control": "max-age=-1" }, { kind: "max-age", ms: 5 * MINUTE_MS });
    expect(f.source).toBe("rule");
    expect(f.freshUntilMs).toBe(T + 5 * MINUTE_MS);
  });
  test("revalidate: every use asks the origin", () => {
    const f = fresh({ date: http(T), "cache-control": "max-age=600" }, { kind: "revalidate" });
    expect(f.revalidateEachUse).toBe(true);
    expect(f.lifetimeMs).toBe(600 * SECOND_MS);
    expect(readVerdict(f, null, T + SECOND_MS).kind).toBe("stale");
  });
  test("origin no-cache: revalidated on each use and never served stale", () => {
    const f = fresh({ date: http(T), "cache-control": "no-cache, max-age=600" });
    expect(f.revalidateEachUse).toBe(true);
    expect(f.noStaleServing).toBe(true);
    expect(f.reason).toBe("origin's max-age; revalidated on every use");
  });
  test("must-revalidate: never served stale, not revalidated while fresh", () => {
    const f = fresh({ date: http(T), "cache-control": "max-age=600, must-revalidate" });
    expect(f.noStaleServing).toBe(true);
    expect(f.revalidateEachUse).toBe(false);
  });
  test("proxy-revalidate: never served stale", () => {
    expect(fresh({ date: http(T), "cache-control": "max-age=600, proxy-revalidate" }).noStaleServing).toBe(true);
  });
  test("s-maxage: never served stale", () => {
    const f = fresh({ date: http(T), "cache-control": "s-maxage=600" });
    expect(f.noStaleServing).toBe(true);
    expect(f.revalidateEachUse).toBe(false);
  });
  test("a plain max-age: may be served stale, not revalidated while fresh", () => {
    const f = fresh({ date: http(T), "cache-control": "max-age=600" });
    expect(f.noStaleServing).toBe(false);
    expect(f.revalidateEachUse).toBe(false);
    expect(f.neverRevalidate).toBe(false);
  });
});

describe("readVerdict", () => {
  const f = fresh({ date: http(T), "cache-control": "max-age=600" });
  test("fresh before freshUntilMs", () => {
    expect(readVerdict(f, null, T)).toEqual({ kind: "fresh" });
    expect(readVerdict(f, null, T + 600 * SECOND_MS - 1)).toEqual({ kind: "fresh" });
  });
  test("stale from freshUntilMs on, stale since freshUntilMs", () => {
    expect(readVerdict(f, null, T + 600 * SECOND_MS)).toEqual({ kind: "stale", staleSinceMs: T + 600 * SECOND_MS });
    expect(readVerdict(f, null, T + DAY_MS)).toEqual({ kind: "stale", staleSinceMs: T + 600 * SECOND_MS });
  });
  test("a use within VALIDATED_USE_MS after a validation is fresh, also with revalidateEachUse", () => {
    const eachUse = fresh({ date: http(T), "cache-control": "no-cache" });
    expect(eachUse.revalidateEachUse).toBe(true);
    const validatedAt = T + 10 * SECOND_MS;
    expect(readVerdict(eachUse, null, validatedAt).kind).toBe("stale");
    expect(readVerdict(eachUse, validatedAt, validatedAt)).toEqual({ kind: "fresh" });
    expect(readVerdict(eachUse, validatedAt, validatedAt + VALIDATED_USE_MS - 1)).toEqual({ kind: "fresh" });
    expect(readVerdict(eachUse, validatedAt, validatedAt + VALIDATED_USE_MS).kind).toBe("stale");
  });
  test("a validation in the future (clock went back) does not count", () => {
    const eachUse = fresh({ date: http(T), "cache-control": "no-cache" });
    expect(readVerdict(eachUse, T + 10 * SECOND_MS, T + 9 * SECOND_MS).kind).toBe("stale");
  });
  test("a recent validation makes an expired response fresh for the window", () => {
    const validatedAt = T + DAY_MS;
    expect(readVerdict(f, validatedAt, validatedAt + 500)).toEqual({ kind: "fresh" });
    expect(readVerdict(f, validatedAt, validatedAt + VALIDATED_USE_MS)).toEqual({ kind: "stale", staleSinceMs: T + 600 * SECOND_MS });
  });
  test("immutable is always fresh", () => {
    const immutable = fresh({ "cache-control": "no-cache" }, { kind: "immutable" });
    expect(readVerdict(immutable, null, T + 100 * 365 * DAY_MS)).toEqual({ kind: "fresh" });
  });
});

describe("serveStaleUntilMs", () => {
  test("the --max-stale allowance applies after freshUntilMs", () => {
    const f = fresh({ date: http(T), "cache-control": "max-age=600" });
    expect(serveStaleUntilMs(f, DAY_MS)).toBe(T + 600 * SECOND_MS + DAY_MS);
  });
  test("a max-stale of 0 turns stale serving off", () => {
    const f = fresh({ date: http(T), "cache-control": "max-age=600" });
    expect(serveStaleUntilMs(f, 0)).toBeNull();
  });
  test("stale-if-error wins over --max-stale", () => {
    const f = fresh({ date: http(T), "cache-control": "max-age=600, stale-if-error=300" });
    expect(f.staleIfErrorMs).toBe(300 * SECOND_MS);
    expect(serveStaleUntilMs(f, DAY_MS)).toBe(T + 900 * SECOND_MS);
    expect(serveStaleUntilMs(f, 0)).toBe(T + 900 * SECOND_MS);
  });
  test("stale-if-error=0 turns stale serving off despite --max-stale", () => {
    const f = fresh({ date: http(T), "cache-control": "max-age=600, stale-if-error=0" });
    expect(serveStaleUntilMs(f, DAY_MS)).toBeNull();
  });
  test("an invalid stale-if-error falls back to --max-stale", () => {
    const f = fresh({ date: http(T), "cache-control": "max-age=600, stale-if-error=soon" });
    expect(f.staleIfErrorMs).toBeNull();
    expect(serveStaleUntilMs(f, DAY_MS)).toBe(T + 600 * SECOND_MS + DAY_MS);
  });
  test("must-revalidate: never served stale", () => {
    const f = fresh({ date: http(T), "cache-control": "max-age=600, must-revalidate, stale-if-error=300" });
    expect(serveStaleUntilMs(f, DAY_MS)).toBeNull();
  });
  test("no-cache: never served stale", () => {
    expect(serveStaleUntilMs(fresh({ date: http(T), "cache-control": "no-cache" }), DAY_MS)).toBeNull();
  });
});

describe("conditionalHeaders", () => {
  test("If-None-Match from the etag", () => {
    expect(conditionalHeaders({ etag: '"abc"', lastModified: null })).toEqual({ "if-none-match": '"abc"' });
  });
  test("If-Modified-Since from a valid last-modified, sent in IMF form", () => {
    const f = fresh({ date: http(T), "last-modified": "Sunday, 06-Nov-94 08:49:37 GMT" });
    expect(f.lastModified).toBe("Sunday, 06-Nov-94 08:49:37 GMT");
    expect(conditionalHeaders(f)).toEqual({ "if-modified-since": "Sun, 06 Nov 1994 08:49:37 GMT" });
  });
  test("both validators", () => {
    const f = fresh({ date: http(T), etag: '"abc"', "last-modified": "Sun, 06 Nov 1994 08:49:37 GMT" });
    expect(conditionalHeaders(f)).toEqual({ "if-none-match": '"abc"', "if-modified-since": "Sun, 06 Nov 1994 08:49:37 GMT" });
  });
  test("none when there is neither", () => {
    expect(conditionalHeaders({ etag: null, lastModified: null })).toEqual({});
    expect(conditionalHeaders({ etag: null, lastModified: "garbage" })).toEqual({});
  });
});

describe("notModifiedMerge", () => {
  const before: OriginHeaders = {
    date: http(T - HOUR_MS),
    cacheControl: "max-age=60",
    expires: http(T),
    etag: '"v1"',
    lastModified: http(T - 10 * DAY_MS),
    age: "30",
  };
  test("the 304's headers replace the stored ones", () => {
    const merged = notModifiedMerge(before, '"v1"', new Headers({ date: http(T), "cache-control": "max-age=600", expires: http(T + DAY_MS), age: "5", "last-modified": http(T - DAY_MS) }));
    expect(merged).toEqual({
      ok: true,
      headers: { date: http(T), cacheControl: "max-age=600", expires: http(T + DAY_MS), etag: '"v1"', lastModified: http(T - DAY_MS), age: "5" },
    });
  });
  test("headers the 304 lacks are kept, except Date and Age", () => {
    const merged = notModifiedMerge(before, '"v1"', new Headers());
    expect(merged).toEqual({
      ok: true,
      headers: { date: null, cacheControl: "max-age=60", expires: http(T), etag: '"v1"', lastModified: http(T - 10 * DAY_MS), age: null },
    });
  });
  test("a 304 naming a different etag than the one sent is not ok", () => {
    expect(notModifiedMerge(before, '"v1"', new Headers({ etag: '"v2"' }))).toEqual({ ok: false, reason: "origin answered 304 with a different etag than the one asked about" });
  });
  test("a 304 with a malformed etag, when one was sent, is not ok", () => {
    expect(notModifiedMerge(before, '"v1"', new Headers({ etag: "v1" })).ok).toBe(false);
  });
  test("weak and strong forms of the same tag are the same", () => {
    const weakReply = notModifiedMerge(before, '"v1"', new Headers({ etag: 'W/"v1"' }));
    expect(weakReply.ok).toBe(true);
    expect(weakReply.ok && weakReply.headers.etag).toBe('W/"v1"');
    expect(notModifiedMerge({ ...before, etag: 'W/"v1"' }, 'W/"v1"', new Headers({ etag: '"v1"' })).ok).toBe(true);
  });
  test("when no etag was sent (If-Modified-Since only), the 304's etag is taken", () => {
    const merged = notModifiedMerge({ ...before, etag: null }, null, new Headers({ etag: '"v9"' }));
    expect(merged.ok && merged.headers.etag).toBe('"v9"');
  });
  test("the merged headers give the 304's freshness", () => {
    const merged = notModifiedMerge(before, '"v1"', new Headers({ date: http(T), "cache-control": "max-age=600" }));
    if (!merged.ok) throw new Error(merged.reason);
    const f = freshnessOf(merged.headers, AT_T, ORIGIN, OPTIONS);
    expect(f.source).toBe("max-age");
    expect(f.freshUntilMs).toBe(T + 600 * SECOND_MS);
  });
});

describe("originHeadersOf", () => {
  test("keeps the six headers freshness needs", () => {
    expect(stored({ date: http(T), "cache-control": "max-age=60", expires: http(T), etag: '"a"', "last-modified": http(T - DAY_MS), age: "3", "content-type": "x/y" })).toEqual({
      date: http(T),
      cacheControl: "max-age=60",
      expires: http(T),
      etag: '"a"',
      lastModified: http(T - DAY_MS),
      age: "3",
    });
  });
  test("an over-long cache-control is kept as no-cache, must-revalidate; an over-long last-modified is dropped", () => {
    const h = stored({ "cache-control": `x=${"a".repeat(5000)}`, "last-modified": "a".repeat(2000) });
    expect(h.cacheControl).toBe("no-cache, must-revalidate");
    expect(h.lastModified).toBeNull();
  });
  test("an over-long expires makes it stale, not default-fresh", () => {
    const f = fresh({ expires: "x".repeat(2000) });
    expect(f).toMatchObject({ source: "invalid", lifetimeMs: 0, freshUntilMs: T });
  });
  test("an over-long age makes it stale, like any invalid age", () => {
    const f = fresh({ "cache-control": "max-age=600", age: "9".repeat(2000) });
    expect(f).toMatchObject({ source: "invalid", freshUntilMs: T });
  });
  test("a 304 with an over-long cache-control leaves the copy revalidated on every use, never stale-served", () => {
    const merged = notModifiedMerge(stored({ "cache-control": "max-age=0" }), null, new Headers({ "cache-control": `max-age=0, x=${"a".repeat(5000)}` }));
    if (!merged.ok) throw new Error("merge refused");
    const f = freshnessOf(merged.headers, AT_T, ORIGIN, OPTIONS);
    expect(f).toMatchObject({ revalidateEachUse: true, noStaleServing: true });
  });
  test("the revalidate rule keeps the origin's must-revalidate (no stale copy while it is down)", () => {
    expect(fresh({ "cache-control": "max-age=60, must-revalidate" }, { kind: "revalidate" })).toMatchObject({ revalidateEachUse: true, noStaleServing: true });
  });
  test("a row filled before freshness was tracked is stale since its fetch and may bridge an outage for --max-stale", () => {
    const f = freshnessOf(null, AT_T, ORIGIN, OPTIONS);
    expect(f).toMatchObject({ source: "unknown", freshUntilMs: T, etag: null, lastModified: null });
    expect(serveStaleUntilMs(f, DAY_MS)).toBe(T + DAY_MS);
  });
});

describe("an unclosed quote in cache-control", () => {
  test("cannot hide a no-store: not storable, and a stored one is stale on every use", () => {
    const h = new Headers({ "cache-control": 'foo="bar, no-store, max-age=600' });
    expect(storability(200, h, ORIGIN)).toEqual({ ok: false, reason: "origin sent a malformed cache-control (an unclosed quote)" });
    expect(parseCacheControl('foo="bar, no-store').malformed).toBe(true);
    expect(fresh({ "cache-control": 'foo="bar, max-age=600' })).toMatchObject({ source: "invalid", revalidateEachUse: true, noStaleServing: true });
  });
});
