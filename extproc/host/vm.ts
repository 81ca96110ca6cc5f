// A proxy-wasm VM as Envoy runs one: it instantiates a compiled module with the host functions
// Envoy provides, starts it (_initialize, root context, on_vm_start, on_configure), creates one
// context per HTTP stream, delivers ticks, and answers every ABI call the way Envoy's host does
// (see test/data/ENVOY-HOST-NOTES.md for the rules and their sources). One PluginVm corresponds to
// one Envoy worker thread's VM; SharedData and Metrics can be shared by several of them.

import { readFile } from "node:fs/promises";
import { BufferType, LogLevel, MapType, StreamType, WasmResult } from "./abi.js";
import { ConfigurationError, LinkError, WasmTrapError } from "./errors.js";
import { type FailurePolicy, resolveFailurePolicy } from "./failure-policy.js";
import { HeaderMap } from "./headers.js";
import { MetricTable, Metrics } from "./metrics.js";
import { decodePairs, encodePairs } from "./pairs.js";
import { PropertyTree, lookupProperty } from "./properties.js";
import { SharedData } from "./shared-data.js";
import type { HttpStream } from "./stream.js";
import { ALLOWED_DURING_START, ADDED_AFTER_PIN, wasiFunctions } from "./wasi.js";

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

/** Where a stream is, which decides which header maps and buffers a host call may touch. */
export interface StreamAccess {
  readonly vm: PluginVm;
  readonly id: number;
  map(type: MapType, write: boolean): HeaderMap | undefined;
  buffer(type: BufferType): Uint8Array | undefined;
  setBuffer(type: BufferType, start: number, length: number, data: Uint8Array): WasmResult;
  property(path: string[]): { result: WasmResult; value?: Uint8Array; reason?: string };
  setProperty(rawPath: string, value: Uint8Array): WasmResult;
  /** on_log is running: header maps Envoy holds no pointer to read as absent. */
  readonly inLogPhase: boolean;
  sendLocalReply(status: number, details: string, body: Uint8Array, headers: [string, Uint8Array][], grpcStatus: number): void;
  continueStream(type: StreamType): WasmResult;
  closeStream(type: StreamType): WasmResult;
  headersModified(type: MapType): void;
}

export class PluginVm {
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
  private bytes: Buffer = Buffer.alloc(0);
  private view = new DataView(new ArrayBuffer(0));
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
    this.instance = new WebAssembly.Instance(this.module, this.imports());
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
    if (!(this.exports.memory instanceof WebAssembly.Memory)) throw new LinkError("module exports no memory");
    if (typeof this.exports.malloc !== "function" && typeof this.exports.proxy_on_memory_allocate !== "function") {
      throw new LinkError("module exports neither malloc nor proxy_on_memory_allocate");
    }
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

  /** Allocates a context id for a new stream (ids are never reused while the VM lives). */
  allocateContextId(): number {
    return this.nextContextId++;
  }

  register(stream: StreamAccess): void { this.streams.set(stream.id, stream); }
  unregister(id: number): void { this.streams.delete(id); }

  /** Pages of linear memory, for memory-growth checks. */
  get memoryPages(): number {
    return this.exports.memory.buffer.byteLength / 65536;
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
      const r = f(...args);
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
    const f = this.exports[name];
    return typeof f === "function" ? (f as Fn) : undefined;
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

  // ---- guest memory ------------------------------------------------------------------------

  /** A view of linear memory; a grown memory detaches the old buffer (length 0), and we re-view. */
  private mem(): Buffer {
    if (this.bytes.length === 0) {
      const buf = this.exports.memory.buffer;
      this.bytes = Buffer.from(buf);
      this.view = new DataView(buf);
    }
    return this.bytes;
  }

  private inBounds(ptr: number, size: number): boolean {
    return ptr >= 0 && size >= 0 && ptr + size <= this.mem().length;
  }

  private read(ptr: number, size: number): Uint8Array | undefined {
    return this.inBounds(ptr, size) ? this.mem().subarray(ptr, ptr + size) : undefined;
  }

  private readString(ptr: number, size: number): string | undefined {
    return this.inBounds(ptr, size) ? this.bytes.toString("utf8", ptr, ptr + size) : undefined;
  }

  private writeU32(ptr: number, v: number): boolean {
    if (!this.inBounds(ptr, 4)) return false;
    this.mem();
    this.view.setUint32(ptr, v >>> 0, true);
    return true;
  }

  private writeU64(ptr: number, v: bigint): boolean {
    if (!this.inBounds(ptr, 8)) return false;
    this.mem();
    this.view.setBigUint64(ptr, BigInt.asUintN(64, v), true);
    return true;
  }

  /** Copies `data` into memory the module allocates and writes (pointer, size) to the slots. */
  private give(data: Uint8Array, ptrSlot: number, sizeSlot: number): WasmResult {
    if (data.length === 0) {
      return this.writeU32(ptrSlot, 0) && this.writeU32(sizeSlot, 0) ? WasmResult.Ok : WasmResult.InvalidMemoryAccess;
    }
    const alloc = (this.fn("malloc") ?? this.fn("proxy_on_memory_allocate"))!;
    const p = Number(alloc(data.length)) >>> 0;
    if (p === 0 || !this.inBounds(p, data.length)) return WasmResult.InvalidMemoryAccess;
    this.mem().set(data, p);
    return this.writeU32(ptrSlot, p) && this.writeU32(sizeSlot, data.length) ? WasmResult.Ok : WasmResult.InvalidMemoryAccess;
  }

  /** The pairs format (pairs.ts); kept here for callers of the host's API. */
  static readonly encodePairs = encodePairs;
  static readonly decodePairs = decodePairs;

  // ---- host functions ----------------------------------------------------------------------

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

  private stream(): StreamAccess | undefined {
    return this.streams.get(this.current);
  }

  private imports(): WebAssembly.Imports {
    const vm = this;
    const wasi = wasiFunctions({
      read: (p, n) => vm.read(p, n), writeU32: (p, v) => vm.writeU32(p, v), writeU64: (p, v) => vm.writeU64(p, v),
      log: (level, m) => vm.log(level, m), realtime: () => vm.clock(), monotonic: () => process.hrtime.bigint(),
    });
    const provided: Record<string, Record<string, (...a: never[]) => unknown>> = { env: this.envFunctions(), wasi_snapshot_preview1: wasi, wasi_unstable: wasi };
    const wanted = WebAssembly.Module.imports(this.module).filter((i) => i.kind === "function");
    const missing = wanted.filter((i) => !(provided[i.module] && i.name in provided[i.module])).map((i) => {
      const late = i.module !== "env" && ADDED_AFTER_PIN.has(i.name);
      return `${i.module}.${i.name}${late ? " (only in proxy-wasm-cpp-host 94091cd and later, after current Envoy's pin)" : ""}`;
    });
    if (missing.length) {
      throw new LinkError(`module imports functions Envoy's host does not provide: ${missing.join(", ")}`);
    }
    // Only what cpp-host's startVm allows may run during _initialize / main: anything else traps.
    const linked: Record<string, Record<string, unknown>> = {};
    for (const { module, name } of wanted) {
      const f = provided[module][name];
      const key = `${module}.${name}`;
      (linked[module] ??= {})[name] = ALLOWED_DURING_START.has(key) ? f : (...a: never[]) => {
        if (vm.starting) throw new WebAssembly.RuntimeError(`restricted_callback: ${key} called during start-up`);
        return f(...a);
      };
    }
    return linked as WebAssembly.Imports;
  }

  private envFunctions(): Record<string, (...a: never[]) => number> {
    const vm = this;
    const map = (type: number, write: boolean): HeaderMap | undefined => vm.stream()?.map(type, write);
    const BAD = WasmResult.BadArgument;
    const MEM = WasmResult.InvalidMemoryAccess;
    /** replace (set) or add one header value: the shared rules of both calls. */
    const writeHeader = (type: number, kPtr: number, kSize: number, vPtr: number, vSize: number, op: "set" | "add"): number => {
      if (type > MapType.HttpCallResponseTrailers) return BAD;
      const key = vm.readString(kPtr, kSize);
      const value = vm.read(vPtr, vSize);
      if (key === undefined || !value) return MEM;
      const m = map(type, true);
      if (!m) return BAD;
      m[op](key, Uint8Array.from(value));
      vm.stream()!.headersModified(type);
      return WasmResult.Ok;
    };
    return {
      proxy_log(level: number, ptr: number, size: number): number {
        if (level > LogLevel.Critical) return BAD;
        const msg = vm.readString(ptr, size);
        if (msg === undefined) return MEM;
        vm.log(level, msg);
        return WasmResult.Ok;
      },
      proxy_get_log_level(retLevel: number): number {
        return vm.writeU32(retLevel, vm.logLevel) ? WasmResult.Ok : MEM;
      },
      proxy_get_current_time_nanoseconds(retTime: number): number {
        return vm.writeU64(retTime, vm.clock()) ? WasmResult.Ok : MEM;
      },
      proxy_set_tick_period_milliseconds(ms: number): number {
        vm.tickPeriodMs = ms >>> 0;
        vm.armTimer(); // Envoy's Wasm::setTimerPeriod: (re)starts the timer at the new period
        return WasmResult.Ok;
      },
      proxy_get_buffer_bytes(type: number, start: number, max: number, retPtr: number, retSize: number): number {
        if (type > BufferType.CallData) return BAD;
        // cpp-host checks start + length for overflow in 64 bits: two u32 never overflow, so a
        // range past the end is clamped, never refused.
        start >>>= 0;
        max >>>= 0;
        let data: Uint8Array | undefined;
        if (type === BufferType.VmConfiguration) {
          data = vm.asBytes(vm.options.vmConfig); // Envoy serves it in every callback
        } else if (type === BufferType.PluginConfiguration) {
          if (vm.configuring !== type) return WasmResult.NotFound; // only while on_configure runs
          data = vm.asBytes(vm.options.pluginConfig);
        } else if (type === BufferType.HttpRequestBody || type === BufferType.HttpResponseBody) {
          data = vm.stream()?.buffer(type) ?? new Uint8Array(0);
        } else {
          return WasmResult.NotFound; // no network, call or gRPC buffers in an HTTP host
        }
        const slice = start >= data.length ? new Uint8Array(0) : data.subarray(start, Math.min(data.length, start + max));
        return vm.give(slice, retPtr, retSize);
      },
      proxy_set_buffer_bytes(type: number, start: number, length: number, ptr: number, size: number): number {
        if (type > BufferType.CallData) return BAD;
        const data = vm.read(ptr, size);
        if (!data) return MEM;
        const s = vm.stream();
        if (!s || (type !== BufferType.HttpRequestBody && type !== BufferType.HttpResponseBody)) return BAD;
        return s.setBuffer(type, start >>> 0, length >>> 0, Uint8Array.from(data));
      },
      proxy_get_header_map_pairs(type: number, retPtr: number, retSize: number): number {
        if (type > MapType.HttpCallResponseTrailers) return BAD;
        const m = map(type, false);
        return vm.give(m && m.size ? encodePairs(m.entries) : new Uint8Array(0), retPtr, retSize);
      },
      proxy_set_header_map_pairs(type: number, ptr: number, size: number): number {
        if (type > MapType.HttpCallResponseTrailers) return BAD;
        const data = vm.read(ptr, size);
        if (!data) return MEM;
        const m = map(type, true);
        if (!m) return BAD;
        m.clear();
        for (const [k, v] of decodePairs(data) ?? []) m.add(k, v);
        vm.stream()!.headersModified(type);
        return WasmResult.Ok;
      },
      proxy_get_header_map_value(type: number, kPtr: number, kSize: number, retPtr: number, retSize: number): number {
        if (type > MapType.HttpCallResponseTrailers) return BAD;
        const key = vm.readString(kPtr, kSize);
        if (key === undefined) return MEM;
        const m = map(type, false);
        // A map Envoy has no pointer to in the access-log phase reads as absent (ABI 0.2.x).
        if (!m) return vm.stream()?.inLogPhase ? WasmResult.NotFound : BAD;
        const v = m.getBytes(key);
        if (v === undefined) return WasmResult.NotFound;
        return vm.give(v, retPtr, retSize);
      },
      proxy_replace_header_map_value(type: number, kPtr: number, kSize: number, vPtr: number, vSize: number): number {
        return writeHeader(type, kPtr, kSize, vPtr, vSize, "set");
      },
      proxy_add_header_map_value(type: number, kPtr: number, kSize: number, vPtr: number, vSize: number): number {
        return writeHeader(type, kPtr, kSize, vPtr, vSize, "add");
      },
      proxy_remove_header_map_value(type: number, kPtr: number, kSize: number): number {
        if (type > MapType.HttpCallResponseTrailers) return BAD;
        const key = vm.readString(kPtr, kSize);
        if (key === undefined) return MEM;
        const m = map(type, true);
        if (!m) return BAD;
        m.remove(key);
        vm.stream()!.headersModified(type);
        return WasmResult.Ok;
      },
      proxy_get_header_map_size(type: number, retSize: number): number {
        if (type > MapType.HttpCallResponseTrailers) return BAD;
        const m = map(type, true); // Envoy's getHeaderMapSize uses the mutable map: none in on_log
        if (!m) return BAD;
        // Envoy reports HeaderMap::byteSize(): the sum of name and value lengths.
        let n = 0;
        for (const e of m.entries) n += e.name.length + e.value.length;
        return vm.writeU32(retSize, n) ? WasmResult.Ok : MEM;
      },
      proxy_get_property(pPtr: number, pSize: number, retPtr: number, retSize: number): number {
        const raw = vm.read(pPtr, pSize);
        if (!raw) return MEM;
        let path = Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength).toString("utf8").split("\0");
        if (path.length > 1 && path[path.length - 1] === "") path = path.slice(0, -1);
        if (path.length === 0 || path[0] === "") return WasmResult.SerializationFailure;
        const s = vm.stream();
        const found = s ? s.property(path) : lookupProperty(path, vm.properties);
        if (found.reason) vm.log(LogLevel.Warn, `host: get_property: ${found.reason}`);
        if (found.result !== WasmResult.Ok) return found.result;
        return vm.give(found.value!, retPtr, retSize);
      },
      proxy_set_property(pPtr: number, pSize: number, vPtr: number, vSize: number): number {
        const raw = vm.read(pPtr, pSize);
        const value = vm.read(vPtr, vSize);
        if (!raw || !value) return MEM;
        const s = vm.stream();
        if (!s) return WasmResult.NotFound;
        // Envoy keys filter state by the raw path ("wasm." + every byte, NULs included).
        return s.setProperty(Buffer.from(raw).toString("latin1"), Uint8Array.from(value));
      },
      proxy_get_shared_data(kPtr: number, kSize: number, retPtr: number, retSize: number, retCas: number): number {
        const key = vm.readString(kPtr, kSize);
        if (key === undefined) return MEM;
        const e = vm.shared.get(vm.vmId, key);
        if (!e) return WasmResult.NotFound;
        const r = vm.give(e.value, retPtr, retSize);
        if (r !== WasmResult.Ok) return r;
        return vm.writeU32(retCas, e.cas) ? WasmResult.Ok : MEM;
      },
      proxy_set_shared_data(kPtr: number, kSize: number, vPtr: number, vSize: number, cas: number): number {
        const key = vm.readString(kPtr, kSize);
        const value = vm.read(vPtr, vSize);
        if (key === undefined || !value) return MEM;
        return vm.shared.set(vm.vmId, key, value, cas >>> 0);
      },
      proxy_define_metric(type: number, nPtr: number, nSize: number, retId: number): number {
        const name = vm.readString(nPtr, nSize);
        if (name === undefined) return MEM;
        const { result, id } = vm.table.define(type, name);
        if (result !== WasmResult.Ok) return result;
        return vm.writeU32(retId, id) ? WasmResult.Ok : MEM;
      },
      proxy_increment_metric(id: number, offset: bigint): number {
        return vm.table.increment(id >>> 0, BigInt(offset));
      },
      proxy_record_metric(id: number, value: bigint): number {
        return vm.table.record(id >>> 0, BigInt.asUintN(64, BigInt(value)));
      },
      proxy_get_metric(id: number, retValue: number): number {
        const { result, value } = vm.table.read(id >>> 0);
        if (result !== WasmResult.Ok) return result;
        return vm.writeU64(retValue, value) ? WasmResult.Ok : MEM;
      },
      proxy_send_local_response(status: number, dPtr: number, dSize: number, bPtr: number, bSize: number, hPtr: number, hSize: number, grpc: number): number {
        const details = vm.readString(dPtr, dSize);
        const body = vm.read(bPtr, bSize);
        const headers = vm.read(hPtr, hSize);
        if (details === undefined || !body || !headers) return MEM;
        const s = vm.stream();
        if (!s) return WasmResult.Ok; // Envoy: no effect outside an HTTP stream
        const pairs = decodePairs(headers) ?? [];
        s.sendLocalReply(status >>> 0, details.replace(/\s/g, "_"), Uint8Array.from(body), pairs, grpc >>> 0);
        return WasmResult.Ok;
      },
      proxy_continue_stream(type: number): number {
        if (type > StreamType.Upstream) return BAD;
        if (type >= StreamType.Downstream) return WasmResult.Unimplemented;
        return vm.stream()?.continueStream(type) ?? WasmResult.Ok;
      },
      proxy_close_stream(type: number): number {
        if (type > StreamType.Upstream) return BAD;
        return vm.stream()?.closeStream(type) ?? WasmResult.Ok;
      },
      proxy_http_call(uPtr: number, uSize: number): number {
        const upstream = vm.readString(uPtr, uSize);
        if (upstream === undefined) return MEM;
        // Envoy answers BadArgument for a cluster it does not know; this host has no clusters.
        vm.log(LogLevel.Warn, `host: http_call to "${upstream}": this host has no upstream clusters`);
        return BAD;
      },
      proxy_done(): number {
        if (!vm.rootDonePending) return WasmResult.NotFound;
        vm.rootDonePending = false;
        vm.call("proxy_on_delete", vm.rootContextId, vm.rootContextId);
        return WasmResult.Ok;
      },
      proxy_set_effective_context(id: number): number {
        if (id !== vm.rootContextId && !vm.streams.has(id)) return BAD;
        vm.current = id;
        return WasmResult.Ok;
      },
      proxy_call_foreign_function(): number {
        return WasmResult.NotFound;
      },
      // cpp-host registers these two emscripten helpers in env as well (src/wasm.cc registerCallbacks).
      pthread_equal: (a: number, b: number): number => (a === b ? 1 : 0),
      emscripten_notify_memory_growth: (): number => 0,
      ...Object.fromEntries(
        [
          "proxy_get_buffer_status", "proxy_register_shared_queue", "proxy_resolve_shared_queue",
          "proxy_dequeue_shared_queue", "proxy_enqueue_shared_queue", "proxy_grpc_call", "proxy_grpc_stream",
          "proxy_grpc_send", "proxy_grpc_cancel", "proxy_grpc_close", "proxy_get_status", "envoy_resolve_dns",
        ].map((name) => [name, () => {
          vm.log(LogLevel.Error, `host: ${name} is not implemented by this host`);
          return WasmResult.Unimplemented;
        }]),
      ),
    };
  }
}
