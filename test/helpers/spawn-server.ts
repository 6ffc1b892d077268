// The cache-host as a separate process (source via bun, or the compiled dist/withcache), for
// tests that kill -9 it, send SIGTERM, or sample its RSS. Reads the port from the startup line.
import type { Subprocess } from "bun";
import { mkdirSync, readFileSync } from "node:fs";
import { resolve } from "node:path";
import { childEnv, pipeText } from "./proc.ts";

export const REPO_ROOT = resolve(import.meta.dir, "../..");

export type SpawnedServer = {
  proc: Subprocess<"ignore", "pipe", "pipe">;
  url: string;
  port: number;
  /** Everything the process printed on stdout so far. */
  output(): string;
  stderr(): string;
};

export async function spawnServer(options: {
  dataDir: string;
  args?: string[];
  binary?: string;
  /** false for a binary invoked as withcache-server, which is `serve` by its name. */
  serveSubcommand?: boolean;
  env?: Record<string, string>;
  timeoutMs?: number;
}): Promise<SpawnedServer> {
  const cmd = options.binary ? [options.binary] : [process.execPath, resolve(REPO_ROOT, "src/main.ts")];
  if (options.serveSubcommand !== false) cmd.push("serve");
  cmd.push("--data-dir", options.dataDir, "--host", "127.0.0.1", "--port", "0", ...(options.args ?? []));
  mkdirSync(options.dataDir, { recursive: true });
  const proc = Bun.spawn(cmd, {
    cwd: options.dataDir,
    env: childEnv(options.env),
    stdin: "ignore",
    stdout: "pipe",
    stderr: "pipe",
  });
  let out = "";
  let err = "";
  void pipeText(proc.stdout, (t) => (out += t));
  void pipeText(proc.stderr, (t) => (err += t));
  const deadline = Date.now() + (options.timeoutMs ?? 15_000);
  let port = 0;
  while (Date.now() < deadline) {
    const m = /listening on http:\/\/127\.0\.0\.1:(\d+)/.exec(out);
    if (m) {
      port = Number(m[1]);
      break;
    }
    if (proc.exitCode !== null) break;
    await Bun.sleep(20);
  }
  if (port === 0) {
    proc.kill(9);
    throw new Error(`server did not start: exit=${proc.exitCode} stdout=${out} stderr=${err}`);
  }
  return { proc, url: `http://127.0.0.1:${port}`, port, output: () => out, stderr: () => err };
}

/** VmRSS of a live process in bytes, from /proc/<pid>/status. */
export function rssBytes(pid: number): number | null {
  try {
    const status = readFileSync(`/proc/${pid}/status`, "utf8");
    const m = /VmRSS:\s+(\d+) kB/.exec(status);
    return m ? Number(m[1]) * 1024 : null;
  } catch {
    return null;
  }
}
