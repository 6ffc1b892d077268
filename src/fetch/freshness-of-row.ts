// An artifact row's freshness under the running configuration: the row's stored origin headers,
// the rule that matches its URL and the lifetime settings, evaluated by core/freshness.ts.
// Memoised per row object (rows are frozen snapshots; a write hands out a new object).
import type { ServeConfig } from "../config/schema.ts";
import { readVerdict, serveStaleUntilMs, type Freshness, type ReadVerdict } from "../core/freshness.ts";
import { freshnessOf } from "../core/freshness.ts";
import type { Rule, RuleSet } from "../core/rules.ts";
import type { ArtifactRow } from "../store/types.ts";

export type RowFreshness = {
  freshness: Freshness;
  /** The operator rule that applied, or null for the origin's own headers. */
  rule: Rule | null;
  /** The last time the origin confirmed these bytes (fill, 304, same-bytes refill). */
  validatedAtMs: number | null;
  verdict(nowMs: number): ReadVerdict;
  /** Until when it may be served stale while the origin is down (null: never). */
  serveStaleUntilMs: number | null;
};

const memo = new WeakMap<ArtifactRow, { rules: RuleSet; config: ServeConfig; value: RowFreshness }>();

export function rowFreshness(row: ArtifactRow, rules: RuleSet, config: ServeConfig): RowFreshness {
  const known = memo.get(row);
  if (known && known.rules === rules && known.config === config) return known.value;
  const match = rules.match(row.url);
  // Rows filled before freshness was tracked: stale since their fetch time.
  const times = row.requestAtMs !== null && row.responseAtMs !== null ? { requestAtMs: row.requestAtMs, responseAtMs: row.responseAtMs } : { requestAtMs: row.fetchedAtMs, responseAtMs: row.fetchedAtMs };
  const freshness = freshnessOf(row.originHeaders, times, match.policy, { heuristicMaxMs: config.heuristicMaxMs, defaultMaxAgeMs: config.defaultMaxAgeMs });
  const confirmed = row.revalidation === "not-modified" || row.revalidation === "same-bytes" || row.revalidation === "changed" ? row.revalidatedAtMs : null;
  const validatedAtMs = Math.max(confirmed ?? -Infinity, row.responseAtMs ?? -Infinity);
  const value: RowFreshness = {
    freshness,
    rule: match.rule,
    validatedAtMs: Number.isFinite(validatedAtMs) ? validatedAtMs : null,
    verdict: (nowMs) => readVerdict(freshness, Number.isFinite(validatedAtMs) ? validatedAtMs : null, nowMs),
    serveStaleUntilMs: serveStaleUntilMs(freshness, config.maxStaleMs),
  };
  memo.set(row, { rules, config, value });
  return value;
}
