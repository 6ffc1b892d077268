// Freshness in the sense of RFC 9111 for a shared cache, tuned for artifacts. Pure: origin
// header values and times in, decisions out.
//   storability   may this response be stored at all (§3)?
//   freshnessOf   how long is a stored response fresh (§4.2.1–4.2.3), which validators does it
//                 carry, may it be served stale when the origin is down (§4.2.4)?
//   conditionalHeaders / notModifiedMerge   revalidation (§4.3)
// Origin headers are hostile input: every value is parsed strictly and anything invalid makes
// the response stale (revalidated on use), never fresh for longer than asked.
import { formatHttpDate, parseHttpDate } from "./http-date.ts";
import { policyText } from "./policy-text.ts";

/** The origin headers stored with each artifact; everything freshness needs later. */
export type OriginHeaders = {
  date: string | null;
  cacheControl: string | null;
  expires: string | null;
  etag: string | null;
  lastModified: string | null;
  age: string | null;
};

/** An operator rule's effect (see rules.ts); `origin` follows the origin's headers. */
export type Policy =
  | { kind: "origin" }
  | { kind: "immutable" }
  | { kind: "max-age"; ms: number }
  | { kind: "revalidate" }
  | { kind: "never" };

/** Lifetimes are capped at a year: a typo or an overflow in an origin header must not mean "forever". */
export const LIFETIME_MAX_MS = 365 * 86_400_000;
/** RFC 9111 §1.2.2: delta-seconds past 2^31 are taken as 2^31. */
const DELTA_SECONDS_MAX = 2 ** 31;
/** A stored header value past this is not kept (no origin needs more; a 10 KiB ETag is an attack). */
export const ORIGIN_HEADER_BYTES_MAX = 1024;
/** A Cache-Control header past this is refused outright: it cannot be stored, so it is not trusted. */
export const CACHE_CONTROL_BYTES_MAX = 4096;
/** RFC 9111 §4.2.2: the heuristic lifetime is this fraction of the time since Last-Modified. */
const HEURISTIC_FRACTION = 0.1;

export type FreshnessOptions = { heuristicMaxMs: number; defaultMaxAgeMs: number };

export type LifetimeSource = "rule" | "s-maxage" | "max-age" | "expires" | "heuristic" | "default" | "invalid" | "unknown";

export type Freshness = {
  lifetimeMs: number;
  /** Where the lifetime came from; "invalid" names a header that made it 0, "unknown" a row without headers. */
  source: LifetimeSource;
  /** Why the lifetime is what it is, one line (for the operator view). */
  reason: string;
  /** Until when it may be served without asking the origin (ms since the epoch). */
  freshUntilMs: number;
  /** Stored, but every use asks the origin first (no-cache, the `revalidate` rule). */
  revalidateEachUse: boolean;
  /** Never served stale, also when the origin is down (must-revalidate, proxy-revalidate, s-maxage, no-cache). */
  noStaleServing: boolean;
  /** stale-if-error=N from the origin (wins over --max-stale), else null. */
  staleIfErrorMs: number | null;
  /** Never revalidated (the `immutable` rule). */
  neverRevalidate: boolean;
  etag: string | null;
  lastModified: string | null;
};

export type Directives = {
  values: Map<string, string | true>;
  /** Directives given more than once with different values (`max-age=60, max-age=0`). */
  conflicting: Set<string>;
  /** A quoted string left open: what follows it cannot be read (it might hide a no-store). */
  malformed: boolean;
};

/** Split on commas outside quoted strings; names lowercased; quoted values unquoted. */
export function parseCacheControl(value: string | null): Directives {
  const values = new Map<string, string | true>();
  const conflicting = new Set<string>();
  if (value === null) return { values, conflicting, malformed: false };
  const parts: string[] = [];
  let current = "";
  let quoted = false;
  for (let i = 0; i < value.length; i += 1) {
    const c = value[i]!;
    if (c === '"') quoted = !quoted;
    if (c === "\\" && quoted && i + 1 < value.length) {
      current += c + value[i + 1];
      i += 1;
      continue;
    }
    if (c === "," && !quoted) {
      parts.push(current);
      current = "";
    } else current += c;
  }
  parts.push(current);
  if (quoted) return { values, conflicting, malformed: true };
  for (const part of parts) {
    const p = part.trim();
    if (p === "") continue;
    const eq = p.indexOf("=");
    const name = (eq < 0 ? p : p.slice(0, eq)).trim().toLowerCase();
    if (name === "") continue;
    let arg: string | true = true;
    if (eq >= 0) {
      const raw = p.slice(eq + 1).trim();
      arg = raw.length >= 2 && raw.startsWith('"') && raw.endsWith('"') ? raw.slice(1, -1).replace(/\\(.)/g, "$1") : raw;
    }
    const seen = values.get(name);
    if (seen !== undefined && seen !== arg) conflicting.add(name);
    if (seen === undefined) values.set(name, arg);
  }
  return { values, conflicting, malformed: false };
}

/** delta-seconds (§1.2.2) in ms: digits only (quoted form accepted by parseCacheControl), capped. */
function deltaSecondsMs(arg: string | true | undefined): number | "invalid" | null {
  if (arg === undefined) return null;
  if (arg === true || !/^\d{1,30}$/.test(arg)) return "invalid";
  return Math.min(Number(arg), DELTA_SECONDS_MAX) * 1000;
}

/** A syntactically valid entity-tag (RFC 9110 §8.8.3) no longer than ORIGIN_HEADER_BYTES_MAX, else null. */
export function validEtag(value: string | null): string | null {
  if (value === null) return null;
  const v = value.trim();
  if (v.length > ORIGIN_HEADER_BYTES_MAX) return null;
  return /^(W\/)?"[\x21\x23-\x7e\x80-\xff]*"$/.test(v) ? v : null;
}

function capped(value: string | null): string | null {
  return value === null || value.length > ORIGIN_HEADER_BYTES_MAX ? null : value;
}

/** The subset of a response's headers stored with its artifact (over-long values dropped). */
export function originHeadersOf(headers: Headers): OriginHeaders {
  const cc = headers.get("cache-control");
  return {
    date: capped(headers.get("date")),
    // Too long to keep (only a 304 can bring one; a 200 with it is not stored): revalidate every use.
    cacheControl: cc === null ? null : cc.length <= CACHE_CONTROL_BYTES_MAX ? cc : OVERLONG_CACHE_CONTROL,
    // An over-long Expires or Age is invalid, not absent: kept as a value that parses as neither.
    expires: overlongAsInvalid(headers.get("expires")),
    etag: validEtag(headers.get("etag")),
    lastModified: capped(headers.get("last-modified")),
    age: overlongAsInvalid(headers.get("age")),
  };
}

/** What an over-long Cache-Control is stored as: stale, revalidated on every use, never served stale. */
const OVERLONG_CACHE_CONTROL = "no-cache, must-revalidate";
const INVALID = "invalid (over-long)";

function overlongAsInvalid(value: string | null): string | null {
  return value === null || value.length <= ORIGIN_HEADER_BYTES_MAX ? value : INVALID;
}

export type Storability = { ok: true } | { ok: false; reason: string };

/**
 * RFC 9111 §3 for a shared cache: may a response with these headers be stored? Operator rules
 * `immutable` and `max-age=` vouch for the URL being a public artifact: they store it despite a
 * Set-Cookie (download CDNs set tracking cookies; the cookie itself is never stored or replayed),
 * but never despite no-store, private or Vary: *.
 */
export function storability(status: number, headers: Headers, policy: Policy): Storability {
  if (policy.kind === "never") return { ok: false, reason: "an operator rule says never cache it" };
  if (status !== 200) return { ok: false, reason: `origin answered ${status}` };
  const cc = headers.get("cache-control");
  if (cc !== null && cc.length > CACHE_CONTROL_BYTES_MAX) return { ok: false, reason: `origin sent a cache-control header over ${CACHE_CONTROL_BYTES_MAX} bytes` };
  const parsedCc = parseCacheControl(cc);
  if (parsedCc.malformed) return { ok: false, reason: "origin sent a malformed cache-control (an unclosed quote)" };
  const d = parsedCc.values;
  if (d.has("no-store")) return { ok: false, reason: "origin sent cache-control: no-store" };
  if (d.has("private")) return { ok: false, reason: "origin sent cache-control: private" };
  const vary = headers.get("vary");
  if (vary !== null && vary.split(",").some((v) => v.trim() === "*")) return { ok: false, reason: "origin sent vary: *" };
  const vouched = policy.kind === "immutable" || policy.kind === "max-age";
  if (!vouched && headers.has("set-cookie")) return { ok: false, reason: "origin sent set-cookie" };
  return { ok: true };
}

export type ResponseTimes = { requestAtMs: number; responseAtMs: number };

function fullStaleness(options: { reason: string; source: LifetimeSource }, h: OriginHeaders | null, times: ResponseTimes | null): Freshness {
  return {
    lifetimeMs: 0,
    source: options.source,
    reason: options.reason,
    freshUntilMs: times?.responseAtMs ?? 0,
    revalidateEachUse: false,
    noStaleServing: false,
    staleIfErrorMs: null,
    neverRevalidate: false,
    etag: h?.etag ?? null,
    lastModified: h !== null && parseHttpDate(h.lastModified) !== null ? h.lastModified : null,
  };
}

/**
 * The freshness of a stored response. `headers` null: an artifact filled before headers were
 * stored; it is stale with no validator (the next use refetches and compares sha256).
 */
export function freshnessOf(h: OriginHeaders | null, times: ResponseTimes | null, policy: Policy, options: FreshnessOptions): Freshness {
  if (policy.kind === "immutable") {
    return { ...fullStaleness({ reason: "rule: immutable", source: "rule" }, h, times), lifetimeMs: Infinity, freshUntilMs: Infinity, neverRevalidate: true };
  }
  if (h === null || times === null) {
    if (policy.kind === "max-age" && times !== null) {
      return { ...fullStaleness({ reason: `rule: ${policyText(policy)}`, source: "rule" }, h, times), lifetimeMs: policy.ms, freshUntilMs: times.responseAtMs + policy.ms };
    }
    // Stale since it was fetched (`times` from the fetch time, when known): an outage may still be
    // bridged by the stale copy for --max-stale after that.
    return fullStaleness({ reason: "filled before freshness was tracked: stale, no validator", source: "unknown" }, null, times);
  }
  const base = fullStaleness({ reason: "", source: "invalid" }, h, times);
  const d = parseCacheControl(h.cacheControl);
  const dateMs = parseHttpDate(h.date);
  // §4.2.3 current age: what upstream caches said (Age) plus the transit delay, or the apparent age.
  const ageMs = h.age === null ? 0 : deltaSecondsMs(h.age.trim());
  const staleIfError = deltaSecondsMs(d.values.get("stale-if-error"));
  const shared = {
    revalidateEachUse: policy.kind === "revalidate" || (policy.kind === "origin" && d.values.has("no-cache")),
    // `revalidate` is stricter than the origin, never looser: its must-revalidate still holds.
    noStaleServing: (policy.kind === "origin" || policy.kind === "revalidate") && ["must-revalidate", "proxy-revalidate", "s-maxage", "no-cache"].some((n) => d.values.has(n)),
    staleIfErrorMs: typeof staleIfError === "number" ? staleIfError : null,
  };
  if (policy.kind === "max-age") {
    return { ...base, ...shared, revalidateEachUse: false, noStaleServing: false, lifetimeMs: policy.ms, source: "rule", reason: `rule: ${policyText(policy)}`, freshUntilMs: times.responseAtMs + policy.ms };
  }
  const stale = (reason: string): Freshness => ({ ...base, ...shared, reason, source: "invalid" });
  if (d.malformed) return { ...stale("origin sent a malformed cache-control: stale, revalidated on every use"), revalidateEachUse: true, noStaleServing: true };
  if (ageMs === "invalid" || ageMs === null) return stale(`origin sent an invalid age ${JSON.stringify(h.age)}: stale`);
  const apparentMs = dateMs === null ? 0 : Math.max(0, times.responseAtMs - dateMs);
  const correctedAgeMs = ageMs + Math.max(0, times.responseAtMs - times.requestAtMs);
  const initialAgeMs = Math.max(apparentMs, correctedAgeMs);

  let lifetimeMs: number;
  let source: LifetimeSource;
  const sMaxAge = deltaSecondsMs(d.values.get("s-maxage"));
  const maxAge = deltaSecondsMs(d.values.get("max-age"));
  for (const name of ["s-maxage", "max-age"]) {
    if (d.conflicting.has(name)) return stale(`origin sent conflicting ${name} values: stale`);
  }
  if (sMaxAge !== null) {
    if (sMaxAge === "invalid") return stale(`origin sent an invalid s-maxage: stale`);
    lifetimeMs = sMaxAge;
    source = "s-maxage";
  } else if (maxAge !== null) {
    if (maxAge === "invalid") return stale(`origin sent an invalid max-age: stale`);
    lifetimeMs = maxAge;
    source = "max-age";
  } else if (h.expires !== null) {
    const expiresMs = parseHttpDate(h.expires);
    // §5.3: an invalid Expires (e.g. "0") means already expired.
    if (expiresMs === null) return stale(`origin sent an invalid expires ${JSON.stringify(h.expires.slice(0, 40))}: stale`);
    // Expires − Date is immune to a skewed origin clock; without a Date, our receipt time.
    lifetimeMs = Math.max(0, expiresMs - (dateMs ?? times.responseAtMs));
    source = "expires";
  } else if (base.lastModified !== null) {
    const lastModifiedMs = parseHttpDate(base.lastModified)!;
    const since = (dateMs ?? times.responseAtMs) - lastModifiedMs;
    lifetimeMs = Math.min(options.heuristicMaxMs, Math.max(0, Math.floor(since * HEURISTIC_FRACTION)));
    source = "heuristic";
  } else {
    lifetimeMs = options.defaultMaxAgeMs;
    source = "default";
  }
  lifetimeMs = Math.min(lifetimeMs, LIFETIME_MAX_MS);
  const freshUntilMs = times.responseAtMs + lifetimeMs - initialAgeMs;
  const reasonOf: Record<string, string> = {
    "s-maxage": "origin's s-maxage",
    "max-age": "origin's max-age",
    expires: "origin's expires − date",
    heuristic: "10% of the time since last-modified (--heuristic-max caps it)",
    default: "no freshness headers and no last-modified from the origin: --default-max-age",
  };
  const ageNote = initialAgeMs >= 1000 ? `, ${Math.round(initialAgeMs / 1000)}s old when fetched` : "";
  const eachUse = shared.revalidateEachUse ? "; revalidated on every use" : "";
  return { ...base, ...shared, lifetimeMs, source, reason: `${reasonOf[source]}${ageNote}${eachUse}`, freshUntilMs };
}

/** A use after a successful revalidation within this long counts as validated (the shim probes, then
 *  downloads: one use, one conditional request, also for no-cache). */
export const VALIDATED_USE_MS = 1000;

export type ReadVerdict =
  | { kind: "fresh" }
  /** Ask the origin first; `staleSinceMs` for the log and the view. */
  | { kind: "stale"; staleSinceMs: number };

/** Fresh or stale now. */
export function readVerdict(f: Freshness, lastValidatedAtMs: number | null, nowMs: number): ReadVerdict {
  if (f.neverRevalidate) return { kind: "fresh" };
  if (lastValidatedAtMs !== null && nowMs - lastValidatedAtMs >= 0 && nowMs - lastValidatedAtMs < VALIDATED_USE_MS) return { kind: "fresh" };
  if (!f.revalidateEachUse && nowMs < f.freshUntilMs) return { kind: "fresh" };
  return { kind: "stale", staleSinceMs: Math.min(nowMs, f.freshUntilMs) };
}

/** Until when a stale copy may be served while the origin is down (null: not at all). */
export function serveStaleUntilMs(f: Freshness, maxStaleMs: number): number | null {
  if (f.noStaleServing) return null;
  const allowanceMs = f.staleIfErrorMs ?? maxStaleMs;
  if (allowanceMs <= 0) return null;
  return f.freshUntilMs + allowanceMs;
}

/** The conditional request headers for a revalidation (none: the origin gave no usable validator). */
export function conditionalHeaders(f: Pick<Freshness, "etag" | "lastModified">): Record<string, string> {
  const out: Record<string, string> = {};
  if (f.etag !== null) out["if-none-match"] = f.etag;
  const lm = parseHttpDate(f.lastModified);
  if (lm !== null) out["if-modified-since"] = formatHttpDate(lm);
  return out;
}

/** Weak comparison of two entity-tags (RFC 9110 §8.8.3.2). */
export function sameEtagWeakly(a: string, b: string): boolean {
  return a.replace(/^W\//, "") === b.replace(/^W\//, "");
}

export type NotModified = { ok: true; headers: OriginHeaders } | { ok: false; reason: string };

/**
 * §4.3.4: a 304 updates the stored headers with the ones it carries. A 304 that names a different
 * entity-tag than the one we sent does not describe our copy: the caller treats it as a change.
 */
export function notModifiedMerge(stored: OriginHeaders, sentEtag: string | null, response: Headers): NotModified {
  const fresh = originHeadersOf(response);
  const rawEtag = response.get("etag");
  if (sentEtag !== null && rawEtag !== null && (fresh.etag === null || !sameEtagWeakly(fresh.etag, sentEtag))) {
    return { ok: false, reason: `origin answered 304 with a different etag than the one asked about` };
  }
  return {
    ok: true,
    headers: {
      // No Date on the 304: our receipt time stands in (the stored Date is the old response's).
      date: fresh.date,
      cacheControl: response.has("cache-control") ? fresh.cacheControl : stored.cacheControl,
      expires: response.has("expires") ? fresh.expires : stored.expires,
      etag: fresh.etag ?? stored.etag,
      lastModified: fresh.lastModified ?? stored.lastModified,
      // A 304 straight from the origin carries no Age: the stored one described the old response.
      age: fresh.age,
    },
  };
}
