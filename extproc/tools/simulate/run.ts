// The simulation loop: a discrete-event simulation over simulated time. The failover module runs
// in the host (PluginVm) with the simulated clock and gets a tick every period it asked for.
// Requests arrive evenly at the scenario's rate; each is one HttpStream that overlaps others as in
// a real Envoy: the module decides at request headers, Envoy's router (router.ts) makes attempts
// against the upstream model (upstream.ts) with retries as the module's headers ask, and the
// response and access log reach the module when the last attempt ends, with the clock at that
// moment so the module measures the latency. The same seed gives the same run.

import { HttpStream } from "../../host/index.js";
import { EPOCH_NS, PublishedPlan, failoverModule, readPlan, startFailover } from "../../module/failover-module.js";
import type { SimulateCase } from "../scenario.js";
import { Random } from "./random.js";
import {
  AttemptResult, CLUSTER_NOT_FOUND, FinalResponse, NO_HEALTHY_UPSTREAM, ROUTE_TIMEOUT, ROUTE_TIMEOUT_MS, ResponseFlag,
  RetryPolicy, aggregateChild, attemptResult, backoffMs, finalResponse, hostResults, retryPolicy, wouldRetry,
} from "./router.js";
import { Host, UpstreamModel } from "./upstream.js";

/** Seeds Envoy's own draws (load balancers, enforcement) apart from the router's, so that adding endpoints does not shift the backoffs. */
const ENVOY_SEED_SALT = 0x5eed;

/** What happened to one request, for the report. */
export interface RequestRecord {
  arrivalMs: number;
  endMs: number;
  /** The inventory cluster the first attempt went to; undefined when the request was not routed. */
  first: string | undefined;
  /** The module's choice for the first attempt (x-failover-cluster). */
  chosen: string | undefined;
  reason: string | undefined;
  /** The module's split for the route when it decided (the `split=` of x-failover-decision), percent per cluster. */
  split?: Record<string, number>;
  attempts: number;
  code: number;
  flags: number;
  /** The endpoint the last attempt went to (`upstream.address`); undefined when no attempt reached one. */
  address: string | undefined;
}

export interface ModuleLogLine {
  /** Simulated seconds. */
  at: number;
  message: string;
}

export interface SimulationRun {
  records: RequestRecord[];
  /** The module's log lines at warning level or above (its ejections, for one). */
  log: ModuleLogLine[];
  /** The plan the module published at the first tick at or after each of `planAtMs`. */
  plans: PublishedPlan[];
}

export interface SimulateOptions {
  /** Seeds the simulation's draws and, when the policy sets no `seed`, the module's (default 1). */
  seed?: number;
  /** Simulated times (ms, ascending) to take the module's published plan at. */
  planAtMs?: readonly number[];
}

/** A request in flight through Envoy's router. */
interface InFlight {
  stream: HttpStream;
  record: RequestRecord;
  /** The cluster the route names (routing header): an inventory cluster or an aggregate. */
  target: string;
  children: readonly string[] | undefined;
  policy: RetryPolicy | undefined;
  retriesLeft: number;
  /** The retry circuit breaker slot this request holds, until its retried attempt ends. */
  holdsRetry: boolean;
  /** The cluster and host of the attempt in flight. */
  attempt: { cluster: string; host: Host } | undefined;
  deadlineMs: number;
}

class EventQueue {
  private readonly items: { at: number; seq: number; run: () => void }[] = [];
  private seq = 0;

  push(at: number, run: () => void): void {
    const item = { at, seq: this.seq++, run };
    // Binary insertion keeps the queue sorted by (time, insertion order): equal times run FIFO.
    let lo = 0;
    let hi = this.items.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      const m = this.items[mid];
      if (m.at < at || (m.at === at && m.seq < item.seq)) lo = mid + 1;
      else hi = mid;
    }
    this.items.splice(lo, 0, item);
  }

  shift() { return this.items.shift(); }
}

export async function runSimulation(c: SimulateCase, options: SimulateOptions = {}): Promise<SimulationRun> {
  const seed = options.seed ?? 1;
  const random = new Random(seed);
  const log: ModuleLogLine[] = [];
  let now = 0; // simulated milliseconds since the start
  const config = "seed" in c.config ? c.config : { ...c.config, seed };
  const vm = startFailover(await failoverModule(), {
    config, where: c.where, onLog: (message) => log.push({ at: now / 1000, message }), clock: () => EPOCH_NS + BigInt(Math.round(now * 1e6)),
  });
  const upstream = new UpstreamModel(
    new Map(c.clusters.map((n) => [n, { latencyMs: c.latencyMs.get(n)!, envoy: c.envoyClusters.get(n)! }])),
    c.events, new Random(seed ^ ENVOY_SEED_SALT),
  );
  const queue = new EventQueue();
  const records: RequestRecord[] = [];
  const activeRetries = new Map<string, number>();
  const { rate, durationMs, clients } = c.traffic;

  const plans: PublishedPlan[] = [];
  const planAt = [...(options.planAtMs ?? [])];
  const tick = () => {
    vm.tick();
    while (planAt.length && planAt[0] <= now) {
      planAt.shift();
      plans.push(readPlan(vm));
    }
    if (vm.tickPeriodMs > 0 && now + vm.tickPeriodMs <= durationMs) queue.push(now + vm.tickPeriodMs, tick);
  };
  if (vm.tickPeriodMs > 0) queue.push(vm.tickPeriodMs, tick);

  const arrive = (i: number) => {
    records.push(admit(i));
    const next = ((i + 1) * 1000) / rate;
    if (next < durationMs) queue.push(next, () => arrive(i + 1));
  };
  queue.push(0, () => arrive(0));

  /** Request headers through the filter, then the route and the first attempt. */
  const admit = (i: number): RequestRecord => {
    const r = c.requests[i % c.requests.length];
    const client = i % clients;
    const stream = vm.createStream({
      source: { address: `10.1.${client >> 8}.${client & 255}:${40000 + client}`, port: 40000 + client },
    });
    const reply = stream.sendRequestHeaders([
      [":method", r.method], [":path", r.path], [":authority", r.authority], [":scheme", "http"], ...r.headers,
    ], true);
    const h = stream.requestHeaders;
    const record: RequestRecord = {
      arrivalMs: now, endMs: now, first: undefined, chosen: h.get("x-failover-cluster"), reason: h.get("x-failover-reason"),
      split: decidedSplit(h.get("x-failover-decision")), attempts: 0, code: 0, flags: 0, address: undefined,
    };
    if (reply.localReply) {
      // The module (or a failed VM) answered itself; nothing reaches the router.
      record.code = reply.localReply.status;
      stream.end();
      return record;
    }
    const target = h.get(c.routingHeader);
    const children = target === undefined ? undefined : c.aggregates.get(target);
    const known = target !== undefined && (children !== undefined || c.clusters.includes(target));
    const policy = retryPolicy(h);
    const req: InFlight = {
      stream, record, target: target ?? "", children, policy, retriesLeft: policy?.numRetries ?? 0,
      holdsRetry: false, attempt: undefined, deadlineMs: now + ROUTE_TIMEOUT_MS,
    };
    if (!known) finish(req, CLUSTER_NOT_FOUND);
    else startAttempt(req);
    return record;
  };

  const startAttempt = (req: InFlight) => {
    upstream.advanceTo(now);
    const k = req.record.attempts++;
    const cluster = req.children ? aggregateChild(req.children.filter((x) => upstream.hasHosts(x)), k) : req.target;
    if (k === 0) req.record.first = cluster ?? req.children?.[0];
    if (cluster === undefined) return finish(req, NO_HEALTHY_UPSTREAM);
    const wire = upstream.attempt(cluster);
    if (wire.kind === "no-host") return finish(req, NO_HEALTHY_UPSTREAM);
    req.attempt = { cluster, host: wire.host };
    req.record.address = wire.host.address;
    const { result, ms } = attemptResult(wire, req.policy?.perTryTimeoutMs);
    if (now + ms > req.deadlineMs) return queue.push(req.deadlineMs, () => finish(req, ROUTE_TIMEOUT));
    queue.push(now + ms, () => attemptEnded(req, result));
  };

  /** RetryStateImpl::shouldRetry: retriable? retries left? a circuit-breaker slot free? */
  const attemptEnded = (req: InFlight, result: AttemptResult) => {
    releaseRetry(req);
    upstream.advanceTo(now);
    if (req.attempt) upstream.report(req.attempt.cluster, req.attempt.host, hostResults(result), now);
    const final = finalResponse(result);
    if (!req.policy || !wouldRetry(req.policy, result)) return finish(req, final);
    if (req.retriesLeft === 0) return finish(req, { ...final, flags: final.flags | ResponseFlag.URX });
    req.retriesLeft--;
    const active = activeRetries.get(req.target) ?? 0;
    if (active >= c.maxConcurrentRetries) return finish(req, { ...final, flags: final.flags | ResponseFlag.UO });
    activeRetries.set(req.target, active + 1);
    req.holdsRetry = true;
    const at = now + backoffMs(req.record.attempts, random);
    if (at > req.deadlineMs) return queue.push(req.deadlineMs, () => finish(req, ROUTE_TIMEOUT));
    queue.push(at, () => startAttempt(req));
  };

  const releaseRetry = (req: InFlight) => {
    if (!req.holdsRetry) return;
    req.holdsRetry = false;
    activeRetries.set(req.target, (activeRetries.get(req.target) ?? 1) - 1);
  };

  /** The response goes downstream through the filter, then the access log (on_log). */
  const finish = (req: InFlight, final: FinalResponse) => {
    releaseRetry(req);
    const { record, stream } = req;
    Object.assign(record, { endMs: now, code: final.code, flags: final.flags });
    // Envoy knows an upstream attempt count and a cluster only once the route found a cluster.
    const properties = {
      response: { code: final.code, flags: final.flags, code_details: final.details },
      // upstream.address: the host of the last attempt (UpstreamWrapper, expr/context.cc), as `ip:port`.
      upstream: record.attempts
        ? { request_attempt_count: BigInt(record.attempts), ...(record.address !== undefined ? { address: record.address } : {}) }
        : undefined,
      xds: final === CLUSTER_NOT_FOUND ? undefined : { cluster_name: req.target },
    };
    stream.sendResponseHeaders([[":status", String(final.code)]], true, properties);
    stream.end(properties);
  };

  for (let e = queue.shift(); e; e = queue.shift()) {
    now = e.at;
    e.run();
    if (vm.failure) throw vm.failure;
  }
  vm.shutdown();
  return { records, log, plans };
}

/** "... split=a:50,b:50" (x-failover-decision) -> { a: 50, b: 50 }; undefined without a split. */
export function decidedSplit(decision: string | undefined): Record<string, number> | undefined {
  const at = decision?.indexOf(" split=") ?? -1;
  if (decision === undefined || at < 0) return undefined;
  const out: Record<string, number> = {};
  for (const part of decision.slice(at + 7).split(" ")[0].split(",")) {
    const colon = part.lastIndexOf(":");
    if (colon > 0) out[part.slice(0, colon)] = Number(part.slice(colon + 1));
  }
  return out;
}
