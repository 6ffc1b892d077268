// Stream-through across replicas: a fill runs on one replica (it holds the job's lease); a client
// that asks another replica for the same key is answered with the fill's bytes as they arrive,
// fetched from the replica that runs it (its advertised URL). A request that already hopped once
// is never sent on again, so two replicas cannot bounce a request between them.

import { ARTIFACT_CSP } from "./responses.ts";

/** Set on a request one replica sends another; its value is the sender's replica id. */
export const HOP_HEADER = "x-withcache-hop";
/** How long the other replica may take to start answering (at most; a waiting miss gives less). */
const HEADERS_TIMEOUT_MS = 5_000;

const FORWARDED_REQUEST_HEADERS = ["range", "if-range", "user-agent"];
const FORWARDED_RESPONSE_HEADERS = [
  "content-type",
  "content-length",
  "content-range",
  "content-disposition",
  "accept-ranges",
  "etag",
  "last-modified",
  "cache-control",
  "x-withcache",
  "x-withcache-redirected",
  "x-withcache-filling",
  "x-withcache-stale",
  "warning",
];

export function hopped(req: Request): boolean {
  return req.headers.has(HOP_HEADER);
}

/**
 * Ask the replica at `replicaUrl` for the same path; its answer (200, 206 or 416, streamed) or
 * null when it cannot give one (unreachable, no headers within `headersTimeoutMs`, a miss there
 * too): the caller then answers as if no fill were running.
 */
export async function fromReplica(req: Request, replicaUrl: string, selfId: string, headersTimeoutMs = HEADERS_TIMEOUT_MS): Promise<Response | null> {
  const incoming = new URL(req.url);
  const target = `${replicaUrl.replace(/\/+$/, "")}${incoming.pathname}${incoming.search}`;
  const headers = new Headers({ [HOP_HEADER]: selfId });
  for (const name of FORWARDED_REQUEST_HEADERS) {
    const v = req.headers.get(name);
    if (v !== null) headers.set(name, v);
  }
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), Math.max(1, Math.min(headersTimeoutMs, HEADERS_TIMEOUT_MS)));
  // The client going away stops the transfer from the other replica too.
  req.signal.addEventListener("abort", () => controller.abort(), { once: true });
  let answer: Response;
  try {
    answer = await fetch(target, { method: req.method === "HEAD" ? "HEAD" : "GET", headers, redirect: "manual", signal: controller.signal, decompress: false });
  } catch {
    return null;
  } finally {
    clearTimeout(timer);
  }
  if (answer.status !== 200 && answer.status !== 206 && answer.status !== 416) {
    await answer.body?.cancel().catch(() => undefined);
    return null;
  }
  const out = new Headers();
  for (const name of FORWARDED_RESPONSE_HEADERS) {
    const v = answer.headers.get(name);
    if (v !== null) out.set(name, v);
  }
  // A cached body must never run as a page of the cache-host's own origin (the operator UI):
  // set here, whatever the other end (or a proxy in front of it) sent.
  out.set("content-security-policy", ARTIFACT_CSP);
  out.set("x-content-type-options", "nosniff");
  return new Response(req.method === "HEAD" ? null : answer.body, { status: answer.status, headers: out });
}
