// scripts/bench entry: run every benchmark (or the named ones), print the Markdown report on
// stdout and merge the results into bench/results.json. Progress goes to stderr.
//   bun scripts/bench/main.ts [serve|probe|shim|fill|restart|revalidate|herd|api|metrics|s3 ...] [--runs N] [--report]
// A missed target never fails the command (the machines are noisy); a benchmark that cannot run
// does (exit 1), after the others have run.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { z } from "zod";
import { apiBenchmark } from "./api.ts";
import { fillBenchmark } from "./fill.ts";
import { cleanupAll, installExitHandlers, ROOT, snapshotBinaries } from "./harness.ts";
import { herdBenchmark } from "./herd.ts";
import { metricsBenchmark } from "./metrics.ts";
import { probeBenchmark } from "./probe.ts";
import { restartBenchmark } from "./restart.ts";
import { revalidateBenchmark } from "./revalidate.ts";
import { s3Benchmark } from "./s3.ts";
import { replicasBenchmark } from "./replicas.ts";
import { serveBenchmark } from "./serve.ts";
import { shimBenchmark } from "./shim.ts";
import { judgeRow, markdownTable, type JudgedRow } from "./stats.ts";
import type { Benchmark } from "./types.ts";

const BENCHMARKS: Benchmark[] = [serveBenchmark, probeBenchmark, shimBenchmark, fillBenchmark, restartBenchmark, revalidateBenchmark, herdBenchmark, apiBenchmark, metricsBenchmark, s3Benchmark, replicasBenchmark];
/** Rounds per benchmark when --runs is not given: fewer for the slow 1 GiB ones. */
const DEFAULT_RUNS: Record<string, number> = { serve: 5, probe: 5, shim: 10, fill: 5, restart: 5, revalidate: 10, herd: 2, api: 5, metrics: 3, s3: 2, replicas: 3 };
const RESULTS_PATH = path.join(ROOT, "bench", "results.json");

const ResultEntry = z.object({
  name: z.string(),
  title: z.string(),
  finishedAt: z.string(),
  runs: z.number(),
  error: z.string().optional(),
  rows: z.array(z.any()),
  raw: z.record(z.string(), z.unknown()),
});
type ResultEntry = z.infer<typeof ResultEntry>;
const ResultsFile = z.object({ machine: z.record(z.string(), z.unknown()), command: z.string(), benchmarks: z.array(ResultEntry) });
type ResultsFile = z.infer<typeof ResultsFile>;

function usage(message: string): never {
  process.stderr.write(`bench: ${message}\nusage: scripts/bench/run [${BENCHMARKS.map((b) => b.name).join("|")} ...] [--runs N] [--report]\n`);
  process.exit(2);
}

function parseArgs(argv: string[]): { names: string[]; runs?: number; reportOnly: boolean } {
  const names: string[] = [];
  let runs: number | undefined;
  let reportOnly = false;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === "--runs" || arg.startsWith("--runs=")) {
      const value = arg.includes("=") ? arg.slice("--runs=".length) : argv[++i];
      const parsed = z.coerce.number().int().min(1).max(100).safeParse(value);
      if (!parsed.success) usage(`--runs: ${JSON.stringify(value ?? "")} is not a count; expected 1..100`);
      runs = parsed.data;
    } else if (arg === "--report") {
      reportOnly = true;
    } else if (arg === "-h" || arg === "--help") {
      usage("runs the benchmark report");
    } else if (BENCHMARKS.some((b) => b.name === arg)) {
      names.push(arg);
    } else {
      usage(`"${arg}" is not a benchmark; expected one of ${BENCHMARKS.map((b) => b.name).join(", ")}`);
    }
  }
  return { names, runs, reportOnly };
}

async function toolVersion(cmd: string[]): Promise<string> {
  try {
    const proc = Bun.spawnSync(cmd, { stdout: "pipe", stderr: "pipe" });
    return `${proc.stdout.toString()}${proc.stderr.toString()}`.trim().split("\n")[0] ?? "";
  } catch {
    return "unavailable";
  }
}

async function machine(): Promise<Record<string, unknown>> {
  return {
    cores: os.cpus().length,
    cpu: os.cpus()[0]?.model ?? "",
    memoryGiB: Math.round(os.totalmem() / 1024 ** 3),
    kernel: os.release(),
    bun: Bun.version,
    nginx: await toolVersion(["/usr/sbin/nginx", "-v"]),
    curl: await toolVersion(["/usr/bin/curl", "--version"]),
    note: "shared with other engineers' test runs: numbers are noisy",
  };
}

function readResults(): ResultsFile | undefined {
  if (!fs.existsSync(RESULTS_PATH)) return undefined;
  const parsed = ResultsFile.safeParse(JSON.parse(fs.readFileSync(RESULTS_PATH, "utf8")));
  return parsed.success ? parsed.data : undefined;
}

function report(entries: ResultEntry[]): string {
  const rows: JudgedRow[] = entries.flatMap((entry) => entry.rows as JudgedRow[]);
  const lines = [markdownTable(rows)];
  for (const entry of entries) if (entry.error) lines.push(`\n${entry.name}: did not run: ${entry.error.split("\n")[0]}`);
  return lines.join("\n");
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  if (args.reportOnly) {
    const existing = readResults();
    if (!existing) usage(`${RESULTS_PATH} does not exist yet; run the benchmarks first`);
    console.log(report(existing.benchmarks));
    return;
  }
  installExitHandlers();
  const selected = args.names.length > 0 ? BENCHMARKS.filter((b) => args.names.includes(b.name)) : BENCHMARKS;
  const sources = snapshotBinaries();
  process.stderr.write(`bench: withcache from ${path.relative(ROOT, sources.withcache)}, zig shim from ${sources.zigShim ? path.relative(ROOT, sources.zigShim) : "(none found)"}\n`);
  const entries: ResultEntry[] = [];
  for (const bench of selected) {
    const runs = args.runs ?? DEFAULT_RUNS[bench.name] ?? 3;
    const log = (message: string) => process.stderr.write(`bench ${bench.name}: ${message}\n`);
    log(`${bench.title}, ${runs} rounds`);
    const started = performance.now();
    try {
      const result = await bench.run({ runs, log });
      entries.push({ name: bench.name, title: bench.title, finishedAt: new Date().toISOString(), runs, rows: result.rows.map(judgeRow), raw: result.raw });
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      log(`failed: ${message}`);
      entries.push({ name: bench.name, title: bench.title, finishedAt: new Date().toISOString(), runs, error: message, rows: [], raw: {} });
    } finally {
      await cleanupAll();
    }
    log(`done in ${((performance.now() - started) / 1000).toFixed(1)} s`);
  }

  const previous = readResults();
  const merged = new Map((previous?.benchmarks ?? []).map((entry) => [entry.name, entry]));
  for (const entry of entries) merged.set(entry.name, entry);
  const ordered = BENCHMARKS.map((b) => merged.get(b.name)).filter((entry): entry is ResultEntry => entry !== undefined);
  const results: ResultsFile = {
    machine: await machine(),
    command: `scripts/bench/run ${process.argv.slice(2).join(" ")}`.trim(),
    benchmarks: ordered,
  };
  fs.mkdirSync(path.dirname(RESULTS_PATH), { recursive: true });
  fs.writeFileSync(RESULTS_PATH, `${JSON.stringify(results, null, 2)}\n`);
  console.log(`withcache benchmark report, ${new Date().toISOString().slice(0, 10)}, ${os.cpus().length} cores (shared, noisy)\n`);
  console.log(report(entries));
  process.stderr.write(`bench: results merged into ${path.relative(ROOT, RESULTS_PATH)}\n`);
  if (entries.some((entry) => entry.error)) process.exit(1);
}

await main();
