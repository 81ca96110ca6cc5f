// A proxy-wasm VM as Envoy runs one: it instantiates a compiled module with the host functions
// Envoy provides, starts it (_initialize, root context, on_vm_start, on_configure), creates one
// context per HTTP stream, delivers ticks, and answers every ABI call the way Envoy's host does
// (see test/data/ENVOY-HOST-NOTES.md for the rules and their sources). One PluginVm corresponds to
// one Envoy worker thread's VM; SharedData and Metrics can be shared by several of them.

import { readFile } from "node:fs/promises";
import { BufferType, LogLevel } from "./abi.js";
import type { StreamAccess, StreamOwner } from "./access.js";
import { headerCalls } from "./calls/headers.js";
import { httpCalls } from "./calls/http.js";
import { metricCalls } from "./calls/metrics.js";
import { propertyCalls } from "./calls/properties.js";
import { runtimeCalls } from "./calls/runtime.js";
import { sharedDataCalls } from "./calls/shared-data.js";
import { wasiFunctions } from "./calls/wasi.js";
import type { HostContext } from "./calls/context.js";
import { ConfigurationError, LinkError, WasmTrapError } from "./errors.js";
import { type FailurePolicy, resolveFailurePolicy } from "./failure-policy.js";
import { linkImports } from "./link.js";
import { GuestMemory } from "./memory.js";
import { MetricTable, Metrics } from "./metrics.js";
import { decodePairs, encodePairs } from "./pairs.js";
import type { PropertyTree } from "./properties.js";
import { SharedData } from "./shared-data.js";
import { HttpStream } from "./stream.js";

/** `prefix` is Envoy's log prefix for the calling context: " <plugin> <root_id> <vm_id>". */
export type Logger = (level: LogLevel, message: string, prefix?: string) => void;

export interface PluginVmOptions {
  /** Plugin configuration (Envoy: `config.configuration`), handed to on_configure. */
  pluginConfig?: string | Uint8Array;
  /** VM configuration (Envoy: `vm_config.configuration`), handed to on_vm_start. */
  vmConfig?: string | Uint8Array;
  /** Shared-data scope: VMs with the same id share data, as in Envoy (`vm_config.vm_id`). */
  vmId?: string;
  pluginName?: string;
  rootId?: string;
  /** What Envoy knows outside any stream: `xds.node` (locality, metadata), ... */
  properties?: PropertyTree;
  shared?: SharedData;
  metrics?: Metrics;
  /** Wall-clock nanoseconds since the epoch; inject a simulated clock here. */
  clock?: () => bigint;
  logger?: Logger;
  /** The level of Envoy's `wasm` logger: messages below it are dropped. */
  logLevel?: LogLevel;
  /**
   * The deprecated `fail_open: true`: after a trap, open streams and new ones pass untouched
   * (cpp-host CHECK_FAIL reads this flag alone).
   */
  failOpen?: boolean;
  /** Envoy's `failure_policy` (new streams after a trap); exclusive with failOpen. */
  failurePolicy?: FailurePolicy;
}

/** Envoy's line: `wasm log<prefix>: <message>` on its `wasm` logger. */
export const defaultLogger: Logger = (level, message, prefix = "") => {
  const line = `wasm log${prefix}: ${message}\n`;
  (level >= LogLevel.Warn ? process.stderr : process.stdout).write(line);
};

/** Compiles a module file once; many PluginVm instances can share the result. */
export async function loadModule(path: string): Promise<WebAssembly.Module> {
  return WebAssembly.compile(await readFile(path));
}

type Exports = Record<string, unknown> & { memory: WebAssembly.Memory };
type Fn = (...args: (number | bigint)[]) => number | bigint | undefined;

export class PluginVm implements StreamOwner {
  readonly shared: SharedData;
  readonly metrics: Metrics;
  readonly vmId: string;
  readonly properties: PropertyTree;
  logLevel: LogLevel;
  /** Set once the module trapped; the VM then makes no more calls into the module. */
  failure: WasmTrapError | undefined;
  /** The plugin's fail_open_: decides what streams already open see after a trap. */
  readonly failOpen: boolean;
  /** What new streams get after a trap (FailurePolicy; legacy fail_open means fail-open). */
  readonly failurePolicy: FailurePolicy;
  /** The root context id Envoy gives the first (only) plugin of a VM. */
  readonly rootContextId = 1;
  tickPeriodMs = 0;

  private readonly options: PluginVmOptions;
  private readonly clock: () => bigint;
  private readonly logger: Logger;
  private readonly table: MetricTable;
  private instance: WebAssembly.Instance | undefined;
  private exports!: Exports;
  /** The module's exported functions by name (null: not exported), looked up once. */
  private readonly fns = new Map<string, Fn | null>();
  private memory!: GuestMemory;
  private nextContextId = 2;
  private current = 0; // the context whose callback is running (0: none / VM)
  private readonly streams = new Map<number, StreamAccess>();
  private configuring: BufferType | undefined; // which config buffer is readable right now
  private rootDonePending = false;
  private lastCritical: string | undefined;
  private moduleLog: string[] | undefined; // collects error logs during start-up
  private timer: NodeJS.Timeout | undefined;
  private timersOn = false;
  private starting = false; // _initialize / main / _start: only ALLOWED_DURING_START may be called
  private holdsVmId = false;

  constructor(private readonly module: WebAssembly.Module, options: PluginVmOptions = {}) {
    this.options = options;
    this.shared = options.shared ?? new SharedData();
    this.metrics = options.metrics ?? new Metrics();
    this.table = new MetricTable(this.metrics);
    this.vmId = options.vmId ?? "";
    this.clock = options.clock ?? (() => BigInt(Date.now()) * 1_000_000n);
    this.logger = options.logger ?? defaultLogger;
    this.logLevel = options.logLevel ?? LogLevel.Info;
    this.failurePolicy = resolveFailurePolicy(options.failOpen, options.failurePolicy);
    this.failOpen = options.failOpen ?? false;
    const given = options.properties ?? {};
    const xds = (given.xds ?? {}) as PropertyTree;
    this.properties = {
      plugin_name: options.pluginName ?? "",
      plugin_root_id: options.rootId ?? "",
      plugin_vm_id: this.vmId,
      ...given,
      xds: { ...xds, node: xds.node ?? {} }, // Envoy always has a Node (LocalInfo), maybe empty
    };
  }

  /**
   * Envoy's start sequence: instantiate, `_initialize` (then `main`) or `_start`, the root
   * context, on_vm_start, on_configure. Throws LinkError, ConfigurationError or WasmTrapError.
   */
  start(): this {
    this.instance = new WebAssembly.Instance(this.module, linkImports(this.module, this.hostFunctions(), () => this.starting));
    this.shared.acquire(this.vmId);
    this.holdsVmId = true;
    try {
      return this.startModule();
    } catch (e) {
      this.dispose(); // a VM that failed to start is destroyed (and lets go of its vm_id)
      throw e;
    }
  }

  private startModule(): this {
    this.exports = this.instance!.exports as Exports;
    this.fns.clear();
    if (!(this.exports.memory instanceof WebAssembly.Memory)) throw new LinkError("module exports no memory");
    if (typeof this.exports.malloc !== "function" && typeof this.exports.proxy_on_memory_allocate !== "function") {
      throw new LinkError("module exports neither malloc nor proxy_on_memory_allocate");
    }
    this.memory = new GuestMemory(this.exports.memory, (this.fn("malloc") ?? this.fn("proxy_on_memory_allocate"))!);
    this.moduleLog = [];
    try {
      this.starting = true;
      if (this.fn("_initialize")) {
        this.call("_initialize", 0);
        if (this.fn("main")) this.call("main", 0, 0, 0);
      } else if (this.fn("_start")) {
        this.call("_start", 0);
      }
      this.starting = false;
      const root = this.rootContextId;
      this.call("proxy_on_context_create", root, root, 0);
      const vmConfig = this.asBytes(this.options.vmConfig);
      if (!this.withConfig(BufferType.VmConfiguration, () => this.call("proxy_on_vm_start", root, root, vmConfig.length))) {
        throw new ConfigurationError("the module refused its VM configuration (on_vm_start returned false)", this.moduleLog);
      }
      const pluginConfig = this.asBytes(this.options.pluginConfig);
      if (!this.withConfig(BufferType.PluginConfiguration, () => this.call("proxy_on_configure", root, root, pluginConfig.length))) {
        throw new ConfigurationError("the module rejected its plugin configuration (on_configure returned false)", this.moduleLog);
      }
    } finally {
      this.starting = false;
      this.moduleLog = undefined;
    }
    return this;
  }

  /** Delivers one tick to the root context, if the module asked for ticks. */
  tick(): void {
    if (this.tickPeriodMs > 0 && !this.failure) this.call("proxy_on_tick", this.rootContextId, this.rootContextId);
  }

  /**
   * Delivers ticks on real timers (the sidecar's mode; unref'd): as Envoy's Wasm::tickHandler,
   * each tick re-arms the timer with the period current after it, and a period the module sets
   * later (set_tick_period_milliseconds) starts the timer then.
   */
  startTimers(): void {
    this.timersOn = true;
    this.armTimer();
  }

  stopTimers(): void {
    this.timersOn = false;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }

  private armTimer(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    if (!this.timersOn || this.tickPeriodMs <= 0 || this.failure) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      try {
        this.tick();
      } catch {
        return; // the failure is recorded on the VM and logged; no more ticks
      }
      if (!this.timer) this.armTimer();
    }, this.tickPeriodMs);
    this.timer.unref();
  }

  /** Tears the plugin down as Envoy does: on_done on the root context, then on_delete. */
  shutdown(): void {
    this.stopTimers();
    if (!this.failure && this.instance) {
      const done = this.call("proxy_on_done", this.rootContextId, this.rootContextId);
      if (done) this.call("proxy_on_delete", this.rootContextId, this.rootContextId);
      else this.rootDonePending = true; // the module will call proxy_done
    }
    this.dispose();
  }

  /**
   * The VM is gone (no calls into the module): it lets go of its vm_id, and shared data under
   * that id is dropped when no other VM holds it (cpp-host VmIdHandle).
   */
  dispose(): void {
    this.stopTimers();
    if (this.holdsVmId) this.shared.release(this.vmId);
    this.holdsVmId = false;
  }

  /**
   * A new HTTP stream: Envoy's PluginConfig::createContext. It gets a fresh context id (never
   * reused while the VM lives) and on_context_create, unless the VM already failed: then, by
   * failure policy, no filter (FAIL_OPEN: the stream passes untouched) or a context that fails
   * it. `properties` are what Envoy knows of the stream (source.address, xds.cluster_name, ...).
   */
  createStream(properties: PropertyTree = {}): HttpStream {
    const id = this.nextContextId++;
    const failed = this.failure !== undefined;
    const stream = new HttpStream(this, id, properties, failed && this.failurePolicy === "fail-open");
    if (failed) return stream; // no filter, or an empty context that fails the stream
    this.streams.set(id, stream);
    this.call("proxy_on_context_create", id, id, this.rootContextId);
    return stream;
  }

  unregister(id: number): void { this.streams.delete(id); }

  /** Pages of linear memory, for memory-growth checks. */
  get memoryPages(): number {
    return this.memory.pages;
  }

  /**
   * Calls an exported callback with `context` as the current context. A trap fails the VM and
   * throws WasmTrapError; a callback the module does not export returns 0 (Continue / false).
   */
  call(name: string, context: number, ...args: (number | bigint)[]): number {
    if (this.failure) throw this.failure;
    const f = this.fn(name);
    if (!f) return 0;
    const previous = this.current;
    this.current = context;
    try {
      // Callbacks take at most three arguments: called directly, without spreading an array.
      const n = args.length;
      const r = n === 1 ? f(args[0]) : n === 2 ? f(args[0], args[1]) : n === 3 ? f(args[0], args[1], args[2]) : f(...args);
      return typeof r === "number" ? r >>> 0 : 0;
    } catch (e) {
      this.failure = new WasmTrapError(name, context, e, this.lastCritical);
      this.logger(LogLevel.Critical, this.failure.message);
      throw this.failure;
    } finally {
      this.current = previous;
    }
  }

  private fn(name: string): Fn | undefined {
    let f = this.fns.get(name);
    if (f === undefined) {
      const e = this.exports[name];
      this.fns.set(name, (f = typeof e === "function" ? (e as Fn) : null));
    }
    return f ?? undefined;
  }

  private withConfig(type: BufferType, run: () => number): boolean {
    this.configuring = type;
    try {
      return run() !== 0;
    } finally {
      this.configuring = undefined;
    }
  }

  private asBytes(v: string | Uint8Array | undefined): Uint8Array {
    return v === undefined ? new Uint8Array(0) : typeof v === "string" ? Buffer.from(v, "utf8") : v;
  }

  /** The pairs format (pairs.ts); kept here for callers of the host's API. */
  static readonly encodePairs = encodePairs;
  static readonly decodePairs = decodePairs;

  // ---- what host calls see of the VM -------------------------------------------------------

  private log(level: LogLevel, message: string): void {
    if (level === LogLevel.Critical) this.lastCritical = message;
    if (this.moduleLog && level >= LogLevel.Warn) this.moduleLog.push(message);
    if (level >= this.logLevel) this.logger(level, message, this.logPrefix());
  }

  /** cpp-host ContextBase::log_prefix: root_id and vm_id for the root, plugin name too for streams. */
  private logPrefix(): string {
    const parts = this.streams.has(this.current) ? [this.properties.plugin_name, this.properties.plugin_root_id, this.vmId] : [this.properties.plugin_root_id, this.vmId];
    return parts.filter((p) => typeof p === "string" && p !== "").map((p) => ` ${p as string}`).join("");
  }

  /** Every function the VM provides, by import module, grouped by concern (calls/). */
  private hostFunctions() {
    const vm = this;
    const host: HostContext = {
      get memory() { return vm.memory; },
      stream: (): StreamAccess | undefined => vm.streams.get(vm.current),
      log: (level, message) => vm.log(level, message),
    };
    const wasi = wasiFunctions({
      read: (p, n) => vm.memory.read(p, n), writeU32: (p, v) => vm.memory.writeU32(p, v), writeU64: (p, v) => vm.memory.writeU64(p, v),
      log: (level, m) => vm.log(level, m), realtime: () => vm.clock(), monotonic: () => process.hrtime.bigint(),
    });
    const env = {
      ...runtimeCalls(host, {
        logLevel: () => vm.logLevel,
        now: () => vm.clock(),
        setTickPeriod: (ms) => {
          vm.tickPeriodMs = ms;
          vm.armTimer(); // Envoy's Wasm::setTimerPeriod: (re)starts the timer at the new period
        },
        done: () => {
          if (!vm.rootDonePending) return false;
          vm.rootDonePending = false;
          vm.call("proxy_on_delete", vm.rootContextId, vm.rootContextId);
          return true;
        },
        setEffectiveContext: (id) => {
          if (id !== vm.rootContextId && !vm.streams.has(id)) return false;
          vm.current = id;
          return true;
        },
      }),
      ...httpCalls(host, {
        vmConfiguration: () => vm.asBytes(vm.options.vmConfig),
        pluginConfiguration: () => (vm.configuring === BufferType.PluginConfiguration ? vm.asBytes(vm.options.pluginConfig) : undefined),
      }),
      ...headerCalls(host),
      ...propertyCalls(host, vm.properties),
      ...sharedDataCalls(host, vm.shared, vm.vmId),
      ...metricCalls(host, vm.table),
    };
    return { env, wasi_snapshot_preview1: wasi, wasi_unstable: wasi };
  }
}
