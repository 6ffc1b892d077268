// Shared by the invisibility tests of both shims (test/shim-e2e, test/zig-e2e and the review and
// redirect tests): the origin's files and URLs, the flag sets, running a tool in a fresh directory
// and recording what a user observes (exit code, stdout, saved files), and the cache URL of a URL.
import { expect } from "bun:test";
import { existsSync, mkdirSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { cacheUrlFor, candidateParts, serverBaseUrl } from "../src/core/plan/plan.ts";
import { pollUntil, sha256Hex, type Origin, isStored } from "./helpers/index.ts";
import { runExact } from "./shim-support.ts";

/** Deterministic pseudo-random bytes (an LCG), so each seed gives a distinct, reproducible body. */
export function bytesOf(seed: number, size: number): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(size);
  let x = seed;
  for (let k = 0; k < size; k++) {
    x = (x * 1103515245 + 12345) >>> 0;
    out[k] = x >>> 24;
  }
  return out;
}

export type OriginFile = { body: Uint8Array<ArrayBuffer>; headers?: Record<string, string> };

/**
 * Origin files by decoded path: odd names, a query target, a trailing slash, the root and a
 * Content-Disposition name. Bodies use seeds firstSeed…firstSeed+7; /pkg/a.tgz is bigSizeBytes.
 */
export function invisibilityFiles(options: { firstSeed: number; bigSizeBytes: number }): Record<string, OriginFile> {
  const s = options.firstSeed;
  return {
    "/pkg/a.tgz": { body: bytesOf(s, options.bigSizeBytes) },
    "/pkg/a b.tgz": { body: bytesOf(s + 1, 1000) },
    "/pkg/c+d.tgz": { body: bytesOf(s + 2, 2000) },
    "/pkg/ü-ñ.bin": { body: bytesOf(s + 3, 3000) },
    "/pkg/q.tgz": { body: bytesOf(s + 4, 4000) },
    "/dir/": { body: bytesOf(s + 5, 500), headers: { "content-type": "text/html" } },
    "/": { body: bytesOf(s + 6, 600), headers: { "content-type": "text/html" } },
    "/cd/x.bin": { body: bytesOf(s + 7, 700), headers: { "content-disposition": 'attachment; filename="real-name.bin"' } },
  };
}

/** The URLs of invisibilityFiles() on `originUrl`, in the same order. */
function invisibilityUrls(originUrl: string): string[] {
  return [
    `${originUrl}/pkg/a.tgz`,
    `${originUrl}/pkg/a%20b.tgz`,
    `${originUrl}/pkg/c+d.tgz`,
    `${originUrl}/pkg/ü-ñ.bin`,
    `${originUrl}/pkg/q.tgz?x=1&y=2`,
    `${originUrl}/dir/`,
    originUrl,
    `${originUrl}/cd/x.bin`,
  ];
}

const CURL_FLAGS = [["-sS", "-O"], ["-sS", "-OJ"], ["-s", "-o", "out.bin"], ["-s"], ["-fsSL", "--remote-name-all"]];
const WGET_FLAGS = [["-q"], ["-q", "-O", "out.bin"], ["-q", "--content-disposition"], ["-nv", "-O-"]];

export type Tool = "curl" | "wget";
export type Observe = (tool: Tool, args: string[], via: "plain" | "shim") => Promise<Observed>;

/** The plain tools' results for every URL and flag set, keyed `<tool> <flags…> <url>`. */
async function plainOracle(urls: readonly string[], observe: Observe): Promise<Map<string, Observed>> {
  const plain = new Map<string, Observed>();
  for (const url of urls) {
    for (const flags of CURL_FLAGS) plain.set(`curl ${flags.join(" ")} ${url}`, await observe("curl", [...flags, url], "plain"));
    for (const flags of WGET_FLAGS) plain.set(`wget ${flags.join(" ")} ${url}`, await observe("wget", [...flags, url], "plain"));
  }
  return plain;
}

/** The oracle really has the odd names (and curl's refusal of a path without a file name). */
function expectOracleNames(plain: Map<string, Observed>, urls: readonly string[]): void {
  expect(Object.keys(plain.get(`curl -sS -O ${urls[1]}`)!.files)).toEqual(["a%20b.tgz"]);
  expect(Object.keys(plain.get(`wget -q ${urls[1]}`)!.files)).toEqual(["a b.tgz"]);
  expect(Object.keys(plain.get(`wget -q ${urls[4]}`)!.files)).toEqual(["q.tgz?x=1&y=2"]);
  expect(Object.keys(plain.get(`wget -q ${urls[5]}`)!.files)).toEqual(["index.html"]);
  expect(Object.keys(plain.get(`curl -sS -OJ ${urls[7]}`)!.files)).toEqual(["real-name.bin"]);
  expect(plain.get(`curl -sS -O ${urls[5]}`)!.exitCode).toBe(23); // curl 7.88: remote file name has no length
}

type Invisibility = { plain: Map<string, Observed>; observe: Observe; cacheUrlOf: (url: string) => string };

/**
 * Miss: nothing is stored yet; through the shim, curl and wget with their first flag set do what
 * the plain tool did (the probe starts a fill and the download streams through the cache, or,
 * when the origin is slow to answer, the shim passes through).
 */
async function expectInvisibleOnMiss(urls: readonly string[], { plain, observe, cacheUrlOf }: Invisibility): Promise<void> {
  for (const url of urls) {
    expect(await isStored(fetch(cacheUrlOf(url), { method: "HEAD" }))).toBe(false);
    for (const [tool, flags] of [["curl", CURL_FLAGS[0]!], ["wget", WGET_FLAGS[0]!]] as const) {
      const key = `${tool} ${flags.join(" ")} ${url}`;
      expect({ key, ...(await observe(tool, [...flags, url], "shim")) }).toEqual({ key, ...plain.get(key)! });
    }
  }
}

/** Hit: wait for the fills, then every combination through the shim is the plain tool's, and none reaches the origin. */
async function expectInvisibleOnHit(urls: readonly string[], { plain, observe, cacheUrlOf, origin }: Invisibility & { origin: Origin }): Promise<void> {
  for (const url of urls) {
    await pollUntil(async () => await isStored(fetch(cacheUrlOf(url), { method: "HEAD" })), { timeoutMs: 15_000, what: `fill of ${url}` });
  }
  const originRequestsBefore = origin.requests.length;
  for (const url of urls) {
    for (const flags of CURL_FLAGS) {
      const key = `curl ${flags.join(" ")} ${url}`;
      expect({ key, ...(await observe("curl", [...flags, url], "shim")) }).toEqual({ key, ...plain.get(key)! });
    }
    for (const flags of WGET_FLAGS) {
      const key = `wget ${flags.join(" ")} ${url}`;
      expect({ key, ...(await observe("wget", [...flags, url], "shim")) }).toEqual({ key, ...plain.get(key)! });
    }
  }
  expect(origin.requests.length).toBe(originRequestsBefore); // all of those were hits
}

/**
 * The invisibility check on the files of `origin` (an invisibilityOrigin): the plain tools' results
 * as the oracle (checked for the odd names), then each URL through the shim on a miss and on a hit.
 */
export async function expectInvisible(origin: Origin, options: { observe: Observe; cacheUrlOf: (url: string) => string }): Promise<void> {
  const urls = invisibilityUrls(origin.url);
  const plain = await plainOracle(urls, options.observe);
  expectOracleNames(plain, urls);
  await expectInvisibleOnMiss(urls, { plain, ...options });
  await expectInvisibleOnHit(urls, { plain, ...options, origin });
}

/**
 * The origin of the invisibility tests: `files` by decoded path, /slow.bin (slowBody of
 * `slowFirst` until `released`), 404 otherwise. With rangeResume, `Range: bytes=N-` is answered
 * 206 with the rest: enough for `curl -C -` and `wget -c` against the origin.
 */
export function invisibilityOrigin(
  files: Record<string, OriginFile>,
  options: { slowFirst: Uint8Array; released: Promise<void>; rangeResume: boolean },
): (req: Request) => Response {
  return (req) => {
    const path = decodeURIComponent(new URL(req.url).pathname);
    if (path === "/slow.bin") return slowBody(options.slowFirst, options.released);
    const file = files[path];
    if (file === undefined) return new Response("not here\n", { status: 404 });
    const resumeFrom = options.rangeResume ? /^bytes=(\d+)-$/.exec(req.headers.get("range") ?? "") : null;
    if (resumeFrom && Number(resumeFrom[1]) < file.body.length) {
      const start = Number(resumeFrom[1]);
      return new Response(file.body.subarray(start), {
        status: 206,
        headers: { "content-type": "application/octet-stream", "content-range": `bytes ${start}-${file.body.length - 1}/${file.body.length}`, ...file.headers },
      });
    }
    return new Response(file.body, { headers: { "content-type": "application/octet-stream", ...file.headers } });
  };
}

/** An origin 404 (`<originUrl>/missing.tgz`): curl -f exits 22 and wget 8, and through the shim both do just what the plain tool does. */
export async function expectPlainLikeOn404(originUrl: string, observe: Observe): Promise<void> {
  const url = `${originUrl}/missing.tgz`;
  for (const [tool, args, code] of [["curl", ["-fsS", "-O", url], 22], ["wget", ["-q", url], 8]] as const) {
    const plain = await observe(tool, [...args], "plain");
    const shim = await observe(tool, [...args], "shim");
    expect(plain.exitCode).toBe(code);
    expect(shim).toEqual(plain);
  }
}

/** A body of 10 MB declared: `first` at once, then nothing until `released` settles (a download surely in flight). */
function slowBody(first: Uint8Array, released: Promise<void>): Response {
  let sent = false;
  const body = new ReadableStream<Uint8Array>({
    async pull(controller) {
      if (!sent) {
        sent = true;
        controller.enqueue(first);
        return;
      }
      await released;
      controller.close();
    },
  });
  return new Response(body, { headers: { "content-length": String(10_000_000) } });
}

/** The env of a plain tool run: no shim on PATH. */
export function plainEnv(home: string): Record<string, string> {
  return { PATH: "/usr/bin:/bin", HOME: home };
}

let dirCounter = 0;
/** A new, empty directory `<parent>/<prefix>-<n>`. */
export function freshDir(parent: string, prefix: string): string {
  const dir = join(parent, `${prefix}-${++dirCounter}`);
  mkdirSync(dir);
  return dir;
}

/** sha256 of each file directly in `dir`, by name. */
export function savedFiles(dir: string): Record<string, string> {
  const files: Record<string, string> = {};
  for (const name of readdirSync(dir)) files[name] = sha256Hex(readFileSync(join(dir, name)));
  return files;
}

export type Observed = { exitCode: number; stdoutSha: string; files: Record<string, string> };

/** Run `cmd` in `cwd` with exactly `env`; report the exit code, stdout's sha256 and the saved files. */
export async function observeIn(cwd: string, cmd: string[], env: Record<string, string>): Promise<Observed> {
  const ran = await runExact(cmd, { env, cwd });
  return { exitCode: ran.exitCode, stdoutSha: sha256Hex(ran.stdout), files: savedFiles(cwd) };
}

/** The cache-host URL (`cacheServerUrl`) at which `url` would be served. */
export function cacheUrlOf(cacheServerUrl: string, url: string): string {
  const parts = candidateParts("curl", url, { globoff: true });
  if (parts === undefined) throw new Error(`not a candidate: ${url}`);
  return cacheUrlFor(serverBaseUrl(cacheServerUrl), parts);
}

export type Interrupted = { signal: string | null; exitCode: number | null; exe: string; sigIgn: string };

/**
 * Start `tool` on `<origin>/slow.bin` in `cwd` (SIGPIPE and SIGXFSZ at their defaults, as a shell
 * would), wait until the origin sees the request, read the process's argv[0] and ignored-signal
 * mask, then SIGINT it and report how it ended.
 */
export async function interruptDownload(tool: "curl" | "wget", options: { origin: Origin; cwd: string; env: Record<string, string> }): Promise<Interrupted> {
  const { origin } = options;
  const before = origin.requests.filter((r) => r.path === "/slow.bin").length;
  // bun test itself ignores SIGPIPE; start the tool like a normal shell would.
  const proc = Bun.spawn(["/usr/bin/env", "--default-signal=PIPE,XFSZ", tool, tool === "curl" ? "-sO" : "-q", `${origin.url}/slow.bin`], {
    cwd: options.cwd,
    env: options.env,
    stdin: "ignore",
    stdout: "ignore",
    stderr: "ignore",
  });
  // Bytes flow either from the origin (a miss goes direct) or from the cache (the fill of
  // /slow.bin an earlier run started is streamed through): the tool has started its file.
  const started = (): boolean => origin.requests.filter((r) => r.path === "/slow.bin").length > before || existsSync(join(options.cwd, "slow.bin"));
  await pollUntil(started, { timeoutMs: 10_000, what: "download started" });
  const exe = readFileSync(`/proc/${proc.pid}/cmdline`, "utf8").split("\0")[0] ?? "";
  const sigIgn = /SigIgn:\s*([0-9a-f]+)/.exec(readFileSync(`/proc/${proc.pid}/status`, "utf8"))?.[1] ?? "";
  proc.kill("SIGINT");
  await Promise.race([proc.exited, pollUntil(() => false, { timeoutMs: 10_000, what: "exit after SIGINT" })]);
  return { signal: proc.signalCode === null ? null : String(proc.signalCode), exitCode: proc.exitCode, exe, sigIgn };
}
