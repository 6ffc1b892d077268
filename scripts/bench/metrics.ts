// Benchmark 9: Prometheus /metrics. (a) Probe rate with metrics on vs off: two servers on one
// seeded data dir layout, the same hit probed with `ab -i` (HEAD, a new connection per request) at
// 64 connections, while a scraper GETs /metrics of the "on" server every 100 ms (10x a fast
// Prometheus); target ≥ 0.97x. (b) Scrape time with 100,000 artifacts (curl, a new connection
// each) against /healthz on the same server; target < 50 ms.
import { ab } from "./probe.ts";
import { seedArtifacts } from "./api.ts";
import { cpuMicros, runOk, seed, startWithcache, stopChild, tempDir } from "./harness.ts";
import { median } from "./stats.ts";
import type { Row } from "./stats.ts";
import type { BenchContext, BenchResult, Benchmark } from "./types.ts";

const ARTIFACTS = 100_000;
const PROBE_CONCURRENCY = 64;
const SCRAPE_EVERY_MS = 100;

async function curlMs(url: string): Promise<{ ms: number; body: string }> {
  const out = await runOk(["/usr/bin/curl", "-sS", "-f", "-w", "\n%{time_total}", url], { timeoutMs: 30_000 });
  const cut = out.lastIndexOf("\n");
  return { ms: Number(out.slice(cut + 1)) * 1000, body: out.slice(0, cut) };
}

async function run(ctx: BenchContext): Promise<BenchResult> {
  // A small origin in this process: it is asked once per server (the seeding fill).
  const body = new Uint8Array(64 * 1024).fill(7);
  const origin = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: () => new Response(body) });
  const originUrl = `http://127.0.0.1:${origin.port}/tool.bin`;
  try {
    // (b) first: the scrape at 100k artifacts.
    const dataDir = tempDir("data-metrics-100k");
    const seededAt = Date.now();
    await seedArtifacts(dataDir, ARTIFACTS);
    ctx.log(`seeded ${ARTIFACTS} artifacts in ${Date.now() - seededAt} ms`);
    const big = await startWithcache({ label: "metrics-100k", dataDir, args: [] });
    const scrapeMs: number[] = [];
    const healthMs: number[] = [];
    for (let round = 0; round < ctx.runs; round++) {
      for (let i = 0; i < 10; i++) {
        healthMs.push((await curlMs(`${big.base}/healthz`)).ms);
        const s = await curlMs(`${big.base}/metrics`);
        if (!s.body.includes(`withcache_artifacts ${ARTIFACTS}`)) throw new Error(`metrics: the scrape does not count ${ARTIFACTS} artifacts`);
        scrapeMs.push(s.ms);
      }
      ctx.log(`round ${round + 1}/${ctx.runs}: scrape ${median(scrapeMs).toFixed(2)} ms (healthz ${median(healthMs).toFixed(2)} ms)`);
    }
    await stopChild(big.child);

    // (a) probes, metrics on (and scraped) vs off.
    const on = await startWithcache({ label: "metrics-on", args: ["--allow-private-origins", "--metrics", "on"] });
    const off = await startWithcache({ label: "metrics-off", args: ["--allow-private-origins", "--metrics", "off"] });
    await seed(on, originUrl, { timeoutMs: 30_000 });
    await seed(off, originUrl, { timeoutMs: 30_000 });
    const rate: Record<"on" | "off", number[]> = { on: [], off: [] };
    const cpuUs: Record<"on" | "off", number[]> = { on: [], off: [] };
    let scrapes = 0;
    for (let round = 0; round < ctx.runs; round++) {
      for (const side of round % 2 === 0 ? (["on", "off"] as const) : (["off", "on"] as const)) {
        const server = side === "on" ? on : off;
        let scraping = side === "on";
        const scraper = (async () => {
          while (scraping) {
            await fetch(`${on.base}/metrics`).then((r) => r.text());
            scrapes += 1;
            await Bun.sleep(SCRAPE_EVERY_MS);
          }
        })();
        const cpuBefore = cpuMicros(server.child.proc.pid);
        const report = await ab(server.blobUrl(originUrl), PROBE_CONCURRENCY);
        cpuUs[side].push((cpuMicros(server.child.proc.pid) - cpuBefore) / report.completed);
        scraping = false;
        await scraper;
        if (report.failed > 0 || report.non2xx > 0) throw new Error(`metrics: ab against metrics ${side}: ${report.failed} failed, ${report.non2xx} non-2xx`);
        rate[side].push(report.requestsPerSecond);
      }
      ctx.log(`round ${round + 1}/${ctx.runs}: probes ${rate.on.at(-1)!.toFixed(0)}/s on vs ${rate.off.at(-1)!.toFixed(0)}/s off`);
    }
    const rows: Row[] = [
      {
        benchmark: "metrics",
        metric: `probe HEAD hit, ${PROBE_CONCURRENCY} conns, metrics on (scraped every ${SCRAPE_EVERY_MS} ms) vs off`,
        unit: "req/s",
        referenceName: "--metrics off",
        reference: median(rate.off),
        ours: median(rate.on),
        target: { kind: "ratio-at-least", value: 0.97 },
        anchor: "",
        note: `server cpu ${median(cpuUs.on).toFixed(1)} vs ${median(cpuUs.off).toFixed(1)} µs/req`,
      },
      {
        benchmark: "metrics",
        metric: `/metrics scrape, ${ARTIFACTS.toLocaleString("en")} artifacts`,
        unit: "ms",
        referenceName: "/healthz (same server)",
        reference: median(healthMs),
        ours: median(scrapeMs),
        target: { kind: "at-most", value: 50 },
        anchor: "",
      },
    ];
    return { rows, raw: { artifacts: ARTIFACTS, scrapeMs, healthMs, rate, cpuUs, scrapes } };
  } finally {
    origin.stop(true);
  }
}

export const metricsBenchmark: Benchmark = { name: "metrics", title: "Prometheus /metrics: probe rate on vs off, scrape at 100,000 artifacts", run };
