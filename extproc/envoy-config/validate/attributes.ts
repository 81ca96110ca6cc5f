// Envoy's attribute names, as its documentation lists them
// (docs/root/intro/arch_overview/advanced/attributes.rst), for the ext_proc filter's
// request_attributes and response_attributes. ext_proc evaluates each entry as a CEL expression
// and silently leaves out any that does not evaluate, so a misspelled name would quietly starve
// the sidecar of data; here it is an error. A dotted path into an attribute whose type is a
// message (xds.node.locality.region) is followed through Envoy's protos; a path into a map or a
// Struct (xds.node.metadata.CLUSTER_ID) may name any key, and is not followed further.

import protobuf from "protobufjs";
import { messageType } from "../protos.js";

type AttributeType = "scalar" | "map" | { message: string };

const SCALAR = "scalar" as const;
const MAP = "map" as const;
const message = (name: string) => ({ message: name });

const ATTRIBUTES: Record<string, AttributeType> = {
  // request
  "request.path": SCALAR, "request.url_path": SCALAR, "request.host": SCALAR, "request.scheme": SCALAR,
  "request.method": SCALAR, "request.headers": MAP, "request.headers_bytes": SCALAR, "request.referer": SCALAR,
  "request.useragent": SCALAR, "request.time": SCALAR, "request.id": SCALAR, "request.protocol": SCALAR,
  "request.query": SCALAR, "request.duration": SCALAR, "request.size": SCALAR, "request.total_size": SCALAR,
  // response
  "response.code": SCALAR, "response.code_details": SCALAR, "response.flags": SCALAR, "response.grpc_status": SCALAR,
  "response.headers": MAP, "response.headers_bytes": SCALAR, "response.trailers": MAP, "response.size": SCALAR,
  "response.total_size": SCALAR, "response.backend_latency": SCALAR,
  // connection
  "source.address": SCALAR, "source.port": SCALAR, "destination.address": SCALAR, "destination.port": SCALAR,
  "connection.id": SCALAR, "connection.mtls": SCALAR, "connection.requested_server_name": SCALAR,
  "connection.tls_version": SCALAR, "connection.subject_local_certificate": SCALAR,
  "connection.subject_peer_certificate": SCALAR, "connection.dns_san_local_certificate": SCALAR,
  "connection.dns_san_peer_certificate": SCALAR, "connection.uri_san_local_certificate": SCALAR,
  "connection.uri_san_peer_certificate": SCALAR, "connection.sha256_peer_certificate_digest": SCALAR,
  "connection.peer_certificate": SCALAR, "connection.transport_failure_reason": SCALAR,
  "connection.termination_details": SCALAR,
  // upstream
  "upstream.address": SCALAR, "upstream.num_endpoints": SCALAR, "upstream.port": SCALAR, "upstream.tls_version": SCALAR,
  "upstream.subject_local_certificate": SCALAR, "upstream.subject_peer_certificate": SCALAR,
  "upstream.dns_san_local_certificate": SCALAR, "upstream.dns_san_peer_certificate": SCALAR,
  "upstream.uri_san_local_certificate": SCALAR, "upstream.uri_san_peer_certificate": SCALAR,
  "upstream.sha256_peer_certificate_digest": SCALAR, "upstream.peer_certificate": SCALAR,
  "upstream.local_address": SCALAR, "upstream.transport_failure_reason": SCALAR,
  "upstream.request_attempt_count": SCALAR, "upstream.cx_pool_ready_duration": SCALAR,
  "upstream.locality": message("envoy.config.core.v3.Locality"),
  // metadata and filter state
  metadata: message("envoy.config.core.v3.Metadata"), filter_state: MAP, upstream_filter_state: MAP,
  // configuration
  "xds.node": message("envoy.config.core.v3.Node"), "xds.cluster_name": SCALAR,
  "xds.cluster_metadata": message("envoy.config.core.v3.Metadata"), "xds.listener_direction": SCALAR,
  "xds.listener_metadata": message("envoy.config.core.v3.Metadata"), "xds.route_name": SCALAR,
  "xds.route_metadata": message("envoy.config.core.v3.Metadata"), "xds.virtual_host_name": SCALAR,
  "xds.virtual_host_metadata": message("envoy.config.core.v3.Metadata"),
  "xds.upstream_host_metadata": message("envoy.config.core.v3.Metadata"),
  "xds.upstream_host_locality_metadata": message("envoy.config.core.v3.Metadata"), "xds.filter_chain_name": SCALAR,
};

/** Why `name` is not an attribute Envoy provides, or undefined when it is. */
export function attributeProblem(name: string): string | undefined {
  const parts = name.split(".");
  for (let n = parts.length; n > 0; n--) {
    const type = ATTRIBUTES[parts.slice(0, n).join(".")];
    if (type === undefined) continue;
    const rest = parts.slice(n);
    if (rest.length === 0) return undefined;
    if (type === SCALAR) return `${parts.slice(0, n).join(".")} has no members`;
    if (type === MAP) return rest.length === 1 ? undefined : `${parts.slice(0, n + 1).join(".")} is a map value and has no members`;
    return fieldPathProblem(type.message, rest, parts.slice(0, n).join("."));
  }
  return "not an attribute Envoy provides (see Envoy's attribute documentation)";
}

function fieldPathProblem(typeName: string, rest: string[], prefix: string): string | undefined {
  let type = messageType(typeName);
  let at = prefix;
  for (let i = 0; i < rest.length; i++) {
    if (!type) return `${at} has no members`;
    if (type.fullName === ".google.protobuf.Struct") return i === rest.length - 1 ? undefined : `${at}.${rest[i]} is a Struct value and has no members`;
    const field = type.fields[rest[i]];
    if (!field) return `${type.fullName.slice(1)} has no field "${rest[i]}"`;
    at = `${at}.${rest[i]}`;
    if (field instanceof protobuf.MapField) return undefined; // any key, and the value's own members
    type = field.resolvedType instanceof protobuf.Type ? field.resolvedType : undefined;
  }
  return undefined;
}
