// Metrics vocabulary: a registry of counters, gauges and histograms with fixed label sets, and
// its rendering in the Prometheus text exposition format 0.0.4. Pure: no clock, no I/O.
//
// Every label's values are declared when the metric is made and every series exists from the
// start (at 0), so a scrape's size is fixed and known, rate() sees a series before its first
// event, and no request data (a URL, a host) can ever become a label value: an undeclared value
// is a bug (an assertion), not a new series.
import { assert } from "./errors.ts";

/** The Content-Type of the 0.0.4 text format. */
export const METRICS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8";

/** Series one metric may have (the product of its label value sets): bounds a scrape's size. */
export const SERIES_PER_METRIC_MAX = 1000;

const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

/** Label name → the only values it may take. */
export type LabelValues = Readonly<Record<string, readonly string[]>>;

/** Label value escaping (0.0.4): backslash, double quote and line feed. */
export function escapeLabelValue(value: string): string {
  return value.replace(/[\\"\n]/g, (c) => (c === "\\" ? "\\\\" : c === '"' ? '\\"' : "\\n"));
}

/** HELP text escaping (0.0.4): backslash and line feed. */
export function escapeHelp(text: string): string {
  return text.replace(/[\\\n]/g, (c) => (c === "\\" ? "\\\\" : "\\n"));
}

/** A sample value as Prometheus parses it (Go's ParseFloat plus +Inf, -Inf, NaN). */
export function formatValue(n: number): string {
  if (Number.isNaN(n)) return "NaN";
  if (n === Infinity) return "+Inf";
  if (n === -Infinity) return "-Inf";
  return String(n);
}

type Kind = "counter" | "gauge" | "histogram";

/** One metric family: its series keyed by their label values joined with \u0000. */
abstract class Family<S> {
  readonly labelNames: readonly string[];
  protected readonly series = new Map<string, { labels: string; value: S }>();

  constructor(
    readonly name: string,
    readonly help: string,
    readonly kind: Kind,
    labels: LabelValues,
    fresh: () => S,
  ) {
    assert(METRIC_NAME.test(name), `metric name ${JSON.stringify(name)} is not valid`);
    this.labelNames = Object.keys(labels);
    for (const l of this.labelNames) {
      assert(LABEL_NAME.test(l) && !l.startsWith("__"), `label name ${JSON.stringify(l)} of ${name} is not valid`);
      assert(kind !== "histogram" || l !== "le", `${name}: a histogram cannot have a label "le"`);
      assert(labels[l]!.length > 0, `label ${l} of ${name} has no values`);
      assert(new Set(labels[l]).size === labels[l]!.length, `label ${l} of ${name} repeats a value`);
    }
    const combos = this.labelNames.reduce<string[][]>((acc, l) => acc.flatMap((prefix) => labels[l]!.map((v) => [...prefix, v])), [[]]);
    assert(combos.length <= SERIES_PER_METRIC_MAX, `${name} would have ${combos.length} series; at most ${SERIES_PER_METRIC_MAX}`);
    for (const values of combos) {
      const text = values.length === 0 ? "" : values.map((v, i) => `${this.labelNames[i]}="${escapeLabelValue(v)}"`).join(",");
      this.series.set(values.join("\u0000"), { labels: text, value: fresh() });
    }
  }

  /** The series of these label values (in declaration order); an undeclared value is a bug. */
  protected get(values: readonly string[]): S {
    assert(values.length === this.labelNames.length, `${this.name} takes ${this.labelNames.length} label values, got ${values.length}`);
    const s = this.series.get(values.join("\u0000"));
    assert(s !== undefined, `${this.name}: label values ${JSON.stringify(values)} were not declared`);
    return s.value;
  }

  render(out: string[]): void {
    out.push(`# HELP ${this.name} ${escapeHelp(this.help)}`, `# TYPE ${this.name} ${this.kind}`);
    for (const { labels, value } of this.series.values()) this.renderSeries(out, labels, value);
  }

  protected abstract renderSeries(out: string[], labels: string, value: S): void;
}

type Cell = { n: number };

/** A value that only goes up (since this process started). */
export class Counter extends Family<Cell> {
  constructor(name: string, help: string, labels: LabelValues = {}) {
    assert(name.endsWith("_total"), `counter ${name} must end in _total`);
    super(name, help, "counter", labels, () => ({ n: 0 }));
  }

  /** A handle to one series, to keep on a hot path (no lookup per increment). */
  child(...values: string[]): { inc(by?: number): void } {
    const cell = this.get(values);
    return {
      inc(by = 1) {
        assert(by >= 0, "a counter cannot go down");
        cell.n += by;
      },
    };
  }

  inc(values: readonly string[] = [], by = 1): void {
    assert(by >= 0, "a counter cannot go down");
    this.get(values).n += by;
  }

  /** A counter counted elsewhere (e.g. the traffic recorder), copied in before a render. */
  setTotal(values: readonly string[], total: number): void {
    const cell = this.get(values);
    assert(total >= cell.n, `${this.name} went down from ${cell.n} to ${total}`);
    cell.n = total;
  }

  value(...values: string[]): number {
    return this.get(values).n;
  }

  protected renderSeries(out: string[], labels: string, cell: Cell): void {
    out.push(`${this.name}${labels === "" ? "" : `{${labels}}`} ${formatValue(cell.n)}`);
  }
}

/** A value that goes up and down, set before each render. */
export class Gauge extends Family<Cell> {
  constructor(name: string, help: string, labels: LabelValues = {}) {
    super(name, help, "gauge", labels, () => ({ n: 0 }));
  }

  set(values: readonly string[], n: number): void {
    this.get(values).n = n;
  }

  value(...values: string[]): number {
    return this.get(values).n;
  }

  protected renderSeries(out: string[], labels: string, cell: Cell): void {
    out.push(`${this.name}${labels === "" ? "" : `{${labels}}`} ${formatValue(cell.n)}`);
  }
}

type Buckets = { counts: number[]; sum: number; count: number };

/** Count `v` in the first bucket whose upper bound it does not exceed (le is inclusive). */
function record(b: Buckets, bounds: readonly number[], v: number): void {
  let i = 0;
  while (i < bounds.length && v > bounds[i]!) i++;
  b.counts[i]! += 1;
  b.sum += v;
  b.count += 1;
}

/** Observations counted into fixed upper bounds (non-cumulative in memory, cumulative when rendered). */
export class Histogram extends Family<Buckets> {
  readonly bounds: readonly number[];

  constructor(name: string, help: string, bounds: readonly number[], labels: LabelValues = {}) {
    assert(bounds.length > 0 && bounds.length <= 30, `${name}: 1 to 30 buckets`);
    for (let i = 0; i < bounds.length; i++) {
      assert(Number.isFinite(bounds[i]!), `${name}: bucket bounds are finite (+Inf is implied)`);
      assert(i === 0 || bounds[i]! > bounds[i - 1]!, `${name}: bucket bounds ascend`);
    }
    super(name, help, "histogram", labels, () => ({ counts: new Array<number>(bounds.length + 1).fill(0), sum: 0, count: 0 }));
    this.bounds = bounds;
  }

  child(...values: string[]): { observe(v: number): void } {
    const b = this.get(values);
    const bounds = this.bounds;
    return { observe: (v: number) => record(b, bounds, v) };
  }

  observe(values: readonly string[], v: number): void {
    record(this.get(values), this.bounds, v);
  }

  /** Count and sum of one series (tests). */
  snapshot(...values: string[]): { count: number; sum: number } {
    const b = this.get(values);
    return { count: b.count, sum: b.sum };
  }

  protected renderSeries(out: string[], labels: string, b: Buckets): void {
    const sep = labels === "" ? "" : `${labels},`;
    let cumulative = 0;
    for (let i = 0; i < this.bounds.length; i++) {
      cumulative += b.counts[i]!;
      out.push(`${this.name}_bucket{${sep}le="${formatValue(this.bounds[i]!)}"} ${cumulative}`);
    }
    out.push(`${this.name}_bucket{${sep}le="+Inf"} ${b.count}`);
    const plain = labels === "" ? "" : `{${labels}}`;
    out.push(`${this.name}_sum${plain} ${formatValue(b.sum)}`, `${this.name}_count${plain} ${b.count}`);
  }
}

/** The metrics of one process, rendered in registration order. */
export class MetricsRegistry {
  private readonly families: Array<Counter | Gauge | Histogram> = [];

  private add<T extends Counter | Gauge | Histogram>(family: T): T {
    assert(!this.families.some((f) => f.name === family.name), `metric ${family.name} is registered twice`);
    this.families.push(family);
    return family;
  }

  counter(name: string, help: string, labels: LabelValues = {}): Counter {
    return this.add(new Counter(name, help, labels));
  }

  gauge(name: string, help: string, labels: LabelValues = {}): Gauge {
    return this.add(new Gauge(name, help, labels));
  }

  histogram(name: string, help: string, bounds: readonly number[], labels: LabelValues = {}): Histogram {
    return this.add(new Histogram(name, help, bounds, labels));
  }

  /** The whole exposition, ending in a line feed. */
  render(): string {
    const out: string[] = [];
    for (const f of this.families) f.render(out);
    return out.join("\n") + "\n";
  }
}
