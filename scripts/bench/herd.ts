// Benchmark 7: stream-through for a herd. N ∈ {1, 4, 16, 64} cold clients (real curl, all at
// once, each N on a cache key nobody asked for before) download one 1 GiB artifact through the
// cache-host from an nginx origin limited to 200 MiB/s per connection (`limit_rate 200m`, a slow
// uplink: every plain curl gets the full rate, so going direct costs N × the bytes, not time).
//   a) origin bytes / artifact size at each N (nginx's access log, $body_bytes_sent), against N
//      plain curls straight from the origin (measured: N × the size); and the wall time until the
//      last client has its file, against one plain curl of the same file from the origin (the N
//      direct curls' wall time is context: what this machine can deliver to N clients at all).
//   b) the same herds through nginx with proxy_cache + proxy_cache_lock (its defaults: a 5 s
//      lock timeout, then waiters go to the origin uncached), as reference numbers.
//   c) time to first byte of a client that joins at ~50 % of a fill (curl's time_starttransfer).
//   d) peak RSS of the withcache server (VmHWM, sampled) with N streams of the 1 GiB fill.
// Keys are fresh per side, N and round: one symlink to the test file per name in the origin's
// root, so neither cache can have seen it. Each herd gets a fresh server and data dir (or a fresh
// nginx cache), removed right after; `sync` runs before each timed herd so one run's writeback
// does not land on the next.
import fs from "node:fs";
import path from "node:path";
import {
  BIG_FILE_BYTES,
  bigFile,
  nginxBodyBytes,
  peakRssBytes,
  run,
  runOk,
  startNginx,
  startNginxConfig,
  startWithcache,
  stopChild,
  tailLog,
  tempDir,
  warmPageCache,
  type Nginx,
} from "./harness.ts";
import { formatNumber, median } from "./stats.ts";
import type { Row, Target } from "./stats.ts";
import type { BenchContext, BenchResult, Benchmark } from "./types.ts";

const HERD_SIZES = [1, 4, 16, 64] as const;
/** nginx `limit_rate` syntax (m = MiB): 1 GiB then takes ~5.1 s per connection. */
const ORIGIN_RATE = "200m";
/** The withcache default, spelled out: how long a cold probe waits for the origin's headers. */
const FIRST_BYTE_WAIT = "500ms";
/** nginx's own defaults for the reference, spelled out so the report says what was measured. */
const PROXY_CACHE_LOCK_TIMEOUT = "5s";
/** One curl's limit: 64 GiB through loopback on 2 shared cores took well under a minute. */
const CLIENT_MAX_SECONDS = 180;
const SYNC_TIMEOUT_MS = 60_000;
/** How long the origin's access log may take to show a herd's last request after its last client. */
const ORIGIN_LOG_SETTLE_MS = 5000;
const RSS_SAMPLE_MS = 200;
/** Where in the fill the late client joins, as a share of one plain curl's time. */
const JOIN_AT_SHARE = 0.5;
const MB = 1e6;
const BENCH = "7 herd 1 GiB";

type ClientResult = { ok: boolean; status: number; bytes: number; ttfbMs: number; totalS: number; filling: boolean; error: string };

/** One real curl to /dev/null; never throws (a failed client is a result the report shows). */
async function curlClient(url: string): Promise<ClientResult> {
  const failed = (error: string): ClientResult => ({ ok: false, status: 0, bytes: 0, ttfbMs: Number.NaN, totalS: Number.NaN, filling: false, error });
  try {
    const result = await run(
      [
        "/usr/bin/curl",
        "-sS",
        "-o",
        "/dev/null",
        "--max-time",
        String(CLIENT_MAX_SECONDS),
        "-w",
        "%{http_code} %{size_download} %{time_starttransfer} %{time_total} %header{x-withcache-filling}",
        url,
      ],
      { timeoutMs: CLIENT_MAX_SECONDS * 1000 + 5000 },
    );
    const [status, bytes, ttfb, total, filling] = result.stdout.trim().split(" ");
    const parsed = {
      status: Number(status),
      bytes: Number(bytes),
      ttfbMs: Number(ttfb) * 1000,
      totalS: Number(total),
      filling: filling === "1",
    };
    const ok = result.code === 0 && parsed.status === 200 && parsed.bytes === BIG_FILE_BYTES;
    const error = ok ? "" : result.code !== 0 ? `curl exit ${result.code}: ${result.stderr.trim().split("\n").at(-1) ?? ""}` : `${parsed.status}, ${parsed.bytes} B`;
    return { ok, ...parsed, error };
  } catch (err) {
    return failed(err instanceof Error ? err.message : String(err));
  }
}

type Herd = { wallS: number; results: ClientResult[] };

/** N curls started together; the wall time runs until the last one has exited. */
async function herd(url: string, clients: number): Promise<Herd> {
  const start = performance.now();
  const results = await Promise.all(Array.from({ length: clients }, () => curlClient(url)));
  return { wallS: (performance.now() - start) / 1000, results };
}

/** Samples a process's peak RSS until stopped; returns the largest VmHWM seen (NaN if none). */
function sampleRss(pid: number): { stop: () => number } {
  let peak = Number.NaN;
  const sample = () => {
    const now = peakRssBytes(pid);
    if (Number.isFinite(now) && !(now <= peak)) peak = now;
  };
  sample();
  const timer = setInterval(sample, RSS_SAMPLE_MS);
  return {
    stop: () => {
      clearInterval(timer);
      sample();
      return peak;
    },
  };
}

type Origin = { nginx: Nginx; root: string; big: string };

/** A name nobody asked for yet: a symlink to the test file in the origin's root. */
function freshName(origin: Origin, name: string): string {
  fs.symlinkSync(origin.big, path.join(origin.root, name));
  return name;
}

/** Body bytes and requests the origin logged for `name`, once its log stops growing (bounded). */
async function originBytes(origin: Origin, name: string): Promise<{ requests: number; bodyBytes: number }> {
  const logPath = origin.nginx.accessLogPath!;
  const deadline = performance.now() + ORIGIN_LOG_SETTLE_MS;
  let last = nginxBodyBytes(logPath, `/${name}`);
  for (;;) {
    await Bun.sleep(100);
    const now = nginxBodyBytes(logPath, `/${name}`);
    const settled = now.requests === last.requests && now.bodyBytes === last.bodyBytes && now.bodyBytes >= BIG_FILE_BYTES;
    last = now;
    if (settled || performance.now() > deadline) return now;
  }
}

type SideRun = {
  clients: number;
  wallS: number;
  ok: number;
  streamed: number;
  failures: string[];
  originRequests: number;
  originBytes: number;
  peakRssBytes: number;
  logTail?: string;
};

function summarize(h: Herd, origin: { requests: number; bodyBytes: number }, peak: number): SideRun {
  const failures = [...new Set(h.results.filter((r) => !r.ok).map((r) => r.error))];
  return {
    clients: h.results.length,
    wallS: h.wallS,
    ok: h.results.filter((r) => r.ok).length,
    streamed: h.results.filter((r) => r.filling).length,
    failures,
    originRequests: origin.requests,
    originBytes: origin.bodyBytes,
    peakRssBytes: peak,
  };
}

/** A fresh withcache server and data dir for one herd; the server's peak RSS is sampled throughout. */
async function withcacheHerd(origin: Origin, name: string, clients: number, label: string): Promise<SideRun> {
  const dataDir = tempDir(`herd-${label}`);
  const server = await startWithcache({ label, dataDir, args: ["--allow-private-origins", "--first-byte-wait", FIRST_BYTE_WAIT] });
  try {
    await runOk(["sync"], { timeoutMs: SYNC_TIMEOUT_MS });
    const rss = sampleRss(server.child.proc.pid);
    const h = await herd(server.blobUrl(origin.nginx.url(name)), clients);
    const peak = rss.stop();
    const result = summarize(h, await originBytes(origin, name), peak);
    if (result.ok < clients) result.logTail = tailLog(server.child, 20);
    return result;
  } finally {
    await stopChild(server.child);
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
}

/** A fresh nginx reverse proxy with proxy_cache + proxy_cache_lock in front of the origin. */
async function startCacheLockProxy(origin: Origin, label: string) {
  return startNginxConfig({
    label,
    http: ({ prefix, port }) => `
  access_log off;
  proxy_cache_path ${prefix}/cache levels=1:2 keys_zone=herd:10m max_size=8g inactive=1h use_temp_path=off;
  server {
    listen 127.0.0.1:${port};
    location / {
      proxy_pass http://127.0.0.1:${origin.nginx.port};
      proxy_http_version 1.1;
      proxy_cache herd;
      # nginx caches a response without Cache-Control only when told how long.
      proxy_cache_valid 200 1h;
      proxy_cache_lock on;
      proxy_cache_lock_timeout ${PROXY_CACHE_LOCK_TIMEOUT};
      proxy_cache_lock_age 5s;
      # Waiters that time out are proxied uncached: pass them through instead of spooling
      # gigabytes to temp files (the cached response is written to the cache either way).
      proxy_max_temp_file_size 0;
    }
  }`,
  });
}

/** N plain curls straight from the origin: what the clients would cost without a cache. */
async function directHerd(origin: Origin, name: string, clients: number): Promise<SideRun> {
  await runOk(["sync"], { timeoutMs: SYNC_TIMEOUT_MS });
  const h = await herd(origin.nginx.url(name), clients);
  return summarize(h, await originBytes(origin, name), Number.NaN);
}

async function cacheLockHerd(origin: Origin, name: string, clients: number, label: string): Promise<SideRun> {
  const proxy = await startCacheLockProxy(origin, label);
  try {
    await runOk(["sync"], { timeoutMs: SYNC_TIMEOUT_MS });
    const h = await herd(proxy.url(name), clients);
    const result = summarize(h, await originBytes(origin, name), Number.NaN);
    if (result.ok < clients) result.logTail = tailLog(proxy.child, 20);
    return result;
  } finally {
    await stopChild(proxy.child);
    fs.rmSync(proxy.prefix, { recursive: true, force: true });
  }
}

type JoinRun = { joinedAtS: number; firstWallS: number; first: ClientResult; joiner: ClientResult; originBytes: number };

/** One cold client starts the fill; a second one joins after `joinAfterMs`; its time to first byte. */
async function joinMidFill(origin: Origin, name: string, joinAfterMs: number, label: string): Promise<JoinRun> {
  const dataDir = tempDir(`herd-${label}`);
  const server = await startWithcache({ label, dataDir, args: ["--allow-private-origins", "--first-byte-wait", FIRST_BYTE_WAIT] });
  try {
    await runOk(["sync"], { timeoutMs: SYNC_TIMEOUT_MS });
    const url = server.blobUrl(origin.nginx.url(name));
    const start = performance.now();
    let firstWallS = Number.NaN;
    const first = curlClient(url).then((r) => {
      firstWallS = (performance.now() - start) / 1000;
      return r;
    });
    await Bun.sleep(joinAfterMs);
    const joinedAtS = (performance.now() - start) / 1000;
    const joiner = await curlClient(url);
    const firstResult = await first;
    return { joinedAtS, firstWallS, first: firstResult, joiner, originBytes: (await originBytes(origin, name)).bodyBytes };
  } finally {
    await stopChild(server.child);
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
}

const worst = (values: readonly number[]) => (values.length === 0 ? Number.NaN : Math.max(...values));
const sizes = (bytes: number) => bytes / BIG_FILE_BYTES;

async function runBench(ctx: BenchContext): Promise<BenchResult> {
  const big = await bigFile();
  await warmPageCache(big);
  const root = tempDir("herd-origin");
  const nginx = await startNginx(root, { label: "herd-origin", limitRate: ORIGIN_RATE, accessLog: true });
  const origin: Origin = { nginx, root, big };

  const direct: Record<number, SideRun[]> = {};
  const ours: Record<number, SideRun[]> = {};
  const lock: Record<number, SideRun[]> = {};
  const joins: JoinRun[] = [];
  const bySide = { direct, nginx: lock, withcache: ours };
  const sideNames = { direct: "plain curl from the origin", nginx: "nginx proxy_cache_lock", withcache: "withcache" } as const;
  for (let round = 0; round < ctx.runs; round++) {
    for (const n of HERD_SIZES) {
      const sides = round % 2 === 0 ? (["direct", "nginx", "withcache"] as const) : (["withcache", "nginx", "direct"] as const);
      for (const side of sides) {
        const name = freshName(origin, `${side}-n${n}-r${round}.bin`);
        const label = `herd-${side}-n${n}-r${round}`;
        const r =
          side === "withcache" ? await withcacheHerd(origin, name, n, label) : side === "nginx" ? await cacheLockHerd(origin, name, n, label) : await directHerd(origin, name, n);
        if (side === "direct" && n === 1 && r.ok !== 1) throw new Error(`plain curl of the origin failed: ${r.failures.join("; ")}`);
        (bySide[side][n] ??= []).push(r);
        ctx.log(
          `round ${round + 1}/${ctx.runs} N=${n} ${sideNames[side]}: ` +
            `last client at ${r.wallS.toFixed(2)} s, origin ${formatNumber(sizes(r.originBytes))}× size in ${r.originRequests} request(s), ` +
            `${r.ok}/${n} ok${side === "withcache" ? `, ${r.streamed} streamed, peak rss ${formatNumber(r.peakRssBytes / MB, 0)} MB` : ""}` +
            (r.failures.length > 0 ? `, failures: ${r.failures.join("; ")}` : ""),
        );
      }
    }

    const joinAfterMs = Math.round(direct[1]!.at(-1)!.wallS * 1000 * JOIN_AT_SHARE);
    const j = await joinMidFill(origin, freshName(origin, `join-r${round}.bin`), joinAfterMs, `herd-join-r${round}`);
    joins.push(j);
    ctx.log(
      `round ${round + 1}/${ctx.runs} join at ${j.joinedAtS.toFixed(2)} s of a ${j.firstWallS.toFixed(2)} s fill: first byte in ${j.joiner.ttfbMs.toFixed(1)} ms, ` +
        `done at ${(j.joinedAtS + j.joiner.totalS).toFixed(2)} s${j.joiner.ok ? "" : ` (failed: ${j.joiner.error})`}${j.joiner.filling ? "" : " (not streamed)"}`,
    );
  }

  const directS = median(direct[1]!.map((r) => r.wallS));
  const rows: Row[] = [];
  const clientsNote = (runs: SideRun[], withStreams: boolean) => {
    const clients = runs.reduce((sum, r) => sum + r.clients, 0);
    const ok = runs.reduce((sum, r) => sum + r.ok, 0);
    const streamed = runs.reduce((sum, r) => sum + r.streamed, 0);
    const failures = [...new Set(runs.flatMap((r) => r.failures))];
    return (
      `${runs.map((r) => r.originRequests).join(",")} origin request(s) per round, ${ok}/${clients} clients ok` +
      (withStreams ? `, ${streamed} streamed` : "") +
      (failures.length > 0 ? `; ${failures.join("; ")}` : "")
    );
  };
  for (const n of HERD_SIZES) {
    rows.push({
      benchmark: BENCH,
      metric: `N=${n} cold clients: origin bytes / size (worst round)`,
      unit: "× size",
      referenceName: "each client direct (measured)",
      reference: median(direct[n]!.map((r) => sizes(r.originBytes))),
      ours: worst(ours[n]!.map((r) => sizes(r.originBytes))),
      target: { kind: "at-most", value: 1.05 },
      anchor: "",
      note: clientsNote(ours[n]!, true),
    });
  }
  for (const n of HERD_SIZES) {
    const target: Target = n === 16 ? { kind: "ratio-at-most", value: 1.2 } : { kind: "none" };
    rows.push({
      benchmark: BENCH,
      metric: `N=${n}: wall time until the last client has the file`,
      unit: "s",
      referenceName: "one plain curl from the origin",
      reference: directS,
      ours: median(ours[n]!.map((r) => r.wallS)),
      target,
      anchor: "",
      note: n === 1 ? undefined : `${n} plain curls from the origin at once: ${formatNumber(median(direct[n]!.map((r) => r.wallS)))} s`,
    });
  }
  for (const n of HERD_SIZES) {
    rows.push({
      benchmark: BENCH,
      metric: `N=${n}: origin bytes / size vs nginx proxy_cache_lock (worst round)`,
      unit: "× size",
      referenceName: `nginx cache lock, timeout ${PROXY_CACHE_LOCK_TIMEOUT}`,
      reference: worst(lock[n]!.map((r) => sizes(r.originBytes))),
      ours: worst(ours[n]!.map((r) => sizes(r.originBytes))),
      target: { kind: "none" },
      anchor: "",
      note: `nginx: ${clientsNote(lock[n]!, false)}`,
    });
  }
  for (const n of HERD_SIZES) {
    rows.push({
      benchmark: BENCH,
      metric: `N=${n}: wall time until the last client, vs nginx proxy_cache_lock`,
      unit: "s",
      referenceName: `nginx cache lock, timeout ${PROXY_CACHE_LOCK_TIMEOUT}`,
      reference: median(lock[n]!.map((r) => r.wallS)),
      ours: median(ours[n]!.map((r) => r.wallS)),
      target: { kind: "none" },
      anchor: "",
    });
  }
  const joinerFailures = joins.filter((j) => !j.joiner.ok || !j.joiner.filling).length;
  rows.push({
    benchmark: BENCH,
    metric: `client joining at ~${Math.round(JOIN_AT_SHARE * 100)} % of the fill: time to first byte`,
    unit: "ms",
    referenceName: "",
    reference: Number.NaN,
    ours: median(joins.map((j) => j.joiner.ttfbMs)),
    target: { kind: "at-most", value: 20 },
    anchor: "",
    note:
      `max ${formatNumber(worst(joins.map((j) => j.joiner.ttfbMs)), 1)} ms; joined at ` +
      joins.map((j) => `${Math.round((j.joinedAtS / j.firstWallS) * 100)} %`).join(",") +
      ` of the first client's time` +
      (joinerFailures > 0 ? `; ${joinerFailures} joiner(s) failed or not streamed` : ""),
  });
  const n64 = HERD_SIZES.at(-1)!;
  rows.push({
    benchmark: BENCH,
    metric: `server peak RSS, ${n64} streams of the fill`,
    unit: "MB",
    referenceName: "",
    reference: Number.NaN,
    ours: worst(ours[n64]!.map((r) => r.peakRssBytes)) / MB,
    target: { kind: "at-most", value: 200 },
    anchor: "",
    note: HERD_SIZES.slice(0, -1)
      .map((n) => `N=${n}: ${formatNumber(worst(ours[n]!.map((r) => r.peakRssBytes)) / MB, 0)}`)
      .join(", "),
  });

  return {
    rows,
    raw: {
      bytes: BIG_FILE_BYTES,
      originRate: ORIGIN_RATE,
      firstByteWait: FIRST_BYTE_WAIT,
      proxyCacheLockTimeout: PROXY_CACHE_LOCK_TIMEOUT,
      direct,
      withcache: ours,
      nginxCacheLock: lock,
      joins,
    },
  };
}

export const herdBenchmark: Benchmark = { name: "herd", title: "stream-through: N cold clients of one 1 GiB fill from a 200 MiB/s origin", run: runBench };
