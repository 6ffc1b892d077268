// Shared by the operator UI tests: a real server on 127.0.0.1:0 with a temp data dir, a real
// origin whose slow downloads advance only when the test says so, and a tiny cookie-keeping
// HTTP client that behaves like a browser form (Origin header, CSRF field, manual redirects).
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import type { ServeConfig } from "../src/config/schema.ts";
import type { LogFields } from "../src/core/log.ts";
import { startServer, type RunningServer } from "../src/server/server.ts";
import { testConfig } from "./helpers/index.ts";

export type LogEvent = { name: string; fields: LogFields };

export type UiServer = {
  running: RunningServer;
  base: string;
  dataDir: string;
  events: LogEvent[];
  /** All log output as one string, to check that nothing secret was logged. */
  logText(): string;
  stop(): Promise<void>;
};

export async function startUi(options: {
  password?: string;
  trustProxy?: boolean;
  curate?: boolean;
  dataDir?: string;
  sessionSecret?: string;
  nowMs?: () => number;
  originIdleTimeoutMs?: number;
}): Promise<UiServer> {
  const dataDir = options.dataDir ?? mkdtempSync(join(tmpdir(), "withcache-ui-"));
  const config: ServeConfig = testConfig(dataDir, {
    curate: options.curate ?? true,
    trustProxy: options.trustProxy ?? false,
    fillAttempts: 1,
    fillBackoffMs: 10,
    originIdleTimeoutMs: options.originIdleTimeoutMs ?? 60_000,
    drainTimeoutMs: 1000,
  });
  if (options.password !== undefined) config.adminPassword = options.password;
  if (options.sessionSecret !== undefined) config.sessionSecret = options.sessionSecret;
  const events: LogEvent[] = [];
  const running = await startServer(config, {
    log: { event: (name, fields) => events.push({ name, fields }) },
    ...(options.nowMs ? { nowMs: options.nowMs } : {}),
  });
  return {
    running,
    base: running.url,
    dataDir,
    events,
    logText: () => events.map((e) => `${e.name} ${JSON.stringify(e.fields)}`).join("\n"),
    stop: async () => {
      await running.stop({ drainTimeoutMs: 500 });
      if (options.dataDir === undefined) rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** Deterministic bytes for /file/<name>. */
export function fileBytes(size: number): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(size);
  for (let i = 0; i < size; i++) out[i] = (i * 31 + 7) & 0xff;
  return out;
}

type Slow = { chunks: number; chunkBytes: number; delayMs: number; allowed: number; sent: number; waiters: Array<() => void>; started: () => void; startedPromise: Promise<void> };

export type Origin = {
  base: string;
  /** Declare a slow download at /slow/<name>: `chunks` chunks with a Content-Length. Gated
   *  (default): each chunk goes out only when the test allows it. Paced (delayMs): the origin
   *  itself sends one chunk per delayMs, like a distant mirror. */
  slow(name: string, options: { chunks: number; chunkBytes: number; delayMs?: number }): { allow(n?: number): void; allowAll(): void; started: Promise<void>; sent(): number };
  stop(): void;
};

// node:http rather than Bun.serve: Bun drops Content-Length on streamed bodies, and the UI's
// progress bars need a known total.
export async function startOrigin(): Promise<Origin> {
  const slows = new Map<string, Slow>();
  const server = createServer((req, res) => {
    const url = new URL(req.url ?? "/", "http://origin");
    const [, kind, name] = url.pathname.split("/");
    if (kind === "file") {
      const size = Number(url.searchParams.get("size") ?? "1000");
      res.writeHead(200, { "content-type": "application/octet-stream", "content-length": String(size) });
      res.end(fileBytes(size));
      return;
    }
    const s = kind === "slow" && name !== undefined ? slows.get(name) : undefined;
    if (s === undefined) {
      res.writeHead(404, { "content-type": "text/plain" });
      res.end("not here\n");
      return;
    }
    s.started();
    res.writeHead(200, { "content-type": "application/octet-stream", "content-length": String(s.chunks * s.chunkBytes) });
    const chunk = fileBytes(s.chunkBytes);
    let sent = 0; // per request: a retried fill starts again from the first chunk
    let closed = false;
    res.on("close", () => (closed = true));
    const pump = async () => {
      while (sent < s.chunks && !closed) {
        if (s.delayMs > 0 && sent > 0) await Bun.sleep(s.delayMs);
        while (sent >= s.allowed && !closed) await new Promise<void>((resolve) => s.waiters.push(resolve));
        if (closed) break;
        sent++;
        s.sent = Math.max(s.sent, sent);
        res.write(chunk);
      }
      if (!closed) res.end();
    };
    void pump();
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as AddressInfo).port;
  const wakeAll = (s: Slow) => {
    for (const w of s.waiters.splice(0)) w();
  };
  return {
    base: `http://127.0.0.1:${port}`,
    slow(name, options) {
      let started!: () => void;
      const startedPromise = new Promise<void>((resolve) => (started = resolve));
      const s: Slow = { chunks: options.chunks, chunkBytes: options.chunkBytes, delayMs: options.delayMs ?? 0, allowed: options.delayMs ? options.chunks : 0, sent: 0, waiters: [], started, startedPromise };
      slows.set(name, s);
      return {
        allow: (n = 1) => {
          s.allowed += n;
          wakeAll(s);
        },
        allowAll: () => {
          s.allowed = s.chunks;
          wakeAll(s);
        },
        started: startedPromise,
        sent: () => s.sent,
      };
    },
    stop() {
      for (const s of slows.values()) {
        s.allowed = s.chunks;
        wakeAll(s);
      }
      server.closeAllConnections();
      server.close();
    },
  };
}

/** The CSRF token of a rendered page (every form carries the same one). */
export function csrfOf(html: string): string {
  const m = /name="_csrf" value="([^"]+)"/.exec(html);
  if (!m) throw new Error("no csrf field in page");
  return m[1]!;
}

export type ClientResponse = { status: number; headers: Headers; text: string };

/** A browser-like client: keeps the session cookie, sends Origin on posts, never follows redirects. */
export class FormClient {
  cookie: string | null = null;
  constructor(readonly base: string) {}

  private remember(res: Response): void {
    const set = res.headers.get("set-cookie");
    if (set === null) return;
    const m = /^withcache_session=([^;]*)/.exec(set);
    if (m) this.cookie = m[1] === "" ? null : m[1]!;
  }

  async request(method: string, path: string, options: { hx?: boolean; form?: Record<string, string>; headers?: Record<string, string>; origin?: string | null } = {}): Promise<ClientResponse> {
    const headers: Record<string, string> = { ...options.headers };
    if (this.cookie !== null) headers.cookie = `withcache_session=${this.cookie}`;
    if (options.hx) headers["hx-request"] = "true";
    if (method === "POST" && options.origin !== null) headers.origin = options.origin ?? this.base;
    let body: string | undefined;
    if (options.form) {
      headers["content-type"] = "application/x-www-form-urlencoded";
      body = new URLSearchParams(options.form).toString();
    }
    const res = await fetch(this.base + path, { method, headers, body, redirect: "manual" });
    this.remember(res);
    return { status: res.status, headers: res.headers, text: await res.text() };
  }

  get(path: string, options: { hx?: boolean; headers?: Record<string, string> } = {}): Promise<ClientResponse> {
    return this.request("GET", path, options);
  }

  /** POST a form the way the page would: with the page's CSRF token unless given one. */
  async post(path: string, form: Record<string, string>, options: { hx?: boolean; csrfFrom?: string; origin?: string | null; headers?: Record<string, string> } = {}): Promise<ClientResponse> {
    let fields = form;
    if (!("_csrf" in form)) {
      const page = await this.get(options.csrfFrom ?? "/admin/add");
      fields = { _csrf: csrfOf(page.text), ...form };
    }
    return this.request("POST", path, { form: fields, hx: options.hx, origin: options.origin, headers: options.headers });
  }

  async login(password: string, options: { headers?: Record<string, string> } = {}): Promise<ClientResponse> {
    const page = await this.get("/login", options);
    return this.request("POST", "/login", { form: { _csrf: csrfOf(page.text), password, next: "/admin/misses" }, headers: options.headers });
  }
}
