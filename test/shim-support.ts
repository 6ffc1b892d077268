// Shared by the shim tests: a freshly compiled withcache binary in a temp dir (so parallel work on
// dist/ never races us), symlinked as curl/wget first on PATH, and a runner with a clean env.
import { mkdirSync, symlinkSync } from "node:fs";
import { join, resolve } from "node:path";
import { makeTempDir, type TempDir } from "./helpers/index.ts";

const ROOT = resolve(import.meta.dir, "..");

export type ShimBin = { dir: TempDir; binary: string; shimDir: string; cleanup(): void };

/** Compile src/main.ts into a temp dir (~0.5 s) and put curl/wget symlinks in <dir>/shims. */
export async function compileShim(): Promise<ShimBin> {
  const dir = makeTempDir("withcache-shim-");
  const binary = join(dir.path, "withcache");
  const build = Bun.spawnSync({
    cmd: [process.execPath, "build", "--compile", "--no-compile-autoload-dotenv", "--no-compile-autoload-bunfig", join(ROOT, "src/main.ts"), "--outfile", binary],
    cwd: ROOT,
    stdout: "pipe",
    stderr: "pipe",
  });
  if (build.exitCode !== 0) throw new Error(`shim build failed: ${build.stderr.toString()}`);
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
