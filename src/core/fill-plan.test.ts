import { describe, expect, test } from "bun:test";
import { planFill, tempStamp, type FillPlanInput } from "./fill-plan.ts";

const base: FillPlanInput = { tempBytes: 0, totalBytes: null, validator: null, syncedBytes: 0, jobBootId: "b1", bootId: "b1", cached: null, version: "9.9.9" };

describe("planFill", () => {
  test("a first fill: identity, our user agent, no range, no conditionals", () => {
    expect(planFill(base)).toEqual({ offsetBytes: 0, truncateToBytes: null, truncateReason: null, headers: { "accept-encoding": "identity", "user-agent": "withcache/9.9.9" }, sentEtag: null, sentLastModified: null });
  });
  test("a resume in the same boot continues from the temp file's end under its validator", () => {
    const p = planFill({ ...base, tempBytes: 500, validator: '"v"', syncedBytes: 100 });
    expect(p).toMatchObject({ offsetBytes: 500, truncateToBytes: null, headers: { range: "bytes=500-", "if-range": '"v"' } });
  });
  test("a resume after a reboot trusts only the fsynced prefix; an unknown boot counts as another", () => {
    expect(planFill({ ...base, tempBytes: 500, validator: '"v"', syncedBytes: 100, jobBootId: "b0" })).toMatchObject({ offsetBytes: 100, truncateToBytes: 100, headers: { range: "bytes=100-" } });
    expect(planFill({ ...base, tempBytes: 500, validator: '"v"', syncedBytes: 100, bootId: null })).toMatchObject({ offsetBytes: 100, truncateToBytes: 100 });
  });
  test("a temp file holding the whole body asks for its last byte again (a 416 would bring no headers)", () => {
    const whole = { ...base, tempBytes: 500, totalBytes: 500, validator: '"v"', syncedBytes: 500 };
    expect(planFill(whole)).toMatchObject({ offsetBytes: 499, truncateToBytes: 499, truncateReason: expect.stringContaining("whole body"), headers: { range: "bytes=499-", "if-range": '"v"' } });
    // Shorter than the whole: an ordinary resume; an empty body: start over.
    expect(planFill({ ...whole, totalBytes: 501 })).toMatchObject({ offsetBytes: 500, truncateToBytes: null });
    expect(planFill({ ...whole, tempBytes: 1, syncedBytes: 1, totalBytes: 0 })).toMatchObject({ offsetBytes: 0, truncateToBytes: 0 });
    // After a reboot the synced prefix rules first.
    expect(planFill({ ...whole, syncedBytes: 100, jobBootId: "b0" })).toMatchObject({ offsetBytes: 100, truncateToBytes: 100, truncateReason: "written before a reboot" });
  });
  test("with a shared queue, a temp file is resumed only when the job's last bytes were written in this data dir", () => {
    const mine = tempStamp("b1", "dirA");
    const resume = { ...base, tempBytes: 500, validator: '"v"', syncedBytes: 100, bootId: mine };
    expect(planFill({ ...resume, jobBootId: mine })).toMatchObject({ offsetBytes: 500, truncateToBytes: null });
    expect(planFill({ ...resume, jobBootId: tempStamp("b1", "dirB") })).toMatchObject({ offsetBytes: 0, truncateToBytes: 0, truncateReason: expect.stringContaining("another cache-host") });
    // This data dir after a reboot: the synced prefix; a row from before stamps carried a writer: as before.
    expect(planFill({ ...resume, jobBootId: tempStamp("b0", "dirA") })).toMatchObject({ offsetBytes: 100, truncateToBytes: 100 });
    expect(planFill({ ...resume, jobBootId: "b1" })).toMatchObject({ offsetBytes: 500, truncateToBytes: null });
    // An unknown boot is never the same boot.
    expect(planFill({ ...resume, bootId: tempStamp(null, "dirA"), jobBootId: tempStamp(null, "dirA") })).toMatchObject({ offsetBytes: 100 });
  });
  test("a temp file without a validator cannot be proven current: start over", () => {
    expect(planFill({ ...base, tempBytes: 500 })).toMatchObject({ offsetBytes: 0, truncateToBytes: null });
  });
  test("a cached copy is asked about conditionally, with both validators; never on a resume", () => {
    const cached = { etag: 'W/"e"', lastModified: "Tue, 01 Dec 2026 10:00:00 GMT" };
    expect(planFill({ ...base, cached })).toMatchObject({
      headers: { "if-none-match": 'W/"e"', "if-modified-since": "Tue, 01 Dec 2026 10:00:00 GMT" },
      sentEtag: 'W/"e"',
      sentLastModified: "Tue, 01 Dec 2026 10:00:00 GMT",
    });
    const resumed = planFill({ ...base, cached, tempBytes: 10, validator: '"v"', syncedBytes: 10 });
    expect(resumed.headers["if-none-match"]).toBeUndefined();
    expect(resumed.sentEtag).toBeNull();
  });
});
