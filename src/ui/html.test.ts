import { describe, expect, test } from "bun:test";
import { escapeHtml, html, raw } from "./html.ts";
import { etaMs, formatBytes, formatDuration, formatTime, percent } from "./format.ts";

describe("html", () => {
  test("escapes interpolated strings, in text and in attributes", () => {
    const evil = `"'><script>alert(1)</script>\`&`;
    const out = html`<p title="${evil}">${evil}</p>`.text;
    expect(out).toBe(
      `<p title="&quot;&#39;&gt;&lt;script&gt;alert(1)&lt;/script&gt;&#96;&amp;">&quot;&#39;&gt;&lt;script&gt;alert(1)&lt;/script&gt;&#96;&amp;</p>`,
    );
  });
  test("nests Html unescaped, arrays item by item, skips null/undefined/false, prints numbers", () => {
    const inner = html`<b>${"<i>"}</b>`;
    expect(html`${inner}${["<", html`<br>`]}${null}${undefined}${false}${0}`.text).toBe("<b>&lt;i&gt;</b>&lt;<br>0");
  });
  test("raw is the only way to insert unescaped text", () => {
    expect(html`${raw("<hr>")}`.text).toBe("<hr>");
    expect(html`${{ text: "<hr>" }}`.text).toBe("[object Object]");
    expect(escapeHtml("a&b")).toBe("a&amp;b");
  });
});

describe("format", () => {
  test("bytes in binary units", () => {
    expect(formatBytes(0)).toBe("0 B");
    expect(formatBytes(1023)).toBe("1023 B");
    expect(formatBytes(1536)).toBe("1.50 KiB");
    expect(formatBytes(20 * 1024 ** 3)).toBe("20.0 GiB");
    expect(formatBytes(-1)).toBe("?");
  });
  test("durations, times, eta, percent", () => {
    expect(formatDuration(45_000)).toBe("45s");
    expect(formatDuration(185_000)).toBe("3m 05s");
    expect(formatDuration(3 * 86_400_000 + 4 * 3_600_000)).toBe("3d 4h");
    expect(formatTime(Date.UTC(2026, 10, 26, 13, 5))).toBe("2026-11-26 13:05 UTC");
    expect(etaMs({ bytesDone: 50, totalBytes: 150, rateBytesPerSec: 10 })).toBe(10_000);
    expect(etaMs({ bytesDone: 50, totalBytes: null, rateBytesPerSec: 10 })).toBeNull();
    expect(etaMs({ bytesDone: 50, totalBytes: 100, rateBytesPerSec: 0 })).toBeNull();
    expect(percent(1, 3)).toBe(33);
    expect(percent(1, null)).toBeNull();
  });
});
