// The Tokens page over HTTP against the real server: create a token through the form (plain
// and HTMX), see it exactly once, use it with curl against /api/v1/stats, revoke it through the
// form (a plain post confirms first) and the API answers 401; CSRF, validation errors shared with
// the API, audit events with the actor and never the token, no session → login.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { run } from "./helpers/index.ts";
import { FormClient, csrfOf, startUi, type UiServer } from "./ui-support.ts";

const PASSWORD = "tokens page password";
const TOKEN = /wc_[A-Za-z0-9_-]{43}/g;

let ui: UiServer;

beforeAll(async () => {
  ui = await startUi({ password: PASSWORD });
});
afterAll(async () => {
  await ui.stop();
});

async function loggedIn(): Promise<FormClient> {
  const c = new FormClient(ui.base);
  expect((await c.login(PASSWORD)).status).toBe(303);
  return c;
}

/** curl /api/v1/stats with the token: the status code and the body. */
async function stats(token: string): Promise<{ status: string; body: string }> {
  const r = await run(["/usr/bin/curl", "-s", "-H", `Authorization: Bearer ${token}`, "-w", "\n%{http_code}", `${ui.base}/api/v1/stats`]);
  expect(r.exitCode).toBe(0);
  const cut = r.stdout.lastIndexOf("\n");
  return { status: r.stdout.slice(cut + 1), body: r.stdout.slice(0, cut) };
}

async function events(kind: string) {
  await ui.running.ctx.audit.flush();
  return (await ui.running.ctx.store.ops.listEvents({ limit: 100, kind })).reverse();
}

function tokensIn(text: string): string[] {
  return [...new Set(text.match(TOKEN) ?? [])];
}

describe("tokens page", () => {
  test("create through the form, shown once, works with curl, revoke through the form, then 401", async () => {
    const c = await loggedIn();
    const empty = await c.get("/admin/tokens");
    expect(empty.status).toBe(200);
    expect(empty.text).toContain('<a href="/admin/tokens" aria-current="page">Tokens</a>');
    expect(empty.text).toContain("No tokens.");

    const created = await c.post("/admin/tokens/create", { name: "ci-bot", scope: "read" }, { csrfFrom: "/admin/tokens" });
    expect(created.status).toBe(200);
    expect(created.headers.get("cache-control")).toBe("no-store");
    const [token, ...others] = tokensIn(created.text);
    expect(token).toBeDefined();
    expect(others).toEqual([]);
    expect(created.text).toContain("it will not be shown again");
    expect(created.text).toContain(`data-copy="${token}"`);
    expect(created.text).toContain('<strong class="token-name">ci-bot</strong>');

    // Never again: not on the page, not in the events, not in the log.
    const later = await c.get("/admin/tokens");
    expect(tokensIn(later.text)).toEqual([]);
    expect(later.text).toContain('<strong class="token-name">ci-bot</strong>');
    expect(later.text).toContain(`<code>${token!.slice(0, 7)}…</code>`);
    expect(later.text).toContain('<span class="badge scope-read">read</span>');
    expect(later.text).toMatch(/data-label="Last used"><span class="muted">never<\/span>/);

    const ok = await stats(token!);
    expect(ok.status).toBe("200");
    expect(JSON.parse(ok.body).windows).toBeDefined();
    // The use shows as last used (the page writes the batched last-use times before listing).
    expect((await c.get("/admin/tokens")).text).toMatch(/data-label="Last used"><span title="[^"]+ UTC">just now<\/span>/);

    // Revoke as a plain post (no JS): a confirmation step first, and the token still works.
    const ask = await c.post("/admin/tokens/revoke", { name: "ci-bot" }, { csrfFrom: "/admin/tokens" });
    expect(ask.status).toBe(200);
    expect(ask.text).toContain("Revoke token ci-bot?");
    expect(ask.text).toContain('<input type="hidden" name="confirm" value="yes">');
    expect((await stats(token!)).status).toBe("200");
    // The confirmation step's own form, as the browser would send it.
    const revoked = await c.request("POST", "/admin/tokens/revoke", { form: { _csrf: csrfOf(ask.text), name: "ci-bot", confirm: "yes" } });
    expect(revoked.status).toBe(303);
    const back = await c.get(revoked.headers.get("location")!);
    expect(back.text).toContain("revoked token ci-bot");
    expect(back.text).toContain("No tokens.");
    const refused = await stats(token!);
    expect(refused.status).toBe("401");
    expect(JSON.parse(refused.body).error).toContain("not valid");

    const made = await events("token-create");
    expect(made.map((e) => [e.actor, e.outcome, e.detail])).toContainEqual(["session", "ok", "ci-bot (read)"]);
    const gone = await events("token-revoke");
    expect(gone.map((e) => [e.actor, e.outcome, e.detail])).toContainEqual(["session", "ok", "ci-bot"]);
    const all = await ui.running.ctx.store.ops.listEvents({ limit: 1000 });
    expect(all.filter((e) => e.detail.includes(token!) || e.detail.includes("wc_"))).toEqual([]);
    expect(ui.logText()).not.toContain(token!);
  });

  test("with HTMX: the section comes back with the token once, revoke after hx-confirm sends confirm=yes", async () => {
    const c = await loggedIn();
    // The row's Revoke form carries hx-confirm and adds confirm=yes only for HTMX.
    const created = await c.post("/admin/tokens/create", { name: "deploy.bot", scope: "admin" }, { hx: true, csrfFrom: "/admin/tokens" });
    expect(created.status).toBe(200);
    expect(created.text).toStartWith('<section id="tokens">');
    expect(created.text).toContain('hx-swap-oob="true"'); // the header bar, kept current
    const [token] = tokensIn(created.text);
    expect(token).toBeDefined();
    expect(created.text).toContain('hx-confirm="Revoke token deploy.bot? Scripts using it are refused at once."');
    expect(created.text).toContain(`hx-vals="${JSON.stringify({ confirm: "yes" }).replaceAll('"', "&quot;")}"`);
    const ok = await stats(token!);
    expect(ok.status).toBe("200");

    const revoked = await c.post("/admin/tokens/revoke", { name: "deploy.bot", confirm: "yes" }, { hx: true, csrfFrom: "/admin/tokens" });
    expect(revoked.status).toBe(200);
    expect(revoked.text).toContain("revoked token deploy.bot");
    expect(revoked.text).not.toContain('data-token="deploy.bot"');
    expect((await stats(token!)).status).toBe("401");
    expect((await c.post("/admin/tokens/revoke", { name: "deploy.bot", confirm: "yes" }, { hx: true, csrfFrom: "/admin/tokens" })).text).toContain("no token named &quot;deploy.bot&quot;");
  });

  test("without or with a wrong CSRF token: refused, nothing created or revoked", async () => {
    const c = await loggedIn();
    const none = await c.request("POST", "/admin/tokens/create", { form: { name: "no-csrf", scope: "admin" } });
    expect(none.status).toBe(403);
    expect(none.text).toContain("csrf token is missing or wrong");
    const wrong = await c.request("POST", "/admin/tokens/create", { form: { _csrf: "x".repeat(43), name: "bad-csrf", scope: "admin" }, hx: true });
    expect(wrong.status).toBe(403);
    expect((await ui.running.ctx.tokens.list()).map((t) => t.name)).not.toContain("no-csrf");
    expect((await ui.running.ctx.tokens.list()).map((t) => t.name)).not.toContain("bad-csrf");

    const made = await ui.running.ctx.tokens.create("keep-me", "read");
    if (!made.ok) throw new Error(made.message);
    const revoke = await c.request("POST", "/admin/tokens/revoke", { form: { name: "keep-me", confirm: "yes" } });
    expect(revoke.status).toBe(403);
    expect((await stats(made.created.token)).status).toBe("200");
    // Cross-site, even with the right token.
    const csrf = csrfOf((await c.get("/admin/tokens")).text);
    const cross = await c.request("POST", "/admin/tokens/revoke", { form: { _csrf: csrf, name: "keep-me", confirm: "yes" }, origin: "https://evil.example" });
    expect(cross.status).toBe(403);
    expect((await stats(made.created.token)).status).toBe("200");
    expect((await events("csrf-refused")).filter((e) => e.detail.startsWith("/admin/tokens/")).length).toBeGreaterThanOrEqual(3);
    await ui.running.ctx.tokens.revoke("keep-me");
  });

  test("bad names and scopes: one line on the page, 400 for a plain post, the same rules as the API", async () => {
    const c = await loggedIn();
    const first = await ui.running.ctx.tokens.create("taken", "read");
    expect(first.ok).toBe(true);
    const cases: Array<[Record<string, string>, string]> = [
      [{ name: "", scope: "read" }, `token name "" must be 1 to 64 letters, digits, '.', '_' or '-', starting with a letter or digit`],
      [{ name: "x".repeat(65), scope: "read" }, `token name "${"x".repeat(65)}" must be 1 to 64 letters`],
      [{ name: "has space", scope: "admin" }, `token name "has space" must be 1 to 64`],
      [{ name: "<script>x</script>", scope: "admin" }, `token name "&lt;script&gt;x&lt;/script&gt;" must be`],
      [{ name: "taken", scope: "admin" }, `a token named "taken" exists; revoke it first or choose another name`],
      [{ name: "fine-name", scope: "owner" }, `scope "owner" is not read or admin`],
      [{ name: "fine-name" }, `scope "" is not read or admin`],
    ];
    for (const [form, line] of cases) {
      const plain = await c.post("/admin/tokens/create", form, { csrfFrom: "/admin/tokens" });
      const shown = /<p class="notice notice-error" id="token-error" role="alert">([^\n<]*)<\/p>/.exec(plain.text)?.[1] ?? "";
      expect([form, plain.status, shown.replaceAll("&quot;", '"').replaceAll("&#39;", "'")]).toEqual([form, 400, expect.stringContaining(line.replaceAll("&quot;", '"'))]);
      expect(plain.text).not.toContain("<script>x");
      expect(tokensIn(plain.text)).toEqual([]);
      // What was typed stays in the box.
      if (form.name !== undefined && form.name !== "" && !form.name.includes("<")) expect(plain.text).toContain(`value="${form.name}" maxlength="64"`);
      const hx = await c.post("/admin/tokens/create", form, { hx: true, csrfFrom: "/admin/tokens" });
      expect([form, hx.status]).toEqual([form, 200]);
      expect(hx.text).toContain('id="token-error"');
    }
    // The API refuses the same names with its own 400 (one schema).
    const admin = await ui.running.ctx.tokens.create("api-admin", "admin");
    if (!admin.ok) throw new Error(admin.message);
    const apiBad = await run(["/usr/bin/curl", "-s", "-w", "\n%{http_code}", "-H", `Authorization: Bearer ${admin.created.token}`, "-H", "content-type: application/json", "-d", '{"name":"has space","scope":"read"}', `${ui.base}/api/v1/tokens`]);
    expect(apiBad.stdout).toEndWith("\n400");
    expect(apiBad.stdout).toContain("must be 1 to 64 letters");
    expect((await ui.running.ctx.tokens.list()).map((t) => t.name).sort()).toEqual(["api-admin", "taken"]);
    expect((await events("token-create")).filter((e) => e.detail.startsWith("taken ") && e.outcome === "refused").length).toBe(2); // the plain post and the HTMX one
    await ui.running.ctx.tokens.revoke("taken");
    await ui.running.ctx.tokens.revoke("api-admin");
  });

  test("without a session: the page and its actions go to the login form, nothing changes", async () => {
    const c = new FormClient(ui.base);
    const page = await c.get("/admin/tokens");
    expect(page.status).toBe(303);
    expect(page.headers.get("location")).toBe("/login?next=%2Fadmin%2Ftokens");
    const made = await ui.running.ctx.tokens.create("survivor", "read");
    if (!made.ok) throw new Error(made.message);
    for (const path of ["/admin/tokens/create", "/admin/tokens/revoke"]) {
      const plain = await c.request("POST", path, { form: { _csrf: "x", name: "survivor", scope: "admin", confirm: "yes" } });
      expect([path, plain.status, plain.headers.get("location")?.startsWith("/login")]).toEqual([path, 303, true]);
      const hx = await c.request("POST", path, { form: { _csrf: "x", name: "survivor", confirm: "yes" }, hx: true });
      expect([path, hx.status]).toEqual([path, 401]);
    }
    expect((await stats(made.created.token)).status).toBe("200");
    expect((await ui.running.ctx.tokens.list()).map((t) => t.name)).toEqual(["survivor"]);
    await ui.running.ctx.tokens.revoke("survivor");
  });
});
