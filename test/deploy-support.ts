// Helpers for the deploy, release and README tests: run the compiled binary, read its --help,
// start `withcache serve` on a free loopback port and wait (bounded) until /healthz answers.
import { expect } from "bun:test";
import fs from "node:fs";
import path from "node:path";
import { ensureBuilt } from "./helpers/build.ts";
import { pipeText } from "./helpers/proc.ts";

export const ROOT = path.resolve(import.meta.dir, "..");
export const PACKAGE_VERSION: string = JSON.parse(fs.readFileSync(path.join(ROOT, "package.json"), "utf8")).version;

/** The tests drive the compiled binary, rebuilt by scripts/build when any source is newer. */
export async function requireBinary(): Promise<string> {
  return ensureBuilt();
}

export type RunResult = { code: number | null; signal: string | null; stdout: string; stderr: string };

/** Run a command to completion with a time bound; never inherits a proxy from the test's env. */
export async function run(
  cmd: string[],
  options: { env?: Record<string, string | undefined>; cwd?: string; timeoutMs?: number; argv0?: string } = {},
): Promise<RunResult> {
  const proc = Bun.spawn(cmd, {
    cwd: options.cwd ?? ROOT,
    env: cleanEnv(options.env),
    stdout: "pipe",
    stderr: "pipe",
    stdin: "ignore",
    argv0: options.argv0,
    timeout: options.timeoutMs ?? 20_000,
    killSignal: "SIGKILL",
  });
  const [stdout, stderr] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text()]);
  await proc.exited;
  return { code: proc.exitCode, signal: proc.signalCode === null ? null : String(proc.signalCode), stdout, stderr };
}

/** The parent's env minus proxies and withcache settings, plus the given overrides. */
export function cleanEnv(extra: Record<string, string | undefined> = {}): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (v === undefined) continue;
    if (/^(https?|all|no)_proxy$/i.test(k) || /^(CURL|WGET)?WITHCACHE_/.test(k)) continue;
    env[k] = v;
  }
  for (const [k, v] of Object.entries(extra)) {
    if (v === undefined) delete env[k];
    else env[k] = v;
  }
  return env;
}

/** A loopback port that was free a moment ago (for flags that need a number up front). */
export function freePort(): number {
  const listener = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
  const port = listener.port;
  listener.stop(true);
  return port;
}

export type Help = { text: string; longFlags: Set<string>; envVars: Set<string>; subcommands: string[] };

/** `withcache [sub] --help`, parsed: long flags from the options list, `(env: X)` names, subcommands. */
export async function readHelp(sub: string[]): Promise<Help> {
  const res = await run([await requireBinary(), ...sub, "--help"]);
  expect(res.code, `withcache ${sub.join(" ")} --help failed: ${res.stderr}`).toBe(0);
  const text = res.stdout;
  const longFlags = new Set<string>();
  const envVars = new Set<string>();
  const subcommands: string[] = [];
  let section = "";
  for (const line of text.split("\n")) {
    const heading = /^(\w[\w ]*):\s*$/.exec(line);
    if (heading) {
      section = heading[1]!.toLowerCase();
      continue;
    }
    if (section === "options") {
      const head = /^\s{2}(\S.*?)(\s{2,}|$)/.exec(line)?.[1] ?? "";
      for (const m of head.matchAll(/--[a-z0-9][a-z0-9-]*/g)) longFlags.add(m[0]);
    }
    if (section === "commands") {
      const name = /^\s{2}([a-z][a-z0-9-]*)/.exec(line)?.[1];
      if (name && name !== "help") subcommands.push(name);
    }
  }
  // "(env WITHCACHE_X)" / "(env: X)", possibly wrapped across lines by commander.
  for (const m of text.matchAll(/\benv:?\s+([A-Z][A-Z0-9_]*)/g)) envVars.add(m[1]!);
  return { text, longFlags, envVars, subcommands };
}

/** Poll until `url` answers 200 or the bound passes; no sleeps beyond a short poll interval. */
async function waitForHttp200(url: string, deadlineMs = 15_000, proc?: { exitCode: number | null }): Promise<void> {
  const until = Date.now() + deadlineMs;
  let last = "no answer";
  while (Date.now() < until) {
    if (proc && proc.exitCode !== null) throw new Error(`server exited with ${proc.exitCode} before ${url} answered`);
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(1000) });
      await res.body?.cancel();
      if (res.status === 200) return;
      last = `status ${res.status}`;
    } catch (err) {
      last = String(err);
    }
    await Bun.sleep(50);
  }
  throw new Error(`${url} did not answer 200 within ${deadlineMs}ms (${last})`);
}

export type Served = { proc: Bun.Subprocess<"ignore", "pipe", "pipe">; baseUrl: string; output: () => string; stop: () => Promise<void> };

/** Start `<bin> serve ...args` (args must choose 127.0.0.1 and `port`), wait for /healthz. */
export async function startServe(
  bin: string,
  args: string[],
  port: number,
  options: { cwd?: string; env?: Record<string, string | undefined>; readyTimeoutMs?: number } = {},
): Promise<Served> {
  const proc = Bun.spawn([bin, ...args], {
    cwd: options.cwd ?? ROOT,
    env: cleanEnv(options.env),
    stdin: "ignore",
    stdout: "pipe",
    stderr: "pipe",
  });
  let out = "";
  const drained = Promise.all([pipeText(proc.stdout, (t) => (out += t)), pipeText(proc.stderr, (t) => (out += t))]);
  const baseUrl = `http://127.0.0.1:${port}`;
  const stop = async () => {
    if (proc.exitCode === null && proc.signalCode === null) proc.kill("SIGTERM");
    const killer = setTimeout(() => proc.kill("SIGKILL"), 10_000);
    await proc.exited;
    clearTimeout(killer);
    await drained;
  };
  try {
    await waitForHttp200(`${baseUrl}/healthz`, options.readyTimeoutMs ?? 20_000, proc);
  } catch (err) {
    await stop();
    throw new Error(`${(err as Error).message}\nserver output:\n${out}`);
  }
  return { proc, baseUrl, output: () => out, stop };
}
