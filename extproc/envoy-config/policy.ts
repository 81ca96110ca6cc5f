// The policy embedded in a config is checked by the failover module itself: the built
// build/failover.wasm runs in the project's proxy-wasm host, started the way Envoy starts it
// (on_vm_start, then on_configure with the policy), and its own error lines are the verdict.
// Nothing here re-implements the policy rules.

import { fileURLToPath } from "node:url";
import { ConfigurationError, LogLevel, PluginVm, type PropertyTree, loadModule } from "../host/index.js";
import { isObject } from "./validate/values.js";

/** The build output the filter configs point at (`failover.wasm`). */
export const FAILOVER_WASM = fileURLToPath(new URL("../../build/failover.wasm", import.meta.url));
export const MODULE_FILE_NAME = "failover.wasm";
export const DEFAULT_ROUTING_HEADER = "x-failover-upstream";

let compiled: Promise<WebAssembly.Module> | undefined;

/** Compiles the module once per process. */
export function failoverModule(): Promise<WebAssembly.Module> {
  compiled ??= loadModule(FAILOVER_WASM).catch((e: NodeJS.ErrnoException) => {
    compiled = undefined;
    throw new Error(e.code === "ENOENT" ? `${FAILOVER_WASM} is missing: build it with \`node scripts/build.mjs\`` : `${FAILOVER_WASM}: ${e.message}`);
  });
  return compiled;
}

/**
 * The module's complaints about `policy` (JSON text), `[]` when it accepts it. `node` is what
 * Envoy would serve as xds.node (locality, metadata), so the module sees the proxy it would run in.
 */
export function policyProblems(module: WebAssembly.Module, policy: string, node: PropertyTree = {}): string[] {
  const vm = new PluginVm(module, {
    pluginConfig: policy,
    vmId: "failover",
    pluginName: "failover",
    properties: { xds: { node } },
    logLevel: LogLevel.Error,
    logger: () => {},
  });
  try {
    vm.start();
    return [];
  } catch (e) {
    if (e instanceof ConfigurationError) return e.moduleLog.length ? e.moduleLog : [e.message];
    // A trap or a link error is the module's fault, not the policy's; still, it does not start.
    return [`the module failed to start: ${(e as Error).message}`];
  }
}

/** The names a policy makes the filter write into the routing header, and what it expects of routes. */
export interface PolicyNames {
  routingHeader: string;
  clusters: string[];
  aggregates: { name: string; clusters: string[] }[];
  /** Some route moves retries to the next cluster (needs previous_priorities on the Envoy route). */
  retriesAcrossClusters: boolean;
}

/** Reads the declared names of a policy document (what it is made of, not what it decides). */
export function policyNames(doc: unknown): PolicyNames {
  const d = isObject(doc) ? doc : {};
  const list = (v: unknown) => (Array.isArray(v) ? v.filter(isObject) : []);
  const str = (v: unknown) => (typeof v === "string" ? v : "");
  return {
    routingHeader: (str(d.routingHeader) || DEFAULT_ROUTING_HEADER).toLowerCase(),
    clusters: list(d.clusters).map((c) => str(c.name)),
    aggregates: list(d.aggregates).map((a) => ({ name: str(a.name), clusters: Array.isArray(a.clusters) ? a.clusters.map(str) : [] })),
    retriesAcrossClusters: list(d.routes).some((r) => isObject(r.retry) && r.retry.acrossClusters === true),
  };
}
