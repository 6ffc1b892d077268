// A real PostgreSQL 15 for tests (Debian's package, installed by scripts/setup --test): initdb
// into a temp dir as an unprivileged user (postgres refuses to run as root), then a server on
// 127.0.0.1:<free port> with fsync off. Stop and start it again mid-test to test outages.
import { chmodSync, existsSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { SQL } from "bun";
import { makeTempDir, type TempDir } from "./temp.ts";

export const PG_BIN = "/usr/lib/postgresql/15/bin";

export type PostgresServer = {
  url: string;
  port: number;
  /** A new empty database on this server; its URL. */
  createDatabase(prefix: string): Promise<string>;
  halt(): Promise<void>;
  start(): Promise<void>;
  stop(): Promise<void>;
};

/** Run as `nobody` when we are root (initdb and postgres refuse root); as ourselves otherwise. */
function asUnprivileged(cmd: string[]): string[] {
  return process.getuid?.() === 0 ? ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", "--", ...cmd] : cmd;
}

async function freePort(): Promise<number> {
  const probe = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: () => new Response("") });
  const port = probe.port!;
  await probe.stop(true);
  return port;
}

export async function startPostgres(): Promise<PostgresServer> {
  if (!existsSync(join(PG_BIN, "postgres"))) throw new Error(`${PG_BIN}/postgres is missing; run scripts/setup --test`);
  const dir: TempDir = makeTempDir("withcache-pg-");
  chmodSync(dir.path, 0o777);
  const data = join(dir.path, "data");
  const init = Bun.spawnSync(asUnprivileged([join(PG_BIN, "initdb"), "-D", data, "-U", "postgres", "--auth=trust", "--no-sync", "-E", "UTF8"]), { stdout: "pipe", stderr: "pipe" });
  if (init.exitCode !== 0) throw new Error(`initdb failed: ${init.stderr.toString().trim()}`);
  mkdirSync(join(dir.path, "sock"), { recursive: true });
  chmodSync(join(dir.path, "sock"), 0o777);
  const port = await freePort();
  const url = `postgres://postgres@127.0.0.1:${port}/postgres`;
  let proc: ReturnType<typeof Bun.spawn> | null = null;
  const start = async (): Promise<void> => {
    proc = Bun.spawn(asUnprivileged([join(PG_BIN, "postgres"), "-D", data, "-k", join(dir.path, "sock"), "-h", "127.0.0.1", "-p", String(port), "-c", "fsync=off", "-c", "synchronous_commit=off"]), { stdout: "ignore", stderr: "pipe" });
    const deadline = Date.now() + 15_000;
    for (;;) {
      const ready = Bun.spawnSync([join(PG_BIN, "pg_isready"), "-h", "127.0.0.1", "-p", String(port), "-q"]).exitCode === 0;
      if (ready) return;
      if (proc.exitCode !== null || Date.now() > deadline) {
        const stderr = proc.stderr instanceof ReadableStream ? await new Response(proc.stderr).text() : "";
        throw new Error(`postgres did not start on port ${port}: ${stderr.trim() || "no answer"}`);
      }
      await Bun.sleep(25);
    }
  };
  const halt = async (): Promise<void> => {
    if (!proc) return;
    // SIGINT: fast shutdown (SIGKILL would leave shared memory for the next start to clean).
    proc.kill("SIGINT");
    await proc.exited;
    proc = null;
  };
  await start();
  let databases = 0;
  return {
    url,
    port,
    async createDatabase(prefix) {
      const name = `${prefix}_${++databases}`;
      const admin = new SQL(url, { max: 1 });
      try {
        await admin.unsafe(`CREATE DATABASE ${name}`);
      } finally {
        await admin.close();
      }
      return url.replace(/\/postgres$/, `/${name}`);
    },
    halt,
    start,
    async stop() {
      await halt();
      dir.cleanup();
    },
  };
}
