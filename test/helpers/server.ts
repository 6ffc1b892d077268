// The real cache-host, in process, on 127.0.0.1:<any port>, with a temp data dir.
import { defaultServeConfig, type ServeConfig } from "../../src/config/schema.ts";
import { formatLogLine, type Logger } from "../../src/core/log.ts";
import { encodeToken } from "../../src/core/token.ts";
import { startServer, type RunningServer, type StartOptions } from "../../src/server/server.ts";
import { makeTempDir, type TempDir } from "./temp.ts";

export type TestServer = {
  url: string;
  running: RunningServer;
  dataDir: string;
  config: ServeConfig;
  logs: string[];
  /** Stop the server (and remove the data dir unless keepDataDir). */
  stop(options?: { keepDataDir?: boolean }): Promise<void>;
};

/**
 * Test defaults: loopback, any port, private origins allowed (origins run on 127.0.0.1), fast
 * retries, and a cold request answered as a plain miss at once (--first-byte-wait 0) so a test
 * of the miss path sees its 404; the stream-through and invisibility tests set the real 500 ms.
 */
export function testConfig(dataDir: string, overrides: Partial<ServeConfig> = {}): ServeConfig {
  return {
    ...defaultServeConfig(),
    dataDir,
    host: "127.0.0.1",
    port: 0,
    allowPrivateOrigins: true,
    fillBackoffMs: 20,
    fillBackoffMaxMs: 200,
    drainTimeoutMs: 2000,
    firstByteWaitMs: 0,
    ...overrides,
  };
}

export function memoryLogger(lines: string[]): Logger {
  return { event: (name, fields) => void lines.push(formatLogLine(Date.now(), name, fields)) };
}

export async function startTestServer(
  overrides: Partial<ServeConfig> = {},
  options: { dataDir?: TempDir; start?: Omit<StartOptions, "log"> } = {},
): Promise<TestServer> {
  const dir = options.dataDir ?? makeTempDir("withcache-data-");
  const config = testConfig(dir.path, overrides);
  const logs: string[] = [];
  const running = await startServer(config, { ...options.start, log: memoryLogger(logs) });
  return {
    url: running.url,
    running,
    dataDir: dir.path,
    config,
    logs,
    async stop(stopOptions = {}) {
      await running.stop();
      if (!stopOptions.keepDataDir) dir.cleanup();
    },
  };
}

/** The cache URL a shim would ask for: /b/<token>/<name>. */
/** A probe's answer for a stored artifact: 200, and not a fill being streamed through (X-Withcache-Filling). */
export async function isStored(response: Response | Promise<Response>): Promise<boolean> {
  const r = await response;
  return r.status === 200 && r.headers.get("x-withcache-filling") === null;
}

export function blobUrl(serverUrl: string, originUrl: string, name?: string): string {
  const last = name ?? (new URL(originUrl).pathname.split("/").pop() || "download");
  return `${serverUrl}/b/${encodeToken(originUrl)}/${encodeURIComponent(last)}`;
}
