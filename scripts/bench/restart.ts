// Benchmark 5: restart. Time from process start to the first served hit with 100,000 artifacts
// in the database (filled in once src/store exists).
import type { BenchContext, BenchResult, Benchmark } from "./types.ts";

async function run(_ctx: BenchContext): Promise<BenchResult> {
  throw new Error("restart benchmark: waiting for src/store");
}

export const restartBenchmark: Benchmark = { name: "restart", title: "restart with 100,000 artifacts", run };
