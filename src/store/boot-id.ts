// Which boot of the machine this is (Linux: /proc/sys/kernel/random/boot_id). Two uses: a pid in
// a lock file from an earlier boot says nothing (pids are reused after a reboot), and temp-file
// bytes written in an earlier boot may not have reached the disk. Null where the OS does not say.
import { readFileSync } from "node:fs";

let cached: string | null | undefined;

export function currentBootId(): string | null {
  if (cached !== undefined) return cached;
  try {
    cached = readFileSync("/proc/sys/kernel/random/boot_id", "utf8").trim() || null;
  } catch {
    cached = null;
  }
  return cached;
}
