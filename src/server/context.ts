// What every request handler (ours and the operator UI's handleAdmin) gets to work with.
import type { ServeConfig } from "../config/schema.ts";
import type { Logger } from "../core/log.ts";
import type { FillManager } from "../fetch/fill-manager.ts";
import type { CacheStore } from "../store/store.ts";
import type { TrafficRecorder } from "../store/traffic.ts";
import type { ApiTokens } from "./api-tokens.ts";
import type { AuditLog } from "./audit.ts";
import type { MetricsCollector } from "./metrics.ts";
import type { SharedDatabase } from "../store/pg-connect.ts";

export type ServerContext = {
  config: ServeConfig;
  /** metadata (rows), blobs (bytes), deleteArtifact(key), diskSpace(). */
  store: CacheStore;
  fills: FillManager;
  /** Hits, misses and bytes, counted in memory and persisted hourly (dashboard, /metrics). */
  traffic: TrafficRecorder;
  /** Operator actions and security events (the Events page, /api/v1/events). */
  audit: AuditLog;
  /** API tokens (Bearer auth for /api/v1 and /metrics). */
  tokens: ApiTokens;
  /** Prometheus counters (/metrics); null with --metrics off, when nothing is counted. */
  metrics: MetricsCollector | null;
  log: Logger;
  version: string;
  startedAtMs: number;
  /** The clock; tests may pass their own. */
  nowMs: () => number;
  /** What is wrong right now, one line each (`database: …`); /healthz says degraded when any. */
  problems?: () => string[];
  /** This process's id among replicas sharing a database (job leases, stream-through hops); null when embedded. */
  replicaId?: string | null;
  /** The shared database (PostgreSQL) when --database is one; null or absent when embedded. */
  database?: SharedDatabase | null;
};

export type RequestContext = ServerContext & {
  /** Short id in every log line of this request and in 5xx bodies. */
  requestId: string;
  /** The client's address (with --trust-proxy, the X-Forwarded-For entry the proxy appended last). */
  clientAddress: string;
  /** Lift the idle timeout for this request's response (a stream that waits on a fill's bytes). */
  noIdleTimeout?: () => void;
};
