// The interfaces where the parts of the host meet: a stream sees its VM only as StreamOwner, and
// host calls (calls/) see a stream only as StreamAccess, so no part imports another's class.

import type { BufferType, MapType, StreamType, WasmResult } from "./abi.js";
import type { WasmTrapError } from "./errors.js";
import type { HeaderMap } from "./headers.js";
import type { HeaderEditor } from "./mutations.js";
import type { PropertyLookup, PropertyTree } from "./properties.js";

/** Where a stream is, which decides which header maps and buffers a host call may touch. */
export interface StreamAccess {
  readonly id: number;
  /** The map if the running callback may read (or, with `write`, write) it. */
  map(type: MapType, write: boolean): HeaderMap | undefined;
  /** A recording editor of a map the running callback may write, else undefined. */
  edit(type: MapType): HeaderEditor | undefined;
  buffer(type: BufferType): Uint8Array | undefined;
  setBuffer(type: BufferType, start: number, length: number, data: Uint8Array): WasmResult;
  property(path: readonly string[]): PropertyLookup;
  setProperty(rawPath: string, value: Uint8Array): WasmResult;
  /** on_log is running: header maps Envoy holds no pointer to read as absent. */
  readonly inLogPhase: boolean;
  sendLocalReply(status: number, details: string, body: Uint8Array, headers: [string, Uint8Array][], grpcStatus: number): void;
  continueStream(type: StreamType): WasmResult;
  closeStream(type: StreamType): WasmResult;
}

/** What a stream needs of the VM it runs on. */
export interface StreamOwner {
  /** Set once the module trapped. */
  readonly failure: WasmTrapError | undefined;
  /** The plugin's legacy fail_open: what streams already open see after a trap. */
  readonly failOpen: boolean;
  /** What Envoy knows outside any stream (xds.node, plugin_*). */
  readonly properties: PropertyTree;
  call(name: string, context: number, ...args: (number | bigint)[]): number;
  unregister(id: number): void;
}
