// A real S3 server for tests: versitygw (built into .tools/bin by scripts/setup --test) serving
// a temp directory on 127.0.0.1:<free port>. Stop and start it again mid-test to test outages.
import { mkdirSync, utimesSync } from "node:fs";
import { join } from "node:path";
import { REPO_ROOT } from "./spawn-server.ts";
import { makeTempDir, type TempDir } from "./temp.ts";

export const VERSITYGW = join(REPO_ROOT, ".tools/bin/versitygw");

export type S3Server = {
  endpoint: string;
  accessKeyId: string;
  secretAccessKey: string;
  region: string;
  /** The AWS_* variables a withcache process needs to reach this server. */
  env: Record<string, string>;
  createBucket(name: string): Promise<void>;
  /** Make an object look `ageMs` old to listings (versitygw's posix backend reports the file's mtime). */
  backdate(bucket: string, key: string, ageMs: number): void;
  /** Stop the process (the data stays); `start()` brings it back on the same port. */
  halt(): Promise<void>;
  start(): Promise<void>;
  stop(): Promise<void>;
};

async function freePort(): Promise<number> {
  const probe = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: () => new Response("") });
  const port = probe.port!;
  await probe.stop(true);
  return port;
}

/** PUT /<bucket> signed with SigV4 (curl has it built in; Bun.S3Client makes no buckets). */
async function putBucket(s3: { endpoint: string; accessKeyId: string; secretAccessKey: string; region: string }, name: string): Promise<void> {
  const proc = Bun.spawn(
    ["curl", "-sS", "-f", "-X", "PUT", "--aws-sigv4", `aws:amz:${s3.region}:s3`, "-u", `${s3.accessKeyId}:${s3.secretAccessKey}`,
      "-H", "x-amz-content-sha256: e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", `${s3.endpoint}/${name}`],
    { stdout: "pipe", stderr: "pipe", timeout: 10_000 },
  );
  const [stderr, code] = await Promise.all([new Response(proc.stderr).text(), proc.exited]);
  if (code !== 0) throw new Error(`s3 test server: cannot create bucket ${name}: ${stderr.trim()}`);
}

export async function startS3Server(options: { dir?: TempDir } = {}): Promise<S3Server> {
  const dir = options.dir ?? makeTempDir("withcache-s3-");
  const root = join(dir.path, "root");
  mkdirSync(root, { recursive: true });
  const port = await freePort();
  const endpoint = `http://127.0.0.1:${port}`;
  const accessKeyId = "withcachetest";
  const secretAccessKey = "withcache-test-secret-key";
  const region = "us-east-1";
  let proc: ReturnType<typeof Bun.spawn> | null = null;

  const start = async (): Promise<void> => {
    proc = Bun.spawn([VERSITYGW, "--port", `127.0.0.1:${port}`, "--quiet", "posix", root], {
      env: { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: dir.path, ROOT_ACCESS_KEY_ID: accessKeyId, ROOT_SECRET_ACCESS_KEY: secretAccessKey },
      stdout: "ignore",
      stderr: "pipe",
    });
    const deadline = Date.now() + 10_000;
    for (;;) {
      const up = await fetch(endpoint, { signal: AbortSignal.timeout(1000) }).then(() => true, () => false);
      if (up) return;
      if (proc.exitCode !== null || Date.now() > deadline) {
        const stderr = proc.stderr instanceof ReadableStream ? await new Response(proc.stderr).text() : "";
        throw new Error(`s3 test server did not start on ${endpoint}: ${stderr.trim() || "no answer"}`);
      }
      await Bun.sleep(25);
    }
  };
  const halt = async (): Promise<void> => {
    if (!proc) return;
    proc.kill("SIGKILL");
    await proc.exited;
    proc = null;
  };
  await start();
  const s3 = { endpoint, accessKeyId, secretAccessKey, region };
  return {
    ...s3,
    env: { AWS_ENDPOINT_URL: endpoint, AWS_ACCESS_KEY_ID: accessKeyId, AWS_SECRET_ACCESS_KEY: secretAccessKey, AWS_REGION: region },
    createBucket: (name) => putBucket(s3, name),
    backdate: (bucket, key, ageMs) => {
      const then = new Date(Date.now() - ageMs);
      utimesSync(join(root, bucket, key), then, then);
    },
    halt,
    start,
    async stop() {
      await halt();
      if (!options.dir) dir.cleanup();
    },
  };
}

export type S3Forwarder = {
  endpoint: string;
  /** The AWS_* variables that reach the S3 server through this forwarder. */
  env: Record<string, string>;
  /** GETs of each object key (`<bucket>/<key>`) that went through. */
  gets(objectPath: string): number;
  /** The next whole-object GET of `objectPath` is cut (the connection dropped) after this many body bytes. */
  cutNextGet(objectPath: string, afterBytes: number): void;
  /** The next ranged GET of `objectPath` answers 206 with only this many bytes, ending cleanly (chunked, no length). */
  shortNextRangedGet(objectPath: string, bytes: number): void;
  /** Hold every upload (PUT, POST) until the returned function is called (a slow or stuck bucket). */
  holdUploads(): () => void;
  /**
   * Hold every heartbeat HEAD, or every object DELETE (a hung endpoint: no answer, connection
   * kept) until `release`: `arrived` counts those that came, `open` those whose client still
   * waits, `mostOpen` the most open at once. With `limit`, only the first `limit` are held (one
   * lost request), later ones pass.
   */
  hold(what: "heartbeats" | "deletes", limit?: number): Hold;
  stop(): Promise<void>;
};

export type Hold = { arrived(): number; open(): number; mostOpen(): number; release(): void };
type Held = { promise: Promise<void>; limit: number; arrived: number; open: number; mostOpen: number };

/**
 * A loopback HTTP forwarder in front of the S3 server, counting the GETs it passes on and cutting
 * one when told (an S3 failure mid-body). The Host header goes through unchanged, so SigV4
 * signatures made for the forwarder's address still verify.
 */
export function startS3Forwarder(s3: S3Server): S3Forwarder {
  const counts = new Map<string, number>();
  const cuts = new Map<string, number>();
  const shorts = new Map<string, number>();
  let uploadsHeld: Promise<void> | null = null;
  const holds = new Map<"heartbeats" | "deletes", Held>();
  const server = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    idleTimeout: 0,
    async fetch(req) {
      if ((req.method === "PUT" || req.method === "POST") && uploadsHeld !== null) await uploadsHeld;
      const url = new URL(req.url);
      const kind = req.method === "HEAD" && url.pathname.endsWith(".withcache-heartbeat") ? "heartbeats" : req.method === "DELETE" ? "deletes" : null;
      const held = kind === null ? undefined : holds.get(kind);
      if (held !== undefined && held.arrived < held.limit) {
        held.arrived++;
        held.open++;
        held.mostOpen = Math.max(held.mostOpen, held.open);
        // Open until the client gives up (its connection closes) or the hold ends.
        const gaveUp = new Promise<void>((resolve) => req.signal.addEventListener("abort", () => resolve(), { once: true }));
        await Promise.race([held.promise, gaveUp]);
        held.open--;
      }
      const path = decodeURIComponent(url.pathname.slice(1));
      const ranged = req.headers.has("range");
      if (req.method === "GET") counts.set(path, (counts.get(path) ?? 0) + 1);
      const body = req.method === "GET" || req.method === "HEAD" ? undefined : await req.arrayBuffer();
      const answer = await fetch(`${s3.endpoint}${url.pathname}${url.search}`, { method: req.method, headers: req.headers, body, redirect: "manual", decompress: false });
      const short = req.method === "GET" && ranged ? shorts.get(path) : undefined;
      if (short !== undefined && answer.body !== null) {
        shorts.delete(path);
        const bytes = new Uint8Array(await answer.arrayBuffer()).slice(0, short);
        const headers = new Headers(answer.headers);
        headers.delete("content-length");
        const body = new ReadableStream<Uint8Array>({
          start(controller) {
            controller.enqueue(bytes);
            controller.close();
          },
        });
        return new Response(body, { status: answer.status, headers });
      }
      const cutAt = req.method === "GET" && !ranged ? cuts.get(path) : undefined;
      if (cutAt === undefined || answer.body === null) return new Response(answer.body, { status: answer.status, headers: answer.headers });
      cuts.delete(path);
      const reader = answer.body.getReader();
      let sent = 0;
      const headers = new Headers(answer.headers);
      headers.delete("content-length");
      return new Response(
        new ReadableStream<Uint8Array>({
          async pull(controller) {
            const { done, value } = await reader.read();
            if (done) return controller.close();
            const take = Math.min(value.byteLength, cutAt - sent);
            if (take > 0) controller.enqueue(value.subarray(0, take));
            sent += take;
            if (sent >= cutAt) {
              await reader.cancel();
              controller.error(new Error("cut by the test's forwarder"));
            }
          },
        }),
        { status: answer.status, headers },
      );
    },
  });
  const endpoint = `http://127.0.0.1:${server.port}`;
  return {
    endpoint,
    env: { ...s3.env, AWS_ENDPOINT_URL: endpoint },
    gets: (objectPath) => counts.get(objectPath) ?? 0,
    cutNextGet: (objectPath, afterBytes) => void cuts.set(objectPath, afterBytes),
    shortNextRangedGet: (objectPath, bytes) => void shorts.set(objectPath, bytes),
    holdUploads: () => {
      let release!: () => void;
      uploadsHeld = new Promise<void>((resolve) => (release = resolve));
      return () => {
        uploadsHeld = null;
        release();
      };
    },
    hold: (what, limit = Number.POSITIVE_INFINITY) => {
      let release!: () => void;
      const held: Held = { promise: new Promise<void>((resolve) => (release = resolve)), limit, arrived: 0, open: 0, mostOpen: 0 };
      holds.set(what, held);
      return {
        arrived: () => held.arrived,
        open: () => held.open,
        mostOpen: () => held.mostOpen,
        release: () => {
          if (holds.get(what) === held) holds.delete(what);
          release();
        },
      };
    },
    stop: () => server.stop(true),
  };
}
