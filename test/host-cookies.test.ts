// Cookie affinity when the cookies come in several pieces, through the host with the real
// failover module. What reaches the filter depends on Envoy's codec (ENVOY-HOST-NOTES.md §12):
// HTTP/2 "crumbs" (RFC 7540 8.1.2.5) are joined by Envoy's HTTP/2 codec into one `cookie`
// header with "; " before any filter runs (source/common/http/http2/codec_impl.cc,
// Utility::reconstituteCrumbledCookies); its HTTP/1 codec adds every header line as its own
// entry (http1/codec_impl.cc completeCurrentHeader → addViaMove), so several Cookie lines stay
// several headers, and get_header_map_value returns only the first (envoy context.cc).
import { describe, expect, it } from "vitest";
import { Failover } from "./support/failover.js";

const three = () => ({
  clusters: ["a", "b", "c"].map((n) => ({ name: n, hosts: ["h"] })),
  routes: [{ name: "h", match: { authority: "h" }, destination: { mode: "weighted", weights: { a: 1, b: 1, c: 1 } }, affinity: { cookie: { name: "route" } } }],
});

/** A first visit: the cookie the filter issues and the cluster it chose. */
function firstVisit(f: Failover) {
  const s = f.exchange("h", 200);
  return { cookie: s.responseHeaders.get("set-cookie")!.split(";")[0], cluster: s.requestHeaders.get("x-failover-upstream") };
}

describe("cookie affinity with the cookies split up", () => {
  it("holds for HTTP/2 crumbs, which Envoy's codec hands to the filter joined by '; '", () => {
    const f = new Failover(three());
    const { cookie, cluster } = firstVisit(f);
    const crumbs = ["theme=dark", cookie, "lang=en"];
    for (let i = 0; i < 10; i++) {
      const s = f.exchange("h", 200, { extra: [["cookie", crumbs.join("; ")]] });
      expect(s.requestHeaders.get("x-failover-upstream")).toBe(cluster);
      expect(s.responseHeaders.has("set-cookie")).toBe(false);
    }
  });

  it("holds when the affinity cookie is in a later cookie header (HTTP/1.1 Cookie lines, kept apart)", () => {
    const f = new Failover(three());
    const { cookie, cluster } = firstVisit(f);
    for (const place of [0, 1, 2]) {
      const headers: [string, string][] = ["theme=dark", "lang=en"].map((c) => ["cookie", c]);
      headers.splice(place, 0, ["cookie", `x=1; ${cookie}`]);
      const s = f.exchange("h", 200, { extra: headers });
      expect(s.requestHeaders.get("x-failover-upstream")).toBe(cluster);
      expect(s.requestHeaders.get("x-failover-reason")).toBe("affinity");
      expect(s.responseHeaders.has("set-cookie")).toBe(false);
    }
  });
});
