// The real tools are the oracle for URL finding: run real curl and wget over the corpus argv with
// http_proxy pointing at a recorder, and require that the URLs they actually request are exactly
// the URL occurrences the planner found (values of options never are).
import { afterAll, beforeAll, expect, test } from "bun:test";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import type { Server } from "bun";
import { scanArgv } from "../src/core/plan/plan.ts";
import corpus from "./corpus/shim-argv.json" with { type: "json" };
import { makeTempDir, type TempDir } from "./helpers/index.ts";
import { runExact } from "./shim-support.ts";

type Vector = { tool: "curl" | "wget"; note: string; argv: string[] };

let recorder: Server<undefined>;
let work: TempDir;
let current: string[] = [];

beforeAll(() => {
  work = makeTempDir("withcache-urlfind-");
  recorder = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    fetch(req) {
      current.push(req.url);
      return new Response("x", { headers: { "content-type": "application/octet-stream" } });
    },
  });
});

afterAll(async () => {
  await recorder.stop(true);
  work.cleanup();
});

/** Argv the oracle cannot judge: proxies in argv, forking, prompts, https (CONNECT hides the path). */
const UNJUDGEABLE = /^(-x|--proxy|--noproxy|-Y|--no-proxy|-b|--ask-password|--use-askpass|--resolve|--connect-to|-6$)|use_proxy/;

function normalise(url: string): string | undefined {
  const withScheme = url.includes("://") ? url : `http://${url}`;
  if (!/^http:\/\//i.test(withScheme) || /\s/.test(url)) return undefined; // curl refuses spaces itself
  try {
    const parsed = new URL(withScheme);
    parsed.hash = "";
    parsed.username = ""; // userinfo never reaches the request line
    parsed.password = "";
    return parsed.href;
  } catch {
    return undefined;
  }
}

const judged = (corpus.vectors as Vector[]).filter((v) => {
  if (v.argv.some((a) => UNJUDGEABLE.test(a) || /^https:/i.test(a))) return false;
  const scan = scanArgv(v.tool, v.argv);
  if (scan.kind !== "scan" || scan.urls.length === 0) return false;
  if (scan.urls.some((u) => u.url === "-")) return false;
  if (v.tool === "curl" && !scan.globoff && scan.urls.some((u) => /[[\]{}]/.test(u.url))) return false; // curl expands globs
  return true;
});

test("enough of the corpus is judged by the real tools", () => {
  expect(judged.filter((v) => v.tool === "curl").length).toBeGreaterThanOrEqual(60);
  expect(judged.filter((v) => v.tool === "wget").length).toBeGreaterThanOrEqual(60);
});

test.each(judged.map((v) => [`${v.tool} ${v.note}`, v] as const))("real %s requests exactly the planner's URLs", async (_name, v) => {
  const scan = scanArgv(v.tool, v.argv);
  if (scan.kind !== "scan") throw new Error("filtered above");
  const expected = [...new Set(scan.urls.map((u) => normalise(u.url)).filter((u): u is string => u !== undefined))].sort();
  const cwd = join(work.path, `v${Math.random().toString(36).slice(2)}`);
  mkdirSync(join(cwd, "http:", "o.test"), { recursive: true }); // so -O http://o.test/x is a writable path
  current = [];
  const ran = await runExact([`/usr/bin/${v.tool}`, ...v.argv], {
    env: { PATH: "/usr/bin:/bin", HOME: cwd, http_proxy: `http://127.0.0.1:${recorder.port}` },
    cwd,
    timeoutMs: 15_000,
  });
  const requested = [...new Set(current.map((u) => normalise(u)!))].sort();
  // curl 7.88 -O refuses an empty remote name before any request; exit 2 is the tool rejecting
  // the command line (e.g. curl < 8.15 and --url=): any plan is then as invisible as another.
  if (requested.length === 0 && (ran.exitCode === 2 || (v.tool === "curl" && ran.exitCode === 23))) return;
  expect({ argv: v.argv, requested }).toEqual({ argv: v.argv, requested: expected });
});
