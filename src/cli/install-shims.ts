// `withcache install-shims DIR`: curl, wget, curlwithcache, wgetwithcache → symlinks to this
// binary in DIR (argv[0] picks the mode). Never replaces a file that is not a symlink; checks all
// four names before touching any. `--uninstall` removes only symlinks that lead to withcache.
import { lstatSync, mkdirSync, readdirSync, readlinkSync, realpathSync, renameSync, symlinkSync, unlinkSync } from "node:fs";
import { join, resolve } from "node:path";
import type { Command } from "commander";
import { z } from "zod";
import { fsReason, quote } from "../core/errors.ts";

export const SHIM_NAMES = ["curl", "wget", "curlwithcache", "wgetwithcache"] as const;

const argsSchema = z.strictObject({
  dir: z.string().min(1, "DIR: empty; expected a directory such as ~/.local/share/withcache/shims"),
  uninstall: z.boolean(),
  binary: z.string().min(1),
});

/** lines: the report, or the error(s) when !ok; done: what was changed before an error. */
type Outcome = { lines: string[]; ok: boolean; done?: string[] };

function realOrNull(path: string): string | null {
  try {
    return realpathSync(path);
  } catch {
    return null;
  }
}

function kindOf(path: string): "missing" | "symlink" | "other" {
  try {
    return lstatSync(path).isSymbolicLink() ? "symlink" : "other";
  } catch {
    return "missing";
  }
}

type Env = Readonly<Record<string, string | undefined>>;

/** An fs error as one line: `cannot create /x: permission denied (run as root?)`. */
function fsFailure(what: string, path: string, err: unknown): string {
  const why = fsReason(err, {
    EACCES: "permission denied (run as root, e.g. with sudo?)",
    EPERM: "operation not permitted (run as root, e.g. with sudo?)",
  });
  return `install-shims: cannot ${what} ${path}: ${why}`;
}

/** What to do next: PATH (unless DIR already wins for curl and wget) and the server variable. */
function nextSteps(dir: string, env: Env): string[] {
  const pathDirs = (env.PATH ?? "").split(":").filter((d) => d !== "");
  const winsOnPath = (["curl", "wget"] as const).every((tool) => {
    const first = Bun.which(tool, { PATH: env.PATH ?? "" });
    return first !== null && realOrNull(first) === realOrNull(join(dir, tool));
  });
  const lines = [""];
  if (winsOnPath) lines.push(`${dir} is already first on PATH for curl and wget.`);
  else {
    lines.push(
      "to make curl and wget themselves use the cache, put DIR first on PATH (e.g. in ~/.profile):",
      `  export PATH="${dir}:$PATH"`,
    );
    if (!pathDirs.includes(dir)) lines.push(`or, to keep curl plain and call curlwithcache/wgetwithcache by name, put it last:`, `  export PATH="$PATH:${dir}"`);
  }
  if ((env.WITHCACHE_SERVER ?? "") === "") lines.push("and name the cache-host (host, host:port or a URL; port 3000 if none):", "  export WITHCACHE_SERVER=cache-host:3000");
  lines.push("then check with `withcache doctor`.");
  return lines;
}

export function installShims(options: { dir: string; binary: string; env?: Env }): Outcome {
  const dir = resolve(options.dir);
  const binary = realOrNull(options.binary);
  if (binary === null) return { ok: false, lines: [`install-shims: binary ${quote(options.binary)} does not exist`] };

  const conflicts = SHIM_NAMES.map((name) => join(dir, name)).filter((path) => kindOf(path) === "other");
  if (conflicts.length > 0) {
    return { ok: false, lines: conflicts.map((path) => `install-shims: ${path} exists and is not a symlink; not replacing it (move it away first)`) };
  }
  try {
    mkdirSync(dir, { recursive: true });
  } catch (err) {
    return { ok: false, lines: [fsFailure("create", dir, err)] };
  }
  const lines: string[] = [];
  for (const name of SHIM_NAMES) {
    const path = join(dir, name);
    const previous = kindOf(path) === "symlink" ? readlinkSync(path) : null;
    if (previous !== null && realOrNull(path) === binary) {
      lines.push(`kept    ${path} -> ${binary}`);
      continue;
    }
    // Create beside it and rename over: a concurrent `curl` never finds the name missing.
    const temp = join(dir, `.${name}.withcache-${process.pid}`);
    try {
      symlinkSync(binary, temp);
      renameSync(temp, path);
    } catch (err) {
      try {
        unlinkSync(temp);
      } catch {
        // never created
      }
      return { ok: false, lines: [fsFailure("link", path, err)], done: lines };
    }
    lines.push(previous === null ? `linked  ${path} -> ${binary}` : `linked  ${path} -> ${binary} (replaced a symlink to ${previous})`);
  }
  lines.push(...nextSteps(dir, options.env ?? {}));
  return { ok: true, lines };
}

export function uninstallShims(options: { dir: string; binary: string }): Outcome {
  const dir = resolve(options.dir);
  const binary = realOrNull(options.binary);
  const lines: string[] = [];
  for (const name of SHIM_NAMES) {
    const path = join(dir, name);
    const kind = kindOf(path);
    if (kind === "missing") continue;
    if (kind === "other") {
      lines.push(`left    ${path} (not a symlink)`);
      continue;
    }
    const target = readlinkSync(path);
    const resolved = realOrNull(path);
    const ours = (resolved !== null && resolved === binary) || (resolved === null && target.includes("withcache")) || (resolved !== null && resolved.includes("withcache"));
    if (!ours) {
      lines.push(`left    ${path} -> ${target} (not withcache)`);
      continue;
    }
    try {
      unlinkSync(path);
    } catch (err) {
      return { ok: false, lines: [fsFailure("remove", path, err)], done: lines };
    }
    lines.push(`removed ${path}`);
  }
  if (lines.length === 0) lines.push(`install-shims: no shims in ${dir}`);
  // Only a directory the shims had to themselves is worth taking off PATH (never /usr/local/bin).
  let empty = false;
  try {
    empty = readdirSync(dir).length === 0;
  } catch {
    empty = false;
  }
  if (empty) lines.push("", `${dir} is empty now: remove it from PATH if you added it for the shims`);
  return { ok: true, lines };
}

export function registerInstallShims(program: Command): void {
  program
    .command("install-shims")
    .description("symlink curl, wget, curlwithcache and wgetwithcache in DIR to this binary (put DIR first on PATH)")
    .argument("<dir>", "directory for the symlinks (created if missing)")
    .option("--uninstall", "remove the withcache symlinks from DIR instead")
    // No commander default: it would print the runtime path next to "(default: this binary)".
    .option("--binary <path>", "what the symlinks point to (default: this binary)")
    .action((dir: string, opts: { uninstall?: boolean; binary?: string }) => {
      const parsed = argsSchema.safeParse({ dir, uninstall: opts.uninstall === true, binary: opts.binary ?? process.execPath });
      if (!parsed.success) throw new Error(parsed.error.issues[0]?.message ?? "install-shims: bad arguments");
      const { uninstall, binary } = parsed.data;
      if (binary === process.execPath && !Bun.main.startsWith("/$bunfs/")) {
        // Running from source (`bun src/main.ts`): the links would point at bun itself.
        throw new Error("install-shims: this is bun running the sources, not the withcache binary; run dist/withcache or pass --binary dist/withcache");
      }
      const outcome = uninstall ? uninstallShims({ dir: parsed.data.dir, binary }) : installShims({ dir: parsed.data.dir, binary, env: process.env });
      if (!outcome.ok) {
        if (outcome.done !== undefined && outcome.done.length > 0) process.stdout.write(`${outcome.done.join("\n")}\n`);
        throw new Error(outcome.lines.join("; "));
      }
      process.stdout.write(`${outcome.lines.join("\n")}\n`);
    });
}
