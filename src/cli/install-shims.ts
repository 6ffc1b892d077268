// `withcache install-shims DIR`: curl, wget, curlwithcache, wgetwithcache → symlinks to this
// binary in DIR (argv[0] picks the mode). Never replaces a file that is not a symlink; checks all
// four names before touching any. `--uninstall` removes only symlinks that lead to withcache.
import { lstatSync, mkdirSync, readlinkSync, realpathSync, renameSync, symlinkSync, unlinkSync } from "node:fs";
import { join, resolve } from "node:path";
import type { Command } from "commander";
import { z } from "zod";
import { quote } from "../core/errors.ts";

export const SHIM_NAMES = ["curl", "wget", "curlwithcache", "wgetwithcache"] as const;

const argsSchema = z.strictObject({
  dir: z.string().min(1, "DIR: empty; expected a directory such as ~/.local/share/withcache/shims"),
  uninstall: z.boolean(),
  binary: z.string().min(1),
});

type Outcome = { lines: string[]; ok: boolean };

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

export function installShims(options: { dir: string; binary: string }): Outcome {
  const dir = resolve(options.dir);
  const binary = realOrNull(options.binary);
  if (binary === null) return { ok: false, lines: [`install-shims: binary ${quote(options.binary)} does not exist`] };

  const conflicts = SHIM_NAMES.map((name) => join(dir, name)).filter((path) => kindOf(path) === "other");
  if (conflicts.length > 0) {
    return { ok: false, lines: conflicts.map((path) => `install-shims: ${path} exists and is not a symlink; not replacing it (move it away first)`) };
  }
  mkdirSync(dir, { recursive: true });
  const lines: string[] = [];
  for (const name of SHIM_NAMES) {
    const path = join(dir, name);
    if (kindOf(path) === "symlink" && realOrNull(path) === binary) {
      lines.push(`kept    ${path} -> ${binary}`);
      continue;
    }
    // Create beside it and rename over: a concurrent `curl` never finds the name missing.
    const temp = join(dir, `.${name}.withcache-${process.pid}`);
    symlinkSync(binary, temp);
    renameSync(temp, path);
    lines.push(`linked  ${path} -> ${binary}`);
  }
  lines.push("", "put this first on PATH (e.g. in ~/.profile), then run `withcache doctor`:", `  export PATH="${dir}:$PATH"`);
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
    unlinkSync(path);
    lines.push(`removed ${path}`);
  }
  if (lines.length === 0) lines.push(`install-shims: no shims in ${dir}`);
  lines.push("", `remove ${dir} from PATH if you added it`);
  return { ok: true, lines };
}

export function registerInstallShims(program: Command): void {
  program
    .command("install-shims")
    .description("symlink curl, wget, curlwithcache and wgetwithcache in DIR to this binary (put DIR first on PATH)")
    .argument("<dir>", "directory for the symlinks (created if missing)")
    .option("--uninstall", "remove the withcache symlinks from DIR instead", false)
    .option("--binary <path>", "what the symlinks point to (default: this binary)", process.execPath)
    .action((dir: string, opts: { uninstall: boolean; binary: string }) => {
      const parsed = argsSchema.safeParse({ dir, uninstall: opts.uninstall, binary: opts.binary });
      if (!parsed.success) throw new Error(parsed.error.issues[0]?.message ?? "install-shims: bad arguments");
      const { uninstall, binary } = parsed.data;
      if (binary === process.execPath && !Bun.main.startsWith("/$bunfs/")) {
        // Running from source (`bun src/main.ts`): the links would point at bun itself.
        throw new Error("install-shims: this is bun running the sources, not the withcache binary; run dist/withcache or pass --binary dist/withcache");
      }
      const outcome = uninstall ? uninstallShims({ dir: parsed.data.dir, binary }) : installShims({ dir: parsed.data.dir, binary });
      if (!outcome.ok) throw new Error(outcome.lines.join("; "));
      process.stdout.write(`${outcome.lines.join("\n")}\n`);
    });
}
