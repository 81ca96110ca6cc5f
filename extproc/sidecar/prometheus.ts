// Metrics for Prometheus, with prom-client: the sidecar's own (streams, messages, errors, the
// time a decision takes), Node's default process metrics under their standard names, and the
// filter's, named exactly as Envoy's stats_tags in envoy/*.yaml name them
// (failover_cluster_<metric>{failover_cluster="<name>"}), so one dashboard and one set of alert
// rules serve both forms.

import client from "prom-client";
import { MetricType, type Metrics } from "../host/index.js";
import { VERSION } from "../version.js";
import { envoyPrometheusSeries } from "./stats-tags.js";

/**
 * What each filter metric counts (assembly/filter/root.ts and stream.ts define and update them),
 * by its Prometheus name.
 */
const FILTER_HELP: Record<string, string> = {
  failover_cluster_requests_total: "requests the filter routed to the cluster",
  failover_cluster_failures_5xx_total: "responses from the cluster with a 5xx status (502-504 included, like Envoy's upstream_rq_5xx)",
  failover_cluster_failures_gateway_total: "502, 503 and 504 responses from the cluster (a subset of failures_5xx)",
  failover_cluster_failures_local_origin_total: "attempts on the cluster that failed locally: connect failure, reset, timeout, no healthy upstream",
  failover_cluster_ejections_total: "times outlier detection ejected the cluster",
  failover_cluster_failovers_total: "requests routed to the cluster at a lower priority than the route's first (spill or failover)",
  failover_cluster_probes_total: "probe requests sent to the cluster while it was ejected",
  failover_cluster_score: "the cluster's health score, 0-100 (0 while ejected)",
  failover_cluster_ejected: "1 while the cluster is ejected, else 0",
  failover_route_cluster_share_percent: "the share of the route's requests the split gives the cluster, in percent",
  failover_route_retry_budget_exhausted_total: "requests of the route sent without retries because its retry budget was used up",
  failover_no_route_total: "requests no route of the policy matched",
  failover_decisions_total: "requests the filter decided on (request headers seen)",
};

/**
 * prom-client's default metrics that are gauges named `..._total` (a count of things open now, not
 * a counter): Prometheus' lint rejects them and the per-type gauges beside them carry the same.
 */
const LINT_FAILING_DEFAULTS = ["nodejs_active_handles_total", "nodejs_active_requests_total", "nodejs_active_resources_total"];

/** The ext_proc message kinds counted by failover_sidecar_messages_total ("unknown": none set). */
const MESSAGE_KINDS = ["request_headers", "response_headers", "request_body", "response_body", "request_trailers", "response_trailers", "unknown"] as const;
type MessageKind = (typeof MESSAGE_KINDS)[number];

export class SidecarMetrics {
  /**
   * What every request counts, as plain numbers: prom-client hashes the labels of each inc() to
   * find its series. They are folded into the metrics when these are read (a scrape, get()).
   */
  private readonly perRequest = { streams: 0, active: 0, messages: new Map<string, number>(MESSAGE_KINDS.map((k) => [k, 0])) };
  readonly registry = new client.Registry();
  readonly streams: client.Counter = new client.Counter({
    name: "failover_sidecar_streams_total", help: "ext_proc streams (HTTP requests) accepted", registers: [this.registry],
    collect: () => {
      if (this.perRequest.streams > 0) this.streams.inc(this.perRequest.streams);
      this.perRequest.streams = 0;
    },
  });
  readonly active: client.Gauge = new client.Gauge({
    name: "failover_sidecar_streams_active", help: "ext_proc streams in flight", registers: [this.registry],
    collect: (): void => this.active.set(this.perRequest.active),
  });
  readonly shed = new client.Counter({ name: "failover_sidecar_shed_total", help: "streams refused because too many were in flight", registers: [this.registry] });
  readonly messages: client.Counter = new client.Counter({
    name: "failover_sidecar_messages_total", help: "ext_proc messages by kind", labelNames: ["kind"], registers: [this.registry],
    collect: () => {
      for (const [kind, n] of this.perRequest.messages) {
        if (n > 0) this.messages.inc({ kind }, n);
        this.perRequest.messages.set(kind, 0);
      }
    },
  });
  readonly errors = new client.Counter({ name: "failover_sidecar_errors_total", help: "streams ended with an error, by kind", labelNames: ["kind"], registers: [this.registry] });
  readonly localReplies = new client.Counter({ name: "failover_sidecar_local_replies_total", help: "requests answered by the filter itself (ImmediateResponse)", registers: [this.registry] });
  readonly reloads = new client.Counter({ name: "failover_sidecar_policy_reloads_total", help: "policy reloads by result", labelNames: ["result"], registers: [this.registry] });
  readonly vmReloads = new client.Counter({ name: "failover_sidecar_vm_reloads_total", help: "filter VMs rebuilt after a trap (--failure-policy fail-reload), by result", labelNames: ["result"], registers: [this.registry] });
  readonly expired = new client.Counter({ name: "failover_sidecar_streams_expired_total", help: "streams ended because they stayed open longer than --stream-timeout", registers: [this.registry] });
  readonly connections = new client.Counter({ name: "failover_sidecar_connections_total", help: "TCP connections accepted on the gRPC port", registers: [this.registry] });
  readonly idleSockets = new client.Counter({ name: "failover_sidecar_idle_sockets_closed_total", help: "connections destroyed after no traffic for a keepalive round (silent or half-closed peers)", registers: [this.registry] });
  readonly lastReloadSuccess = new client.Gauge({ name: "failover_policy_last_reload_success", help: "1 if the last policy reload (or the start-up load) succeeded, else 0", registers: [this.registry] });
  readonly policyInfo = new client.Gauge({ name: "failover_policy_info", help: "the serving policy (value 1), by the sha256 of its file", labelNames: ["sha256"], registers: [this.registry] });
  readonly decisionSeconds = new client.Histogram({
    name: "failover_sidecar_decision_seconds",
    help: "time the filter takes on request headers (the routing decision)",
    buckets: [0.000005, 0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.01],
    registers: [this.registry],
  });
  readonly buildInfo = new client.Gauge({ name: "failover_build_info", help: "always 1; the running envoy-failover version", labelNames: ["version"], registers: [this.registry] });
  private readonly filter = new Map<string, client.Counter | client.Gauge>();
  private readonly seen = new Map<string, bigint>();

  constructor() {
    client.collectDefaultMetrics({ register: this.registry });
    for (const name of LINT_FAILING_DEFAULTS) this.registry.removeSingleMetric(name);
    this.buildInfo.set({ version: VERSION }, 1);
    // Every label value a counter can take, at 0 from the start (an increase() alert sees the first).
    for (const kind of ["protocol", "limit", "internal", "filter_trap"]) this.errors.inc({ kind }, 0);
    for (const result of ["ok", "rejected", "unreadable"]) this.reloads.inc({ result }, 0);
  }

  /** An ext_proc stream was accepted. */
  streamOpened(): void {
    this.perRequest.streams++;
    this.perRequest.active++;
  }

  /** An accepted stream ended. */
  streamClosed(): void {
    this.perRequest.active--;
  }

  /** One ext_proc message of this kind arrived. */
  countMessage(kind: MessageKind): void {
    const m = this.perRequest.messages;
    m.set(kind, m.get(kind)! + 1);
  }

  /** The policy now serving: one failover_policy_info series, for its sha256. */
  servingPolicy(sha256: string): void {
    this.policyInfo.reset();
    this.policyInfo.set({ sha256 }, 1);
  }

  /** Prometheus text: the filter's metrics brought up to date first. */
  async text(filter: Metrics): Promise<string> {
    for (const m of filter.all()) {
      const { name, labels } = promName(m.name);
      if (m.type === MetricType.Histogram) continue; // the filter defines none; its samples stay in the host
      let metric = this.filter.get(name);
      if (!metric) {
        const config = { name, help: FILTER_HELP[name] ?? `filter metric ${m.name}`, labelNames: Object.keys(labels), registers: [this.registry] };
        metric = m.type === MetricType.Counter ? new client.Counter(config) : new client.Gauge(config);
        this.filter.set(name, metric);
      }
      if (metric instanceof client.Counter) {
        // inc by 0 on first sight: every configured cluster's and route's counter is a series at
        // 0 from the start, so increase() sees the first event after a restart.
        const delta = m.value - (this.seen.get(m.name) ?? 0n);
        metric.inc(labels, delta > 0n ? Number(delta) : 0);
        this.seen.set(m.name, m.value);
      } else {
        metric.set(labels, Number(m.value));
      }
    }
    return this.registry.metrics();
  }
}

/** The Prometheus series for a filter metric name: the one Envoy's stats_tags produce. */
export function promName(name: string): { name: string; labels: Record<string, string> } {
  const s = envoyPrometheusSeries(name);
  // The route's label first, then the cluster's, as one reads the name (order means nothing to Prometheus).
  const { failover_route, ...rest } = s.labels;
  return { name: s.name, labels: failover_route === undefined ? rest : { failover_route, ...rest } };
}
