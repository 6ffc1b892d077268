// Benchmark 5: restart. Time from spawning `withcache serve` to the first served hit with
// 100,000 artifacts in the database, against the same with a single artifact. The database is
// populated through the server's own store module (rows via commitArtifact in one transaction,
// one small real blob per artifact at the path the blob store itself locates).
import { localBlobPath } from "../../src/store/local-blobs.ts";
import fs from "node:fs";
import path from "node:path";
import { createHash } from "node:crypto";
import { cacheKey } from "../../src/core/cache-key.ts";
import { openCacheStore } from "../../src/store/store.ts";
import { SqliteMetadataStore } from "../../src/store/sqlite-metadata.ts";
import { bins, blobPath, freePort, httpStatus, logsDir, requireBinary, startChild, stopChild, tailLog, tempDir } from "./harness.ts";
import { median } from "./stats.ts";
import type { BenchContext, BenchResult, Benchmark } from "./types.ts";

const ARTIFACTS = 100_000;
const START_TIMEOUT_MS = 30_000;
/** Poll interval for the first hit: adds at most this much to the measured time. */
const POLL_INTERVAL_MS = 5;
/** Origin host in the fake artifact URLs: never contacted (every request is a hit). */
const ORIGIN = "http://127.0.0.1:9/mirror";

function artifactUrl(i: number): string {
  return `${ORIGIN}/pkg-${i}/artifact-${i}.tar.gz`;
}

/** Fill a fresh data dir with `count` artifacts; returns the origin URL of one in the middle. */
async function populate(dataDir: string, count: number): Promise<string> {
  const store = openCacheStore(dataDir);
  try {
    const metadata = store.metadata;
    if (!(metadata instanceof SqliteMetadataStore)) throw new Error("restart benchmark: expected the sqlite metadata store");
    const nowMs = Date.now();
    const madeDirs = new Set<string>();
    // SQLite runs each commit at the call, inside this one transaction (one write for the lot);
    // their promises are awaited after it.
    const commits: Array<Promise<unknown>> = [];
    metadata.db.transaction(() => {
      for (let i = 0; i < count; i++) {
        const url = artifactUrl(i);
        const body = Buffer.from(`artifact ${i}\n`);
        const sha256 = createHash("sha256").update(body).digest("hex");
        const blob = localBlobPath(store.blobs, sha256);
        const dir = path.dirname(blob);
        if (!madeDirs.has(dir)) {
          fs.mkdirSync(dir, { recursive: true });
          madeDirs.add(dir);
        }
        fs.writeFileSync(blob, body);
        commits.push(metadata.commitArtifact({
          key: cacheKey(new URL(url), { keepQuery: false }),
          url,
          sha256,
          sizeBytes: body.byteLength,
          contentType: "application/gzip",
          contentDisposition: null,
          fetchedAtMs: nowMs - (count - i) * 1000,
        }));
      }
    })();
    await Promise.all(commits);
  } finally {
    await store.close();
  }
  return artifactUrl(Math.floor(count / 2));
}

async function startToFirstHit(dataDir: string, originUrl: string, label: string): Promise<number> {
  const port = freePort();
  const url = `http://127.0.0.1:${port}${blobPath(originUrl)}`;
  const start = performance.now();
  const child = startChild(`withcache-${label}`, [bins.withcache, "serve", "--data-dir", dataDir, "--host", "127.0.0.1", "--port", String(port)], { logDir: logsDir() });
  try {
    const deadline = start + START_TIMEOUT_MS;
    for (;;) {
      const status = await httpStatus(url, "GET", 2000).catch(() => 0);
      if (status === 200) return performance.now() - start;
      if (status !== 0) throw new Error(`first request answered ${status}, expected a hit\n${tailLog(child)}`);
      if (child.proc.exitCode !== null) throw new Error(`withcache exited ${child.proc.exitCode} before serving\n${tailLog(child)}`);
      if (performance.now() > deadline) throw new Error(`no hit within ${START_TIMEOUT_MS} ms\n${tailLog(child)}`);
      await Bun.sleep(POLL_INTERVAL_MS);
    }
  } finally {
    await stopChild(child);
  }
}

async function run(ctx: BenchContext): Promise<BenchResult> {
  requireBinary(bins.withcache, "withcache");
  const bigDir = tempDir("restart-100k");
  const smallDir = tempDir("restart-1");
  let populateStart = performance.now();
  const bigUrl = await populate(bigDir, ARTIFACTS);
  const populateMs = performance.now() - populateStart;
  ctx.log(`populated ${ARTIFACTS} artifacts in ${(populateMs / 1000).toFixed(1)} s`);
  populateStart = performance.now();
  const smallUrl = await populate(smallDir, 1);
  const dbBytes = fs.statSync(path.join(bigDir, "withcache.db")).size;

  const ms = { one: [] as number[], many: [] as number[] };
  for (let round = 0; round < ctx.runs; round++) {
    const sides = round % 2 === 0 ? (["one", "many"] as const) : (["many", "one"] as const);
    for (const side of sides) {
      ms[side].push(side === "one" ? await startToFirstHit(smallDir, smallUrl, "restart-1") : await startToFirstHit(bigDir, bigUrl, "restart-100k"));
    }
    ctx.log(`round ${round + 1}/${ctx.runs}: 1 artifact ${ms.one.at(-1)!.toFixed(0)} ms, ${ARTIFACTS} artifacts ${ms.many.at(-1)!.toFixed(0)} ms`);
  }
  return {
    rows: [
      {
        benchmark: "5 restart",
        metric: `start → first hit, ${ARTIFACTS.toLocaleString("en-US")} artifacts`,
        unit: "ms",
        referenceName: "1 artifact",
        reference: median(ms.one),
        ours: median(ms.many),
        target: { kind: "at-most", value: 1000 },
        anchor: "",
      },
    ],
    raw: { ms, artifacts: ARTIFACTS, populateMs, databaseBytes: dbBytes, pollIntervalMs: POLL_INTERVAL_MS },
  };
}

export const restartBenchmark: Benchmark = { name: "restart", title: "restart with 100,000 artifacts", run };
