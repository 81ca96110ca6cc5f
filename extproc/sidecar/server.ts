// The ext_proc sidecar: a gRPC server implementing envoy.service.ext_proc.v3.ExternalProcessor
// on @grpc/grpc-js, hosting the compiled failover filter, with an admin endpoint, a watched
// policy file, load shedding, fair stream limits, and a draining shutdown.

import { createHash } from "node:crypto";
import type { Server as HttpServer } from "node:http";
import { type AddressInfo, type Socket, createServer as createTcpServer } from "node:net";
import * as grpc from "@grpc/grpc-js";
import { ConfigurationError, type FailurePolicy, loadModule } from "../host/index.js";
import { locatePolicyErrors } from "../module/policy-file.js";
import { adminServer } from "./admin.js";
import { ExpiryQueue } from "./expiry.js";
import { FilterPool } from "./filter-pool.js";
import { type Logger, jsonLogger } from "./logger.js";
import { SidecarMetrics } from "./prometheus.js";
import { type FileVersion, PolicyWatcher, readVersion } from "./policy-watcher.js";
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
  /**
   * Streams one connection may have open (HTTP/2 SETTINGS_MAX_CONCURRENT_STREAMS, grpc-js
   * grpc.max_concurrent_streams): one connection cannot take every slot of maxStreams. Envoy's
   * HTTP/2 pool opens another connection when one is full.
   */
  maxStreamsPerConnection?: number;
  /** A stream open longer than this (ms) is ended with OK ("processing complete") and counted. */
  streamTimeoutMs?: number;
  /** A connection with no stream for this long (ms) is closed (grpc-js grpc.max_connection_idle_ms). */
  maxConnectionIdleMs?: number;
  /** Every connection is closed (GOAWAY) after this long (ms), then given graceMs for its streams. */
  maxConnectionAgeMs?: number;
  maxConnectionAgeGraceMs?: number;
  /** How often the policy file is looked at (ms; 0: only on SIGHUP / checkPolicyFile()). */
  watchIntervalMs?: number;
  /** How long a new policy file must stay unchanged before it is adopted (ms). */
  settleMs?: number;
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
  maxStreamsPerConnection: 1_000, streamTimeoutMs: 300_000, maxConnectionIdleMs: 300_000,
  maxConnectionAgeMs: 3_600_000, maxConnectionAgeGraceMs: 300_000, watchIntervalMs: 1_000, settleMs: 500,
};

/** The largest policy file the watcher reads (the same as command.ts's MAX_POLICY_BYTES). */
const MAX_POLICY_FILE_BYTES = 1 << 20;
/** While the file on disk differs from the serving policy, the warning is repeated this often. */
const DIFFERS_WARN_MS = 60_000;

/** The gRPC or admin address cannot be bound (in use, not local, not permitted). */
export class ListenError extends Error {
  override name = "ListenError";
}

/** What /debug/clusters says about the policy. */
export interface PolicyStatus {
  serving: { source: string; sha256: string; loadedAt: string };
  lastReload: { at: string; result: "ok" | "unchanged" | "rejected" | "unreadable"; sha256: string | null; error: string | null } | null;
}

/** gRPC's own cap on one incoming message (grpc-js default 4 MiB); raised to fit --max-header-bytes. */
const GRPC_DEFAULT_MAX_MESSAGE = 4 << 20;

export interface Sidecar {
  readonly port: number;
  readonly adminPort: number | null;
  readonly pool: FilterPool;
  readonly metrics: SidecarMetrics;
  /** Re-reads the policy file now (no settle period); true when the new policy is now serving. */
  reload(): boolean;
  /** Looks at the policy file now and adopts it once settled (what SIGHUP does). */
  checkPolicyFile(): void;
  readonly policy: PolicyStatus;
  /** TCP connections open on the gRPC port now. */
  readonly connections: number;
  /** Stops accepting, waits for streams in flight (up to drainMs), then closes everything. */
  close(): Promise<void>;
}

const UNAVAILABLE = 14;

export async function startSidecar(options: SidecarOptions): Promise<Sidecar> {
  const logger = options.logger ?? jsonLogger();
  const metrics = new SidecarMetrics();
  const locality: Locality = { region: "", zone: "", subzone: "", cluster: "", ...options.locality };
  const host = options.host ?? DEFAULTS.host;

  // The gRPC port is bound first, so a port in use is the one thing said. We own the listening
  // socket and hand each connection to grpc-js (once it is set up below): Node's HTTP/2 session,
  // when grpc-js closes it (idle, age, unanswered keepalive), only half-closes the socket, and a
  // peer that never sent a preface or ignores the FIN would keep it for ever. A socket with no
  // traffic for longer than a keepalive round (the sidecar pings every live connection) is destroyed.
  let startServing!: () => void;
  const serving = new Promise<void>((resolve) => (startServing = resolve));
  const socketIdleMs = (options.keepaliveMs ?? DEFAULTS.keepaliveMs) + (options.keepaliveTimeoutMs ?? DEFAULTS.keepaliveTimeoutMs);
  const sockets = new Set<Socket>();
  const tcp = createTcpServer((socket) => {
    metrics.connections.inc();
    sockets.add(socket);
    socket.once("close", () => sockets.delete(socket));
    void serving.then(() => {
      if (socket.destroyed) return;
      injector.injectConnection(socket);
      // (After the injection: Node's HTTP/2 server sets the socket's timeout to its own, 0.)
      socket.setTimeout(socketIdleMs, () => {
        metrics.idleSockets.inc();
        socket.destroy();
      });
    });
  });
  const grpcAddress = `${host}:${options.port ?? DEFAULTS.port}`;
  const port = await new Promise<number>((resolve, reject) => {
    tcp.once("error", reject);
    tcp.listen(options.port ?? DEFAULTS.port, host, () => resolve((tcp.address() as AddressInfo).port));
  }).catch((e: Error) => {
    throw new ListenError(`cannot listen on ${grpcAddress} (gRPC): ${listenReason(e)}`);
  });
  const stopListening = () => {
    tcp.close();
    for (const socket of sockets) socket.destroy();
  };

  let pool: FilterPool;
  try {
    pool = new FilterPool({
      module: await loadModule(options.modulePath), logger, locality, clock: options.clock, timers: options.timers,
      failurePolicy: options.failurePolicy, onVmReload: (result) => metrics.vmReloads.inc({ result }),
    });
    pool.configure(options.policy); // a bad policy at start-up is fatal: the caller reports it
  } catch (e) {
    stopListening();
    throw e;
  }
  let current = options.policy;
  const startVersion = options.policyFile ? safeVersion(options.policyFile) : undefined;
  const policy: PolicyStatus = {
    serving: {
      source: options.policyFile ?? "inline",
      sha256: startVersion?.sha256 ?? createHash("sha256").update(options.policy).digest("hex"),
      loadedAt: new Date().toISOString(),
    },
    lastReload: null,
  };
  metrics.servingPolicy(policy.serving.sha256);
  metrics.lastReloadSuccess.set(1);
  const maxStreams = options.maxStreams ?? DEFAULTS.maxStreams;
  const limits = {
    maxHeaderBytes: options.maxHeaderBytes ?? DEFAULTS.maxHeaderBytes,
    maxHeaderCount: options.maxHeaderCount ?? DEFAULTS.maxHeaderCount,
    streamTimeoutMs: options.streamTimeoutMs ?? DEFAULTS.streamTimeoutMs,
  };
  let active = 0;
  let draining = false;
  const onStreamDone = () => {
    active--;
    metrics.streamClosed();
  };

  // A header set at the limit must still fit in one gRPC message (with room for the framing and
  // attributes), or gRPC would refuse it first with a less helpful message.
  const server = new grpc.Server({
    "grpc.max_receive_message_length": Math.max(GRPC_DEFAULT_MAX_MESSAGE, limits.maxHeaderBytes + (1 << 20)),
    "grpc.keepalive_time_ms": options.keepaliveMs ?? DEFAULTS.keepaliveMs,
    "grpc.keepalive_timeout_ms": options.keepaliveTimeoutMs ?? DEFAULTS.keepaliveTimeoutMs,
    "grpc.max_concurrent_streams": options.maxStreamsPerConnection ?? DEFAULTS.maxStreamsPerConnection,
    "grpc.max_connection_idle_ms": options.maxConnectionIdleMs ?? DEFAULTS.maxConnectionIdleMs,
    "grpc.max_connection_age_ms": options.maxConnectionAgeMs ?? DEFAULTS.maxConnectionAgeMs,
    "grpc.max_connection_age_grace_ms": options.maxConnectionAgeGraceMs ?? DEFAULTS.maxConnectionAgeGraceMs,
    // channelz keeps per-call and per-socket statistics for its gRPC service, which the sidecar
    // does not serve: nobody could read them, and every stream paid for them.
    "grpc.enable_channelz": 0,
  });
  const expiry = limits.streamTimeoutMs > 0 ? new ExpiryQueue<StreamProcessor>(limits.streamTimeoutMs) : undefined;
  server.addService(extProcService(), {
    Process(call: ExtProcCall) {
      if (draining || active >= maxStreams) {
        metrics.shed.inc();
        const details = draining ? "shutting down" : `overloaded: ${active} streams in flight (limit ${maxStreams})`;
        call.emit("error", { code: UNAVAILABLE, details });
        return;
      }
      active++;
      metrics.streamOpened();
      new StreamProcessor(call, pool, metrics, logger, limits, expiry, onStreamDone);
    },
  });
  const injector = server.createConnectionInjector(grpc.ServerCredentials.createInsecure());
  startServing();

  let admin: HttpServer | undefined;
  let adminPort: number | null = null;
  if (options.adminPort !== null) {
    admin = adminServer({
      ready: () => !draining && pool.configured && !pool.failure,
      metrics: () => metrics.text(pool.metrics),
      clusters: () => ({ policyFile: options.policyFile ?? null, policy, localities: pool.plans(), failure: pool.failure?.message ?? null }),
    });
    const a = admin;
    const adminAddress = `${options.adminHost ?? DEFAULTS.adminHost}:${options.adminPort ?? DEFAULTS.adminPort}`;
    adminPort = await new Promise<number>((resolve, reject) => {
      a.once("error", reject);
      a.listen(options.adminPort ?? DEFAULTS.adminPort, options.adminHost ?? DEFAULTS.adminHost, () => resolve((a.address() as AddressInfo).port));
    }).catch((e: Error) => {
      stopListening();
      server.forceShutdown();
      pool.close();
      throw new ListenError(`cannot listen on ${adminAddress} (admin): ${listenReason(e)}`);
    });
  }

  const servingDiffers = (version: FileVersion | undefined) => version !== undefined && version.sha256 !== policy.serving.sha256;
  let lastDiffersWarning = 0;
  const warnDiffers = (version: FileVersion) => {
    lastDiffersWarning = Date.now();
    logger.log("warn", "the policy file on disk differs from the serving policy", {
      file: options.policyFile, fileSha256: version.sha256, servingSha256: policy.serving.sha256, servingSince: policy.serving.loadedAt,
      error: policy.lastReload?.error ?? null,
    });
  };
  const record = (result: NonNullable<PolicyStatus["lastReload"]>["result"], version: FileVersion | undefined, error: string | null) => {
    policy.lastReload = { at: new Date().toISOString(), result, sha256: version?.sha256 ?? null, error };
    metrics.lastReloadSuccess.set(result === "ok" || result === "unchanged" ? 1 : 0);
  };

  /** Reads the policy file and serves it if the filter accepts it; `version` is what was settled on. */
  const adopt = (version = options.policyFile ? safeVersion(options.policyFile) : undefined): boolean => {
    if (!options.policyFile || !options.readPolicy) return false;
    let text: string;
    try {
      text = options.readPolicy(options.policyFile);
    } catch (e) {
      metrics.reloads.inc({ result: "unreadable" });
      record("unreadable", version, (e as Error).message);
      logger.log("error", "policy file unreadable; the previous policy keeps serving", { file: options.policyFile, error: (e as Error).message });
      if (servingDiffers(version)) warnDiffers(version!);
      return false;
    }
    const changed = text !== current;
    if (changed) {
      try {
        pool.configure(text);
      } catch (e) {
        if (!(e instanceof ConfigurationError)) throw e;
        metrics.reloads.inc({ result: "rejected" });
        record("rejected", version, e.moduleLog.join("; ") || e.message);
        logger.log("error", "new policy rejected; the previous policy keeps serving", { file: options.policyFile, problems: e.moduleLog, located: locatePolicyErrors(options.policyFile, text, e.moduleLog) });
        if (servingDiffers(version)) warnDiffers(version!);
        return false;
      }
      current = text;
      metrics.reloads.inc({ result: "ok" });
      logger.log("info", "policy reloaded", { file: options.policyFile, sha256: version?.sha256 });
    }
    // The same policy in a file that changed (a comment, say) is the serving file from now on.
    if (version) policy.serving = { source: options.policyFile, sha256: version.sha256, loadedAt: new Date().toISOString() };
    metrics.servingPolicy(policy.serving.sha256);
    record(changed ? "ok" : "unchanged", version, null);
    return true;
  };

  const watcher = options.policyFile
    ? new PolicyWatcher(options.policyFile, {
        pollMs: options.watchIntervalMs ?? DEFAULTS.watchIntervalMs,
        settleMs: options.settleMs ?? DEFAULTS.settleMs,
        maxBytes: MAX_POLICY_FILE_BYTES,
        onSettled: (version) => void adopt(version),
        onUnchanged: (version) => {
          if (servingDiffers(version) && Date.now() - lastDiffersWarning >= DIFFERS_WARN_MS) warnDiffers(version);
        },
        onUnreadable: (e) => {
          metrics.reloads.inc({ result: "unreadable" });
          record("unreadable", undefined, e.message);
          logger.log("error", "policy file unreadable; the previous policy keeps serving", { file: options.policyFile, error: e.message });
        },
      }, startVersion)
    : undefined;

  logger.log("info", "ext_proc sidecar serving", { grpc: `${host}:${port}`, admin: adminPort === null ? null : `${options.adminHost ?? DEFAULTS.adminHost}:${adminPort}`, locality });

  const close = async (): Promise<void> => {
    if (draining) return;
    draining = true;
    watcher?.stop();
    tcp.close(); // no new connections; those open drain below
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
    for (const socket of sockets) socket.destroy();
    expiry?.close();
    pool.close();
    if (admin) await new Promise<void>((resolve) => admin!.close(() => resolve()));
    logger.log("info", "stopped");
  };

  const checkPolicyFile = () => watcher?.checkNow();
  return {
    port, adminPort, pool, metrics, policy, reload: () => adopt(), checkPolicyFile, close,
    get connections() { return sockets.size; },
  };
}

function safeVersion(file: string): FileVersion | undefined {
  try {
    return readVersion(file, MAX_POLICY_FILE_BYTES);
  } catch {
    return undefined; // the read that follows reports why
  }
}

/** The reason a listen failed, in words. */
function listenReason(e: Error): string {
  const code = (e as NodeJS.ErrnoException).code;
  const known: Record<string, string> = {
    EADDRINUSE: "the port is already in use", EADDRNOTAVAIL: "the address is not on this host",
    EACCES: "permission denied", ENOTFOUND: "the host name does not resolve",
  };
  return code && known[code] ? `${known[code]} (${code})` : e.message;
}
