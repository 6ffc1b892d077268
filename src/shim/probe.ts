// The probe: HEAD each cache URL concurrently, within one bounded budget. 200 → hit, 404 → miss,
// anything else (refused, timeout, other status, bad proxy) → unreachable.
// Plain http (the common case) goes over a raw socket so connect and total deadlines are ours
// and no environment proxy is picked up behind our back; https goes through fetch.
import type { ProbeOutcome, Tool } from "../core/plan/plan.ts";
import { proxyFor } from "../core/plan/proxy.ts";

/** A dead cache must cost at most about a second; a live one on the LAN connects in < 10 ms. */
export const PROBE_CONNECT_TIMEOUT_MS = 300;
export const PROBE_TOTAL_TIMEOUT_MS = 1000;
/** Enough for any status line; we read nothing else. */
const STATUS_LINE_BYTES_MAX = 4096;

type Env = Readonly<Record<string, string | undefined>>;

function outcomeOf(status: number): ProbeOutcome {
  return status === 200 ? "hit" : status === 404 ? "miss" : "unreachable";
}

function defaultPort(url: URL): number {
  return url.port !== "" ? Number(url.port) : url.protocol === "https:" ? 443 : 80;
}

/** HEAD over a raw TCP socket; `requestTarget` is origin-form, or absolute-form through a proxy. */
function rawHead(options: {
  hostname: string;
  port: number;
  requestTarget: string;
  hostHeader: string;
  extraHeaders: string;
  deadlineMs: number;
}): Promise<ProbeOutcome> {
  return new Promise((resolve) => {
    let settled = false;
    let connected = false;
    let received = "";
    let socketRef: { end(): void } | undefined;
    const finish = (outcome: ProbeOutcome): void => {
      if (settled) return;
      settled = true;
      clearTimeout(connectTimer);
      clearTimeout(totalTimer);
      socketRef?.end();
      resolve(outcome);
    };
    const remainingMs = Math.max(1, options.deadlineMs - Date.now());
    const connectTimer = setTimeout(() => {
      if (!connected) finish("unreachable");
    }, Math.min(PROBE_CONNECT_TIMEOUT_MS, remainingMs));
    const totalTimer = setTimeout(() => finish("unreachable"), remainingMs);
    const hostname = options.hostname.replace(/^\[|\]$/g, "");
    Bun.connect({
      hostname,
      port: options.port,
      socket: {
        open(socket) {
          connected = true;
          socketRef = socket;
          socket.write(
            `HEAD ${options.requestTarget} HTTP/1.1\r\nHost: ${options.hostHeader}\r\nUser-Agent: withcache-shim\r\n` +
              `${options.extraHeaders}Connection: close\r\n\r\n`,
          );
        },
        data(_socket, chunk) {
          received += chunk.toString("latin1");
          const lineEnd = received.indexOf("\r\n");
          if (lineEnd < 0) {
            if (received.length > STATUS_LINE_BYTES_MAX) finish("unreachable");
            return;
          }
          const match = /^HTTP\/\d(?:\.\d)? (\d{3})/.exec(received.slice(0, lineEnd));
          finish(match ? outcomeOf(Number(match[1])) : "unreachable");
        },
        close() {
          finish("unreachable");
        },
        error() {
          finish("unreachable");
        },
        connectError() {
          finish("unreachable");
        },
      },
    }).catch(() => finish("unreachable"));
  });
}

async function fetchHead(cacheUrl: string, proxy: string | undefined, deadlineMs: number): Promise<ProbeOutcome> {
  // Bun's fetch reads proxy variables itself (and by its own rules); the decision was already
  // made by proxyFor, so pin it. All probes of one command go to the same server, hence agree.
  // The tool's environment is a snapshot taken before this (see run.ts).
  for (const name of ["HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy", "NO_PROXY", "no_proxy"]) {
    delete process.env[name];
  }
  if (proxy === undefined) process.env.NO_PROXY = "*";
  try {
    const response = await fetch(cacheUrl, {
      method: "HEAD",
      redirect: "manual",
      signal: AbortSignal.timeout(Math.max(1, deadlineMs - Date.now())),
      ...(proxy === undefined ? {} : { proxy }),
    });
    return outcomeOf(response.status);
  } catch {
    return "unreachable";
  }
}

function basicProxyAuth(proxy: URL): string {
  if (proxy.username === "" && proxy.password === "") return "";
  const credentials = `${decodeURIComponent(proxy.username)}:${decodeURIComponent(proxy.password)}`;
  return `Proxy-Authorization: Basic ${Buffer.from(credentials).toString("base64")}\r\n`;
}

export async function probeOne(tool: Tool, cacheUrl: string, env: Env, deadlineMs: number): Promise<ProbeOutcome> {
  let url: URL;
  try {
    url = new URL(cacheUrl);
  } catch {
    return "unreachable";
  }
  const proxy = proxyFor(tool, url, env);
  if (proxy.kind === "unsupported") return "unreachable";
  const hostHeader = url.host;
  if (url.protocol === "https:") return fetchHead(cacheUrl, proxy.kind === "http" ? proxy.url : undefined, deadlineMs);
  if (proxy.kind === "http") {
    let proxyUrl: URL;
    try {
      proxyUrl = new URL(proxy.url);
    } catch {
      return "unreachable";
    }
    if (proxyUrl.protocol === "https:") return fetchHead(cacheUrl, proxy.url, deadlineMs);
    return rawHead({
      hostname: proxyUrl.hostname,
      port: defaultPort(proxyUrl),
      requestTarget: cacheUrl,
      hostHeader,
      extraHeaders: basicProxyAuth(proxyUrl),
      deadlineMs,
    });
  }
  return rawHead({
    hostname: url.hostname,
    port: defaultPort(url),
    requestTarget: `${url.pathname}${url.search}`,
    hostHeader,
    extraHeaders: "",
    deadlineMs,
  });
}

/** Probe every cache URL at once; the whole batch shares one deadline. */
export async function probeAll(
  tool: Tool,
  probes: ReadonlyMap<string, string>,
  env: Env,
  nowMs: number,
): Promise<Map<string, ProbeOutcome>> {
  const deadlineMs = nowMs + PROBE_TOTAL_TIMEOUT_MS;
  const entries = [...probes];
  const results = await Promise.all(entries.map(([, cacheUrl]) => probeOne(tool, cacheUrl, env, deadlineMs)));
  const outcomes = new Map<string, ProbeOutcome>();
  entries.forEach(([originUrl], k) => outcomes.set(originUrl, results[k]!));
  return outcomes;
}
