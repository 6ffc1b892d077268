// A fill as its streaming readers see it (stream-through): what the origin said, once its answer
// was judged storable; how many bytes of the temp file hold that answer; and whether those bytes
// were verified and committed, or cut. The fill's "stream to disk" stage publishes here, readers
// (server/stream-route.ts) read the temp file up to `written` and wait for news.
//
// A generation counts the versions of the bytes: readers remember the one they started with and
// stop (cut their client short) as soon as it changes, i.e. when an attempt must rewrite bytes
// they may have sent already. A resume that appends to the same version keeps the generation.

export type LiveHead = {
  contentType: string;
  contentDisposition: string | null;
  /** The artifact's full length when the origin said it, else null (streamed chunked). */
  totalBytes: number | null;
  /** The fill followed a redirect (the shims then serve it only to a tool that follows them). */
  redirected: boolean;
};

export type LiveState = "waiting" | "streaming" | "committed" | "cut";

/** Reads of the temp file kept for other streams at the same place (a herd reads in lockstep). */
const SHARED_READS_MAX = 8;

/** Readers are told of new bytes at most once per this many bytes… */
const NOTIFY_BYTES = 256 * 1024;
/** …or this long after the first unannounced byte, whichever comes first. */
const NOTIFY_DELAY_MS = 10;

export class LiveFill {
  readonly key: string;
  readonly jobId: number;
  /** The name of the temp file the fill writes (BlobStore.openTempReader); readers open it while streaming. */
  readonly tempName: string;
  head: LiveHead | null = null;
  /** Bytes of the temp file, from 0, that belong to the current generation. */
  written = 0;
  state: LiveState = "waiting";
  generation = 0;
  /** Why the bytes were cut (for the stream's log line). */
  cutReason: string | null = null;
  /** Clients streaming from this fill now (the Downloads page shows it). */
  streamers = 0;
  private announced = 0;
  private timer: ReturnType<typeof setTimeout> | null = null;
  private readonly waiters = new Set<() => void>();
  private readonly sharedReads = new Map<string, Promise<Uint8Array>>();

  constructor(key: string, jobId: number, tempName: string) {
    this.key = key;
    this.jobId = jobId;
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

  /** The attempt's answer is storable and its body is about to be written from `written` on. */
  publish(head: LiveHead): void {
    if (this.state === "committed" || this.state === "cut") return;
    if (this.head !== null && !sameHead(this.head, head)) this.rewindTo(0);
    this.head = head;
    this.state = "streaming";
    this.wakeAll();
  }

  /** `written` bytes are in the temp file (called after each write; readers hear in batches). */
  progress(written: number): void {
    this.written = written;
    if (written - this.announced >= NOTIFY_BYTES) this.wakeAll();
    else if (this.timer === null && written > this.announced) this.timer = setTimeout(() => this.wakeAll(), NOTIFY_DELAY_MS);
  }

  /** The bytes are verified (length, sha256) and the blob committed: streams may finish. */
  commit(sizeBytes: number): void {
    if (this.state === "cut") return;
    this.written = sizeBytes;
    this.state = "committed";
    this.wakeAll();
  }

  /** The fill failed, or must restart: every stream stops short. */
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

  private wakeAll(): void {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    this.announced = this.written;
    for (const w of [...this.waiters]) w();
  }
}

function sameHead(a: LiveHead, b: LiveHead): boolean {
  return a.totalBytes === b.totalBytes && a.contentType === b.contentType && a.contentDisposition === b.contentDisposition && a.redirected === b.redirected;
}
