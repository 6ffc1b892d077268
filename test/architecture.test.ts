// Keeps the layout honest: arrows point one way (cli → server → {ui, fetch, store} → core,
// fetch → store, shim → core) and the core stays pure (no Bun, fs, net or sqlite).
import { describe, expect, test } from "bun:test";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join, relative, dirname, resolve } from "node:path";

const SRC = resolve(import.meta.dir, "../src");

/** Which top-level areas each area may import (besides itself). */
const ALLOWED: Record<string, string[]> = {
  core: [],
  config: ["core"],
  store: ["core", "config"],
  fetch: ["core", "config", "store"],
  ui: ["core", "version.ts"],
  server: ["core", "config", "store", "fetch", "ui", "version.ts"],
  shim: ["core", "version.ts"],
  cli: ["core", "config", "store", "fetch", "server", "shim", "ui", "version.ts"],
  "main.ts": ["core", "cli", "shim"],
  "version.ts": [],
};

/** Packages the pure core must never touch. */
const IMPURE = /^(bun($|:)|node:|fs$|net$|path$|os$|child_process$)/;

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) return sourceFiles(p);
    return /\.ts$/.test(name) && !/\.test\.ts$/.test(name) ? [p] : [];
  });
}

function importsOf(file: string): string[] {
  const text = readFileSync(file, "utf8");
  const specs: string[] = [];
  for (const m of text.matchAll(/(?:import|export)\s[^;]*?from\s+["']([^"']+)["']|import\(\s*["']([^"']+)["']\s*\)/g)) {
    specs.push((m[1] ?? m[2])!);
  }
  return specs;
}

function areaOf(file: string): string {
  return relative(SRC, file).split("/")[0]!;
}

describe("architecture", () => {
  const files = sourceFiles(SRC);
  test("there are sources to check", () => {
    expect(files.length).toBeGreaterThan(5);
  });
  test("imports follow the allowed arrows", () => {
    const violations: string[] = [];
    for (const file of files) {
      const from = areaOf(file);
      const allowed = ALLOWED[from];
      if (!allowed) {
        violations.push(`${relative(SRC, file)}: unknown area ${from}`);
        continue;
      }
      for (const spec of importsOf(file)) {
        if (!spec.startsWith(".")) {
          if (from === "core" && IMPURE.test(spec)) violations.push(`${relative(SRC, file)} imports ${spec}`);
          continue;
        }
        const target = resolve(dirname(file), spec);
        if (!target.startsWith(SRC + "/")) continue; // package.json and friends
        const to = areaOf(target);
        if (to !== from && !allowed.includes(to)) violations.push(`${relative(SRC, file)} (${from}) imports ${relative(SRC, target)} (${to})`);
      }
    }
    expect(violations).toEqual([]);
  });
});
