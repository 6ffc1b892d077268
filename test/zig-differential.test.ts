// The native shim against the oracle, over the argv corpus (test/corpus/**) and ≥ 1,000 argv
// vectors generated from a seeded PRNG (random mixes of the real curl/wget options of
// tool-options.json, URL-looking values, odd bytes, arguments beyond the limits), each against a
// live cache that answers hit, a mix of hit/miss/error, or is unreachable. The final argv (and
// exit code and stderr) must be identical. A failure prints the vector and its seed.
// Two oracles: the compiled TypeScript shim (whole shell: env, PATH search, probe) for the corpus,
// the environment cases and a slice of the generated vectors; and, for all generated vectors, the
// pure TypeScript planner fed the outcomes the live cache gives (a compiled Bun binary costs tens
// of milliseconds per run here, the Zig shim about one).
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { isUtf8 } from "node:buffer";
import { join } from "node:path";
import type { Server } from "bun";
import { finishPlan, preparePlan, serverBaseUrl, type ProbeOutcome } from "../src/core/plan/plan.ts";
import toolOptions from "../src/core/tool-options.json" with { type: "json" };
import { CORPUS, CORPUS_SERVER, type CorpusVector } from "./corpus/shim-argv.ts";
import { compileShim, parsePlanOutput, runExact, shimPath, type ShimBin } from "./shim-support.ts";
import { buildZigShim, mapLimited, prng, zigShimDir, type ZigShims } from "./zig-support.ts";

type Tool = "curl" | "wget";
type Mode = "hit" | "redirected" | "miss" | "mixed" | "down";
type Vector = { tool: Tool; args: string[]; origin: string };

const GENERATED_COUNT = 1000;
const SEED = Number(process.env.WITHCACHE_DIFF_SEED ?? 20261126);
/** Bun.serve's limit on a request head (measured: a 16,384-byte target gets 431). */
const REQUEST_HEAD_BYTES_MAX = 16_384;
/** Concurrent shim runs: two binaries per vector on a 2-core machine. */
const CONCURRENCY = 4;

let ts: ShimBin;
let zig: ZigShims;
const servers: Partial<Record<Mode, string>> = {};
const running: Server<undefined>[] = [];

/** A fake answer: a status, and for a 200 whether it says `X-Withcache-Redirected: 1`. */
type Answer = { status: number; redirected: boolean };
const REDIRECTED_HIT: Answer = { status: 200, redirected: true };
const answer = (status: number): Answer => ({ status, redirected: false });

/** The mixed cache: hit, redirected hit, 404 or 503 by a hash of the token, 414 beyond the cache-host's URL limit. */
function mixedAnswer(token: string): Answer {
  if (Buffer.from(token, "base64url").length > toolOptions.limits.url_bytes_max) return answer(414);
  let sum = 0;
  for (let i = 0; i < token.length; i++) sum = (sum * 31 + token.charCodeAt(i)) >>> 0;
  return [answer(200), REDIRECTED_HIT, answer(404), answer(503)][sum % 4]!;
}

/** What the fake cache in `mode` answers for a request path (after the server's URL parsing). */
function answerFor(mode: Mode, pathname: string): Answer {
  if (mode === "down") return answer(0);
  const parts = pathname.split("/");
  if (parts[1] !== "b" || parts[2] === undefined || parts[2] === "") return answer(400);
  return mode === "hit" ? answer(200) : mode === "redirected" ? REDIRECTED_HIT : mode === "miss" ? answer(404) : mixedAnswer(parts[2]);
}

function respond(a: Answer): Response {
  return new Response(null, { status: a.status, headers: a.redirected ? { "x-withcache-redirected": "1" } : {} });
}

function startCache(mode: "hit" | "redirected" | "miss" | "mixed"): Server<undefined> {
  return Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    fetch: (req) => respond(answerFor(mode, new URL(req.url).pathname)),
  });
}

beforeAll(async () => {
  buildZigShim();
  zig = zigShimDir();
  ts = await compileShim();
  for (const mode of ["hit", "redirected", "miss", "mixed"] as const) {
    const server = startCache(mode);
    running.push(server);
    servers[mode] = `127.0.0.1:${server.port}`;
  }
  // Unreachable: a port that was just listening and is now closed.
  const closed = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
  servers.down = `127.0.0.1:${closed.port}`;
  closed.stop(true);
}, 60_000);

afterAll(async () => {
  for (const server of running) await server.stop(true);
  zig?.cleanup();
  ts?.cleanup();
});

/** The three spellings of a server setting the planner accepts. */
function serverSetting(mode: Mode, variant: number): string {
  const hostPort = servers[mode]!;
  return [hostPort, `http://${hostPort}`, `HTTP://${hostPort}/`][variant % 3]!;
}

type Outcome = { exitCode: number; stdout: string; stderr: string };

async function runBoth(vector: Vector, env: Record<string, string>): Promise<{ ts: Outcome; zig: Outcome }> {
  const run = async (shimDir: string): Promise<Outcome> => {
    const ran = await runExact([join(shimDir, vector.tool), ...vector.args], {
      env: { PATH: shimPath(shimDir), HOME: zig.dir.path, WITHCACHE_PLAN_ONLY: "1", ...env },
      timeoutMs: 20_000,
    });
    return { exitCode: ran.exitCode, stdout: Buffer.from(ran.stdout).toString("latin1"), stderr: ran.stderr };
  };
  const [a, b] = await Promise.all([run(ts.shimDir), run(zig.shimDir)]);
  return { ts: a, zig: b };
}

async function runZigOnly(vector: Vector, mode: Mode, setting: string): Promise<{ ts: Outcome; zig: Outcome }> {
  const ran = await runExact([join(zig.shimDir, vector.tool), ...vector.args], {
    env: { PATH: shimPath(zig.shimDir), HOME: zig.dir.path, WITHCACHE_PLAN_ONLY: "1", WITHCACHE_SERVER: setting },
    timeoutMs: 20_000,
  });
  const b = { exitCode: ran.exitCode, stdout: Buffer.from(ran.stdout).toString("latin1"), stderr: ran.stderr };
  return { ts: plannerOracle(vector, mode, setting), zig: b };
}

function show(outcome: Outcome): string {
  return JSON.stringify({ ...outcome, stdout: Buffer.from(outcome.stdout, "latin1").toString("utf8").split("\0") });
}

/** The pure TypeScript planner with the outcomes the live cache in `mode` answers. */
function plannerOracle(vector: Vector, mode: Mode, setting: string): Outcome {
  const plan = preparePlan(vector.tool, vector.args, serverBaseUrl(setting));
  let args = [...vector.args];
  if (plan.probes.size > 0) {
    const outcomes = new Map<string, ProbeOutcome>();
    for (const [origin, cacheUrl] of plan.probes) {
      // The path as the server sees it: URL parsing resolves `%2e%2e` after the token, for one.
      // Bun's server answers 431 to a request head of 16 KiB or more: a URL near url_bytes_max
      // with a long last segment gives such a cache URL (token + name), so it never hits.
      const target = new URL(cacheUrl);
      const tooLarge = target.pathname.length + target.search.length > REQUEST_HEAD_BYTES_MAX - 256;
      const { status, redirected } = tooLarge && mode !== "down" ? answer(431) : answerFor(mode, target.pathname);
      outcomes.set(origin, status === 200 ? (redirected ? "hit-redirected" : "hit") : status === 404 ? "miss" : "unreachable");
    }
    args = finishPlan(plan, outcomes);
  }
  const stdout = Buffer.from([`/usr/bin/${vector.tool}`, ...args].map((a) => `${a}\0`).join(""), "utf8").toString("latin1");
  return { exitCode: 0, stdout, stderr: "" };
}

/** Runs every vector in every mode; returns the mismatches as readable lines (empty = all equal). */
async function differences(vectors: Vector[], modes: readonly Mode[], oracle: "binary" | "planner" = "binary"): Promise<string[]> {
  const jobs = vectors.flatMap((vector, i) => modes.map((mode) => ({ vector, mode, variant: i })));
  const found: string[] = [];
  let plannedRewrites = 0;
  const rewritesByMode = new Map<Mode, number>();
  await mapLimited(jobs, CONCURRENCY, async ({ vector, mode, variant }) => {
    const setting = serverSetting(mode, variant);
    const { ts: a, zig: b } =
      oracle === "binary" ? await runBoth(vector, { WITHCACHE_SERVER: setting }) : await runZigOnly(vector, mode, setting);
    if (a.stdout.includes("/b/")) {
      plannedRewrites++;
      rewritesByMode.set(mode, (rewritesByMode.get(mode) ?? 0) + 1);
    }
    if (a.exitCode !== b.exitCode || a.stdout !== b.stdout || a.stderr !== b.stderr) {
      found.push(`${vector.origin} mode=${mode} ${vector.tool} ${JSON.stringify(vector.args).slice(0, 2000)}\n  ts:  ${show(a).slice(0, 2000)}\n  zig: ${show(b).slice(0, 2000)}`);
    }
  });
  // The comparison must exercise rewriting, not only pass-through.
  if (modes.includes("hit") && vectors.length > 0) expect(plannedRewrites).toBeGreaterThan(vectors.length / 10);
  // Redirected hits must be used for some vectors (the tool follows) and not for others.
  if (modes.includes("hit") && modes.includes("redirected") && vectors.length >= 40) {
    expect(rewritesByMode.get("redirected") ?? 0).toBeGreaterThan(0);
    expect(rewritesByMode.get("redirected") ?? 0).toBeLessThan(rewritesByMode.get("hit") ?? 0);
  }
  return found;
}

// ---------------------------------------------------------------------------------------------
// Generated vectors

type Table = (typeof toolOptions)["curl"];

function generate(seed: number, count: number): Vector[] {
  const rand = prng(seed);
  const int = (n: number) => Math.floor(rand() * n);
  const pick = <T>(xs: readonly T[]): T => xs[int(xs.length)]!;
  const chance = (p: number) => rand() < p;

  const hosts = ["h.example", "H.Example:8080", "127.0.0.1", "[::1]:99", "", "me:pw@h.example", "h.example:"];
  const schemes = ["http://", "https://", "HTTP://", "HtTpS://", "ftp://", "", "file://", "http:/", "sftp://"];
  const paths = ["", "/", "/a/b.tgz", "/dir/", "/x%20y.tar.gz", "/a+b.zip", "/ünï/cödé.bin", "/.", "/..", "/a/..",
    "/[1-3].txt", "/{a,b}.txt", "/a b", "/a\\b", "/😀.bin", "/a;b=c/d.iso", "/%2e%2e", "/x.tgz/", "//double//slash"];
  const queries = ["", "", "?x=1", "?a=1&b=2", "?", "?q=[x]", "?u=http://i/y", "?é=ü"];
  const fragments = ["", "", "#frag", "#", "#a?b=c"];
  const url = (): string => {
    let path = pick(paths);
    if (chance(0.02)) path += "/" + "long".repeat(int(2) === 0 ? 2100 : 17000);
    return pick(schemes) + pick(hosts) + path + pick(queries) + pick(fragments);
  };
  const odd = ["", " ", "\t", "\x01", "\x7f", "é", "\u2028", "\u00a0", "😀", "-\u00e9", "--", "-", "--=x", "---", "-\u212a"];
  const plainValues = ["out", "", "off", "no", "0", "GET", "/tmp/x", "a=b", "5", "on"];
  const value = () => (chance(0.3) ? url() : pick(plainValues));
  const headers = ["Authorization: Bearer x", "cookie: a=b", " COOKIE ;x", "X-Custom: 1", "@headers.txt", "Coo\u212aie: k",
    "\u00a0Authorization: y", "authorization", "Accept: */*", "\tCookie\t: z", "X: authorization"];
  const executes = ["robots=off", "http_password=x", " Recursive = on ", "recursive=off", "header = Cookie: a",
    "header=X-A: 1", "HTTP-USER=u", "use_askpass=no", "mirror", "tries=3", "load_cookies=c.txt", "ask\u212aPassword=on",
    "max_redirect=0", " Max-Redirect = 0", "maxredirect=5", "max_redirect=off"];

  const longOption = (table: Table, tool: Tool): string[] => {
    const safe = chance(0.85);
    const withValue = table.long_with_value.filter((n) => !safe || !table.passthrough_long.includes(n));
    const flags = table.long_flags.filter((n) => !safe || !table.passthrough_long.includes(n));
    if (chance(0.5)) {
      const name = pick(withValue);
      const shown = tool === "wget" && chance(0.2) ? name.slice(0, 1 + int(name.length)) : name;
      return chance(0.4) ? [`--${shown}=${value()}`] : chance(0.95) ? [`--${shown}`, value()] : [`--${shown}`];
    }
    const name = pick(flags);
    if (tool === "curl" && chance(0.2)) return [`--no-${name}`];
    if (chance(0.1)) return [`--${name}=${pick(["off", "on", "no", "0", "x"])}`];
    if (chance(0.05)) return [`--${name.toUpperCase()}`];
    return [`--${tool === "wget" && chance(0.2) ? name.slice(0, 1 + int(name.length)) : name}`];
  };

  const bundle = (table: Table): string[] => {
    const flagLetters = [...table.short_flags].filter((c) => chance(0.1) || !table.passthrough_short.includes(c));
    const valueLetters = [...table.short_with_value].filter((c) => chance(0.1) || !table.passthrough_short.includes(c));
    let arg = "-";
    for (let k = int(4); k > 0; k--) arg += pick(flagLetters);
    if (arg === "-" || chance(0.6)) {
      arg += pick(valueLetters);
      if (chance(0.4)) return [arg + value()];
      return chance(0.97) ? [arg, value()] : [arg];
    }
    return [arg];
  };

  const special = (tool: Tool): string[] => {
    if (tool === "curl") {
      return pick([["--"], ["-"], ["-g"], ["--globoff"], ["--no-globoff"], ["-u", "me:pw"], ["--user=me:pw"], ["-n"], ["--netrc"],
        ["--no-netrc"], ["-H", pick(headers)], [`-H${pick(headers)}`], [`--header=${pick(headers)}`], ["-X", pick(["GET", "POST", "get"])],
        ["--request=GET"], ["-XGET"], ["--url", url()], [`--url=${url()}`], ["--oauth2-bearer", "tok"], ["-b", "c=1"], ["-snu", "a:b"],
        ["-sSfLO"], ["-OJ"], ["-o", "-"], ["--proxy", url()], ["-e", url()], ["--referer=" + url()],
        ["-L"], ["-fsSL"], ["--location"], ["--location-trusted"], ["--no-location"], ["-L", "--max-redirs", pick(["0", "5", "-1", "00", "x"])],
        [`--max-redirs=${pick(["0", "3"])}`], ["-oL"]]);
    }
    return pick([["--"], ["-"], ["-e", pick(executes)], [`-e${pick(executes)}`], [`--execute=${pick(executes)}`], ["--header", pick(headers)],
      [`--header=${pick(headers)}`], ["--user=u"], ["--password=p"], ["--http-user", "u"], ["--no-http-keep-alive"], ["-qO-"], ["-O", "-"],
      ["-nv"], ["--recursive=off"], ["--recursive=on"], ["-r"], ["--ask-password=off"], ["-P", "dir"], ["--referer", url()], ["-i", "list.txt"],
      ["--max-redirect=0"], ["--max-redirect", pick(["0", "2", "00", "-1"])], [`--max-red=${pick(["0", "1"])}`], ["-e", "max_redirect=0"]]);
  };

  const vectors: Vector[] = [];
  for (let n = 0; n < count; n++) {
    const tool: Tool = chance(0.5) ? "curl" : "wget";
    const table = toolOptions[tool] as Table;
    const args: string[] = [];
    const length = 1 + int(7);
    for (let k = 0; k < length; k++) {
      const r = rand();
      if (r < 0.3) args.push(url());
      else if (r < 0.5) args.push(...longOption(table, tool));
      else if (r < 0.65) args.push(...bundle(table));
      else if (r < 0.85) args.push(...special(tool));
      else if (r < 0.95) args.push(pick(odd));
      else args.push(pick(odd) + url() + pick(odd));
    }
    if (chance(0.7) && !args.some((a) => /^https?:\/\//i.test(a))) args.push(`https://h.example/f${n}.tgz`);
    if (chance(0.01)) args.push(..."x".repeat(toolOptions.limits.argv_count_max).split(""));
    if (chance(0.01)) args.push("y".repeat(toolOptions.limits.arg_bytes_max + 1));
    vectors.push({ tool, args, origin: `generated seed=${seed} #${n}` });
  }
  return vectors;
}

// ---------------------------------------------------------------------------------------------
// The corpus (test/corpus/shim-argv.json, written by hand for the TypeScript planner): each vector
// has the expected final argv for hit, miss and unreachable (server http://cache.test:3000), some
// a per-URL mixed case.

function loadCorpus(): CorpusVector[] {
  expect(CORPUS.server).toBe(CORPUS_SERVER);
  return CORPUS.vectors;
}

/** A cache for the corpus: /<case>/<index>/b/<token>/… answers as that vector's case says. */
function startCorpusCache(vectors: CorpusVector[]): Server<undefined> {
  return Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    fetch(req) {
      const [, kind, index, b, token] = new URL(req.url).pathname.split("/");
      if (b !== "b" || token === undefined) return new Response(null, { status: 400 });
      if (kind === "hit") return respond(answer(200));
      if (kind === "hit_redirected") return respond(REDIRECTED_HIT);
      if (kind === "miss") return respond(answer(404));
      const outcome = vectors[Number(index)]?.mixed?.outcomes[Buffer.from(token, "base64url").toString("utf8")] ?? "miss";
      return respond(outcome === "hit" ? answer(200) : outcome === "hit-redirected" ? REDIRECTED_HIT : answer(outcome === "miss" ? 404 : 503));
    },
  });
}

describe("zig shim plans exactly like the typescript shim", () => {
  test("the argv corpus: the zig shim gives the corpus's expected argv for hit, redirected hit, miss, unreachable and mixed", async () => {
    const vectors = loadCorpus();
    expect(vectors.length).toBeGreaterThanOrEqual(150);
    const cache = startCorpusCache(vectors);
    running.push(cache);
    const base = `http://127.0.0.1:${cache.port}`;
    type Job = { vector: CorpusVector; index: number; kind: "hit" | "hit_redirected" | "miss" | "unreachable" | "mixed" };
    const jobs: Job[] = vectors.flatMap((vector, index) =>
      (["hit", "hit_redirected", "miss", "unreachable", ...(vector.mixed ? ["mixed" as const] : [])] as const).map((kind) => ({ vector, index, kind })),
    );
    const found: string[] = [];
    await mapLimited(jobs, CONCURRENCY, async ({ vector, index, kind }) => {
      const server = kind === "unreachable" ? `http://${servers.down}` : `${base}/${kind}/${index}`;
      const expected = (kind === "mixed" ? vector.mixed!.expect : vector[kind]).map((a) => a.replaceAll(CORPUS_SERVER, server));
      const ran = await runExact([join(zig.shimDir, vector.tool), ...vector.argv], {
        env: { PATH: shimPath(zig.shimDir), HOME: zig.dir.path, WITHCACHE_PLAN_ONLY: "1", WITHCACHE_SERVER: server },
        timeoutMs: 20_000,
      });
      const want = [`/usr/bin/${vector.tool}`, ...expected];
      const got = ran.exitCode === 0 ? parsePlanOutput(ran.stdout) : [`exit ${ran.exitCode}: ${ran.stderr}`];
      if (JSON.stringify(got) !== JSON.stringify(want)) {
        found.push(`corpus #${index} (${vector.note}) ${kind} ${vector.tool} ${JSON.stringify(vector.argv)}\n  want: ${JSON.stringify(want)}\n  zig:  ${JSON.stringify(got)}`);
      }
    });
    expect(found.join("\n")).toBe("");
  }, 120_000);

  test("every third corpus vector against the compiled typescript shim, mixed cache", async () => {
    // The whole corpus is checked above against its expected argv (the planner's own oracle);
    // this slice checks the two shells agree too, at ~0.1 s per Bun start on this machine.
    const vectors = loadCorpus()
      .map((v, i): Vector => ({ tool: v.tool, args: v.argv, origin: `corpus #${i} (${v.note})` }))
      .filter((_, i) => i % 3 === 0);
    const found = await differences(vectors, ["mixed"]);
    expect(found.join("\n")).toBe("");
  }, 120_000);

  test(`${GENERATED_COUNT} generated argv vectors (seed ${SEED}) against the planner: hit, redirected hit, miss, mixed and unreachable cache`, async () => {
    const vectors = generate(SEED, GENERATED_COUNT);
    expect(vectors.length).toBeGreaterThanOrEqual(1000);
    const found = await differences(vectors, ["hit", "redirected", "miss", "mixed", "down"], "planner");
    expect(found.slice(0, 20).join("\n")).toBe("");
  }, 120_000);

  test("40 generated argv vectors against the compiled typescript shim", async () => {
    const vectors = generate(SEED + 1, 40);
    const found = await differences(vectors, ["hit", "redirected", "mixed", "down"]);
    expect(found.slice(0, 20).join("\n")).toBe("");
  }, 120_000);

  test("at and beyond every shared limit (argv count, argument bytes, url bytes, cache url bytes, distinct candidates)", async () => {
    const { argv_count_max, arg_bytes_max, url_bytes_max, cache_url_bytes_max, candidates_max } = toolOptions.limits;
    // Long queries whose cache URL (with the hit cache's base) lands a few bytes either side of
    // cache_url_bytes_max: the token grows by 4/3 per byte, so step through several lengths.
    const hitBase = serverBaseUrl(servers.hit!);
    const nearCacheLimit = Array.from({ length: 8 }, (_, k) => {
      const queryBytes = Math.floor((cache_url_bytes_max - hitBase.length - 40) / (1 + 4 / 3)) + k - 4;
      return `https://h.example/q.tgz?${"q".repeat(queryBytes)}`;
    });
    const urlOfLength = (n: number) => {
      const head = "https://h.example/";
      return head + "a".repeat(n - head.length - 4) + ".tgz";
    };
    const distinct = (n: number) => Array.from({ length: n }, (_, i) => `https://h.example/f${i}.tgz`);
    const vectors: Vector[] = [];
    for (const tool of ["curl", "wget"] as const) {
      const add = (name: string, args: string[]) => vectors.push({ tool, args, origin: `limits ${name}` });
      add("candidates_max distinct", distinct(candidates_max));
      add("candidates_max + 1 distinct", distinct(candidates_max + 1));
      add("one url many times", Array.from({ length: 200 }, () => "https://h.example/same.tgz"));
      add("argv_count_max args", ["https://h.example/x.tgz", ...Array.from({ length: argv_count_max - 1 }, () => "-s")]);
      add("argv_count_max + 1 args", ["https://h.example/x.tgz", ...Array.from({ length: argv_count_max }, () => "-s")]);
      add("url of url_bytes_max", [urlOfLength(url_bytes_max)]);
      add("url of url_bytes_max + 1", [urlOfLength(url_bytes_max + 1), "https://h.example/ok.tgz"]);
      for (const url of nearCacheLimit) add(`cache url near cache_url_bytes_max (query ${url.length})`, [url, "https://h.example/ok.tgz"]);
      add("argument of arg_bytes_max", ["-o", "y".repeat(arg_bytes_max), "https://h.example/x.tgz"]);
      add("argument of arg_bytes_max + 1", ["-o", "y".repeat(arg_bytes_max + 1), "https://h.example/x.tgz"]);
      add("unicode argument at the byte limit", ["-o", "é".repeat(arg_bytes_max / 2), "https://h.example/x.tgz"]);
      add("unicode argument beyond the byte limit", ["-o", "é".repeat(arg_bytes_max / 2) + "z", "https://h.example/x.tgz"]);
    }
    const viaPlanner = await differences(vectors, ["hit", "mixed", "down"], "planner");
    const viaBinary = await differences(vectors, ["hit", "mixed"]);
    expect([...viaPlanner, ...viaBinary].join("\n")).toBe("");
  }, 120_000);

  test("argv with bytes that are not utf-8: both pass it through byte for byte", async () => {
    // Bun.spawn takes strings, so the raw bytes go through bash: every byte as a printf octal escape.
    const octal = (bytes: Buffer) => [...bytes].map((b) => `\\${b.toString(8).padStart(3, "0")}`).join("");
    const raw = (...parts: (string | number[])[]) => Buffer.concat(parts.map((p) => (typeof p === "string" ? Buffer.from(p) : Buffer.from(p))));
    const cases: [Tool, Buffer[]][] = [
      ["curl", [raw("-s"), raw("http://h.example/", [0xff], ".bin")]],
      ["curl", [raw("-H", [0xfe], "x"), raw("https://h.example/a.tgz")]],
      ["wget", [raw([0xc0, 0xaf]), raw("https://h.example/a.tgz")]],
      ["wget", [raw("-O", [0xed, 0xa0, 0x80]), raw("https://h.example/a.tgz")]],
      ["curl", [raw("-o", "\u{FFFD}.out"), raw("https://h.example/a.tgz")]], // valid utf-8: planned
    ];
    const found: string[] = [];
    for (const [tool, args] of cases) {
      const script = `exec "$0"${args.map((a) => ` "$(printf '${octal(a)}')"`).join("")}`;
      const outputs: string[] = [];
      for (const shimDir of [ts.shimDir, zig.shimDir]) {
        const ran = await runExact(["bash", "-c", script, join(shimDir, tool)], {
          env: { PATH: shimPath(shimDir), HOME: zig.dir.path, WITHCACHE_PLAN_ONLY: "1", WITHCACHE_SERVER: servers.hit! },
        });
        outputs.push(`${ran.exitCode} ${Buffer.from(ran.stdout).toString("hex")} ${ran.stderr}`);
      }
      const expected = Buffer.concat([Buffer.from(`/usr/bin/${tool}\0`), ...args.flatMap((a) => [a, Buffer.from([0])])]).toString("hex");
      const allUtf8 = args.every((a) => isUtf8(a));
      if (outputs[0] !== outputs[1]) found.push(`${tool} ${args.map((a) => a.toString("hex")).join(" ")}\n  ts:  ${outputs[0]}\n  zig: ${outputs[1]}`);
      const rewritten = outputs[1]!.includes(Buffer.from("/b/").toString("hex"));
      if (!allUtf8 && outputs[1] !== `0 ${expected} `) found.push(`${tool} not passed through byte for byte: ${outputs[1]}`);
      if (allUtf8 && !rewritten) found.push(`${tool} valid utf-8 was not planned: ${outputs[1]}`);
    }
    expect(found.join("\n")).toBe("");
  }, 60_000);

  test("server settings and real-tool environment", async () => {
    const vector: Vector = { tool: "curl", args: ["-sSfLO", "https://h.example/a.tgz"], origin: "env" };
    const hit = servers.hit!;
    const envs: Record<string, string>[] = [
      {},
      { WITHCACHE_SERVER: "" },
      { WITHCACHE_SERVER: hit, CURLWITHCACHE_SERVER: "" },
      { CURLWITHCACHE_SERVER: hit },
      { WGETWITHCACHE_SERVER: hit },
      { WITHCACHE_SERVER: `${hit}/prefix//` },
      { WITHCACHE_SERVER: "127.0.0.1" },
      { WITHCACHE_SERVER: `localhost:${hit.split(":")[1]}` },
      { WITHCACHE_SERVER: `[::1]:${hit.split(":")[1]}` },
      { WITHCACHE_SERVER: `http://user:pw@${hit}` },
      { WITHCACHE_SERVER: `http://127.0.0.1:${hit.split(":")[1]}` },
      { WITHCACHE_SERVER: "http://bad host:1" },
      { WITHCACHE_SERVER: hit, REAL_CURL: "/usr/bin/curl" },
      { WITHCACHE_SERVER: hit, REAL_CURL: "curl" },
      { WITHCACHE_SERVER: hit, REAL_CURL: "/nonexistent/curl" },
      { WITHCACHE_SERVER: hit, WITHCACHE_SHIM_SEEN: "/usr/bin/curl" },
      { WITHCACHE_SERVER: hit, WITHCACHE_SHIM_SEEN: Array.from({ length: 40 }, (_, i) => `/x${i}`).join(":") },
      { WITHCACHE_SERVER: hit, http_proxy: "socks5://127.0.0.1:1" },
      { WITHCACHE_SERVER: hit, http_proxy: "socks5://127.0.0.1:1", no_proxy: "127.0.0.1" },
      { WITHCACHE_SERVER: hit, http_proxy: `http://${hit}` },
    ];
    const found: string[] = [];
    for (const env of envs) {
      for (const tool of ["curl", "wget"] as const) {
        const { ts: a, zig: b } = await runBoth({ ...vector, tool }, env);
        if (a.exitCode !== b.exitCode || a.stdout !== b.stdout || a.stderr !== b.stderr) {
          found.push(`${tool} ${JSON.stringify(env)}\n  ts:  ${show(a)}\n  zig: ${show(b)}`);
        }
      }
    }
    expect(found.join("\n")).toBe("");
  }, 120_000);
});
