// Cross-checks on a decoded Envoy bootstrap, for what the protos cannot say: every cluster a
// route, an aggregate, the ext_proc filter or the failover policy can name exists; the failover
// filters stand before the router (Wasm before ext_proc in the hybrid form); the Wasm filter runs
// the built module; the sidecar's cluster speaks HTTP/2 and the ext_proc filter is set up the way
// the sidecar needs; the routes read the policy's routing header, and retries into the next
// cluster have Envoy's previous_priorities plugin. Every Wasm and ext_proc HTTP filter in a
// config given to this validator is taken to be a failover filter.

import { basename } from "node:path";
import { TYPE_URL_PREFIX } from "./decode.js";
import { checkExtProcFilter } from "./extproc-filter.js";
import type { Issues } from "./issues.js";
import { SIDECAR_POLICY_KEY } from "../conventions.js";
import { DEFAULT_ROUTING_HEADER, MODULE_FILE_NAME } from "../../module/contract.js";
import { policyNames } from "../../module/policy-names.js";
import { type Path, formatPath } from "./source.js";
import { isObject } from "./values.js";

const HCM = "envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager";
const ROUTER = "envoy.extensions.filters.http.router.v3.Router";
const WASM_FILTER = "envoy.extensions.filters.http.wasm.v3.Wasm";
export const EXT_PROC_FILTER = "envoy.extensions.filters.http.ext_proc.v3.ExternalProcessor";
const AGGREGATE = "envoy.extensions.clusters.aggregate.v3.ClusterConfig";
const HTTP_OPTIONS = "envoy.extensions.upstreams.http.v3.HttpProtocolOptions";
const PREVIOUS_PRIORITIES = "envoy.retry_priorities.previous_priorities";
const STRING_VALUE = "google.protobuf.StringValue";
const STRUCT = "google.protobuf.Struct";
const V8 = "envoy.wasm.runtime.v8";
const OTHER_RUNTIMES = ["envoy.wasm.runtime.wamr", "envoy.wasm.runtime.wasmtime", "envoy.wasm.runtime.wavm", "envoy.wasm.runtime.null"];

type Obj = Record<string, unknown>;

/** A policy found in (or referenced by) a bootstrap, for the module to judge. */
export interface FoundPolicy {
  /** Where it is written: the Wasm filter's configuration, or the node metadata key. */
  readonly path: Path;
  readonly doc: unknown;
  readonly text: string;
}

/** A policy loaded from a file a bootstrap names, or why it could not be. */
export type PolicyFileResult = { doc: unknown; text: string } | { problem: string };

interface HeaderRoute { path: Path; header: string; route: Obj }

/** Checks one decoded bootstrap; returns the policies it carries or names. */
export function checkBootstrap(b: Obj, issues: Issues, readPolicyFile: (ref: string) => PolicyFileResult): FoundPolicy[] {
  return new BootstrapChecks(b, issues, readPolicyFile).run();
}

class BootstrapChecks {
  private readonly clusters = new Map<string, { cluster: Obj; path: Path }>();
  /** Clusters may also come from CDS: a missing one is then only a warning. */
  private readonly dynamicClusters: boolean;
  private readonly found: FoundPolicy[] = [];

  constructor(private readonly b: Obj, private readonly issues: Issues, private readonly readPolicyFile: (ref: string) => PolicyFileResult) {
    this.dynamicClusters = isObject(obj(b.dynamic_resources).cds_config) || typeof obj(b.dynamic_resources).cds_resources_locator === "string";
  }

  run(): FoundPolicy[] {
    this.indexClusters();
    this.checkAggregates();
    this.checkAdmin();
    this.checkStatsTags();
    const sidecarPolicy = this.sidecarPolicy();
    arr(obj(this.b.static_resources).listeners).forEach((listener, i) => {
      const base: Path = ["static_resources", "listeners", i];
      const chains = arr(listener.filter_chains).map((c, j) => ({ chain: c, path: [...base, "filter_chains", j] as Path }));
      if (isObject(listener.default_filter_chain)) chains.push({ chain: listener.default_filter_chain, path: [...base, "default_filter_chain"] });
      for (const { chain, path } of chains) {
        arr(chain.filters).forEach((f, k) => {
          const config = obj(f.typed_config);
          if (typeOf(config) === HCM) this.checkHcm(config, [...path, "filters", k, "typed_config"], sidecarPolicy);
        });
      }
    });
    return this.found;
  }

  private indexClusters(): void {
    arr(obj(this.b.static_resources).clusters).forEach((cluster, i) => {
      const path: Path = ["static_resources", "clusters", i];
      const name = str(cluster.name);
      if (this.clusters.has(name)) this.issues.error([...path, "name"], `duplicate cluster name "${name}" (first at ${formatPath(this.clusters.get(name)!.path)})`);
      else this.clusters.set(name, { cluster, path });
    });
  }

  private requireCluster(name: string, path: Path, what: string): Obj | undefined {
    const c = this.clusters.get(name);
    if (c) return c.cluster;
    const message = `${what} names cluster "${name}", which is not defined in static_resources.clusters`;
    if (this.dynamicClusters) this.issues.warn(path, `${message} (CDS may provide it)`);
    else this.issues.error(path, message);
    return undefined;
  }

  private checkAggregates(): void {
    for (const [name, { cluster, path }] of this.clusters) {
      const type = obj(cluster.cluster_type);
      if (typeOf(obj(type.typed_config)) !== AGGREGATE) continue;
      if (cluster.lb_policy !== "CLUSTER_PROVIDED") this.issues.error([...path, "lb_policy"], "an aggregate cluster needs lb_policy: CLUSTER_PROVIDED");
      strs(obj(type.typed_config).clusters).forEach((child, i) => {
        const at = [...path, "cluster_type", "typed_config", "clusters", i];
        if (child === name) this.issues.error(at, "an aggregate cluster cannot contain itself");
        else this.requireCluster(child, at, "the aggregate");
      });
    }
  }

  private checkAdmin(): void {
    const sock = obj(obj(obj(this.b.admin).address).socket_address);
    const address = str(sock.address);
    if (address && !/^(127\.\d+\.\d+\.\d+|::1|localhost)$/.test(address)) {
      this.issues.error(["admin", "address", "socket_address", "address"], `the admin interface is bound to ${address}: bind it to 127.0.0.1 (it can change and stop the proxy)`);
    }
  }

  private checkStatsTags(): void {
    arr(obj(this.b.stats_config).stats_tags).forEach((tag, i) => {
      if (typeof tag.regex !== "string") return;
      try {
        new RegExp(tag.regex);
      } catch (e) {
        this.issues.error(["stats_config", "stats_tags", i, "regex"], `does not compile: ${(e as Error).message}`);
      }
    });
  }

  /** The policy file the sidecar serves, named in node metadata, loaded relative to the bootstrap. */
  private sidecarPolicy(): FoundPolicy | undefined {
    const ref = obj(obj(this.b.node).metadata)[SIDECAR_POLICY_KEY];
    if (ref === undefined) return undefined;
    const path: Path = ["node", "metadata", SIDECAR_POLICY_KEY];
    if (typeof ref !== "string") {
      this.issues.error(path, "must be the path of the sidecar's policy file, relative to this file");
      return undefined;
    }
    const loaded = this.readPolicyFile(ref);
    if ("problem" in loaded) {
      this.issues.error(path, loaded.problem);
      return undefined;
    }
    const found = { path, doc: loaded.doc, text: loaded.text };
    this.found.push(found);
    return found;
  }

  private checkHcm(hcm: Obj, path: Path, sidecarPolicy: FoundPolicy | undefined): void {
    const filters = arr(hcm.http_filters);
    const at = (i: number): Path => [...path, "http_filters", i];
    // A filter without typed_config is found by its name, which Envoy still accepts for the router.
    const types = filters.map((f) => typeOf(obj(f.typed_config)) ?? (f.name === "envoy.filters.http.router" ? ROUTER : undefined));
    const router = types.indexOf(ROUTER);
    if (router < 0) this.issues.error([...path, "http_filters"], "no envoy.filters.http.router: nothing would be forwarded");
    else if (router !== filters.length - 1) this.issues.error(at(router), "the router must be the last HTTP filter: Envoy rejects filters after it");
    const wasm = indices(types, WASM_FILTER);
    const extProc = indices(types, EXT_PROC_FILTER);
    for (const i of [...wasm, ...extProc]) {
      if (router >= 0 && i > router) this.issues.error(at(i), `the failover filter must stand before envoy.filters.http.router (it is at ${i}, the router at ${router})`);
    }
    for (const i of extProc) {
      if (wasm.some((w) => w > i)) this.issues.error(at(i), "in the hybrid form the Wasm filter decides first and the sidecar may override it: put ext_proc after the Wasm filter");
    }
    if (!wasm.length && !extProc.length) {
      this.checkRoutes(hcm, path);
      return;
    }
    const policies: FoundPolicy[] = [];
    for (const i of wasm) {
      const p = this.checkWasm(obj(filters[i].typed_config), [...at(i), "typed_config"]);
      if (p) policies.push(p);
    }
    for (const i of extProc) this.checkExtProc(obj(filters[i].typed_config), [...at(i), "typed_config"]);
    if (extProc.length) {
      if (sidecarPolicy) policies.push(sidecarPolicy);
      else this.issues.warn(at(extProc[0]), `the sidecar's policy is unknown here (name its file in node.metadata.${SIDECAR_POLICY_KEY}): routes and clusters are not checked against it`);
    }
    if (policies.length > 1 && new Set(policies.map((p) => JSON.stringify(p.doc))).size > 1) {
      this.issues.warn(policies[1].path, `differs from the policy at ${formatPath(policies[0].path)}: the Wasm filter and the sidecar would decide by different rules`);
    }
    const headerRoutes = this.checkRoutes(hcm, path);
    if (hcm.route_config !== undefined && !headerRoutes.length) {
      this.issues.error([...path, "route_config"], "no route reads the routing header (cluster_header): the failover filter's choice would be ignored");
    }
    for (const p of policies) this.checkPolicyAgainstConfig(p, headerRoutes);
  }

  private checkWasm(cfg: Obj, path: Path): FoundPolicy | undefined {
    const config = obj(cfg.config);
    const cpath = [...path, "config"];
    const vm = obj(config.vm_config);
    if (!isObject(config.vm_config)) {
      this.issues.error(cpath, "needs vm_config (the runtime and the module)");
      return undefined;
    }
    const vpath = [...cpath, "vm_config"];
    // An empty runtime is the first engine of the build: V8 in Envoy's official images.
    const runtime = str(vm.runtime);
    if (runtime && runtime !== V8) {
      if (OTHER_RUNTIMES.includes(runtime)) this.issues.warn([...vpath, "runtime"], `${runtime} is not in Envoy's official build; the filter is tested for ${V8}`);
      else this.issues.error([...vpath, "runtime"], `"${runtime}" is not an Envoy Wasm runtime (use ${V8})`);
    }
    if (!str(vm.vm_id)) this.issues.warn([...vpath, "vm_id"], "empty: health is shared between plugins through the VM id, so give the failover filter its own (e.g. failover)");
    this.checkCode(obj(vm.code), [...vpath, "code"]);
    // Skipping a failed VM (FAIL_OPEN) or rebuilding it (FAIL_RELOAD) keeps traffic flowing.
    const opens = config.fail_open === true || config.failure_policy === "FAIL_OPEN" || config.failure_policy === "FAIL_RELOAD";
    if (!opens) {
      const field = config.failure_policy !== undefined ? "failure_policy" : "fail_open";
      this.issues.warn([...cpath, field], `${field === "fail_open" ? "not true" : `is ${String(config.failure_policy)}`}: if the Wasm VM fails, every request gets a 503 instead of Envoy's own routing`);
    }
    return this.embeddedPolicy(obj(config.configuration), [...cpath, "configuration"]);
  }

  private checkCode(code: Obj, path: Path): void {
    const local = obj(code.local);
    const remote = obj(obj(code.remote).http_uri);
    const file = str(local.filename) || str(remote.uri);
    if (isObject(code.local) && !local.filename) {
      this.issues.error([...path, "local"], `inline code: point local.filename at the built module (${MODULE_FILE_NAME})`);
    } else if (file && basename(file) !== MODULE_FILE_NAME) {
      const at = local.filename ? ["local", "filename"] : ["remote", "http_uri", "uri"];
      this.issues.error([...path, ...at], `points at "${file}", not the failover module (build/${MODULE_FILE_NAME})`);
    } else if (!file) {
      this.issues.error(path, `needs the module: local.filename ending in ${MODULE_FILE_NAME}`);
    }
  }

  private embeddedPolicy(configuration: Obj, path: Path): FoundPolicy | undefined {
    const type = typeOf(configuration);
    if (!type) {
      this.issues.error(path, `required: the failover policy as JSON in a ${STRING_VALUE}`);
      return undefined;
    }
    if (type === STRUCT) {
      const found = { path: [...path, "value"], doc: configuration.value, text: JSON.stringify(configuration.value) };
      this.found.push(found);
      return found;
    }
    if (type !== STRING_VALUE) {
      this.issues.error([...path, "@type"], `the policy must be a ${STRING_VALUE} holding JSON (Envoy hands its text to the module), not ${type}`);
      return undefined;
    }
    const text = str(configuration.value);
    let doc: unknown;
    try {
      doc = JSON.parse(text);
    } catch (e) {
      this.issues.error([...path, "value"], `the policy is not JSON: ${(e as Error).message}`);
      return undefined;
    }
    const found = { path: [...path, "value"], doc, text };
    this.found.push(found);
    return found;
  }

  private checkExtProc(cfg: Obj, path: Path): void {
    checkExtProcFilter(cfg, path, this.issues, (name, at) => {
      const cluster = this.requireCluster(name, at, "the ext_proc filter");
      if (cluster && !speaksHttp2(cluster)) {
        this.issues.error(at, `cluster "${name}" does not speak HTTP/2, which gRPC needs: set typed_extension_protocol_options["${HTTP_OPTIONS}"].explicit_http_config.http2_protocol_options`);
      }
    });
  }

  /** Checks every route action; returns the routes that read a cluster_header. */
  private checkRoutes(hcm: Obj, path: Path): HeaderRoute[] {
    if (hcm.rds !== undefined) {
      this.issues.warn([...path, "rds"], "routes come from RDS: they are not checked");
      return [];
    }
    const out: HeaderRoute[] = [];
    arr(obj(hcm.route_config).virtual_hosts).forEach((vh, v) => {
      arr(vh.routes).forEach((route, r) => {
        const rpath: Path = [...path, "route_config", "virtual_hosts", v, "routes", r];
        const action = obj(route.route);
        if (!isObject(route.route)) return;
        const apath = [...rpath, "route"];
        if (typeof action.cluster === "string") this.requireCluster(action.cluster, [...apath, "cluster"], "the route");
        arr(obj(action.weighted_clusters).clusters).forEach((wc, w) => this.requireCluster(str(wc.name), [...apath, "weighted_clusters", "clusters", w, "name"], "the route"));
        arr(action.request_mirror_policies).forEach((m, k) => this.requireCluster(str(m.cluster), [...apath, "request_mirror_policies", k, "cluster"], "the mirror policy"));
        if (typeof action.cluster_header === "string") out.push({ path: apath, header: action.cluster_header, route: action });
      });
    });
    return out;
  }

  /** The policy's routing header, clusters and aggregates against this bootstrap's routes and clusters. */
  private checkPolicyAgainstConfig(p: FoundPolicy, headerRoutes: HeaderRoute[]): void {
    const names = policyNames(p.doc);
    const where = formatPath(p.path);
    for (const r of headerRoutes) {
      if (r.header.toLowerCase() !== names.routingHeader) {
        this.issues.error([...r.path, "cluster_header"], `is "${r.header}" but the policy at ${where} writes its choice into "${names.routingHeader}"${names.routingHeader === DEFAULT_ROUTING_HEADER ? " (its default routingHeader)" : ""}`);
      }
      if (names.retriesAcrossClusters && !hasPreviousPriorities(r.route)) {
        this.issues.error([...r.path, "retry_policy"], `the policy at ${where} retries into the next cluster (acrossClusters): the route needs retry_priority ${PREVIOUS_PRIORITIES}`);
      }
    }
    names.clusters.forEach((name, i) => this.requireCluster(name, p.path, `the policy (clusters[${i}])`));
    names.aggregates.forEach((a, i) => {
      const cluster = this.requireCluster(a.name, p.path, `the policy (aggregates[${i}])`);
      if (!cluster) return;
      const children = strs(obj(obj(cluster.cluster_type).typed_config).clusters);
      if (typeOf(obj(obj(cluster.cluster_type).typed_config)) !== AGGREGATE || JSON.stringify(children) !== JSON.stringify(a.clusters)) {
        this.issues.error(this.clusters.get(a.name)!.path, `the policy (aggregates[${i}]) expects an aggregate cluster over [${a.clusters.join(", ")}] in that order (it attributes retry n to child n); this cluster is ${children.length ? `over [${children.join(", ")}]` : "not an aggregate"}`);
      }
    });
  }
}

function speaksHttp2(cluster: Obj): boolean {
  const options = obj(obj(cluster.typed_extension_protocol_options)[HTTP_OPTIONS]);
  return isObject(obj(options.explicit_http_config).http2_protocol_options) || isObject(obj(options.auto_config).http2_protocol_options) || isObject(cluster.http2_protocol_options);
}

function hasPreviousPriorities(action: Obj): boolean {
  return obj(obj(action.retry_policy).retry_priority).name === PREVIOUS_PRIORITIES;
}

function typeOf(any: Obj): string | undefined {
  const url = any["@type"];
  return typeof url === "string" && url.startsWith(TYPE_URL_PREFIX) ? url.slice(TYPE_URL_PREFIX.length) : undefined;
}

function indices(list: (string | undefined)[], value: string): number[] {
  return list.flatMap((v, i) => (v === value ? [i] : []));
}

function obj(v: unknown): Obj {
  return isObject(v) ? v : {};
}

/** The objects of a list, index for index (an item that failed to decode reads as {}). */
function arr(v: unknown): Obj[] {
  return Array.isArray(v) ? v.map(obj) : [];
}

/** The strings of a list, index for index. */
function strs(v: unknown): string[] {
  return Array.isArray(v) ? v.map(str) : [];
}

function str(v: unknown): string {
  return typeof v === "string" ? v : "";
}
