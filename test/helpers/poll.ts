// Poll with a bound instead of sleeping: returns the first truthy value, or throws after timeoutMs.
export async function pollUntil<T>(
  probe: () => T | Promise<T>,
  options: { timeoutMs?: number; intervalMs?: number; what?: string } = {},
): Promise<NonNullable<T>> {
  const timeoutMs = options.timeoutMs ?? 10_000;
  const intervalMs = options.intervalMs ?? 20;
  const deadline = Date.now() + timeoutMs;
  let last: T | undefined;
  while (Date.now() < deadline) {
    last = await probe();
    if (last) return last as NonNullable<T>;
    await Bun.sleep(intervalMs);
  }
  throw new Error(`pollUntil: ${options.what ?? "condition"} not met within ${timeoutMs} ms (last: ${JSON.stringify(last)})`);
}
