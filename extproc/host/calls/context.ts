// What a group of host calls may use of the VM that links it.

import { WasmResult, type LogLevel } from "../abi.js";
import type { StreamAccess } from "../access.js";
import type { GuestMemory } from "../memory.js";

export interface HostContext {
  /** The module's memory (there once the module is instantiated; calls run only after). */
  readonly memory: GuestMemory;
  /** The stream that is the current context, if any (none: the root context). */
  stream(): StreamAccess | undefined;
  /** A log line as from the module (level filter, prefix, start-up collection). */
  log(level: LogLevel, message: string): void;
}

/** Host functions by import name. */
export type HostFunctions = Record<string, (...args: never[]) => number>;

export const BAD = WasmResult.BadArgument;
export const MEM = WasmResult.InvalidMemoryAccess;
