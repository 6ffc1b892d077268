// Invisibility, end to end: the compiled shim symlinked as curl/wget first on PATH, the real
// cache-host and a real origin on loopback. For each URL and flag set, the saved files (names and
// sha256), stdout and exit code through the shim — on a miss and on a hit — equal the plain tool's
// against the origin. Also: -f on an origin 404, kill -INT mid-download, the tool's ignored signals.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { makeTempDir, pollUntil, sha256Hex, startOrigin, startTestServer, type Origin, type TempDir, type TestServer, isStored } from "./helpers/index.ts";
import {
  bytesOf,
  cacheUrlOf as cacheUrlAt,
  expectInvisible,
  expectPlainLikeOn404,
  freshDir,
  interruptDownload,
  invisibilityFiles,
  invisibilityOrigin,
  observeIn,
  plainEnv,
  type Interrupted,
  type Observed,
} from "./invisibility-support.ts";
import { compileShim, shimPath, type ShimBin } from "./shim-support.ts";

let bin: ShimBin;
let origin: Origin;
let cache: TestServer;
let work: TempDir;
let hangRelease: () => void = () => {};
const hang = new Promise<void>((resolve) => (hangRelease = resolve));

/** Origin files by decoded path. */
const FILES = invisibilityFiles({ firstSeed: 1, bigSizeBytes: 150_000 });

beforeAll(async () => {
  bin = await compileShim();
  work = makeTempDir("withcache-shim-e2e-");
  // /slow.bin: 64 KiB at once, then nothing until the test ends: a download that is surely in flight.
  origin = startOrigin(invisibilityOrigin(FILES, { slowFirst: bytesOf(10, 65536), released: hang, rangeResume: true }));
  cache = await startTestServer({ firstByteWaitMs: 500 }); // streams cold misses, as the default does
});

afterAll(async () => {
  hangRelease();
  await cache.stop();
  await origin.stop();
  work.cleanup();
  bin.cleanup();
});

function shimEnv(extra: Record<string, string> = {}): Record<string, string> {
  return { PATH: shimPath(bin.shimDir), HOME: work.path, WITHCACHE_SERVER: cache.url, ...extra };
}

async function observe(tool: "curl" | "wget", args: string[], via: "plain" | "shim", prepare?: (cwd: string) => void): Promise<Observed> {
  const cwd = freshDir(work.path, "run");
  prepare?.(cwd);
  return observeIn(cwd, [tool, ...args], via === "plain" ? plainEnv(work.path) : shimEnv());
}

const cacheUrlOf = (url: string): string => cacheUrlAt(cache.url, url);

describe("invisible on miss and on hit", () => {
  test("curl and wget: same files, bytes and exit codes as the plain tool", async () => {
    await expectInvisible(origin, { observe, cacheUrlOf });
  }, 120_000);

  test("resuming a partial file (curl -C - -O, wget -c) gives the same file, through a hit too", async () => {
    const url = `${origin.url}/pkg/a.tgz`;
    await pollUntil(async () => {
      if (await isStored(fetch(cacheUrlOf(url), { method: "HEAD" }))) return true;
      await observe("curl", ["-s", "-o", "/dev/null", url], "shim"); // a miss queues the fill
      return false;
    }, { timeoutMs: 15_000, what: "a.tgz in the cache" });
    const partial = (cwd: string) => writeFileSync(join(cwd, "a.tgz"), FILES["/pkg/a.tgz"]!.body.subarray(0, 40_000));
    const before = origin.requests.length;
    for (const [tool, args] of [["curl", ["-sS", "-C", "-", "-O", url]], ["wget", ["-q", "-c", url]]] as const) {
      const plain = await observe(tool, [...args], "plain", partial);
      expect(plain.files["a.tgz"]).toBe(sha256Hex(FILES["/pkg/a.tgz"]!.body));
      const requestsBeforeShim = origin.requests.length;
      expect(await observe(tool, [...args], "shim", partial)).toEqual(plain);
      expect(origin.requests.length).toBe(requestsBeforeShim); // served by the cache
    }
    expect(origin.requests.length).toBe(before + 2); // only the two plain runs reached the origin
  });

  test("origin 404 through the shim: curl -f exits 22, wget exits 8, like the plain tools", async () => {
    await expectPlainLikeOn404(origin.url, observe);
  });
});

describe("signals", () => {
  function interrupted(tool: "curl" | "wget", via: "plain" | "shim", extraEnv: Record<string, string> = {}): Promise<Interrupted> {
    const env = via === "plain" ? plainEnv(work.path) : shimEnv(extraEnv);
    return interruptDownload(tool, { origin, cwd: freshDir(work.path, "sig"), env });
  }
  test("kill -INT ends a shimmed download like the plain tool (same PID is the tool)", async () => {
    for (const tool of ["curl", "wget"] as const) {
      const plain = await interrupted(tool, "plain");
      const shim = await interrupted(tool, "shim");
      expect(plain.signal).toBe("SIGINT");
      expect({ signal: shim.signal, exitCode: shim.exitCode }).toEqual({ signal: plain.signal, exitCode: plain.exitCode });
      expect(shim.exe).toContain(tool); // the spawned PID became the real tool (env → tool by execve)
    }
  }, 60_000);

  test("spawn fallback (WITHCACHE_SHIM_EXEC=spawn): same files and exit codes, and kill -INT on the shim ends it like the tool", async () => {
    const url = `${origin.url}/pkg/a.tgz`;
    const missing = `${origin.url}/missing-too.tgz`;
    const viaSpawn = (tool: "curl" | "wget", args: string[]) =>
      observeIn(freshDir(work.path, "spawn"), [tool, ...args], shimEnv({ WITHCACHE_SHIM_EXEC: "spawn" }));
    expect(await viaSpawn("curl", ["-sS", "-O", url])).toEqual(await observe("curl", ["-sS", "-O", url], "plain"));
    expect(await viaSpawn("wget", ["-q", url])).toEqual(await observe("wget", ["-q", url], "plain"));
    expect(await viaSpawn("curl", ["-fsS", "-O", missing])).toEqual(await observe("curl", ["-fsS", "-O", missing], "plain"));
    for (const tool of ["curl", "wget"] as const) {
      const plain = await interrupted(tool, "plain");
      const shim = await interrupted(tool, "shim", { WITHCACHE_SHIM_EXEC: "spawn" });
      expect({ signal: shim.signal, exitCode: shim.exitCode }).toEqual({ signal: plain.signal, exitCode: plain.exitCode });
    }
  }, 60_000);

  test("the tool starts with the signal dispositions it would have without the shim (SIGPIPE, SIGXFSZ not ignored)", async () => {
    // wget and curl both handle EPIPE themselves (exit 3 / 23), so `| head` cannot tell; the
    // kernel's ignored-signal mask of the running tool can. Bun ignores SIGPIPE and SIGXFSZ.
    for (const tool of ["curl", "wget"] as const) {
      const plain = await interrupted(tool, "plain");
      const shim = await interrupted(tool, "shim");
      // Both tools ignore SIGPIPE themselves (curl toggles it around transfers), so compare wget's whole
      // mask and SIGXFSZ for both: a shim that forgot the reset leaves SIGXFSZ ignored.
      if (tool === "wget") expect(shim.sigIgn).toBe(plain.sigIgn);
      for (const observed of [plain, shim]) {
        const ignored = BigInt(`0x${observed.sigIgn}`);
        expect(ignored & (1n << 24n)).toBe(0n); // SIGXFSZ (25) is bit 24
      }
    }
  }, 60_000);
});
