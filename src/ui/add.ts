// Add from URI: paste URLs, one per line, to pre-seed the cache. Bad lines are named.
import { html, type Html } from "./html.ts";
import { csrfField, noticeBox, page } from "./layout.ts";
import { urlCell } from "./parts.ts";
import type { AddLineResult, Notice, PageContext } from "./view.ts";

export interface AddData {
  /** Textarea content to show again (the bad lines, so they can be fixed). */
  text: string;
  results: AddLineResult[];
  csrfToken: string;
  notice: Notice | null;
}

function results(list: AddLineResult[]): Html | null {
  if (list.length === 0) return null;
  const good = list.filter((r) => r.ok);
  const bad = list.filter((r) => !r.ok);
  return html`<div class="results">
${good.length === 0 ? null : html`<p class="notice notice-ok" role="status">Queued ${good.length} download${good.length === 1 ? "" : "s"}. <a href="/admin/downloads">Watch them on Downloads</a>.</p>
<ul class="good">${good.map((r) => (r.ok ? html`<li><span class="muted">line ${r.lineNumber}</span> ${urlCell(r.url)}</li>` : null))}</ul>`}
${bad.length === 0 ? null : html`<p class="notice notice-error" role="alert">${bad.length} line${bad.length === 1 ? " was" : "s were"} not queued:</p>
<ul class="bad">${bad.map((r) => (r.ok ? null : html`<li><span class="muted">line ${r.lineNumber}</span> <code>${r.line}</code>: ${r.reason}</li>`))}</ul>`}
</div>`;
}

export function addSection(data: AddData): Html {
  return html`<section id="add">
<hgroup><h2>Add from URI</h2><p>Pre-seed the cache: one http or https URL per line. Blank lines and lines starting with # are skipped.</p></hgroup>
${noticeBox(data.notice)}
${results(data.results)}
<form method="post" action="/admin/add" hx-post="/admin/add" hx-target="#add" hx-swap="outerHTML">
${csrfField(data.csrfToken)}
<textarea name="urls" rows="8" placeholder="https://example.org/releases/tool-1.2.3.tar.gz" aria-label="URLs, one per line" spellcheck="false">${data.text}</textarea>
<button type="submit">Queue downloads</button>
</form>
</section>`;
}

export function addPage(ctx: PageContext, data: Omit<AddData, "csrfToken" | "notice">): Html {
  return page({ title: "Add", current: "add", ctx, body: addSection({ ...data, csrfToken: ctx.csrfToken, notice: ctx.notice }) });
}
