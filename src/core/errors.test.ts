import { describe, expect, test } from "bun:test";
import { errnoCode, fsReason } from "./errors.ts";

const errno = (code: string) => Object.assign(new Error(`${code}: something, mkdir '/x'`), { code });

describe("fsReason", () => {
  test("words known codes, lets a caller word them for its context, lowercases the rest", () => {
    expect(fsReason(errno("EROFS"))).toBe("read-only file system");
    expect(fsReason(errno("EACCES"), { EACCES: "permission denied (run as root?)" })).toBe("permission denied (run as root?)");
    expect(fsReason(errno("ELOOP"))).toBe("eloop");
  });

  test("a value without a code is shown by its first line", () => {
    expect(fsReason(new Error("boom\nstack"))).toBe("boom");
    expect(fsReason("plain")).toBe("plain");
    expect(errnoCode(null)).toBeNull();
    expect(errnoCode(errno("ENOENT"))).toBe("ENOENT");
  });
});
