import { expect, test } from "bun:test";
import { formatLogLine, loggableUrl } from "./log.ts";

test("log lines quote what needs quoting and never show a query", () => {
  expect(formatLogLine(0, "request", { method: "GET", path: "/a b", status: 200, job: null })).toBe(
    '1970-01-01T00:00:00.000Z request method=GET path="/a b" status=200 job=-',
  );
  expect(loggableUrl("https://h/x.tgz?token=secret")).toBe("https://h/x.tgz?…");
  expect(loggableUrl("https://user:pw@h/x")).toBe("https://h/x");
});
