// The hosted filter, one VM per proxy locality: Envoys in different zones need different
// priority orders, so each locality gets its own root context, while all of them share one
// SharedData (one health view for every Envoy) and one Metrics store. A new policy is started
// and checked before it replaces the old one; streams in flight finish on the VM they began on.
//
// A trap, by failure policy (--failure-policy; Envoy's failure_policy names):
// - fail-reload (default): the trapping stream and the others open on that VM pass through
//   untouched (as under Envoy's legacy fail_open), and the next stream of that locality gets a
//   rebuilt VM, at most one rebuild per 1-1.5 s (Envoy's reload backoff) with streams passing
//   untouched in between. Health state survives: it is shared data of the vm_id, which the
//   other VMs (and the new one, started before the failed one goes) keep alive, as Envoy's base
//   VM does when it reloads a worker's VM.
// - fail-open: streams pass untouched from the trap on; nothing is rebuilt until the policy is.
// - fail-closed: every stream of that VM gets a 503 (wasm_fail_stream) until the policy is reloaded.

import {
  ConfigurationError, type FailurePolicy, LogLevel, Metrics, PluginVm, RELOAD_BASE_INTERVAL_MS, ReloadBackoff, SharedData,
} from "../host/index.js";
import type { Logger } from "./logger.js";
import { type Locality, localityKey } from "./protocol.js";

/** More localities than this share the default VM (and a warning says so). */
export const MAX_LOCALITIES = 64;
export const VM_ID = "failover";

export interface FilterPoolOptions {
  module: WebAssembly.Module;
  logger: Logger;
  /** The sidecar's own locality, for Envoys that do not send theirs. */
  locality: Locality;
  clock?: () => bigint;
  /** Deliver ticks on real timers (off for deterministic tests, which call tick()). */
  timers?: boolean;
  /** What a trap costs (default fail-reload). */
  failurePolicy?: FailurePolicy;
  /** Least wait between two rebuilds of one locality's VM (jittered up to 1.5×). */
  reloadBaseIntervalMs?: number;
  /** Monotonic milliseconds, for that wait. */
  monotonicMs?: () => number;
  /** Told of every rebuild after a trap: "ok", or "failed" (the failed VM keeps passing streams). */
  onVmReload?: (result: "ok" | "failed") => void;
}

const LEVELS: Record<number, "debug" | "info" | "warn" | "error"> = {
  [LogLevel.Trace]: "debug", [LogLevel.Debug]: "debug", [LogLevel.Info]: "info",
  [LogLevel.Warn]: "warn", [LogLevel.Error]: "error", [LogLevel.Critical]: "error",
};

export class FilterPool {
  readonly shared = new SharedData();
  readonly metrics = new Metrics();
  readonly failurePolicy: FailurePolicy;
  private vms = new Map<string, PluginVm>();
  private readonly backoffs = new Map<string, ReloadBackoff>();
  private config = "";
  private warnedFull = false;

  constructor(private readonly options: FilterPoolOptions) {
    this.failurePolicy = options.failurePolicy ?? "fail-reload";
  }

  /**
   * Validates `config` by starting the default locality's VM on it, then switches to it.
   * Throws ConfigurationError (the module's own messages) and keeps the current policy.
   */
  configure(config: string): void {
    const fresh = this.start(config, this.options.locality);
    const old = this.vms;
    this.vms = new Map([[localityKey(this.options.locality), fresh]]);
    this.config = config;
    for (const vm of old.values()) vm.dispose(); // streams in flight finish on them; the new VM holds the vm_id
  }

  get configured(): boolean { return this.config !== ""; }

  /** The VM for an Envoy in `locality` (the sidecar's own when the Envoy sent none). */
  vmFor(locality: Locality | undefined): PluginVm {
    const key = localityKey(locality ?? this.options.locality);
    const found = this.vms.get(key);
    if (found?.failure && this.failurePolicy === "fail-reload") return this.rebuild(key, locality ?? this.options.locality, found);
    if (found) return found;
    if (this.vms.size >= MAX_LOCALITIES) {
      if (!this.warnedFull) this.options.logger.log("warn", "too many proxy localities; the rest use the sidecar's own", { max: MAX_LOCALITIES });
      this.warnedFull = true;
      return this.vms.get(localityKey(this.options.locality))!;
    }
    const vm = this.start(this.config, locality!);
    this.vms.set(key, vm);
    return vm;
  }

  /** Delivers one tick to every VM (tests and simulations drive time themselves). */
  tick(): void {
    for (const vm of this.vms.values()) vm.tick();
  }

  /** Every locality's published plan, parsed. */
  plans(): { locality: string; plan: unknown }[] {
    const out: { locality: string; plan: unknown }[] = [];
    for (const [key, vm] of this.vms) {
      const e = this.shared.get(vm.vmId, `failover.plan.${rootId(key)}`);
      if (e) out.push({ locality: key, plan: JSON.parse(new TextDecoder().decode(e.value)) });
    }
    return out;
  }

  /**
   * A trap that lasts until the policy is reloaded (readiness and /debug/clusters report it).
   * Under fail-reload a trapped VM is rebuilt by the next request, so it is not reported: an
   * unready sidecar would get no requests (Kubernetes takes it out of rotation) and never heal.
   */
  get failure(): Error | undefined {
    if (this.failurePolicy === "fail-reload") return undefined;
    for (const vm of this.vms.values()) if (vm.failure) return vm.failure;
    return undefined;
  }

  close(): void {
    for (const vm of this.vms.values()) vm.shutdown();
  }

  /** A failed VM's replacement, when the backoff allows one now; else the failed VM (it passes streams). */
  private rebuild(key: string, l: Locality, failed: PluginVm): PluginVm {
    let backoff = this.backoffs.get(key);
    if (!backoff) {
      // The first rebuild after a trap happens at once; later ones wait out the backoff.
      backoff = new ReloadBackoff(this.options.reloadBaseIntervalMs ?? RELOAD_BASE_INTERVAL_MS, this.options.monotonicMs ?? (() => performance.now()), undefined, -Infinity);
      this.backoffs.set(key, backoff);
    }
    if (!backoff.due()) return failed;
    const trap = failed.failure!.message;
    let fresh: PluginVm;
    try {
      fresh = this.start(this.config, l);
    } catch (e) {
      this.options.onVmReload?.("failed");
      this.options.logger.log("error", "filter VM trapped and could not be rebuilt; requests pass through untouched", { locality: key, trap, error: (e as Error).message });
      return failed;
    }
    this.vms.set(key, fresh);
    failed.dispose(); // after the fresh VM holds the vm_id: the health state stays
    this.options.onVmReload?.("ok");
    this.options.logger.log("warn", "filter VM trapped and was rebuilt; the requests it held passed through untouched", { locality: key, trap });
    return fresh;
  }

  private start(config: string, l: Locality): PluginVm {
    const key = localityKey(l);
    const vm = new PluginVm(this.options.module, {
      pluginConfig: config,
      vmId: VM_ID,
      rootId: rootId(key),
      pluginName: "failover",
      shared: this.shared,
      metrics: this.metrics,
      clock: this.options.clock,
      properties: {
        xds: { node: { locality: { region: l.region, zone: l.zone, sub_zone: l.subzone }, metadata: { CLUSTER_ID: l.cluster } } },
      },
      logger: (level, message) => this.options.logger.log(LEVELS[level], message, { locality: key }),
      // CHECK_FAIL's open result for the streams a trap catches, unless failing closed.
      failOpen: this.failurePolicy !== "fail-closed",
    });
    try {
      vm.start();
    } catch (e) {
      if (e instanceof ConfigurationError) throw e;
      throw new ConfigurationError(`the filter failed to start: ${(e as Error).message}`, []);
    }
    if (this.options.timers !== false) vm.startTimers();
    return vm;
  }
}

/** The plugin root_id of a locality's VM: it also names the VM's published plan. */
const rootId = (key: string) => `locality:${key}`;
