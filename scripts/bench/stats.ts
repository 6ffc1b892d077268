// Pure helpers of the benchmark report: medians, percentiles, ratios, number formatting and the
// Markdown table. No I/O here so the arithmetic that decides "target met" can be unit-tested.

export function median(values: readonly number[]): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  if (sorted.length % 2 === 1) return sorted[mid]!;
  return (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/** Nearest-rank percentile (p in 0..100), the definition ab and most load tools use. */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.max(1, Math.ceil((p / 100) * sorted.length));
  return sorted[Math.min(rank, sorted.length) - 1]!;
}

/** ours / reference, NaN when either side is missing or the reference is zero. */
export function ratio(ours: number, reference: number): number {
  if (!Number.isFinite(ours) || !Number.isFinite(reference) || reference === 0) return Number.NaN;
  return ours / reference;
}

export const MIB = 1024 ** 2;

/** Throughput in GB/s (decimal, like the anchors) from bytes and seconds. */
export function gbPerSecond(bytes: number, seconds: number): number {
  if (!(seconds > 0)) return Number.NaN;
  return bytes / seconds / 1e9;
}

export function formatNumber(value: number, digits = 2): string {
  if (value === undefined || !Number.isFinite(value)) return "n/a";
  if (Math.abs(value) >= 1000) return Math.round(value).toLocaleString("en-US");
  return value.toFixed(digits);
}

export type Target =
  | { kind: "ratio-at-least"; value: number } // ours/reference ≥ value
  | { kind: "ratio-at-most"; value: number } // ours/reference ≤ value
  | { kind: "at-most"; value: number } // ours ≤ value (absolute, in the row's unit)
  | { kind: "added-at-most"; value: number } // ours − reference ≤ value (in the row's unit)
  | { kind: "exactly"; value: number } // ours = value (a count)
  | { kind: "none" };

export type Verdict = "yes" | "no" | "n/a";

export function judge(target: Target, ours: number, reference: number): Verdict {
  switch (target.kind) {
    case "none":
      return "n/a";
    case "at-most":
      return Number.isFinite(ours) ? (ours <= target.value ? "yes" : "no") : "n/a";
    case "exactly":
      return Number.isFinite(ours) ? (ours === target.value ? "yes" : "no") : "n/a";
    case "added-at-most": {
      const added = ours - reference;
      return Number.isFinite(added) ? (added <= target.value ? "yes" : "no") : "n/a";
    }
    case "ratio-at-least": {
      const r = ratio(ours, reference);
      return Number.isFinite(r) ? (r >= target.value ? "yes" : "no") : "n/a";
    }
    case "ratio-at-most": {
      const r = ratio(ours, reference);
      return Number.isFinite(r) ? (r <= target.value ? "yes" : "no") : "n/a";
    }
  }
}

function describeTarget(target: Target, unit: string): string {
  switch (target.kind) {
    case "none":
      return "";
    case "at-most":
      return `≤ ${target.value} ${unit}`.trim();
    case "exactly":
      return `= ${target.value} ${unit}`.trim();
    case "added-at-most":
      return `≤ +${target.value} ${unit}`.trim();
    case "ratio-at-least":
      return `≥ ${target.value}×`;
    case "ratio-at-most":
      return `≤ ${target.value}×`;
  }
}

/** One line of the report. `reference` is NaN when the metric has no side-by-side reference. */
export type Row = {
  benchmark: string;
  metric: string;
  unit: string;
  referenceName: string;
  reference: number;
  ours: number;
  target: Target;
  /** The old Python implementation's number, as context only. */
  anchor: string;
  note?: string;
};

export type JudgedRow = Row & { ratio: number; met: Verdict };

export function judgeRow(row: Row): JudgedRow {
  return { ...row, ratio: ratio(row.ours, row.reference), met: judge(row.target, row.ours, row.reference) };
}

function escapeCell(text: string): string {
  return text.replaceAll("|", "\\|").replaceAll("\n", " ");
}

function withUnit(value: number, unit: string): string {
  const text = formatNumber(value);
  return text === "n/a" || unit === "" ? text : `${text} ${unit}`;
}

export function markdownTable(rows: readonly JudgedRow[]): string {
  const header = ["benchmark", "metric", "reference", "withcache", "ours/ref", "target", "met", "old Python (context)"];
  const lines = [`| ${header.join(" | ")} |`, `|${header.map(() => "---").join("|")}|`];
  for (const row of rows) {
    const reference = Number.isFinite(row.reference) ? `${row.referenceName}: ${withUnit(row.reference, row.unit)}` : row.referenceName || "—";
    const cells = [
      row.benchmark,
      row.metric,
      reference,
      withUnit(row.ours, row.unit) + (row.note ? ` (${row.note})` : ""),
      Number.isFinite(row.ratio) ? `${formatNumber(row.ratio)}×` : "—",
      describeTarget(row.target, row.unit) || "—",
      row.met,
      row.anchor || "—",
    ];
    lines.push(`| ${cells.map(escapeCell).join(" | ")} |`);
  }
  return lines.join("\n");
}
