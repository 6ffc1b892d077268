// SHA-256 of a fill, computed on a Worker (the second core) while the event loop reads the origin
// and writes the temp file; in this thread when a Worker cannot be started. Either way the digest
// is that of the bytes given to update(), in order. Every sink must be dispose()d (a finally):
// that terminates its Worker, whatever path the fill took.
import { z } from "zod";
import { FillError } from "./origin.ts";

export type HashMode = "worker" | "thread";

export interface Sha256Sink {
  readonly mode: HashMode;
  /** Hash these bytes. The caller may reuse `chunk` at once: a worker sink hashes its own copy. */
  update(chunk: Uint8Array): void;
  /** Resolves when the worker has at most HASH_INFLIGHT_BYTES_MAX bytes still to hash. */
  drain(): Promise<void>;
  /** The hex digest of everything updated so far. */
  digest(): Promise<string>;
  /** Terminate the worker (idempotent). */
  dispose(): void;
}

/** Bytes posted to the worker and not hashed yet, at most; past it the fill waits (memory bound). */
const HASH_INFLIGHT_BYTES_MAX = 8 * 1024 * 1024;
/**
 * Chunks are copied into batches of this many bytes, one postMessage each: fetch hands over
 * 64 KiB chunks, and a message per chunk cost ~30 µs, as much as hashing it.
 */
const HASH_BATCH_BYTES = 1024 * 1024;
/** A worker that has not said it is ready in this long is not used. */
const WORKER_READY_TIMEOUT_MS = 5_000;
/**
 * Where the worker entrypoint may be: beside this file (running from source, tests), or at
 * fetch/hash-worker.ts under the entrypoint's directory: in the compiled binary this module sits in
 * a chunk at the bundle's root while the extra entrypoint keeps its path under src/.
 */
function workerCandidates(): string[] {
  const besideMain = Bun.pathToFileURL(Bun.main).href.replace(/[^/]*$/, "") + "fetch/hash-worker.ts";
  return [new URL("./hash-worker.ts", import.meta.url).href, besideMain];
}
/** The candidate that last started a worker: tried first from then on. */
let workingUrl: string | null = null;

const FromWorker = z.discriminatedUnion("t", [
  z.object({ t: z.literal("ready") }),
  z.object({ t: z.literal("a"), n: z.number().int().nonnegative(), b: z.instanceof(ArrayBuffer) }),
  z.object({ t: z.literal("d"), hex: z.string().regex(/^[0-9a-f]{64}$/) }),
]);

let liveWorkers = 0;
/** Hash workers alive in this process (tests check that none leak). */
export function liveHashWorkers(): number {
  return liveWorkers;
}

class ThreadSink implements Sha256Sink {
  readonly mode = "thread" as const;
  private readonly hasher = new Bun.CryptoHasher("sha256");
  update(chunk: Uint8Array): void {
    this.hasher.update(chunk);
  }
  async drain(): Promise<void> {}
  async digest(): Promise<string> {
    return this.hasher.digest("hex");
  }
  dispose(): void {}
}

class WorkerSink implements Sha256Sink {
  readonly mode = "worker" as const;
  private inflight = 0;
  /** The batch being filled, and buffers the worker gave back for reuse. */
  private batch: Uint8Array<ArrayBuffer> | null = null;
  private batchBytes = 0;
  private spare: ArrayBuffer[] = [];
  private failure: FillError | null = null;
  private disposed = false;
  private waiters: Array<{ resolve: () => void; reject: (err: Error) => void }> = [];
  private digestWaiter: { resolve: (hex: string) => void; reject: (err: Error) => void } | null = null;

  constructor(private readonly worker: Worker) {
    worker.onmessage = (event: MessageEvent): void => {
      const m = FromWorker.safeParse(event.data);
      if (!m.success) return this.fail(new FillError("sha-256 worker sent an unexpected message", "transient"));
      if (m.data.t === "a") {
        this.inflight -= m.data.n;
        if (m.data.b.byteLength === HASH_BATCH_BYTES && this.spare.length < 4) this.spare.push(m.data.b);
        if (this.inflight <= HASH_INFLIGHT_BYTES_MAX) this.release();
      } else if (m.data.t === "d") {
        const w = this.digestWaiter;
        this.digestWaiter = null;
        w?.resolve(m.data.hex);
      }
    };
    worker.onerror = (event: ErrorEvent): void => this.fail(new FillError(`sha-256 worker failed: ${(event.message || "error").split("\n")[0]}`, "transient"));
  }

  update(chunk: Uint8Array): void {
    if (this.failure) throw this.failure;
    // Copied into a batch buffer owned by this sink, transferred when full: the caller's chunk is
    // never shared with the worker, and a posted buffer is never touched again until it comes back.
    let at = 0;
    while (at < chunk.byteLength) {
      this.batch ??= new Uint8Array(this.spare.pop() ?? new ArrayBuffer(HASH_BATCH_BYTES));
      const take = Math.min(chunk.byteLength - at, HASH_BATCH_BYTES - this.batchBytes);
      this.batch.set(chunk.subarray(at, at + take), this.batchBytes);
      this.batchBytes += take;
      at += take;
      if (this.batchBytes === HASH_BATCH_BYTES) this.flush();
    }
  }

  private flush(): void {
    if (!this.batch || this.batchBytes === 0) return;
    const buffer = this.batch.buffer;
    const n = this.batchBytes;
    this.batch = null;
    this.batchBytes = 0;
    this.inflight += n;
    this.worker.postMessage({ t: "u", b: buffer, n }, [buffer]);
  }

  drain(): Promise<void> {
    if (this.failure) return Promise.reject(this.failure);
    if (this.inflight <= HASH_INFLIGHT_BYTES_MAX) return Promise.resolve();
    return new Promise((resolve, reject) => this.waiters.push({ resolve, reject }));
  }

  digest(): Promise<string> {
    if (this.failure) return Promise.reject(this.failure);
    if (this.digestWaiter) return Promise.reject(new FillError("sha-256 worker: digest already requested", "transient"));
    this.flush();
    return new Promise((resolve, reject) => {
      this.digestWaiter = { resolve, reject };
      this.worker.postMessage({ t: "d" });
    });
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.worker.terminate();
    liveWorkers--;
    this.fail(new FillError("sha-256 worker was stopped", "transient"));
  }

  private release(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) w.resolve();
  }

  private fail(err: FillError): void {
    if (!this.failure) this.failure = err;
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) w.reject(this.failure);
    const d = this.digestWaiter;
    this.digestWaiter = null;
    d?.reject(this.failure);
  }
}

/** Start a worker and wait for its "ready" (bounded); null when it cannot start (the reason via onFailure). */
async function startWorker(url: string, onFailure: (reason: string) => void): Promise<Worker | null> {
  let worker: Worker;
  try {
    worker = new Worker(url);
  } catch (err) {
    onFailure(err instanceof Error ? err.message : String(err));
    return null;
  }
  liveWorkers++;
  const reason = await new Promise<string | null>((resolve) => {
    const timer = setTimeout(() => resolve(`not ready after ${WORKER_READY_TIMEOUT_MS} ms`), WORKER_READY_TIMEOUT_MS);
    worker.onmessage = (event: MessageEvent): void => {
      clearTimeout(timer);
      resolve(FromWorker.safeParse(event.data).data?.t === "ready" ? null : "unexpected first message");
    };
    worker.onerror = (event: ErrorEvent): void => {
      clearTimeout(timer);
      resolve(event.message || "error");
    };
  });
  if (reason === null) return worker;
  worker.terminate();
  liveWorkers--;
  onFailure(reason.split("\n")[0]!);
  return null;
}

export type SinkOptions = {
  /** Hash on a worker (default true); false hashes in this thread. */
  useWorker?: boolean;
  /** The worker's entrypoint (tests); default the hash-worker.ts beside this file. */
  workerUrl?: string;
  /** Called when a worker could not be started, with a one-line reason. */
  onWorkerFailure?: (reason: string) => void;
};

/** A sink for one fill: a worker one when possible, else one that hashes in this thread. */
export async function openSha256Sink(options: SinkOptions = {}): Promise<Sha256Sink> {
  if (options.useWorker === false) return new ThreadSink();
  const candidates = options.workerUrl ? [options.workerUrl] : [...new Set([...(workingUrl ? [workingUrl] : []), ...workerCandidates()])];
  const reasons: string[] = [];
  for (const url of candidates) {
    const worker = await startWorker(url, (reason) => reasons.push(reason));
    if (worker) {
      if (!options.workerUrl) workingUrl = url;
      return new WorkerSink(worker);
    }
  }
  options.onWorkerFailure?.(reasons.join("; "));
  return new ThreadSink();
}
