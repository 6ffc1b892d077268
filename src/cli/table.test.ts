import { describe, expect, test } from "bun:test";
import { formatTable, middleEllipsis, outputWidth, progressBar } from "./table.ts";

describe("middleEllipsis", () => {
  test("keeps the host and the file name", () => {
    const url = "https://developer.download.nvidia.com/compute/cuda/12.4.0/local_installers/cuda_12.4.0_550.54.14_linux.run";
    const cut = middleEllipsis(url, 50);
    expect([...cut].length).toBe(50);
    expect(cut).toStartWith("https://developer");
    expect(cut).toEndWith("cuda_12.4.0_550.54.14_linux.run");
    expect(cut).toContain("…");
    expect(middleEllipsis("short", 50)).toBe("short");
    expect(middleEllipsis("abcdef", 1)).toBe("…");
  });
});

describe("formatTable", () => {
  const rows = [
    { url: "https://very-long-subdomain.downloads.vendor.example.com/" + "x".repeat(150) + "/driver.run", size: "1.0 GiB" },
    { url: "https://h/a", size: "12 B" },
  ];
  const columns = [
    { header: "SIZE", value: (r: (typeof rows)[number]) => r.size, align: "right" as const },
    { header: "URL", value: (r: (typeof rows)[number]) => r.url, shrink: true },
  ];
  test("every line fits the width; the URL column shrinks, the others do not", () => {
    for (const width of [40, 60, 200]) {
      const out = formatTable(columns, rows, width);
      for (const line of out.trimEnd().split("\n")) expect([...line].length).toBeLessThanOrEqual(width);
      expect(out).toContain("1.0 GiB");
      expect(out).toContain("driver.run");
    }
    expect(formatTable(columns, rows, null)).toContain(rows[0]!.url);
  });
  test("right-aligned numbers, headers first", () => {
    expect(formatTable(columns, rows.slice(1), null)).toBe("SIZE  URL\n12 B  https://h/a\n");
  });
});

test("progressBar and outputWidth", () => {
  expect(progressBar(50, 100, 20)).toBe("[#######......]  50%");
  expect(progressBar(50, 100, 20).length).toBe(20);
  expect(progressBar(100, 100, 20)).toBe("[#############] 100%");
  expect(progressBar(5, null, 20).length).toBe(20);
  expect(outputWidth({ COLUMNS: "60" }, { isTTY: true, columns: 100 })).toBe(60);
  expect(outputWidth({}, { isTTY: true, columns: 100 })).toBe(100);
  expect(outputWidth({}, { isTTY: false })).toBeNull();
});

test("columns that may be dropped go, lowest first, when shrinking is not enough", () => {
  const rows = [{ a: "x".repeat(30), b: "y".repeat(20), url: "https://h/" + "z".repeat(40) }];
  const columns = [
    { header: "A", value: (r: (typeof rows)[number]) => r.a, drop: 2 },
    { header: "B", value: (r: (typeof rows)[number]) => r.b, drop: 1 },
    { header: "URL", value: (r: (typeof rows)[number]) => r.url, shrink: true },
  ];
  expect(formatTable(columns, rows, 200).split("\n")[0]).toMatch(/^A +B +URL$/);
  expect(formatTable(columns, rows, 50).split("\n")[0]).toMatch(/^A +URL$/);
  expect(formatTable(columns, rows, 20).split("\n")[0]).toBe("URL");
});
