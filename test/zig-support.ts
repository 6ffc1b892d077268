// Shared by the native-shim tests: build the Zig shim (cached by zig, a no-op when nothing
// changed) and lay out curl/wget symlinks to it, first on PATH.
import { mkdirSync, symlinkSync } from "node:fs";
import { join, resolve } from "node:path";
import { makeTempDir, type TempDir } from "./helpers/index.ts";

const ROOT = resolve(import.meta.dir, "..");
export const ZIG_SHIM = join(ROOT, "zig/zig-out/bin/withcache-shim");

/**
 * `zig build -Doptimize=ReleaseSmall` → zig/zig-out/bin/withcache-shim. WITHCACHE_ZIG_OPTIMIZE=
 * ReleaseSafe runs the same tests on a build with bounds and overflow checks (a bug panics).
 */
export function buildZigShim(): string {
  const optimize = process.env.WITHCACHE_ZIG_OPTIMIZE ?? "ReleaseSmall";
  if (!/^(Debug|ReleaseSafe|ReleaseSmall|ReleaseFast)$/.test(optimize)) throw new Error(`WITHCACHE_ZIG_OPTIMIZE: "${optimize}" is not a zig optimize mode`);
  const build = Bun.spawnSync({
    cmd: ["bash", "-c", `source scripts/env.sh && cd zig && zig build -Doptimize=${optimize}`],
    cwd: ROOT,
    stdout: "pipe",
    stderr: "pipe",
  });
  if (build.exitCode !== 0) throw new Error(`zig build failed: ${build.stderr.toString()}`);
  return ZIG_SHIM;
}

export type ZigShims = { dir: TempDir; shimDir: string; cleanup(): void };

/** A temp dir with curl, wget, curlwithcache, wgetwithcache → the Zig shim. */
export function zigShimDir(binary: string = ZIG_SHIM): ZigShims {
  const dir = makeTempDir("withcache-zig-");
  const shimDir = join(dir.path, "shims");
  mkdirSync(shimDir);
  for (const name of ["curl", "wget", "curlwithcache", "wgetwithcache"]) symlinkSync(binary, join(shimDir, name));
  return { dir, shimDir, cleanup: () => dir.cleanup() };
}

/** Run `fn` over `items` with at most `limit` in flight (2 cores: keep spawns bounded). */
export async function mapLimited<T, R>(items: readonly T[], limit: number, fn: (item: T, index: number) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array(items.length);
  let next = 0;
  const workers = Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) {
      const index = next++;
      results[index] = await fn(items[index]!, index);
    }
  });
  await Promise.all(workers);
  return results;
}

/** mulberry32: a tiny seeded PRNG, so a failing generated vector reproduces from its seed. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
