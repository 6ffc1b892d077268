// The overview page against the real server and a real origin: a known miss and known hits
// (real curl of /b/…) move its numbers by exactly the expected amounts, and the numbers come
// back after a restart on the same data dir (they are the persisted hourly buckets).
import { afterAll, beforeAll, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { encodeToken } from "../src/core/token.ts";
import { pollUntil, run } from "./helpers/index.ts";
import { FormClient, startOrigin, startUi, type Origin } from "./ui-support.ts";

const SIZE = 4096;
let origin: Origin;
let dataDir: string;

beforeAll(async () => {
  origin = await startOrigin();
  dataDir = mkdtempSync(join(tmpdir(), "withcache-dash-"));
});
afterAll(() => {
  origin.stop();
  rmSync(dataDir, { recursive: true, force: true });
});

function field(page: string, window: string, name: string): string {
  const section = page.split(`data-window="${window}"`)[1]!.split("</article>")[0]!;
  return new RegExp(`data-field="${name}"[^>]*>(?:<strong>)?([^<]*)`).exec(section)![1]!;
}

test("a miss and two hits move the numbers exactly, and they survive a restart", async () => {
  const ui = await startUi({ dataDir });
  try {
    const c = new FormClient(ui.base);
    const before = (await c.get("/")).text;
    expect(before).toContain('data-empty="true"'); // the chart's empty state
    expect(field(before, "24h", "hits")).toBe("0");
    const url = `${origin.base}/file/dash.bin?size=${SIZE}`;
    const blob = `${ui.base}/b/${encodeToken(url)}/dash.bin`;
    expect((await run(["/usr/bin/curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", blob])).stdout).toBe("404"); // a miss (curated mode)
    expect((await ui.running.ctx.fills.enqueue(url, { source: "operator" })).ok).toBe(true);
    await pollUntil(async () => ui.running.ctx.store.metadata.getArtifact(`${origin.base}/file/dash.bin?size=${SIZE}`) ?? ui.running.ctx.store.metadata.getArtifact(`${origin.base}/file/dash.bin`), { what: "the fill" });
    for (let i = 0; i < 2; i++) expect((await run(["/usr/bin/curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", blob])).stdout).toBe("200");
    const after = (await c.get("/admin")).text;
    for (const w of ["24h", "7d", "all"]) {
      expect(field(after, w, "hits")).toBe("2");
      expect(field(after, w, "misses")).toBe("1");
      expect(field(after, w, "hit-ratio")).toBe("66.7 %");
      expect(field(after, w, "from-cache")).toBe("8.00 KiB");
      expect(field(after, w, "from-origin")).toBe("4.00 KiB");
      expect(field(after, w, "saved")).toBe("4.00 KiB");
    }
    expect(after).not.toContain('data-empty="true"');
    expect(after).toContain('id="top-artifacts"');
    expect(after).toContain("dash.bin");
  } finally {
    await ui.stop();
  }
  const again = await startUi({ dataDir });
  try {
    const page = (await new FormClient(again.base).get("/")).text;
    expect(field(page, "all", "hits")).toBe("2");
    expect(field(page, "24h", "misses")).toBe("1");
    expect(field(page, "7d", "saved")).toBe("4.00 KiB");
  } finally {
    await again.stop();
  }
}, 30_000);
