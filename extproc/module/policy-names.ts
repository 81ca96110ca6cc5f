// The names a policy document declares (routing header, clusters, aggregates), read without the
// module: what the config checks and the scenario cases need to name things. What a policy
// *means* is only ever the module's (policyProblems, startFailover).

import { DEFAULT_ROUTING_HEADER } from "./contract.js";

/** A JSON object (not an array, not null). */
export const isObject = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);

/** The names a policy makes the filter write into the routing header, and what it expects of routes. */
export interface PolicyNames {
  routingHeader: string;
  clusters: string[];
  aggregates: { name: string; clusters: string[] }[];
  /** Some route moves retries to the next cluster (needs previous_priorities on the Envoy route). */
  retriesAcrossClusters: boolean;
}

/** Reads the declared names of a policy document (what it is made of, not what it decides). */
export function policyNames(doc: unknown): PolicyNames {
  const d = isObject(doc) ? doc : {};
  const list = (v: unknown) => (Array.isArray(v) ? v.filter(isObject) : []);
  const str = (v: unknown) => (typeof v === "string" ? v : "");
  return {
    routingHeader: (str(d.routingHeader) || DEFAULT_ROUTING_HEADER).toLowerCase(),
    clusters: list(d.clusters).map((c) => str(c.name)),
    aggregates: list(d.aggregates).map((a) => ({ name: str(a.name), clusters: Array.isArray(a.clusters) ? a.clusters.map(str) : [] })),
    retriesAcrossClusters: list(d.routes).some((r) => isObject(r.retry) && r.retry.acrossClusters === true),
  };
}
