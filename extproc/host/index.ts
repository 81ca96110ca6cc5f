// The proxy-wasm host's public API, published as `envoy-failover/host` (package.json "exports";
// README.md in this folder): runs any compiled proxy-wasm module the way Envoy does. The sidecar
// runs the failover filter on it; the CLI's plan/simulate and every test do too.
export * from "./abi.js";
export * from "./errors.js";
export { HeaderMap } from "./headers.js";
export type { HeaderEntry, HeaderInput, HeaderValue } from "./headers.js";
export { Metrics } from "./metrics.js";
export type { Metric } from "./metrics.js";
export type { PropertyLeaf, PropertyTree } from "./properties.js";
export { SharedData } from "./shared-data.js";
export { HttpStream } from "./stream.js";
export type { CallbackResult, LocalReply } from "./stream.js";
export { PluginVm, defaultLogger, loadModule } from "./vm.js";
export type { Logger, PluginVmOptions } from "./vm.js";
export { NO_MUTATIONS } from "./mutations.js";
export type { HeaderChange, Mutations } from "./mutations.js";
export { FAILURE_POLICIES, RELOAD_BASE_INTERVAL_MS, ReloadBackoff, resolveFailurePolicy } from "./failure-policy.js";
export type { FailurePolicy } from "./failure-policy.js";
export { WasmPlugin } from "./plugin.js";
export type { ReloadStats, WasmPluginOptions } from "./plugin.js";
