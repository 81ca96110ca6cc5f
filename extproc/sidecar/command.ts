// `failover serve`: runs the ext_proc sidecar until SIGTERM/SIGINT, then drains and exits 0.
// SIGHUP re-reads the policy file (as daemons do); it never stops the process.

import { statSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { ConfigurationError, FAILURE_POLICIES, type FailurePolicy } from "../host/index.js";
import { FAILOVER_WASM } from "../module/failover-module.js";
import { DocumentError, display, loadDocument, locatePolicyErrors } from "../module/policy-file.js";
import { readSecrets, withAffinitySecrets } from "./affinity-secret.js";
import { type Level, jsonLogger } from "./logger.js";
import { DEFAULTS, ListenError, startSidecar } from "./server.js";

/** Served when no --policy is given: seed 000's edge gateway, auto mode. */
export const DEFAULT_POLICY = fileURLToPath(new URL("../../examples/edge-auto.yaml", import.meta.url));

export const SERVE_HELP = `  serve                run the ext_proc sidecar (Envoy's external processing, gRPC)
      --policy FILE    policy document (YAML or JSON), watched and reloaded on change (and on
                       SIGHUP) once unchanged for --settle MS; default: the built-in ${"examples/edge-auto.yaml"}
      --watch-interval MS  how often the policy file is looked at; 0: only on SIGHUP (default ${DEFAULTS.watchIntervalMs})
      --settle MS      a changed policy file is adopted once two reads this far apart agree (default ${DEFAULTS.settleMs})
      --host H         gRPC address (default ${DEFAULTS.host})
      --port N         gRPC port (default ${DEFAULTS.port})
      --admin-host H   admin address (default ${DEFAULTS.adminHost})
      --admin-port N   admin port: /healthz /readyz /metrics /debug/clusters (default ${DEFAULTS.adminPort})
      --locality R[/Z[/S]]  this sidecar's region/zone/subzone, for Envoys that send no xds.node
      --cluster NAME   this sidecar's cluster (topology.istio.io/cluster), likewise
      --max-streams N  streams in flight before new ones are refused (default ${DEFAULTS.maxStreams})
      --max-streams-per-connection N  streams one connection may have open (HTTP/2
                       max_concurrent_streams; default ${DEFAULTS.maxStreamsPerConnection})
      --stream-timeout MS  a stream open this long is ended (OK: Envoy carries on without the
                       sidecar for that request) and counted; 0: never (default ${DEFAULTS.streamTimeoutMs})
      --max-connection-idle MS  a connection with no stream this long is closed (default ${DEFAULTS.maxConnectionIdleMs})
      --max-connection-age MS   every connection is closed (GOAWAY) after this long (default ${DEFAULTS.maxConnectionAgeMs}),
                       its streams given --max-connection-age-grace MS more (default ${DEFAULTS.maxConnectionAgeGraceMs})
      --max-header-bytes N  largest header set accepted, names plus values (default ${DEFAULTS.maxHeaderBytes})
      --max-header-count N  most headers accepted in one set (default ${DEFAULTS.maxHeaderCount})
      --drain-timeout MS  how long SIGTERM waits for streams in flight (default ${DEFAULTS.drainMs})
      --keepalive MS   ping each Envoy connection this often; one that does not answer within
                       ${DEFAULTS.keepaliveTimeoutMs} ms is dropped with its streams (default ${DEFAULTS.keepaliveMs})
      --log-level L    debug, info, warn or error (default info)
      --failure-policy P  what a filter trap costs: fail-reload (default: the request passes
                       untouched, the filter VM is rebuilt for the next ones), fail-open (requests
                       pass untouched until the policy reloads) or fail-closed (503 until then)
      --affinity-secret-file FILE  secrets that sign affinity cookies, one per line, the
                       current first, then previous ones still accepted; for cookie routes
                       whose policy names no secret (re-read with the policy)
`;

export class ServeUsageError extends Error {}

/** The filter refuses a policy document larger than this (assembly/filter/root.ts); so does the file reader. */
export const MAX_POLICY_BYTES = 1 << 20;

/** The policy file as the JSON text the filter takes. */
export const readPolicy = (file: string) => {
  let size = 0;
  try {
    size = statSync(file).size;
  } catch {
    // loadDocument reports an unreadable file
  }
  if (size > MAX_POLICY_BYTES) throw new DocumentError(`${display(file)}: ${size} bytes; a policy file may have at most ${MAX_POLICY_BYTES} (1 MiB)`);
  return JSON.stringify(loadDocument(file).value);
};

export async function serveCommand(argv: string[]): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      strict: true,
      options: {
        policy: { type: "string" }, host: { type: "string" }, port: { type: "string" },
        "admin-host": { type: "string" }, "admin-port": { type: "string" }, locality: { type: "string" },
        cluster: { type: "string" }, "max-streams": { type: "string" }, "drain-timeout": { type: "string" },
        "max-header-bytes": { type: "string" }, "max-header-count": { type: "string" }, keepalive: { type: "string" },
        "log-level": { type: "string" }, "failure-policy": { type: "string" }, "affinity-secret-file": { type: "string" },
        "max-streams-per-connection": { type: "string" }, "stream-timeout": { type: "string" },
        "max-connection-idle": { type: "string" }, "max-connection-age": { type: "string" }, "max-connection-age-grace": { type: "string" },
        "watch-interval": { type: "string" }, settle: { type: "string" },
      },
    }));
  } catch (e) {
    throw new ServeUsageError((e as Error).message);
  }
  const level = (values["log-level"] ?? "info") as Level;
  if (!["debug", "info", "warn", "error"].includes(level)) throw new ServeUsageError(`--log-level: expected debug, info, warn or error, got "${level}"`);
  const failurePolicy = (values["failure-policy"] ?? "fail-reload") as FailurePolicy;
  if (!FAILURE_POLICIES.includes(failurePolicy)) throw new ServeUsageError(`--failure-policy: expected ${FAILURE_POLICIES.join(", ")}, got "${failurePolicy}"`);
  const logger = jsonLogger(level);
  const int = (name: string, v: string | undefined, fallback: number, min: number, max: number) => {
    if (v === undefined) return fallback;
    const n = Number(v);
    if (!Number.isInteger(n) || n < min || n > max) throw new ServeUsageError(`--${name}: expected a whole number ${min}..${max}, got "${v}"`);
    return n;
  };
  const [region = "", zone = "", subzone = ""] = (values.locality ?? "").split("/");
  // Every argument is checked before anything is logged: a usage error comes first and alone.
  const numbers = {
    port: int("port", values.port, DEFAULTS.port, 0, 65535),
    adminPort: int("admin-port", values["admin-port"], DEFAULTS.adminPort, 0, 65535),
    maxStreams: int("max-streams", values["max-streams"], DEFAULTS.maxStreams, 1, 1_000_000),
    maxStreamsPerConnection: int("max-streams-per-connection", values["max-streams-per-connection"], DEFAULTS.maxStreamsPerConnection, 1, 1_000_000),
    streamTimeoutMs: int("stream-timeout", values["stream-timeout"], DEFAULTS.streamTimeoutMs, 0, 86_400_000),
    maxConnectionIdleMs: int("max-connection-idle", values["max-connection-idle"], DEFAULTS.maxConnectionIdleMs, 1000, 86_400_000),
    maxConnectionAgeMs: int("max-connection-age", values["max-connection-age"], DEFAULTS.maxConnectionAgeMs, 1000, 86_400_000),
    maxConnectionAgeGraceMs: int("max-connection-age-grace", values["max-connection-age-grace"], DEFAULTS.maxConnectionAgeGraceMs, 0, 86_400_000),
    maxHeaderBytes: int("max-header-bytes", values["max-header-bytes"], DEFAULTS.maxHeaderBytes, 1024, 64 << 20),
    maxHeaderCount: int("max-header-count", values["max-header-count"], DEFAULTS.maxHeaderCount, 1, 1_000_000),
    drainMs: int("drain-timeout", values["drain-timeout"], DEFAULTS.drainMs, 0, 600_000),
    keepaliveMs: int("keepalive", values.keepalive, DEFAULTS.keepaliveMs, 1000, 3_600_000),
    watchIntervalMs: int("watch-interval", values["watch-interval"], DEFAULTS.watchIntervalMs, 0, 3_600_000),
    settleMs: int("settle", values.settle, DEFAULTS.settleMs, 0, 600_000),
  };
  const policyFile = values.policy ?? DEFAULT_POLICY;
  const secretFile = values["affinity-secret-file"];
  const readServed = secretFile === undefined ? readPolicy : (file: string) => withAffinitySecrets(readPolicy(file), readSecrets(secretFile));
  if (!values.policy) logger.log("info", "no --policy given: serving the built-in default policy", { file: DEFAULT_POLICY });
  let sidecar;
  const policyText = readServed(policyFile);
  try {
    sidecar = await startSidecar({
      ...numbers,
      policy: policyText,
      policyFile,
      readPolicy: readServed,
      modulePath: FAILOVER_WASM,
      host: values.host,
      adminHost: values["admin-host"],
      locality: { region, zone, subzone, cluster: values.cluster ?? "" },
      failurePolicy,
      logger,
    });
  } catch (e) {
    if (e instanceof ConfigurationError) {
      logger.log("error", "the policy was rejected", { file: policyFile, problems: e.moduleLog, located: locatePolicyErrors(policyFile, policyText, e.moduleLog) });
      return 1;
    }
    if (e instanceof ListenError) {
      logger.log("error", e.message);
      return 1;
    }
    throw e;
  }
  const s = sidecar;
  await new Promise<void>((resolve) => {
    const hangup = () => {
      logger.log("info", "signal received: re-reading the policy file", { signal: "SIGHUP", file: policyFile });
      s.checkPolicyFile();
    };
    const stop = (signal: string) => {
      logger.log("info", "signal received", { signal });
      process.off("SIGHUP", hangup);
      s.close().then(resolve, resolve);
    };
    process.once("SIGTERM", () => stop("SIGTERM"));
    process.once("SIGINT", () => stop("SIGINT"));
    process.on("SIGHUP", hangup);
  });
  return 0;
}
