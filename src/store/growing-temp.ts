// A temp file that is still being written, as its readers see it: how many bytes from 0 are on
// disk, whether they were verified (length, sha256) or cut, and news of either. A fill
// (fetch/live-fill.ts, stream-through) and the S3 store's local copy of a blob (s3-blobs.ts, a
// first hit streamed from the copy while it arrives) both write one; streamGrowingTemp is the one
// reader of it, for both: bytes on disk at disk speed, then each new byte as it arrives, the last
// byte only once the writer verified them all, an error (never a short, complete-looking end) when
// the bytes are cut.
//
// A generation counts the versions of the bytes: readers remember the one they started with and
// stop (cut their client short) as soon as it changes, i.e. when the writer must rewrite bytes
// they may have sent already. An append to the same version keeps the generation.
import type { TempReader } from "./types.ts";

export type GrowingState = "waiting" | "streaming" | "committed" | "cut";

/** Reads of the temp file kept for other streams at the same place (a herd reads in lockstep). */
const SHARED_READS_MAX = 8;
/** Readers are told of new bytes at most once per this many bytes… */
const NOTIFY_BYTES = 256 * 1024;
/** …or this long after the first unannounced byte, whichever comes first. */
const NOTIFY_DELAY_MS = 10;
/** Bytes read from the temp file per step of a stream. */
const CHUNK_BYTES = 256 * 1024;
/** A stream waiting for bytes looks at its writer again at least this often. */
const WAIT_SLICE_MS = 1000;

export class GrowingTemp {
  /** The name of the temp file being written (BlobStore.openTempReader); readers open it. */
  readonly tempName: string;
  /** Bytes of the temp file, from 0, that belong to the current generation. */
  written = 0;
  state: GrowingState = "waiting";
  generation = 0;
  /** Why the bytes were cut (for the stream's log line). */
  cutReason: string | null = null;
  private announced = 0;
  private timer: ReturnType<typeof setTimeout> | null = null;
  private readonly waiters = new Set<() => void>();
  private readonly sharedReads = new Map<string, Promise<Uint8Array>>();

  constructor(tempName: string) {
    this.tempName = tempName;
  }

  /** The bytes from `offset` on are about to be (re)written: readers that may hold them stop. */
  rewindTo(offset: number): void {
    if (offset >= this.written) return;
    this.generation++;
    this.written = offset;
    this.announced = offset;
    this.wakeAll();
  }

  /** Other bytes from 0 on: every reader stops, whether or not any byte was written yet. */
  newGeneration(): void {
    this.generation++;
    this.written = 0;
    this.announced = 0;
    this.wakeAll();
  }

  /** Bytes are about to be written from `written` on: readers may start. */
  start(): void {
    if (this.state === "committed" || this.state === "cut") return;
    this.state = "streaming";
    this.wakeAll();
  }

  /** `written` bytes are in the temp file (called after each write; readers hear in batches). */
  progress(written: number): void {
    this.written = written;
    if (written - this.announced >= NOTIFY_BYTES) this.wakeAll();
    else if (this.timer === null && written > this.announced) this.timer = setTimeout(() => this.wakeAll(), NOTIFY_DELAY_MS);
  }

  /** The bytes are verified (length, sha256): streams may finish. */
  commit(sizeBytes: number): void {
    if (this.state === "cut") return;
    this.written = sizeBytes;
    this.state = "committed";
    this.wakeAll();
  }

  /** The writer failed, or must restart: every stream stops short. */
  cut(reason: string): void {
    if (this.state === "committed" || this.state === "cut") return;
    this.generation++;
    this.state = "cut";
    this.cutReason = reason;
    this.wakeAll();
  }

  /**
   * The bytes at [position, position + length) of this generation, read once for every stream
   * that asks for the same range: streams woken by the same news ask for the same bytes, and one
   * read (one copy, one buffer) then serves them all. A failed read is not kept.
   */
  sharedRead(position: number, length: number, read: () => Promise<Uint8Array>): Promise<Uint8Array> {
    const key = `${this.generation}:${position}:${length}`;
    const known = this.sharedReads.get(key);
    if (known !== undefined) return known;
    const pending = read();
    this.sharedReads.set(key, pending);
    if (this.sharedReads.size > SHARED_READS_MAX) this.sharedReads.delete(this.sharedReads.keys().next().value!);
    pending.catch(() => this.sharedReads.delete(key));
    return pending;
  }

  /** Resolves on news (bytes, commit, cut) or after `timeoutMs`. */
  waitForNews(timeoutMs: number): Promise<void> {
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        this.waiters.delete(done);
        resolve();
      };
      const timer = setTimeout(done, Math.max(0, timeoutMs));
      this.waiters.add(done);
    });
  }

  protected wakeAll(): void {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    this.announced = this.written;
    for (const w of [...this.waiters]) w();
  }
}

export type GrowingOutcome = "complete" | "cut" | "client-gone";

/**
 * Bytes [start, endExclusive) of a growing temp file through `reader` (closed when the stream
 * ends); `endExclusive` null: to the end, known once the writer commits. Until the writer has
 * committed, the final byte of a known end is held back; a cut (or a new generation) errors the
 * stream. `onFinish` is told once how it ended and how many bytes went out.
 */
export function streamGrowingTemp(
  growing: GrowingTemp,
  reader: TempReader,
  range: { start: number; endExclusive: number | null },
  onFinish: (outcome: GrowingOutcome, bytes: number, reason?: string) => void = () => {},
): ReadableStream<Uint8Array> {
  const { start, endExclusive } = range;
  const generation = growing.generation;
  let position = start;
  let finished = false;
  const finish = (outcome: GrowingOutcome, reason?: string): void => {
    if (finished) return;
    finished = true;
    reader.close();
    onFinish(outcome, position - start, reason);
  };
  return new ReadableStream<Uint8Array>(
    {
      async pull(controller) {
        try {
          for (;;) {
            if (growing.generation !== generation) {
              finish("cut", growing.cutReason ?? "the writer had to start over");
              controller.error(new Error(`the bytes were cut: ${growing.cutReason ?? "the writer had to start over"}`));
              return;
            }
            const committed = growing.state === "committed";
            const end = endExclusive ?? (committed ? growing.written : null);
            if (committed && end !== null && position >= end) {
              finish("complete");
              controller.close();
              return;
            }
            // Until the writer verified them, the final byte of a known length is held back.
            let limit = growing.written;
            if (end !== null) limit = Math.min(limit, committed ? end : end - 1);
            if (position < limit) {
              const length = Math.min(CHUNK_BYTES, limit - position);
              const own = () => reader.read(position, length);
              // Another stream's read of the same bytes if there is one (its reader may close
              // under it: then this stream reads for itself).
              const chunk = await growing.sharedRead(position, length, own).catch(own);
              if (growing.generation !== generation) continue;
              if (chunk.byteLength === 0) throw new Error(`the temp file ends before byte ${position}`);
              position += chunk.byteLength;
              controller.enqueue(chunk);
              return;
            }
            await growing.waitForNews(WAIT_SLICE_MS);
          }
        } catch (err) {
          finish("cut", (err instanceof Error ? err.message : String(err)).split("\n")[0]);
          controller.error(err);
        }
      },
      cancel() {
        finish("client-gone");
      },
    },
    { highWaterMark: 0 },
  );
}
