// The overview (landing page): what the cache saved for 24 h / 7 d / all time, hits and misses
// per hour, disk against the cap, running fills and the artifacts that saved the most. Pure
// render of the numbers gathered in src/server/admin.ts; refreshes itself every few seconds.
import { html, type Html } from "./html.ts";
import { formatBytes } from "./format.ts";
import { page } from "./layout.ts";
import { urlCell } from "./parts.ts";
import { hourlyChart, type HourBar } from "./chart.ts";
import type { PageContext } from "./view.ts";

export const DASHBOARD_POLL_MS = 5000;

export type DashboardWindow = { hits: number; misses: number; bytesFromCache: number; bytesFromOrigin: number; hitRatio: number | null; bytesSaved: number };

export type DashboardView = {
  windows: { "24h": DashboardWindow; "7d": DashboardWindow; all: DashboardWindow };
  hourly: HourBar[];
  stored: { artifacts: number; bytes: number; misses: number };
  capBytes: number | null;
  disk: { freeBytes: number; totalBytes: number };
  fills: { queued: number; running: number };
  topArtifacts: Array<{ url: string; sizeBytes: number; hits: number; bytesSaved: number }>;
};

function ratio(r: number | null): string {
  return r === null ? "–" : `${(r * 100).toFixed(1)} %`;
}

function windowCard(label: string, w: DashboardWindow, key: string): Html {
  return html`<article class="stat" data-window="${key}">
<header>${label}</header>
<p class="stat-big" data-field="hit-ratio" title="hits ÷ (hits + misses)">${ratio(w.hitRatio)}</p>
<p><small>hit ratio · <span data-field="hits">${String(w.hits)}</span> hits, <span data-field="misses">${String(w.misses)}</span> misses</small></p>
<p data-field="saved" title="served from cache − fetched from origins"><strong>${formatBytes(w.bytesSaved)}</strong> saved</p>
<p><small><span data-field="from-cache">${formatBytes(w.bytesFromCache)}</span> served from cache, <span data-field="from-origin">${formatBytes(w.bytesFromOrigin)}</span> fetched from origins</small></p>
</article>`;
}

function disk(v: DashboardView): Html {
  const cap = v.capBytes === null ? "(no cap)" : `of ${formatBytes(v.capBytes)} cap`;
  const pct = v.capBytes === null || v.capBytes === 0 ? null : Math.min(100, Math.round((v.stored.bytes / v.capBytes) * 100));
  return html`<article class="stat" id="disk">
<header>Disk</header>
<p data-field="stored"><strong>${formatBytes(v.stored.bytes)}</strong> stored ${cap} · ${String(v.stored.artifacts)} artifacts</p>
${pct === null ? null : html`<progress value="${String(pct)}" max="100" aria-label="stored of cap">${String(pct)} %</progress>`}
<p><small data-field="free">${formatBytes(v.disk.freeBytes)} free of ${formatBytes(v.disk.totalBytes)} on the disk</small></p>
</article>`;
}

function fills(v: DashboardView): Html {
  return html`<article class="stat" id="fills">
<header>Downloads</header>
<p data-field="running"><strong>${String(v.fills.running)}</strong> running, ${String(v.fills.queued)} queued</p>
<p><small><a href="/admin/downloads">Downloads</a> · <a href="/admin/misses">${String(v.stored.misses)} misses</a></small></p>
</article>`;
}

function top(v: DashboardView): Html {
  if (v.topArtifacts.length === 0) return html`<p class="empty">Nothing has been served from the cache yet.</p>`;
  return html`<div class="table-wrap"><table class="rows striped" id="top-artifacts">
<thead><tr><th>URL</th><th class="num">Hits</th><th class="num">Size</th><th class="num" title="hits × size">Saved</th></tr></thead>
<tbody>${v.topArtifacts.map((a) => html`<tr><td class="primary">${urlCell(a.url)}</td><td data-label="Hits" class="num">${String(a.hits)}</td><td data-label="Size" class="num">${formatBytes(a.sizeBytes)}</td><td data-label="Saved" class="num">${formatBytes(a.bytesSaved)}</td></tr>`)}</tbody>
</table></div>`;
}

export function dashboardSection(v: DashboardView): Html {
  return html`<section id="dashboard" hx-get="/admin" hx-trigger="every ${String(DASHBOARD_POLL_MS / 1000)}s" hx-select="#dashboard" hx-swap="outerHTML">
<hgroup><h2>Overview</h2><p>What the cache served and saved. A hit is a request answered from the cache; a miss is one that was not.</p></hgroup>
<div class="grid stats">
${windowCard("Last 24 hours", v.windows["24h"], "24h")}
${windowCard("Last 7 days", v.windows["7d"], "7d")}
${windowCard("All time", v.windows.all, "all")}
</div>
<figure class="chart-wrap">${hourlyChart(v.hourly)}<figcaption><span class="key-hit">■ hits</span> <span class="key-miss">■ misses</span> per hour (UTC)</figcaption></figure>
<div class="grid stats">${disk(v)}${fills(v)}</div>
<h3>Top artifacts by bytes saved</h3>
${top(v)}
</section>`;
}

export function dashboardPage(ctx: PageContext, v: DashboardView): Html {
  return page({ title: "Overview", current: "dashboard", ctx, body: dashboardSection(v) });
}
