// The compiled binary the integration tests drive: dist/withcache, built exactly as users get it
// (scripts/build). Rebuilt once per test process when any source is newer than the binary, so a
// single test file run after an edit never tests a stale build.
import { readdirSync, statSync } from "node:fs";
import { join, resolve } from "node:path";

const ROOT = resolve(import.meta.dir, "../..");
export const DIST_BINARY = join(ROOT, "dist/withcache");

function newestMtimeMs(path: string): number {
  const st = statSync(path);
  if (!st.isDirectory()) return st.mtimeMs;
  let newest = st.mtimeMs;
  for (const name of readdirSync(path)) newest = Math.max(newest, newestMtimeMs(join(path, name)));
  return newest;
}

function isStale(): boolean {
  try {
    const sources = Math.max(newestMtimeMs(join(ROOT, "src")), statSync(join(ROOT, "package.json")).mtimeMs);
    return statSync(DIST_BINARY).mtimeMs < sources;
  } catch {
    return true;
  }
}

let building: Promise<string> | null = null;

/** Path of an up-to-date dist/withcache (builds it with scripts/build when stale). */
export function ensureBuilt(): Promise<string> {
  building ??= (async () => {
    if (!isStale()) return DIST_BINARY;
    const proc = Bun.spawn([join(ROOT, "scripts/build")], { cwd: ROOT, stdout: "pipe", stderr: "pipe", timeout: 180_000 });
    const [stderr, exitCode] = await Promise.all([new Response(proc.stderr).text(), proc.exited]);
    if (exitCode !== 0) throw new Error(`scripts/build failed (exit ${exitCode}): ${stderr.trim().split("\n").pop()}`);
    return DIST_BINARY;
  })();
  return building;
}
