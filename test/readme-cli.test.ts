// README ↔ CLI drift: the README's "## Configuration reference" documents every subcommand, flag
// and environment variable the compiled binary really has, and nothing it does not have.
//
// Expected README shape (scripts/readme-reference.ts prints it from the real help):
//   ## Configuration reference
//   ### `withcache`                            the global options (--version)
//   ### `withcache serve`                      one subsection per subcommand of `withcache --help`
//   | Flag | Environment | Default | Meaning |  a table; the first cell holds the flag(s) in backticks
//   | `--port <n>` | `WITHCACHE_PORT` | `3000` | … |   ("—" when a setting has no flag)
import { describe, expect, test } from "bun:test";
import fs from "node:fs";
import path from "node:path";
import { FIELDS } from "../src/config/schema.ts";
import { cleanEnv, freePort, readHelp, requireBinary, ROOT } from "./deploy-support.ts";
import { makeTempDir } from "./helpers/index.ts";

/** WITHCACHE_README_DRAFT=path checks a draft instead (e.g. before merging sections into README.md). */
const README_PATH = process.env.WITHCACHE_README_DRAFT ?? path.join(ROOT, "README.md");
const README = fs.readFileSync(README_PATH, "utf8");
const REFERENCE_HEADING = "## Configuration reference";

/** The text from a heading line to the next heading of the same or a higher level. */
function section(text: string, heading: string): string | null {
  const lines = text.split("\n");
  const start = lines.findIndex((l) => l.trim() === heading);
  if (start < 0) return null;
  const level = /^#+/.exec(heading)![0].length;
  let end = lines.length;
  for (let i = start + 1; i < lines.length; i++) {
    const m = /^(#+)\s/.exec(lines[i]!);
    if (m && m[1]!.length <= level) {
      end = i;
      break;
    }
  }
  return lines.slice(start + 1, end).join("\n");
}

type Row = { flags: string[]; envVars: string[]; cells: string[] };

/** Table rows of a section (header and separator rows skipped). */
function tableRows(text: string): Row[] {
  const rows: Row[] = [];
  for (const line of text.split("\n")) {
    if (!line.trim().startsWith("|")) continue;
    const cells = line.trim().replace(/^\||\|$/g, "").split("|").map((c) => c.trim());
    if (cells.every((c) => /^:?-+:?$/.test(c)) || /^flag$/i.test(cells[0] ?? "")) continue;
    rows.push({
      flags: [...(cells[0] ?? "").matchAll(/--[a-z0-9][a-z0-9-]*/g)].map((m) => m[0]),
      envVars: [...(cells[1] ?? "").matchAll(/\b[A-Z][A-Z0-9]*_[A-Z0-9_]+\b/g)].map((m) => m[0]),
      cells,
    });
  }
  return rows;
}

const ENV_NAME = /\b(?:(?:CURL|WGET)?WITHCACHE_[A-Z0-9_]+|REAL_CURL|REAL_WGET)\b/g;

/** Environment variable names spelled in the files matching `globs` (unit tests excluded). */
function envNamesIn(globs: string[]): Set<string> {
  const names = new Set<string>();
  for (const glob of globs) {
    for (const f of new Bun.Glob(glob).scanSync({ cwd: ROOT, onlyFiles: true })) {
      if (f.endsWith(".test.ts")) continue;
      for (const m of fs.readFileSync(path.join(ROOT, f), "utf8").matchAll(ENV_NAME)) names.add(m[0]);
    }
  }
  return names;
}

/** What the programs (the binary and the native shim) read: all of it must be documented. */
const PROGRAM_ENV_GLOBS = ["src/**/*.ts", "zig/src/**/*.zig"];
/** Where a documented name may come from: the programs, scripts (setup, bench, release), tests. */
const KNOWN_ENV_GLOBS = [...PROGRAM_ENV_GLOBS, "scripts/**", "test/**/*.ts", "zig/build.zig", ".ci/*"];

/** What scripts/readme-reference.ts prints now: the section the README should contain. */
const generated = Bun.spawnSync(["bun", path.join(ROOT, "scripts/readme-reference.ts")], { cwd: ROOT, env: process.env });
const GENERATED = generated.stdout.toString();

function referenceChecks(label: string, doc: string): void {
  const reference = section(doc, REFERENCE_HEADING);

  test(`has a "${REFERENCE_HEADING}" section`, () => {
    expect(reference, `${label} needs a "${REFERENCE_HEADING}" section`).not.toBeNull();
  });

  test("every subcommand, and every flag of each, is documented; every documented flag exists", async () => {
    const top = await readHelp([]);
    expect(top.subcommands).toContain("serve");
    const global = new Set(tableRows(section(reference ?? "", "### `withcache`") ?? "").flatMap((r) => r.flags));
    for (const flag of [...top.longFlags].filter((f) => f !== "--help")) {
      expect(global, `withcache ${flag} is not in the ${label} "### \`withcache\`" table`).toContain(flag);
    }
    for (const sub of top.subcommands) {
      const heading = `### \`withcache ${sub}\``;
      const body = section(reference ?? "", heading);
      expect(body, `${label} needs a "${heading}" subsection under "${REFERENCE_HEADING}"`).not.toBeNull();
      const documented = new Set(tableRows(body!).flatMap((r) => r.flags));
      const help = await readHelp([sub]);
      const real = [...help.longFlags].filter((f) => f !== "--help");
      for (const flag of real) expect(documented, `withcache ${sub} ${flag} is not in the ${label} table`).toContain(flag);
      for (const flag of documented) {
        expect(help.longFlags, `${label} documents withcache ${sub} ${flag}, which does not exist`).toContain(flag);
      }
      for (const env of help.envVars) expect(body!, `withcache ${sub}: ${env} (from --help)`).toContain(env);
    }
  });

  test("every serve setting's environment variable is in the serve table, on the row of its flag", () => {
    const rows = tableRows(section(reference ?? "", "### `withcache serve`") ?? "");
    for (const field of FIELDS) {
      const row = rows.find((r) => r.envVars.includes(field.env));
      expect(row, `${field.env} is not in the ${label} serve table`).toBeDefined();
      if (field.flag !== null) expect(row!.flags, `${field.env} row`).toContain(field.flag);
    }
    const known = new Set(FIELDS.map((f) => f.env));
    for (const env of rows.flatMap((r) => r.envVars)) expect(known, `${label}'s serve table lists ${env}`).toContain(env);
  });
}

describe("README.md", () => {
  referenceChecks("README.md", README);

  test("every environment variable the program reads is in the README, and every one it names exists", () => {
    const read = envNamesIn(PROGRAM_ENV_GLOBS);
    expect(read.size).toBeGreaterThan(0);
    for (const name of read) expect(README, `${name} is read in src/ or zig/src/ but not in README.md`).toContain(name);
    const known = envNamesIn(KNOWN_ENV_GLOBS);
    for (const m of README.matchAll(ENV_NAME)) {
      expect(known, `README.md names ${m[0]}, which nothing in src/, zig/src/, scripts/ or test/ reads`).toContain(m[0]);
    }
  });
});

describe("scripts/readme-reference.ts (the section to paste into README.md)", () => {
  test("runs", () => {
    expect(generated.stderr.toString()).toBe("");
    expect(generated.exitCode).toBe(0);
  });
  referenceChecks("the generated reference", GENERATED);
});

describe("scripts/start (the README's quick start)", () => {
  test("passes no settings of its own: WITHCACHE_* variables choose the port and data dir", async () => {
    await requireBinary(); // up to date, so the script starts it without setting up or building
    const data = makeTempDir("withcache-start-");
    const port = freePort();
    // --host as a flag too: a script that still forced its own port would at least stay on loopback.
    const proc = Bun.spawn([path.join(ROOT, "scripts/start"), "--host", "127.0.0.1"], {
      cwd: ROOT,
      env: cleanEnv({ WITHCACHE_PORT: String(port), WITHCACHE_DATA_DIR: data.path }),
      stdin: "ignore",
      stdout: "pipe",
      stderr: "ignore",
    });
    try {
      // The start line comes first; read until it (a stale checkout builds first: 180 s bound).
      const reader = proc.stdout.getReader();
      const decoder = new TextDecoder();
      let out = "";
      let timer: Timer | undefined;
      const timedOut = new Promise<null>((resolve) => (timer = setTimeout(() => resolve(null), 180_000)));
      for (;;) {
        const next = await Promise.race([reader.read(), timedOut]);
        if (next === null || next.done) break;
        out += decoder.decode(next.value, { stream: true });
        if (out.includes("\n")) break;
      }
      clearTimeout(timer);
      reader.releaseLock();
      expect(out.split("\n")[0]).toContain(`listening on http://127.0.0.1:${port} (data dir ${data.path},`);
      const res = await fetch(`http://127.0.0.1:${port}/healthz`);
      expect(res.status).toBe(200);
      expect(fs.existsSync(path.join(data.path, "withcache.db"))).toBe(true);
    } finally {
      proc.kill("SIGTERM");
      const killer = setTimeout(() => proc.kill("SIGKILL"), 10_000);
      await proc.exited;
      clearTimeout(killer);
      data.cleanup();
    }
    expect(proc.exitCode).toBe(0);
  }, 240_000);
});
