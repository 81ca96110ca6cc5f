// The calls about the VM rather than a stream: the log, the clock, ticks, proxy_done, the
// effective context, and the calls this host does not implement (each logs and says so).

import { LogLevel, WasmResult } from "../abi.js";
import { BAD, MEM, type HostContext, type HostFunctions } from "./context.js";

/** What these calls do to the VM. */
export interface VmControl {
  logLevel(): LogLevel;
  /** Wall-clock nanoseconds since the epoch. */
  now(): bigint;
  setTickPeriod(ms: number): void;
  /** proxy_done: false when no on_done was pending. */
  done(): boolean;
  /** proxy_set_effective_context: false for an id that names no live context. */
  setEffectiveContext(id: number): boolean;
}

/** Calls the ABI declares that an HTTP host without queues, gRPC or DNS answers Unimplemented. */
const UNIMPLEMENTED = [
  "proxy_get_buffer_status", "proxy_register_shared_queue", "proxy_resolve_shared_queue",
  "proxy_dequeue_shared_queue", "proxy_enqueue_shared_queue", "proxy_grpc_call", "proxy_grpc_stream",
  "proxy_grpc_send", "proxy_grpc_cancel", "proxy_grpc_close", "proxy_get_status", "envoy_resolve_dns",
];

export function runtimeCalls(h: HostContext, vm: VmControl): HostFunctions {
  const functions: HostFunctions = {
    proxy_log(level: number, ptr: number, size: number): number {
      if (level > LogLevel.Critical) return BAD;
      const msg = h.memory.readString(ptr, size);
      if (msg === undefined) return MEM;
      h.log(level, msg);
      return WasmResult.Ok;
    },
    proxy_get_log_level(retLevel: number): number {
      return h.memory.writeU32(retLevel, vm.logLevel()) ? WasmResult.Ok : MEM;
    },
    proxy_get_current_time_nanoseconds(retTime: number): number {
      return h.memory.writeU64(retTime, vm.now()) ? WasmResult.Ok : MEM;
    },
    proxy_set_tick_period_milliseconds(ms: number): number {
      vm.setTickPeriod(ms >>> 0);
      return WasmResult.Ok;
    },
    proxy_done(): number {
      return vm.done() ? WasmResult.Ok : WasmResult.NotFound;
    },
    proxy_set_effective_context(id: number): number {
      return vm.setEffectiveContext(id) ? WasmResult.Ok : BAD;
    },
    proxy_call_foreign_function(): number {
      return WasmResult.NotFound;
    },
    // cpp-host registers these two emscripten helpers in env as well (src/wasm.cc registerCallbacks).
    pthread_equal: (a: number, b: number): number => (a === b ? 1 : 0),
    emscripten_notify_memory_growth: (): number => 0,
  };
  for (const name of UNIMPLEMENTED) {
    functions[name] = () => {
      h.log(LogLevel.Error, `host: ${name} is not implemented by this host`);
      return WasmResult.Unimplemented;
    };
  }
  return functions;
}
