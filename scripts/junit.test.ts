import { describe, expect, test } from "bun:test";
import { failureReport, summarize } from "./junit.ts";

// The shape bun 1.4 writes (captured from a real run with one assertion failure and one throw).
const XML = `<?xml version="1.0" encoding="UTF-8"?>
<testsuites name="bun test" tests="4" assertions="1" failures="2" skipped="1" time="0.008">
  <testsuite name="a.test.ts" file="a.test.ts" tests="4" assertions="1" failures="2" skipped="1" time="0.001" hostname="vm">
    <testcase name="fails here" classname="" time="0.0001" file="a.test.ts" line="2" assertions="1">
      <failure type="AssertionError" message="expect(received).toBe(expected)">AssertionError: expect(received).toBe(expected)&#10;&#10;Expected: 2&#10;Received: 1&#10;&#10;      at a.test.ts:2:38&#10;</failure>
    </testcase>
    <testcase name="throws &lt;x&gt; &amp; y" classname="" time="0.0001" file="b.test.ts" line="3" assertions="0">
      <failure type="Error" message="step">Error: step &quot;log in&quot; failed&#10;page: http://127.0.0.1:1/login&#10;      at b.test.ts:3:95&#10;</failure>
    </testcase>
    <testcase name="ok" classname="" time="0.0001" file="a.test.ts" line="4" assertions="0" />
    <testcase name="skipped" classname="" time="0" file="a.test.ts" line="5" assertions="0"><skipped /></testcase>
  </testsuite>
</testsuites>`;

describe("junit", () => {
  test("summarize counts what ran", () => {
    expect(summarize(XML)).toEqual({ tests: 3, failures: 2, errors: 0 });
    expect(summarize("")).toEqual({ tests: 0, failures: 0, errors: 0 });
  });

  test("failureReport names each failed test with its message, without stack frames", () => {
    expect(failureReport(XML)).toBe(
      [
        "FAIL a.test.ts > fails here",
        "  AssertionError: expect(received).toBe(expected)",
        "  Expected: 2",
        "  Received: 1",
        "FAIL b.test.ts > throws <x> & y",
        '  Error: step "log in" failed',
        "  page: http://127.0.0.1:1/login",
      ].join("\n"),
    );
  });

  test("failureReport is empty when nothing failed and cuts long failures", () => {
    expect(failureReport(XML.replace(/<failure[\s\S]*?<\/failure>/g, ""))).toBe("");
    const long = XML.replace("Expected: 2", Array.from({ length: 50 }, (_, i) => `line ${i}`).join("&#10;"));
    const report = failureReport(long, 5);
    expect(report.split("\n").slice(0, 7)).toEqual(["FAIL a.test.ts > fails here", "  AssertionError: expect(received).toBe(expected)", "  line 0", "  line 1", "  line 2", "  line 3", "  … 47 more lines"]);
  });
});
