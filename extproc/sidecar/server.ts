// The ext_proc sidecar: a gRPC server implementing envoy.service.ext_proc.v3.ExternalProcessor
// on @grpc/grpc-js, hosting the compiled failover filter, with an admin endpoint, a watched
// policy file, load shedding, and a draining shutdown.

import { unwatchFile, watchFile } from "node:fs";
import type { Server as HttpServer } from "node:http";
import type { AddressInfo } from "node:net";
import * as grpc from "@grpc/grpc-js";
import { ConfigurationError, type FailurePolicy, loadModule } from "../host/index.js";
import { locatePolicyErrors } from "../policy-file.js";
import { adminServer } from "./admin.js";
import { FilterPool } from "./filter-pool.js";
import { type Logger, jsonLogger } from "./logger.js";
import { SidecarMetrics } from "./prometheus.js";
import { type ExtProcCall, StreamProcessor } from "./processor.js";
import { type Locality, extProcService } from "./protocol.js";

export interface SidecarOptions {
  /** The policy document as JSON text. */
  policy: string;
  /** The file the policy came from: watched, and re-read with `readPolicy` when it changes. */
  policyFile?: string;
  readPolicy?: (file: string) => string;
  host?: string;
  /** gRPC port (0: any free port). */
  port?: number;
  adminHost?: string;
  /** Admin HTTP port (0: any free port; null: no admin server). */
  adminPort?: number | null;
  /** The sidecar's own locality, for Envoys that do not send theirs (xds.node attribute). */
  locality?: Partial<Locality>;
  modulePath: string;
  clock?: () => bigint;
  /** Deliver the filter's ticks on real timers (default true). */
  timers?: boolean;
  /** Streams in flight beyond this are refused with UNAVAILABLE (load shedding). */
  maxStreams?: number;
  /** A header (or trailer) set larger than this, in bytes of names and values, is refused (RESOURCE_EXHAUSTED). */
  maxHeaderBytes?: number;
  /** A header (or trailer) set with more entries than this is refused (RESOURCE_EXHAUSTED). */
  maxHeaderCount?: number;
  /** How long a shutdown waits for streams in flight. */
  drainMs?: number;
  /**
   * HTTP/2 keepalive: ping each Envoy connection this often (ms) and drop it when a ping is not
   * answered within keepaliveTimeoutMs, releasing its streams. Without it (grpc-js's default) the
   * streams of an Envoy whose host died or was cut off stay in flight for ever, counting against
   * maxStreams.
   */
  keepaliveMs?: number;
  keepaliveTimeoutMs?: number;
  /** What a filter trap costs (default fail-reload: the stream passes, the VM is rebuilt). */
  failurePolicy?: FailurePolicy;
  logger?: Logger;
}

export const DEFAULTS = {
  host: "127.0.0.1", port: 50051, adminHost: "127.0.0.1", adminPort: 9902, maxStreams: 10_000,
  maxHeaderBytes: 1 << 20, maxHeaderCount: 10_000, drainMs: 10_000, keepaliveMs: 30_000, keepaliveTimeoutMs: 10_000,
};

/** gRPC's own cap on one incoming message (grpc-js default 4 MiB); raised to fit --max-header-bytes. */
const GRPC_DEFAULT_MAX_MESSAGE = 4 << 20;

export interface Sidecar {
  readonly port: number;
  readonly adminPort: number | null;
  readonly pool: FilterPool;
  readonly metrics: SidecarMetrics;
  /** Re-reads the policy file; true when the new policy is now serving. */
  reload(): boolean;
  /** Stops accepting, waits for streams in flight (up to drainMs), then closes everything. */
  close(): Promise<void>;
}

const UNAVAILABLE = 14;

export async function startSidecar(options: SidecarOptions): Promise<Sidecar> {
  const logger = options.logger ?? jsonLogger();
  const metrics = new SidecarMetrics();
  const locality: Locality = { region: "", zone: "", subzone: "", cluster: "", ...options.locality };
  const pool = new FilterPool({
    module: await loadModule(options.modulePath), logger, locality, clock: options.clock, timers: options.timers,
    failurePolicy: options.failurePolicy, onVmReload: (result) => metrics.vmReloads.inc({ result }),
  });
  pool.configure(options.policy); // a bad policy at start-up is fatal: the caller reports it
  let current = options.policy;
  const maxStreams = options.maxStreams ?? DEFAULTS.maxStreams;
  const limits = {
    maxHeaderBytes: options.maxHeaderBytes ?? DEFAULTS.maxHeaderBytes,
    maxHeaderCount: options.maxHeaderCount ?? DEFAULTS.maxHeaderCount,
  };
  let active = 0;
  let draining = false;

  // A header set at the limit must still fit in one gRPC message (with room for the framing and
  // attributes), or gRPC would refuse it first with a less helpful message.
  const server = new grpc.Server({
    "grpc.max_receive_message_length": Math.max(GRPC_DEFAULT_MAX_MESSAGE, limits.maxHeaderBytes + (1 << 20)),
    "grpc.keepalive_time_ms": options.keepaliveMs ?? DEFAULTS.keepaliveMs,
    "grpc.keepalive_timeout_ms": options.keepaliveTimeoutMs ?? DEFAULTS.keepaliveTimeoutMs,
  });
  server.addService(extProcService(), {
    Process(call: ExtProcCall) {
      if (draining || active >= maxStreams) {
        metrics.shed.inc();
        const details = draining ? "shutting down" : `overloaded: ${active} streams in flight (limit ${maxStreams})`;
        call.emit("error", { code: UNAVAILABLE, details });
        return;
      }
      active++;
      metrics.streams.inc();
      metrics.active.inc();
      new StreamProcessor(call, pool, metrics, logger, limits, () => {
        active--;
        metrics.active.dec();
      });
    },
  });
  const host = options.host ?? DEFAULTS.host;
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync(`${host}:${options.port ?? DEFAULTS.port}`, grpc.ServerCredentials.createInsecure(), (e, p) => (e ? reject(e) : resolve(p))),
  );

  let admin: HttpServer | undefined;
  let adminPort: number | null = null;
  if (options.adminPort !== null) {
    admin = adminServer({
      ready: () => !draining && pool.configured && !pool.failure,
      metrics: () => metrics.text(pool.metrics),
      clusters: () => ({ policyFile: options.policyFile ?? null, localities: pool.plans(), failure: pool.failure?.message ?? null }),
    });
    const a = admin;
    adminPort = await new Promise<number>((resolve, reject) => {
      a.once("error", reject);
      a.listen(options.adminPort ?? DEFAULTS.adminPort, options.adminHost ?? DEFAULTS.adminHost, () => resolve((a.address() as AddressInfo).port));
    });
  }

  const reload = (): boolean => {
    if (!options.policyFile || !options.readPolicy) return false;
    let text: string;
    try {
      text = options.readPolicy(options.policyFile);
    } catch (e) {
      metrics.reloads.inc({ result: "unreadable" });
      logger.log("error", "policy file unreadable; the previous policy keeps serving", { file: options.policyFile, error: (e as Error).message });
      return false;
    }
    if (text === current) return true;
    try {
      pool.configure(text);
    } catch (e) {
      if (!(e instanceof ConfigurationError)) throw e;
      metrics.reloads.inc({ result: "rejected" });
      logger.log("error", "new policy rejected; the previous policy keeps serving", { file: options.policyFile, problems: e.moduleLog, located: locatePolicyErrors(options.policyFile, text, e.moduleLog) });
      return false;
    }
    current = text;
    metrics.reloads.inc({ result: "ok" });
    logger.log("info", "policy reloaded", { file: options.policyFile });
    return true;
  };
  // Polling the file's stat follows symlinks, so a Kubernetes ConfigMap update (an atomic swap of
  // the ..data link) is seen like an edit.
  if (options.policyFile) watchFile(options.policyFile, { interval: 1000, persistent: false }, () => reload());

  logger.log("info", "ext_proc sidecar serving", { grpc: `${host}:${port}`, admin: adminPort === null ? null : `${options.adminHost ?? DEFAULTS.adminHost}:${adminPort}`, locality });

  const close = async (): Promise<void> => {
    if (draining) return;
    draining = true;
    if (options.policyFile) unwatchFile(options.policyFile);
    logger.log("info", "draining", { streams: active });
    const drainMs = options.drainMs ?? DEFAULTS.drainMs;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        logger.log("warn", "drain timed out; closing the remaining streams", { streams: active });
        server.forceShutdown();
        resolve();
      }, drainMs);
      server.tryShutdown(() => {
        clearTimeout(timer);
        resolve();
      });
    });
    pool.close();
    if (admin) await new Promise<void>((resolve) => admin!.close(() => resolve()));
    logger.log("info", "stopped");
  };

  return { port, adminPort, pool, metrics, reload, close };
}
