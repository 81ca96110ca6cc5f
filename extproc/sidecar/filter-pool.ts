// The hosted filter, one VM per proxy locality: Envoys in different zones need different
// priority orders, so each locality gets its own root context, while all of them share one
// SharedData (one health view for every Envoy) and one Metrics store. A new policy is started
// and checked before it replaces the old one; streams in flight finish on the VM they began on.

import { ConfigurationError, LogLevel, Metrics, PluginVm, SharedData } from "../host/index.js";
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
}

const LEVELS: Record<number, "debug" | "info" | "warn" | "error"> = {
  [LogLevel.Trace]: "debug", [LogLevel.Debug]: "debug", [LogLevel.Info]: "info",
  [LogLevel.Warn]: "warn", [LogLevel.Error]: "error", [LogLevel.Critical]: "error",
};

export class FilterPool {
  readonly shared = new SharedData();
  readonly metrics = new Metrics();
  private vms = new Map<string, PluginVm>();
  private config = "";
  private warnedFull = false;

  constructor(private readonly options: FilterPoolOptions) {}

  /**
   * Validates `config` by starting the default locality's VM on it, then switches to it.
   * Throws ConfigurationError (the module's own messages) and keeps the current policy.
   */
  configure(config: string): void {
    const fresh = this.start(config, this.options.locality);
    const old = this.vms;
    this.vms = new Map([[localityKey(this.options.locality), fresh]]);
    this.config = config;
    for (const vm of old.values()) vm.stopTimers();
  }

  get configured(): boolean { return this.config !== ""; }

  /** The VM for an Envoy in `locality` (the sidecar's own when the Envoy sent none). */
  vmFor(locality: Locality | undefined): PluginVm {
    const key = localityKey(locality ?? this.options.locality);
    const found = this.vms.get(key);
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

  get failure(): Error | undefined {
    for (const vm of this.vms.values()) if (vm.failure) return vm.failure;
    return undefined;
  }

  close(): void {
    for (const vm of this.vms.values()) {
      vm.stopTimers();
      if (!vm.failure) vm.shutdown();
    }
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
