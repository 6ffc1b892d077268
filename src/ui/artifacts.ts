// Cached artifacts: what the cache holds, with filter, sort, totals and Delete.
import { html, type Html } from "./html.ts";
import { formatAgo, formatBytes, formatTime, formatUntil } from "./format.ts";
import { noticeBox, page } from "./layout.ts";
import { actionButton, urlCell } from "./parts.ts";
import type { ArtifactSort, ArtifactView, Notice, PageContext } from "./view.ts";

const TARGET = "#artifacts";

export interface ArtifactsData {
  artifacts: ArtifactView[];
  filter: string;
  sort: ArtifactSort;
  totals: { artifactCount: number; bytes: number; freeBytes: number | null };
  csrfToken: string;
  nowMs: number;
  notice: Notice | null;
}

const SORTS: ReadonlyArray<{ sort: ArtifactSort; label: string }> = [
  { sort: "lastHit", label: "last hit" },
  { sort: "size", label: "size" },
  { sort: "hits", label: "hits" },
];

function listUrl(filter: string, sort: ArtifactSort): string {
  const q = new URLSearchParams();
  if (filter !== "") q.set("q", filter);
  q.set("sort", sort);
  return `/admin/artifacts?${q}`;
}

/** Fresh until / stale since, the policy that applied and the last revalidation. */
function freshnessCell(a: ArtifactView, nowMs: number): Html {
  const f = a.freshness;
  const state =
    f.state === "superseded"
      ? html`<span class="badge state-failed" title="the origin has a new version; these bytes are not served">superseded</span>`
      : f.state === "fresh"
        ? html`<span class="badge state-completed">fresh</span> ${f.freshUntilMs === null ? html`<span class="muted">never revalidated</span>` : html`<span title="${formatTime(f.freshUntilMs)}">until ${formatUntil(f.freshUntilMs, nowMs)}</span>`}`
        : html`<span class="badge state-queued">stale</span> ${f.freshUntilMs === null ? null : html`<span title="${formatTime(f.freshUntilMs)}">since ${formatAgo(f.freshUntilMs, nowMs)}</span>`}`;
  const check = f.lastCheck === null ? html`<small class="muted">not revalidated yet</small>` : html`<small title="${f.lastCheck.detail ?? ""}">checked ${formatAgo(f.lastCheck.atMs, nowMs)}: ${f.lastCheck.result}</small>`;
  return html`${state}<small class="muted policy" title="${f.policy}">${f.policy}</small>${check}`;
}

function row(a: ArtifactView, data: ArtifactsData): Html {
  return html`<tr>
<td class="primary">${urlCell(a.url)}${a.contentType === null ? null : html`<small class="muted">${a.contentType}</small>`}<small class="sha-line"><span class="muted">sha256</span> <span class="copy-value">${a.sha256}</span><button type="button" class="copy secondary outline" data-copy="${a.sha256}" title="copy SHA-256">copy</button></small></td>
<td data-label="Size" class="num">${formatBytes(a.sizeBytes)}</td>
<td data-label="Hits" class="num">${a.hits}</td>
<td data-label="Misses" class="num">${a.misses}</td>
<td data-label="SHA-256" class="col-sha"><span class="sha"><input class="sha-full" readonly value="${a.sha256}" aria-label="SHA-256" size="12"><button type="button" class="copy secondary outline" data-copy="${a.sha256}" title="copy SHA-256">copy</button></span></td>
<td data-label="Fetched"><span title="${formatTime(a.fetchedAtMs)}">${formatAgo(a.fetchedAtMs, data.nowMs)}</span></td>
<td data-label="Freshness" class="freshness">${freshnessCell(a, data.nowMs)}</td>
<td data-label="Last hit">${a.lastHitMs === null ? html`<span class="muted">never</span>` : html`<span title="${formatTime(a.lastHitMs)}">${formatAgo(a.lastHitMs, data.nowMs)}</span>`}</td>
<td class="actions">${actionButton({
    action: "/admin/artifacts/revalidate",
    target: TARGET,
    csrfToken: data.csrfToken,
    label: "Revalidate now",
    fields: { key: a.key, q: data.filter, sort: data.sort },
  })}${actionButton({
    action: "/admin/artifacts/delete",
    target: TARGET,
    csrfToken: data.csrfToken,
    label: "Delete",
    style: "danger",
    fields: { key: a.key, q: data.filter, sort: data.sort },
    confirm: `Delete ${a.url}?`,
  })}</td>
</tr>`;
}

function filterForm(data: ArtifactsData): Html {
  const options = SORTS.map(
    (s) => html`<option value="${s.sort}"${s.sort === data.sort ? html` selected` : null}>sort by ${s.label}</option>`,
  );
  return html`<form method="get" action="/admin/artifacts" role="search" class="filter" hx-get="/admin/artifacts" hx-target="#artifacts-list" hx-swap="outerHTML" hx-push-url="true" hx-trigger="input delay:300ms, submit">
<input type="search" id="artifact-filter" name="q" value="${data.filter}" placeholder="filter by URL or SHA-256" aria-label="filter">
<select name="sort" aria-label="sort">${options}</select>
<button type="submit" class="secondary">Filter</button>
</form>`;
}

/** The list under the filter box: what a filter or sort change swaps (HX-Target: artifacts-list). */
export function artifactsList(data: ArtifactsData): Html {
  let body: Html;
  if (data.artifacts.length === 0 && data.filter !== "") {
    body = html`<div class="empty"><p><strong>Nothing matches “${data.filter}”.</strong></p><p><a href="${listUrl("", data.sort)}">Clear the filter</a> to see everything.</p></div>`;
  } else if (data.artifacts.length === 0) {
    body = html`<div class="empty"><p><strong>The cache is empty.</strong></p><p>Artifacts appear here once a download completes. Queue some from <a href="/admin/misses">Misses</a> or the <a href="/admin/add">Add</a> page.</p></div>`;
  } else {
    const sortLink = (sort: ArtifactSort, label: string): Html =>
      sort === data.sort ? html`${label} ↓` : html`<a href="${listUrl(data.filter, sort)}">${label}</a>`;
    body = html`<div class="table-wrap"><table class="rows wide striped">
<thead><tr><th>URL</th><th class="num">${sortLink("size", "Size")}</th><th class="num">${sortLink("hits", "Hits")}</th><th class="num" title="requests before it was cached">Misses</th><th class="col-sha">SHA-256</th><th>Fetched</th><th>Freshness</th><th>${sortLink("lastHit", "Last hit")}</th><th><span class="visually-hidden">Actions</span></th></tr></thead>
<tbody>${data.artifacts.map((a) => row(a, data))}</tbody>
</table></div>`;
  }
  return html`<div id="artifacts-list">
${noticeBox(data.notice)}
${body}
</div>`;
}

export function artifactsSection(data: ArtifactsData): Html {
  const t = data.totals;
  const totals = html`<p class="totals"><strong>${t.artifactCount}</strong> artifact${t.artifactCount === 1 ? "" : "s"} · <strong>${formatBytes(t.bytes)}</strong> stored${
    t.freeBytes === null ? null : html` · <strong>${formatBytes(t.freeBytes)}</strong> free on disk`
  }</p>`;
  return html`<section id="artifacts">
<hgroup><h2>Cached artifacts</h2>${totals}</hgroup>
${filterForm(data)}
${artifactsList(data)}
</section>`;
}

export function artifactsPage(ctx: PageContext, data: Omit<ArtifactsData, "csrfToken" | "nowMs" | "notice">): Html {
  return page({
    title: "Cached artifacts",
    current: "artifacts",
    ctx,
    body: artifactsSection({ ...data, csrfToken: ctx.csrfToken, nowMs: ctx.nowMs, notice: ctx.notice }),
  });
}
