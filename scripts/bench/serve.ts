// Benchmark 1: serve throughput of a 1 GiB hit, 1 client and 16 concurrent clients (curl to
// /dev/null), withcache vs nginx sendfile on the same file; and the server's peak RSS.
import path from "node:path";
import {
  BIG_FILE_BYTES,
  bigFile,
  curlTime,
  peakRssBytes,
  seed,
  startNginx,
  startWithcache,
  warmPageCache,
} from "./harness.ts";
import { gbPerSecond, median, MIB } from "./stats.ts";
import type { BenchContext, BenchResult, Benchmark } from "./types.ts";

const CLIENTS_MANY = 16;
const ONE_GIB_TIMEOUT_MS = 120_000;

async function concurrentSeconds(url: string, clients: number): Promise<number> {
  const start = performance.now();
  await Promise.all(
    Array.from({ length: clients }, () => curlTime(url, { timeoutMs: ONE_GIB_TIMEOUT_MS * 4, expectBytes: BIG_FILE_BYTES })),
  );
  return (performance.now() - start) / 1000;
}

async function run(ctx: BenchContext): Promise<BenchResult> {
  const file = await bigFile();
  await warmPageCache(file);
  const nginx = await startNginx(path.dirname(file), { label: "serve" });
  const originUrl = nginx.url(path.basename(file));
  const server = await startWithcache({ label: "serve" });
  ctx.log("seeding the 1 GiB artifact");
  await seed(server, originUrl, { timeoutMs: 180_000 });
  const hitUrl = server.blobUrl(originUrl);
  // One untimed download each so both sides read from the page cache.
  await curlTime(hitUrl, { timeoutMs: ONE_GIB_TIMEOUT_MS, expectBytes: BIG_FILE_BYTES });
  await curlTime(originUrl, { timeoutMs: ONE_GIB_TIMEOUT_MS, expectBytes: BIG_FILE_BYTES });

  const one = { nginx: [] as number[], withcache: [] as number[] };
  const many = { nginx: [] as number[], withcache: [] as number[] };
  for (let round = 0; round < ctx.runs; round++) {
    const sides = round % 2 === 0 ? (["nginx", "withcache"] as const) : (["withcache", "nginx"] as const);
    for (const side of sides) {
      const url = side === "nginx" ? originUrl : hitUrl;
      one[side].push(await curlTime(url, { timeoutMs: ONE_GIB_TIMEOUT_MS, expectBytes: BIG_FILE_BYTES }));
    }
    for (const side of sides) {
      const url = side === "nginx" ? originUrl : hitUrl;
      many[side].push(await concurrentSeconds(url, CLIENTS_MANY));
    }
    ctx.log(`round ${round + 1}/${ctx.runs}: 1 client nginx ${one.nginx.at(-1)!.toFixed(3)} s, withcache ${one.withcache.at(-1)!.toFixed(3)} s; ${CLIENTS_MANY} clients nginx ${many.nginx.at(-1)!.toFixed(3)} s, withcache ${many.withcache.at(-1)!.toFixed(3)} s`);
  }
  const rssBytes = peakRssBytes(server.child.proc.pid);
  const nginxOne = median(one.nginx);
  const oursOne = median(one.withcache);
  const nginxMany = median(many.nginx);
  const oursMany = median(many.withcache);
  return {
    rows: [
      {
        benchmark: "1 serve 1 GiB",
        metric: "1 client throughput",
        unit: "GB/s",
        referenceName: "nginx",
        reference: gbPerSecond(BIG_FILE_BYTES, nginxOne),
        ours: gbPerSecond(BIG_FILE_BYTES, oursOne),
        target: { kind: "ratio-at-least", value: 0.9 },
        anchor: "0.96 s vs nginx 0.47 s (0.49×)",
        note: `${oursOne.toFixed(2)} s vs ${nginxOne.toFixed(2)} s`,
      },
      {
        benchmark: "1 serve 1 GiB",
        metric: `${CLIENTS_MANY} clients aggregate`,
        unit: "GB/s",
        referenceName: "nginx",
        reference: gbPerSecond(BIG_FILE_BYTES * CLIENTS_MANY, nginxMany),
        ours: gbPerSecond(BIG_FILE_BYTES * CLIENTS_MANY, oursMany),
        target: { kind: "ratio-at-least", value: 0.8 },
        anchor: "",
        note: `${oursMany.toFixed(2)} s vs ${nginxMany.toFixed(2)} s`,
      },
      {
        benchmark: "1 serve 1 GiB",
        metric: "server peak RSS (VmHWM)",
        unit: "MB",
        referenceName: "",
        reference: Number.NaN,
        ours: rssBytes / 1e6,
        target: { kind: "at-most", value: 150 },
        anchor: "",
      },
    ],
    raw: { secondsOneClient: one, secondsManyClients: many, clientsMany: CLIENTS_MANY, peakRssMiB: rssBytes / MIB, bytes: BIG_FILE_BYTES },
  };
}

export const serveBenchmark: Benchmark = { name: "serve", title: "serve throughput, 1 GiB hit", run };
