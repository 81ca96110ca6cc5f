// Metrics for Prometheus, with prom-client: the sidecar's own (streams, messages, errors, the
// time a decision takes) and the filter's, whose names (failover.cluster.<name>.<metric>, ...)
// become the same labelled series Envoy's stats_tags in envoy/*.yaml produce
// (failover_cluster_<metric>{failover_cluster="<name>"}), so one dashboard serves both forms.

import client from "prom-client";
import { MetricType, type Metrics } from "../host/index.js";

export class SidecarMetrics {
  readonly registry = new client.Registry();
  readonly streams = new client.Counter({ name: "failover_sidecar_streams_total", help: "ext_proc streams (HTTP requests) accepted", registers: [this.registry] });
  readonly active = new client.Gauge({ name: "failover_sidecar_streams_active", help: "ext_proc streams in flight", registers: [this.registry] });
  readonly shed = new client.Counter({ name: "failover_sidecar_shed_total", help: "streams refused because too many were in flight", registers: [this.registry] });
  readonly messages = new client.Counter({ name: "failover_sidecar_messages_total", help: "ext_proc messages by kind", labelNames: ["kind"], registers: [this.registry] });
  readonly errors = new client.Counter({ name: "failover_sidecar_errors_total", help: "streams ended with an error, by kind", labelNames: ["kind"], registers: [this.registry] });
  readonly localReplies = new client.Counter({ name: "failover_sidecar_local_replies_total", help: "requests answered by the filter itself (ImmediateResponse)", registers: [this.registry] });
  readonly reloads = new client.Counter({ name: "failover_sidecar_policy_reloads_total", help: "policy reloads by result", labelNames: ["result"], registers: [this.registry] });
  readonly decisionSeconds = new client.Histogram({
    name: "failover_sidecar_decision_seconds",
    help: "time the filter takes on request headers (the routing decision)",
    buckets: [0.000005, 0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.01],
    registers: [this.registry],
  });
  private readonly filter = new Map<string, client.Counter | client.Gauge>();
  private readonly seen = new Map<string, bigint>();

  constructor() {
    client.collectDefaultMetrics({ register: this.registry, prefix: "failover_sidecar_" });
  }

  /** Prometheus text: the filter's metrics brought up to date first. */
  async text(filter: Metrics): Promise<string> {
    for (const m of filter.all()) {
      const { name, labels } = promName(m.name);
      if (m.type === MetricType.Histogram) continue; // the filter defines none; its samples stay in the host
      let metric = this.filter.get(name);
      if (!metric) {
        const config = { name, help: `filter metric ${name}`, labelNames: Object.keys(labels), registers: [this.registry] };
        metric = m.type === MetricType.Counter ? new client.Counter(config) : new client.Gauge(config);
        this.filter.set(name, metric);
      }
      if (metric instanceof client.Counter) {
        const delta = m.value - (this.seen.get(m.name) ?? 0n);
        if (delta > 0n) metric.inc(labels, Number(delta));
        this.seen.set(m.name, m.value);
      } else {
        metric.set(labels, Number(m.value));
      }
    }
    return this.registry.metrics();
  }
}

/** The Prometheus series for a filter metric name. */
export function promName(name: string): { name: string; labels: Record<string, string> } {
  let m = /^failover\.route\.(.+)\.cluster\.(.+)\.share_percent$/.exec(name);
  if (m) return { name: "failover_route_cluster_share_percent", labels: { failover_route: m[1], failover_cluster: m[2] } };
  m = /^failover\.route\.(.+)\.([a-z0-9_]+)$/.exec(name);
  if (m) return { name: `failover_route_${m[2]}`, labels: { failover_route: m[1] } };
  m = /^failover\.cluster\.(.+)\.([a-z0-9_]+)$/.exec(name);
  if (m) return { name: `failover_cluster_${m[2]}`, labels: { failover_cluster: m[1] } };
  return { name: name.replace(/[^a-zA-Z0-9_:]/g, "_"), labels: {} };
}
