// Events: the audit log, newest first, filtered by kind, paged with an "older" link (beforeId).
import { html, type Html } from "./html.ts";
import { formatAgo, formatTime } from "./format.ts";
import { page } from "./layout.ts";
import type { PageContext } from "./view.ts";

export type EventView = { id: number; atMs: number; kind: string; actor: string; client: string; outcome: string; detail: string | null };

export function eventsSection(data: { events: EventView[]; kind: string; olderThanId: number | null; nowMs: number }): Html {
  const older = data.olderThanId === null ? null : `/admin/events?${new URLSearchParams(data.kind === "" ? { before: String(data.olderThanId) } : { kind: data.kind, before: String(data.olderThanId) })}`;
  const body =
    data.events.length === 0
      ? html`<div class="empty"><p><strong>No events${data.kind === "" ? null : html` of kind ${data.kind}`}.</strong></p></div>`
      : html`<div class="table-wrap"><table class="rows striped" id="events-table">
<thead><tr><th>When</th><th>Kind</th><th>Outcome</th><th>Actor</th><th>Client</th><th>Detail</th></tr></thead>
<tbody>${data.events.map((e) => html`<tr data-kind="${e.kind}"><td data-label="When"><small title="${formatTime(e.atMs)}">${formatAgo(e.atMs, data.nowMs)}</small></td><td data-label="Kind"><a href="/admin/events?kind=${encodeURIComponent(e.kind)}">${e.kind}</a></td><td data-label="Outcome">${e.outcome}</td><td data-label="Actor">${e.actor}</td><td data-label="Client">${e.client}</td><td class="primary"><small>${e.detail ?? ""}</small></td></tr>`)}</tbody>
</table></div>`;
  return html`<section id="events">
<hgroup><h2>Events</h2><p>Operator actions and security events, newest first.</p></hgroup>
<form method="get" action="/admin/events" role="search"><input type="search" name="kind" value="${data.kind}" placeholder="kind, e.g. login-refused" aria-label="Filter by kind"></form>
${body}
${older === null ? null : html`<p><a href="${older}" rel="next">Older events →</a></p>`}
</section>`;
}

export function eventsPage(ctx: PageContext, data: Parameters<typeof eventsSection>[0]): Html {
  return page({ title: "Events", current: "events", ctx, body: eventsSection(data) });
}
