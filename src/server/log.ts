// The stdout sink for log lines (one line per request and per job transition). Lines are
// gathered per event-loop turn and written together: one write(2) for a burst of requests
// instead of one each. flush() writes what is pending (called at shutdown).
import { formatLogLine, type LogFields, type Logger } from "../core/log.ts";

/** Pending log text that forces a write before the turn ends. */
const FLUSH_AT_CHARS = 64 * 1024;

export function createStdoutLogger(options: { nowMs?: () => number; quiet?: boolean } = {}): Logger {
  const now = options.nowMs ?? Date.now;
  let pending = "";
  let scheduled = false;
  const flush = (): void => {
    scheduled = false;
    if (pending === "") return;
    const text = pending;
    pending = "";
    process.stdout.write(text);
  };
  return {
    event(name: string, fields: LogFields): void {
      if (options.quiet) return;
      pending += formatLogLine(now(), name, fields) + "\n";
      if (pending.length >= FLUSH_AT_CHARS) flush();
      else if (!scheduled) {
        scheduled = true;
        setImmediate(flush);
      }
    },
    flush,
  };
}
