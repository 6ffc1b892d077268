// A fill as its streaming readers see it (stream-through): what the origin said, once its answer
// was judged storable, and its temp file as it grows (store/growing-temp.ts: how many bytes hold
// that answer, whether they were verified and committed, or cut). The fill's "stream to disk"
// stage publishes here, readers (server/stream-route.ts) read the temp file up to `written` and
// wait for news. A resume that appends to the same version keeps the generation.
import { GrowingTemp, type GrowingState } from "../store/growing-temp.ts";

export type LiveHead = {
  contentType: string;
  contentDisposition: string | null;
  /** The artifact's full length when the origin said it, else null (streamed chunked). */
  totalBytes: number | null;
  /** The fill followed a redirect (the shims then serve it only to a tool that follows them). */
  redirected: boolean;
};

export type LiveState = GrowingState;

export class LiveFill extends GrowingTemp {
  readonly key: string;
  readonly jobId: number;
  head: LiveHead | null = null;
  /** Clients streaming from this fill now (the Downloads page shows it). */
  streamers = 0;

  constructor(key: string, jobId: number, tempName: string) {
    super(tempName);
    this.key = key;
    this.jobId = jobId;
  }

  /** The attempt's answer is storable and its body is about to be written from `written` on. */
  publish(head: LiveHead): void {
    if (this.state === "committed" || this.state === "cut") return;
    // Another version: every reader stops, also one that has no byte yet (it took the old head's
    // status and length).
    if (this.head !== null && !sameHead(this.head, head)) this.newGeneration();
    this.head = head;
    this.start();
  }
}

function sameHead(a: LiveHead, b: LiveHead): boolean {
  return a.totalBytes === b.totalBytes && a.contentType === b.contentType && a.contentDisposition === b.contentDisposition && a.redirected === b.redirected;
}
