// Signals on a real cache-host process: SIGTERM while a client downloads and a fill runs drains;
// a second SIGTERM exits at once (143) and the interrupted fill resumes at the next start.
import { expect, test } from "bun:test";
import { readdirSync } from "node:fs";
import { join } from "node:path";
import { blobUrl, cleanupsAfterEach, makeTempDir, pollUntil, sha256Hex, spawnServer, startOrigin, type SpawnedServer, isStored } from "./helpers/index.ts";

const cleanups = cleanupsAfterEach();

const BIG = new Uint8Array(16 * 1024 * 1024).map((_, i) => (i * 7) % 256);
const SLOW = new Uint8Array(200_000).map((_, i) => (i * 5) % 256);

test("SIGTERM drains; a second SIGTERM exits 143 at once; the cut fill resumes after restart", async () => {
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  const origin = startOrigin((req) => {
    const p = new URL(req.url).pathname;
    if (p === "/big.bin") return new Response(BIG as Uint8Array<ArrayBuffer>);
    if (p === "/slow.bin") {
      return new Response(
        new ReadableStream({
          async start(c) {
            c.enqueue(SLOW.slice(0, 64 * 1024));
            await gate;
            c.enqueue(SLOW.slice(64 * 1024));
            c.close();
          },
        }),
        { headers: { "content-length": String(SLOW.length), etag: '"slow-1"' } },
      );
    }
    return new Response("no\n", { status: 404 });
  });
  cleanups.push(() => {
    release();
    return origin.stop();
  });
  const dir = makeTempDir("withcache-signals-");
  cleanups.push(() => dir.cleanup());
  const args = ["--allow-private-origins", "--drain-timeout", "30s", "--fill-backoff", "50ms"];
  const a: SpawnedServer = await spawnServer({ dataDir: dir.path, args });
  cleanups.push(() => a.proc.kill(9));

  await (await fetch(blobUrl(a.url, `${origin.url}/big.bin`))).text();
  await pollUntil(async () => await isStored(fetch(blobUrl(a.url, `${origin.url}/big.bin`), { method: "HEAD" })), { what: "big fill" });
  // A client that reads slowly keeps a download in flight.
  const served = (): number => a.output().split("\n").filter((l) => l.includes(" request ") && l.includes("method=GET") && l.includes("status=200")).length;
  const before = served();
  const curl = Bun.spawn(["/usr/bin/curl", "-s", "-o", "/dev/null", "--limit-rate", "200k", blobUrl(a.url, `${origin.url}/big.bin`)], { stdout: "ignore", stderr: "ignore" });
  cleanups.push(() => curl.kill(9));
  await pollUntil(() => served() > before, { what: "curl's download to start" });
  // Starts the fill (and streams it: the stream is cut when the server exits).
  void fetch(blobUrl(a.url, `${origin.url}/slow.bin`))
    .then((r) => r.arrayBuffer())
    .catch(() => null);
  await pollUntil(() => readdirSync(join(dir.path, "tmp")).some((f) => Bun.file(join(dir.path, "tmp", f)).size >= 64 * 1024), { what: "fill temp file" });

  a.proc.kill("SIGTERM");
  await pollUntil(() => a.output().includes("SIGTERM: draining"), { what: "draining line" });
  expect(a.proc.exitCode).toBeNull();
  a.proc.kill("SIGTERM");
  const code = await Promise.race([a.proc.exited, Bun.sleep(5000).then(() => "still running")]);
  expect(code).toBe(143);
  expect(a.output()).toContain("SIGTERM again: exiting without draining");
  // (curl may still be reading what the kernel buffered before the exit; it is killed at cleanup.)

  const b = await spawnServer({ dataDir: dir.path, args });
  cleanups.push(() => b.proc.kill(9));
  release();
  await pollUntil(async () => await isStored(fetch(blobUrl(b.url, `${origin.url}/slow.bin`), { method: "HEAD" })), { what: "resumed fill", timeoutMs: 15_000 });
  const hit = new Uint8Array(await (await fetch(blobUrl(b.url, `${origin.url}/slow.bin`))).arrayBuffer());
  expect(sha256Hex(hit)).toBe(sha256Hex(SLOW));
  b.proc.kill("SIGTERM");
  expect(await b.proc.exited).toBe(0);
}, 30_000);
