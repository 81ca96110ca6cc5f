// Errors the host raises. Each says which call or callback failed and why, in the module's words
// where it gave any (an abort message is logged through proxy_log just before the trap).

/** The module imports something neither Envoy nor this host provides: it would not load. */
export class LinkError extends Error {
  override name = "LinkError";
}

/** The module refused its VM or plugin configuration (on_vm_start / on_configure said false). */
export class ConfigurationError extends Error {
  override name = "ConfigurationError";
  constructor(message: string, readonly moduleLog: string[]) {
    super(moduleLog.length ? `${message}: ${moduleLog.join("; ")}` : message);
  }
}

/** The module trapped (abort, unreachable, out-of-bounds...). The VM is failed from then on. */
export class WasmTrapError extends Error {
  override name = "WasmTrapError";
  constructor(readonly callback: string, readonly contextId: number, override readonly cause: unknown, readonly abortMessage?: string) {
    super(`wasm trap in ${callback} (context ${contextId}): ${abortMessage ?? (cause instanceof Error ? cause.message : String(cause))}`);
  }
}

/** The caller drove a stream out of order (for example response headers after the stream ended). */
export class StreamStateError extends Error {
  override name = "StreamStateError";
}
