import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    // Suites start real gRPC servers and wasm VMs; two cores, so keep the pool small.
    maxWorkers: 2,
    testTimeout: 30_000,
  },
});
