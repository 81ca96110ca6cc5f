// Faults: compare-and-swap contention on the shared health records (many streams, several worker
// VMs, a store that lets other writers in between every read and write), a policy reloaded in
// the middle of traffic, and the sidecar facing clients that vanish mid-stream, clients that do
// not read their answers, and a burst of 10,000 streams. After each fault it must serve correctly.
// Timings are printed with FAILOVER_FAULT_REPORT=1 and never asserted.
import { spawn } from "node:child_process";
import { type AddressInfo, type Socket, connect, createServer } from "node:net";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { HttpStream, SharedData, WasmResult } from "../extproc/host/index.js";
import type { Sidecar } from "../extproc/sidecar/server.js";
import { EnvoyLikeClient, type Headers, type Response, attrs, headerProto, num } from "./support/extproc-client.js";
import { Workers, runs, size } from "./support/fuzz.js";
import { sidecarHarness } from "./support/sidecar-harness.js";
import { eventually, within } from "./support/wait.js";
import { root } from "./support/wasm.js";

const REPORT = process.env.FAILOVER_FAULT_REPORT === "1";
const report = (what: string, numbers: Record<string, unknown>) => {
  if (REPORT) console.log(`fault report: ${what}: ${JSON.stringify(numbers)}`);
};
const TIMEOUT = size(120_000, 1_800_000);

// ---- compare-and-swap contention -----------------------------------------------------------

/**
 * A store where other writers get in between a worker's read and its write: before answering a
 * read of a health record, it may let another worker finish one of its requests (a real write to
 * the same record), so the first worker's compare-and-swap fails and must retry. At most
 * `maxInARow` interferences per update, below the module's 16 attempts.
 */
class ContendedSharedData extends SharedData {
  interfere: (() => boolean) | undefined;
  interferences = 0;
  private depth = 0;
  private inARow = 0;
  constructor(private readonly chance: () => number, private readonly maxInARow = 15) {
    super();
  }

  override get(vmId: string, key: string) {
    // The reader gets the value and token as they are now; another write lands right after, so
    // the token is stale by the time the reader writes back.
    const read = super.get(vmId, key);
    if (this.depth === 0 && this.interfere && key.startsWith("failover.health.") && this.inARow < this.maxInARow && this.chance() < 0.6) {
      this.depth++;
      try {
        if (this.interfere()) {
          this.interferences++;
          this.inARow++;
        }
      } finally {
        this.depth--;
      }
    }
    return read;
  }

  refused = 0;
  override set(vmId: string, key: string, value: Uint8Array, cas: number): WasmResult {
    const r = super.set(vmId, key, value, cas);
    if (this.depth === 0 && r === WasmResult.Ok && cas !== 0) this.inARow = 0;
    if (r === WasmResult.CasMismatch) this.refused++;
    return r;
  }
}

describe("shared-data contention", () => {
  const policy = {
    seed: 1,
    clusters: [{ name: "one", hosts: ["svc"] }, { name: "two", hosts: ["svc"] }],
    routes: [{ name: "svc", match: { authority: "svc" }, destination: { mode: "weighted", weights: { one: 3, two: 1 } } }],
    // Count everything, eject nothing, keep an hour of history: the totals must add up exactly.
    health: { window: "1h", outlierDetection: { consecutive5xx: 0, consecutiveGatewayErrors: 0, consecutiveLocalOriginFailures: 0 } },
  };

  it("loses no health count: many streams in flight on several workers, writers cutting in between every read and write", () => {
    const stats = { updates: 0, refused: 0 };
    const input = fc.record({
      workers: fc.integer({ min: 2, max: 6 }),
      inFlight: fc.integer({ min: 1, max: 64 }),
      requests: fc.array(fc.record({ worker: fc.nat(), code: fc.constantFrom(200, 200, 503, 500), attempts: fc.integer({ min: 1, max: 3 }) }), { minLength: 50, maxLength: size(400, 3000) }),
      seed: fc.integer(),
    });
    fc.assert(fc.property(input, ({ workers, inFlight, requests, seed }) => {
      let s = seed >>> 0;
      const random = () => ((s = (Math.imul(s ^ (s >>> 15), 0x2c1b3c6d) + 0x6d2b79f5) >>> 0) / 2 ** 32);
      const shared = new ContendedSharedData(random);
      const w = new Workers(policy, workers, shared);
      const held: { stream: HttpStream; worker: number; code: number; attempts: number }[] = [];
      const expected = { one: { requests: 0, failures: 0 }, two: { requests: 0, failures: 0 } };
      const finish = (h: (typeof held)[number]) => {
        const cluster = h.stream.requestHeaders.get("x-failover-upstream") as "one" | "two";
        // Every attempt counts once; every attempt but the last failed (retries stay in the cluster).
        expected[cluster].requests += h.attempts;
        expected[cluster].failures += h.attempts - 1 + (h.code >= 500 ? 1 : 0);
        w.complete(h.stream, { code: h.code, flags: 0, attempts: h.attempts, latencyMs: 1 });
      };
      // Another worker's request finishing in the middle of this one's read-modify-write.
      shared.interfere = () => {
        const i = held.findIndex((h) => h.worker !== current);
        if (i < 0) return false;
        finish(held.splice(i, 1)[0]);
        return true;
      };
      let current = -1;
      for (const r of requests) {
        current = r.worker % workers;
        held.push({ stream: w.request(current, [[":authority", "svc"], [":path", "/"]]).stream, worker: current, code: r.code, attempts: r.attempts });
        while (held.length > inFlight) {
          const h = held.shift()!;
          current = h.worker;
          finish(h);
        }
        if (random() < 0.05) w.vms[current].tick(); // refreshes write the records too
      }
      while (held.length) {
        const h = held.shift()!;
        current = h.worker;
        finish(h);
      }
      w.expectAlive();
      // Each worker merges its successes at its next tick (failures are written at once): after
      // one round of ticks every count is in the shared records, after a second every worker's
      // plan shows them all (a success reaches the others within one refresh interval).
      w.advance(600);
      for (let i = 0; i < workers; i++) {
        const byName = Object.fromEntries(w.plan(i).clusters.map((c) => [c.name, { requests: c.requests, failures: c.failures }]));
        expect(byName).toEqual(expected);
      }
      expect(shared.refused).toBeGreaterThan(0);
      stats.refused += shared.refused;
      stats.updates += requests.length;
    }), runs(30, 500));
    report("CAS contention", stats);
  }, TIMEOUT);

  it("a compare-and-swap the store refuses is retried, not dropped (sanity check of the harness)", () => {
    // Every read of a record is followed by a competing write: 15 in a row, the worst case below
    // the module's 16 attempts. Not one count may be lost.
    const one = { ...policy, clusters: [{ name: "one", hosts: ["svc"] }], routes: [{ name: "svc", match: { authority: "svc" }, destination: { mode: "auto" } }] };
    let other: Workers | undefined;
    const shared = new ContendedSharedData(() => 0, 15);
    const a = new Workers(one, 1, shared);
    other = new Workers(one, 1, shared);
    let pending = 0;
    // The competing writes are failures: a worker writes a failure at once (its successes wait
    // for its next tick).
    shared.interfere = () => {
      if (!other) return false;
      const d = other.request(0, [[":authority", "svc"], [":path", "/"]]);
      other.complete(d.stream, { code: 503, flags: 0, attempts: 1, latencyMs: 0 });
      pending++;
      return true;
    };
    for (let i = 0; i < 20; i++) {
      const d = a.request(0, [[":authority", "svc"], [":path", "/"]]);
      a.complete(d.stream, { code: 503, flags: 0, attempts: 1, latencyMs: 0 });
    }
    other = undefined;
    a.advance(300);
    const total = a.plan().clusters.reduce((n, c) => n + c.requests, 0);
    const failures = a.plan().clusters.reduce((n, c) => n + c.failures, 0);
    expect(failures).toBe(20 + pending);
    expect(total).toBe(20 + pending);
    expect(shared.refused).toBeGreaterThanOrEqual(20 * 15);
    report("CAS worst case", { updates: 20, competingWrites: pending, refusedWrites: shared.refused });
    expect(a.logs.filter((l) => l.includes("compare-and-swap"))).toEqual([]);
  });

  it("past 16 conflicts in a row an update is dropped, and says so (the documented bound)", () => {
    const one = { ...policy, clusters: [{ name: "one", hosts: ["svc"] }], routes: [{ name: "svc", match: { authority: "svc" }, destination: { mode: "auto" } }] };
    const shared = new ContendedSharedData(() => 0, 16);
    const a = new Workers(one, 1, shared);
    const other = new Workers(one, 1, shared);
    shared.interfere = () => {
      other.complete(other.request(0, [[":authority", "svc"], [":path", "/"]]).stream, { code: 503, flags: 0, attempts: 1, latencyMs: 0 });
      return true;
    };
    const d = a.request(0, [[":authority", "svc"], [":path", "/"]]);
    a.complete(d.stream, { code: 503, flags: 0, attempts: 1, latencyMs: 0 });
    shared.interfere = undefined;
    expect(a.logs).toContain("failover: outcome for one dropped after 16 compare-and-swap conflicts");
  });
});

// ---- the sidecar ---------------------------------------------------------------------------

const policyA = {
  seed: 1, explainResponse: true, routingHeader: "x-route-a",
  clusters: [{ name: "a1", region: "r1", hosts: ["svc"] }, { name: "a2", region: "r2", hosts: ["svc"] }],
  routes: [{ name: "route-a", match: { authority: "svc" }, destination: { mode: "weighted", weights: { a1: 1, a2: 1 } }, retry: { numRetries: 1 } }],
};
const policyB = {
  seed: 2, explainResponse: true, routingHeader: "x-route-b",
  clusters: [{ name: "b1", region: "r1", hosts: ["svc"] }, { name: "b2", region: "r2", hosts: ["svc"] }, { name: "b3", region: "r3", hosts: ["svc"] }],
  routes: [{ name: "route-b", match: { authority: "svc" }, destination: { mode: "weighted", weights: { b1: 1, b2: 1, b3: 1 } }, retry: { numRetries: 3, perTryTimeout: "2s" } }],
};
const request: Headers = [[":method", "GET"], [":authority", "svc"], [":path", "/"], [":scheme", "http"]];

const start = sidecarHarness({
  policy: JSON.stringify(policyA), clock: () => 1_800_000_000_000n * 1_000_000n, drainMs: 500,
});
/**
 * A TCP relay to the sidecar whose cut() makes the connection go silent without closing it,
 * as when a host dies or the network partitions: only keepalive pings can notice.
 */
async function silentRelay(target: number) {
  const sockets: Socket[] = [];
  const server = createServer((down) => {
    const up = connect(target, "127.0.0.1");
    down.pipe(up);
    up.pipe(down);
    sockets.push(down, up);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    port: (server.address() as AddressInfo).port,
    cut() {
      for (const sock of sockets) {
        sock.unpipe();
        sock.pause();
      }
    },
    close() {
      for (const sock of sockets) sock.destroy();
      server.close();
    },
  };
}
const active = async (s: Sidecar) => (await s.metrics.active.get()).values[0]?.value ?? 0;
/** A normal request through the sidecar gets a routing decision of the policy in force. */
async function servesCorrectly(c: EnvoyLikeClient, header = "x-route-a", names = ["a1", "a2"]) {
  const { upstreamRequest } = await within(c.exchange(request, [[":status", "200"]]), 5000, "a normal exchange");
  const routed = upstreamRequest!.filter(([k]) => k === header).map(([, v]) => v);
  expect(routed.length).toBe(1);
  expect(names).toContain(routed[0]);
}

type Mut = { set_headers?: { header: { key: string; raw_value?: Buffer } }[]; remove_headers?: string[] };
const setNames = (m: Mut | undefined) => new Map((m?.set_headers ?? []).map((o) => [o.header.key, Buffer.from(o.header.raw_value ?? "").toString()]));

describe("policy reload in the middle of traffic", () => {
  it("switches atomically: each request, request and response alike, sees one whole policy", async () => {
    const { sidecar, client } = await start({ policyFile: "/dev/null", readPolicy: () => current });
    let current = JSON.stringify(policyA);
    const c = client();
    const ops = fc.array(fc.oneof(
      { weight: 4, arbitrary: fc.constant("open" as const) },
      { weight: 4, arbitrary: fc.nat().map((i) => ({ respond: i })) },
      { weight: 1, arbitrary: fc.constant("reload" as const) },
    ), { minLength: 20, maxLength: size(120, 600) });
    let checked = 0;
    let straddled = 0;
    await fc.assert(fc.asyncProperty(ops, async (list) => {
      const open: { s: ReturnType<EnvoyLikeClient["open"]>; policy: "a" | "b"; reloadedSince: boolean }[] = [];
      const verify = async (o: (typeof open)[number]) => {
        const resp = await within(o.s.send({ response_headers: { headers: headerProto([[":status", "200"]]), end_of_stream: true }, attributes: attrs({ "response.code": num(200) }) }), 5000, "response answer");
        await within(o.s.close(), 5000, "close");
        const m = setNames(resp.response_headers?.response?.header_mutation);
        // Explained on the response by the policy that decided the request, even after a reload.
        const names = o.policy === "a" ? ["a1", "a2"] : ["b1", "b2", "b3"];
        expect(names).toContain(m.get("x-failover-cluster"));
        expect(m.get("x-failover-decision")).toMatch(o.policy === "a" ? /^route=route-a / : /^route=route-b /);
        checked++;
        if (o.reloadedSince) straddled++;
      };
      for (const op of list) {
        if (op === "open") {
          const s = c.open();
          const answer: Response = await within(s.send({ request_headers: { headers: headerProto(request), end_of_stream: true } }), 5000, "request answer");
          const m = setNames(answer.request_headers?.response?.header_mutation);
          const a = m.has("x-route-a");
          const b = m.has("x-route-b");
          // One policy whole: its routing header, its clusters, its retry count, its route.
          expect(a !== b).toBe(true);
          const policy = a ? "a" : "b";
          if (a) {
            expect(["a1", "a2"]).toContain(m.get("x-route-a"));
            expect(m.get("x-envoy-max-retries")).toBe("1");
            expect(m.has("x-envoy-upstream-rq-per-try-timeout-ms")).toBe(false);
          } else {
            expect(["b1", "b2", "b3"]).toContain(m.get("x-route-b"));
            expect(m.get("x-envoy-max-retries")).toBe("3");
            expect(m.get("x-envoy-upstream-rq-per-try-timeout-ms")).toBe("2000");
          }
          expect(m.get("x-failover-decision")).toMatch(a ? /^route=route-a cluster=a\d / : /^route=route-b cluster=b\d /);
          open.push({ s, policy, reloadedSince: false });
        } else if (op === "reload") {
          current = JSON.stringify(current === JSON.stringify(policyA) ? policyB : policyA);
          expect(sidecar.reload()).toBe(true);
          for (const o of open) o.reloadedSince = true;
        } else if (open.length) {
          await verify(open.splice(op.respond % open.length, 1)[0]);
        }
      }
      for (const o of open.splice(0)) await verify(o);
    }), runs(20, 300));
    expect(straddled).toBeGreaterThan(0);
    report("atomic reload", { requestsChecked: checked, straddlingAReload: straddled });
    expect(await eventually(async () => (await active(sidecar)) === 0, 5000, "no stream left")).toBeGreaterThanOrEqual(0);
  }, TIMEOUT);
});

describe("the sidecar under client faults", () => {
  it("survives clients that vanish mid-stream (cancelled calls, a killed client process, a silent network cut), blaming no cluster", async () => {
    const { sidecar, client } = await start({
      policy: JSON.stringify({ ...policyA, health: { outlierDetection: { consecutive5xx: 1 } } }),
      // A ping every 200 ms finds the silent cut (3.); its answer may take a while on a loaded
      // machine (the child client of 2. is busy starting), so the wait for it is 2 s.
      keepaliveMs: 200, keepaliveTimeoutMs: 2000,
    });
    // 1. Calls cancelled at every point of the exchange (Envoy resets the stream when its client goes).
    const c = client();
    for (let i = 0; i < 300; i++) {
      const s = c.open();
      await s.send({ request_headers: { headers: headerProto(request), end_of_stream: true } });
      // (Responses are 200s: an upstream's 503 is a real failure even when the client then left.)
      if (i % 3 === 1) s.call.write({ response_headers: { headers: headerProto([[":status", "200"]]) } });
      if (i % 3 === 2) await s.send({ response_headers: { headers: headerProto([[":status", "200"]]), end_of_stream: false } });
      s.cancel();
    }
    const afterCancel = await eventually(async () => (await active(sidecar)) === 0, 10_000, "cancelled streams released");

    // 2. A client process killed with streams open: its connection closes under them.
    const script = `
      import * as grpc from "@grpc/grpc-js";
      import { extProcService } from "./dist/sidecar/protocol.js";
      const Client = grpc.makeGenericClientConstructor(extProcService(), "ExternalProcessor");
      const c = new Client("127.0.0.1:${sidecar.port}", grpc.credentials.createInsecure());
      let answered = 0;
      for (let i = 0; i < 500; i++) {
        const call = c.Process();
        call.on("data", () => { if (++answered === 500) process.stdout.write("ready\\n"); });
        call.on("error", (e) => { if (answered < 500) process.stdout.write("error " + e.code + ": " + e.details + "\\n"); });
        call.write({ request_headers: { headers: { headers: [{ key: ":authority", raw_value: Buffer.from("svc") }] } } });
      }
      setInterval(() => {}, 1000);`;
    const child = spawn(process.execPath, ["--input-type=module", "-e", script], { cwd: root, stdio: ["ignore", "pipe", "inherit"] });
    try {
      const said = await within(new Promise<string>((resolve) => child.stdout.on("data", (d: Buffer) => resolve(d.toString()))), 60_000, "child client ready");
      expect(said.trim().split("\n")[0]).toBe("ready");
      expect(await active(sidecar)).toBe(500);
    } finally {
      child.kill("SIGKILL");
    }
    const afterKill = await eventually(async () => (await active(sidecar)) === 0, 10_000, "streams of the killed client released");

    // 3. A silent cut: the connection stays open but nothing gets through any more (a host that
    // died, a partition). Only the sidecar's keepalive pings can notice.
    const relay = await silentRelay(sidecar.port);
    const cut = new EnvoyLikeClient(relay.port);
    const held = Array.from({ length: 200 }, () => cut.open());
    await within(Promise.all(held.map((s) => s.send({ request_headers: { headers: headerProto(request) } }))), 10_000, "held streams answered");
    expect(await active(sidecar)).toBe(200);
    relay.cut();
    const afterCut = await eventually(async () => (await active(sidecar)) === 0, 10_000, "streams behind the silent cut released");
    cut.close();
    relay.close();

    // No cluster was blamed for the abandoned requests, and the sidecar serves on.
    sidecar.pool.tick();
    const plan = sidecar.pool.plans()[0].plan as { clusters: { name: string; ejected: boolean; failures: number }[] };
    expect(plan.clusters.every((x) => !x.ejected && x.failures === 0)).toBe(true);
    expect(sidecar.pool.failure).toBeUndefined();
    await servesCorrectly(client());
    report("vanishing clients", {
      cancelled: 300, killedWithOpenStreams: 500, cutWithOpenStreams: 200,
      msToReleaseCancelled: Math.round(afterCancel), msToReleaseKilled: Math.round(afterKill), msToReleaseCut: Math.round(afterCut),
    });
  }, TIMEOUT);

  it("without keepalive, the streams behind a silent cut would stay in flight (why the sidecar pings)", async () => {
    // grpc-js's own default: no pings. The same cut keeps every stream counted against --max-streams.
    const { sidecar } = await start({ keepaliveMs: 2 ** 31 - 1 });
    const relay = await silentRelay(sidecar.port);
    const cut = new EnvoyLikeClient(relay.port);
    const held = Array.from({ length: 20 }, () => cut.open());
    await within(Promise.all(held.map((s) => s.send({ request_headers: { headers: headerProto(request) } }))), 10_000, "held streams answered");
    relay.cut();
    await new Promise((r) => setTimeout(r, 1500));
    expect(await active(sidecar)).toBe(20);
    cut.close();
    relay.close();
    await eventually(async () => (await active(sidecar)) === 0, 10_000, "released once the connection really closes");
  }, TIMEOUT);

  it("keeps serving others while a client does not read its answers, and delivers them when it does", async () => {
    const { sidecar, client } = await start();
    const slow = client();
    const calls = Array.from({ length: 200 }, () => slow.open());
    for (const s of calls) s.call.pause(); // stop reading: answers pile up behind flow control
    for (const s of calls) {
      s.call.write({ request_headers: { headers: headerProto(request), end_of_stream: false } });
      for (let i = 0; i < 20; i++) s.call.write({ request_body: { body: Buffer.alloc(16 * 1024, 1), end_of_stream: i === 19 } });
    }
    // Meanwhile other Envoys are served promptly.
    const fast = client();
    const started = performance.now();
    for (let i = 0; i < 200; i++) await servesCorrectly(fast);
    const fastMs = performance.now() - started;
    // The slow client reads again: every answer arrives, in order.
    for (const s of calls) s.call.resume();
    await within(Promise.all(calls.map(async (s) => {
      expect((await s.next()).request_headers).toBeDefined();
      for (let i = 0; i < 20; i++) expect((await s.next()).request_body).toBeDefined();
      await s.close();
    })), 30_000, "the slow client's answers");
    await eventually(async () => (await active(sidecar)) === 0, 10_000, "slow streams released");
    await servesCorrectly(fast);
    report("slow client", { pausedStreams: 200, messagesWhilePaused: 200 * 21, bodyBytesWhilePaused: 200 * 20 * 16 * 1024, fastExchangesMeanwhile: 200, fastMs: Math.round(fastMs) });
  }, TIMEOUT);

  it("keeps serving a client that reads slowly while it sends a long stream of bodies", async () => {
    const { sidecar, client } = await start();
    const slow = client();
    const s = slow.open();
    await s.send({ request_headers: { headers: headerProto(request), end_of_stream: false } });
    s.call.pause();
    const chunks = size(5000, 50_000);
    for (let i = 0; i < chunks; i++) s.call.write({ request_body: { body: Buffer.alloc(1024, 2), end_of_stream: i === chunks - 1 } });
    await servesCorrectly(client());
    s.call.resume();
    for (let i = 0; i < chunks; i++) expect((await within(s.next(), 10_000, `body answer ${i}`)).request_body).toBeDefined();
    await within(s.close(), 5000, "close");
    expect(await active(sidecar)).toBe(0);
  }, TIMEOUT);

  it("sheds a burst of 10,000 streams beyond --max-streams with UNAVAILABLE, then serves again", async () => {
    const limit = 1000;
    const { sidecar, client } = await start({ maxStreams: limit });
    const clients = Array.from({ length: 10 }, () => client());
    const started = performance.now();
    const streams = Array.from({ length: 10_000 }, (_, i) => clients[i % clients.length].open());
    const first = await within(Promise.all(streams.map((s) => s.send({ request_headers: { headers: headerProto(request) } }))), 60_000, "every stream answered or refused");
    const burstMs = performance.now() - started;
    const served = first.filter((r) => r.request_headers !== undefined).length;
    const shed = first.filter((r) => r.error?.code === 14);
    expect(served + shed.length).toBe(10_000);
    expect(served).toBe(limit);
    expect(shed.every((r) => r.error.details === `overloaded: ${limit} streams in flight (limit ${limit})`)).toBe(true);
    expect((await sidecar.metrics.shed.get()).values[0].value).toBe(10_000 - limit);
    // Release the served ones; then the sidecar serves normally again.
    const releaseStart = performance.now();
    await within(Promise.all(streams.map((s) => s.close())), 30_000, "closing the burst");
    const recoverMs = await eventually(async () => (await active(sidecar)) === 0, 10_000, "burst released");
    await servesCorrectly(client());
    expect(sidecar.pool.failure).toBeUndefined();
    report("burst", { streams: 10_000, maxStreams: limit, served, shed: shed.length, burstMs: Math.round(burstMs), msToRelease: Math.round(performance.now() - releaseStart), msUntilIdle: Math.round(recoverMs) });
  }, TIMEOUT);

  it("serves a burst of 10,000 streams within the default limit, each counted once", async () => {
    const { sidecar, client } = await start();
    const clients = Array.from({ length: 10 }, () => client());
    const started = performance.now();
    const streams = Array.from({ length: 10_000 }, (_, i) => clients[i % clients.length].open());
    const answers = await within(Promise.all(streams.map((s) => s.send({ request_headers: { headers: headerProto(request), end_of_stream: true } }))), 60_000, "every stream answered");
    expect(answers.every((r) => r.request_headers !== undefined)).toBe(true);
    await within(Promise.all(streams.map(async (s) => {
      await s.send({ response_headers: { headers: headerProto([[":status", "200"]]), end_of_stream: true }, attributes: attrs({ "response.code": num(200) }) });
      await s.close();
    })), 60_000, "every stream completed");
    const ms = performance.now() - started;
    await eventually(async () => (await active(sidecar)) === 0, 10_000, "all released");
    sidecar.pool.tick();
    const plan = sidecar.pool.plans()[0].plan as { clusters: { requests: number }[] };
    expect(plan.clusters.reduce((n, x) => n + x.requests, 0)).toBe(10_000);
    report("burst within limit", { streams: 10_000, ms: Math.round(ms) });
  }, TIMEOUT);
});
