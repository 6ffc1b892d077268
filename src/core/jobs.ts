// Fill job vocabulary: states, the allowed transitions, and retry backoff. Pure.
//   queued → running → completed | failed | cancelled
//   running → queued     (parked at shutdown, or a transient error waiting for its retry)
//   queued → cancelled   failed|cancelled → queued (operator retry)

export const JOB_STATES = ["queued", "running", "completed", "failed", "cancelled"] as const;
export type JobState = (typeof JOB_STATES)[number];

export type JobSource = "auto" | "operator";

const NEXT: Record<JobState, readonly JobState[]> = {
  queued: ["running", "cancelled"],
  running: ["completed", "failed", "cancelled", "queued"],
  completed: [],
  failed: ["queued"],
  cancelled: ["queued"],
};

export function canTransition(from: JobState, to: JobState): boolean {
  return NEXT[from].includes(to);
}

export function isFinished(state: JobState): boolean {
  return state === "completed" || state === "failed" || state === "cancelled";
}

export function isActive(state: JobState): boolean {
  return state === "queued" || state === "running";
}

/** Exponential backoff with a cap: base, 2·base, 4·base, … ≤ maxMs. attempt counts from 1. */
export function backoffMs(attempt: number, options: { baseMs: number; maxMs: number }): number {
  const exp = Math.min(30, Math.max(0, attempt - 1));
  return Math.min(options.maxMs, options.baseMs * 2 ** exp);
}

/** Origin statuses worth retrying: 408, 425, 429 and every 5xx. Other 4xx are permanent. */
export function isTransientStatus(status: number): boolean {
  return status >= 500 || status === 408 || status === 425 || status === 429;
}
