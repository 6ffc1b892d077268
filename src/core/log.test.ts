import { expect, test } from "bun:test";
import { displayUrl, formatLogLine, loggableUrl } from "./log.ts";

test("log lines quote what needs quoting and never show a query", () => {
  expect(formatLogLine(0, "request", { method: "GET", path: "/a b", status: 200, job: null })).toBe(
    '1970-01-01T00:00:00.000Z request method=GET path="/a b" status=200 job=-',
  );
  expect(loggableUrl("https://h/x.tgz?token=secret")).toBe("https://h/x.tgz?…");
  expect(loggableUrl("https://user:pw@h/x")).toBe("https://h/x");
});

test("displayUrl hides the query unless it is part of the key, and keeps the path as recorded", () => {
  expect(displayUrl("https://h/x.tgz?token=secret#f", { keepQuery: false })).toBe("https://h/x.tgz?…");
  expect(displayUrl("https://h/x.tgz?token=secret", { keepQuery: true })).toBe("https://h/x.tgz?token=secret");
  expect(displayUrl("https://h/a b/<x>.tgz#frag", { keepQuery: false })).toBe("https://h/a b/<x>.tgz");
  expect(displayUrl("https://h/plain.tgz", { keepQuery: false })).toBe("https://h/plain.tgz");
});
