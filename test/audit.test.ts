// The audit log against the real server and a real origin: operator actions and security
// events land in the events table with the right kind, actor, client and outcome, never with a
// secret; an event older than --event-retention is pruned when the server starts.
import { afterAll, beforeAll, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { FormClient, csrfOf, startOrigin, startUi, type Origin } from "./ui-support.ts";

const PASSWORD = "correct horse battery staple";
let origin: Origin;
beforeAll(async () => {
  origin = await startOrigin();
});
afterAll(() => origin.stop());

async function events(ui: Awaited<ReturnType<typeof startUi>>) {
  await ui.running.ctx.audit.flush();
  return (await ui.running.ctx.store.ops.listEvents({ limit: 100 })).reverse();
}

test("login refused, login, add, logout: each recorded with actor session and the client address", async () => {
  const ui = await startUi({ password: PASSWORD });
  try {
    const c = new FormClient(ui.base);
    const page = await c.get("/login");
    expect((await c.request("POST", "/login", { form: { _csrf: csrfOf(page.text), password: "wrong-guess-123", next: "/admin" } })).status).toBe(401);
    expect((await c.login(PASSWORD)).status).toBe(303);
    const url = `${origin.base}/file/audit.bin?size=10`;
    expect((await c.post("/admin/add", { urls: url })).status).toBe(303);
    expect((await c.post("/admin/misses/dismiss", { key: "https://nothing.example/x" }, { csrfFrom: "/admin/misses" })).status).toBe(303);
    const eventsPage = await c.get("/admin/events");
    expect(eventsPage.status).toBe(200);
    expect(eventsPage.text.indexOf('data-kind="dismiss"')).toBeLessThan(eventsPage.text.indexOf('data-kind="login-refused"')); // newest first
    const filtered = await c.get("/admin/events?kind=add");
    expect(filtered.text).toContain('data-kind="add"');
    expect(filtered.text).not.toContain('data-kind="login"');
    expect((await c.post("/logout", {}, { csrfFrom: "/admin/misses" })).status).toBe(303);
    const got = await events(ui);
    const summary = got.map((e) => `${e.kind} ${e.actor} ${e.outcome}`);
    expect(summary).toEqual(["login-refused anonymous refused", "login session ok", "add session ok", "dismiss session failed", "logout session ok"]);
    for (const e of got) expect(e.client).toBe("127.0.0.1");
    expect(got[2]!.detail).toContain("/file/audit.bin");
    const all = JSON.stringify(got);
    expect(all).not.toContain(PASSWORD);
    expect(all).not.toContain("wrong-guess-123");
    expect(all).not.toContain(c.cookie ?? "no-cookie");
  } finally {
    await ui.stop();
  }
}, 30_000);

test("a refused host (rebinding guard) and a cross-site post are recorded as refused, actor open", async () => {
  const ui = await startUi({});
  try {
    const port = new URL(ui.base).port;
    const res = await fetch(`${ui.base}/admin`, { headers: { host: `evil.example:${port}` }, redirect: "manual", signal: AbortSignal.timeout(10_000) });
    expect(res.status).toBe(403);
    await res.text();
    const c = new FormClient(ui.base);
    expect((await c.post("/admin/add", { urls: "x" }, { origin: "http://other.example" })).status).toBe(403);
    const got = await events(ui);
    expect(got.map((e) => `${e.kind} ${e.actor} ${e.outcome}`)).toEqual(["host-refused open refused", "cross-site-refused open refused"]);
    expect(got[0]!.detail).toContain("evil.example");
  } finally {
    await ui.stop();
  }
}, 30_000);

test("an event older than the retention is pruned at start; a recent one stays", async () => {
  const dataDir = mkdtempSync(join(tmpdir(), "withcache-audit-"));
  try {
    const ui = await startUi({ dataDir });
    const now = Date.now();
    await ui.running.ctx.store.ops.recordEvents([
      { atMs: now - 40 * 24 * 3_600_000, kind: "old", actor: "system", client: "-", outcome: "ok", detail: "forty days ago" },
      { atMs: now - 3_600_000, kind: "recent", actor: "system", client: "-", outcome: "ok", detail: "an hour ago" },
    ]);
    await ui.stop();
    const again = await startUi({ dataDir });
    try {
      const deadline = Date.now() + 10_000;
      let kinds: string[] = [];
      while (Date.now() < deadline) {
        kinds = (await again.running.ctx.store.ops.listEvents({ limit: 10 })).map((e) => e.kind);
        if (!kinds.includes("old")) break;
        await Bun.sleep(50);
      }
      expect(kinds).toEqual(["recent"]);
    } finally {
      await again.stop();
    }
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
  }
}, 30_000);

test("the Events page pages with an older link", async () => {
  const ui = await startUi({});
  try {
    const now = Date.now();
    await ui.running.ctx.store.ops.recordEvents(Array.from({ length: 130 }, (_, i) => ({ atMs: now - (130 - i) * 1000, kind: "seeded", actor: "system", client: "-", outcome: "ok" as const, detail: `event number ${i}` })));
    const c = new FormClient(ui.base);
    const first = (await c.get("/admin/events?kind=seeded")).text;
    expect(first.match(/data-kind="seeded"/g)!.length).toBe(100);
    expect(first).toContain("event number 129<");
    const older = /href="(\/admin\/events\?[^"]*before=\d+)"/.exec(first.replaceAll("&amp;", "&"))![1]!;
    const second = (await c.get(older)).text;
    expect(second.match(/data-kind="seeded"/g)!.length).toBe(30);
    expect(second).toContain("event number 0<");
    expect(second).not.toContain("event number 30<");
    expect(second).not.toContain("Older events");
  } finally {
    await ui.stop();
  }
}, 30_000);
