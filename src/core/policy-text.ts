// A policy as an operator writes it in --rule (max-age in the largest unit that divides it).
import type { Policy } from "./freshness.ts";

export function policyText(p: Policy): string {
  if (p.kind !== "max-age") return p.kind;
  for (const [unit, size] of [["d", 86_400_000], ["h", 3_600_000], ["m", 60_000], ["s", 1000]] as const) {
    if (p.ms % size === 0) return `max-age=${p.ms / size}${unit}`;
  }
  return `max-age=${p.ms}ms`;
}
