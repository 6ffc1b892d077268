// What a benchmark is: a name, what it needs, and a run that returns report rows and raw samples.
import type { Row } from "./stats.ts";

export type BenchContext = {
  /** Rounds of reference-then-ours (order alternates each round). */
  runs: number;
  log: (message: string) => void;
};

export type BenchResult = { rows: Row[]; raw: Record<string, unknown> };

export type Benchmark = {
  name: string;
  title: string;
  run: (ctx: BenchContext) => Promise<BenchResult>;
};
