// Parsing ApacheBench's report (pure, unit-tested): requests/s, the percentile table, failures.

export type AbReport = {
  requestsPerSecond: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  completed: number;
  failed: number;
  non2xx: number;
};

function numberAfter(text: string, label: RegExp): number {
  const match = label.exec(text);
  return match ? Number(match[1]) : Number.NaN;
}

export function parseAb(text: string): AbReport {
  return {
    requestsPerSecond: numberAfter(text, /^Requests per second:\s+([\d.]+)/m),
    p50Ms: numberAfter(text, /^\s+50%\s+(\d+)/m),
    p99Ms: numberAfter(text, /^\s+99%\s+(\d+)/m),
    maxMs: numberAfter(text, /^\s+100%\s+(\d+)/m),
    completed: numberAfter(text, /^Complete requests:\s+(\d+)/m),
    failed: numberAfter(text, /^Failed requests:\s+(\d+)/m),
    non2xx: numberAfter(text, /^Non-2xx responses:\s+(\d+)/m) || 0,
  };
}
