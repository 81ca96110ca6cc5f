// The request headers the failover module owns, read from the module itself: the built
// failover.wasm runs in the project's proxy-wasm host with a policy, takes one request that
// matches a route (it writes the routing header, its x-failover-* explanation and the route's
// x-envoy-* retry headers) and one that matches none (it removes every owned header), and every
// header name it writes or removes on the request is owned. The configs strip exactly these from
// a client before routing (early header mutation, ClientTrafficPolicy, AuthorizationPolicy), so
// the list has one source: the module's code.

import { HeaderMap, LogLevel, PluginVm, type PropertyTree } from "../host/index.js";
import { failoverModule, policyProblems } from "./failover-module.js";
import { isObject } from "./policy-names.js";

/** Header names the module writes or removes on requests under `policy` (JSON text), sorted. */
export function moduleOwnedHeaders(module: WebAssembly.Module, policy: string, sample: { authority: string; path: string }, node: PropertyTree = {}): string[] {
  const vm = new PluginVm(module, {
    pluginConfig: policy, vmId: "failover", pluginName: "failover", properties: { xds: { node } }, logLevel: LogLevel.Critical, logger: () => {},
  });
  vm.start();
  const owned = new Set<string>();
  try {
    for (const [authority, path] of [[sample.authority, sample.path], ["no-route.invalid", "/no-route"]]) {
      const s = vm.createStream({ source: { address: "10.0.0.1:40000", port: 40000 } });
      watch(s.requestHeaders, owned);
      s.sendRequestHeaders([[":method", "GET"], [":path", path], [":authority", authority], [":scheme", "http"]], true);
    }
  } finally {
    vm.shutdown();
  }
  return [...owned].filter((n) => !n.startsWith(":")).sort();
}

/** Records the name of every write and removal the module makes on `map`. */
function watch(map: HeaderMap, names: Set<string>): void {
  for (const op of ["set", "add", "remove"] as const) {
    const original = map[op].bind(map) as (...a: unknown[]) => unknown;
    (map as unknown as Record<string, unknown>)[op] = (name: string, ...rest: unknown[]) => {
      names.add(name.toLowerCase());
      return original(name, ...rest);
    };
  }
}

/**
 * The headers the module owns under each policy (JSON `text`, parsed `doc`) it accepts; a rejected
 * policy has its error already. A sample request matches the policy's first route.
 */
export async function ownedHeadersOf(policies: readonly { text: string; doc: unknown }[], node: PropertyTree): Promise<string[]> {
  const module = await failoverModule().catch(() => undefined);
  const owned = new Set<string>();
  for (const p of policies) {
    if (!module || policyProblems(module, p.text, node).length) continue;
    const route = isObject(p.doc) && Array.isArray(p.doc.routes) && isObject(p.doc.routes[0]) ? p.doc.routes[0] : {};
    const match = isObject(route.match) ? route.match : {};
    const authority = typeof match.authority === "string" && match.authority !== "*" ? match.authority : "example.com";
    const path = typeof match.pathPrefix === "string" ? match.pathPrefix : "/";
    for (const h of moduleOwnedHeaders(module, p.text, { authority, path }, node)) owned.add(h);
  }
  return [...owned].sort();
}
