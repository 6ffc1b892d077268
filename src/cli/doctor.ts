// `withcache doctor`: for curl and wget, which program `curl`/`wget` runs in this shell, whether it
// is a withcache shim (TypeScript or Zig: both answer --withcache-version), which real tool the shim
// would hand over to, which server it would ask and whether that server's /healthz answers.
// When plain `curl` is not a shim but `curlwithcache` is (install-shims DIR at the end of PATH,
// the README's "by name" adoption), that shim is the one diagnosed.
// Ends with one verdict per tool; exit 0 only when both go through a live cache.
import { readdirSync } from "node:fs";
import { join } from "node:path";
import type { Command } from "commander";
import { serverBaseUrl, type Tool } from "../core/plan/plan.ts";
import { findRealTool, realPathOf } from "../shim/find-tool.ts";
import { serverEnvName, serverSetting, serverSource, VERSION_ARG } from "../shim/run.ts";
import { VERSION } from "../version.ts";

/** /healthz is tiny; a cache that needs longer than this is not one the shim will wait for. */
const HEALTH_TIMEOUT_MS = 2000;
const SHIM_VERSION_TIMEOUT_MS = 3000;
/** Later `curl`s on PATH asked whether they are a shim hidden behind the first one. */
const SHADOWED_CANDIDATES_MAX = 8;

type Env = Readonly<Record<string, string | undefined>>;

export type ToolReport = {
  tool: Tool;
  /** The name the diagnosed shim answers to: `curl`, or `curlwithcache` when only that is a shim. */
  name: string;
  inEffect: string | null;
  shimVersion: string | null;
  /** What plain `curl` runs when `name` is `curlwithcache`. */
  plainTool: string | null;
  /** A shim further down PATH, hidden by `inEffect`. */
  shadowedShim: string | null;
  realTool: string | null;
  realToolProblem: string | null;
  server: string | null;
  serverSource: string | null;
  serverProblem: string | null;
  health: string;
  healthy: boolean;
  verdict: string;
  ok: boolean;
};

function whichOnPath(name: string, env: Env): string | null {
  return Bun.which(name, { PATH: env.PATH ?? "" }) ?? null;
}

/** Every executable called `name` on PATH, in PATH order, the first one included. */
function allOnPath(name: string, env: Env): string[] {
  const found: string[] = [];
  for (const dir of (env.PATH ?? "").split(":")) {
    if (dir === "") continue;
    try {
      if (!readdirSync(dir).includes(name)) continue;
    } catch {
      continue;
    }
    const path = Bun.which(name, { PATH: dir });
    if (path !== null && !found.includes(path)) found.push(path);
  }
  return found;
}

async function shimVersionOf(path: string, env: Env): Promise<string | null> {
  try {
    const proc = Bun.spawn([path, VERSION_ARG], { stdin: "ignore", stdout: "pipe", stderr: "ignore", timeout: SHIM_VERSION_TIMEOUT_MS, env: { PATH: env.PATH ?? "" } });
    const [out, code] = await Promise.all([new Response(proc.stdout).text(), proc.exited]);
    const version = out.trim();
    return code === 0 && /^\d+\.\d+\.\d+\S*$/.test(version) ? version : null;
  } catch {
    return null;
  }
}

/**
 * Why the shim cannot use this server setting at all (it then passes every command through), or
 * null. The shim does not complain (a shim must never break curl); the doctor is where it shows.
 */
export function serverSettingProblem(setting: string): string | null {
  const expected = "expected host, host:port or http(s)://host:port[/prefix]";
  if (/\s/.test(setting)) return `${JSON.stringify(setting)} contains whitespace; ${expected}`;
  const scheme = /^([a-z][a-z0-9+.-]*):\/\//i.exec(setting)?.[1];
  if (scheme !== undefined && !/^https?$/i.test(scheme)) return `${JSON.stringify(setting)} is not http or https; ${expected}`;
  try {
    const url = new URL(serverBaseUrl(setting));
    if (url.hostname === "") return `${JSON.stringify(setting)} names no host; ${expected}`;
  } catch {
    return `${JSON.stringify(setting)} is not a server address; ${expected}`;
  }
  return null;
}

/** A fetch failure as a few words: Bun's messages are long and differ between versions. */
function failureReason(err: unknown): string {
  const name = err instanceof Error ? err.name : "";
  if (name === "TimeoutError" || name === "AbortError") return `no answer within ${HEALTH_TIMEOUT_MS} ms`;
  const code = (err as { code?: unknown }).code;
  const known: Record<string, string> = {
    ECONNREFUSED: "connection refused (nothing listens there)",
    ENOTFOUND: "host name not found",
    ECONNRESET: "connection reset",
    EHOSTUNREACH: "host unreachable",
    ENETUNREACH: "network unreachable",
  };
  if (typeof code === "string") return known[code] ?? code.toLowerCase();
  return (err instanceof Error ? err.message : String(err)).split("\n")[0]!;
}

async function healthOf(base: string): Promise<{ healthy: boolean; text: string }> {
  const url = `${base}/healthz`;
  const started = performance.now();
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(HEALTH_TIMEOUT_MS), redirect: "manual", headers: { accept: "text/plain" } });
    const body = (await res.text()).trim().split("\n")[0]?.slice(0, 100) ?? "";
    const ms = Math.round(performance.now() - started);
    if (res.status !== 200) {
      return { healthy: false, text: `answered ${res.status}, expected 200 (GET ${url}, ${ms} ms); is that a withcache cache-host? check the host, port and any /prefix` };
    }
    return { healthy: true, text: `${body || "ok"} (GET ${url}, ${ms} ms)` };
  } catch (err) {
    return { healthy: false, text: `no answer: ${failureReason(err)} (GET ${url})` };
  }
}

/** The shim to diagnose for `tool`: plain `curl` when it is one, else `curlwithcache` when that is. */
async function findShim(tool: Tool, env: Env): Promise<{ name: string; inEffect: string | null; shimVersion: string | null; plainTool: string | null; shadowedShim: string | null }> {
  const plain = whichOnPath(tool, env);
  const plainVersion = plain === null ? null : await shimVersionOf(plain, env);
  if (plainVersion !== null) return { name: tool, inEffect: plain, shimVersion: plainVersion, plainTool: null, shadowedShim: null };
  let shadowedShim: string | null = null;
  for (const candidate of allOnPath(tool, env).slice(1, 1 + SHADOWED_CANDIDATES_MAX)) {
    if ((await shimVersionOf(candidate, env)) !== null) {
      shadowedShim = candidate;
      break;
    }
  }
  const byName = `${tool}withcache`;
  const named = whichOnPath(byName, env);
  const namedVersion = named === null ? null : await shimVersionOf(named, env);
  if (named !== null && namedVersion !== null) return { name: byName, inEffect: named, shimVersion: namedVersion, plainTool: plain, shadowedShim };
  return { name: tool, inEffect: plain, shimVersion: null, plainTool: null, shadowedShim };
}

export async function diagnose(tool: Tool, env: Env, cwd: string): Promise<ToolReport> {
  const { name, inEffect, shimVersion, plainTool, shadowedShim } = await findShim(tool, env);
  let realTool: string | null = null;
  let realToolProblem: string | null = null;
  if (shimVersion !== null && inEffect !== null) {
    const found = findRealTool(tool, env, { selfPath: realPathOf(inEffect), cwd });
    if (found.ok) realTool = found.path;
    else realToolProblem = found.message;
  }
  const setting = serverSetting(tool, env);
  const specific = serverEnvName(tool);
  const source = serverSource(tool, env);
  const emptySpecific = setting === undefined && env[specific] === "";
  const generalUnused = (env.WITHCACHE_SERVER ?? "") !== "" ? " (WITHCACHE_SERVER is not used)" : "";
  const serverProblem = setting === undefined ? null : serverSettingProblem(setting);
  const server = setting === undefined || serverProblem !== null ? null : serverBaseUrl(setting);
  const health = server === null ? { healthy: false, text: serverProblem === null ? "not checked (no server set)" : "not checked (the server setting is not usable)" } : await healthOf(server);
  const hidden = shadowedShim === null ? "" : `; a withcache shim is on PATH at ${shadowedShim}, but ${plainTool ?? inEffect} comes first`;

  let verdict: string;
  let ok = false;
  if (inEffect === null) verdict = `no ${tool} on PATH at all`;
  else if (shimVersion === null) {
    verdict = shadowedShim !== null
      ? `not shimmed: ${tool} is ${inEffect}${hidden}; put that directory first on PATH`
      : `not shimmed: ${tool} is ${inEffect}; run \`withcache install-shims DIR\` and put DIR first on PATH`;
  } else if (realTool === null) verdict = `broken: the shim finds no real ${tool} (${realToolProblem}); it would exit 127`;
  else if (serverProblem !== null) verdict = `cache off: ${source}=${serverProblem}; the shim runs ${realTool} untouched`;
  else if (emptySpecific) verdict = `cache off: ${specific} is set but empty, which turns the cache off for ${tool}${generalUnused}; the shim runs ${realTool} untouched`;
  else if (server === null) verdict = `cache off: no ${specific} or WITHCACHE_SERVER set, so the shim runs ${realTool} untouched`;
  else if (!health.healthy) verdict = `cache unreachable: the shim passes everything through to ${realTool} (a refused connection costs next to nothing; a silent or slow host costs each call up to ~1 s of probing)`;
  else {
    verdict = name === tool
      ? `ok: ${tool} downloads go through the cache at ${server}`
      : `ok (by name): ${name} downloads go through the cache at ${server}; plain ${tool} is ${plainTool ?? "not on PATH"}, untouched`;
    ok = true;
  }
  return { tool, name, inEffect, shimVersion, plainTool, shadowedShim, realTool, realToolProblem, server, serverSource: env[source] === undefined ? null : source, serverProblem, health: health.text, healthy: health.healthy, verdict, ok };
}

export function renderReport(r: ToolReport): string {
  const target = r.inEffect === null ? null : realPathOf(r.inEffect);
  const via = r.inEffect !== null && target !== null && target !== r.inEffect ? ` -> ${target}` : "";
  const inEffect = r.inEffect === null ? "(none on PATH)" : `${r.inEffect}${via}${r.shimVersion !== null ? ` (withcache shim ${r.shimVersion}${r.shimVersion === VERSION ? "" : `; this withcache is ${VERSION}: upgrade the shim`})` : " (not a withcache shim)"}`;
  const real = r.shimVersion === null ? "(not applicable)" : (r.realTool ?? `none: ${r.realToolProblem}`);
  const server = r.serverProblem !== null
    ? `unusable: ${r.serverSource}=${r.serverProblem}`
    : r.server !== null
      ? `${r.server} (from ${r.serverSource})`
      : r.serverSource !== null
        ? `(off: ${r.serverSource} is set but empty)`
        : "(not set)";
  return [
    r.name === r.tool ? r.tool : `${r.tool} (by name: ${r.name})`,
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
    .description("show which curl/wget is in effect, the real tool and server the shim would use, and whether the server answers; exit 0 only when both use a live cache")
    .action(async () => {
      const reports = [await diagnose("curl", process.env, process.cwd()), await diagnose("wget", process.env, process.cwd())];
      process.stdout.write(`${reports.map(renderReport).join("\n\n")}\n\n`);
      const allOk = reports.every((r) => r.ok);
      const users = reports.map((r) => r.name).join(" and ");
      process.stdout.write(allOk ? `verdict: ok, ${users} use the cache\n` : `verdict: ${reports.filter((r) => !r.ok).map((r) => `${r.tool} not using the cache`).join(", ")}\n`);
      if (!allOk) process.exitCode = 1;
    });
}
