// Hits and misses per hour as a server-side SVG bar chart: pure data → markup, no library.
// Two bars per hour (hits, misses), a y axis scaled to the largest value, hour labels every
// 6 hours, and <title>/<desc> for screen readers. A value that dwarfs the others still draws the
// small ones at least 1 px tall so "some" is visible against "none".
import { html, type Html } from "./html.ts";

export type HourBar = { hourMs: number; hits: number; misses: number };

const W = 720;
const H = 200;
const LEFT = 44;
const BOTTOM = 24;
const TOP = 8;

function hourLabel(ms: number): string {
  return `${String(new Date(ms).getUTCHours()).padStart(2, "0")}:00`;
}

/** A round maximum for the y axis (1, 2, 5 × 10^n) at or above the largest value. */
export function niceMax(max: number): number {
  if (max <= 0) return 1;
  const p = 10 ** Math.floor(Math.log10(max));
  for (const m of [1, 2, 5, 10]) if (m * p >= max) return m * p;
  return 10 * p;
}

export function hourlyChart(hours: readonly HourBar[], options: { title?: string } = {}): Html {
  const title = options.title ?? "Hits and misses per hour, last 24 hours (UTC)";
  const totalHits = hours.reduce((s, h) => s + h.hits, 0);
  const totalMisses = hours.reduce((s, h) => s + h.misses, 0);
  const desc = `${totalHits} hits and ${totalMisses} misses over ${hours.length} hours`;
  if (hours.length === 0 || totalHits + totalMisses === 0) {
    // HTML text, not SVG text: the viewBox scales SVG text with the width (about 5 px at 390 px).
    return html`<div class="chart chart-empty" role="img" aria-label="${title}: no requests in the last 24 hours" data-empty="true"><p>No requests in the last 24 hours</p></div>`;
  }
  const max = niceMax(Math.max(...hours.map((h) => Math.max(h.hits, h.misses))));
  const plotH = H - TOP - BOTTOM;
  const slot = (W - LEFT) / hours.length;
  const barW = Math.max(1, slot / 2 - 1);
  const y = (v: number) => (v === 0 ? 0 : Math.max(1, (v / max) * plotH));
  const bars: Html[] = [];
  const labels: Html[] = [];
  hours.forEach((h, i) => {
    const x = LEFT + i * slot;
    const hh = y(h.hits);
    const mh = y(h.misses);
    bars.push(html`<rect class="bar-hit" x="${x.toFixed(1)}" y="${(TOP + plotH - hh).toFixed(1)}" width="${barW.toFixed(1)}" height="${hh.toFixed(1)}"><title>${hourLabel(h.hourMs)}: ${h.hits} hits</title></rect>`);
    bars.push(html`<rect class="bar-miss" x="${(x + barW).toFixed(1)}" y="${(TOP + plotH - mh).toFixed(1)}" width="${barW.toFixed(1)}" height="${mh.toFixed(1)}"><title>${hourLabel(h.hourMs)}: ${h.misses} misses</title></rect>`);
    if (i % 6 === 0 || i === hours.length - 1) labels.push(html`<text class="axis-x" x="${(x + barW).toFixed(1)}" y="${H - 6}" text-anchor="middle">${hourLabel(h.hourMs)}</text>`);
  });
  const ticks = [0, max / 2, max].map((v) => html`<text class="axis-y" x="${LEFT - 6}" y="${(TOP + plotH - (v / max) * plotH + 4).toFixed(1)}" text-anchor="end">${String(v)}</text>`);
  return html`<svg class="chart" viewBox="0 0 ${W} ${H}" role="img" aria-labelledby="chart-title chart-desc"><title id="chart-title">${title}</title><desc id="chart-desc">${desc}</desc>
<line class="axis" x1="${LEFT}" y1="${TOP + plotH}" x2="${W}" y2="${TOP + plotH}" stroke="currentColor" stroke-opacity="0.4"/>
${ticks}${bars}${labels}
</svg>`;
}
