// Benchmark 11: a hit on a cache-host over PostgreSQL + S3 vs the embedded default. Probe rate and
// p99 of HEAD /b/<token>/<name> on a stored artifact (`ab -i`, 16 connections, as benchmark 2),
// same binary, same machine, same run. Target (issue 13): ≥ 0.8× the embedded rate, p99 < 5 ms.
// A replica answers probes from its in-memory view of the rows, so the database is not on the path;
// this measures that it stays off it. Then 2 replicas vs 1: 16 clients probing two different hits,
// all on one replica or split over two (reported without a target: on 2 cores shared by both
// replicas, PostgreSQL, versitygw and the clients, the ratio says nothing about a fleet).
// PostgreSQL is started the way the tests start it (test/helpers/postgres.ts).
import path from "node:path";
import { startPostgres } from "../../test/helpers/postgres.ts";
import { seed, smallFile, startNginx, startWithcache } from "./harness.ts";
import { ab } from "./probe.ts";
import { KEY_ID, makeBucket, REGION, SECRET, startVersitygw } from "./s3.ts";
import { median, type Row } from "./stats.ts";
import type { AbReport } from "./ab.ts";
import type { BenchContext, BenchResult, Benchmark } from "./types.ts";

const CONNECTIONS = 16;

async function run(ctx: BenchContext): Promise<BenchResult> {
  const file = smallFile(64 * 1024);
  const nginx = await startNginx(path.dirname(file), { label: "replicas" });
  const originUrl = nginx.url(path.basename(file));
  const pg = await startPostgres();
  try {
    const { endpoint } = await startVersitygw();
    await makeBucket(endpoint, "bench-replicas");
    const embedded = await startWithcache({ label: "replicas-embedded" });
    const shared = {
      WITHCACHE_DATABASE: pg.url,
      WITHCACHE_BLOB_STORE: "s3://bench-replicas/cache",
      AWS_ENDPOINT_URL: endpoint,
      AWS_ACCESS_KEY_ID: KEY_ID,
      AWS_SECRET_ACCESS_KEY: SECRET,
      AWS_REGION: REGION,
    };
    const replica = await startWithcache({ label: "replicas-pg-s3", envExtra: shared });
    const second = await startWithcache({ label: "replicas-pg-s3-second", envExtra: shared });
    await seed(embedded, originUrl, { timeoutMs: 30_000 });
    await seed(replica, originUrl, { timeoutMs: 30_000 });
    const samples: Record<"embedded" | "replica", AbReport[]> = { embedded: [], replica: [] };
    for (let round = 0; round < ctx.runs; round++) {
      const order = round % 2 === 0 ? (["embedded", "replica"] as const) : (["replica", "embedded"] as const);
      for (const side of order) samples[side].push(await ab((side === "embedded" ? embedded : replica).blobUrl(originUrl), CONNECTIONS));
      ctx.log(`round ${round + 1}/${ctx.runs}: embedded ${Math.round(samples.embedded.at(-1)!.requestsPerSecond)}/s, pg+s3 ${Math.round(samples.replica.at(-1)!.requestsPerSecond)}/s`);
    }
    // 2 replicas vs 1: 16 clients probing two different hits (8 each), all on one replica or
    // split over both. The second replica serves rows and objects the first one filled.
    const otherUrl = nginx.url(path.basename(smallFile(64 * 1024 + 1)));
    await seed(replica, otherUrl, { timeoutMs: 30_000 });
    for (const u of [originUrl, otherUrl]) for (let i = 0; i < 3; i++) await fetch(second.blobUrl(u)).then((r) => r.arrayBuffer());
    const together = async (urls: [string, string]): Promise<number> =>
      (await Promise.all(urls.map((u) => ab(u, CONNECTIONS / 2)))).reduce((sum, r) => sum + r.requestsPerSecond, 0);
    const split: Record<"one" | "two", number[]> = { one: [], two: [] };
    for (let round = 0; round < ctx.runs; round++) {
      split.one.push(await together([replica.blobUrl(originUrl), replica.blobUrl(otherUrl)]));
      split.two.push(await together([replica.blobUrl(originUrl), second.blobUrl(otherUrl)]));
      ctx.log(`round ${round + 1}/${ctx.runs}: 16 clients on 1 replica ${Math.round(split.one.at(-1)!)}/s, on 2 replicas ${Math.round(split.two.at(-1)!)}/s`);
    }
    const rps = (side: "embedded" | "replica") => median(samples[side].map((r) => r.requestsPerSecond));
    const p99 = (side: "embedded" | "replica") => median(samples[side].map((r) => r.p99Ms));
    const rows: Row[] = [
      {
        benchmark: "11 replica probe",
        metric: `hit on PostgreSQL+S3, ${CONNECTIONS} conns`,
        unit: "req/s",
        referenceName: "embedded",
        reference: rps("embedded"),
        ours: rps("replica"),
        target: { kind: "ratio-at-least", value: 0.8 },
        anchor: "",
      },
      {
        benchmark: "11 replica probe",
        metric: `hit p99 on PostgreSQL+S3, ${CONNECTIONS} conns`,
        unit: "ms",
        referenceName: "embedded",
        reference: p99("embedded"),
        ours: p99("replica"),
        target: { kind: "at-most", value: 5 },
        anchor: "",
      },
      {
        benchmark: "11 replicas 2 vs 1",
        metric: `${CONNECTIONS} clients, two different hits (HEAD): on 2 replicas vs 1`,
        unit: "req/s",
        referenceName: "1 replica",
        reference: median(split.one),
        ours: median(split.two),
        target: { kind: "none" },
        anchor: "",
        note: "both replicas, PostgreSQL, versitygw and ab share the same 2 cores: says nothing about a fleet",
      },
    ];
    return { rows, raw: { samples, split } };
  } finally {
    await pg.stop();
  }
}

export const replicasBenchmark: Benchmark = { name: "replicas", title: "a hit on a PostgreSQL+S3 replica vs embedded", run };
