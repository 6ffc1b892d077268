// `withcache healthcheck`: GET <url>/healthz and exit 0 on 200, 1 otherwise. It is the container's
// HEALTHCHECK (distroless images have no curl), so it asks the server directly: proxy variables in
// the environment are ignored, because a health probe of 127.0.0.1 through a proxy proves nothing.
import type { Command } from "commander";
import { z } from "zod";
import { parseDuration } from "../core/duration.ts";
import { serverBaseUrl } from "../core/plan/plan.ts";
import { quote } from "../core/errors.ts";

const DEFAULT_URL = "http://127.0.0.1:3000";
const DEFAULT_TIMEOUT = "5s";
/** Longer than any container runtime's health timeout; a bound, not a tuning knob. */
const TIMEOUT_MS_MAX = 300_000;

const optionsSchema = z.strictObject({
  url: z.string(),
  timeout: z.string(),
});

export type HealthcheckTarget = { healthzUrl: string; timeoutMs: number };

/** Parse the flags into the URL to GET and a time bound; throws an Error with a one-line message. */
export function parseHealthcheckOptions(raw: unknown): HealthcheckTarget {
  const opts = optionsSchema.parse(raw);
  // `cache-host:3000` or `cache-host` as in WITHCACHE_SERVER (port 3000 when none); "localhost:3000"
  // would otherwise parse as a URL with the scheme "localhost:".
  const withScheme = /^[a-z][a-z0-9+.-]*:\/\//i.test(opts.url) || opts.url.trim() === "" ? opts.url : serverBaseUrl(opts.url);
  let url: URL;
  try {
    url = new URL(withScheme);
  } catch {
    throw new Error(`--url: ${quote(opts.url)} is not a url; expected e.g. ${DEFAULT_URL}`);
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw new Error(`--url: ${quote(opts.url)} is not http or https; expected e.g. ${DEFAULT_URL}`);
  }
  if (!url.pathname.endsWith("/healthz")) {
    url.pathname = url.pathname.replace(/\/*$/, "") + "/healthz";
  }
  url.search = "";
  url.hash = "";
  const timeout = parseDuration(opts.timeout);
  if (!timeout.ok) throw new Error(`--timeout: ${timeout.message}`);
  if (!(timeout.ms > 0 && timeout.ms <= TIMEOUT_MS_MAX)) {
    throw new Error(`--timeout: ${quote(opts.timeout)} is out of range; expected more than 0 and at most 300s`);
  }
  return { healthzUrl: url.href, timeoutMs: timeout.ms };
}

/** One GET of /healthz; resolves to null when healthy, or a one-line reason when not. */
export async function checkHealth(target: HealthcheckTarget): Promise<string | null> {
  // Bun's fetch honours HTTP(S)_PROXY even for loopback; NO_PROXY=* (read per request) turns it off.
  for (const name of ["HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"]) {
    delete process.env[name];
  }
  process.env.NO_PROXY = "*";
  process.env.no_proxy = "*";
  try {
    const res = await fetch(target.healthzUrl, {
      signal: AbortSignal.timeout(target.timeoutMs),
      redirect: "manual",
      headers: { accept: "text/plain" },
    });
    await res.body?.cancel();
    if (res.status === 200) return null;
    return `${target.healthzUrl} answered ${res.status}; expected 200`;
  } catch (err) {
    const name = err instanceof Error ? err.name : "";
    if (name === "TimeoutError" || name === "AbortError") {
      return `${target.healthzUrl} did not answer within ${target.timeoutMs}ms`;
    }
    const code = (err as { code?: unknown }).code;
    const why = typeof code === "string" ? code.toLowerCase() : "unreachable";
    return `${target.healthzUrl} is unreachable (${why})`;
  }
}

export function registerHealthcheck(program: Command): void {
  program
    .command("healthcheck")
    .description("exit 0 if the cache-host answers GET /healthz with 200, else 1 (for container HEALTHCHECKs)")
    .option("--url <url>", "base url of the cache-host (host or host:port also work, as in WITHCACHE_SERVER)", DEFAULT_URL)
    .option("--timeout <duration>", "give up after this long, with a unit (5s, 500ms)", DEFAULT_TIMEOUT)
    .action(async (raw: unknown) => {
      const target = parseHealthcheckOptions(raw);
      const problem = await checkHealth(target);
      if (problem !== null) throw new Error(`healthcheck: ${problem}`);
      process.stdout.write(`healthy: ${target.healthzUrl}\n`);
    });
}
