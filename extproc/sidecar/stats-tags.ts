// The stats_tags of the shipped Envoy bootstraps and Envoy's way of applying them, so the sidecar's
// /metrics names every filter metric exactly as Envoy's /stats/prometheus does for the same name.
//
// Envoy (source/common/stats/tag_producer_impl.cc, tag_extractor_impl.cc; envoyproxy/envoy @
// 004cb09d): every extractor's regex runs on the full stat name (`wasmcustom.` + the module's
// name), ECMAScript std::regex_search; a match takes group 2 (else group 1) as the tag's value and
// marks group 1 for removal; the tag-extracted name is the name less every marked range. The
// Prometheus formatter then drops the `wasmcustom.` namespace and turns every character outside
// [a-zA-Z0-9_:] into `_` (test/data/ENVOY-HOST-NOTES.md §8).

/**
 * Tags for the filter's metrics (`failover.cluster.<name>.<metric>`,
 * `failover.route.<route>.cluster.<name>.share_percent`, `failover.route.<route>.<metric>`), so
 * Prometheus shows e.g. failover_cluster_requests_total{failover_cluster="cluster-1"}.
 * Cluster names may contain dots (Istio's `outbound|7000||user.base.svc.cluster.local`); route
 * names may not (the route regex stops at the first dot).
 */
export const STATS_TAGS = [
  { tag_name: "failover_cluster", regex: "^(?:wasmcustom\\.)?failover\\.(?:route\\.[^.]+\\.)?cluster\\.((.+)\\.)[^.]+$" },
  { tag_name: "failover_route", regex: "^(?:wasmcustom\\.)?failover\\.route\\.(([^.]+)\\.)" },
];

/** Envoy's custom stat namespace for Wasm metrics. */
export const WASM_NAMESPACE = "wasmcustom.";

export interface TagSpec {
  tag_name: string;
  regex: string;
}

export interface PromSeries {
  name: string;
  labels: Record<string, string>;
}

/** What Envoy's Prometheus endpoint shows for the Wasm metric `name` under these tag regexes. */
export function envoyPrometheusSeries(name: string, specs: readonly TagSpec[] = STATS_TAGS): PromSeries {
  const full = WASM_NAMESPACE + name;
  const remove: [number, number][] = [];
  const labels: Record<string, string> = {};
  for (const spec of specs) {
    const m = new RegExp(spec.regex, "d").exec(full);
    if (!m || m.length < 2 || !m.indices?.[1]) continue;
    labels[spec.tag_name] = m[2] ?? m[1];
    remove.push(m.indices[1]);
  }
  let extracted = "";
  for (let i = 0; i < full.length; i++) if (!remove.some(([s, e]) => i >= s && i < e)) extracted += full[i];
  const stripped = extracted.startsWith(WASM_NAMESPACE) ? extracted.slice(WASM_NAMESPACE.length) : extracted;
  return { name: stripped.replace(/[^a-zA-Z0-9_:]/g, "_"), labels };
}
