// Shared test helpers. Keep these small and stable: every area's tests import them.
export { makeTempDir, type TempDir } from "./temp.ts";
export { pollUntil } from "./poll.ts";
export { startOrigin, type Origin } from "./origin.ts";
export { blobUrl, isStored, memoryLogger, startTestServer, testConfig, type TestServer } from "./server.ts";
export { headerOf, sendRestFrom, startRawOrigin, type RawConnection, type RawOrigin } from "./raw-origin.ts";
export { REPO_ROOT, rssBytes, spawnServer, type SpawnedServer } from "./spawn-server.ts";
export { pipeText, run, sha256Hex, type RunResult } from "./proc.ts";
export { DIST_BINARY, ensureBuilt } from "./build.ts";
export { blobFiles, cleanupsAfterEach, fillOnMiss, fillThroughCache, jobFinished, startCleanedServer, tempReaches, type Cleanups, type FillJob } from "./fills.ts";
