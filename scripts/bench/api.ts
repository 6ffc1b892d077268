// Benchmark 8: the JSON API with 100,000 artifacts. A data dir is seeded with 100k artifact rows
// (one transaction, through the real schema), dist/withcache serves it, and each round times
// (curl, a new connection each) the first page of /api/v1/artifacts (100 rows) for every sort,
// the page after it (with its cursor), a filtered page, and /healthz on the same server as the
// floor every answer pays. Target: a first page in under 50 ms.
import { Database } from "bun:sqlite";
import path from "node:path";
import { openCacheStore } from "../../src/store/store.ts";
import { runOk, startWithcache, tempDir } from "./harness.ts";
import { median } from "./stats.ts";
import type { Row } from "./stats.ts";
import type { BenchContext, BenchResult, Benchmark } from "./types.ts";

const ARTIFACTS = 100_000;
const SORTS = ["lastHit", "size", "hits", "fetchedAt", "url"] as const;
const TOKEN = "wc_benchbenchbenchbenchbenchbenchbenchbenchben";

export async function seedArtifacts(dataDir: string, count: number): Promise<void> {
  await openCacheStore(dataDir).close();
  const db = new Database(path.join(dataDir, "withcache.db"));
  const insert = db.query(
    "INSERT INTO artifacts (key, url, sha256, size_bytes, content_type, fetched_at_ms, hits, last_hit_ms) VALUES ($key, $key, $sha, $size, 'application/octet-stream', $fetched, $hits, $lastHit)",
  );
  db.transaction(() => {
    for (let i = 0; i < count; i += 1) {
      const key = `https://downloads-${i % 97}.vendor.example.com/releases/${Math.floor(i / 1000)}/package-${i}.tar.gz`;
      insert.run({ key, sha: new Bun.CryptoHasher("sha256").update(key).digest("hex"), size: 1000 + ((i * 7919) % 5_000_000), fetched: 1_700_000_000_000 + i * 1000, hits: (i * 31) % 500, lastHit: i % 3 === 0 ? null : 1_700_100_000_000 + i });
    }
  })();
  // A read token, stored as the API stores them (its sha256).
  db.query("INSERT INTO api_tokens (name, scope, token_sha256, hint, created_at_ms) VALUES ('bench', 'read', $sha, 'wc_benc…', 0)").run({ sha: new Bun.CryptoHasher("sha256").update(TOKEN).digest("hex") });
  db.close();
}

async function timed(url: string): Promise<{ seconds: number; body: string }> {
  const out = await runOk(["/usr/bin/curl", "-sS", "-f", "-H", `Authorization: Bearer ${TOKEN}`, "-w", "\n%{time_total}", url], { timeoutMs: 30_000 });
  const cut = out.lastIndexOf("\n");
  return { seconds: Number(out.slice(cut + 1)), body: out.slice(0, cut) };
}

async function run(ctx: BenchContext): Promise<BenchResult> {
  const dataDir = tempDir("data-api");
  const started = Date.now();
  await seedArtifacts(dataDir, ARTIFACTS);
  ctx.log(`api: seeded ${ARTIFACTS} artifacts in ${Date.now() - started} ms`);
  const server = await startWithcache({ label: "api", dataDir, args: [] });
  const samples: Record<string, number[]> = {};
  const push = (name: string, seconds: number) => (samples[name] ??= []).push(seconds * 1000);
  for (let round = 0; round < ctx.runs; round += 1) {
    push("healthz", (await timed(`${server.base}/healthz`)).seconds);
    for (const sort of SORTS) {
      const first = await timed(`${server.base}/api/v1/artifacts?sort=${sort}&limit=100`);
      const page = JSON.parse(first.body) as { items: unknown[]; nextCursor: string | null };
      if (page.items.length !== 100 || page.nextCursor === null) throw new Error(`api: first page by ${sort} has ${page.items.length} rows`);
      push(`first:${sort}`, first.seconds);
      push(`next:${sort}`, (await timed(`${server.base}/api/v1/artifacts?sort=${sort}&limit=100&cursor=${encodeURIComponent(page.nextCursor)}`)).seconds);
    }
    push("filter", (await timed(`${server.base}/api/v1/artifacts?filter=package-4242&limit=100`)).seconds);
    ctx.log(`api: round ${round + 1}/${ctx.runs}: first page by lastHit ${samples["first:lastHit"]!.at(-1)!.toFixed(1)} ms`);
  }
  const floor = median(samples["healthz"]!);
  const row = (metric: string, key: string): Row => ({
    benchmark: "api",
    metric,
    unit: "ms",
    referenceName: "/healthz (same server)",
    reference: floor,
    ours: median(samples[key]!),
    target: { kind: "at-most", value: 50 },
    anchor: "",
  });
  const rows: Row[] = [
    ...SORTS.map((sort) => row(`/api/v1/artifacts first page (100 of 100k), sort=${sort}`, `first:${sort}`)),
    ...SORTS.map((sort) => ({ ...row(`next page by cursor, sort=${sort}`, `next:${sort}`), target: { kind: "none" } as const })),
    { ...row("filtered page (substring scan of 100k URLs)", "filter"), target: { kind: "none" } },
  ];
  return { rows, raw: { artifacts: ARTIFACTS, samplesMs: samples } };
}

export const apiBenchmark: Benchmark = { name: "api", title: "JSON API with 100,000 artifacts", run };
