// Shared by the shim tests: a private copy of the up-to-date withcache binary in a temp dir (so a
// rebuild of dist/ never races us), symlinked as curl/wget first on PATH, and a clean-env runner.
import { copyFileSync, mkdirSync, symlinkSync } from "node:fs";
import { join } from "node:path";
import { ensureBuilt, makeTempDir, type TempDir } from "./helpers/index.ts";

export type ShimBin = { dir: TempDir; binary: string; shimDir: string; cleanup(): void };

/** Copy dist/withcache (rebuilt when stale) into a temp dir and put curl/wget symlinks in <dir>/shims. */
export async function compileShim(): Promise<ShimBin> {
  const dir = makeTempDir("withcache-shim-");
  const binary = join(dir.path, "withcache");
  // The shims under test are the binary users get (scripts/build flags), copied so a rebuild of
  // dist/ by another test cannot change it mid-run.
  copyFileSync(await ensureBuilt(), binary);
  const shimDir = join(dir.path, "shims");
  mkdirSync(shimDir);
  for (const name of ["curl", "wget", "curlwithcache", "wgetwithcache"]) symlinkSync(binary, join(shimDir, name));
  return { dir, binary, shimDir, cleanup: () => dir.cleanup() };
}

export type Ran = { exitCode: number; signal: string | null; stdout: Uint8Array; stderr: string; ms: number };

/** Run with exactly the env given (plus nothing inherited), bounded in time. */
export async function runExact(cmd: string[], options: { env: Record<string, string>; cwd?: string; timeoutMs?: number; stdin?: "ignore" }): Promise<Ran> {
  const started = performance.now();
  const proc = Bun.spawn(cmd, { env: options.env, cwd: options.cwd, stdin: "ignore", stdout: "pipe", stderr: "pipe", timeout: options.timeoutMs ?? 30_000 });
  const [stdout, stderr, exitCode] = await Promise.all([new Response(proc.stdout).bytes(), new Response(proc.stderr).text(), proc.exited]);
  return { exitCode, signal: proc.signalCode === null ? null : String(proc.signalCode), stdout, stderr, ms: performance.now() - started };
}

/** Split WITHCACHE_PLAN_ONLY output (NUL-terminated elements). */
export function parsePlanOutput(stdout: Uint8Array): string[] {
  const text = new TextDecoder().decode(stdout);
  if (!text.endsWith("\0")) throw new Error(`plan output does not end with NUL: ${JSON.stringify(text)}`);
  return text.slice(0, -1).split("\0");
}

/** A minimal PATH for the tools: the shim dir first, then the system dirs. */
export function shimPath(shimDir: string): string {
  return `${shimDir}:/usr/local/bin:/usr/bin:/bin`;
}
