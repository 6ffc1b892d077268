import { describe, expect, test } from "bun:test";
import { parsePolicy, parseRule, policyText, RULES_MAX, RuleSet } from "./rules.ts";

function rule(text: string) {
  const parsed = parseRule(text);
  if (!parsed.ok) throw new Error(`test rule ${text} did not parse: ${parsed.message}`);
  return parsed.rule;
}

function failure(text: string): string {
  const parsed = parseRule(text);
  if (parsed.ok) throw new Error(`test rule ${text} parsed, expected a failure`);
  return parsed.message;
}

function ruleSet(texts: string[]): RuleSet {
  const parsed = RuleSet.parse(texts);
  if (!parsed.ok) throw new Error(`test rules did not parse: ${parsed.message}`);
  return parsed.rules;
}

describe("parsePolicy", () => {
  test("the four bare policies, case- and space-insensitive", () => {
    expect(parsePolicy("origin")).toEqual({ kind: "origin" });
    expect(parsePolicy("immutable")).toEqual({ kind: "immutable" });
    expect(parsePolicy("revalidate")).toEqual({ kind: "revalidate" });
    expect(parsePolicy(" Never ")).toEqual({ kind: "never" });
  });
  test("max-age with a duration", () => {
    expect(parsePolicy("max-age=5m")).toEqual({ kind: "max-age", ms: 300_000 });
    expect(parsePolicy("max-age=2h")).toEqual({ kind: "max-age", ms: 7_200_000 });
    expect(parsePolicy("MAX-AGE=1D")).toEqual({ kind: "max-age", ms: 86_400_000 });
  });
  test("zero, missing or malformed max-age and unknown words are not policies", () => {
    expect(parsePolicy("max-age=0")).toBeNull();
    expect(parsePolicy("max-age=0s")).toBeNull();
    expect(parsePolicy("max-age=")).toBeNull();
    expect(parsePolicy("max-age=soon")).toBeNull();
    expect(parsePolicy("forever")).toBeNull();
    expect(parsePolicy("")).toBeNull();
  });
});

describe("policyText", () => {
  test("bare kinds", () => {
    expect(policyText({ kind: "immutable" })).toBe("immutable");
    expect(policyText({ kind: "never" })).toBe("never");
  });
  test("max-age in the largest whole unit", () => {
    expect(policyText({ kind: "max-age", ms: 300_000 })).toBe("max-age=5m");
    expect(policyText({ kind: "max-age", ms: 86_400_000 })).toBe("max-age=1d");
    expect(policyText({ kind: "max-age", ms: 90_000 })).toBe("max-age=90s");
    expect(policyText({ kind: "max-age", ms: 1500 })).toBe("max-age=1500ms");
  });
  test("round trip through parsePolicy", () => {
    for (const ms of [300_000, 86_400_000, 90_000, 1500, 7_200_000]) {
      expect(parsePolicy(policyText({ kind: "max-age", ms }))).toEqual({ kind: "max-age", ms });
    }
  });
});

describe("parseRule", () => {
  test("a simple rule", () => {
    const r = rule("https://h/**=immutable");
    expect(r.pattern).toBe("https://h/**");
    expect(r.policy).toEqual({ kind: "immutable" });
    expect(r.text).toBe("https://h/**=immutable");
  });
  test("the rule text is normalised (trimmed pattern, policy in its canonical form)", () => {
    expect(rule(" https://h/* = max-age=300000ms").text).toBe("https://h/*=max-age=5m");
  });
  test("a pattern holding '=' (a query) splits at the first '=' whose right side is a policy", () => {
    const r = rule("https://h/x?a=b=never");
    expect(r.pattern).toBe("https://h/x?a=b");
    expect(r.policy).toEqual({ kind: "never" });
    expect(r.regex.test("https://h/x?a=b")).toBe(true);
  });
  test("a pattern holding several '=' and a max-age policy", () => {
    const r = rule("https://h/x?a=1&b=2=max-age=1h");
    expect(r.pattern).toBe("https://h/x?a=1&b=2");
    expect(r.policy).toEqual({ kind: "max-age", ms: 3_600_000 });
  });
  test("a bad policy is refused with a one-line message quoting the rule", () => {
    const message = failure("https://h/**=forever");
    expect(message).toBe('"https://h/**=forever" is not a rule; expected PATTERN=POLICY with POLICY origin, immutable, revalidate, never or max-age=DURATION (with a unit: 300s, 5m, 1h)');
  });
  test("max-age without a unit is refused (a bare 300 would be 300 ms, not 300 s)", () => {
    expect(failure("https://h/**=max-age=300")).toStartWith('"https://h/**=max-age=300" is not a rule;');
    expect(parseRule("https://h/**=max-age=300s")).toMatchObject({ ok: true, rule: { policy: { kind: "max-age", ms: 300_000 } } });
  });
  test("no '=' at all is refused", () => {
    expect(failure("https://h/**")).toStartWith('"https://h/**" is not a rule;');
  });
  test("an empty pattern is refused", () => {
    expect(failure("=never")).toStartWith('"=never" has no pattern;');
    expect(failure("   =never")).toStartWith('"   =never" has no pattern;');
  });
  test("a pattern with white space is refused, and the message stays on one line", () => {
    expect(failure("https://h/a b=never")).toBe('"https://h/a b=never": the pattern has white space; urls have none');
    const message = failure("https://h/a\nb=never");
    expect(message).toBe('"https://h/a\\nb=never": the pattern has white space; urls have none');
    expect(message).not.toContain("\n");
  });
  test("a pattern over 1024 characters is refused, and the quoted rule is shortened", () => {
    const text = `https://h/${"a".repeat(1100)}=never`;
    const message = failure(text);
    expect(message).toBe(`"${text.slice(0, 120)}…": the pattern is longer than 1024 characters`);
  });
  test("a pattern of exactly 1024 characters is accepted", () => {
    const pattern = `https://h/${"a".repeat(1024 - "https://h/".length)}`;
    expect(rule(`${pattern}=never`).pattern).toBe(pattern);
  });
});

describe("glob semantics", () => {
  test("`**` crosses '/'", () => {
    const r = rule("https://h/**=immutable").regex;
    expect(r.test("https://h/a")).toBe(true);
    expect(r.test("https://h/a/b/c.tgz")).toBe(true);
    expect(r.test("https://other/a")).toBe(false);
  });
  test("`*` does not cross '/'", () => {
    const r = rule("https://h/*.tgz=immutable").regex;
    expect(r.test("https://h/x.tgz")).toBe(true);
    expect(r.test("https://h/.tgz")).toBe(true);
    expect(r.test("https://h/a/x.tgz")).toBe(false);
  });
  test("`?` matches exactly one character but not '/'", () => {
    const r = rule("https://h/v?.zip=immutable").regex;
    expect(r.test("https://h/v1.zip")).toBe(true);
    expect(r.test("https://h/v.zip")).toBe(false);
    expect(r.test("https://h/v12.zip")).toBe(false);
    expect(r.test("https://h/v/.zip")).toBe(false);
  });
  test("the pattern matches the whole url, not a part of it", () => {
    const r = rule("https://h/a=immutable").regex;
    expect(r.test("https://h/a")).toBe(true);
    expect(r.test("https://h/ab")).toBe(false);
    expect(r.test("xhttps://h/a")).toBe(false);
  });
  test("regex metacharacters are literal", () => {
    const r = rule("https://h/a.b+(c)[d]$=immutable").regex;
    expect(r.test("https://h/a.b+(c)[d]$")).toBe(true);
    expect(r.test("https://h/aXbb(c)[d]$")).toBe(false);
    expect(r.test("https://h/a.b+cd")).toBe(false);
  });
  test("`**` also matches a newline in the url", () => {
    expect(rule("https://h/**=immutable").regex.test("https://h/a\nb")).toBe(true);
  });
});

describe("RuleSet", () => {
  test("no rules: the origin policy, no rule", () => {
    expect(ruleSet([]).match("https://h/a")).toEqual({ rule: null, policy: { kind: "origin" } });
  });
  test("no matching rule: the origin policy, no rule", () => {
    expect(ruleSet(["https://h/*.tgz=immutable"]).match("https://h/a.zip")).toEqual({ rule: null, policy: { kind: "origin" } });
  });
  test("first match wins", () => {
    const rules = ruleSet(["https://h/nightly/**=revalidate", "https://h/**=immutable"]);
    expect(rules.match("https://h/nightly/x.tgz").policy).toEqual({ kind: "revalidate" });
    expect(rules.match("https://h/nightly/x.tgz").rule?.text).toBe("https://h/nightly/**=revalidate");
    expect(rules.match("https://h/release/x.tgz").policy).toEqual({ kind: "immutable" });
  });
  test("a repeated match gives the same answer (the memo)", () => {
    const rules = ruleSet(["https://h/*=never"]);
    expect(rules.match("https://h/a")).toEqual(rules.match("https://h/a"));
    expect(rules.match("https://h/a").policy).toEqual({ kind: "never" });
    expect(rules.match("https://h/a/b").policy).toEqual({ kind: "origin" });
  });
  test("parse reports the first bad rule", () => {
    const parsed = RuleSet.parse(["https://h/*=never", "bad-one", "=never"]);
    expect(parsed).toEqual({ ok: false, message: '"bad-one" is not a rule; expected PATTERN=POLICY with POLICY origin, immutable, revalidate, never or max-age=DURATION (with a unit: 300s, 5m, 1h)' });
  });
  test(`parse refuses more than ${RULES_MAX} rules`, () => {
    const texts = Array.from({ length: RULES_MAX + 1 }, (_, i) => `https://h/${i}=never`);
    expect(RuleSet.parse(texts)).toEqual({ ok: false, message: "257 rules is more than 256" });
    expect(RuleSet.parse(texts.slice(0, RULES_MAX)).ok).toBe(true);
  });
});
