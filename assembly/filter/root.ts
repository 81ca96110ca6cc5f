// The failover plugin's root context: reads and validates the policy, learns this proxy's
// locality from Envoy's node, keeps every cluster's health fresh from shared data on each tick,
// computes every route's split with Envoy's arithmetic, and publishes the plan.

import {
  BufferType, HttpContext, LogLevel, MetricType, RootContext, WasmResult, defineMetric, getBuffer,
  getPropertyString, incrementMetric, log, nowNanos, randomBytes, readSharedData, recordMetric, setSharedData,
  setTickPeriod, sharedCas, writeSharedData,
} from "../abi";
import { HealthRecord, Outcome, RECORD_SIZE } from "../health/record";
import { quote } from "../json";
import { routePriorities } from "../plan/priorities";
import { effectiveWeight, priorityLoad, toBasisPoints } from "../plan/split";
import { MAX_POLICY_BYTES, parsePolicy } from "../policy/parse";
import { AffinityKind, Assume, AssumeKind, Locality, Mode, Policy } from "../policy/model";
import { hostMatches } from "../policy/parse";
import { concat, formatNumber, itoa } from "../text";
import { ClusterState, RouteState } from "./state";
import { FailoverStream } from "./stream";

/** Shared-data key of the published plan; a plugin with a root_id publishes under its own key. */
export const PLAN_KEY = "failover.plan";
/** Shared-data key of the proxy's own affinity cookie key. */
const OWN_KEY = "failover.affinity.key";
const CAS_ATTEMPTS = 16;

export class FailoverRoot extends RootContext {
  policy: Policy = new Policy();
  proxy: Locality = new Locality();
  clusters: Array<ClusterState> = [];
  routes: Array<RouteState> = [];
  configured: bool = false;
  planKey: string = PLAN_KEY;
  generation: u32 = 0;
  ejectedCount: i32 = 0;
  private rng: u64 = 0x9e3779b97f4a7c15;
  private record: HealthRecord = new HealthRecord();
  private recordBuf: ArrayBuffer = new ArrayBuffer(RECORD_SIZE);
  // Scratch for the split of one route (reused: refresh runs often).
  private hosts: Array<f64> = [];
  private healthy: Array<f64> = [];
  private weights: Array<f64> = [];
  mNoRoute: u32 = 0;
  mDecisions: u32 = 0;
  /**
   * Signs affinity cookies where the policy names no secret: 32 random bytes from the first
   * worker, in shared data, adopted by every worker at each tick (so they check each other's
   * cookies). Other proxies have their own: name a secret for affinity across proxies.
   */
  ownKey: Array<StaticArray<u8>> = [new StaticArray<u8>(64)];
  private ownKeyUsed: bool = false;

  onConfigure(size: u32): bool {
    if (size > MAX_POLICY_BYTES) {
      log(LogLevel.Error, "failover: policy: document: " + itoa(size) + " bytes; the limit is " + itoa(MAX_POLICY_BYTES) + " (1 MiB)");
      return false;
    }
    const buf = getBuffer(BufferType.PluginConfiguration);
    const result = parsePolicy(buf === null ? "" : String.UTF8.decode(buf));
    if (result.policy === null) {
      for (let i = 0; i < result.errors.length; i++) log(LogLevel.Error, "failover: policy: " + result.errors[i]);
      return false;
    }
    this.apply(result.policy!);
    return true;
  }

  /** Switches to a validated policy; state of clusters that keep their name survives in shared data. */
  apply(p: Policy): void {
    this.policy = p;
    this.proxy = nodeLocality(p);
    const rootId = getPropertyString(["plugin_root_id"]);
    this.planKey = rootId === null || rootId!.length == 0 ? PLAN_KEY : PLAN_KEY + "." + rootId!;
    this.clusters = [];
    for (let i = 0; i < p.clusters.length; i++) {
      const c = new ClusterState(p.clusters[i]);
      const base = "failover.cluster." + c.spec.name + ".";
      c.mRequests = defineMetric(MetricType.Counter, base + "requests_total");
      c.m5xx = defineMetric(MetricType.Counter, base + "failures_5xx_total");
      c.mGateway = defineMetric(MetricType.Counter, base + "failures_gateway_total");
      c.mLocal = defineMetric(MetricType.Counter, base + "failures_local_origin_total");
      c.mEjections = defineMetric(MetricType.Counter, base + "ejections_total");
      c.mFailovers = defineMetric(MetricType.Counter, base + "failovers_total");
      c.mProbes = defineMetric(MetricType.Counter, base + "probes_total");
      c.mScore = defineMetric(MetricType.Gauge, base + "score");
      c.mEjected = defineMetric(MetricType.Gauge, base + "ejected");
      this.clusters.push(c);
    }
    this.routes = [];
    for (let r = 0; r < p.routes.length; r++) {
      const spec = p.routes[r];
      const rs = new RouteState(spec, routePriorities(p, spec, this.proxy));
      if (rs.prio.distributeClaimedNothing) log(LogLevel.Warn, "failover: route " + spec.name + ": distribute claims none of its clusters; locality order used");
      for (let i = 0; i < spec.clusters.length; i++) {
        rs.mShare.push(defineMetric(MetricType.Gauge, "failover.route." + spec.name + ".cluster." + p.clusters[spec.clusters[i]].name + ".share_percent"));
        rs.aggregate[i] = this.aggregateFor(rs, i);
      }
      rs.mBudgetExhausted = defineMetric(MetricType.Counter, "failover.route." + spec.name + ".retry_budget_exhausted_total");
      this.routes.push(rs);
    }
    this.ownKeyUsed = false;
    for (let r = 0; r < p.routes.length; r++) {
      const a = p.routes[r].affinity;
      this.ownKeyUsed = this.ownKeyUsed || (a.kind == AffinityKind.Cookie && a.cookieKeys.length == 0);
    }
    if (this.ownKeyUsed && readSharedData(OWN_KEY, changetype<usize>(this.ownKey[0]), 32) != 32) {
      const key = changetype<usize>(this.ownKey[0]);
      if (!randomBytes(key, 32)) log(LogLevel.Warn, "failover: no random key: set affinity.cookie.secret");
      writeSharedData(OWN_KEY, key, 32, 0);
    }
    this.mNoRoute = defineMetric(MetricType.Counter, "failover.no_route_total");
    this.mDecisions = defineMetric(MetricType.Counter, "failover.decisions_total");
    const now = nowNanos();
    this.rng = p.hasSeed ? p.seed : now;
    if (this.rng == 0) this.rng = 0x9e3779b97f4a7c15;
    setTickPeriod(p.health.refreshMs);
    this.configured = true;
    log(LogLevel.Info, "failover: policy loaded: " + itoa(p.clusters.length) + " clusters, " + itoa(p.routes.length) +
      " routes, proxy locality " + this.proxy.describe());
    this.refresh(<i64>(now / 1000000));
  }

  /**
   * With retries across clusters, the aggregate whose first child is this candidate and whose
   * second child is another candidate of the route, preferring the most preferred second child.
   */
  aggregateFor(rs: RouteState, i: i32): i32 {
    const spec = rs.spec;
    if (spec.retry === null || !spec.retry!.acrossClusters) return -1;
    const first = spec.clusters[i];
    let best = -1;
    let bestLevel = i32.MAX_VALUE;
    for (let a = 0; a < this.policy.aggregates.length; a++) {
      const agg = this.policy.aggregates[a];
      if (agg.clusters[0] != first) continue;
      const second = spec.clusters.indexOf(agg.clusters[1]);
      if (second < 0) continue;
      if (rs.prio.level[second] < bestLevel) { best = a; bestLevel = rs.prio.level[second]; }
    }
    return best;
  }

  onTick(): void {
    if (this.configured) this.refresh(<i64>(nowNanos() / 1000000));
  }

  newHttpContext(id: u32): HttpContext { return new FailoverStream(id, this); }

  // ---- health ------------------------------------------------------------------------------

  /** Re-reads every cluster's health, recomputes every split, publishes the plan. */
  refresh(nowMs: i64): void {
    const h = this.policy.health;
    if (this.ownKeyUsed) readSharedData(OWN_KEY, changetype<usize>(this.ownKey[0]), 32);
    let ejected = 0;
    for (let i = 0; i < this.clusters.length; i++) {
      const c = this.clusters[i];
      const assumed = c.spec.assume;
      if (assumed !== null) {
        this.applyAssumption(c, assumed!);
      } else {
        for (let attempt = 0; attempt < CAS_ATTEMPTS; attempt++) {
          const cas = this.load(c);
          this.record.refresh(nowMs, h);
          if (this.store(c, cas)) break;
        }
        const rec = this.record;
        c.score = rec.published < 0 ? 100 : rec.published;
        c.ejected = rec.ejected;
        c.ejections = rec.ejections;
        c.requests = rec.windowRequests();
        c.failures = rec.windowFailures();
        c.latencyMs = rec.windowLatencyMs();
        c.baselineMs = rec.baselineMs;
        c.total = <f64>c.spec.endpoints;
        c.healthy = c.ejected ? 0 : c.score / 100 * c.total;
      }
      if (c.ejected) ejected++;
      recordMetric(c.mScore, <u64>Math.round(c.score));
      recordMetric(c.mEjected, c.ejected ? 1 : 0);
    }
    this.ejectedCount = ejected;
    for (let r = 0; r < this.routes.length; r++) this.computeSplit(this.routes[r]);
    this.generation++;
    this.publish(nowMs);
  }

  private applyAssumption(c: ClusterState, a: Assume): void {
    c.assumed = true;
    c.total = <f64>c.spec.endpoints;
    c.ejected = a.kind == AssumeKind.Ejected;
    if (a.kind == AssumeKind.Counts) {
      c.total = <f64>a.total;
      c.healthy = a.healthy;
      c.score = Math.round(a.healthy / <f64>a.total * 10000) / 100;
    } else if (a.kind == AssumeKind.Score) {
      c.score = a.score;
      c.healthy = a.score / 100 * c.total;
    } else {
      c.score = 0;
      c.healthy = 0;
    }
  }

  /** Loads a cluster's record into `this.record`; returns the CAS token (0 when absent). */
  private load(c: ClusterState): u32 {
    const size = readSharedData(c.key, changetype<usize>(this.recordBuf), <usize>RECORD_SIZE);
    if (size < 0) {
      this.record.clear();
      return 0;
    }
    if (!this.record.decode(changetype<usize>(this.recordBuf), <usize>size)) {
      log(LogLevel.Warn, "failover: shared health record of " + c.spec.name + " has an unknown layout; starting afresh");
    }
    return sharedCas();
  }

  private store(c: ClusterState, cas: u32): bool {
    this.record.encode(changetype<usize>(this.recordBuf));
    const r = writeSharedData(c.key, changetype<usize>(this.recordBuf), <usize>RECORD_SIZE, cas);
    return r != WasmResult.CasMismatch;
  }

  /**
   * Adds one attempt's outcome to a cluster's shared record (compare-and-swap, retried, so no
   * count is lost to another worker). An ejection refreshes this worker's splits at once.
   */
  recordOutcome(index: i32, outcome: Outcome, latencyMs: f64, nowMs: i64, source: u32): void {
    const c = this.clusters[index];
    // Every 5xx counts in failures_5xx, as in Envoy's upstream_rq_5xx; gateway errors are a subset.
    if (outcome == Outcome.Http5xx || outcome == Outcome.Gateway5xx) incrementMetric(c.m5xx, 1);
    if (outcome == Outcome.Gateway5xx) incrementMetric(c.mGateway, 1);
    else if (outcome > Outcome.Gateway5xx) incrementMetric(c.mLocal, 1);
    if (c.assumed) return;
    const o = this.policy.health.outlier;
    const others = <f64>this.ejectedCount + 1;
    const mayEject = others * 100 / <f64>this.clusters.length <= <f64>o.maxEjectionPercent;
    let ejected = false;
    let attempt = 0;
    for (; attempt < CAS_ATTEMPTS; attempt++) {
      const cas = this.load(c);
      ejected = this.record.record(outcome, latencyMs, nowMs, this.policy.health, mayEject, source);
      if (this.store(c, cas)) break;
    }
    // Every attempt lost to another worker's write: the count is lost, but not silently.
    if (attempt == CAS_ATTEMPTS) log(LogLevel.Warn, "failover: outcome for " + c.spec.name + " dropped after 16 compare-and-swap conflicts");
    const readmitted = c.ejected && !this.record.ejected;
    if (ejected) {
      incrementMetric(c.mEjections, 1);
      log(LogLevel.Warn, "failover: ejected cluster " + c.spec.name + " until +" +
        ((this.record.ejectedUntilMs - nowMs) / 1000).toString() + "s (ejection " + itoa(this.record.ejections) + ")");
    }
    if (ejected || readmitted) this.refresh(nowMs);
  }

  // ---- the split ---------------------------------------------------------------------------

  computeSplit(rs: RouteState): void {
    const spec = rs.spec;
    const n = spec.clusters.length;
    const op = this.policy.health.overprovisioning;
    const shares = rs.shares;
    if (spec.mode == Mode.Weighted) {
      for (let i = 0; i < n; i++) {
        shares[i] = <f64>spec.weights[i];
        rs.reason[i] = "weighted";
        rs.probe[i] = false;
      }
    } else {
      const levels = rs.prio.levels;
      this.hosts.length = levels;
      this.healthy.length = levels;
      for (let p = 0; p < levels; p++) { this.hosts[p] = 0; this.healthy[p] = 0; }
      for (let i = 0; i < n; i++) {
        if (rs.prio.weight[i] == 0) continue; // excluded by distribute: not in the pool at all
        const c = this.clusters[spec.clusters[i]];
        this.hosts[rs.prio.level[i]] += c.total;
        this.healthy[rs.prio.level[i]] += c.healthy;
      }
      priorityLoad(this.hosts, this.healthy, op, this.policy.health.panicThreshold, rs.load);
      const load = rs.load;
      // Inside each priority: locality-weighted shares, or all hosts alike in panic.
      this.weights.length = n;
      for (let p = 0; p < levels; p++) {
        let sum: f64 = 0;
        for (let i = 0; i < n; i++) {
          if (rs.prio.level[i] != p) continue;
          const c = this.clusters[spec.clusters[i]];
          const w = <f64>rs.prio.weight[i];
          const e = w == 0 ? 0 : load.panic[p] ? c.total : effectiveWeight(w, c.healthy, c.total, op);
          this.weights[i] = e;
          sum += e;
        }
        // A priority with load but no healthy weight (panic off, nothing healthy: Envoy's P0)
        // is named by its locality weights; Envoy finds no host there.
        const byWeight = sum == 0;
        for (let i = 0; i < n; i++) {
          if (rs.prio.level[i] != p) continue;
          if (byWeight) { this.weights[i] = <f64>rs.prio.weight[i]; sum += this.weights[i]; }
        }
        for (let i = 0; i < n; i++) {
          if (rs.prio.level[i] != p) continue;
          shares[i] = sum > 0 ? <f64>load.load[p] * this.weights[i] / sum : 0;
        }
      }
      this.addProbes(rs);
      let higherLoad = 0;
      for (let p = 0; p < levels; p++) {
        for (let i = 0; i < n; i++) {
          if (rs.prio.level[i] != p) continue;
          const c = this.clusters[spec.clusters[i]];
          let reason = "local";
          if (rs.prio.weight[i] == 0) reason = "excluded";
          else if (rs.probe[i]) reason = "probe";
          else if (rs.shares[i] == 0 || (c.healthy == 0 && !load.panic[p])) reason = c.ejected ? "ejected" : c.healthy > 0 ? "standby" : "unhealthy";
          else if (rs.prio.distribute >= 0) reason = "distribute";
          else if (load.panic[p]) reason = "panic";
          else if (p > 0) reason = higherLoad == 0 ? "failover" : "spill";
          if (c.assumed && reason == "local") reason = "assumed";
          rs.reason[i] = reason;
        }
        higherLoad += load.load[p];
      }
    }
    toBasisPoints(shares, rs.bp);
    let cum = 0;
    for (let i = 0; i < n; i++) {
      cum += rs.bp[i];
      rs.cumulative[i] = cum;
      const c = this.clusters[spec.clusters[i]];
      rs.priorityText[i] = spec.mode == Mode.Weighted ? "0" : itoa(rs.prio.level[i]);
      rs.scoreText[i] = fmt2(c.score);
      recordMetric(rs.mShare[i], <u64>(rs.bp[i] / 100));
    }
    // The split is appended per request (stream.ts): prepared into every candidate's decision it
    // made refreshes quadratic in a route's clusters, too much for a policy at its limits.
    rs.split = this.splitText(rs);
    for (let i = 0; i < n; i++) {
      rs.decision[i] = "route=" + spec.name + " cluster=" + this.clusters[spec.clusters[i]].spec.name +
        " priority=" + rs.priorityText[i] + " reason=" + rs.reason[i] + " score=" + rs.scoreText[i] + " split=";
    }
  }

  /**
   * Ejected clusters (not drained by assumption) get a probe share so that recovery is noticed
   * before the ejection ends. Only where the route retries across clusters (an aggregate names
   * the probed cluster first): a failed probe is then retried in the next cluster and no client
   * sees it. The share is taken from the others in proportion, when there are others.
   */
  private addProbes(rs: RouteState): void {
    const spec = rs.spec;
    const n = spec.clusters.length;
    const pct = this.policy.health.probePercent;
    let probes: f64 = 0;
    let rest: f64 = 0;
    for (let i = 0; i < n; i++) {
      const c = this.clusters[spec.clusters[i]];
      // In a panicking priority an ejected cluster shares the load by host count, as in Envoy.
      rs.probe[i] = pct > 0 && c.ejected && !c.assumed && rs.prio.weight[i] > 0 && rs.aggregate[i] >= 0 && !rs.load.panic[rs.prio.level[i]];
      if (rs.probe[i]) probes += pct;
      else rest += rs.shares[i];
    }
    if (probes == 0 || rest <= 0) {
      for (let i = 0; i < n; i++) rs.probe[i] = false;
      return;
    }
    const total = probes;
    probes = min<f64>(probes, 50);
    for (let i = 0; i < n; i++) {
      rs.shares[i] = rs.probe[i] ? pct * probes / total : rs.shares[i] * (100 - probes) / rest;
    }
  }

  splitText(rs: RouteState): string {
    const s: Array<string> = [];
    for (let i = 0; i < rs.bp.length; i++) {
      s.push((i > 0 ? "," : "") + this.clusters[rs.spec.clusters[i]].spec.name + ":" + bpText(rs.bp[i]));
    }
    return concat(s);
  }

  // ---- per request -------------------------------------------------------------------------

  /** The first route matching host (lower case, no port) and path, or -1. */
  match(host: string, path: string): i32 {
    for (let r = 0; r < this.routes.length; r++) {
      const spec = this.routes[r].spec;
      if (!hostMatches(spec.authority, host)) continue;
      if (spec.pathPrefix.length > 0 && !path.startsWith(spec.pathPrefix)) continue;
      return r;
    }
    return -1;
  }

  /** A random candidate by the split. */
  pickRandom(rs: RouteState): i32 {
    const point = <i32>(this.next() % 10000);
    for (let i = 0; i < rs.cumulative.length; i++) if (point < rs.cumulative[i]) return i;
    return rs.cumulative.length - 1;
  }

  /**
   * A stable candidate for an affinity key: weighted rendezvous hashing over the split, so a key
   * keeps its cluster while that cluster keeps a share, and only the keys of a cluster that loses
   * its share move.
   */
  pickAffinity(rs: RouteState, key: string): i32 {
    const base = fnv1a(key);
    let best = -1;
    let bestScore: f64 = -Infinity;
    for (let i = 0; i < rs.bp.length; i++) {
      if (rs.bp[i] <= 0) continue;
      const h = mix(base ^ (<u64>(rs.spec.clusters[i] + 1) * 0x9e3779b97f4a7c15));
      const u = (<f64>(h >> 11) + 0.5) / 9007199254740992.0; // (0, 1)
      const score = -<f64>rs.bp[i] / ln(u);
      if (score > bestScore) { bestScore = score; best = i; }
    }
    return best < 0 ? this.pickRandom(rs) : best;
  }

  next(): u64 {
    // xorshift64*: deterministic for a given seed, which `failover simulate --seed` relies on.
    let x = this.rng;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    this.rng = x;
    return x * 0x2545f4914f6cdd1d;
  }

  /** Retry budget: are retries over budget on this route in the last window (this worker)? */
  budgetExhausted(rs: RouteState, nowMs: i64): bool {
    const retry = rs.spec.retry;
    if (retry === null || retry!.budgetPercent <= 0) return false;
    this.rotateBudget(rs, nowMs);
    const reqs = <f64>(rs.budgetRequests[0] + rs.budgetRequests[1]);
    const retries = <f64>(rs.budgetRetries[0] + rs.budgetRetries[1]);
    return retries >= max<f64>(<f64>retry!.budgetMinRetries, reqs * retry!.budgetPercent / 100);
  }

  noteAttempts(rs: RouteState, attempts: i64, nowMs: i64): void {
    this.rotateBudget(rs, nowMs);
    const b = <i32>(rs.budgetEpoch & 1);
    rs.budgetRequests[b]++;
    if (attempts > 1) rs.budgetRetries[b] += <u32>(attempts - 1);
  }

  private rotateBudget(rs: RouteState, nowMs: i64): void {
    const half = max<i64>(1, <i64>(this.policy.health.windowMs / 2));
    const epoch = nowMs / half;
    if (epoch == rs.budgetEpoch) return;
    const steps = epoch - rs.budgetEpoch;
    for (let s: i64 = 1; s <= min<i64>(steps, 2); s++) {
      const b = <i32>((rs.budgetEpoch + s) & 1);
      rs.budgetRequests[b] = 0;
      rs.budgetRetries[b] = 0;
    }
    rs.budgetEpoch = epoch;
  }

  // ---- the published plan ------------------------------------------------------------------

  publish(nowMs: i64): void {
    // Pieces encoded once at the end: growing one string by += copies it per piece (and so
    // does Array#join at shrinkLevel 1), quadratic in routes x clusters: a policy at its limits
    // then ran out of memory.
    const s: Array<string> = [];
    s.push("{\"generation\":" + itoa(this.generation) + ",\"timeMs\":" + itoa(nowMs) +
      ",\"locality\":{\"region\":" + quote(this.proxy.region) + ",\"zone\":" + quote(this.proxy.zone) +
      ",\"subzone\":" + quote(this.proxy.subzone) + ",\"cluster\":" + quote(this.proxy.cluster) + "},\"routes\":[");
    for (let r = 0; r < this.routes.length; r++) {
      const rs = this.routes[r];
      const spec = rs.spec;
      if (r > 0) s.push(",");
      s.push("{\"name\":" + quote(spec.name) + ",\"mode\":" + quote(modeName(spec.mode)) +
        ",\"panic\":" + (spec.mode != Mode.Weighted && rs.load.totalPanic ? "true" : "false") +
        ",\"affinity\":" + quote(affinityName(spec.affinity.kind)) + ",\"priorities\":[");
      if (spec.mode != Mode.Weighted) {
        for (let p = 0; p < rs.prio.levels; p++) {
          if (p > 0) s.push(",");
          s.push("{\"priority\":" + itoa(p) + ",\"health\":" + itoa(rs.load.health[p]) + ",\"load\":" +
            itoa(rs.load.load[p]) + ",\"panic\":" + (rs.load.panic[p] ? "true" : "false") + ",\"clusters\":[");
          let first = true;
          for (let i = 0; i < spec.clusters.length; i++) {
            if (rs.prio.level[i] != p) continue;
            s.push((first ? "" : ",") + quote(this.clusters[spec.clusters[i]].spec.name));
            first = false;
          }
          s.push("]}");
        }
      }
      s.push("],\"split\":{");
      for (let i = 0; i < spec.clusters.length; i++) {
        s.push((i > 0 ? "," : "") + quote(this.clusters[spec.clusters[i]].spec.name) + ":" + bpText(rs.bp[i]));
      }
      s.push("},\"clusters\":[");
      for (let i = 0; i < spec.clusters.length; i++) {
        const c = this.clusters[spec.clusters[i]];
        s.push((i > 0 ? "," : "") + "{\"name\":" + quote(c.spec.name) + ",\"priority\":" + rs.priorityText[i] +
          ",\"share\":" + bpText(rs.bp[i]) + ",\"score\":" + rs.scoreText[i] + ",\"ejected\":" + (c.ejected ? "true" : "false") +
          ",\"reason\":" + quote(rs.reason[i]) + (rs.aggregate[i] >= 0 ? ",\"via\":" + quote(this.policy.aggregates[rs.aggregate[i]].name) : "") + "}");
      }
      s.push("]}");
    }
    s.push("],\"clusters\":[");
    for (let i = 0; i < this.clusters.length; i++) {
      const c = this.clusters[i];
      s.push((i > 0 ? "," : "") + "{\"name\":" + quote(c.spec.name) + ",\"score\":" + fmt2(c.score) +
        ",\"ejected\":" + (c.ejected ? "true" : "false") + ",\"ejections\":" + itoa(c.ejections) +
        ",\"requests\":" + itoa(c.requests) + ",\"failures\":" + itoa(c.failures) +
        ",\"latencyMs\":" + fmt2(c.latencyMs) + ",\"baselineMs\":" + fmt2(c.baselineMs) +
        ",\"assumed\":" + (c.assumed ? "true" : "false") + "}");
    }
    s.push("]}");
    setSharedData(this.planKey, utf8Concat(s));
  }
}

/** This proxy's locality: the policy's fields first, then Envoy's node (xds.node.*, or node.* before Envoy 1.33). */
function nodeLocality(p: Policy): Locality {
  const l = new Locality();
  l.region = nodeString("locality", "region");
  l.zone = nodeString("locality", "zone");
  l.subzone = nodeString("locality", "sub_zone");
  l.cluster = nodeString("metadata", "CLUSTER_ID");
  const network = nodeString("metadata", "NETWORK");
  if (network.length > 0) l.labels.set("topology.istio.io/network", network);
  const set = p.localitySet;
  if (set.includes("region")) l.region = p.locality.region;
  if (set.includes("zone")) l.zone = p.locality.zone;
  if (set.includes("subzone")) l.subzone = p.locality.subzone;
  if (set.includes("cluster")) l.cluster = p.locality.cluster;
  const keys = p.locality.labels.keys();
  for (let i = 0; i < keys.length; i++) l.labels.set(keys[i], p.locality.labels.get(keys[i]));
  return l;
}

function nodeString(field: string, key: string): string {
  let v = getPropertyString(["xds", "node", field, key]);
  if (v === null) v = getPropertyString(["node", field, key]);
  return v === null ? "" : v!;
}

function modeName(m: Mode): string {
  return m == Mode.Auto ? "auto" : m == Mode.Named ? "named" : "weighted";
}

function affinityName(k: AffinityKind): string {
  return k == AffinityKind.Header ? "header" : k == AffinityKind.Cookie ? "cookie" : k == AffinityKind.SourceIp ? "sourceIp" : "none";
}

/** The UTF-8 bytes of the concatenated pieces, in linear time. */
function utf8Concat(parts: Array<string>): ArrayBuffer {
  let n = 0;
  for (let i = 0; i < parts.length; i++) n += String.UTF8.byteLength(parts[i]);
  const out = new ArrayBuffer(n);
  let at = changetype<usize>(out);
  for (let i = 0; i < parts.length; i++) at += String.UTF8.encodeUnsafe(changetype<usize>(parts[i]), parts[i].length, at);
  return out;
}

/** Basis points as a percentage with two decimals ("99.5" -> "99.50"). */
export function bpText(bp: i32): string {
  const frac = bp % 100;
  return itoa((bp / 100)) + "." + (frac < 10 ? "0" : "") + itoa(frac);
}

/** A number with at most two decimals. */
export function fmt2(v: f64): string {
  return formatNumber(v, 2);
}

export function fnv1a(s: string): u64 {
  let h: u64 = 0xcbf29ce484222325;
  for (let i = 0; i < s.length; i++) {
    h ^= <u64>s.charCodeAt(i);
    h *= 0x100000001b3;
  }
  return h;
}

/**
 * ln(x) for a normal x > 0, to about 1e-9 (Math.log costs 400 bytes of module): x = m 2^e with
 * m in [1, 2), and ln m = 2 atanh s, s = (m - 1) / (m + 1) < 1/3, by its series.
 */
function ln(x: f64): f64 {
  const bits = reinterpret<u64>(x);
  const m = reinterpret<f64>((bits & 0x000fffffffffffff) | 0x3ff0000000000000);
  const s = (m - 1) / (m + 1);
  let term = s;
  let sum: f64 = 0;
  for (let k = 1; k < 18; k += 2) {
    sum += term / <f64>k;
    term *= s * s;
  }
  return 2 * sum + <f64>(<i32>(bits >> 52) - 1023) * 0.6931471805599453;
}

/** splitmix64 finalizer: spreads the bits of a hash. */
function mix(x: u64): u64 {
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9;
  x ^= x >> 27;
  x *= 0x94d049bb133111eb;
  x ^= x >> 31;
  return x;
}
