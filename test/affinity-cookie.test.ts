// Signed affinity cookies, through the real module: the filter issues id + issue time + an
// HMAC-SHA-256 over both (checked here against Node's crypto), and ignores (re-issuing a fresh
// one) any cookie that does not check out: forged, tampered, replayed after expiry, or signed
// with a secret no longer accepted. Rotation: previous secrets are accepted and re-signed.
// The sidecar's --affinity-secret-file over a real gRPC connection at the end.
import { createHmac } from "node:crypto";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { SharedData } from "../extproc/host/index.js";
import { readSecrets, withAffinitySecrets } from "../extproc/sidecar/affinity-secret.js";
import type { Headers } from "./support/extproc-client.js";
import { Failover } from "./support/failover.js";
import { sidecarHarness } from "./support/sidecar-harness.js";

const SECRET = "correct horse battery staple";
const OLD = "an older secret, rotated out";
const TTL_S = 600;
const policy = (cookie: object = { secret: SECRET }) => ({
  clusters: ["a", "b", "c", "d"].map((name) => ({ name, hosts: ["h"] })),
  routes: [{ name: "h", match: { authority: "h" }, destination: { mode: "weighted", weights: { a: 1, b: 1, c: 1, d: 1 } }, affinity: { cookie: { name: "sess", ttl: `${TTL_S}s`, ...cookie } } }],
});

/** id (8 hex), issued (8 hex, seconds), HMAC-SHA-256(secret, id ++ issued as 8 bytes) truncated to 8 bytes. */
function sign(secret: string, id: number, issuedS: number): string {
  const body = Buffer.alloc(8);
  body.writeUInt32BE(id >>> 0, 0);
  body.writeUInt32BE(issuedS >>> 0, 4);
  return body.toString("hex") + createHmac("sha256", secret).update(body).digest().subarray(0, 8).toString("hex");
}
const cookieOf = (setCookie: string | undefined) => /^sess=([0-9a-f]{32});/.exec(setCookie ?? "")?.[1];
const nowS = (f: Failover) => Number(f.nowMs / 1000n);

/** One request with `cookie` (or none): the cluster chosen and the cookie issued, if any. */
function visit(f: Failover, cookie?: string) {
  const s = f.exchange("h", 200, { extra: cookie === undefined ? [] : [["cookie", `theme=dark; sess=${cookie}`]] });
  return { cluster: s.requestHeaders.get("x-failover-upstream")!, issued: cookieOf(s.responseHeaders.get("set-cookie")) };
}

describe("signed affinity cookies", () => {
  it("issues id, issue time and an HMAC-SHA-256 over both (Node's crypto agrees), and honours it", () => {
    const f = new Failover(policy());
    const first = visit(f);
    const c = first.issued!;
    expect(c).toMatch(/^[0-9a-f]{32}$/);
    const id = parseInt(c.slice(0, 8), 16);
    expect(parseInt(c.slice(8, 16), 16)).toBe(nowS(f));
    expect(c).toBe(sign(SECRET, id, nowS(f)));
    for (let i = 0; i < 10; i++) expect(visit(f, c)).toEqual({ cluster: first.cluster, issued: undefined });
  });

  it("a forged cookie is ignored and a fresh one issued: a client cannot search ids for a cluster", () => {
    const f = new Failover(policy());
    // 200 attempts at choosing an id, signed with a guessed secret or not signed at all.
    for (let i = 0; i < 200; i++) {
      const forged = i % 2 ? sign("guessed secret, wrong one", i * 7919, nowS(f)) : (i * 2654435761).toString(16).padStart(8, "0").repeat(4).slice(0, 32);
      const r = visit(f, forged);
      expect(r.issued).toBeDefined();
      expect(r.issued).not.toBe(forged);
      expect(r.issued!.slice(0, 8)).not.toBe(forged.slice(0, 8));
      // What counts is the issued id: presenting it gives the same cluster again.
      expect(visit(f, r.issued).cluster).toBe(r.cluster);
    }
  });

  it("a tampered cookie (id, time or signature changed, case changed) is ignored", () => {
    const f = new Failover(policy());
    const good = visit(f).issued!;
    const flip = (s: string, at: number) => s.slice(0, at) + (s[at] === "0" ? "1" : "0") + s.slice(at + 1);
    for (const bad of [flip(good, 0), flip(good, 7), flip(good, 12), flip(good, 31), good.toUpperCase(), good.slice(0, 31), `${good}0`, ""]) {
      const r = visit(f, bad);
      expect(r.issued, bad).toBeDefined();
      expect(r.issued).not.toBe(good);
    }
    expect(visit(f, good).issued).toBeUndefined();
  });

  it("a cookie replayed after it expired is ignored; one from the future too", () => {
    const f = new Failover(policy());
    const first = visit(f);
    f.advance((TTL_S - 1) * 1000);
    expect(visit(f, first.issued).issued).toBeUndefined();
    f.advance(2000);
    const late = visit(f, first.issued);
    expect(late.issued).toBeDefined();
    expect(late.issued!.slice(0, 8)).not.toBe(first.issued!.slice(0, 8));
    const id = 0x12345678;
    expect(visit(f, sign(SECRET, id, nowS(f) + 3600)).issued!.slice(0, 8)).not.toBe("12345678");
  });

  it("rotation: a cookie signed with a previous secret keeps its id and is re-signed with the current one", () => {
    const before = new Failover(policy({ secret: OLD }));
    const old = visit(before);
    const after = new Failover(policy({ secret: SECRET, previousSecrets: [OLD] }), { startMs: before.nowMs + 60_000n });
    const r = visit(after, old.issued);
    expect(r.cluster).toBe(old.cluster);
    expect(r.issued).toBe(sign(SECRET, parseInt(old.issued!.slice(0, 8), 16), nowS(after)));
    expect(visit(after, r.issued)).toEqual({ cluster: old.cluster, issued: undefined });
    // Once the old secret is dropped, its cookies are ignored.
    const later = new Failover(policy({ secret: SECRET }), { startMs: after.nowMs });
    expect(visit(later, old.issued).issued!.slice(0, 8)).not.toBe(old.issued!.slice(0, 8));
  });

  it("without a secret, the proxy's own random key: shared by its workers, not by another proxy", () => {
    const shared = new SharedData();
    const w1 = new Failover(policy({}), { shared });
    const w2 = new Failover(policy({}), { shared });
    const c = visit(w1).issued!;
    expect(visit(w2, c).issued).toBeUndefined();
    const otherProxy = new Failover(policy({}));
    expect(visit(otherProxy, c).issued).toBeDefined();
    // And the key is not one anybody could compute from the policy.
    expect(c).not.toBe(sign("", parseInt(c.slice(0, 8), 16), nowS(w1)));
  });

  it("refuses secrets too short or too long, and previous secrets without a current one", () => {
    expect(() => new Failover(policy({ secret: "short" }))).toThrow(/routes\[0\]\.affinity\.cookie\.secret: a secret is 16 to 64 bytes/);
    expect(() => new Failover(policy({ secret: "x".repeat(65) }))).toThrow(/a secret is 16 to 64 bytes/);
    expect(() => new Failover(policy({ previousSecrets: [OLD] }))).toThrow(/previousSecrets: needs a secret to sign new cookies with/);
    // Every previous secret costs an HMAC per request with a foreign cookie: a handful, no more.
    expect(() => new Failover(policy({ secret: SECRET, previousSecrets: Array.from({ length: 5 }, (_, i) => `${OLD} ${i}`) }))).toThrow(/previousSecrets: at most 4/);
    expect(() => new Failover(policy({ secret: SECRET, previousSecrets: Array.from({ length: 4 }, (_, i) => `${OLD} ${i}`) }))).not.toThrow();
  });
});

describe("sidecar: --affinity-secret-file", () => {
  const dir = mkdtempSync(join(tmpdir(), "failover-secret-"));
  const secretFile = join(dir, "secrets");
  const policyText = JSON.stringify(policy({}));
  const start = sidecarHarness({ policy: policyText, clock: () => 1_800_000_000_000n * 1_000_000n });
  const request: Headers = [[":method", "GET"], [":path", "/"], [":authority", "h"], [":scheme", "http"]];
  const setCookie = (h: Headers | undefined) => cookieOf(h?.find(([k]) => k === "set-cookie")?.[1]);

  it("signs with the file's first secret and, after a rotation, accepts and re-signs the previous one", async () => {
    writeFileSync(secretFile, `${OLD}\n`);
    const served = () => withAffinitySecrets(policyText, readSecrets(secretFile));
    const { sidecar, client } = await start({ policy: served() });
    const envoy = client();
    const first = await envoy.exchange(request, [[":status", "200"]]);
    const old = setCookie(first.downstreamResponse)!;
    expect(old).toBe(sign(OLD, parseInt(old.slice(0, 8), 16), 1_800_000_000));
    const cluster = first.upstreamRequest!.find(([k]) => k === "x-failover-upstream")![1];

    writeFileSync(secretFile, `${SECRET}\n${OLD}\n`);
    sidecar.pool.configure(served());
    const again = await envoy.exchange([...request, ["cookie", `sess=${old}`]], [[":status", "200"]]);
    expect(again.upstreamRequest!.find(([k]) => k === "x-failover-upstream")![1]).toBe(cluster);
    expect(setCookie(again.downstreamResponse)).toBe(sign(SECRET, parseInt(old.slice(0, 8), 16), 1_800_000_000));
  });

  it("failover serve --affinity-secret-file: the running sidecar signs with the file's secret", async () => {
    const { spawn } = await import("node:child_process");
    const policyFile = join(dir, "served-policy.json");
    writeFileSync(policyFile, policyText);
    writeFileSync(secretFile, `${SECRET}\n${OLD}\n`);
    const cli = join(import.meta.dirname, "..", "dist", "cli.js");
    const child = spawn(process.execPath, [cli, "serve", "--policy", policyFile, "--affinity-secret-file", secretFile, "--port", "0", "--admin-port", "0"], { stdio: ["ignore", "ignore", "pipe"] });
    try {
      const started = await new Promise<Record<string, unknown>>((resolve, reject) => {
        let buf = "";
        child.stderr!.on("data", (d: Buffer) => {
          buf += d.toString();
          for (let i = buf.indexOf("\n"); i >= 0; i = buf.indexOf("\n")) {
            const line = JSON.parse(buf.slice(0, i));
            buf = buf.slice(i + 1);
            if (line.msg === "ext_proc sidecar serving") resolve(line);
          }
        });
        child.once("exit", (code) => reject(new Error(`serve exited with ${code}`)));
      });
      const { EnvoyLikeClient } = await import("./support/extproc-client.js");
      const envoy = new EnvoyLikeClient(Number(String(started.grpc).split(":").pop()));
      try {
        const first = await envoy.exchange(request, [[":status", "200"]]);
        const issued = setCookie(first.downstreamResponse)!;
        const issuedAt = parseInt(issued.slice(8, 16), 16);
        expect(issued).toBe(sign(SECRET, parseInt(issued.slice(0, 8), 16), issuedAt));
        // A cookie of the second line's (previous) secret is accepted and re-signed with the first's.
        const old = sign(OLD, 0x0badcafe, issuedAt);
        const again = await envoy.exchange([...request, ["cookie", `sess=${old}`]], [[":status", "200"]]);
        expect(setCookie(again.downstreamResponse)!.slice(0, 8)).toBe("0badcafe");
      } finally {
        envoy.close();
      }
    } finally {
      const exited = new Promise((resolve) => child.once("exit", resolve));
      child.kill("SIGTERM");
      await exited;
    }
  }, 30_000);

  it("an empty or missing secret file is an error naming it", () => {
    writeFileSync(secretFile, "\n\n");
    expect(() => readSecrets(secretFile)).toThrow(/secrets: no secret in it/);
    expect(() => readSecrets(join(dir, "nope"))).toThrow(/nope: cannot read: ENOENT/);
  });
});
