// A real origin on 127.0.0.1:<any port>: a Bun.serve with a handler, counting requests per path.
import type { Server } from "bun";

export type Origin = {
  url: string;
  port: number;
  server: Server<undefined>;
  /** Requests seen, per pathname. */
  hits: Map<string, number>;
  requests: Array<{ method: string; path: string; headers: Record<string, string> }>;
  stop(): Promise<void>;
};

export function startOrigin(handler: (req: Request, server: Server<undefined>) => Response | Promise<Response>): Origin {
  const hits = new Map<string, number>();
  const requests: Origin["requests"] = [];
  const server = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    idleTimeout: 60,
    fetch(req, srv) {
      const path = new URL(req.url).pathname;
      hits.set(path, (hits.get(path) ?? 0) + 1);
      requests.push({ method: req.method, path, headers: req.headers.toJSON() });
      return handler(req, srv);
    },
  });
  return {
    url: `http://127.0.0.1:${server.port}`,
    port: server.port!,
    server,
    hits,
    requests,
    stop: () => server.stop(true),
  };
}
