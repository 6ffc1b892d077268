import { describe, expect, test } from "bun:test";
import { missesPage, missesSection } from "./misses.ts";
import { downloadsSection } from "./downloads.ts";
import { artifactsSection } from "./artifacts.ts";
import { addSection } from "./add.ts";
import { loginPage } from "./layout.ts";
import type { ArtifactView, JobView, MissView, PageContext } from "./view.ts";

const XSS = `https://x/<script>alert(1)</script>"'><img src=x onerror=alert(2)>`;
const NOW = Date.UTC(2026, 10, 26, 12, 0);

function ctx(over: Partial<PageContext["header"]> = {}): PageContext {
  return {
    header: { mode: "curate", version: "0.1.0", usedBytes: 1024, freeBytes: 2048, artifactCount: 3, missCount: 2, activeJobCount: 1, authEnabled: true, ...over },
    csrfToken: "tok<en>",
    nowMs: NOW,
    notice: null,
  };
}

function job(over: Partial<JobView> = {}): JobView {
  return { id: "7", key: "k", url: "https://h/a.tgz", state: "running", bytesDone: 512, totalBytes: 2048, rateBytesPerSec: 256, error: null, createdAtMs: NOW - 10_000, startedAtMs: NOW - 5_000, finishedAtMs: null, ...over };
}

function miss(over: Partial<MissView> = {}): MissView {
  return { key: XSS, url: XSS, fetchUrl: XSS, count: 4, firstSeenMs: NOW - 3_600_000, lastSeenMs: NOW - 60_000, sizeBytes: 1000, job: null, uncacheable: null, ...over };
}

function artifact(over: Partial<ArtifactView> = {}): ArtifactView {
  return { key: "k", url: XSS, sha256: "a".repeat(64), sizeBytes: 5000, contentType: "application/gzip", fetchedAtMs: NOW - 1000, lastHitMs: null, hits: 2, misses: 1, freshness: { state: "stale", freshUntilMs: NOW - 120_000, policy: XSS, lastCheck: { atMs: NOW - 60_000, result: "origin-down", detail: XSS } }, ...over };
}

/** No raw tag or attribute break-out survives from the payload. */
function expectInert(out: string): void {
  expect(out).not.toContain("<script>alert");
  expect(out).not.toContain("<img src=x");
  expect(out).not.toContain(`"'>`);
  expect(out).toContain("&lt;script&gt;alert(1)&lt;/script&gt;&quot;&#39;&gt;&lt;img src=x onerror=alert(2)&gt;");
}

describe("pages escape client values", () => {
  test("misses page: XSS url in text, title and hidden fields", () => {
    const out = missesPage(ctx(), [miss()]).text;
    expectInert(out);
    expect(out).toContain('value="tok&lt;en&gt;"');
    expect(out).toContain("Would save");
    expect(out).toContain("3.91 KiB"); // 1000 B × 4 misses
  });
  test("downloads, artifacts and add escape urls, errors, filters and bad lines", () => {
    expectInert(downloadsSection({ jobs: [job({ url: XSS, error: XSS, state: "failed" })], csrfToken: "t", nowMs: NOW, notice: null }).text);
    expectInert(
      artifactsSection({ artifacts: [artifact()], filter: XSS, sort: "size", totals: { artifactCount: 1, bytes: 5000, freeBytes: null }, csrfToken: "t", nowMs: NOW, notice: null }).text,
    );
    expectInert(addSection({ text: XSS, results: [{ ok: false, lineNumber: 1, line: XSS, reason: "not http" }], csrfToken: "t", notice: null }).text);
    expectInert(loginPage({ version: "1", error: XSS, csrfToken: "t", next: XSS }).text);
  });
});

describe("page content", () => {
  test("open mode shows the banner and no log out; auth mode the reverse", () => {
    const open = missesPage(ctx({ authEnabled: false }), []).text;
    expect(open).toContain("No password set");
    expect(open).not.toContain('action="/logout"');
    const closed = missesPage(ctx(), []).text;
    expect(closed).not.toContain("No password set");
    expect(closed).toContain('action="/logout"');
    expect(closed).toContain("No misses recorded");
  });
  test("downloads poll only while something is queued or running", () => {
    const active = downloadsSection({ jobs: [job()], csrfToken: "t", nowMs: NOW, notice: null }).text;
    expect(active).toContain('hx-trigger="every 1s"');
    expect(active).toContain("512 B of 2.00 KiB · 25% · 256 B/s · ETA 6s");
    expect(active).toContain("/admin/downloads/7/cancel");
    const idle = downloadsSection({ jobs: [job({ state: "completed", finishedAtMs: NOW })], csrfToken: "t", nowMs: NOW, notice: null }).text;
    expect(idle).not.toContain("hx-trigger");
    expect(idle).toContain("Clear finished");
    const failed = downloadsSection({ jobs: [job({ state: "failed", error: "origin answered 404" })], csrfToken: "t", nowMs: NOW, notice: null }).text;
    expect(failed).toContain("origin answered 404");
    expect(failed).toContain("/admin/downloads/7/retry");
    expect(downloadsSection({ jobs: [], csrfToken: "t", nowMs: NOW, notice: null }).text).toContain("No downloads");
  });
  test("downloads say how many clients stream a running fill", () => {
    expect(downloadsSection({ jobs: [job({ streamers: 3 })], csrfToken: "t", nowMs: NOW, notice: null }).text).toContain("3 clients streaming");
    expect(downloadsSection({ jobs: [job({ streamers: 1 })], csrfToken: "t", nowMs: NOW, notice: null }).text).toContain("1 client streaming");
    expect(downloadsSection({ jobs: [job()], csrfToken: "t", nowMs: NOW, notice: null }).text).not.toContain("streaming");
  });
  test("artifacts: totals, sort, copyable sha, empty states", () => {
    const out = artifactsSection({ artifacts: [artifact()], filter: "", sort: "hits", totals: { artifactCount: 1, bytes: 5000, freeBytes: 1024 ** 3 }, csrfToken: "t", nowMs: NOW, notice: null }).text;
    expect(out).toContain("1.00 GiB</strong> free on disk");
    expect(out).toContain(`data-copy="${"a".repeat(64)}"`);
    expect(out).toContain('<option value="hits" selected>');
    expect(out).toContain("never");
    const empty = artifactsSection({ artifacts: [], filter: "", sort: "size", totals: { artifactCount: 0, bytes: 0, freeBytes: null }, csrfToken: "t", nowMs: NOW, notice: null }).text;
    expect(empty).toContain("The cache is empty");
    const none = artifactsSection({ artifacts: [], filter: "zzz", sort: "size", totals: { artifactCount: 0, bytes: 0, freeBytes: null }, csrfToken: "t", nowMs: NOW, notice: null }).text;
    expect(none).toContain("Nothing matches");
  });
  test("misses in auto mode show their fill", () => {
    const out = missesSection({ misses: [miss({ job: job() })], mode: "auto", csrfToken: "t", nowMs: NOW, notice: null }).text;
    expect(out).toContain("state-running");
    expect(out).not.toContain("/admin/misses/download"); // already being filled
    expect(out).toContain('hx-trigger="every 2s"');
    expect(missesSection({ misses: [miss()], mode: "auto", csrfToken: "t", nowMs: NOW, notice: null }).text).not.toContain("hx-trigger");
  });
  test("artifacts: freshness state, policy, last revalidation and a Revalidate now action", () => {
    const render = (over: Partial<ArtifactView>) =>
      artifactsSection({ artifacts: [artifact(over)], filter: "", sort: "size", totals: { artifactCount: 1, bytes: 5000, freeBytes: null }, csrfToken: "t", nowMs: NOW, notice: null }).text;
    const stale = render({});
    expect(stale).toContain("state-queued\">stale</span>");
    expect(stale).toContain("since 2m ago");
    expect(stale).toContain("checked 1m ago: origin-down");
    expect(stale).toContain('action="/admin/artifacts/revalidate"');
    const fresh = render({ freshness: { state: "fresh", freshUntilMs: NOW + 300_000, policy: "rule **/x/**=max-age=1h", lastCheck: null } });
    expect(fresh).toContain("until in 5m");
    expect(fresh).toContain("rule **/x/**=max-age=1h");
    expect(fresh).toContain("not revalidated yet");
    expect(render({ freshness: { state: "fresh", freshUntilMs: null, policy: "rule **=immutable", lastCheck: null } })).toContain("never revalidated");
    expect(render({ freshness: { state: "superseded", freshUntilMs: NOW, policy: "origin", lastCheck: null } })).toContain(">superseded</span>");
  });
  test("misses: an uncacheable url says why instead of a fill state", () => {
    const out = missesSection({ misses: [miss({ uncacheable: "origin sent cache-control: no-store" })], mode: "auto", csrfToken: "t", nowMs: NOW, notice: null }).text;
    expect(out).toContain(">uncacheable</span><small class=\"error\">origin sent cache-control: no-store</small>");
  });
});
