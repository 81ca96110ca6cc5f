// --stream-timeout with one timer for every stream (extproc/sidecar/expiry.ts): each stream still
// ends at its own deadline, a stream that ended in time is never expired, and holding many
// streams open holds no timer per stream.
import { afterEach, describe, expect, it, vi } from "vitest";
import { ExpiryQueue } from "../extproc/sidecar/expiry.js";
import { headerProto } from "./support/extproc-client.js";
import { sidecarHarness } from "./support/sidecar-harness.js";
import { eventually } from "./support/wait.js";

describe("the expiry queue", () => {
  afterEach(() => vi.useRealTimers());

  it("expires each item at its own deadline, oldest first, with one timer, and never an item deleted in time", () => {
    vi.useFakeTimers();
    let now = 0;
    const queue = new ExpiryQueue(100, () => now);
    const expired: string[] = [];
    const item = (name: string) => ({ expire: () => expired.push(name) });
    const a = item("a"), b = item("b"), c = item("c");
    queue.add(a); // deadline 100
    now = 30;
    queue.add(b); // 130
    now = 60;
    queue.add(c); // 160
    expect(vi.getTimerCount()).toBe(1);
    queue.delete(a); // ended in time
    now = 100;
    vi.advanceTimersByTime(100);
    expect(expired).toEqual([]); // a was deleted; b is not due until 130
    now = 130;
    vi.advanceTimersByTime(30);
    expect(expired).toEqual(["b"]);
    expect(vi.getTimerCount()).toBe(1); // armed again, for c
    now = 160;
    vi.advanceTimersByTime(30);
    expect(expired).toEqual(["b", "c"]);
    expect(vi.getTimerCount()).toBe(0);
    expect(queue.size).toBe(0);
  });

  it("stays armed for the others when an expiry throws", () => {
    vi.useFakeTimers();
    let now = 0;
    const queue = new ExpiryQueue(10, () => now);
    const expired: string[] = [];
    queue.add({ expire: () => { throw new Error("boom"); } });
    queue.add({ expire: () => expired.push("next") });
    now = 10;
    expect(() => vi.advanceTimersByTime(10)).toThrow("boom");
    expect(vi.getTimerCount()).toBe(1);
    vi.advanceTimersByTime(10);
    expect(expired).toEqual(["next"]);
  });
});

const policy = {
  clusters: [{ name: "cluster-1", region: "region-1", zone: "a", hosts: ["svc.example.com"] }],
  routes: [{ name: "svc", match: { authority: "svc.example.com" }, destination: { mode: "auto" } }],
};
const start = sidecarHarness({ policy: JSON.stringify(policy), drainMs: 200, locality: { region: "region-1", zone: "a" } });
const timers = () => process.getActiveResourcesInfo().filter((r) => r === "Timeout").length;

describe("--stream-timeout over gRPC", () => {
  it("holds no timer per open stream, and still ends every held stream at the timeout", async () => {
    const { sidecar, client } = await start({ streamTimeoutMs: 5_000 });
    const c = client();
    await c.exchange([[":authority", "svc.example.com"]], [[":status", "200"]]); // the connection is up
    const before = timers();
    const held = Array.from({ length: 200 }, () => c.open());
    await Promise.all(held.map((s) => s.send({ request_headers: { headers: headerProto([[":authority", "svc.example.com"]]), end_of_stream: true } })));
    expect((await sidecar.metrics.active.get()).values[0].value).toBe(200);
    // (One timer was one Timeout per stream: 200 more.)
    expect(timers() - before).toBeLessThanOrEqual(1);
    await eventually(async () => (await sidecar.metrics.expired.get()).values[0].value === 200, 30_000, "held streams expired");
    expect((await sidecar.metrics.active.get()).values[0].value).toBe(0);
  });
});
