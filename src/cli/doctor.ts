// `withcache doctor`: for curl and wget, which program `curl`/`wget` runs in this shell, whether it
// is a withcache shim (TypeScript or Zig: both answer --withcache-version), which real tool the shim
// would hand over to, which server it would ask and whether that server's /healthz answers.
// Ends with one verdict per tool; exit 0 only when both go through a live cache.
import { realpathSync } from "node:fs";
import type { Command } from "commander";
import { serverBaseUrl, type Tool } from "../core/plan/plan.ts";
import { findRealTool } from "../shim/find-tool.ts";
import { serverEnvName, serverSetting, serverSource, VERSION_ARG } from "../shim/run.ts";

/** /healthz is tiny; a cache that needs longer than this is not one the shim will wait for. */
const HEALTH_TIMEOUT_MS = 2000;
const SHIM_VERSION_TIMEOUT_MS = 3000;

type Env = Readonly<Record<string, string | undefined>>;

export type ToolReport = {
  tool: Tool;
  inEffect: string | null;
  shimVersion: string | null;
  realTool: string | null;
  realToolProblem: string | null;
  server: string | null;
  serverSource: string | null;
  health: string;
  healthy: boolean;
  verdict: string;
  ok: boolean;
};

function whichOnPath(name: string, env: Env): string | null {
  return Bun.which(name, { PATH: env.PATH ?? "" }) ?? null;
}

async function shimVersionOf(path: string): Promise<string | null> {
  try {
    const proc = Bun.spawn([path, VERSION_ARG], { stdin: "ignore", stdout: "pipe", stderr: "ignore", timeout: SHIM_VERSION_TIMEOUT_MS, env: { PATH: process.env.PATH ?? "" } });
    const [out, code] = await Promise.all([new Response(proc.stdout).text(), proc.exited]);
    const version = out.trim();
    return code === 0 && /^\d+\.\d+\.\d+\S*$/.test(version) ? version : null;
  } catch {
    return null;
  }
}

async function healthOf(base: string): Promise<{ healthy: boolean; text: string }> {
  const url = `${base}/healthz`;
  const started = performance.now();
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(HEALTH_TIMEOUT_MS), redirect: "manual", headers: { accept: "text/plain" } });
    const body = (await res.text()).trim().split("\n")[0]?.slice(0, 100) ?? "";
    const ms = Math.round(performance.now() - started);
    if (res.status !== 200) return { healthy: false, text: `answered ${res.status} (GET ${url}, ${ms} ms)` };
    return { healthy: true, text: `${body || "ok"} (GET ${url}, ${ms} ms)` };
  } catch (err) {
    const reason = err instanceof Error ? err.message : String(err);
    return { healthy: false, text: `no answer: ${reason} (GET ${url})` };
  }
}

export async function diagnose(tool: Tool, env: Env, cwd: string): Promise<ToolReport> {
  const inEffect = whichOnPath(tool, env);
  const shimVersion = inEffect === null ? null : await shimVersionOf(inEffect);
  let realTool: string | null = null;
  let realToolProblem: string | null = null;
  if (shimVersion !== null && inEffect !== null) {
    const found = findRealTool(tool, env, { selfPath: realpathSync(inEffect), cwd });
    if (found.ok) realTool = found.path;
    else realToolProblem = found.message;
  }
  const setting = serverSetting(tool, env);
  const specific = serverEnvName(tool);
  const source = setting === undefined ? null : serverSource(tool, env);
  const server = setting === undefined ? null : serverBaseUrl(setting);
  const health = server === null ? { healthy: false, text: "not checked (no server set)" } : await healthOf(server);

  let verdict: string;
  let ok = false;
  if (inEffect === null) verdict = `no ${tool} on PATH at all`;
  else if (shimVersion === null) verdict = `not shimmed: ${tool} is ${inEffect}; run \`withcache install-shims DIR\` and put DIR first on PATH`;
  else if (realTool === null) verdict = `broken: the shim finds no real ${tool} (${realToolProblem}); it would exit 127`;
  else if (server === null) verdict = `cache off: no ${specific} or WITHCACHE_SERVER set, so the shim runs ${realTool} untouched`;
  else if (!health.healthy) verdict = `cache unreachable: the shim passes everything through to ${realTool} (a refused connection costs next to nothing; a silent or slow host costs each call up to ~1 s of probing)`;
  else {
    verdict = `ok: ${tool} downloads go through the cache at ${server}`;
    ok = true;
  }
  return { tool, inEffect, shimVersion, realTool, realToolProblem, server, serverSource: source, health: health.text, healthy: health.healthy, verdict, ok };
}

export function renderReport(r: ToolReport): string {
  const inEffect = r.inEffect === null ? "(none on PATH)" : `${r.inEffect}${r.shimVersion !== null ? ` (withcache shim ${r.shimVersion})` : " (not a withcache shim)"}`;
  const real = r.shimVersion === null ? "(not applicable)" : (r.realTool ?? `none: ${r.realToolProblem}`);
  const server = r.server === null ? "(not set)" : `${r.server} (from ${r.serverSource})`;
  return [
    `${r.tool}`,
    `  in effect:  ${inEffect}`,
    `  real tool:  ${real}`,
    `  server:     ${server}`,
    `  health:     ${r.health}`,
    `  verdict:    ${r.verdict}`,
  ].join("\n");
}

export function registerDoctor(program: Command): void {
  program
    .command("doctor")
    .description("show which curl/wget is in effect, the real tool and server the shim would use, and whether the server answers")
    .action(async () => {
      const reports = [await diagnose("curl", process.env, process.cwd()), await diagnose("wget", process.env, process.cwd())];
      process.stdout.write(`${reports.map(renderReport).join("\n\n")}\n\n`);
      const allOk = reports.every((r) => r.ok);
      process.stdout.write(allOk ? "verdict: ok, curl and wget use the cache\n" : `verdict: ${reports.filter((r) => !r.ok).map((r) => `${r.tool} not using the cache`).join(", ")}\n`);
      if (!allOk) process.exitCode = 1;
    });
}
