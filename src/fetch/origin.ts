// Talking to origins safely: only http(s), bounded redirects followed by hand, and (unless
// --allow-private-origins) every hop's host resolved here and refused when any address it
// resolves to is loopback, private, link-local, unique-local or otherwise not public.
import { lookup } from "node:dns/promises";
import { classifyAddress, isIpLiteral } from "../core/address.ts";
import { loggableUrl } from "../core/log.ts";

/** Why a fill attempt stopped. transient → retried with backoff; permanent → job fails. */
export class FillError extends Error {
  constructor(
    message: string,
    readonly kind: "transient" | "permanent" | "refused",
  ) {
    super(message);
    this.name = "FillError";
  }
}

export type Resolver = (hostname: string) => Promise<string[]>;

export const systemResolver: Resolver = async (hostname) => {
  const answers = await lookup(hostname, { all: true, verbatim: true });
  return answers.map((a) => a.address);
};

function bareHost(url: URL): string {
  return url.hostname.replace(/^\[|\]$/g, "");
}

/**
 * Null when the host may be fetched; otherwise a one-line refusal. A name that does not resolve
 * is not a refusal (the fetch will fail and be retried) — only a resolved non-public address is.
 */
export async function addressRefusal(url: URL, resolve: Resolver): Promise<string | null> {
  const host = bareHost(url);
  let addresses: string[];
  if (isIpLiteral(host)) {
    addresses = [host];
  } else {
    try {
      addresses = await resolve(host);
    } catch {
      return null;
    }
  }
  for (const address of addresses) {
    const cls = classifyAddress(address);
    if (cls !== "public") {
      const via = address === host ? "" : ` resolves to ${address}, which`;
      return `origin host ${host}${via} is a ${cls} address; refused without --allow-private-origins`;
    }
  }
  return null;
}

export type OriginRequest = {
  url: string;
  headers: Record<string, string>;
  signal: AbortSignal;
  maxRedirects: number;
  allowPrivateOrigins: boolean;
  resolve: Resolver;
};

/** GET the URL following redirects by hand; returns the first non-3xx response. */
export async function openOrigin(req: OriginRequest): Promise<{ response: Response; finalUrl: string }> {
  let current = new URL(req.url);
  for (let hop = 0; hop <= req.maxRedirects; hop += 1) {
    if (current.protocol !== "http:" && current.protocol !== "https:") {
      throw new FillError(`redirect to a ${current.protocol.replace(/:$/, "")} url is not allowed`, "permanent");
    }
    if (!req.allowPrivateOrigins) {
      const refusal = await addressRefusal(current, req.resolve);
      if (refusal) throw new FillError(refusal, "refused");
    }
    let response: Response;
    try {
      response = await fetch(current, {
        method: "GET",
        headers: req.headers,
        redirect: "manual",
        decompress: false,
        signal: req.signal,
      });
    } catch (err) {
      if (req.signal.aborted) throw err;
      const code = (err as { code?: string }).code ?? (err instanceof Error ? err.message : String(err));
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
    return { response, finalUrl: current.href };
  }
  throw new FillError(`more than ${req.maxRedirects} redirects from ${loggableUrl(req.url)}`, "permanent");
}
