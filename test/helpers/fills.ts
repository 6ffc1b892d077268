// Per-test cleanup and the fill-side probes the fill tests share: a server stopped after the test,
// the blob files in a data dir, waiting for a job to finish (after a miss), for a fill's temp file
// to grow, or for a url to be filled through the cache.
import { afterEach } from "bun:test";
import { readdirSync } from "node:fs";
import { join } from "node:path";
import { pollUntil } from "./poll.ts";
import { blobUrl, isStored, startTestServer, type TestServer } from "./server.ts";

export type Cleanups = Array<() => unknown>;

/** Call at a test file's top level: what the tests push runs after each test, last pushed first. */
export function cleanupsAfterEach(): Cleanups {
  const cleanups: Cleanups = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c();
  });
  return cleanups;
}

/** startTestServer, stopped (data dir removed) by `cleanups`. */
export async function startCleanedServer(cleanups: Cleanups, overrides: Parameters<typeof startTestServer>[0] = {}): Promise<TestServer> {
  const s = await startTestServer(overrides);
  cleanups.push(() => s.stop());
  return s;
}

/** The blob file names (sha256) under `<dataDir>/blobs/<fanout>/`. */
export function blobFiles(dataDir: string): string[] {
  const root = join(dataDir, "blobs");
  return readdirSync(root).flatMap((d) => readdirSync(join(root, d)));
}

export type FillJob = NonNullable<ReturnType<TestServer["running"]["ctx"]["fills"]["getJob"]>>;

/** The job for `key` once it is completed, failed or cancelled (bounded poll, 15 s unless timeoutMs). */
export function jobFinished(s: TestServer, key: string, options: { timeoutMs?: number } = {}): Promise<FillJob> {
  return pollUntil(
    () => s.running.ctx.fills.listJobs().find((j) => j.key === key && (j.state === "completed" || j.state === "failed" || j.state === "cancelled")),
    { what: `job for ${key} to finish`, timeoutMs: options.timeoutMs ?? 15_000 },
  );
}

/** Ask the cache for `originUrl` (a miss queues its fill) and return the job of `key` (default: the url) once finished. */
export async function fillOnMiss(s: TestServer, originUrl: string, options: { key?: string; timeoutMs?: number } = {}): Promise<FillJob> {
  // The request may stream the fill (stream-through), and is cut short when the fill fails.
  await fetch(blobUrl(s.url, originUrl))
    .then((r) => r.arrayBuffer())
    .catch(() => null);
  return jobFinished(s, options.key ?? originUrl, options);
}

/** Resolves once a fill temp file in the data dir holds at least `bytes` (bounded poll); "" means not known yet. */
export async function tempReaches(dataDir: () => string, bytes: number): Promise<void> {
  await pollUntil(
    () => {
      if (dataDir() === "") return false;
      const tmp = join(dataDir(), "tmp");
      return readdirSync(tmp).some((f) => Bun.file(join(tmp, f)).size >= bytes);
    },
    { what: `temp file of ${bytes} bytes`, timeoutMs: 10_000 },
  );
}

/** Ask the cache for `originUrl` (a miss queues its fill) and wait until it is a hit (bounded poll). */
export async function fillThroughCache(cacheUrl: string, originUrl: string, options: { timeoutMs?: number } = {}): Promise<void> {
  await (await fetch(blobUrl(cacheUrl, originUrl))).text();
  await pollUntil(async () => await isStored(fetch(blobUrl(cacheUrl, originUrl), { method: "HEAD" })), { what: `fill of ${originUrl}`, timeoutMs: options.timeoutMs });
}
