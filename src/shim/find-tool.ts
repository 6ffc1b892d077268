// Finding the real curl/wget: $REAL_<TOOL>, else the first one on PATH that is not this binary
// (same device+inode after resolving symlinks) and not already exec'd by a shim in this chain.
import { accessSync, constants, realpathSync, statSync } from "node:fs";
import { isAbsolute, resolve } from "node:path";
import type { Tool } from "../core/plan/plan.ts";

/** Real paths the shims exec'd in this process chain, colon-separated: breaks wrapper loops. */
const SEEN_ENV = "WITHCACHE_SHIM_SEEN";
/** More hops than this through shims and wrappers is a loop, whatever the paths say. */
const SEEN_ENTRIES_MAX = 32;

type Env = Readonly<Record<string, string | undefined>>;
type FileId = { dev: number; ino: number };

export type FoundTool = { ok: true; path: string } | { ok: false; message: string };

function fileId(path: string): FileId | undefined {
  try {
    const st = statSync(path);
    return { dev: st.dev, ino: st.ino };
  } catch {
    return undefined;
  }
}

function isExecutableFile(path: string): boolean {
  try {
    if (!statSync(path).isFile()) return false;
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** The resolved path, or the path itself when it does not resolve. */
export function realPathOf(path: string): string {
  try {
    return realpathSync(path);
  } catch {
    return path;
  }
}

function seenList(env: Env): string[] {
  const raw = env[SEEN_ENV];
  return raw === undefined || raw === "" ? [] : raw.split(":");
}

export function findRealTool(tool: Tool, env: Env, options: { selfPath: string; cwd: string }): FoundTool {
  const envName = tool === "curl" ? "REAL_CURL" : "REAL_WGET";
  const seen = seenList(env);
  if (seen.length > SEEN_ENTRIES_MAX) {
    return { ok: false, message: `${SEEN_ENV} lists ${seen.length} hops; a wrapper loop? run the real ${tool} directly` };
  }
  const self = fileId(options.selfPath);
  const isSelf = (path: string): boolean => {
    const id = fileId(path);
    return self !== undefined && id !== undefined && id.dev === self.dev && id.ino === self.ino;
  };
  const override = env[envName];
  let name: string = tool;
  if (override !== undefined && override !== "") {
    if (override.includes("/")) {
      const path = isAbsolute(override) ? override : resolve(options.cwd, override);
      if (!isExecutableFile(path)) return { ok: false, message: `${envName}=${override} is not an executable file` };
      if (isSelf(path)) return { ok: false, message: `${envName}=${override} is this shim itself` };
      return { ok: true, path };
    }
    name = override;
  }
  const seenSet = new Set(seen);
  for (const dir of (env.PATH ?? "").split(":")) {
    const candidate = resolve(options.cwd, dir === "" ? "." : dir, name);
    if (!isExecutableFile(candidate) || isSelf(candidate)) continue;
    // On a first hop nothing has been seen: skip the realpath (it runs on every shimmed call).
    if (seenSet.size > 0 && seenSet.has(realPathOf(candidate))) continue;
    return { ok: true, path: candidate };
  }
  return { ok: false, message: `no real ${tool} found on PATH (set ${envName})` };
}

/** The environment for the real tool: the caller's, plus this hop in the seen list. */
export function envForExec(env: Env, toolPath: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [key, value] of Object.entries(env)) if (value !== undefined) out[key] = value;
  out[SEEN_ENV] = [...seenList(env), realPathOf(toolPath)].join(":");
  return out;
}
