import { describe, expect, test } from "bun:test";
import { parseAb } from "./ab.ts";
import { judge, judgeRow, markdownTable, median, percentile, ratio } from "./stats.ts";

describe("bench stats", () => {
  test("median of odd and even counts, NaN when empty", () => {
    expect(median([3, 1, 2])).toBe(2);
    expect(median([4, 1, 3, 2])).toBe(2.5);
    expect(median([])).toBeNaN();
  });

  test("nearest-rank percentile", () => {
    const values = Array.from({ length: 100 }, (_, i) => i + 1);
    expect(percentile(values, 99)).toBe(99);
    expect(percentile(values, 100)).toBe(100);
    expect(percentile([5], 99)).toBe(5);
  });

  test("ratio and verdicts", () => {
    expect(ratio(1, 2)).toBe(0.5);
    expect(ratio(1, 0)).toBeNaN();
    expect(judge({ kind: "ratio-at-least", value: 0.9 }, 0.95, 1)).toBe("yes");
    expect(judge({ kind: "ratio-at-least", value: 0.9 }, 0.85, 1)).toBe("no");
    expect(judge({ kind: "ratio-at-most", value: 1.25 }, 1.3, 1)).toBe("no");
    expect(judge({ kind: "added-at-most", value: 6 }, 10, 5)).toBe("yes");
    expect(judge({ kind: "added-at-most", value: 6 }, 12, 5)).toBe("no");
    expect(judge({ kind: "at-most", value: 150 }, Number.NaN, Number.NaN)).toBe("n/a");
    expect(judge({ kind: "exactly", value: 1 }, 1, Number.NaN)).toBe("yes");
    expect(judge({ kind: "exactly", value: 1 }, 0, Number.NaN)).toBe("no");
    expect(judge({ kind: "exactly", value: 1 }, 2, Number.NaN)).toBe("no");
  });

  test("markdown table has a header, one line per row, escaped cells", () => {
    const table = markdownTable([
      judgeRow({
        benchmark: "1 serve",
        metric: "a|b",
        unit: "GB/s",
        referenceName: "nginx",
        reference: 2,
        ours: 1.8,
        target: { kind: "ratio-at-least", value: 0.9 },
        anchor: "0.49×",
      }),
    ]);
    const lines = table.split("\n");
    expect(lines).toHaveLength(3);
    expect(lines[2]).toBe("| 1 serve | a\\|b | nginx: 2.00 GB/s | 1.80 GB/s | 0.90× | ≥ 0.9× | yes | 0.49× |");
  });
});

describe("ab report parsing", () => {
  test("reads requests/s, percentiles and failures", () => {
    const text = `Complete requests:      20000
Failed requests:        3
Non-2xx responses:      20000
Requests per second:    12345.67 [#/sec] (mean)
Percentage of the requests served within a certain time (ms)
  50%      1
  66%      1
  99%      4
 100%     17 (longest request)
`;
    expect(parseAb(text)).toEqual({ requestsPerSecond: 12345.67, p50Ms: 1, p99Ms: 4, maxMs: 17, completed: 20000, failed: 3, non2xx: 20000 });
  });
});
