// Shared by the freshness tests: an origin whose bytes and headers the test changes while it
// runs (answering conditional requests like a real one), and running curl/wget plain or through
// either shim (the compiled TypeScript one and the Zig one) first on PATH.
import { blobUrl, pollUntil, startOrigin, type Origin, type TestServer, isStored } from "./helpers/index.ts";
import { runExact, shimPath, type Ran } from "./shim-support.ts";

export type Entry = {
  body: string | Uint8Array<ArrayBuffer>;
  headers?: Record<string, string>;
  /** Hold every answer until this resolves (a slow origin). */
  hold?: Promise<void>;
  /** Answer with this status and no body instead (a 404 on revalidation, a 503). */
  status?: number;
  /** Ignore If-None-Match / If-Modified-Since (an origin without conditional support). */
  noConditional?: boolean;
  /** Answer every request with 304 and these headers (a broken origin). */
  always304?: Record<string, string>;
};

export type Seen = { path: string; conditional: boolean; status: number; bodyBytes: number; ifNoneMatch: string | null };

export type MutableOrigin = Origin & { files: Map<string, Entry>; seen: Seen[]; seenOf(path: string): Seen[] };

function bodyLength(body: string | Uint8Array<ArrayBuffer>): number {
  return typeof body === "string" ? new TextEncoder().encode(body).byteLength : body.byteLength;
}

/** An origin serving `files` by path (changed by the test at will), recording every answer. */
export function mutableOrigin(): MutableOrigin {
  const files = new Map<string, Entry>();
  const seen: Seen[] = [];
  const origin = startOrigin(async (req) => {
    const path = new URL(req.url).pathname;
    const entry = files.get(path);
    const ifNoneMatch = req.headers.get("if-none-match");
    const ifModifiedSince = req.headers.get("if-modified-since");
    const conditional = ifNoneMatch !== null || ifModifiedSince !== null;
    const record = (status: number, bodyBytes: number): void => void seen.push({ path, conditional, status, bodyBytes, ifNoneMatch });
    if (!entry) {
      record(404, 0);
      return new Response("not here\n", { status: 404 });
    }
    if (entry.hold) await entry.hold;
    const headers: Record<string, string> = { "content-type": "text/plain", ...(entry.headers ?? {}) };
    if (entry.always304) {
      record(304, 0);
      return new Response(null, { status: 304, headers: entry.always304 });
    }
    if (entry.status !== undefined) {
      record(entry.status, 0);
      return new Response(null, { status: entry.status });
    }
    const etag = headers.etag ?? null;
    const lastModified = headers["last-modified"] ?? null;
    const matches =
      !entry.noConditional &&
      ((ifNoneMatch !== null && etag !== null && ifNoneMatch.replace(/^W\//, "") === etag.replace(/^W\//, "")) ||
        (ifNoneMatch === null && ifModifiedSince !== null && lastModified !== null && Date.parse(ifModifiedSince) >= Date.parse(lastModified)));
    if (matches) {
      record(304, 0);
      return new Response(null, { status: 304, headers });
    }
    record(200, req.method === "HEAD" ? 0 : bodyLength(entry.body));
    return new Response(entry.body as BodyInit, { headers });
  });
  return Object.assign(origin, { files, seen, seenOf: (path: string) => seen.filter((s) => s.path === path) });
}

export type Via = "plain" | "ts" | "zig";
export type Tool = "curl" | "wget";
export const SHIM_VIAS = ["ts", "zig"] as const;
export const TOOLS = ["curl", "wget"] as const;

/** Run `tool` fetching `url` to stdout, plainly or through a shim dir first on PATH. */
export function fetchWith(options: { via: Via; tool: Tool; url: string; shimDirs: Record<"ts" | "zig", string>; cacheUrl: string; home: string }): Promise<Ran> {
  const { via, tool, url } = options;
  const args = tool === "curl" ? ["curl", "-sS", url] : ["wget", "-q", "-O", "-", url];
  const env: Record<string, string> =
    via === "plain" ? { PATH: "/usr/bin:/bin", HOME: options.home } : { PATH: shimPath(options.shimDirs[via]), HOME: options.home, WITHCACHE_SERVER: options.cacheUrl };
  return runExact(args, { env, cwd: options.home, timeoutMs: 20_000 });
}

export function text(ran: Ran): string {
  return new TextDecoder().decode(ran.stdout);
}

/** Ask the cache for `url` (a miss queues its fill) and wait until a probe is a hit. */
export async function filled(server: TestServer, url: string): Promise<void> {
  await fetch(blobUrl(server.url, url), { method: "HEAD" });
  await pollUntil(async () => await isStored(fetch(blobUrl(server.url, url), { method: "HEAD" })), { what: `fill of ${url}`, timeoutMs: 10_000 });
}
