import { describe, expect, test } from "bun:test";
import { escapeHelp, escapeLabelValue, formatValue, MetricsRegistry, SERIES_PER_METRIC_MAX } from "./metrics.ts";

describe("metrics registry", () => {
  test("counters: HELP and TYPE lines, every declared series from 0, increments by handle and by values", () => {
    const r = new MetricsRegistry();
    const c = r.counter("app_requests_total", "Requests.", { route: ["a", "b"], class: ["2xx", "4xx"] });
    const a2 = c.child("a", "2xx");
    a2.inc();
    a2.inc(2);
    c.inc(["b", "4xx"]);
    expect(r.render()).toBe(
      [
        "# HELP app_requests_total Requests.",
        "# TYPE app_requests_total counter",
        'app_requests_total{route="a",class="2xx"} 3',
        'app_requests_total{route="a",class="4xx"} 0',
        'app_requests_total{route="b",class="2xx"} 0',
        'app_requests_total{route="b",class="4xx"} 1',
        "",
      ].join("\n"),
    );
    expect(c.value("a", "2xx")).toBe(3);
  });

  test("a counter never goes down; setTotal copies in a count kept elsewhere", () => {
    const r = new MetricsRegistry();
    const c = r.counter("app_hits_total", "Hits.");
    c.setTotal([], 5);
    expect(c.value()).toBe(5);
    expect(() => c.setTotal([], 4)).toThrow("went down");
    expect(() => c.inc([], -1)).toThrow("cannot go down");
    expect(r.render()).toContain("\napp_hits_total 5\n");
  });

  test("undeclared label values, wrong arity, bad names and duplicate metrics are bugs", () => {
    const r = new MetricsRegistry();
    const c = r.counter("app_x_total", "X.", { route: ["a"] });
    expect(() => c.inc(["https://h/secret"])).toThrow("were not declared");
    expect(() => c.inc([])).toThrow("takes 1 label values");
    expect(() => r.counter("app_x_total", "again")).toThrow("registered twice");
    expect(() => r.counter("app_y", "no suffix")).toThrow("must end in _total");
    expect(() => r.gauge("app-bad", "dash")).toThrow("is not valid");
    expect(() => r.gauge("app_g", "g", { __reserved: ["x"] })).toThrow("is not valid");
    expect(() => r.histogram("app_h", "h", [1], { le: ["x"] })).toThrow('cannot have a label "le"');
    expect(() => r.histogram("app_h2", "h", [2, 1])).toThrow("ascend");
    const many = Array.from({ length: SERIES_PER_METRIC_MAX + 1 }, (_, i) => String(i));
    expect(() => r.gauge("app_many", "m", { v: many })).toThrow("series");
  });

  test("gauges are set, not counted", () => {
    const r = new MetricsRegistry();
    const g = r.gauge("app_queue", "Queue depth.");
    g.set([], 7);
    g.set([], 3);
    expect(r.render()).toBe("# HELP app_queue Queue depth.\n# TYPE app_queue gauge\napp_queue 3\n");
  });

  test("histograms: cumulative buckets with le inclusive, +Inf, sum and count", () => {
    const r = new MetricsRegistry();
    const h = r.histogram("app_seconds", "Durations.", [0.01, 0.1, 1], { route: ["probe"] });
    const p = h.child("probe");
    for (const v of [0.005, 0.01, 0.05, 0.5, 2]) p.observe(v);
    expect(r.render()).toBe(
      [
        "# HELP app_seconds Durations.",
        "# TYPE app_seconds histogram",
        'app_seconds_bucket{route="probe",le="0.01"} 2',
        'app_seconds_bucket{route="probe",le="0.1"} 3',
        'app_seconds_bucket{route="probe",le="1"} 4',
        'app_seconds_bucket{route="probe",le="+Inf"} 5',
        'app_seconds_sum{route="probe"} 2.565',
        'app_seconds_count{route="probe"} 5',
        "",
      ].join("\n"),
    );
    expect(h.snapshot("probe")).toEqual({ count: 5, sum: 2.565 });
  });

  test("escaping per 0.0.4: label values escape \\ \" and line feeds, HELP escapes \\ and line feeds", () => {
    expect(escapeLabelValue('a\\b"c\nd')).toBe('a\\\\b\\"c\\nd');
    expect(escapeHelp('a\\b"c\nd')).toBe('a\\\\b"c\\nd');
    const r = new MetricsRegistry();
    r.gauge("app_info", 'Build "info"\nsecond line', { version: ['1.0"\\\n'] }).set(['1.0"\\\n'], 1);
    expect(r.render()).toBe('# HELP app_info Build "info"\\nsecond line\n# TYPE app_info gauge\napp_info{version="1.0\\"\\\\\\n"} 1\n');
  });

  test("values: integers, floats, infinities and NaN as Prometheus parses them", () => {
    expect([0, 42, 1.5, 1e21, Infinity, -Infinity, NaN].map(formatValue)).toEqual(["0", "42", "1.5", "1e+21", "+Inf", "-Inf", "NaN"]);
  });

  test("the reference parser (prometheus_client) reads a render back, escapes included", async () => {
    const r = new MetricsRegistry();
    r.counter("app_requests_total", "Requests\nby route.", { route: ["a", 'q"\\\n'] }).inc(["a"], 2);
    r.gauge("app_bytes", "Bytes.").set([], 1e12);
    r.histogram("app_seconds", "Durations.", [0.001, 0.5]).observe([], 0.2);
    const python = `
import json, sys
from prometheus_client.parser import text_string_to_metric_families
out = []
for f in text_string_to_metric_families(sys.stdin.read()):
    out.append({"name": f.name, "type": f.type, "help": f.documentation, "samples": [[s.name, s.labels, s.value] for s in f.samples]})
print(json.dumps(out))
`;
    const proc = Bun.spawn(["python3", "-c", python], { stdin: new TextEncoder().encode(r.render()), stdout: "pipe", stderr: "pipe", env: { ...process.env, PYTHONPATH: `${import.meta.dir}/../../.tools/python` } });
    const [out, err, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
    expect(err).toBe("");
    expect(code).toBe(0);
    const families = JSON.parse(out) as Array<{ name: string; type: string; help: string; samples: Array<[string, Record<string, string>, number]> }>;
    expect(families.map((f) => [f.name, f.type])).toEqual([["app_requests", "counter"], ["app_bytes", "gauge"], ["app_seconds", "histogram"]]);
    expect(families[0]!.help).toBe("Requests\nby route.");
    expect(families[0]!.samples).toEqual([["app_requests_total", { route: "a" }, 2], ["app_requests_total", { route: 'q"\\\n' }, 0]]);
    expect(families[1]!.samples).toEqual([["app_bytes", {}, 1e12]]);
    expect(families[2]!.samples.find((s) => s[0] === "app_seconds_bucket" && s[1].le === "0.5")?.[2]).toBe(1);
  });
});
