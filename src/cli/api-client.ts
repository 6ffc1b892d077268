// The CLI's side of /api/v1: one request with a time bound, the answer parsed with the API's own
// zod schema. Failures are one line with the exit code they deserve: 2 when the cache-host cannot
// be reached or will not take the credentials, 1 for any other refusal.
import type { z } from "zod";
import { serverBaseUrl } from "../core/plan/plan.ts";
import { quote } from "../core/errors.ts";

export const DEFAULT_API_URL = "http://127.0.0.1:3000";
const REQUEST_TIMEOUT_MS = 30_000;

/** A failure the CLI reports as one line and exits with. */
export class CliFailure extends Error {
  constructor(
    message: string,
    readonly exitCode: number,
  ) {
    super(message);
    this.name = "CliFailure";
  }
}

const NETWORK_REASONS: Record<string, string> = {
  ECONNREFUSED: "connection refused (is withcache serve running there?)",
  ConnectionRefused: "connection refused (is withcache serve running there?)",
  ENOTFOUND: "host not found",
  ECONNRESET: "connection reset",
  EHOSTUNREACH: "host unreachable",
};

function unreachableReason(err: unknown): string {
  if (err instanceof Error && err.name === "TimeoutError") return `no answer in ${REQUEST_TIMEOUT_MS / 1000} s`;
  const code = (err as { code?: unknown } | null)?.code;
  if (typeof code === "string") return NETWORK_REASONS[code] ?? code;
  return (err instanceof Error ? err.message : String(err)).split("\n")[0]!;
}

export type ApiOptions = { url?: string | undefined; token?: string | undefined };

export class ApiClient {
  readonly base: string;
  private readonly token: string | null;

  constructor(options: ApiOptions) {
    const raw = options.url === undefined || options.url.trim() === "" ? DEFAULT_API_URL : options.url.trim();
    const withScheme = /^[a-z][a-z0-9+.-]*:\/\//i.test(raw) ? raw : serverBaseUrl(raw);
    let url: URL;
    try {
      url = new URL(withScheme);
    } catch {
      throw new CliFailure(`--url: ${quote(raw)} is not a url; expected e.g. ${DEFAULT_API_URL} (or set WITHCACHE_URL)`, 2);
    }
    if (url.protocol !== "http:" && url.protocol !== "https:") throw new CliFailure(`--url: ${quote(raw)} is not http or https`, 2);
    this.base = url.href.replace(/\/+$/, "");
    const token = options.token?.trim() ?? "";
    this.token = token === "" ? null : token;
    // The cache-host is on the local network: as `withcache healthcheck`, never through a proxy.
    process.env.no_proxy = "*";
    process.env.NO_PROXY = "*";
  }

  async request<T extends z.ZodType>(schema: T, method: string, path: string, options: { query?: Record<string, string | number | undefined>; body?: unknown } = {}): Promise<z.output<T>> {
    const url = new URL(this.base + path);
    for (const [k, v] of Object.entries(options.query ?? {})) if (v !== undefined && v !== "") url.searchParams.set(k, String(v));
    const headers: Record<string, string> = { accept: "application/json" };
    if (this.token !== null) headers.authorization = `Bearer ${this.token}`;
    // Writes are JSON even without a body: the server's same-site rule for token-less calls.
    if (method !== "GET") headers["content-type"] = "application/json";
    let response: Response;
    try {
      response = await fetch(url, { method, headers, body: options.body === undefined ? (method === "GET" ? undefined : "{}") : JSON.stringify(options.body), signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS), redirect: "manual" });
    } catch (err) {
      throw new CliFailure(`cannot reach the cache-host at ${this.base}: ${unreachableReason(err)} (set --url or WITHCACHE_URL)`, 2);
    }
    const text = await response.text();
    let json: unknown = null;
    try {
      json = JSON.parse(text);
    } catch {
      // not JSON: reported below
    }
    if (response.status >= 400) {
      const message = json !== null && typeof json === "object" && "error" in json && typeof json.error === "string" ? json.error : `${response.status} ${response.statusText}`.trim();
      const auth = response.status === 401 || response.status === 403;
      const hint = response.status === 401 && this.token === null ? " (set WITHCACHE_TOKEN or --token)" : "";
      throw new CliFailure(`${message}${hint}`, auth ? 2 : 1);
    }
    if (json === null) throw new CliFailure(`${this.base} answered ${method} ${path} with something that is not JSON: is it a withcache cache-host?`, 2);
    const parsed = schema.safeParse(json);
    if (!parsed.success) throw new CliFailure(`${this.base} answered ${method} ${path} in a shape this withcache does not know (${parsed.error.issues[0]?.path.join(".") ?? "?"}): is the server another version?`, 1);
    return parsed.data;
  }
}
