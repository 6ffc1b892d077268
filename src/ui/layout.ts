// The page shell: head, header bar (mode, version, disk, counts, log out), the open-mode banner
// and a main slot. Pages put the same fragments in the slot that HTMX swaps in later.
import { html, type Html } from "./html.ts";
import { formatBytes } from "./format.ts";
import type { HeaderView, Notice, PageContext } from "./view.ts";

export type PageName = "dashboard" | "events" | "misses" | "downloads" | "artifacts" | "add" | "tokens";

const NAV: ReadonlyArray<{ page: PageName; label: string; href: string }> = [
  { page: "dashboard", label: "Overview", href: "/admin" },
  { page: "misses", label: "Misses", href: "/admin/misses" },
  { page: "downloads", label: "Downloads", href: "/admin/downloads" },
  { page: "artifacts", label: "Cached", href: "/admin/artifacts" },
  { page: "add", label: "Add", href: "/admin/add" },
  { page: "events", label: "Events", href: "/admin/events" },
  { page: "tokens", label: "Tokens", href: "/admin/tokens" },
];

/** A hidden CSRF field for every state-changing form. */
export function csrfField(token: string): Html {
  return html`<input type="hidden" name="_csrf" value="${token}">`;
}

// htmx config for a strict CSP (no inline styles or eval): no injected indicator <style>, and
// no settling of style attributes (that sets an inline style, which the CSP blocks).
function head(title: string, version: string): Html {
  // Asset URLs carry the version so a new binary is never served stale cached assets.
  const v = encodeURIComponent(version);
  return html`<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="color-scheme" content="light dark">
<meta name="htmx-config" content='{"includeIndicatorStyles":false,"allowEval":false,"allowScriptTags":false,"attributesToSettle":["class","width","height"]}'>
<link rel="icon" href="data:,">
<title>${title} · withcache</title>
<link rel="stylesheet" href="/static/pico.min.css?v=${v}">
<link rel="stylesheet" href="/static/app.css?v=${v}">
<script src="/static/htmx.min.js?v=${v}" defer></script>
<script src="/static/app.js?v=${v}" defer></script>
</head>`;
}

function count(n: number): Html {
  return html`<span class="count">${n}</span>`;
}

function navCount(page: PageName, header: HeaderView): Html | null {
  if (page === "misses") return count(header.missCount);
  if (page === "downloads") return header.activeJobCount > 0 ? count(header.activeJobCount) : null;
  if (page === "artifacts") return count(header.artifactCount);
  return null;
}

/** The header bar. HTMX responses carry it again with `oob` so counts stay current after an
 *  action or a poll (hx-swap-oob replaces the one on the page by its id). */
export function headerBar(current: PageName | null, header: HeaderView, csrfToken: string, options: { oob?: boolean } = {}): Html {
  const links = NAV.map(
    (item) =>
      html`<li><a href="${item.href}"${item.page === current ? html` aria-current="page"` : null}>${item.label}${navCount(item.page, header)}</a></li>`,
  );
  const disk = html`${formatBytes(header.usedBytes)} used${
    header.freeBytes === null ? null : html` · ${formatBytes(header.freeBytes)} free`
  }`;
  const logout = header.authEnabled
    ? html`<form method="post" action="/logout" class="logout">${csrfField(csrfToken)}<button type="submit" class="secondary outline">Log out</button></form>`
    : null;
  return html`<header class="site container" id="site-header"${options.oob ? html` hx-swap-oob="true"` : null}>
<nav>
<ul><li><a href="/" class="brand"><strong>withcache</strong></a></li>
<li><span class="badge mode-${header.mode}" title="fill mode">${header.mode}</span></li></ul>
<ul class="pages">${links}</ul>
</nav>
<div class="status"><small>v${header.version} · ${disk} · ${header.artifactCount} cached · ${header.missCount} missed</small>${logout}</div>
</header>`;
}

export function openBanner(): Html {
  return html`<div class="container"><p class="banner" role="alert"><strong>No password set.</strong> Anyone who can reach this port can queue downloads and delete artifacts. Set <code>WITHCACHE_ADMIN_PASSWORD</code> and restart to require a login.</p></div>`;
}

export function noticeBox(notice: Notice | null): Html | null {
  if (notice === null) return null;
  return html`<p class="notice notice-${notice.kind}" role="status">${notice.text}</p>`;
}

export function page(options: { title: string; current: PageName | null; ctx: PageContext; body: Html }): Html {
  const { ctx } = options;
  return html`<!doctype html>
<html lang="en">
${head(options.title, ctx.header.version)}
<body>
${headerBar(options.current, ctx.header, ctx.csrfToken)}
${ctx.header.authEnabled ? null : openBanner()}
<main class="container" id="main">
${options.body}
</main>
</body>
</html>`;
}

/** The login page has no header bar: nothing about the cache shows before logging in. */
export function loginPage(options: { version: string; error: string | null; csrfToken: string; next: string }): Html {
  return html`<!doctype html>
<html lang="en">
${head("Log in", options.version)}
<body>
<main class="container login">
<article>
<header><strong>withcache</strong> <small>v${options.version}</small></header>
<form method="post" action="/login">
${csrfField(options.csrfToken)}
<input type="hidden" name="next" value="${options.next}">
<input type="text" name="username" value="operator" autocomplete="username" hidden>
<label>Operator password
<input type="password" name="password" autocomplete="current-password" required autofocus${options.error === null ? null : html` aria-invalid="true" aria-describedby="login-error"`}>
</label>
${options.error === null ? null : html`<small id="login-error" class="error">${options.error}</small>`}
<button type="submit">Log in</button>
</form>
</article>
</main>
</body>
</html>`;
}
