// The shim runs on every curl/wget call: its import graph must stay tiny. No npm packages (zod,
// commander), nothing from cli/server/store/fetch/ui, only core, version and node/bun built-ins.
import { expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";

const SRC = resolve(import.meta.dir, "..");

function reachable(entry: string): Set<string> {
  const seen = new Set<string>();
  const stack = [entry];
  while (stack.length > 0) {
    const file = stack.pop()!;
    if (seen.has(file)) continue;
    seen.add(file);
    if (!file.endsWith(".ts")) continue;
    const text = readFileSync(file, "utf8");
    for (const m of text.matchAll(/(?:import|export)\s[^;]*?from\s+["']([^"']+)["']|import\(\s*["']([^"']+)["']\s*\)/g)) {
      const spec = (m[1] ?? m[2])!;
      if (spec.startsWith(".")) stack.push(resolve(dirname(file), spec));
      else seen.add(`package:${spec}`);
    }
  }
  return seen;
}

test("everything the shim can load is core, version, package.json or a built-in", () => {
  const files = [...reachable(join(SRC, "shim/run.ts"))];
  const offending = files.filter((f) => {
    if (f.startsWith("package:")) return !/^package:(node:|bun(:|$))/.test(f);
    const rel = relative(SRC, f);
    return !(rel.startsWith("shim/") || rel.startsWith("core/") || rel === "version.ts" || rel === "../package.json");
  });
  expect(offending).toEqual([]);
  expect(files.some((f) => f.endsWith("core/plan/plan.ts"))).toBe(true); // the walk did walk
});
