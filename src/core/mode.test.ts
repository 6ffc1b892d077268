import { expect, test } from "bun:test";
import { modeFromArgv0 } from "./mode.ts";

test("argv[0] basename picks the mode", () => {
  expect(modeFromArgv0("/usr/local/bin/curl")).toBe("curl");
  expect(modeFromArgv0("curlwithcache")).toBe("curl");
  expect(modeFromArgv0("/opt/x/wgetwithcache")).toBe("wget");
  expect(modeFromArgv0("withcache-server")).toBe("server");
  expect(modeFromArgv0("/usr/bin/withcache")).toBe("cli");
  expect(modeFromArgv0("/wget/dir/withcache")).toBe("cli");
});
