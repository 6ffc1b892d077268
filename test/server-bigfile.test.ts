// A 1 GiB artifact is filled and served by a separate cache-host process with flat memory:
// its RSS (sampled from /proc/<pid>/status) stays far below the artifact size during the fill
// and during a full download with real curl. The origin file is sparse, so setup is instant.
import { afterAll, beforeAll, expect, test } from "bun:test";
import { closeSync, ftruncateSync, openSync } from "node:fs";
import { join } from "node:path";
import { blobUrl, makeTempDir, pollUntil, rssBytes, run, spawnServer, startOrigin, type Origin, type SpawnedServer, type TempDir, isStored } from "./helpers/index.ts";

const SIZE = 1024 * 1024 * 1024;
/** Well above a Bun server's baseline (~50–100 MB) and far below the 1 GiB a buffered copy would take. */
const RSS_LIMIT_BYTES = 300 * 1024 * 1024;

let dir: TempDir;
let origin: Origin;
let server: SpawnedServer;

function zerosSha256(size: number): string {
  const hasher = new Bun.CryptoHasher("sha256");
  const chunk = new Uint8Array(16 * 1024 * 1024);
  for (let done = 0; done < size; done += chunk.length) hasher.update(chunk.subarray(0, Math.min(chunk.length, size - done)));
  return hasher.digest("hex");
}

/** Sample a process's RSS every few ms until `work` settles; returns the peak. */
async function peakRssDuring<T>(pid: number, work: Promise<T>): Promise<{ result: T; peak: number; samples: number }> {
  let peak = 0;
  let samples = 0;
  let settled = false;
  const sampling = (async () => {
    while (!settled) {
      const rss = rssBytes(pid);
      if (rss !== null) {
        peak = Math.max(peak, rss);
        samples += 1;
      }
      await Bun.sleep(10);
    }
  })();
  try {
    const result = await work;
    return { result, peak, samples };
  } finally {
    settled = true;
    await sampling;
  }
}

beforeAll(async () => {
  dir = makeTempDir("withcache-big-");
  const sparse = join(dir.path, "origin.img");
  const fd = openSync(sparse, "w");
  ftruncateSync(fd, SIZE);
  closeSync(fd);
  origin = startOrigin(() => new Response(Bun.file(sparse), { headers: { "content-type": "application/octet-stream", etag: '"sparse-1g"' } }));
  server = await spawnServer({ dataDir: join(dir.path, "data"), args: ["--allow-private-origins"] });
});

afterAll(async () => {
  server?.proc.kill("SIGTERM");
  await server?.proc.exited;
  await origin?.stop();
  dir?.cleanup();
});

test("1 GiB: fill and full download keep the server's RSS flat", async () => {
  const key = `${origin.url}/images/one-gig.img`;
  const url = blobUrl(server.url, key);
  // The probe starts the fill; 8 clients stream it as it arrives, each from the temp file.
  expect(await isStored(fetch(url, { method: "HEAD" }))).toBe(false);
  const streams = Array.from({ length: 8 }, () => run(["/usr/bin/curl", "-sS", "-o", "/dev/null", "-w", "%{size_download}", url]));
  const fill = await peakRssDuring(
    server.proc.pid,
    Promise.all([pollUntil(async () => await isStored(fetch(url, { method: "HEAD" })), { what: "1 GiB fill", timeoutMs: 60_000, intervalMs: 100 }), ...streams]),
  );
  for (const s of await Promise.all(streams)) expect({ exit: s.exitCode, bytes: Number(s.stdout) }).toEqual({ exit: 0, bytes: SIZE });
  const head = await fetch(url, { method: "HEAD" });
  expect(head.headers.get("content-length")).toBe(String(SIZE));
  expect(head.headers.get("x-withcache-sha256")).toBe(zerosSha256(SIZE));

  const download = await peakRssDuring(server.proc.pid, run(["/usr/bin/curl", "-sS", "-f", "-o", "/dev/null", "-w", "%{size_download}", url]));
  expect(download.result.exitCode).toBe(0);
  expect(Number(download.result.stdout)).toBe(SIZE);
  expect(download.samples).toBeGreaterThan(0);
  console.log(`rss peak: fill ${(fill.peak / 2 ** 20).toFixed(0)} MiB, download ${(download.peak / 2 ** 20).toFixed(0)} MiB`);
  expect(fill.peak).toBeLessThan(RSS_LIMIT_BYTES);
  expect(download.peak).toBeLessThan(RSS_LIMIT_BYTES);
}, 120_000);
