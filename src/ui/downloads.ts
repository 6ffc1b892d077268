// Downloads: the fill jobs with live progress. While anything is queued or running the section
// re-fetches itself every second (HTMX polling); once all are finished it renders without the
// trigger, so an idle page costs nothing.
import { html, type Html } from "./html.ts";
import { formatAgo, formatDuration, formatTime } from "./format.ts";
import { noticeBox, page } from "./layout.ts";
import { actionButton, livePoll, progress, stateBadge, urlCell } from "./parts.ts";
import type { JobView, Notice, PageContext } from "./view.ts";

const TARGET = "#downloads";
export const DOWNLOADS_POLL_MS = 1000;

export function isActive(job: JobView): boolean {
  return job.state === "queued" || job.state === "running";
}

function timing(job: JobView, nowMs: number): Html {
  if (job.finishedAtMs !== null) {
    const took = job.startedAtMs === null ? null : formatDuration(job.finishedAtMs - job.startedAtMs);
    // Each phrase stays whole, so a narrow column breaks only between them: two lines at most.
    return html`<span title="${formatTime(job.finishedAtMs)}"><span class="nowrap">finished ${formatAgo(job.finishedAtMs, nowMs)}</span>${took === null ? null : html`, <span class="nowrap">took ${took}</span>`}</span>`;
  }
  if (job.startedAtMs !== null) return html`<span class="nowrap" title="${formatTime(job.startedAtMs)}">started ${formatAgo(job.startedAtMs, nowMs)}</span>`;
  return html`<span class="nowrap" title="${formatTime(job.createdAtMs)}">queued ${formatAgo(job.createdAtMs, nowMs)}</span>`;
}

function actions(job: JobView, csrfToken: string): Html | null {
  const path = `/admin/downloads/${encodeURIComponent(job.id)}`;
  if (isActive(job)) return actionButton({ action: `${path}/cancel`, target: TARGET, csrfToken, label: "Cancel", style: "danger" });
  if (job.state === "failed" || job.state === "cancelled") return actionButton({ action: `${path}/retry`, target: TARGET, csrfToken, label: "Retry" });
  return null;
}

function row(job: JobView, ctx: { csrfToken: string; nowMs: number }): Html {
  return html`<tr id="job-${job.id}" data-state="${job.state}">
<td class="primary">${urlCell(job.url)}${job.error === null ? null : html`<small class="error">${job.error}</small>`}</td>
<td data-label="State">${stateBadge(job.state)}</td>
<td data-label="Progress" class="progress-cell">${progress(job)}</td>
<td data-label="When"><small>${timing(job, ctx.nowMs)}</small></td>
<td class="actions">${actions(job, ctx.csrfToken)}</td>
</tr>`;
}

export function downloadsSection(data: { jobs: JobView[]; csrfToken: string; nowMs: number; notice: Notice | null }): Html {
  const active = data.jobs.some(isActive);
  const finished = data.jobs.some((j) => !isActive(j));
  const poll = livePoll(active, "/admin/downloads", DOWNLOADS_POLL_MS);
  const clear = finished
    ? actionButton({ action: "/admin/downloads/clear", target: TARGET, csrfToken: data.csrfToken, label: "Clear finished" })
    : null;
  const body =
    data.jobs.length === 0
      ? html`<div class="empty"><p><strong>No downloads.</strong></p><p>Queue one from the <a href="/admin/misses">Misses</a> page or paste URLs on the <a href="/admin/add">Add</a> page.</p></div>`
      : html`<div class="table-wrap"><table class="rows striped">
<thead><tr><th>URL</th><th>State</th><th>Progress</th><th>When</th><th><span class="visually-hidden">Actions</span></th></tr></thead>
<tbody>${data.jobs.map((j) => row(j, data))}</tbody>
</table></div>`;
  return html`<section id="downloads" data-active="${active ? "yes" : "no"}"${poll}>
<div class="section-head"><hgroup><h2>Downloads</h2><p>${active ? "Updating live." : "Nothing running."}</p></hgroup>${clear}</div>
${noticeBox(data.notice)}
${body}
</section>`;
}

export function downloadsPage(ctx: PageContext, jobs: JobView[]): Html {
  return page({
    title: "Downloads",
    current: "downloads",
    ctx,
    body: downloadsSection({ jobs, csrfToken: ctx.csrfToken, nowMs: ctx.nowMs, notice: ctx.notice }),
  });
}
