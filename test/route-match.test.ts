// Which route a request's path selects: the first route (in policy order) whose authority matches
// and whose path prefix the path starts with. The lookup rejects most prefixes on two characters
// before the full prefix test (assembly/plan/route-plan.ts): these cases pin that it never rejects
// a path that has the prefix, whatever the lengths and shared characters.
import { describe, expect, it } from "vitest";
import { Failover } from "./support/failover.js";

// Longer first, so that each prefix is some path's first match.
const prefixes = ["/abc/", "/abd", "/ab", "/a€", "/ä€x", "/xb", "/a"];
const policy = {
  clusters: [{ name: "c", hosts: ["h"] }],
  routes: [...prefixes.map((pathPrefix, i) => ({ name: `r${i}`, match: { authority: "h", pathPrefix }, destination: { mode: "auto" } })),
    { name: "rest", match: { authority: "h" }, destination: { mode: "auto" } }],
};

/** The route the module chose for `path` (from its decision header). */
function routeOf(f: Failover, path: string): string {
  return /^route=(\S+) /.exec(f.request("h", [], path).requestHeaders.get("x-failover-decision") ?? "")?.[1] ?? "none";
}

/** The first route whose prefix `path` has, as the policy says. */
const expected = (path: string) => {
  const i = prefixes.findIndex((p) => path.startsWith(p));
  return i < 0 ? "rest" : `r${i}`;
};

describe("route lookup by path prefix", () => {
  it("takes the first route whose prefix the path has, for short, long, shared and non-ASCII paths", () => {
    const f = new Failover(policy);
    const paths = ["/", "/a", "/ab", "/abc", "/abc/", "/abc/d", "/abd", "/abdx", "/ac", "/x", "/xb", "/xbz", "/ä", "/ä€", "/ä€x", "/ä€xy", "/a€", "/a€b", "", "/b", "//ab"];
    for (const path of paths) expect(routeOf(f, path), path).toBe(expected(path));
  });
});
