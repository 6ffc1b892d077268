// Plain-text (or JSON, when asked) responses for errors and short answers. Bodies end in "\n".
import { HttpError } from "../core/errors.ts";

export function wantsJson(req: Request): boolean {
  const accept = req.headers.get("accept") ?? "";
  return /\bapplication\/json\b/i.test(accept) && !/\btext\/html\b/i.test(accept);
}

export function textResponse(req: Request, status: number, message: string, headers: Record<string, string> = {}): Response {
  if (wantsJson(req)) {
    return Response.json(status >= 400 ? { error: message } : { message }, { status, headers: { "x-content-type-options": "nosniff", ...headers } });
  }
  // Messages may echo client input: plain text that a browser must not sniff into HTML.
  return new Response(message + "\n", { status, headers: { "content-type": "text/plain; charset=utf-8", "x-content-type-options": "nosniff", ...headers } });
}

export function errorResponse(req: Request, err: HttpError, headers: Record<string, string> = {}): Response {
  return textResponse(req, err.status, err.message, headers);
}

export function methodNotAllowed(req: Request, path: string, allow: readonly string[]): Response {
  return textResponse(req, 405, `${path}: method ${req.method} is not allowed; expected ${allow.join(" or ")}`, { allow: allow.join(", ") });
}

/** The policy of every answer carrying an artifact's bytes: no script, no styles, no framing of ours. */
export const ARTIFACT_CSP = "default-src 'none'; sandbox";

/**
 * The headers every answer carrying an artifact's bytes shares, a hit's (blob-route) and a
 * stream's of a running fill (stream-route).
 */
export function artifactBodyHeaders(a: { contentType: string; contentDisposition: string | null; redirected: boolean }): Record<string, string> {
  return {
    "content-type": a.contentType,
    "accept-ranges": "bytes",
    // Replay the origin's Content-Disposition, or send a bare one so Bun does not name the
    // download after the blob file (curl -OJ would save it as <sha256>).
    "content-disposition": a.contentDisposition ?? "inline",
    // Cached bytes come from anywhere (auto-fetch is unauthenticated) and are served from the
    // operator UI's origin: an HTML artifact opened in a browser must not run script there.
    "content-security-policy": ARTIFACT_CSP,
    "x-content-type-options": "nosniff",
    // The shims serve a redirected fill only to a tool that would follow the redirect itself.
    ...(a.redirected ? { "x-withcache-redirected": "1" } : {}),
  };
}
