// The probe: HEAD each cache URL concurrently, within one bounded budget. 200 → hit (or
// hit-redirected when the response carries `X-Withcache-Redirected: 1`), 404 → miss, anything
// else (refused, timeout, other status, bad proxy, a 200 whose head does not end) → unreachable.
// Plain http (the common case) goes over a raw socket, directly or through the http proxy the
// tool would use, so connect and total deadlines are ours. An https cache (or an https proxy) is
// probed with the real tool itself (curl -I / wget --spider), so certificates, CA paths and proxies
// are judged exactly as the tool will judge them when it downloads; the Zig shim does the same.
import type { ProbeOutcome, Tool } from "../core/plan/plan.ts";
import { proxyFor } from "../core/plan/proxy.ts";

/** A dead cache must cost at most about a second; a live one on the LAN connects in < 10 ms. */
const PROBE_CONNECT_TIMEOUT_MS = 300;
const PROBE_TOTAL_TIMEOUT_MS = 1000;
/** The response head we read (the cache-host's is under 1 KiB); the Zig shim reads as much. */
const RESPONSE_HEAD_BYTES_MAX = 4096;
const REDIRECTED_HEADER = "x-withcache-redirected";

type Env = Readonly<Record<string, string | undefined>>;

function outcomeOf(status: number, redirected = false): ProbeOutcome {
  return status === 200 ? (redirected ? "hit-redirected" : "hit") : status === 404 ? "miss" : "unreachable";
}

/** A header line `X-Withcache-Redirected: 1` (name in any ASCII case, value trimmed of SP/HTAB/CR). */
function isRedirectedLine(line: string): boolean {
  const colon = line.indexOf(":");
  if (colon < 0 || line.slice(0, colon).toLowerCase() !== REDIRECTED_HEADER) return false;
  return line.slice(colon + 1).replace(/^[ \t\r]+|[ \t\r]+$/g, "") === "1";
}

/**
 * A raw response head (the first RESPONSE_HEAD_BYTES_MAX bytes, latin1) → outcome. The status
 * line must end in CRLF and match /^HTTP\/\d(?:\.\d)? (\d{3})/; a 200 must also show the end of
 * its head (CRLF CRLF) so the redirect header cannot have been cut off.
 */
export function headOutcome(received: string): ProbeOutcome {
  const head = received.slice(0, RESPONSE_HEAD_BYTES_MAX);
  const lineEnd = head.indexOf("\r\n");
  if (lineEnd < 0) return "unreachable";
  const match = /^HTTP\/\d(?:\.\d)? (\d{3})/.exec(head.slice(0, lineEnd));
  if (!match) return "unreachable";
  const status = Number(match[1]);
  if (status !== 200) return outcomeOf(status);
  const headEnd = head.indexOf("\r\n\r\n");
  if (headEnd < 0) return "unreachable";
  const lines = head.slice(lineEnd + 2, headEnd).split("\r\n");
  return outcomeOf(status, lines.some(isRedirectedLine));
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
          // Judge once the head is complete, or as soon as it cannot become a hit any more.
          const lineEnd = received.indexOf("\r\n");
          const notOk = lineEnd >= 0 && !/^HTTP\/\d(?:\.\d)? 200/.test(received.slice(0, lineEnd));
          if (notOk || received.includes("\r\n\r\n") || received.length >= RESPONSE_HEAD_BYTES_MAX) finish(headOutcome(received));
        },
        close() {
          finish(headOutcome(received));
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

/** Seconds as the tools take them on the command line, e.g. 0.3 or 1. */
function secondsText(ms: number): string {
  return String(Math.max(1, Math.round(ms)) / 1000);
}

/** What curl prints for `-w`: the status, a space, the redirect header's value (empty if absent). */
const CURL_PROBE_FORMAT = `%{http_code} %header{${REDIRECTED_HEADER}}`;

/**
 * curl: `NNN` or `NNN VALUE` (trimmed) from CURL_PROBE_FORMAT; VALUE `1` is a redirected hit, and
 * so is any other VALUE (a curl before 7.84 prints the `%header{…}` text itself: unknown, so the
 * safe reading). wget: the first "HTTP/1.x NNN" line of -S output, then any later header line
 * `X-Withcache-Redirected: 1` (leading blanks allowed, name in any case).
 */
export function toolProbeOutcome(tool: Tool, output: string): ProbeOutcome {
  if (tool === "curl") {
    const text = output.trim();
    if (!/^\d{3}(?: |$)/.test(text)) return "unreachable";
    return outcomeOf(Number(text.slice(0, 3)), text.length > 3);
  }
  const match = /HTTP\/\S+ (\d{3})(?:[ \r\n]|$)/.exec(output);
  if (!match) return "unreachable";
  const after = output.slice(match.index).split("\n").slice(1);
  return outcomeOf(Number(match[1]), after.some((line) => isRedirectedLine(line.replace(/^[ \t]+/, ""))));
}

async function probeWithTool(tool: Tool, realTool: string, cacheUrl: string, env: Env, deadlineMs: number): Promise<ProbeOutcome> {
  const remainingMs = Math.max(1, deadlineMs - Date.now());
  // The user's ~/.curlrc and wgetrc apply on purpose: they may carry the CA for the cache.
  const args =
    tool === "curl"
      ? ["-s", "-I", "-o", "/dev/null", "-w", CURL_PROBE_FORMAT, "--connect-timeout", secondsText(Math.min(PROBE_CONNECT_TIMEOUT_MS, remainingMs)), "--max-time", secondsText(remainingMs), cacheUrl]
      : ["-q", "--spider", "-S", "-t", "1", "-T", secondsText(remainingMs), "--max-redirect=0", "-O", "/dev/null", cacheUrl];
  const childEnv: Record<string, string> = {};
  for (const [key, value] of Object.entries(env)) if (value !== undefined) childEnv[key] = value;
  try {
    const child = Bun.spawn([realTool, ...args], {
      env: childEnv,
      stdin: "ignore",
      stdout: tool === "curl" ? "pipe" : "ignore",
      stderr: tool === "wget" ? "pipe" : "ignore",
      timeout: remainingMs,
      killSignal: "SIGKILL",
    });
    const stream = tool === "curl" ? child.stdout : child.stderr;
    const [output] = await Promise.all([new Response(stream as ReadableStream<Uint8Array>).text(), child.exited]);
    if (child.signalCode) return "unreachable";
    return toolProbeOutcome(tool, output.slice(0, RESPONSE_HEAD_BYTES_MAX));
  } catch {
    return "unreachable";
  }
}

function basicProxyAuth(proxy: URL): string {
  if (proxy.username === "" && proxy.password === "") return "";
  const credentials = Buffer.concat([percentDecode(proxy.username), Buffer.from(":"), percentDecode(proxy.password)]);
  return `Proxy-Authorization: Basic ${credentials.toString("base64")}\r\n`;
}

/** Percent-decodes to bytes; a malformed escape (`%zz`, a lone `%`) stays as typed instead of
 *  throwing, like the Zig shim, so an odd proxy URL can never stop the real tool from running. */
function percentDecode(text: string): Buffer {
  const raw = Buffer.from(text, "utf8");
  const out: number[] = [];
  const isHex = (b: number | undefined) => b !== undefined && /^[0-9a-fA-F]$/.test(String.fromCharCode(b));
  for (let i = 0; i < raw.length; i += 1) {
    if (raw[i] === 0x25 && isHex(raw[i + 1]) && isHex(raw[i + 2])) {
      out.push(parseInt(String.fromCharCode(raw[i + 1]!, raw[i + 2]!), 16));
      i += 2;
    } else {
      out.push(raw[i]!);
    }
  }
  return Buffer.from(out);
}

async function probeOne(tool: Tool, realTool: string, cacheUrl: string, env: Env, deadlineMs: number): Promise<ProbeOutcome> {
  let url: URL;
  try {
    url = new URL(cacheUrl);
  } catch {
    return "unreachable";
  }
  if (url.protocol === "https:") return probeWithTool(tool, realTool, cacheUrl, env, deadlineMs);
  const proxy = proxyFor(tool, url, env);
  if (proxy.kind === "unsupported") return "unreachable";
  const hostHeader = url.host;
  if (proxy.kind === "http") {
    let proxyUrl: URL;
    try {
      proxyUrl = new URL(proxy.url);
    } catch {
      return "unreachable";
    }
    if (proxyUrl.protocol === "https:") return probeWithTool(tool, realTool, cacheUrl, env, deadlineMs);
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
  realTool: string,
  probes: ReadonlyMap<string, string>,
  env: Env,
  nowMs: number,
): Promise<Map<string, ProbeOutcome>> {
  const deadlineMs = nowMs + PROBE_TOTAL_TIMEOUT_MS;
  const entries = [...probes];
  const results = await Promise.all(entries.map(([, cacheUrl]) => probeOne(tool, realTool, cacheUrl, env, deadlineMs)));
  const outcomes = new Map<string, ProbeOutcome>();
  entries.forEach(([originUrl], k) => outcomes.set(originUrl, results[k]!));
  return outcomes;
}
