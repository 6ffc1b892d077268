// Benchmark 2: probe rate. `ab -i` (HEAD, a new connection per request, like a shim) on
// /b/<token>/<name> for a hit and for a miss, at 16 and 64 connections, vs nginx answering HEAD
// for a static file. The miss case runs against a second server started with --curate so a miss
// only records the miss and never queues a fetch (otherwise the first miss would turn into a hit).
import path from "node:path";
import { parseAb, type AbReport } from "./ab.ts";
import { cpuMicros, freePort, httpStatus, logsDir, pollUntil, runOk, seed, smallFile, startChild, startNginx, startWithcache } from "./harness.ts";
import { formatNumber, median } from "./stats.ts";
import type { Row } from "./stats.ts";
import type { BenchContext, BenchResult, Benchmark } from "./types.ts";

export const REQUESTS = 20_000;
export const CONCURRENCY = [16, 64] as const;

/** One `ab -i` run (HEAD, a new connection per request); shared with the revalidate benchmark. */
export async function ab(url: string, concurrency: number): Promise<AbReport> {
  // -r: keep going on socket receive errors (counted as failures instead of aborting the run).
  const out = await runOk(["/usr/bin/ab", "-i", "-r", "-q", "-s", "10", "-n", String(REQUESTS), "-c", String(concurrency), url], {
    timeoutMs: 180_000,
  });
  const report = parseAb(out);
  if (!Number.isFinite(report.requestsPerSecond)) throw new Error(`ab ${url}: could not parse the report:\n${out.slice(0, 2000)}`);
  return report;
}

type Side = "nginx" | "hit" | "miss" | "floor";

async function run(ctx: BenchContext): Promise<BenchResult> {
  const file = smallFile(64 * 1024);
  const nginx = await startNginx(path.dirname(file), { label: "probe" });
  const originUrl = nginx.url(path.basename(file));
  const auto = await startWithcache({ label: "probe-auto" });
  await seed(auto, originUrl, { timeoutMs: 30_000 });
  const curate = await startWithcache({ label: "probe-curate", args: ["--curate", "--allow-private-origins"] });
  const floorPort = freePort();
  const floor = startChild("bun-floor", [process.execPath, path.join(import.meta.dir, "floor-server.ts"), file, String(floorPort)], { logDir: logsDir() });
  const floorUrl = `http://127.0.0.1:${floorPort}${auto.blobUrl(originUrl).slice(auto.base.length)}`;
  await pollUntil("the bun floor server", async () => ((await httpStatus(floorUrl)) === 200 ? true : undefined), { timeoutMs: 10_000, intervalMs: 20 });
  const urls: Record<Side, string> = {
    nginx: originUrl,
    hit: auto.blobUrl(originUrl),
    miss: curate.blobUrl(nginx.url("never-cached.bin")),
    floor: floorUrl,
  };

  const samples: Record<string, AbReport[]> = {};
  // Server CPU per request: steadier than requests/s on a shared machine, and what a fix moves.
  const cpuPerRequestUs: Record<string, number[]> = {};
  const pidOf: Record<Side, number | undefined> = { nginx: undefined, hit: auto.child.proc.pid, miss: curate.child.proc.pid, floor: floor.proc.pid };
  for (const concurrency of CONCURRENCY) {
    for (let round = 0; round < ctx.runs; round++) {
      const order: Side[] = round % 2 === 0 ? ["nginx", "hit", "miss", "floor"] : ["floor", "miss", "hit", "nginx"];
      for (const side of order) {
        const pid = pidOf[side];
        const cpuBefore = pid === undefined ? Number.NaN : cpuMicros(pid);
        const report = await ab(urls[side], concurrency);
        (samples[`${side}@${concurrency}`] ??= []).push(report);
        if (pid !== undefined) (cpuPerRequestUs[`${side}@${concurrency}`] ??= []).push((cpuMicros(pid) - cpuBefore) / REQUESTS);
      }
      ctx.log(
        `c=${concurrency} round ${round + 1}/${ctx.runs}: ` +
          order.map((side) => `${side} ${Math.round(samples[`${side}@${concurrency}`]!.at(-1)!.requestsPerSecond)}/s`).join(", "),
      );
    }
  }

  const rows: Row[] = [];
  for (const concurrency of CONCURRENCY) {
    const rps = (side: Side) => median(samples[`${side}@${concurrency}`]!.map((r) => r.requestsPerSecond));
    const p99 = (side: Side) => median(samples[`${side}@${concurrency}`]!.map((r) => r.p99Ms));
    const cpu = (side: Side) => median(cpuPerRequestUs[`${side}@${concurrency}`] ?? []);
    const failures = (side: Side) => samples[`${side}@${concurrency}`]!.reduce((sum, r) => sum + r.failed, 0);
    for (const side of ["hit", "miss"] as const) {
      const failed = failures(side);
      rows.push({
        benchmark: "2 probe HEAD",
        metric: `${side}, ${concurrency} conns`,
        unit: "req/s",
        referenceName: "nginx",
        reference: rps("nginx"),
        ours: rps(side),
        target: { kind: "ratio-at-least", value: 0.5 },
        anchor: concurrency === 16 && side === "hit" ? "1,339/s vs nginx 36,455/s" : "",
        note: `server cpu ${Math.round(cpu(side))} µs/req${failed > 0 ? `, ${failed} failed` : ""}`,
      });
      rows.push({
        benchmark: "2 probe HEAD",
        metric: `${side} p99, ${concurrency} conns`,
        unit: "ms",
        referenceName: "nginx",
        reference: p99("nginx"),
        ours: p99(side),
        target: { kind: "at-most", value: 5 },
        anchor: concurrency === 16 && side === "hit" ? "p99 24 ms (worst 1.4 s) vs nginx 1 ms" : "",
      });
    }
    rows.push({
      benchmark: "2 probe HEAD",
      metric: `bare Bun.serve floor (context), ${concurrency} conns`,
      unit: "req/s",
      referenceName: "nginx",
      reference: rps("nginx"),
      ours: rps("floor"),
      target: { kind: "none" },
      anchor: "",
      note: `server cpu ${Math.round(cpu("floor"))} µs/req, p99 ${formatNumber(p99("floor"), 0)} ms`,
    });
  }
  return { rows, raw: { requestsPerRun: REQUESTS, samples, cpuPerRequestUs } };
}

export const probeBenchmark: Benchmark = { name: "probe", title: "probe rate, HEAD with ab -i", run };
