// The argv corpus (shim-argv.json, written by build-corpus.ts) as typed vectors, for the tests that
// check a planner against it: each vector has the expected final argv for hit, redirected hit, miss
// and unreachable (the cache named CORPUS_SERVER), some a per-URL mixed case.
import type { ProbeOutcome } from "../../src/core/plan/plan.ts";
import corpus from "./shim-argv.json" with { type: "json" };

export type CorpusVector = {
  tool: "curl" | "wget";
  note: string;
  argv: string[];
  hit: string[];
  hit_redirected: string[];
  miss: string[];
  unreachable: string[];
  mixed?: { outcomes: Record<string, ProbeOutcome>; expect: string[] };
};

/** The cache-host the corpus's expected argv name. */
export const CORPUS_SERVER = "http://cache.test:3000";

/** The corpus as written: the server its expected argv name (should be CORPUS_SERVER) and its vectors. */
export const CORPUS: { server: string; vectors: CorpusVector[] } = { server: corpus.server, vectors: corpus.vectors as CorpusVector[] };
