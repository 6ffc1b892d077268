// The shim's I/O shell: read the environment, find the real tool, probe, then hand over.
// Keep the import graph tiny: no zod, commander or server code on this path.
import { isUtf8 } from "node:buffer";
import { readFileSync, writeSync } from "node:fs";
import { preparePlan, finishPlan, serverBaseUrl, type Tool } from "../core/plan/plan.ts";
import { VERSION } from "../version.ts";
import { envForExec, findRealTool } from "./find-tool.ts";
import { handOver, handOverRawBytes, inheritedDescriptors } from "./exec.ts";
import { probeAll } from "./probe.ts";

export const VERSION_ARG = "--withcache-version";
const PLAN_ONLY_ENV = "WITHCACHE_PLAN_ONLY";

type Env = Readonly<Record<string, string | undefined>>;

/** The per-tool server variable, which beats WITHCACHE_SERVER. */
export function serverEnvName(tool: Tool): "CURLWITHCACHE_SERVER" | "WGETWITHCACHE_SERVER" {
  return tool === "curl" ? "CURLWITHCACHE_SERVER" : "WGETWITHCACHE_SERVER";
}

/** Which variable decides the server: the tool-specific one when set, even empty. */
export function serverSource(tool: Tool, env: Env): string {
  return env[serverEnvName(tool)] !== undefined ? serverEnvName(tool) : "WITHCACHE_SERVER";
}

/** Tool-specific variable wins when set, even empty (empty turns the cache off for that tool). */
export function serverSetting(tool: Tool, env: Env): string | undefined {
  const value = env[serverSource(tool, env)];
  return value === undefined || value === "" ? undefined : value;
}

/**
 * Bun decodes argv as UTF-8, turning other bytes into U+FFFD. Only when a U+FFFD shows up, read
 * the raw bytes back from /proc/self/cmdline; if they are not UTF-8, the command must pass
 * through byte for byte (see README: such argv is never planned).
 */
function rawArgsIfNotUtf8(args: string[]): Uint8Array[] | undefined {
  if (!args.some((a) => a.includes("\uFFFD"))) return undefined;
  let cmdline: Buffer;
  try {
    cmdline = readFileSync("/proc/self/cmdline");
  } catch {
    return undefined;
  }
  const parts: Uint8Array[] = [];
  let start = 0;
  for (let k = 0; k < cmdline.length; k++) {
    if (cmdline[k] === 0) {
      parts.push(cmdline.subarray(start, k));
      start = k + 1;
    }
  }
  const raw = parts.slice(1); // drop argv[0]
  if (raw.length !== args.length) return undefined;
  return raw.every((bytes) => isUtf8(bytes)) ? undefined : raw;
}

function argv0For(tool: Tool): string {
  const invoked = process.argv0;
  return invoked.split("/").pop() === tool ? invoked : tool;
}

/** WITHCACHE_PLAN_ONLY: the final argv on stdout, each element followed by a NUL byte. */
function printPlanAndExit(argv: Array<string | Uint8Array>): never {
  writeSync(1, Buffer.concat(argv.flatMap((a) => [Buffer.from(a), Buffer.from([0])])));
  process.exit(0);
}

export async function runShim(tool: Tool, args: string[]): Promise<void> {
  if (args.length === 1 && args[0] === VERSION_ARG) {
    writeSync(1, `${VERSION}\n`);
    process.exit(0);
  }
  const inherited = inheritedDescriptors(); // before the shim opens anything of its own
  const env: Env = process.env;
  const found = findRealTool(tool, env, { selfPath: process.execPath, cwd: process.cwd() });
  if (!found.ok) {
    process.stderr.write(`${tool}: withcache: ${found.message}\n`);
    process.exit(127);
  }
  const rawArgs = rawArgsIfNotUtf8(args);
  if (rawArgs !== undefined) {
    if (env[PLAN_ONLY_ENV] === "1") printPlanAndExit([found.path, ...rawArgs]);
    const argv0 = Buffer.from(argv0For(tool));
    await handOverRawBytes(found.path, [argv0, ...rawArgs], envForExec(env, found.path), inherited);
    // Could not exec raw bytes: fall through with the decoded strings rather than fail.
  }
  let finalArgs = args;
  const server = rawArgs === undefined ? serverSetting(tool, env) : undefined;
  if (server !== undefined) {
    const plan = preparePlan(tool, args, serverBaseUrl(server));
    if (plan.probes.size > 0) finalArgs = finishPlan(plan, await probeAll(tool, found.path, plan.probes, env, Date.now()));
  }
  if (env[PLAN_ONLY_ENV] === "1") printPlanAndExit([found.path, ...finalArgs]);
  await handOver(found.path, [argv0For(tool), ...finalArgs], envForExec(env, found.path), inherited);
}
