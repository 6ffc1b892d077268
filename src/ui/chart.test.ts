import { describe, expect, test } from "bun:test";
import { hourlyChart, niceMax } from "./chart.ts";

const HOUR = 3_600_000;
const hours = (values: Array<[number, number]>) => values.map(([hits, misses], i) => ({ hourMs: Date.UTC(2026, 0, 1, i), hits, misses }));

describe("hourlyChart", () => {
  test("empty state: no bars, a message as HTML text (readable at any width), still labelled", () => {
    const out = hourlyChart(hours(Array.from({ length: 24 }, () => [0, 0] as [number, number]))).text;
    expect(out).toContain('data-empty="true"');
    expect(out).toContain('aria-label="Hits and misses per hour, last 24 hours (UTC): no requests in the last 24 hours"');
    expect(out).toContain("<p>No requests in the last 24 hours</p>");
    expect(out).not.toContain("<rect");
    expect(out).not.toContain("<svg");
  });
  test("two bars per hour, hour labels every 6 hours, accessible title and desc", () => {
    const svg = hourlyChart(hours(Array.from({ length: 24 }, (_, i) => [i, 1] as [number, number]))).text;
    expect(svg.match(/class="bar-hit"/g)!.length).toBe(24);
    expect(svg.match(/class="bar-miss"/g)!.length).toBe(24);
    expect(svg).toContain(">00:00</text>");
    expect(svg).toContain(">06:00</text>");
    expect(svg).toContain(">23:00</text>");
    expect(svg).not.toContain(">05:00</text>");
    expect(svg).toContain("<desc");
    expect(svg).toContain("276 hits and 24 misses over 24 hours");
    expect(svg).toContain('role="img"');
  });
  test("y axis is scaled to a round maximum", () => {
    const svg = hourlyChart(hours([[37, 0], [1, 2]])).text;
    expect(svg).toContain('class="axis-y"');
    expect(svg).toContain(">50</text>");
    expect(svg).toContain(">25</text>");
  });
  test("a value that dwarfs the others: small ones stay visible (≥ 1 px), zero stays zero", () => {
    const svg = hourlyChart(hours([[1_000_000, 0], [1, 0]])).text;
    const heights = [...svg.matchAll(/class="bar-hit"[^>]*height="([\d.]+)"/g)].map((m) => Number(m[1]));
    expect(heights[0]).toBeGreaterThan(100);
    expect(heights[1]).toBeGreaterThanOrEqual(1);
    const missHeights = [...svg.matchAll(/class="bar-miss"[^>]*height="([\d.]+)"/g)].map((m) => Number(m[1]));
    expect(missHeights).toEqual([0, 0]);
  });
  test("each bar carries its own tooltip", () => {
    expect(hourlyChart(hours([[3, 4]])).text).toContain("<title>00:00: 3 hits</title>");
    expect(HOUR).toBe(3_600_000);
  });
  test("niceMax", () => {
    expect(niceMax(0)).toBe(1);
    expect(niceMax(7)).toBe(10);
    expect(niceMax(120)).toBe(200);
    expect(niceMax(500)).toBe(500);
  });
});
