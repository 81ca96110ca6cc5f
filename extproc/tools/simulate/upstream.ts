// The upstream clusters over simulated time, as Envoy sees them: each inventory cluster is a set
// of endpoints (hosts) that answer with the cluster's base latency until the scenario's events
// change them, and `recover` restores them. Envoy's side of each cluster is modelled too: its load
// balancer picks a host for every attempt (balancer.ts) and its outlier detection ejects failing
// hosts (outlier.ts), from the results the router reports. router.ts turns what an attempt meets
// on the wire into what Envoy's router does.

import type { DownMode, EnvoyClusterSpec, UpstreamEvent } from "../scenario.js";
import { HostBalancer } from "./balancer.js";
import { HostResult, OutlierDetector } from "./outlier.js";
import type { Random } from "./random.js";

/** The endpoint an attempt went to: its index in the cluster and its address as Envoy prints it. */
export interface Host {
  index: number;
  /** `ip:port`, as Envoy's `upstream.address` attribute has it (Address::Ipv4Instance::asString). */
  address: string;
}

/** What one attempt to a cluster meets. */
export type Wire =
  /** Envoy found no host to send it to: the cluster has none, or none healthy and no panic. */
  | { kind: "no-host" }
  /** The TCP connection is refused (e.g. the gateway's listener is gone). */
  | { kind: "connect-failure"; ms: number; host: Host }
  /** An HTTP response arrives after `ms`. */
  | { kind: "response"; code: number; ms: number; host: Host };

/** A refused connection comes back after about one round trip. */
const CONNECT_REFUSED_MS = 1;
const ENDPOINT_PORT = 8080;

export interface UpstreamSpec {
  latencyMs: number;
  envoy: EnvoyClusterSpec;
}

interface ClusterState {
  spec: UpstreamSpec;
  addresses: string[];
  down: DownMode | undefined;
  /** How many endpoints answer 503 (an `errorRate` event: that share of the endpoints). */
  failing: number;
  latencyMs: number;
  balancer: HostBalancer;
  outlier: OutlierDetector | undefined;
}

/**
 * Which endpoints fail when `failing` of `count` do: spread evenly over the endpoints, so that a
 * round robin meets them at regular steps (endpoint j fails when the k/N staircase rises at j).
 */
export function isFailingEndpoint(j: number, failing: number, count: number): boolean {
  return Math.floor(((j + 1) * failing) / count) > Math.floor((j * failing) / count);
}

export class UpstreamModel {
  private readonly states = new Map<string, ClusterState>();
  private next = 0; // index of the first event not yet applied

  constructor(
    specs: ReadonlyMap<string, UpstreamSpec>,
    private readonly events: readonly UpstreamEvent[], // sorted by time
    random: Random,
  ) {
    let c = 0;
    for (const [cluster, spec] of specs) {
      const n = spec.envoy.endpoints;
      const net = 128 + c++;
      this.states.set(cluster, {
        spec,
        addresses: Array.from({ length: n }, (_, h) => `10.${net}.${h >> 8}.${h & 255}:${ENDPOINT_PORT}`),
        down: undefined, failing: 0, latencyMs: spec.latencyMs,
        balancer: new HostBalancer(spec.envoy.lbPolicy, random),
        outlier: spec.envoy.outlierDetection ? new OutlierDetector(spec.envoy.outlierDetection, n, random, 0) : undefined,
      });
    }
  }

  /** Applies every event due at or before `ms`, and Envoy's outlier interval timers; time only moves forward. */
  advanceTo(ms: number): void {
    while (this.next < this.events.length && this.events[this.next].atMs <= ms) {
      const e = this.events[this.next++];
      const s = this.state(e.cluster);
      s.outlier?.advanceTo(e.atMs);
      switch (e.kind) {
        case "down": s.down = e.mode; break;
        case "errorRate": s.failing = Math.round(e.rate * s.addresses.length); break;
        case "latency": s.latencyMs = e.latencyMs; break;
        case "recover":
          // Hosts that were gone come back with new outlier monitors.
          if (s.down === "no-healthy-upstream") s.outlier?.resetHosts();
          s.down = undefined;
          s.failing = 0;
          s.latencyMs = s.spec.latencyMs;
          break;
      }
    }
    for (const s of this.states.values()) s.outlier?.advanceTo(ms);
  }

  /**
   * Whether an aggregate cluster would send to this child: it has hosts, and a healthy one or a
   * panic that lets it use any (a child with no health gets no load in the aggregate's priorities).
   */
  hasHosts(cluster: string): boolean {
    const s = this.state(cluster);
    if (s.down === "no-healthy-upstream") return false;
    const n = s.addresses.length;
    const healthy = n - (s.outlier?.ejectedCount() ?? 0);
    return healthy > 0 || s.spec.envoy.healthyPanicThreshold > 0;
  }

  /** One attempt to `cluster` now: Envoy's load balancer picks a host, which answers. */
  attempt(cluster: string): Wire {
    const s = this.state(cluster);
    if (s.down === "no-healthy-upstream") return { kind: "no-host" };
    const n = s.addresses.length;
    const index = s.balancer.pick(n, (h) => !s.outlier?.isEjected(h), s.spec.envoy.healthyPanicThreshold);
    if (index === undefined) return { kind: "no-host" };
    const host = { index, address: s.addresses[index] };
    switch (s.down) {
      case "connect-refused": return { kind: "connect-failure", ms: Math.min(CONNECT_REFUSED_MS, s.latencyMs), host };
      case "http-503": return { kind: "response", code: 503, ms: s.latencyMs, host };
    }
    const failed = isFailingEndpoint(index, s.failing, n);
    return { kind: "response", code: failed ? 503 : 200, ms: s.latencyMs, host };
  }

  /** The router reports how an attempt on `host` ended to the cluster's outlier detection. */
  report(cluster: string, host: Host, results: readonly HostResult[], nowMs: number): void {
    const outlier = this.state(cluster).outlier;
    if (outlier) for (const r of results) outlier.put(host.index, r, nowMs);
  }

  /** Hosts ejected now, per cluster with outlier detection. */
  ejected(cluster: string): number {
    return this.state(cluster).outlier?.ejectedCount() ?? 0;
  }

  private state(cluster: string): ClusterState {
    const s = this.states.get(cluster);
    if (!s) throw new Error(`no upstream model for cluster "${cluster}"`);
    return s;
  }
}
