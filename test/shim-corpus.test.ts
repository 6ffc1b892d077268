// The argv corpus (test/corpus/shim-argv.json, written by hand in build-corpus.ts) against the
// pure planner: for every vector, the planned argv for hit, hit-redirected, miss, unreachable and mixed outcomes.
import { describe, expect, test } from "bun:test";
import { finishPlan, planAll, preparePlan, type ProbeOutcome } from "../src/core/plan/plan.ts";
import { CORPUS as corpus, type CorpusVector } from "./corpus/shim-argv.ts";

const vectors: CorpusVector[] = corpus.vectors;

test("the corpus has at least 150 vectors, for both tools", () => {
  expect(vectors.length).toBeGreaterThanOrEqual(150);
  expect(vectors.filter((v) => v.tool === "curl").length).toBeGreaterThanOrEqual(75);
  expect(vectors.filter((v) => v.tool === "wget").length).toBeGreaterThanOrEqual(75);
});

describe("corpus", () => {
  test.each(vectors.map((v) => [`${v.tool} ${v.note}`, v] as const))("%s", (_name, v) => {
    for (const outcome of ["hit", "miss", "unreachable"] as const) {
      expect({ outcome, argv: planAll(v.tool, v.argv, corpus.server, outcome) }).toEqual({ outcome, argv: v[outcome] });
    }
    expect({ outcome: "hit-redirected", argv: planAll(v.tool, v.argv, corpus.server, "hit-redirected") }).toEqual({ outcome: "hit-redirected", argv: v.hit_redirected });
    if (v.mixed) {
      const plan = preparePlan(v.tool, v.argv, corpus.server);
      const outcomes = new Map(Object.entries(v.mixed.outcomes) as Array<[string, ProbeOutcome]>);
      expect(finishPlan(plan, outcomes)).toEqual(v.mixed.expect);
    }
  });
});
