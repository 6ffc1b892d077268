// Small fragments shared by the pages: state badges, progress, action buttons.
import { html, type Html } from "./html.ts";
import { csrfField } from "./layout.ts";
import { etaMs, formatBytes, formatDuration, formatRate, percent } from "./format.ts";
import { splitExtensionForDisplay, splitUrlForDisplay } from "./url-display.ts";
import type { JobView } from "./view.ts";

export function stateBadge(state: JobView["state"]): Html {
  return html`<span class="badge state-${state}">${state}</span>`;
}

/** One POST form around one button: works as a plain form post and as an HTMX swap of `target`. */
export function actionButton(options: {
  action: string;
  target: string;
  csrfToken: string;
  label: string;
  fields?: Record<string, string>;
  style?: "primary" | "secondary" | "danger";
  confirm?: string;
  /** Fields only an HTMX request adds (hx-vals), e.g. `confirm: "yes"` once hx-confirm was
   *  accepted: a plain post without them can answer with a confirmation step instead. */
  hxVals?: Record<string, string>;
}): Html {
  const fields = Object.entries(options.fields ?? {}).map(
    ([name, value]) => html`<input type="hidden" name="${name}" value="${value}">`,
  );
  const style = options.style ?? "secondary";
  const cls = style === "primary" ? "" : style === "danger" ? "secondary outline danger" : "secondary outline";
  return html`<form method="post" action="${options.action}" class="inline" hx-post="${options.action}" hx-target="${options.target}" hx-swap="outerHTML"${options.confirm === undefined ? null : html` hx-confirm="${options.confirm}"`}${options.hxVals === undefined ? null : html` hx-vals="${JSON.stringify(options.hxVals)}"`}>${csrfField(options.csrfToken)}${fields}<button type="submit" class="${cls}">${options.label}</button></form>`;
}

/** The attributes that make a live section re-fetch itself from `path` every `everyMs` and replace
 *  itself with the answer; null (no polling) when nothing is live. */
export function livePoll(live: boolean, path: string, everyMs: number): Html | null {
  return live ? html` hx-get="${path}" hx-trigger="every ${everyMs / 1000}s" hx-swap="outerHTML" hx-target="this"` : null;
}

/** Progress bar and its numbers: bytes, total, %, rate, ETA. */
export function progress(job: JobView): Html {
  const pct = percent(job.bytesDone, job.totalBytes);
  const bar =
    job.totalBytes === null
      ? job.state === "running"
        ? html`<progress aria-label="downloading"></progress>`
        : html`<progress value="0" max="1" aria-label="not started"></progress>`
      : html`<progress value="${job.bytesDone}" max="${Math.max(job.totalBytes, 1)}" aria-label="${pct ?? 0}%"></progress>`;
  const parts: string[] = [];
  parts.push(job.totalBytes === null ? formatBytes(job.bytesDone) : `${formatBytes(job.bytesDone)} of ${formatBytes(job.totalBytes)}`);
  if (pct !== null) parts.push(`${pct}%`);
  if (job.state === "running") {
    parts.push(formatRate(job.rateBytesPerSec));
    const eta = etaMs(job);
    if (eta !== null) parts.push(`ETA ${formatDuration(eta)}`);
  }
  const streamers = job.streamers ?? 0;
  if (streamers > 0 && (job.state === "running" || job.state === "queued")) parts.push(`${streamers} client${streamers === 1 ? "" : "s"} streaming`);
  return html`<div class="progress">${bar}<small class="numbers">${parts.join(" · ")}</small></div>`;
}

/** A URL in one line, cut in the middle by CSS (host … file name, see url-display.ts), the full
 *  URL on hover and in the DOM, and a copy button (app.js; it selects the text where the
 *  clipboard API is unavailable). */
export function urlCell(url: string): Html {
  // Shown as text, never as a link: a recorded URL came from an unauthenticated client.
  const { head, tail } = splitUrlForDisplay(url);
  // The file name's extension never shrinks: a name too long for its column reads "cuda-repo-…amd64.deb".
  const { stem, ext } = splitExtensionForDisplay(tail);
  return html`<span class="url-line"><span class="url" title="${url}"><span class="url-head">${head}</span><span class="url-tail"><span class="url-stem">${stem}</span>${ext === "" ? null : html`<span class="url-ext">${ext}</span>`}</span></span><button type="button" class="copy copy-url secondary outline" data-copy="${url}" title="copy URL" aria-label="copy URL">copy</button></span>`;
}
