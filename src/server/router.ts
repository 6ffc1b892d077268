// Routes: parse the request line, hand off to the read path or the operator UI, map errors.
import { URL_BYTES_MAX } from "../core/cache-key.ts";
import { HttpError, quote } from "../core/errors.ts";
import { loggableUrl } from "../core/log.ts";
import { decodeToken } from "../core/token.ts";
import { handleAdmin } from "./admin.ts";
import { openApiDocument } from "./api/openapi.ts";
import { API_PREFIX, handleApi, ROUTES } from "./api/routes.ts";
import { lookup, type FillNote } from "./blob-route.ts";
import type { RequestContext } from "./context.ts";
import { handleMetrics } from "./metrics.ts";
import { methodNotAllowed, textResponse, wantsJson } from "./responses.ts";

export type RouteResult = {
  response: Response;
  /** What to log as the path (never a token or a query). Null: the request path without query. */
  logPath: string | null;
  /** The cache key involved, as logged (query elided). */
  key: string | null;
  note: string | null;
  /** Body bytes when the response cannot say (file bodies); else Content-Length is logged. */
  bytes?: number;
  /** A miss's fill outcome; the log line is written once it is known (see blob-route's lookup). */
  fill?: Promise<FillNote>;
};

/** A /b/ token is base64 (4/3 of the URL) plus the name: bound the whole request target. */
export const REQUEST_TARGET_BYTES_MAX = Math.ceil((URL_BYTES_MAX * 4) / 3) + 4096;

const READ_METHODS = ["GET", "HEAD"] as const;

function isAdminPath(path: string): boolean {
  return path === "/" || path === "/login" || path === "/logout" || path === "/admin" || path.startsWith("/admin/") || path.startsWith("/static/");
}

/**
 * The origin URL of /blob?url=…. Typed by people, it is often not encoded at all
 * (`/blob?url=https://h/a+b.run?Expires=1&Signature=x`): an unencoded http(s) URL right after
 * `url=` is taken verbatim to the end of the query, so its own `&`, `+` and `%xx` survive.
 * Otherwise the one, percent-encoded `url` parameter.
 */
function blobUrlParameter(search: string): string {
  const verbatim = /^\?url=(https?:\/\/.*)$/is.exec(search);
  if (verbatim) return verbatim[1]!;
  const all = new URLSearchParams(search).getAll("url");
  const raw = all[0] ?? null;
  if (raw === null || raw === "") throw new HttpError(400, "/blob: missing url parameter; expected /blob?url=<origin url>");
  if (all.length > 1) throw new HttpError(400, "/blob: url parameter given more than once; expected exactly one");
  return raw;
}

/** Generated once, on first request. */
let openApi: unknown = null;

export async function route(req: Request, ctx: RequestContext): Promise<RouteResult> {
  const plain = (response: Response, logPath: string | null = null): RouteResult => ({ response, logPath, key: null, note: null });
  if (req.url.length > REQUEST_TARGET_BYTES_MAX + 200) {
    return plain(textResponse(req, 414, `request target is longer than ${REQUEST_TARGET_BYTES_MAX} bytes`), "(too long)");
  }
  // Bun builds req.url from the Host header: a Host like "a b" makes it unparseable.
  const url = URL.parse(req.url);
  if (url === null) {
    return plain(textResponse(req, 400, `host header ${quote(req.headers.get("host") ?? "", 100)} is not a valid host; expected host[:port]`), "(bad host)");
  }
  const path = url.pathname;
  const isRead = (READ_METHODS as readonly string[]).includes(req.method);

  if (path === "/healthz") {
    if (!isRead) return plain(methodNotAllowed(req, path, READ_METHODS));
    // Degraded still answers 200: the replica serves what it can decide alone (hits on local
    // copies), and a balancer that dropped every replica during a database outage would serve nothing.
    const problems = ctx.problems?.() ?? [];
    if (wantsJson(req)) {
      const status = { status: problems.length === 0 ? "ok" : "degraded", version: ctx.version, mode: ctx.config.curate ? "curate" : "auto", uptimeMs: ctx.nowMs() - ctx.startedAtMs, problems };
      return plain(Response.json(status, { headers: { "x-content-type-options": "nosniff" } }));
    }
    // Problems quote error text of the database or bucket: plain text, never sniffed.
    return plain(textResponse(req, 200, problems.length === 0 ? `ok ${ctx.version}` : `degraded ${ctx.version}: ${problems.join("; ")}`));
  }

  if (path === "/metrics") return plain(await handleMetrics(req, url, ctx));

  if (path.startsWith("/b/")) {
    if (!isRead) return plain(methodNotAllowed(req, "/b/<token>", READ_METHODS), "/b/…");
    const token = path.slice(3).split("/")[0] ?? "";
    const decoded = decodeToken(token);
    if (!decoded.ok) throw new HttpError(400, `/b/<token>: ${decoded.message}`);
    const outcome = await lookup(req, decoded.url, "/b/<token>", ctx);
    return { response: outcome.response, logPath: "/b/…", key: outcome.logKey ?? (outcome.key ? loggableUrl(outcome.key) : null), note: outcome.note, bytes: outcome.bytes, fill: outcome.fill };
  }

  if (path === "/blob") {
    if (!isRead) return plain(methodNotAllowed(req, "/blob", READ_METHODS), "/blob");
    const raw = blobUrlParameter(url.search);
    const outcome = await lookup(req, raw, "/blob?url=", ctx);
    return { response: outcome.response, logPath: "/blob", key: outcome.logKey ?? (outcome.key ? loggableUrl(outcome.key) : null), note: outcome.note, bytes: outcome.bytes, fill: outcome.fill };
  }

  if (path === API_PREFIX || path.startsWith(`${API_PREFIX}/`)) {
    return plain(await handleApi(req, ctx, () => (openApi ??= openApiDocument(ROUTES, ctx.version))), path.slice(0, 200));
  }

  if (isAdminPath(path)) return plain(await handleAdmin(req, ctx));

  return plain(textResponse(req, 404, `not found: ${quote(path, 100)}`));
}
