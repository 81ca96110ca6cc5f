// The host's README shows a complete test of a module using only the public API: it must be
// the test the project runs (test/host-public-api.test.ts), so it cannot rot.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";

const root = join(import.meta.dirname, "..");

describe("extproc/host/README.md", () => {
  it("shows test/host-public-api.test.ts verbatim (from its imports on) as its complete test", () => {
    const readme = readFileSync(join(root, "extproc", "host", "README.md"), "utf8");
    const section = readme.slice(readme.indexOf("## A complete test"));
    const block = /```ts\n([\s\S]*?)```/.exec(section)?.[1];
    const test = readFileSync(join(root, "test", "host-public-api.test.ts"), "utf8");
    expect(block).toBeDefined();
    expect(block).toBe(test.slice(test.indexOf("import ")));
    // Only the package's public entry, never the project's sources.
    expect(block!.match(/from "([^"]+)"/g)).toEqual(['from "node:path"', 'from "vitest"', 'from "envoy-failover/host"']);
  });
});
