// The whole pipe on the real build/failover.wasm: configuration in, a request through, headers out.
import { describe, expect, it } from "vitest";
import { ConfigurationError, HttpStream } from "../extproc/host/index.js";
import { FAILOVER_WASM, startVm } from "./support/wasm.js";

describe("failover.wasm pipe", () => {
  it("adds the configured response header", () => {
    const { vm } = startVm(FAILOVER_WASM, { pluginConfig: JSON.stringify({ responseHeader: { name: "x-pipe", value: "ok" } }) });
    const s = new HttpStream(vm);
    s.sendRequestHeaders([[":path", "/"], [":authority", "a"]], true);
    s.sendResponseHeaders([[":status", "200"]], true);
    s.end();
    expect(s.responseHeaders.get("x-pipe")).toBe("ok");
  });

  it("rejects a malformed configuration with its position", () => {
    expect(() => startVm(FAILOVER_WASM, { pluginConfig: '{"responseHeader": }' })).toThrow(
      new ConfigurationError("the module rejected its plugin configuration (on_configure returned false)", [
        "failover: plugin configuration: line 1, column 20: unexpected character '}'",
      ]),
    );
  });
});
