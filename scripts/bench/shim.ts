// Benchmark 3: shim overhead with hyperfine. Hit: plain curl fetching the cache URL directly vs
// the compiled TypeScript shim and the Zig shim fetching the origin URL (probe + exec). The hit's
// origin is stopped after seeding, so a shim that missed would fail (curl exit 7) instead of
// silently measuring a pass-through. Pass-through: plain curl vs each shim with no server set.
import fs from "node:fs";
import path from "node:path";
import { bins, logsDir, run, runOk, seed, smallFile, startNginx, startWithcache, tempDir } from "./harness.ts";
import { formatNumber, median } from "./stats.ts";
import type { Row } from "./stats.ts";
import type { BenchContext, BenchResult, Benchmark } from "./types.ts";

const SMALL_BYTES = 64 * 1024;
const HYPERFINE_RUNS = 20;
const HYPERFINE_WARMUP = 3;

function signed(value: number): string {
  return `${value < 0 ? "−" : "+"}${Math.abs(value).toFixed(2)}`;
}

function linkAs(target: string, label: string): string {
  const dir = tempDir(`shim-${label}`);
  const link = path.join(dir, "curl");
  fs.symlinkSync(target, link);
  return link;
}

type Command = { name: string; argv: string[] };

type Timings = { wallMs: Record<string, number[]>; cpuMs: Record<string, number> };

/** hyperfine -N over the commands: every run's wall time, and the mean CPU time (user + system,
 * children included), in ms per command name. CPU time is the steadier number on a busy machine. */
async function hyperfine(commands: Command[], env: Record<string, string>): Promise<Timings> {
  const exportPath = path.join(logsDir(), `hyperfine-${Date.now()}.json`);
  const args = ["hyperfine", "-N", "--style", "none", "--warmup", String(HYPERFINE_WARMUP), "--runs", String(HYPERFINE_RUNS), "--export-json", exportPath];
  for (const command of commands) args.push("-n", command.name, command.argv.join(" "));
  await runOk(args, { env, timeoutMs: 300_000 });
  const report = JSON.parse(fs.readFileSync(exportPath, "utf8")) as { results: { command: string; times: number[]; user: number; system: number }[] };
  const out: Timings = { wallMs: {}, cpuMs: {} };
  for (const result of report.results) {
    out.wallMs[result.command] = result.times.map((s) => s * 1000);
    out.cpuMs[result.command] = (result.user + result.system) * 1000;
  }
  return out;
}

function baseEnv(): Record<string, string> {
  const env: Record<string, string> = { PATH: "/usr/bin:/bin", HOME: process.env.HOME ?? "/root", LANG: "C.UTF-8" };
  return env;
}

async function check(argv: string[], env: Record<string, string>): Promise<string | undefined> {
  const result = await run(argv, { env, timeoutMs: 20_000 });
  if (result.code === 0) return undefined;
  return `exit ${result.code}: ${result.stderr.trim().split("\n").slice(-1)[0] ?? ""}`.slice(0, 160);
}

async function run_(ctx: BenchContext): Promise<BenchResult> {
  const file = smallFile(SMALL_BYTES);
  const nginx = await startNginx(path.dirname(file), { label: "shim" });
  const passUrl = nginx.url(path.basename(file));

  // The hit's origin: a Bun origin that exists only for seeding.
  const bytes = fs.readFileSync(file);
  const origin = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: () => new Response(bytes) });
  const hitOriginUrl = `http://127.0.0.1:${origin.port}/${path.basename(file)}`;
  const server = await startWithcache({ label: "shim" });
  try {
    await seed(server, hitOriginUrl, { timeoutMs: 30_000 });
  } finally {
    origin.stop(true);
  }
  const cacheUrl = server.blobUrl(hitOriginUrl);

  const shims: { name: string; link: string }[] = [{ name: "ts shim", link: linkAs(bins.withcache, "ts") }];
  const zig = bins.zigShim;
  const skipped: Record<string, string> = {};
  if (zig) shims.push({ name: "zig shim", link: linkAs(zig, "zig") });
  else skipped["zig shim"] = "zig shim binary not found";

  const curlArgs = ["-sS", "-f", "-o", "/dev/null"];
  const hitEnv = { ...baseEnv(), WITHCACHE_SERVER: server.base };
  const passEnv = baseEnv();
  const hitCommands: Command[] = [{ name: "curl", argv: ["/usr/bin/curl", ...curlArgs, cacheUrl] }];
  const passCommands: Command[] = [{ name: "curl", argv: ["/usr/bin/curl", ...curlArgs, passUrl] }];
  for (const shim of shims) {
    const hitProblem = await check([shim.link, ...curlArgs, hitOriginUrl], hitEnv);
    const passProblem = await check([shim.link, ...curlArgs, passUrl], passEnv);
    if (hitProblem) skipped[`${shim.name} hit`] = hitProblem;
    else hitCommands.push({ name: shim.name, argv: [shim.link, ...curlArgs, hitOriginUrl] });
    if (passProblem) skipped[`${shim.name} pass-through`] = passProblem;
    else passCommands.push({ name: shim.name, argv: [shim.link, ...curlArgs, passUrl] });
  }
  for (const [what, why] of Object.entries(skipped)) ctx.log(`skipping ${what}: ${why}`);

  const samples: Record<string, Record<string, number[]>> = { hit: {}, pass: {} };
  const cpuSamples: Record<string, Record<string, number[]>> = { hit: {}, pass: {} };
  for (let round = 0; round < ctx.runs; round++) {
    for (const [group, commands, env] of [
      ["hit", hitCommands, hitEnv],
      ["pass", passCommands, passEnv],
    ] as const) {
      if (commands.length < 2) continue;
      // Rotate the order each round so no command always runs first.
      const rotated = commands.map((_, i) => commands[(i + round) % commands.length]!);
      const timings = await hyperfine(rotated, env);
      for (const [name, list] of Object.entries(timings.wallMs)) (samples[group]![name] ??= []).push(...list);
      for (const [name, cpu] of Object.entries(timings.cpuMs)) (cpuSamples[group]![name] ??= []).push(cpu);
    }
    ctx.log(`round ${round + 1}/${ctx.runs} done`);
  }

  const rows: Row[] = [];
  const targets: Record<string, { hit: number; pass: number; anchorHit: string; anchorPass: string }> = {
    "ts shim": { hit: 10, pass: 6, anchorHit: "Python shim +27 ms", anchorPass: "Python shim +21 ms" },
    "zig shim": { hit: 3, pass: 1, anchorHit: "", anchorPass: "" },
  };
  for (const name of ["ts shim", "zig shim"]) {
    for (const group of ["hit", "pass"] as const) {
      const label = group === "hit" ? "hit (probe + exec)" : "pass-through, server unset";
      const reference = median(samples[group]!.curl ?? []);
      const ours = median(samples[group]![name] ?? []);
      const problem = skipped[name] ?? skipped[`${name} ${group === "hit" ? "hit" : "pass-through"}`];
      rows.push({
        benchmark: "3 shim overhead",
        metric: `${name}, ${label}`,
        unit: "ms",
        referenceName: "curl",
        reference,
        ours,
        target: { kind: "added-at-most", value: targets[name]![group] },
        anchor: group === "hit" ? targets[name]!.anchorHit : targets[name]!.anchorPass,
        note: problem
          ? `not measured: ${problem}`
          : `${signed(ours - reference)} ms wall; cpu ${formatNumber(median(cpuSamples[group]![name] ?? []), 1)} vs ${formatNumber(median(cpuSamples[group]!.curl ?? []), 1)} ms`,
      });
    }
  }
  return { rows, raw: { samplesMs: samples, cpuMeanMsPerRound: cpuSamples, skipped, hyperfineRuns: HYPERFINE_RUNS, bytes: SMALL_BYTES } };
}

export const shimBenchmark: Benchmark = { name: "shim", title: "shim overhead, hyperfine", run: run_ };
