// The server's half of the ext_proc wire format: a ProcessingRequest decoded straight into
// protobufjs's message object, a ProcessingResponse encoded straight from the plain object the
// processor builds (or passed through when the processor already holds its bytes). proto-loader's
// generic path converts every message once more (toObject with the longs/enums/defaults options
// on each request, fromObject on each answer); the processor reads the decoded message as it is.
// The types come from the protos that ship in @grpc/grpc-js-xds, as in protocol.ts.

import { existsSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, isAbsolute, join } from "node:path";
import protobuf from "protobufjs";

const require = createRequire(import.meta.url);
const deps = join(dirname(require.resolve("@grpc/grpc-js-xds/package.json")), "deps");
/** Where the Envoy API protos and their imports are (@grpc/grpc-js-xds's deps/ folder). */
export const PROTO_DIRS = ["envoy-api", "xds", "googleapis", "protoc-gen-validate"].map((d) => join(deps, d));
export const EXT_PROC_PROTO = "envoy/service/ext_proc/v3/external_processor.proto";

let types: { request: protobuf.Type; response: protobuf.Type } | undefined;

/** ProcessingRequest and ProcessingResponse, loaded once (field names as in the protos). */
function extProcTypes(): { request: protobuf.Type; response: protobuf.Type } {
  if (types) return types;
  // descriptor.proto (imported by the validate and udpa annotations) is not among protobufjs's
  // built-in common protos; it ships as JSON with protobufjs.
  protobuf.common("descriptor", require("protobufjs/google/protobuf/descriptor.json").nested.google.nested.protobuf.nested);
  const root = new protobuf.Root();
  root.resolvePath = (origin, target) => {
    if (isAbsolute(target)) return target;
    for (const dir of PROTO_DIRS) if (existsSync(join(dir, target))) return join(dir, target);
    return protobuf.util.path.resolve(origin, target);
  };
  root.loadSync(EXT_PROC_PROTO, { keepCase: true });
  root.resolveAll();
  types = {
    request: root.lookupType("envoy.service.ext_proc.v3.ProcessingRequest"),
    response: root.lookupType("envoy.service.ext_proc.v3.ProcessingResponse"),
  };
  return types;
}

/**
 * A ProcessingRequest as protobufjs decodes it: absent fields read their proto3 default from
 * the message's prototype (null for a message, false, "", an empty array), and `request` is the
 * name of the oneof member that is set. Throws on bytes that are not a ProcessingRequest.
 */
export function decodeRequest(bytes: Uint8Array): unknown {
  return extProcTypes().request.decode(bytes);
}

/**
 * The bytes of a ProcessingResponse given as a plain object with the protos' field names (enums
 * as numbers, bytes as Uint8Array), or bytes already encoded (a prepared answer), as they are.
 */
export function encodeResponse(value: object): Buffer {
  if (value instanceof Uint8Array) return value as Buffer;
  return extProcTypes().response.encode(value).finish() as Buffer;
}

/** The encoded answer, prepared once: bytes that never change need no encoding per request. */
export const prepared = (value: object): Buffer => Buffer.from(encodeResponse(value));
