// Benchmark 4: fill throughput. Time for a 1 GiB fill from a local nginx origin until the cache
// answers a hit, vs plain `curl -o file` from the same origin. Each fill gets a fresh data dir and
// server (started before the clock), `sync` runs before every timed run so one run's writeback
// does not land on the next, and the two sides alternate.
import fs from "node:fs";
import path from "node:path";
import {
  BIG_FILE_BYTES,
  bigFile,
  httpStatus,
  pollUntil,
  runOk,
  startNginx,
  startWithcache,
  stopChild,
  tailLog,
  tempDir,
  warmPageCache,
} from "./harness.ts";
import { gbPerSecond, median } from "./stats.ts";
import type { BenchContext, BenchResult, Benchmark } from "./types.ts";

const FILL_TIMEOUT_MS = 180_000;
/** Hit polling interval: adds at most this much to a fill's measured time. */
const POLL_INTERVAL_MS = 10;

/** curl -o, then `sync`: returns curl's time and the time its dirty pages took to reach the disk
 * (a fill fsyncs before it answers hits; curl leaves that to the kernel). */
async function curlToFile(url: string, dir: string): Promise<{ curl: number; sync: number }> {
  const out = path.join(dir, "curl-out.bin");
  const start = performance.now();
  await runOk(["/usr/bin/curl", "-sS", "-f", "-o", out, url], { timeoutMs: FILL_TIMEOUT_MS });
  const done = performance.now();
  await runOk(["sync"], { timeoutMs: 60_000 });
  const synced = performance.now();
  const size = fs.statSync(out).size;
  fs.rmSync(out);
  if (size !== BIG_FILE_BYTES) throw new Error(`curl -o: wrote ${size} bytes; expected ${BIG_FILE_BYTES}`);
  return { curl: (done - start) / 1000, sync: (synced - done) / 1000 };
}

async function fillOnce(originUrl: string, round: number): Promise<number> {
  const dataDir = tempDir(`fill-${round}`);
  const server = await startWithcache({ label: `fill-${round}`, dataDir });
  try {
    await runOk(["sync"], { timeoutMs: 60_000 });
    const url = server.blobUrl(originUrl);
    const start = performance.now();
    const first = await httpStatus(url, "GET", 10_000);
    if (first !== 200) {
      await pollUntil(`fill of ${originUrl}`, async () => ((await httpStatus(url, "HEAD")) === 200 ? true : undefined), {
        timeoutMs: FILL_TIMEOUT_MS,
        intervalMs: POLL_INTERVAL_MS,
      }).catch((err) => {
        throw new Error(`${err.message}\n${tailLog(server.child)}`);
      });
    }
    return (performance.now() - start) / 1000;
  } finally {
    await stopChild(server.child);
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
}

async function run(ctx: BenchContext): Promise<BenchResult> {
  const file = await bigFile();
  await warmPageCache(file);
  const nginx = await startNginx(path.dirname(file), { label: "fill" });
  const originUrl = nginx.url(path.basename(file));
  const curlDir = tempDir("fill-curl");
  const seconds = { curl: [] as number[], curlThenSync: [] as number[], withcache: [] as number[] };
  for (let round = 0; round < ctx.runs; round++) {
    const sides = round % 2 === 0 ? (["curl", "withcache"] as const) : (["withcache", "curl"] as const);
    for (const side of sides) {
      if (side === "curl") {
        await runOk(["sync"], { timeoutMs: 60_000 });
        const timing = await curlToFile(originUrl, curlDir);
        seconds.curl.push(timing.curl);
        seconds.curlThenSync.push(timing.curl + timing.sync);
      } else {
        seconds.withcache.push(await fillOnce(originUrl, round));
      }
    }
    ctx.log(`round ${round + 1}/${ctx.runs}: curl -o ${seconds.curl.at(-1)!.toFixed(2)} s, fill ${seconds.withcache.at(-1)!.toFixed(2)} s`);
  }
  const curlSeconds = median(seconds.curl);
  const fillSeconds = median(seconds.withcache);
  return {
    rows: [
      {
        benchmark: "4 fill 1 GiB",
        metric: "time until hit",
        unit: "s",
        referenceName: "curl -o",
        reference: curlSeconds,
        ours: fillSeconds,
        target: { kind: "ratio-at-most", value: 1.25 },
        anchor: "4.6 s vs curl -o 1.1–2.8 s",
        note: `${gbPerSecond(BIG_FILE_BYTES, fillSeconds).toFixed(2)} GB/s`,
      },
      {
        benchmark: "4 fill 1 GiB",
        metric: "time until hit, vs curl -o + sync (context)",
        unit: "s",
        referenceName: "curl -o; sync",
        reference: median(seconds.curlThenSync),
        ours: fillSeconds,
        target: { kind: "none" },
        anchor: "",
      },
    ],
    raw: { seconds, pollIntervalMs: POLL_INTERVAL_MS, bytes: BIG_FILE_BYTES },
  };
}

export const fillBenchmark: Benchmark = { name: "fill", title: "fill throughput, 1 GiB", run };
