// The benchmark harness's I/O: temp dirs, child processes that are always killed, free loopback
// ports, nginx with a temp config, the withcache server, the 1 GiB test file, seeding the cache
// (miss → poll until hit) and bounded polling. Every wait here has a deadline.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import type { Subprocess } from "bun";
import { encodeToken } from "../../src/core/token.ts";

export const ROOT = path.resolve(import.meta.dir, "../..");
const CACHE_DIR = path.join(ROOT, ".cache", "bench");
/** The binaries under test. `snapshotBinaries` copies them aside first, so another engineer
 * rebuilding dist/ in the middle of a run cannot swap them under the benchmark. */
export const bins: { withcache: string; zigShim: string | undefined } = {
  withcache: process.env.WITHCACHE_BENCH_BIN || path.join(ROOT, "dist", "withcache"),
  zigShim: undefined,
};

/** The Zig shim: $WITHCACHE_BENCH_ZIG_SHIM, else the release artefact, else the zig build output. */
function findZigShim(): string | undefined {
  const candidates = [
    process.env.WITHCACHE_BENCH_ZIG_SHIM,
    path.join(ROOT, "dist", "withcache-shim-x86_64-linux-musl"),
    path.join(ROOT, "zig", "zig-out", "bin", "withcache-shim-x86_64-linux-musl"),
    path.join(ROOT, "zig", "zig-out", "bin", "withcache-shim"),
  ];
  return candidates.find((file): file is string => file !== undefined && file !== "" && fs.existsSync(file));
}

export function snapshotBinaries(): { withcache: string; zigShim: string | undefined } {
  // Lives for the whole run (not per benchmark): removed by the exit handler.
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "withcache-bench-bin-"));
  liveDirs.add(dir);
  const sources = { withcache: bins.withcache, zigShim: findZigShim() };
  requireBinary(sources.withcache, "withcache");
  bins.withcache = path.join(dir, "withcache");
  fs.copyFileSync(sources.withcache, bins.withcache);
  fs.chmodSync(bins.withcache, 0o755);
  if (sources.zigShim) {
    bins.zigShim = path.join(dir, "withcache-shim");
    fs.copyFileSync(sources.zigShim, bins.zigShim);
    fs.chmodSync(bins.zigShim, 0o755);
  }
  return sources;
}

// ---------------------------------------------------------------- cleanup registry

type Cleanup = () => void | Promise<void>;
const cleanups: Cleanup[] = [];

/** Register an undo action; run in reverse order by `cleanupAll` (also on SIGINT/SIGTERM/exit). */
function onCleanup(fn: Cleanup): void {
  cleanups.push(fn);
}

export async function cleanupAll(): Promise<void> {
  while (cleanups.length > 0) {
    const fn = cleanups.pop()!;
    try {
      await fn();
    } catch (err) {
      process.stderr.write(`bench: cleanup failed: ${err instanceof Error ? err.message : String(err)}\n`);
    }
  }
}

/** Synchronous best effort for process exit: kill children, remove dirs. */
const liveChildren = new Set<Subprocess>();
const liveDirs = new Set<string>();
let handlersInstalled = false;
export function installExitHandlers(): void {
  if (handlersInstalled) return;
  handlersInstalled = true;
  const hardCleanup = () => {
    // SIGTERM, not SIGKILL: a SIGKILLed nginx master leaves its workers listening.
    for (const child of liveChildren) {
      try {
        child.kill("SIGTERM");
      } catch {}
    }
    for (const dir of liveDirs) fs.rmSync(dir, { recursive: true, force: true });
  };
  process.on("exit", hardCleanup);
  for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"] as const) {
    process.on(signal, () => {
      process.stderr.write(`bench: ${signal}, cleaning up\n`);
      hardCleanup();
      process.exit(130);
    });
  }
}

let sharedLogsDir: string | undefined;
/** One temp dir for the logs of short-lived servers (removed at cleanup like the rest). */
export function logsDir(): string {
  sharedLogsDir ??= tempDir("logs");
  return sharedLogsDir;
}

export function tempDir(label: string): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `withcache-bench-${label}-`));
  liveDirs.add(dir);
  onCleanup(() => {
    fs.rmSync(dir, { recursive: true, force: true });
    liveDirs.delete(dir);
    if (dir === sharedLogsDir) sharedLogsDir = undefined;
  });
  return dir;
}

// ---------------------------------------------------------------- processes

export type Child = { proc: Subprocess<"ignore", "pipe" | "ignore", "pipe" | "ignore">; name: string; logPath: string };

/** Spawn a long-running child; stdout+stderr go to a log file; killed at cleanup. */
export function startChild(name: string, cmd: string[], options: { env?: Record<string, string>; logDir: string; cwd?: string }): Child {
  const logPath = path.join(options.logDir, `${name}.log`);
  const log = Bun.file(logPath);
  const proc = Bun.spawn(cmd, {
    cwd: options.cwd ?? options.logDir,
    env: options.env ?? (process.env as Record<string, string>),
    stdin: "ignore",
    stdout: log,
    stderr: log,
  }) as unknown as Child["proc"];
  liveChildren.add(proc);
  const child = { proc, name, logPath };
  onCleanup(() => stopChild(child));
  return child;
}

export async function stopChild(child: Child, options: { graceMs?: number } = {}): Promise<void> {
  if (child.proc.exitCode !== null || child.proc.signalCode !== null) {
    liveChildren.delete(child.proc);
    return;
  }
  child.proc.kill("SIGTERM");
  const graceMs = options.graceMs ?? 3000;
  const exited = await Promise.race([child.proc.exited.then(() => true), Bun.sleep(graceMs).then(() => false)]);
  if (!exited) {
    child.proc.kill("SIGKILL");
    await Promise.race([child.proc.exited, Bun.sleep(2000)]);
  }
  liveChildren.delete(child.proc);
}

export function tailLog(child: Child, lines = 15): string {
  try {
    return fs.readFileSync(child.logPath, "utf8").trimEnd().split("\n").slice(-lines).join("\n");
  } catch {
    return "(no log)";
  }
}

/** Run a command to completion with a deadline; returns exit code, stdout and stderr. */
export async function run(
  cmd: string[],
  options: { env?: Record<string, string>; timeoutMs: number; cwd?: string },
): Promise<{ code: number; stdout: string; stderr: string }> {
  const proc = Bun.spawn(cmd, {
    cwd: options.cwd,
    env: options.env ?? (process.env as Record<string, string>),
    stdin: "ignore",
    stdout: "pipe",
    stderr: "pipe",
  });
  liveChildren.add(proc);
  const timer = setTimeout(() => proc.kill("SIGKILL"), options.timeoutMs);
  try {
    const [stdout, stderr, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
    if (proc.signalCode === "SIGKILL") throw new Error(`${cmd[0]}: killed after ${options.timeoutMs} ms`);
    return { code, stdout, stderr };
  } finally {
    clearTimeout(timer);
    liveChildren.delete(proc);
  }
}

export async function runOk(cmd: string[], options: { env?: Record<string, string>; timeoutMs: number; cwd?: string }): Promise<string> {
  const result = await run(cmd, options);
  if (result.code !== 0) {
    throw new Error(`${cmd.join(" ").slice(0, 200)}: exit ${result.code}: ${result.stderr.trim().split("\n").slice(-3).join(" / ")}`);
  }
  return result.stdout;
}

// ---------------------------------------------------------------- ports and polling

/** A free loopback port (for servers that cannot report the port they bound to 0). */
export function freePort(): number {
  const listener = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
  const port = listener.port;
  listener.stop(true);
  return port;
}

/** Poll `check` until it returns a value other than undefined, at most `timeoutMs`. */
export async function pollUntil<T>(what: string, check: () => Promise<T | undefined>, options: { timeoutMs: number; intervalMs: number }): Promise<T> {
  const deadline = performance.now() + options.timeoutMs;
  for (;;) {
    const value = await check().catch(() => undefined);
    if (value !== undefined) return value;
    if (performance.now() > deadline) throw new Error(`timed out after ${options.timeoutMs} ms waiting for ${what}`);
    await Bun.sleep(options.intervalMs);
  }
}

export async function httpStatus(url: string, method: "HEAD" | "GET" = "HEAD", timeoutMs = 2000): Promise<number> {
  const response = await fetch(url, { method, signal: AbortSignal.timeout(timeoutMs), decompress: false } as RequestInit);
  await response.body?.cancel();
  return response.status;
}

// ---------------------------------------------------------------- files

export const BIG_FILE_BYTES = 1024 ** 3;

/** A 1 GiB file of incompressible bytes, written once and reused (fallocate'd zeros would be
 * unrealistic: sparse files are served from no page cache at all). */
export async function bigFile(): Promise<string> {
  const file = path.join(CACHE_DIR, "1gib.bin");
  if (fs.existsSync(file) && fs.statSync(file).size === BIG_FILE_BYTES) return file;
  fs.mkdirSync(CACHE_DIR, { recursive: true });
  const partial = `${file}.partial`;
  process.stderr.write("bench: writing the 1 GiB test file once under .cache/bench/\n");
  const blockBytes = 4 * 1024 * 1024;
  const block = new Uint8Array(blockBytes);
  crypto.getRandomValues(block.subarray(0, 65536));
  for (let offset = 65536; offset < blockBytes; offset += 65536) block.set(block.subarray(0, 65536), offset);
  const words = new Uint32Array(block.buffer);
  const fd = fs.openSync(partial, "w");
  try {
    for (let i = 0; i < BIG_FILE_BYTES / blockBytes; i++) {
      // Make every 64 KiB unique so no layer can deduplicate or compress it.
      for (let w = 0; w < words.length; w += 16384) words[w] = (i * 1_000_003 + w) >>> 0;
      fs.writeSync(fd, block);
    }
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  fs.renameSync(partial, file);
  return file;
}

export function smallFile(bytes: number): string {
  const file = path.join(CACHE_DIR, `small-${bytes}.bin`);
  if (!fs.existsSync(file) || fs.statSync(file).size !== bytes) {
    fs.mkdirSync(CACHE_DIR, { recursive: true });
    const data = new Uint8Array(bytes);
    crypto.getRandomValues(data.subarray(0, Math.min(bytes, 65536)));
    fs.writeFileSync(file, data);
  }
  // nginx's Last-Modified is the file's mtime, and a cached copy stays fresh for 10% of its age
  // (the heuristic lifetime): a file written seconds ago made every hit benchmark on a fresh
  // checkout revalidate every second or two, so its result depended on the file's age. An old
  // mtime gives the --heuristic-max cap (24 h): a hit benchmark measures hits.
  fs.utimesSync(file, SMALL_FILE_MTIME, SMALL_FILE_MTIME);
  return file;
}

const SMALL_FILE_MTIME = new Date("2020-01-01T00:00:00Z");

/** Read a file once so it sits in the page cache (both sides then serve from memory). */
export async function warmPageCache(file: string): Promise<void> {
  await runOk(["/bin/dd", `if=${file}`, "of=/dev/null", "bs=4M", "status=none"], { timeoutMs: 120_000 });
}

// ---------------------------------------------------------------- nginx

export type Nginx = { child: Child; port: number; root: string; url: (name: string) => string; accessLogPath: string | undefined };

/** The access log format of `startNginx({ accessLog: true })`: one line per finished request,
 * `METHOD URI STATUS BODY_BYTES_SENT` (read back with `nginxBodyBytes`). */
const ACCESS_LOG_FORMAT = "$request_method $uri $status $body_bytes_sent";

/** nginx (Debian package) on a loopback port serving `root` with sendfile, the practical limit.
 * `limitRate` (nginx syntax, e.g. "200m") caps each connection's rate, an origin with a slow
 * uplink; `accessLog` logs every request's body bytes so a benchmark can count what was sent. */
export async function startNginx(root: string, options: { label: string; limitRate?: string; accessLog?: boolean }): Promise<Nginx> {
  const server = await startNginxConfig({
    label: options.label,
    http: ({ prefix, port }) => `
  ${options.accessLog ? `log_format bodybytes '${ACCESS_LOG_FORMAT}';\n  access_log ${prefix}/access.log bodybytes;` : "access_log off;"}
  server {
    listen 127.0.0.1:${port};
    root ${root};${options.limitRate ? `\n    limit_rate ${options.limitRate};` : ""}
  }`,
  });
  return { child: server.child, port: server.port, url: server.url, root, accessLogPath: options.accessLog ? `${server.prefix}/access.log` : undefined };
}

/** Body bytes nginx sent for requests whose URI is `uri`, summed over its access log (see `startNginx`). */
export function nginxBodyBytes(accessLogPath: string, uri: string): { requests: number; bodyBytes: number } {
  const text = fs.existsSync(accessLogPath) ? fs.readFileSync(accessLogPath, "utf8") : "";
  let requests = 0;
  let bodyBytes = 0;
  for (const line of text.split("\n")) {
    const [, lineUri, , bytes] = line.split(" ");
    if (lineUri !== uri) continue;
    requests++;
    bodyBytes += Number(bytes);
  }
  return { requests, bodyBytes };
}

/** nginx with the shared boilerplate (prefix dir, pid, error log, temp paths, sendfile) around
 * `http`, the rest of its http block (servers, caches), which gets the prefix dir and the port. */
export async function startNginxConfig(options: {
  label: string;
  http: (env: { prefix: string; port: number }) => string;
}): Promise<{ child: Child; port: number; prefix: string; url: (name: string) => string }> {
  const prefix = tempDir(`nginx-${options.label}`);
  const port = freePort();
  const conf = `
# worker_processes auto: Debian's default, one worker per core (2 here).
worker_processes auto;
user root;
daemon off;
pid ${prefix}/nginx.pid;
error_log ${prefix}/error.log warn;
events { worker_connections 1024; }
http {
  sendfile on;
  tcp_nopush on;
  keepalive_timeout 65;
  default_type application/octet-stream;
  client_body_temp_path ${prefix}/client_body;
  proxy_temp_path ${prefix}/proxy;
  fastcgi_temp_path ${prefix}/fastcgi;
  uwsgi_temp_path ${prefix}/uwsgi;
  scgi_temp_path ${prefix}/scgi;
${options.http({ prefix, port })}
}
`;
  const confPath = path.join(prefix, "nginx.conf");
  fs.writeFileSync(confPath, conf);
  const child = startChild(`nginx-${options.label}`, ["/usr/sbin/nginx", "-p", prefix, "-c", confPath], { logDir: prefix });
  const url = (name: string) => `http://127.0.0.1:${port}/${name}`;
  await pollUntil(`nginx on port ${port}`, async () => ((await httpStatus(url(""), "HEAD", 500)) > 0 ? true : undefined), {
    timeoutMs: 10_000,
    intervalMs: 20,
  }).catch((err) => {
    throw new Error(`${err.message}\n${tailLog(child)}\n${fs.existsSync(`${prefix}/error.log`) ? fs.readFileSync(`${prefix}/error.log`, "utf8") : ""}`);
  });
  return { child, port, prefix, url };
}

// ---------------------------------------------------------------- withcache

export type Withcache = { child: Child; port: number; dataDir: string; base: string; blobUrl: (originUrl: string, name?: string) => string };

export function blobPath(originUrl: string, name?: string): string {
  const base = name ?? (new URL(originUrl).pathname.split("/").pop() || "download");
  return `/b/${encodeToken(originUrl)}/${encodeURIComponent(base)}`;
}

export function requireBinary(file: string, what: string): void {
  if (!fs.existsSync(file)) throw new Error(`${what}: ${file} does not exist; build it first`);
}

/** `dist/withcache serve` on a free loopback port; resolves once /healthz answers 200. */
export async function startWithcache(options: {
  label: string;
  dataDir?: string;
  args?: string[];
  logDir?: string;
  readyTimeoutMs?: number;
  /** Added to the environment (e.g. the AWS_* variables of an S3 blob store). */
  envExtra?: Record<string, string>;
}): Promise<Withcache> {
  requireBinary(bins.withcache, "withcache");
  const dataDir = options.dataDir ?? tempDir(`data-${options.label}`);
  const port = freePort();
  const args = options.args ?? ["--allow-private-origins"];
  const child = startChild(`withcache-${options.label}`, [bins.withcache, "serve", "--data-dir", dataDir, "--host", "127.0.0.1", "--port", String(port), ...args], {
    logDir: options.logDir ?? logsDir(),
    ...(options.envExtra ? { env: { ...(process.env as Record<string, string>), ...options.envExtra } } : {}),
  });
  const base = `http://127.0.0.1:${port}`;
  await pollUntil(
    `withcache /healthz on port ${port}`,
    async () => {
      if (child.proc.exitCode !== null) throw new Error("exited");
      return (await httpStatus(`${base}/healthz`, "GET", 500)) === 200 ? true : undefined;
    },
    { timeoutMs: options.readyTimeoutMs ?? 15_000, intervalMs: 10 },
  ).catch((err) => {
    throw new Error(`withcache did not become ready (${err.message}); exit ${child.proc.exitCode}\n${tailLog(child)}`);
  });
  return { child, port, dataDir, base, blobUrl: (originUrl, name) => `${base}${blobPath(originUrl, name)}` };
}

/** Pre-seed the cache the way a user would: GET (a miss that queues a fill), then poll until hit. */
export async function seed(server: Withcache, originUrl: string, options: { timeoutMs: number }): Promise<void> {
  const url = server.blobUrl(originUrl);
  if ((await httpStatus(url, "HEAD")) === 200) return;
  const first = await httpStatus(url, "GET", 10_000);
  if (first === 200) return;
  await pollUntil(`a hit for ${originUrl}`, async () => ((await httpStatus(url, "HEAD")) === 200 ? true : undefined), {
    timeoutMs: options.timeoutMs,
    intervalMs: 20,
  }).catch((err) => {
    throw new Error(`${err.message} (first GET answered ${first})\n${tailLog(server.child)}`);
  });
}

/** CPU time (user + system) a live process has used so far, in microseconds; NaN when unavailable. */
export function cpuMicros(pid: number): number {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
    // Fields after the parenthesised command name; utime and stime are the 12th and 13th of those.
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    const ticksPerSecond = 100; // USER_HZ on Linux
    return ((Number(fields[11]) + Number(fields[12])) * 1e6) / ticksPerSecond;
  } catch {
    return Number.NaN;
  }
}

/** Peak resident set (VmHWM) of a live process, in bytes; NaN when unavailable. */
export function peakRssBytes(pid: number): number {
  try {
    const status = fs.readFileSync(`/proc/${pid}/status`, "utf8");
    const match = /^VmHWM:\s+(\d+)\s+kB/m.exec(status);
    return match ? Number(match[1]) * 1024 : Number.NaN;
  } catch {
    return Number.NaN;
  }
}

// ---------------------------------------------------------------- curl timing

/** One curl download to /dev/null; returns curl's own time_total in seconds. */
export async function curlTime(url: string, options: { timeoutMs: number; expectBytes: number }): Promise<number> {
  const out = await runOk(["/usr/bin/curl", "-sS", "-f", "-o", "/dev/null", "-w", "%{time_total} %{size_download}", url], {
    timeoutMs: options.timeoutMs,
  });
  const [seconds, bytes] = out.trim().split(" ");
  if (Number(bytes) !== options.expectBytes) throw new Error(`curl ${url}: got ${bytes} bytes; expected ${options.expectBytes}`);
  return Number(seconds);
}
