// Misses: what clients asked for and did not get, with Download and Dismiss.
import { html, type Html } from "./html.ts";
import { formatAgo, formatBytes, formatTime } from "./format.ts";
import { noticeBox, page } from "./layout.ts";
import { actionButton, livePoll, progress, stateBadge, urlCell } from "./parts.ts";
import type { MissView, Notice, PageContext } from "./view.ts";

const TARGET = "#misses";

function fillCell(miss: MissView): Html {
  if (miss.uncacheable !== null) return html`<span class="badge state-failed">uncacheable</span><small class="error">${miss.uncacheable}</small>`;
  if (miss.job === null) return html`<span class="muted nowrap">not queued</span>`;
  const job = miss.job;
  return html`${stateBadge(job.state)}${job.state === "running" ? progress(job) : null}${
    job.state === "failed" && job.error !== null ? html`<small class="error">${job.error}</small>` : null
  }`;
}

function row(miss: MissView, ctx: { csrfToken: string; nowMs: number }): Html {
  const saves = miss.sizeBytes === null ? html`<span class="muted">unknown</span>` : html`${formatBytes(miss.sizeBytes * miss.count)}`;
  const busy = miss.job !== null && (miss.job.state === "queued" || miss.job.state === "running");
  return html`<tr>
<td class="primary">${urlCell(miss.url)}</td>
<td data-label="Missed" class="num">${miss.count}</td>
<td data-label="First seen"><span title="${formatTime(miss.firstSeenMs)}">${formatAgo(miss.firstSeenMs, ctx.nowMs)}</span></td>
<td data-label="Last seen"><span title="${formatTime(miss.lastSeenMs)}">${formatAgo(miss.lastSeenMs, ctx.nowMs)}</span></td>
<td data-label="Would save" class="num">${saves}</td>
<td data-label="Fill">${fillCell(miss)}</td>
<td class="actions">${busy ? null : actionButton({ action: "/admin/misses/download", target: TARGET, csrfToken: ctx.csrfToken, label: "Download", style: "primary", fields: { url: miss.fetchUrl } })}${actionButton({ action: "/admin/misses/dismiss", target: TARGET, csrfToken: ctx.csrfToken, label: "Dismiss", fields: { key: miss.key } })}</td>
</tr>`;
}

export function missesSection(data: { misses: MissView[]; mode: "auto" | "curate"; csrfToken: string; nowMs: number; notice: Notice | null }): Html {
  const intro =
    data.mode === "curate"
      ? "Clients asked for these URLs and got a 404. Curate mode fetches nothing by itself: Download approves a fill, Dismiss forgets the miss."
      : "Clients asked for these URLs before they were cached. Auto mode fills them by itself; the Fill column shows how that went.";
  const body =
    data.misses.length === 0
      ? html`<div class="empty"><p><strong>No misses recorded.</strong></p><p>When a client asks for a URL that is not cached, it shows up here. Point a client at <code>/b/&lt;token&gt;/&lt;name&gt;</code> or use the curl/wget shims, or pre-seed URLs on the <a href="/admin/add">Add</a> page.</p></div>`
      : html`<div class="table-wrap"><table class="rows striped">
<thead><tr><th>URL</th><th class="num">Missed</th><th>First seen</th><th>Last seen</th><th class="num" title="known size × times missed">Would save</th><th>Fill</th><th><span class="visually-hidden">Actions</span></th></tr></thead>
<tbody>${data.misses.map((m) => row(m, data))}</tbody>
</table></div>`;
  // While a fill of a listed miss is queued or running (auto mode), refresh like Downloads does.
  const filling = data.misses.some((m) => m.job !== null && (m.job.state === "queued" || m.job.state === "running"));
  const poll = livePoll(filling, "/admin/misses", 2000);
  return html`<section id="misses"${poll}>
<hgroup><h2>Misses</h2><p>${intro}</p></hgroup>
${noticeBox(data.notice)}
${body}
</section>`;
}

export function missesPage(ctx: PageContext, misses: MissView[]): Html {
  return page({
    title: "Misses",
    current: "misses",
    ctx,
    body: missesSection({ misses, mode: ctx.header.mode, csrfToken: ctx.csrfToken, nowMs: ctx.nowMs, notice: ctx.notice }),
  });
}
