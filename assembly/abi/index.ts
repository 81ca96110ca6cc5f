// The proxy-wasm ABI layer: everything a filter needs to talk to Envoy, nothing about policy.
export * from "./types";
export * from "./host";
export * from "./context";
export * from "./pairs";
