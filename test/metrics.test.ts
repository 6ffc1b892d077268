// Prometheus /metrics against the real server, a real origin and real curl: every scrape is parsed
// by the reference parser (prometheus_client, installed by scripts/setup --test into
// .tools/python); a cold miss and a hit move the counters by exactly what they did; no label
// carries a URL or host; the token and off modes; and scrapes do not disturb probe latency.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { resolve } from "node:path";
import { encodeToken } from "../src/core/token.ts";
import { makeTempDir, pollUntil, REPO_ROOT, run, spawnServer, startOrigin, startTestServer, type Origin, type TestServer } from "./helpers/index.ts";

const SIZE = 12_345;
const BODY = new Uint8Array(SIZE).map((_, i) => (i * 31) % 251);
/** What must never appear in a label: it is in the origin URL we ask for. */
const SECRET_PATH = "releases/s3cr3t-build";
const SECRET_QUERY = "Signature=abcdef0123";

type Sample = { name: string; labels: Record<string, string>; value: number };
type Scrape = { families: Array<{ name: string; type: string }>; samples: Sample[]; text: string };

const PARSER = `
import json, sys
from prometheus_client.parser import text_string_to_metric_families
out = {"families": [], "samples": []}
for f in text_string_to_metric_families(sys.stdin.read()):
    out["families"].append({"name": f.name, "type": f.type})
    for s in f.samples:
        out["samples"].append({"name": s.name, "labels": s.labels, "value": s.value})
print(json.dumps(out))
`;

/** The exposition parsed by prometheus_client; a parse error fails the test. */
async function parse(text: string): Promise<Scrape> {
  const proc = Bun.spawn(["python3", "-c", PARSER], {
    stdin: new TextEncoder().encode(text),
    stdout: "pipe",
    stderr: "pipe",
    env: { ...process.env, PYTHONPATH: resolve(REPO_ROOT, ".tools/python") },
  });
  const [out, err, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  if (code !== 0) throw new Error(`prometheus_client could not parse the scrape: ${err.trim().split("\n").pop()}`);
  return { ...(JSON.parse(out) as Omit<Scrape, "text">), text };
}

/** One scrape with real curl, parsed. */
async function scrape(base: string, headers: string[] = []): Promise<Scrape> {
  const r = await run(["/usr/bin/curl", "-sS", "-f", ...headers.flatMap((h) => ["-H", h]), `${base}/metrics`]);
  expect(r.exitCode).toBe(0);
  return parse(r.stdout);
}

function value(s: Scrape, name: string, labels: Record<string, string> = {}): number {
  const found = s.samples.filter((x) => x.name === name && Object.entries(labels).every(([k, v]) => x.labels[k] === v));
  if (found.length === 0) throw new Error(`no sample ${name} ${JSON.stringify(labels)}`);
  return found.reduce((n, x) => n + x.value, 0);
}

async function curl(args: string[]): Promise<string> {
  return (await run(["/usr/bin/curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", ...args])).stdout;
}

let origin: Origin;
beforeAll(() => {
  origin = startOrigin(() => new Response(BODY, { headers: { "content-type": "application/octet-stream", "cache-control": "max-age=3600" } }));
});
afterAll(async () => {
  await origin.stop();
});

describe("/metrics (--metrics on, the default)", () => {
  let s: TestServer;
  beforeAll(async () => {
    s = await startTestServer();
  });
  afterAll(async () => {
    await s.stop();
  });

  test("a cold miss then a hit move hits, misses, bytes and fills by exactly what happened; no label names a URL or host", async () => {
    const url = `${origin.url}/${SECRET_PATH}/tool.tar.gz?${SECRET_QUERY}`;
    const blob = `${s.url}/b/${encodeToken(url)}/tool.tar.gz`;
    const before = await scrape(s.url);
    expect(before.families.map((f) => f.name)).toEqual(expect.arrayContaining(["withcache_requests", "withcache_hits", "withcache_fills", "withcache_request_duration_seconds", "withcache_build_info"]));
    expect(value(before, "withcache_build_info", { version: s.running.ctx.version })).toBe(1);

    expect(await curl([blob])).toBe("404"); // the miss queues the fill (--first-byte-wait 0 in tests)
    const filled = await pollUntil(async () => {
      const m = await scrape(s.url);
      return value(m, "withcache_fills_total", { outcome: "completed" }) === 1 ? m : null;
    }, { what: "fills_total{outcome=completed} to reach 1" });
    expect(value(filled, "withcache_artifacts")).toBe(1);
    expect(value(filled, "withcache_stored_bytes")).toBe(SIZE);
    expect(value(filled, "withcache_origin_fetched_bytes_total")).toBe(SIZE);
    expect(value(filled, "withcache_fill_queue_depth")).toBe(0);

    expect(await curl(["-I", blob])).toBe("200"); // a probe: counts no hit (its GET does)
    expect(await curl([blob])).toBe("200");
    const after = await scrape(s.url);
    const delta = (name: string, labels: Record<string, string> = {}) => value(after, name, labels) - value(before, name, labels);
    expect(delta("withcache_hits_total")).toBe(1);
    expect(delta("withcache_misses_total")).toBe(1);
    expect(delta("withcache_cache_served_bytes_total")).toBe(SIZE);
    expect(delta("withcache_origin_fetched_bytes_total")).toBe(SIZE);
    expect(delta("withcache_fills_total", { outcome: "completed" })).toBe(1);
    expect(delta("withcache_fills_total", { outcome: "failed" })).toBe(0);
    expect(delta("withcache_requests_total", { route: "blob", status_class: "4xx" })).toBe(1);
    expect(delta("withcache_requests_total", { route: "blob", status_class: "2xx" })).toBe(1);
    expect(delta("withcache_requests_total", { route: "probe", status_class: "2xx" })).toBe(1);
    expect(delta("withcache_request_duration_seconds_count", { route: "blob" })).toBe(2);
    expect(delta("withcache_request_duration_seconds_count", { route: "probe" })).toBe(1);
    expect(value(after, "withcache_request_duration_seconds_bucket", { route: "probe", le: "+Inf" })).toBe(value(after, "withcache_request_duration_seconds_count", { route: "probe" }));
    // Scrapes count too, under their own class (the earlier ones, not the one being answered).
    expect(value(after, "withcache_requests_total", { route: "metrics", status_class: "2xx" })).toBeGreaterThanOrEqual(2);
    expect(value(after, "withcache_disk_free_bytes")).toBeGreaterThan(0);
    expect(value(after, "process_resident_memory_bytes")).toBeGreaterThan(1_000_000);
    expect(value(after, "withcache_uptime_seconds")).toBeGreaterThanOrEqual(0);

    for (const sample of [...before.samples, ...filled.samples, ...after.samples]) {
      for (const v of Object.values(sample.labels)) {
        expect(v).not.toContain("://");
        expect(v).not.toContain(`${origin.port}`);
        expect(v).not.toContain("127.0.0.1");
        expect(v).not.toContain("s3cr3t");
        expect(v).not.toContain("Signature");
        expect(v).not.toContain("tool.tar.gz");
      }
    }
    expect(after.text).not.toContain("s3cr3t");
    expect(after.text).not.toContain(`:${origin.port}`);
  }, 30_000);

  test("HEAD answers the headers only; other methods 405; a token in the query string 400 (also when nothing needs one)", async () => {
    const head = await run(["/usr/bin/curl", "-sS", "-I", `${s.url}/metrics`]);
    expect(head.stdout).toMatch(/^HTTP\/1\.1 200/);
    expect(head.stdout.toLowerCase()).toContain("content-type: text/plain; version=0.0.4; charset=utf-8");
    expect(head.stdout.toLowerCase()).toContain("x-content-type-options: nosniff");
    // /healthz (it may quote database or bucket error text) and JSON errors are never sniffed either.
    for (const accept of ["*/*", "application/json"]) {
      const health = await fetch(`${s.url}/healthz`, { headers: { accept } });
      expect(health.headers.get("x-content-type-options"), accept).toBe("nosniff");
      const notFound = await fetch(`${s.url}/%3Cscript%3E`, { headers: { accept } });
      expect(notFound.status).toBe(404);
      expect(notFound.headers.get("x-content-type-options"), accept).toBe("nosniff");
    }
    expect(await curl(["-X", "POST", `${s.url}/metrics`])).toBe("405");
    const q = await run(["/usr/bin/curl", "-sS", "-w", "\n%{http_code}", `${s.url}/metrics?token=wc_x`]);
    expect(q.stdout).toBe('/metrics: tokens are accepted only in the Authorization header ("Authorization: Bearer wc_…"), never in the query string\n\n400');
  });
});

describe("revalidations and evictions", () => {
  test("a stale copy revalidated with a 304 counts not-modified; a fill past --max-cache-size counts its eviction and bytes", async () => {
    const etagOrigin = startOrigin((req) => {
      if (req.headers.get("if-none-match") === '"v1"') return new Response(null, { status: 304, headers: { etag: '"v1"', "cache-control": "no-cache" } });
      // Other bytes per path: two paths with one body would share one blob (and fit the cap).
      const body = new URL(req.url).pathname === "/a.bin" ? BODY : BODY.slice().reverse();
      return new Response(body, { headers: { etag: '"v1"', "cache-control": "no-cache", "content-type": "application/octet-stream" } });
    });
    const s = await startTestServer({ maxCacheBytes: Math.floor(SIZE * 1.5) });
    try {
      const first = `${s.url}/b/${encodeToken(`${etagOrigin.url}/a.bin`)}/a.bin`;
      expect(await curl([first])).toBe("404");
      await pollUntil(async () => value(await scrape(s.url), "withcache_fills_total", { outcome: "completed" }) === 1, { what: "the first fill" });
      // no-cache: a use revalidates once the fill's own validation has aged past VALIDATED_USE_MS;
      // the origin's 304 keeps the copy.
      const revalidated = await pollUntil(async () => {
        expect(await curl([first])).toBe("200");
        const m = await scrape(s.url);
        return value(m, "withcache_revalidations_total", { result: "not-modified" }) >= 1 ? m : null;
      }, { what: "revalidations_total{result=not-modified}", intervalMs: 250 });
      expect(value(revalidated, "withcache_revalidations_total", { result: "changed" })).toBe(0);
      expect(value(revalidated, "withcache_evictions_total")).toBe(0);

      const second = `${s.url}/b/${encodeToken(`${etagOrigin.url}/b.bin`)}/b.bin`;
      expect(await curl([second])).toBe("404");
      const evicted = await pollUntil(async () => {
        const m = await scrape(s.url);
        return value(m, "withcache_evictions_total") === 1 ? m : null;
      }, { what: "evictions_total to reach 1" }).catch((err) => {
        throw new Error(`${err.message}\n${s.logs.filter((l) => !l.includes("/metrics")).slice(-8).join("\n")}`);
      });
      expect(value(evicted, "withcache_evicted_bytes_total")).toBe(SIZE);
      expect(value(evicted, "withcache_artifacts")).toBe(1);
      expect(value(evicted, "withcache_stored_bytes")).toBe(SIZE);
      expect(value(evicted, "withcache_cache_cap_bytes")).toBe(Math.floor(SIZE * 1.5));
    } finally {
      await s.stop();
      await etagOrigin.stop();
    }
  }, 30_000);
});

describe("--metrics token", () => {
  let s: TestServer;
  beforeAll(async () => {
    s = await startTestServer({ metrics: "token" });
  });
  afterAll(async () => {
    await s.stop();
  });

  test("without a token 401 in one line; a malformed or unknown token 401; a read token 200; ?token= 400", async () => {
    const none = await run(["/usr/bin/curl", "-sS", "-D", "-", `${s.url}/metrics`]);
    expect(none.stdout).toMatch(/^HTTP\/1\.1 401/);
    expect(none.stdout.toLowerCase()).toContain('www-authenticate: bearer realm="withcache"');
    const body = none.stdout.split("\r\n\r\n")[1]!;
    expect(body).toBe('/metrics: authentication required: send "Authorization: Bearer <token>" (create one with: withcache token create prometheus)\n');
    expect(body.trimEnd().split("\n")).toHaveLength(1);
    expect(await curl(["-H", "Authorization: Bearer nope", `${s.url}/metrics`])).toBe("401");
    const unknown = `wc_${"A".repeat(43)}`;
    expect(await curl(["-H", `Authorization: Bearer ${unknown}`, `${s.url}/metrics`])).toBe("401");
    expect(s.logs.join("\n")).not.toContain(unknown);

    const made = await s.running.ctx.tokens.create("prometheus", "read");
    if (!made.ok) throw new Error(made.message);
    const token = made.created.token;
    const ok = await scrape(s.url, [`Authorization: Bearer ${token}`]);
    expect(value(ok, "withcache_build_info")).toBe(1);
    // The 401s above were counted as requests of the metrics class.
    expect(value(ok, "withcache_requests_total", { route: "metrics", status_class: "4xx" })).toBe(3);
    expect(await curl(["-H", `Authorization: Bearer ${token}`, `${s.url}/metrics?access_token=${token}`])).toBe("400");
    expect(await curl([`${s.url}/metrics?token=${token}`])).toBe("400");
    expect(s.logs.join("\n")).not.toContain(token);
  });
});

describe("--metrics off", () => {
  test("/metrics is 404 and nothing is collected", async () => {
    const s = await startTestServer({ metrics: "off" });
    try {
      const r = await run(["/usr/bin/curl", "-sS", "-w", "\n%{http_code}", `${s.url}/metrics`]);
      expect(r.stdout).toBe("/metrics is off on this cache-host (--metrics off)\n\n404");
      expect(s.running.ctx.metrics).toBeNull();
      expect(await curl([`${s.url}/healthz`])).toBe("200");
    } finally {
      await s.stop();
    }
  });
});

/** p99 of `ms`, nearest rank. */
function p99(ms: number[]): number {
  const sorted = [...ms].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil(sorted.length * 0.99) - 1)]!;
}

describe("scrapes beside 64 concurrent probe clients", () => {
  test("probe p99 with back-to-back scrapes stays within 3x (+20 ms) of p99 without", async () => {
    const dir = makeTempDir("withcache-metrics-p99-");
    const server = await spawnServer({ dataDir: dir.path, args: ["--allow-private-origins", "--first-byte-wait", "0"] });
    try {
      const url = `${origin.url}/p99/tool.bin`;
      const blob = `${server.url}/b/${encodeToken(url)}/tool.bin`;
      await fetch(blob).then((r) => r.arrayBuffer());
      await pollUntil(async () => (await fetch(blob, { method: "HEAD" })).status === 200, { what: "the artifact to be stored" });
      const CLIENTS = 64;
      const PER_CLIENT = 40;
      /** One round: every client probes PER_CLIENT times in a row on its own connection. */
      const round = async (): Promise<number[]> => {
        const times: number[] = [];
        await Promise.all(
          Array.from({ length: CLIENTS }, async () => {
            for (let i = 0; i < PER_CLIENT; i++) {
              const t = performance.now();
              const r = await fetch(blob, { method: "HEAD" });
              times.push(performance.now() - t);
              if (r.status !== 200) throw new Error(`probe answered ${r.status}`);
            }
          }),
        );
        return times;
      };
      await round(); // warm-up: connections, JIT
      const quiet = p99(await round());
      let scraping = true;
      let scrapes = 0;
      const scraper = (async () => {
        const deadline = Date.now() + 30_000;
        while (scraping && Date.now() < deadline) {
          const r = await fetch(`${server.url}/metrics`);
          const text = await r.text();
          if (r.status !== 200 || !text.includes("withcache_requests_total")) throw new Error(`scrape answered ${r.status}`);
          scrapes += 1;
        }
      })();
      const busy = p99(await round());
      scraping = false;
      await scraper;
      console.error(`metrics p99: probes ${quiet.toFixed(2)} ms without scrapes, ${busy.toFixed(2)} ms with ${scrapes} scrapes beside them`);
      expect(scrapes).toBeGreaterThan(5);
      expect(busy).toBeLessThanOrEqual(3 * quiet + 20);
      // The last scrape saw the probes: counted per class, not per URL.
      const final = await parse(await (await fetch(`${server.url}/metrics`)).text());
      expect(value(final, "withcache_requests_total", { route: "probe", status_class: "2xx" })).toBeGreaterThanOrEqual(3 * CLIENTS * PER_CLIENT);
    } finally {
      server.proc.kill("SIGTERM");
      await server.proc.exited;
      dir.cleanup();
    }
  }, 60_000);
});
