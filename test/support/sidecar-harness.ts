// Starts sidecars for a test file and closes them (and their clients) after each test.
import { afterEach } from "vitest";
import { memoryLogger } from "../../extproc/sidecar/logger.js";
import { type Sidecar, type SidecarOptions, startSidecar } from "../../extproc/sidecar/server.js";
import { EnvoyLikeClient } from "./extproc-client.js";
import { FAILOVER_WASM } from "./wasm.js";

/** `start(options)` for this file: `defaults` first, then the test's own options. */
export function sidecarHarness(defaults: Partial<SidecarOptions> & { policy: string }) {
  const running: { sidecar: Sidecar; clients: EnvoyLikeClient[] }[] = [];
  afterEach(async () => {
    for (const r of running.splice(0)) {
      r.clients.forEach((c) => c.close());
      await r.sidecar.close();
    }
  });
  return async function start(options: Partial<SidecarOptions> = {}) {
    const logger = memoryLogger();
    const sidecar = await startSidecar({
      modulePath: FAILOVER_WASM, port: 0, adminPort: null, timers: false, logger, ...defaults, ...options,
    });
    const entry = { sidecar, clients: [] as EnvoyLikeClient[] };
    running.push(entry);
    const client = () => {
      const c = new EnvoyLikeClient(sidecar.port);
      entry.clients.push(c);
      return c;
    };
    return { sidecar, logger, client };
  };
}
