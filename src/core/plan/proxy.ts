// Which proxy the real tool would use for a cache URL, from the environment alone, so the probe
// sees what the tool will see. Argv proxy options (-x, --noproxy, wget --no-proxy) are not read.
import type { Tool } from "./plan.ts";

export type ProxyChoice = { kind: "direct" } | { kind: "http"; url: string } | { kind: "unsupported"; url: string };

type Env = Readonly<Record<string, string | undefined>>;

function firstSet(env: Env, names: readonly string[]): string | undefined {
  for (const name of names) {
    const value = env[name];
    if (value !== undefined && value !== "") return value;
  }
  return undefined;
}

/** no_proxy: comma-separated; `*` is everything; an entry matches the host or any subdomain. */
export function hostIsExempt(host: string, noProxy: string | undefined): boolean {
  if (noProxy === undefined) return false;
  const bareHost = host.replace(/^\[|\]$/g, "").toLowerCase();
  for (const raw of noProxy.split(",")) {
    const entry = raw.trim().replace(/^\./, "").replace(/^\[|\]$/g, "").toLowerCase();
    if (entry === "") continue;
    if (entry === "*") return true;
    if (bareHost === entry || bareHost.endsWith(`.${entry}`)) return true;
  }
  return false;
}

/**
 * curl: http_proxy (lower case only) for http, https_proxy/HTTPS_PROXY for https, then
 * all_proxy/ALL_PROXY; no_proxy/NO_PROXY exempts hosts. wget: http_proxy/https_proxy and
 * no_proxy, lower case only. A proxy without a scheme is http; socks proxies are unsupported
 * (the probe then reports unreachable and the command passes through).
 */
export function proxyFor(tool: Tool, cacheUrl: URL, env: Env): ProxyChoice {
  const https = cacheUrl.protocol === "https:";
  const names =
    tool === "curl"
      ? [...(https ? ["https_proxy", "HTTPS_PROXY"] : ["http_proxy"]), "all_proxy", "ALL_PROXY"]
      : [https ? "https_proxy" : "http_proxy"];
  const proxy = firstSet(env, names);
  if (proxy === undefined) return { kind: "direct" };
  const noProxy = tool === "curl" ? firstSet(env, ["no_proxy", "NO_PROXY"]) : firstSet(env, ["no_proxy"]);
  if (hostIsExempt(cacheUrl.hostname, noProxy)) return { kind: "direct" };
  const withScheme = /^[a-z][a-z0-9+.-]*:\/\//i.test(proxy) ? proxy : `http://${proxy}`;
  if (/^https?:\/\//i.test(withScheme)) return { kind: "http", url: withScheme };
  return { kind: "unsupported", url: withScheme };
}
