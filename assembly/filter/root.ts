// The failover plugin's root context: reads and validates the policy, learns this proxy's
// locality from Envoy's node, and keeps the plans fresh: on every tick the plan runner re-reads
// every cluster's health from shared data, re-plans every route with Envoy's arithmetic, and
// publishes the plan. Each stream gets the picker (which holds the current plans) and the
// outcome recorder.

import {
  BufferType, HttpContext, LogLevel, RootContext, getBuffer, getPropertyString, log, nowNanos,
  randomBytes, readSharedData, setTickPeriod, writeSharedData,
} from "../abi";
import { Picker } from "../plan/pick";
import { PlanRunner } from "../plan/runner";
import { MAX_POLICY_BYTES, parsePolicy } from "../policy/parse";
import { AffinityKind, Locality, Policy } from "../policy/model";
import { PLAN_KEY } from "../shared";
import { itoa } from "../text";
import { Metrics } from "./metrics";
import { OutcomeRecorder } from "./recorder";
import { FailoverStream } from "./stream";

/** Shared-data key of the proxy's own affinity cookie key. */
const OWN_KEY = "failover.affinity.key";

export class FailoverRoot extends RootContext {
  private configured: bool = false;
  /**
   * Signs affinity cookies where the policy names no secret: 32 random bytes from the first
   * worker, in shared data, adopted by every worker at each tick (so they check each other's
   * cookies). Other proxies have their own: name a secret for affinity across proxies.
   */
  private ownKey: Array<StaticArray<u8>> = [new StaticArray<u8>(64)];
  private ownKeyUsed: bool = false;
  private picker: Picker = new Picker();
  private runner: PlanRunner = new PlanRunner(this.picker, this.ownKey);
  private recorder: OutcomeRecorder = new OutcomeRecorder(this.runner);

  onConfigure(size: u32): bool {
    if (size > MAX_POLICY_BYTES) {
      log(LogLevel.Error, "failover: policy: document: " + itoa(size) + " bytes; the limit is " + itoa(MAX_POLICY_BYTES) + " (1 MiB)");
      return false;
    }
    const buf = getBuffer(BufferType.PluginConfiguration);
    const result = parsePolicy(buf === null ? "" : String.UTF8.decode(buf));
    if (result.policy === null) {
      for (let i = 0; i < result.errors.length; i++) log(LogLevel.Error, "failover: policy: " + result.errors[i]);
      return false;
    }
    this.apply(result.policy!);
    return true;
  }

  /** Switches to a validated policy; state of clusters that keep their name survives in shared data. */
  apply(p: Policy): void {
    const proxy = nodeLocality(p);
    const rootId = getPropertyString(["plugin_root_id"]);
    const planKey = rootId === null || rootId!.length == 0 ? PLAN_KEY : PLAN_KEY + "." + rootId!;
    const metrics = new Metrics(p);
    this.runner.configure(p, proxy, planKey, metrics);
    this.recorder.configure(p, metrics);
    this.ownKeyUsed = false;
    for (let r = 0; r < p.routes.length; r++) {
      const affinity = p.routes[r].affinity;
      this.ownKeyUsed = this.ownKeyUsed || (affinity.kind == AffinityKind.Cookie && affinity.cookieKeys.length == 0);
    }
    if (this.ownKeyUsed && readSharedData(OWN_KEY, changetype<usize>(this.ownKey[0]), 32) != 32) {
      const key = changetype<usize>(this.ownKey[0]);
      if (!randomBytes(key, 32)) log(LogLevel.Warn, "failover: no random key: set affinity.cookie.secret");
      writeSharedData(OWN_KEY, key, 32, 0); // no cas: cannot fail (abi/host.ts)
    }
    const now = nowNanos();
    this.picker.seed(p.hasSeed ? p.seed : now);
    setTickPeriod(p.health.refreshMs);
    this.configured = true;
    log(LogLevel.Info, "failover: policy loaded: " + itoa(p.clusters.length) + " clusters, " + itoa(p.routes.length) +
      " routes, proxy locality " + proxy.describe());
    this.refresh(<i64>(now / 1000000));
  }

  onTick(): void {
    if (this.configured) this.refresh(<i64>(nowNanos() / 1000000));
  }

  /** Adopts the shared affinity key (another worker may have set it first), then re-plans. */
  private refresh(nowMs: i64): void {
    if (this.ownKeyUsed) readSharedData(OWN_KEY, changetype<usize>(this.ownKey[0]), 32);
    this.runner.refresh(nowMs);
  }

  newHttpContext(id: u32): HttpContext { return new FailoverStream(id, this, this.picker, this.recorder); }
}

/** This proxy's locality: the policy's fields first, then Envoy's node (xds.node.*, or node.* before Envoy 1.33). */
function nodeLocality(p: Policy): Locality {
  const l = new Locality();
  l.region = nodeString("locality", "region");
  l.zone = nodeString("locality", "zone");
  l.subzone = nodeString("locality", "sub_zone");
  l.cluster = nodeString("metadata", "CLUSTER_ID");
  const network = nodeString("metadata", "NETWORK");
  if (network.length > 0) l.labels.set("topology.istio.io/network", network);
  const set = p.localitySet;
  if (set.includes("region")) l.region = p.locality.region;
  if (set.includes("zone")) l.zone = p.locality.zone;
  if (set.includes("subzone")) l.subzone = p.locality.subzone;
  if (set.includes("cluster")) l.cluster = p.locality.cluster;
  const keys = p.locality.labels.keys();
  for (let i = 0; i < keys.length; i++) l.labels.set(keys[i], p.locality.labels.get(keys[i]));
  return l;
}

function nodeString(field: string, key: string): string {
  let v = getPropertyString(["xds", "node", field, key]);
  if (v === null) v = getPropertyString(["node", field, key]);
  return v === null ? "" : v!;
}
