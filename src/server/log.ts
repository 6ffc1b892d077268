// The stdout sink for log lines (one line per request and per job transition).
import { formatLogLine, type LogFields, type Logger } from "../core/log.ts";

export function createStdoutLogger(options: { nowMs?: () => number; quiet?: boolean } = {}): Logger {
  const now = options.nowMs ?? Date.now;
  return {
    event(name: string, fields: LogFields): void {
      if (options.quiet) return;
      process.stdout.write(formatLogLine(now(), name, fields) + "\n");
    },
  };
}
