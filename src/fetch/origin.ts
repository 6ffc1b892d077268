// Talking to origins safely: only http(s), bounded redirects followed by hand, and (unless
// --allow-private-origins) every hop's host resolved here, refused when any address it resolves
// to is loopback, private, link-local, unique-local or otherwise not public, and then connected
// to *at the address that was checked* (Host header and TLS server name stay the origin's), so
// a DNS answer that changes between the check and the connect (rebinding) cannot slip through.
import { lookup } from "node:dns/promises";
import { classifyAddress, isIpLiteral } from "../core/address.ts";
import { loggableUrl } from "../core/log.ts";

/** Why a fill attempt stopped. transient → retried with backoff; permanent → job fails. */
export class FillError extends Error {
  constructor(
    message: string,
    /** `waiting`: the fill cannot start for a reason outside it (the blob store does not answer):
     *  queued again without using up an attempt. */
    readonly kind: "transient" | "permanent" | "refused" | "waiting",
  ) {
    super(message);
    this.name = "FillError";
  }
}

export type Resolver = (hostname: string) => Promise<string[]>;

/** Which resolved addresses a fill may connect to without --allow-private-origins. */
export type AddressPolicy = (address: string) => boolean;

export const publicAddressesOnly: AddressPolicy = (address) => classifyAddress(address) === "public";

export const systemResolver: Resolver = async (hostname) => {
  const answers = await lookup(hostname, { all: true, verbatim: true });
  return answers.map((a) => a.address);
};

/** Addresses of one host tried in turn when connecting fails (multi-homed origins). */
const ADDRESSES_TRIED_MAX = 4;

function bareHost(url: URL): string {
  return url.hostname.replace(/^\[|\]$/g, "");
}

export type CheckedAddresses =
  | { ok: true; addresses: string[] }
  | { ok: false; kind: "refused" | "transient"; message: string };

/** Resolve the URL's host and check every answer against the policy. */
async function checkedAddresses(url: URL, resolve: Resolver, allowed: AddressPolicy = publicAddressesOnly): Promise<CheckedAddresses> {
  const host = bareHost(url);
  let addresses: string[];
  if (isIpLiteral(host)) {
    addresses = [host];
  } else {
    try {
      addresses = await resolve(host);
    } catch (err) {
      const code = (err as { code?: string }).code ?? "no answer";
      return { ok: false, kind: "transient", message: `cannot resolve origin host ${host}: ${String(code).toLowerCase()}` };
    }
    if (addresses.length === 0) return { ok: false, kind: "transient", message: `cannot resolve origin host ${host}: no addresses` };
  }
  for (const address of addresses) {
    if (!allowed(address)) {
      const via = address === host ? "" : ` resolves to ${address}, which`;
      const kind = classifyAddress(address);
      return { ok: false, kind: "refused", message: `origin host ${host}${via} is ${/^[aeiou]/.test(kind) ? "an" : "a"} ${kind} address; refused without --allow-private-origins` };
    }
  }
  return { ok: true, addresses };
}

/**
 * Null when the host may be fetched; otherwise a one-line refusal. A name that does not resolve
 * is not a refusal (the fill will fail and be retried) — only a resolved, disallowed address is.
 */
export async function addressRefusal(url: URL, resolve: Resolver, allowed: AddressPolicy = publicAddressesOnly): Promise<string | null> {
  const checked = await checkedAddresses(url, resolve, allowed);
  return !checked.ok && checked.kind === "refused" ? checked.message : null;
}

export type OriginRequest = {
  url: string;
  headers: Record<string, string>;
  signal: AbortSignal;
  maxRedirects: number;
  allowPrivateOrigins: boolean;
  resolve: Resolver;
  addressAllowed?: AddressPolicy;
};

type Attempt = { target: string; headers: Record<string, string>; tls?: { serverName: string } };

/** The same request, sent to one checked address: Host and TLS server name stay the origin's. */
function pinned(url: URL, address: string, headers: Record<string, string>): Attempt {
  const target = new URL(url.href);
  target.hostname = address.includes(":") ? `[${address}]` : address;
  const name = bareHost(url);
  const attempt: Attempt = { target: target.href, headers: { ...headers, host: url.host } };
  if (url.protocol === "https:" && !isIpLiteral(name)) attempt.tls = { serverName: name };
  return attempt;
}

/** GET the URL following redirects by hand; returns the first non-3xx response. */
export async function openOrigin(req: OriginRequest): Promise<{ response: Response; finalUrl: string; redirected: boolean }> {
  let current = new URL(req.url);
  for (let hop = 0; hop <= req.maxRedirects; hop += 1) {
    if (current.protocol !== "http:" && current.protocol !== "https:") {
      throw new FillError(`redirect to a ${current.protocol.replace(/:$/, "")} url is not allowed`, "permanent");
    }
    let attempts: Attempt[];
    if (req.allowPrivateOrigins) {
      attempts = [{ target: current.href, headers: req.headers }];
    } else {
      const checked = await checkedAddresses(current, req.resolve, req.addressAllowed);
      if (!checked.ok) throw new FillError(checked.message, checked.kind);
      attempts = checked.addresses.slice(0, ADDRESSES_TRIED_MAX).map((a) => pinned(current, a, req.headers));
    }
    let response: Response | null = null;
    let lastError: unknown = null;
    for (const attempt of attempts) {
      try {
        response = await fetch(attempt.target, {
          method: "GET",
          headers: attempt.headers,
          redirect: "manual",
          decompress: false,
          signal: req.signal,
          // A pinned request goes to an IP: never reuse a pooled connection to that IP, which
          // may carry another host's TLS session (CDNs serve many names from one address).
          ...(attempt.tls ? { tls: attempt.tls } : {}),
          ...(req.allowPrivateOrigins ? {} : { keepalive: false }),
        });
        break;
      } catch (err) {
        if (req.signal.aborted) throw err;
        lastError = err;
      }
    }
    if (!response) {
      const code = (lastError as { code?: string }).code ?? (lastError instanceof Error ? lastError.message : String(lastError));
      throw new FillError(`cannot reach origin ${loggableUrl(current.href)}: ${String(code).toLowerCase()}`, "transient");
    }
    if (response.status >= 300 && response.status < 400 && response.status !== 304) {
      const location = response.headers.get("location");
      await response.body?.cancel().catch(() => {});
      if (!location) throw new FillError(`origin answered ${response.status} without a location for ${loggableUrl(current.href)}`, "permanent");
      try {
        current = new URL(location, current);
      } catch {
        throw new FillError(`origin redirected to an invalid location from ${loggableUrl(current.href)}`, "permanent");
      }
      continue;
    }
    return { response, finalUrl: current.href, redirected: hop > 0 };
  }
  throw new FillError(`more than ${req.maxRedirects} redirects from ${loggableUrl(req.url)}`, "permanent");
}
