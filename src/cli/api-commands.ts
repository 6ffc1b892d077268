// The CLI over /api/v1: add, ls, rm, misses, jobs, stats, events, token. Each takes --url
// (WITHCACHE_URL) and --token (WITHCACHE_TOKEN) and prints a table that fits the terminal, or the
// API's JSON with --json.
import { Option, type Command } from "commander";
import { parseDuration } from "../core/duration.ts";
import * as S from "../server/api/schemas.ts";
import { formatBytes, formatRate } from "../ui/format.ts";
import { ApiClient, CliFailure, DEFAULT_API_URL } from "./api-client.ts";
import { formatTable, middleEllipsis, outputWidth, progressBar, type Column } from "./table.ts";

type Common = { url?: string; token?: string; json?: boolean };

function withApiOptions(cmd: Command, options: { json?: boolean } = { json: true }): Command {
  cmd.addOption(new Option("--url <url>", `base url of the cache-host (host or host:port also work)`).env("WITHCACHE_URL").default(DEFAULT_API_URL));
  cmd.addOption(new Option("--token <token>", "API token (wc_…); prefer the environment variable, a flag shows in ps").env("WITHCACHE_TOKEN"));
  if (options.json !== false) cmd.option("--json", "print the API's JSON instead of a table");
  return cmd;
}

const client = (o: Common) => new ApiClient({ url: o.url, token: o.token });
const width = () => outputWidth(process.env, process.stdout);
const out = (text: string): void => void process.stdout.write(text);
const printJson = (value: unknown): void => out(JSON.stringify(value, null, 2) + "\n");
const day = (iso: string | null) => (iso === null ? "-" : iso.slice(0, 16).replace("T", " "));
const isSha256 = (s: string) => /^[0-9a-f]{64}$/.test(s);

const ARTIFACT_COLUMNS: Column<S.ArtifactJson>[] = [
  { header: "SIZE", value: (a) => formatBytes(a.sizeBytes), align: "right" },
  { header: "HITS", value: (a) => String(a.hits), align: "right" },
  { header: "SAVED", value: (a) => formatBytes(a.bytesSaved), align: "right", drop: 2 },
  { header: "LAST HIT", value: (a) => day(a.lastHitAt), drop: 1 },
  { header: "FRESH", value: (a) => (a.superseded ? "superseded" : a.fresh ? "yes" : "stale"), drop: 3 },
  { header: "URL", value: (a) => a.url, shrink: true },
];

const FILL_COLUMNS: Column<S.FillJson>[] = [
  { header: "ID", value: (f) => String(f.id), align: "right" },
  { header: "STATE", value: (f) => f.state },
  { header: "DONE", value: (f) => (f.totalBytes === null ? formatBytes(f.bytesDone) : `${formatBytes(f.bytesDone)}/${formatBytes(f.totalBytes)}`), align: "right" },
  { header: "RATE", value: (f) => (f.state === "running" ? formatRate(f.rateBytesPerSec) : "-"), align: "right", drop: 1 },
  { header: "URL", value: (f) => f.url, shrink: true },
  { header: "ERROR", value: (f) => f.error ?? "", shrink: true },
];

// ---------------------------------------------------------------------------------------------
// add [--wait]

const FINISHED = new Set(["completed", "failed", "cancelled"]);
const POLL_MS = 250;

async function add(urls: string[], o: Common & { wait?: boolean; timeout: string }): Promise<void> {
  const api = client(o);
  const bound = parseDuration(o.timeout);
  if (!bound.ok) throw new CliFailure(`--timeout: ${bound.message}`, 1);
  let failed = 0;
  const queued = new Map<number, string>();
  for (let i = 0; i < urls.length; i += S.QUEUE_URLS_MAX) {
    const result = await api.request(S.QueueResult, "POST", "/api/v1/fills", { body: { urls: urls.slice(i, i + S.QUEUE_URLS_MAX) } });
    if (o.json && !o.wait) printJson(result);
    for (const item of result.items) {
      if (item.ok) queued.set(item.fill.id, item.url);
      // 409: already cached and fresh, which is what was asked for.
      else if (item.status === 409) !o.json && out(`cached  ${item.url}\n`);
      else {
        failed += 1;
        process.stderr.write(`withcache: error: ${item.url}: ${item.error}\n`);
      }
      if (item.ok && !o.json && !o.wait) out(`${item.existing ? "already queued" : "queued"}  fill ${item.fill.id}  ${item.url}\n`);
    }
  }
  if (o.wait) failed += await waitFor(api, queued, { json: o.json === true, timeoutMs: bound.ms });
  if (failed > 0) throw new CliFailure(`${failed} of ${urls.length} url${urls.length === 1 ? "" : "s"} did not make it into the cache`, 1);
}

/** Poll the fills until each is finished; returns how many did not complete. */
async function waitFor(api: ApiClient, fills: Map<number, string>, o: { json: boolean; timeoutMs: number }): Promise<number> {
  const tty = process.stdout.isTTY === true && !o.json;
  const last = new Map<number, S.FillJson>();
  const deadline = o.timeoutMs > 0 ? Date.now() + o.timeoutMs : Infinity;
  let drawn = 0;
  for (;;) {
    for (const id of fills.keys()) {
      const prev = last.get(id);
      if (prev && FINISHED.has(prev.state)) continue;
      const f = await api.request(S.Fill, "GET", `/api/v1/fills/${id}`);
      if (!tty && !o.json && f.state !== prev?.state) out(`${f.state.padEnd(9)} fill ${f.id}  ${f.url}${f.state === "completed" ? `  ${formatBytes(f.bytesDone)}` : ""}${f.error ? `  ${f.error}` : ""}\n`);
      last.set(id, f);
    }
    if (tty) drawn = drawBars([...last.values()], drawn);
    const done = [...last.values()].every((f) => FINISHED.has(f.state));
    if (done || Date.now() > deadline) break;
    await Bun.sleep(POLL_MS);
  }
  const all = [...last.values()];
  if (o.json) printJson({ items: all });
  const unfinished = all.filter((f) => !FINISHED.has(f.state));
  if (unfinished.length > 0) process.stderr.write(`withcache: error: --timeout passed with ${unfinished.length} fill(s) still ${unfinished.map((f) => f.state).join(", ")}\n`);
  return all.filter((f) => f.state !== "completed").length;
}

/** One line per fill, redrawn in place. */
function drawBars(fills: S.FillJson[], drawn: number): number {
  const cols = width() ?? 80;
  const lines = fills.map((f) => {
    const bar = progressBar(f.bytesDone, f.totalBytes, 26);
    const state = f.state === "running" ? formatRate(f.rateBytesPerSec).padStart(11) : f.state.padStart(11);
    const head = `${bar} ${state}  `;
    return head + middleEllipsis(f.url, Math.max(10, cols - head.length - 1));
  });
  out((drawn > 0 ? `\x1b[${drawn}A` : "") + lines.map((l) => `\r\x1b[2K${l}\n`).join(""));
  return lines.length;
}

// ---------------------------------------------------------------------------------------------
// The rest

async function ls(o: Common & { filter?: string; sort: string; direction?: string; limit: string; all?: boolean }): Promise<void> {
  const api = client(o);
  const limit = Number(o.limit);
  const items: S.ArtifactJson[] = [];
  let cursor: string | undefined;
  let more = false;
  // --all pages through everything (bounded: 10,000 pages of 500).
  for (let page = 0; page < 10_000; page += 1) {
    const pageSize = o.all ? S.PAGE_LIMIT_MAX : Math.min(limit - items.length, S.PAGE_LIMIT_MAX);
    const r = await api.request(S.ArtifactPage, "GET", "/api/v1/artifacts", { query: { filter: o.filter, sort: o.sort, direction: o.direction, limit: pageSize, cursor } });
    items.push(...r.items);
    more = r.nextCursor !== null;
    if (r.nextCursor === null || (!o.all && items.length >= limit)) break;
    cursor = r.nextCursor;
  }
  if (o.json) return printJson({ items });
  out(formatTable(ARTIFACT_COLUMNS, items, width()));
  if (more && !o.all) process.stderr.write(`(first ${items.length}; --limit N or --all for more)\n`);
}

async function rm(targets: string[], o: Common): Promise<void> {
  const api = client(o);
  let deleted = 0;
  let freed = 0;
  let failed = 0;
  const results: unknown[] = [];
  for (const target of targets) {
    try {
      const r = isSha256(target)
        ? await api.request(S.Deleted, "DELETE", `/api/v1/artifacts/${target}`)
        : await api.request(S.Deleted, "DELETE", "/api/v1/artifact", { query: { url: target } });
      deleted += r.deleted;
      freed += r.freedBytes;
      results.push({ target, ...r });
      if (!o.json) out(`deleted  ${target}  (${formatBytes(r.freedBytes)} freed)\n`);
    } catch (err) {
      if (!(err instanceof CliFailure) || err.exitCode === 2) throw err;
      failed += 1;
      process.stderr.write(`withcache: error: ${err.message}\n`);
    }
  }
  if (o.json) printJson({ items: results, deleted, freedBytes: freed });
  if (failed > 0) throw new CliFailure(`${failed} of ${targets.length} not deleted`, 1);
}

async function misses(o: Common & { limit: string }): Promise<void> {
  const r = await client(o).request(S.MissPage, "GET", "/api/v1/misses", { query: { limit: o.limit } });
  if (o.json) return printJson(r);
  const columns: Column<S.MissJson>[] = [
    { header: "COUNT", value: (m) => String(m.count), align: "right" },
    { header: "LAST SEEN", value: (m) => day(m.lastSeenAt), drop: 1 },
    { header: "SIZE", value: (m) => (m.knownSizeBytes === null ? "-" : formatBytes(m.knownSizeBytes)), align: "right" },
    { header: "URL", value: (m) => m.url, shrink: true },
    { header: "REFUSED", value: (m) => m.refusal ?? "", shrink: true },
  ];
  out(formatTable(columns, r.items, width()));
}

async function jobs(o: Common & { state?: string; limit: string }): Promise<void> {
  const r = await client(o).request(S.FillList, "GET", "/api/v1/fills", { query: { state: o.state, limit: o.limit } });
  if (o.json) return printJson(r);
  out(formatTable(FILL_COLUMNS, r.items, width()));
}

const ratio = (r: number | null) => (r === null ? "-" : `${(r * 100).toFixed(1)} %`);

/** Like `ccache -s`: one block of labelled numbers. */
export function statsText(s: S.StatsJson): string {
  const w = s.windows;
  const windows = [w["24h"], w["7d"], w.all] as const;
  const row = (label: string, f: (x: (typeof windows)[number]) => string) => [label, ...windows.map(f)];
  const rows = [
    ["", "24 h", "7 d", "all time"],
    row("Hits", (x) => String(x.hits)),
    row("Misses", (x) => String(x.misses)),
    row("Hit ratio", (x) => ratio(x.hitRatio)),
    row("Served from cache", (x) => formatBytes(x.bytesFromCache)),
    row("Fetched from origins", (x) => formatBytes(x.bytesFromOrigin)),
    row("Egress saved", (x) => formatBytes(x.bytesSaved)),
  ];
  const labelWidth = Math.max(...rows.map((r) => r[0]!.length));
  const colWidth = Math.max(...rows.flatMap((r) => r.slice(1).map((c) => c.length)));
  const table = rows.map((r) => [r[0]!.padEnd(labelWidth), ...r.slice(1).map((c) => c.padStart(colWidth))].join("  ").trimEnd()).join("\n");
  const cap = s.capBytes === null ? "no cap" : `cap ${formatBytes(s.capBytes)}, ${Math.round((s.stored.bytes / s.capBytes) * 100)} % used`;
  const lines = [
    `Stored                ${s.stored.artifacts} artifacts, ${formatBytes(s.stored.bytes)} (${cap})`,
    `Free disk             ${formatBytes(s.disk.freeBytes)} of ${formatBytes(s.disk.totalBytes)}`,
    `Fills                 ${s.fills.running} running, ${s.fills.queued} queued`,
    `Misses recorded       ${s.stored.misses}`,
  ];
  return `${table}\n\n${lines.join("\n")}\n`;
}

async function stats(o: Common): Promise<void> {
  const s = await client(o).request(S.Stats, "GET", "/api/v1/stats");
  if (o.json) return printJson(s);
  out(statsText(s));
}

async function events(o: Common & { kind?: string; limit: string }): Promise<void> {
  const r = await client(o).request(S.EventPage, "GET", "/api/v1/events", { query: { kind: o.kind, limit: o.limit } });
  if (o.json) return printJson(r);
  const columns: Column<S.EventJson>[] = [
    { header: "TIME", value: (e) => e.at.slice(0, 19).replace("T", " ") },
    { header: "KIND", value: (e) => e.kind },
    { header: "ACTOR", value: (e) => e.actor },
    { header: "CLIENT", value: (e) => e.client, drop: 1 },
    { header: "OUTCOME", value: (e) => e.outcome, drop: 2 },
    { header: "DETAIL", value: (e) => e.detail, shrink: true },
  ];
  out(formatTable(columns, r.items, width()));
}

export function registerApiCommands(program: Command): void {
  withApiOptions(
    program
      .command("add")
      .description("queue downloads into the cache (exit 1 if any fails with --wait)")
      .argument("<url...>", "origin URLs")
      .option("--wait", "wait for the fills: a progress bar per URL on a terminal, one line per state change otherwise")
      .option("--timeout <duration>", "with --wait, give up after this long (0 = never)", "0"),
  ).action((urls: string[], o) => add(urls, o));
  withApiOptions(
    program
      .command("ls")
      .description("list cached artifacts")
      .option("--filter <text>", "only URLs containing TEXT (case-insensitive)")
      .addOption(new Option("--sort <by>", "sort by").choices([...S.ARTIFACT_SORTS]).default("lastHit"))
      .addOption(new Option("--direction <dir>", "asc or desc (default: desc, asc for url)").choices(["asc", "desc"]))
      .option("--limit <n>", "show at most N", "100")
      .option("--all", "page through every artifact"),
  ).action((o) => ls(o));
  withApiOptions(program.command("rm").description("delete cached artifacts by URL or sha256").argument("<url-or-sha256...>", "what to delete")).action((targets: string[], o) => rm(targets, o));
  withApiOptions(program.command("misses").description("list recorded misses, most recent first").option("--limit <n>", "show at most N", "100")).action((o) => misses(o));
  withApiOptions(
    program.command("jobs").description("list fills (downloads into the cache)").option("--state <states>", "comma-separated: queued,running,completed,failed,cancelled").option("--limit <n>", "show at most N", "100"),
  ).action((o) => jobs(o));
  withApiOptions(program.command("stats").description("hit ratio, egress saved, stored bytes and cap (like ccache -s)")).action((o) => stats(o));
  withApiOptions(program.command("events").description("the audit log, newest first").option("--kind <kind>", "only events of this kind").option("--limit <n>", "show at most N", "50")).action((o) => events(o));

  const token = program.command("token").description("create, list and revoke API tokens");
  withApiOptions(
    token
      .command("create")
      .description("create a token and print it (shown once: store it now)")
      .argument("<name>", "a name for the token (letters, digits, . _ -)")
      .addOption(new Option("--scope <scope>", "read: GET only; admin: everything").choices(["read", "admin"]).default("read")),
  ).action(async (name: string, o: Common & { scope: "read" | "admin" }) => {
    const r = await client(o).request(S.CreatedToken, "POST", "/api/v1/tokens", { body: { name, scope: o.scope } });
    if (o.json) return printJson(r);
    out(`${r.token}\n`);
    process.stderr.write(`token "${r.name}" (scope ${r.scope}) created; it is shown only this once\n`);
  });
  withApiOptions(token.command("ls").description("list tokens (names, scopes, last use; never the tokens)")).action(async (o: Common) => {
    const r = await client(o).request(S.TokenList, "GET", "/api/v1/tokens");
    if (o.json) return printJson(r);
    const columns: Column<S.TokenJson>[] = [
      { header: "NAME", value: (t) => t.name },
      { header: "SCOPE", value: (t) => t.scope },
      { header: "TOKEN", value: (t) => t.hint },
      { header: "CREATED", value: (t) => day(t.createdAt), drop: 1 },
      { header: "LAST USED", value: (t) => day(t.lastUsedAt) },
    ];
    out(formatTable(columns, r.items, width()));
  });
  withApiOptions(token.command("revoke").description("revoke a token (it stops working at once)").argument("<name>", "the token's name"), { json: false }).action(async (name: string, o: Common) => {
    await client(o).request(S.Revoked, "DELETE", `/api/v1/tokens/${encodeURIComponent(name)}`);
    out(`revoked ${name}\n`);
  });
}
