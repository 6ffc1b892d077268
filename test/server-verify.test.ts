// Bit rot and hand edits: a blob whose bytes no longer match its sha256. Hits check the size on
// every serve (a truncated blob becomes a miss by itself); `withcache verify` re-hashes content,
// and `--repair` (cache-host stopped) removes bad blobs so they are fetched again.
import { localBlobPath } from "../src/store/local-blobs.ts";
import { expect, test } from "bun:test";
import { openSync, closeSync, writeSync } from "node:fs";
import { resolve } from "node:path";
import { verifyBlobs } from "../src/store/verify.ts";
import { blobUrl, cleanupsAfterEach, makeTempDir, pollUntil, run, sha256Hex, startOrigin, startTestServer, isStored } from "./helpers/index.ts";

const cleanups = cleanupsAfterEach();

const MAIN = resolve(import.meta.dir, "../src/main.ts");
const BODY = new Uint8Array(100_000).map((_, i) => (i * 11) % 256);

test("verify finds a flipped byte, refuses --repair beside a live server, repairs when stopped; the refill serves good bytes", async () => {
  const origin = startOrigin(() => new Response(BODY as Uint8Array<ArrayBuffer>));
  cleanups.push(() => origin.stop());
  const dir = makeTempDir("withcache-verify-");
  cleanups.push(() => dir.cleanup());
  const url = `${origin.url}/rot.bin`;
  let s = await startTestServer({}, { dataDir: { path: dir.path, cleanup: () => {} } });
  await (await fetch(blobUrl(s.url, url))).text();
  await pollUntil(async () => await isStored(fetch(blobUrl(s.url, url), { method: "HEAD" })), { what: "fill" });
  const sha = sha256Hex(BODY);
  const clean = await run([process.execPath, MAIN, "verify", "--data-dir", dir.path]);
  expect(clean).toMatchObject({ exitCode: 0, stdout: "verified 1 blobs (98 KiB): 0 bad\n" });

  // Flip one byte in place: same size, so the serve-time size check cannot see it.
  const fd = openSync(localBlobPath(s.running.ctx.store.blobs, sha), "r+");
  writeSync(fd, new Uint8Array([BODY[500]! ^ 0xff]), 0, 1, 500);
  closeSync(fd);
  const report = await run([process.execPath, MAIN, "verify", "--data-dir", dir.path]);
  expect(report.exitCode).toBe(1);
  expect(report.stderr).toBe(`withcache: to have them fetched again, stop the cache-host and run: withcache verify --repair --data-dir ${resolve(dir.path)}\n`);
  expect(report.stdout).toMatch(new RegExp(`^bad ${sha}: blob content hashes to [0-9a-f]{64} \\(${url.replace(/[.]/g, "\\.")}\\)\\nverified 1 blobs \\(98 KiB\\): 1 bad\\n$`));
  const busy = await run([process.execPath, MAIN, "verify", "--repair", "--data-dir", dir.path]);
  expect(busy.exitCode).toBe(1);
  // The server runs in this process: the refusal names this pid.
  expect(busy.stderr).toBe(`withcache: error: --data-dir: ${resolve(dir.path)} is in use by another withcache (pid ${process.pid})\n`);
  // A read-only verify in the holder's own process must not touch lock.db: closing any fd on it
  // would drop this process's lock (POSIX), and the next --repair would get in.
  expect((await verifyBlobs(dir.path, { repair: false })).bad.length).toBe(1);
  expect((await run([process.execPath, MAIN, "verify", "--repair", "--data-dir", dir.path])).stderr).toBe(busy.stderr);

  await s.running.stop();
  const repaired = await run([process.execPath, MAIN, "verify", "--repair", "--data-dir", dir.path]);
  expect(repaired.exitCode).toBe(1);
  expect(repaired.stdout).toContain("; removed\nverified 1 blobs (98 KiB): 1 bad, removed\n");
  expect(await run([process.execPath, MAIN, "verify", "--data-dir", dir.path])).toMatchObject({ exitCode: 0, stdout: "verified 0 blobs (0 B): 0 bad\n" });

  s = await startTestServer({}, { dataDir: { path: dir.path, cleanup: () => {} } });
  cleanups.push(() => s.stop());
  expect((await fetch(blobUrl(s.url, url))).status).toBe(404);
  await pollUntil(async () => await isStored(fetch(blobUrl(s.url, url), { method: "HEAD" })), { what: "refill" });
  expect(sha256Hex(new Uint8Array(await (await fetch(blobUrl(s.url, url))).arrayBuffer()))).toBe(sha);
});

test("verify of a dir without a database is a one-line error", async () => {
  const dir = makeTempDir("withcache-verify-empty-");
  cleanups.push(() => dir.cleanup());
  const r = await run([process.execPath, MAIN, "verify", "--data-dir", dir.path]);
  expect(r).toMatchObject({ exitCode: 1, stderr: `withcache: error: --data-dir: ${dir.path} holds no withcache database\n` });
});
