// Benchmark 6: revalidation (RFC 9111 freshness). A Bun origin in this process (127.0.0.1, port 0)
// serves the 1 GiB test file with `cache-control: max-age=1` and an ETag and answers 304 to a
// matching If-None-Match, counting every request and every body byte it answers with.
//   a) stale probe → hit: fill once, then each round wait until the copy is stale again (> 1 s)
//      and time `curl -I` on /b/<token>/<name> (one conditional request, a 304, then the hit)
//      against curl's own conditional GET of the origin (→ 304) in the same round, order flipped
//      every round; both are a new connection timed by curl. Also: origin body bytes meanwhile.
//   b) 64 concurrent HEAD probes of the one stale key: conditional requests the origin saw.
//   c) fresh-hit probe rate: the probe benchmark's `ab -i` on a fresh artifact (max-age=3600)
//      against nginx answering HEAD for the same 64 KiB file, so the two reports compare.
import fs from "node:fs";
import path from "node:path";
import type { AbReport } from "./ab.ts";
import { BIG_FILE_BYTES, bigFile, cpuMicros, runOk, seed, smallFile, startNginx, startWithcache, tailLog, warmPageCache, type Withcache } from "./harness.ts";
import { ab, CONCURRENCY, REQUESTS } from "./probe.ts";
import { formatNumber, median } from "./stats.ts";
import type { Row } from "./stats.ts";
import type { BenchContext, BenchResult, Benchmark } from "./types.ts";

/** Past the 1 s lifetime (max-age=1) and the 1 s in which a use counts as just validated. */
const STALE_WAIT_MS = 1200;
const HERD = 64;
/** Rounds of the ab part: the probe benchmark's default, whatever --runs says (ab is the slow part). */
const AB_ROUNDS_MAX = 5;
const BIG_ETAG = '"withcache-bench-1gib"';
const FRESH_ETAG = '"withcache-bench-64k"';
/** Marks the benchmark's own reference requests, so they are not counted as the cache's. */
const REFERENCE_HEADER = "x-withcache-bench-reference";

type Counts = { requests: number; conditional: number; notModified: number; full: number; bodyBytes: number };
const zero = (): Counts => ({ requests: 0, conditional: 0, notModified: 0, full: 0, bodyBytes: 0 });
function minus(a: Counts, b: Counts): Counts {
  return {
    requests: a.requests - b.requests,
    conditional: a.conditional - b.conditional,
    notModified: a.notModified - b.notModified,
    full: a.full - b.full,
    bodyBytes: a.bodyBytes - b.bodyBytes,
  };
}

type Origin = { base: string; counts: Counts; referenceCounts: Counts; stop: () => void };

/** The counting origin: /big.bin (1 GiB, max-age=1) and /fresh.bin (64 KiB, max-age=3600). */
function startOrigin(bigPath: string, freshPath: string): Origin {
  const routes: Record<string, { file: string; size: number; etag: string; cacheControl: string }> = {
    "/big.bin": { file: bigPath, size: fs.statSync(bigPath).size, etag: BIG_ETAG, cacheControl: "max-age=1" },
    "/fresh.bin": { file: freshPath, size: fs.statSync(freshPath).size, etag: FRESH_ETAG, cacheControl: "max-age=3600" },
  };
  const counts = zero();
  const referenceCounts = zero();
  const server = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    fetch(req) {
      const route = routes[new URL(req.url).pathname];
      if (!route) return new Response("not found\n", { status: 404 });
      const c = req.headers.get(REFERENCE_HEADER) === "1" ? referenceCounts : counts;
      c.requests++;
      const headers = { etag: route.etag, "cache-control": route.cacheControl };
      const ifNoneMatch = req.headers.get("if-none-match");
      if (ifNoneMatch !== null || req.headers.get("if-modified-since") !== null) c.conditional++;
      if (ifNoneMatch !== null && ifNoneMatch.split(",").some((tag) => [route.etag, `W/${route.etag}`, "*"].includes(tag.trim()))) {
        c.notModified++;
        return new Response(null, { status: 304, headers });
      }
      if (req.method === "HEAD") return new Response(null, { headers: { ...headers, "content-length": String(route.size) } });
      // Counted as offered (the whole Content-Length): an upper bound of what went on the wire.
      c.full++;
      c.bodyBytes += route.size;
      return new Response(Bun.file(route.file), { headers: { ...headers, "content-type": "application/octet-stream" } });
    },
  });
  return { base: `http://127.0.0.1:${server.port}`, counts, referenceCounts, stop: () => server.stop(true) };
}

/** One curl request on a new connection: status and curl's own time_total in ms. */
async function curlTimed(url: string, extra: string[]): Promise<{ status: number; ms: number }> {
  const out = await runOk(["/usr/bin/curl", "-sS", "-o", "/dev/null", "-w", "%{http_code} %{time_total}", ...extra, url], { timeoutMs: 10_000 });
  const [code, seconds] = out.trim().split(" ");
  return { status: Number(code), ms: Number(seconds) * 1000 };
}

/** 64 HEAD probes at once (Promise.all of fetch): statuses and the wall time until the last answered. */
async function herd(url: string): Promise<{ statuses: number[]; wallMs: number }> {
  const start = performance.now();
  const statuses = await Promise.all(
    Array.from({ length: HERD }, async () => {
      try {
        const response = await fetch(url, { method: "HEAD", signal: AbortSignal.timeout(5000), keepalive: false });
        await response.body?.cancel();
        return response.status;
      } catch {
        return 0;
      }
    }),
  );
  return { statuses, wallMs: performance.now() - start };
}

const max = (values: readonly number[]) => (values.length === 0 ? Number.NaN : Math.max(...values));

async function run(ctx: BenchContext): Promise<BenchResult> {
  const big = await bigFile();
  await warmPageCache(big);
  const fresh = smallFile(64 * 1024);
  const origin = startOrigin(big, fresh);
  try {
    const nginx = await startNginx(path.dirname(fresh), { label: "revalidate" });
    const server: Withcache = await startWithcache({ label: "revalidate" });
    const bigUrl = `${origin.base}/big.bin`;
    const freshUrl = `${origin.base}/fresh.bin`;
    const probeUrl = server.blobUrl(bigUrl);

    const fillStart = performance.now();
    await seed(server, bigUrl, { timeoutMs: 120_000 });
    const fillSeconds = (performance.now() - fillStart) / 1000;
    if (origin.counts.bodyBytes < BIG_FILE_BYTES) throw new Error(`the origin sent ${origin.counts.bodyBytes} body bytes for the fill; expected ${BIG_FILE_BYTES}`);
    await seed(server, freshUrl, { timeoutMs: 30_000 });
    ctx.log(`filled 1 GiB in ${fillSeconds.toFixed(2)} s (origin: ${origin.counts.requests} requests, ${origin.counts.bodyBytes} body bytes)`);
    const afterFill = { ...origin.counts };

    // a) stale probe → hit, against the origin's own conditional round trip.
    const probeMs: number[] = [];
    const originMs: number[] = [];
    const probeStatuses: number[] = [];
    const conditionalPerProbe: number[] = [];
    for (let round = 0; round < ctx.runs; round++) {
      await Bun.sleep(STALE_WAIT_MS);
      const sides = round % 2 === 0 ? (["origin", "withcache"] as const) : (["withcache", "origin"] as const);
      for (const side of sides) {
        if (side === "origin") {
          const r = await curlTimed(bigUrl, ["-H", `if-none-match: ${BIG_ETAG}`, "-H", `${REFERENCE_HEADER}: 1`]);
          if (r.status !== 304) throw new Error(`origin answered ${r.status} to a matching If-None-Match; expected 304`);
          originMs.push(r.ms);
        } else {
          const before = { ...origin.counts };
          const r = await curlTimed(probeUrl, ["-I"]);
          probeMs.push(r.ms);
          probeStatuses.push(r.status);
          conditionalPerProbe.push(origin.counts.conditional - before.conditional);
        }
      }
      ctx.log(
        `stale round ${round + 1}/${ctx.runs}: probe ${probeStatuses.at(-1)} in ${probeMs.at(-1)!.toFixed(2)} ms ` +
          `(${conditionalPerProbe.at(-1)} conditional), origin 304 in ${originMs.at(-1)!.toFixed(2)} ms`,
      );
    }

    // b) 64 concurrent probes of the one stale key.
    const herdConditional: number[] = [];
    const herdHits: number[] = [];
    const herdWallMs: number[] = [];
    for (let round = 0; round < ctx.runs; round++) {
      await Bun.sleep(STALE_WAIT_MS);
      const before = { ...origin.counts };
      const result = await herd(probeUrl);
      await Bun.sleep(50); // a (wrong) second revalidation started by a late probe would land here
      herdConditional.push(origin.counts.conditional - before.conditional);
      herdHits.push(result.statuses.filter((s) => s === 200).length);
      herdWallMs.push(result.wallMs);
      const others = result.statuses.filter((s) => s !== 200);
      ctx.log(
        `herd round ${round + 1}/${ctx.runs}: ${herdConditional.at(-1)} conditional request(s), ${herdHits.at(-1)}/${HERD} hits` +
          `${others.length > 0 ? ` (others: ${[...new Set(others)].join(", ")})` : ""}, all answered in ${result.wallMs.toFixed(1)} ms`,
      );
    }
    const duringRevalidation = minus(origin.counts, afterFill);

    // c) fresh-hit probe rate, the probe benchmark's way.
    const abRounds = Math.min(ctx.runs, AB_ROUNDS_MAX);
    const urls = { nginx: nginx.url(path.basename(fresh)), fresh: server.blobUrl(freshUrl) };
    const samples: Record<string, AbReport[]> = {};
    const cpuPerRequestUs: Record<string, number[]> = {};
    const freshBefore = { ...origin.counts };
    for (const concurrency of CONCURRENCY) {
      for (let round = 0; round < abRounds; round++) {
        const order = round % 2 === 0 ? (["nginx", "fresh"] as const) : (["fresh", "nginx"] as const);
        for (const side of order) {
          const pid = side === "fresh" ? server.child.proc.pid : undefined;
          const cpuBefore = pid === undefined ? Number.NaN : cpuMicros(pid);
          const report = await ab(urls[side], concurrency);
          (samples[`${side}@${concurrency}`] ??= []).push(report);
          if (pid !== undefined) (cpuPerRequestUs[`${side}@${concurrency}`] ??= []).push((cpuMicros(pid) - cpuBefore) / REQUESTS);
        }
        ctx.log(
          `fresh c=${concurrency} round ${round + 1}/${abRounds}: ` +
            order.map((side) => `${side} ${Math.round(samples[`${side}@${concurrency}`]!.at(-1)!.requestsPerSecond)}/s`).join(", "),
        );
      }
    }
    const freshOriginRequests = origin.counts.requests - freshBefore.requests;
    if (freshOriginRequests > 0) ctx.log(`warning: the origin saw ${freshOriginRequests} request(s) during the fresh-hit runs`);

    const misses = probeStatuses.filter((s) => s !== 200).length;
    const notRevalidated = conditionalPerProbe.filter((n) => n !== 1).length;
    const probeNote = [
      misses > 0 ? `${misses}/${probeStatuses.length} not 200` : "",
      notRevalidated > 0 ? `${notRevalidated} probe(s) without exactly 1 conditional request` : "",
    ]
      .filter(Boolean)
      .join(", ");
    // The worst round decides: more than one request is a thundering herd, none means nothing was revalidated.
    const herdWorst = herdConditional.find((n) => n !== 1) ?? 1;
    const rows: Row[] = [
      {
        benchmark: "6 revalidate 1 GiB",
        metric: "stale probe → hit (304), p50",
        unit: "ms",
        referenceName: "origin 304 round trip",
        reference: median(originMs),
        ours: median(probeMs),
        target: { kind: "added-at-most", value: 5 },
        anchor: "",
        note: probeNote || `${probeMs.length} probes`,
      },
      {
        benchmark: "6 revalidate 1 GiB",
        metric: "stale probe → hit (304), max",
        unit: "ms",
        referenceName: "origin 304 round trip",
        reference: max(originMs),
        ours: max(probeMs),
        target: { kind: "added-at-most", value: 5 },
        anchor: "",
      },
      {
        benchmark: "6 revalidate 1 GiB",
        metric: "origin body bytes during revalidations",
        unit: "B",
        referenceName: "",
        reference: Number.NaN,
        ours: duringRevalidation.bodyBytes,
        target: { kind: "at-most", value: 0 },
        anchor: "",
        note: `${duringRevalidation.conditional} conditional requests, ${duringRevalidation.notModified} answered 304, ${duringRevalidation.full} full bodies`,
      },
      {
        benchmark: "6 revalidate 1 GiB",
        metric: `${HERD} concurrent probes of one stale key: conditional requests`,
        unit: "req",
        referenceName: "",
        reference: Number.NaN,
        ours: herdWorst,
        target: { kind: "exactly", value: 1 },
        anchor: "",
        note: `per round ${herdConditional.join(",")}; ${herdHits.reduce((a, b) => a + b, 0)}/${HERD * herdHits.length} hits; all answered in ${formatNumber(median(herdWallMs), 1)} ms (median)`,
      },
    ];
    for (const concurrency of CONCURRENCY) {
      const reports = (side: string) => samples[`${side}@${concurrency}`]!;
      const failed = reports("fresh").reduce((sum, r) => sum + r.failed + r.non2xx, 0);
      rows.push({
        benchmark: "6 revalidate 1 GiB",
        metric: `fresh hit (max-age=3600) HEAD, ${concurrency} conns`,
        unit: "req/s",
        referenceName: "nginx",
        reference: median(reports("nginx").map((r) => r.requestsPerSecond)),
        ours: median(reports("fresh").map((r) => r.requestsPerSecond)),
        target: { kind: "ratio-at-least", value: 0.5 },
        anchor: "",
        note:
          `server cpu ${Math.round(median(cpuPerRequestUs[`fresh@${concurrency}`] ?? []))} µs/req, ` +
          `p99 ${formatNumber(median(reports("fresh").map((r) => r.p99Ms)), 0)} ms vs nginx ${formatNumber(median(reports("nginx").map((r) => r.p99Ms)), 0)} ms` +
          (failed > 0 ? `, ${failed} failed or non-2xx` : ""),
      });
    }
    return {
      rows,
      raw: {
        staleWaitMs: STALE_WAIT_MS,
        fillSeconds,
        probeMs,
        originMs,
        probeStatuses,
        conditionalPerProbe,
        herd: { size: HERD, conditional: herdConditional, hits: herdHits, wallMs: herdWallMs },
        originDuringRevalidation: duringRevalidation,
        originTotal: origin.counts,
        originReference: origin.referenceCounts,
        abRounds,
        requestsPerRun: REQUESTS,
        samples,
        cpuPerRequestUs,
        serverLogTail: misses > 0 || herdWorst !== 1 ? tailLog(server.child, 30) : undefined,
      },
    };
  } finally {
    origin.stop();
  }
}

export const revalidateBenchmark: Benchmark = { name: "revalidate", title: "revalidation of a stale 1 GiB artifact (304)", run };
