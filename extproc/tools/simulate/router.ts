// Envoy's router, as far as a simulated request needs it: the retry policy it reads from the
// request headers the filter set, which attempts it retries and after what backoff, which child of
// an aggregate cluster each attempt goes to, and the response, flags and details it ends with.
// Each rule cites the Envoy source it follows (envoyproxy/envoy main; see also
// docs/research/envoy-lb-facts.md §7).

import type { HeaderMap } from "../../host/index.js";
import { ResponseFlag } from "../../module/contract.js";
import type { HostResult } from "./outlier.js";
import type { Random } from "./random.js";
import type { Wire } from "./upstream.js";

// Envoy's legacy response flag bits: one table for both languages (module/contract.ts).
export { ResponseFlag };

/** The route timeout (RouteAction.timeout default, 15 s): it includes every retry. */
export const ROUTE_TIMEOUT_MS = 15_000;

/** Backoff: base 25 ms (runtime upstream.base_retry_backoff_ms), cap 10 x base. */
const BACKOFF_BASE_MS = 25;
const BACKOFF_MAX_MS = 250;

export interface RetryPolicy {
  retryOn: ReadonlySet<string>;
  numRetries: number;
  retriableStatusCodes: readonly number[];
  /** Undefined: no per-try timeout. */
  perTryTimeoutMs: number | undefined;
}

/**
 * The retry policy of a route with no `retry_policy` of its own, from the request headers
 * (RetryStateImpl::create and its constructor): none unless x-envoy-retry-on names a condition;
 * one retry unless x-envoy-max-retries says otherwise; unknown conditions and unparsable numbers
 * are ignored. The per-try timeout (FilterUtility::finalTimeout) counts only if it is shorter
 * than the route timeout.
 */
export function retryPolicy(headers: HeaderMap): RetryPolicy | undefined {
  const retryOn = new Set(
    (headers.get("x-envoy-retry-on") ?? "").split(",").map((s) => s.trim()).filter((s) => KNOWN_RETRY_ON.has(s)),
  );
  if (retryOn.size === 0) return undefined;
  const max = headers.get("x-envoy-max-retries");
  const numRetries = max !== undefined && /^\d+$/.test(max.trim()) ? Number(max.trim()) : 1;
  const retriableStatusCodes = (headers.get("x-envoy-retriable-status-codes") ?? "")
    .split(",").map((s) => s.trim()).filter((s) => /^\d+$/.test(s)).map(Number);
  const perTry = Number(headers.get("x-envoy-upstream-rq-per-try-timeout-ms") ?? "0");
  const perTryTimeoutMs = Number.isInteger(perTry) && perTry > 0 && perTry < ROUTE_TIMEOUT_MS ? perTry : undefined;
  return { retryOn, numRetries, retriableStatusCodes, perTryTimeoutMs };
}

const KNOWN_RETRY_ON = new Set([
  "5xx", "gateway-error", "reset", "reset-before-request", "connect-failure", "envoy-ratelimited",
  "retriable-4xx", "refused-stream", "retriable-status-codes", "retriable-headers", "http3-post-connect-failure",
]);

type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;

/** How one attempt ended, as the router sees it. */
export type AttemptResult =
  | { kind: "response"; code: number }
  | { kind: "connect-failure" }
  | { kind: "per-try-timeout" };

/** The attempt's result and how long it took; a per-try timeout cuts a slow attempt short. */
export function attemptResult(wire: DistributiveOmit<Exclude<Wire, { kind: "no-host" }>, "host">, perTryTimeoutMs: number | undefined): { result: AttemptResult; ms: number } {
  if (perTryTimeoutMs !== undefined && wire.ms > perTryTimeoutMs) return { result: { kind: "per-try-timeout" }, ms: perTryTimeoutMs };
  return wire.kind === "connect-failure"
    ? { result: { kind: "connect-failure" }, ms: wire.ms }
    : { result: { kind: "response", code: wire.code }, ms: wire.ms };
}

/**
 * Would Envoy retry this result? RetryStateImpl::wouldRetryFromHeaders for responses;
 * wouldRetryFromReset for a connect failure (reset reason ConnectionFailure) and a per-try
 * timeout (the router resets the attempt: reason LocalReset, after the request was sent).
 */
export function wouldRetry(policy: RetryPolicy, result: AttemptResult): boolean {
  const on = policy.retryOn;
  if (result.kind === "response") {
    const c = result.code;
    return (on.has("5xx") && c >= 500 && c <= 599)
      || (on.has("gateway-error") && c >= 502 && c <= 504)
      || (on.has("retriable-4xx") && c === 409)
      || (on.has("retriable-status-codes") && policy.retriableStatusCodes.includes(c));
  }
  if (result.kind === "connect-failure") {
    return on.has("connect-failure") || on.has("reset-before-request") || on.has("reset") || on.has("5xx") || on.has("gateway-error");
  }
  return on.has("reset") || on.has("5xx") || on.has("gateway-error");
}

/**
 * The wait before retry number `n` (1-based): JitteredExponentialBackOffStrategy, a uniform draw
 * below an interval that starts at the base and doubles per retry up to the cap.
 */
export function backoffMs(n: number, random: Random): number {
  const interval = Math.min(BACKOFF_BASE_MS * 2 ** (n - 1), BACKOFF_MAX_MS);
  return random.below(interval);
}

/**
 * Which child of an aggregate cluster attempt `k` (0-based) goes to. The aggregate linearizes its
 * children's priorities, skipping children with no hosts (aggregate/cluster.cc); with one priority
 * per child and healthy children, the first attempt goes to the first child, and
 * previous_priorities moves each retry to the next untried one. Once every child was tried, it
 * falls back to the original priority load (previous_priorities.cc): the first child again.
 * `children` are the children that have hosts; undefined when there are none.
 */
export function aggregateChild(children: readonly string[], k: number): string | undefined {
  return children.length === 0 ? undefined : children[k < children.length ? k : 0];
}

export interface FinalResponse {
  code: number;
  flags: number;
  details: string;
}

/**
 * What the router reports to the host's outlier monitor for an attempt (router.cc
 * Filter::onUpstreamHeaders, onUpstreamReset, onPerTryTimeout; upstream_request.cc onPoolReady):
 * a connection that came up, then the response code or the timeout.
 */
export function hostResults(result: AttemptResult): HostResult[] {
  switch (result.kind) {
    case "response": return [{ kind: "connect-success" }, { kind: "http", code: result.code }];
    case "connect-failure": return [{ kind: "connect-failed" }];
    case "per-try-timeout": return [{ kind: "connect-success" }, { kind: "timeout" }];
  }
}

/** The response Envoy sends downstream when this attempt's result is the last. */
export function finalResponse(result: AttemptResult): FinalResponse {
  switch (result.kind) {
    case "response": return { code: result.code, flags: 0, details: "via_upstream" };
    // Router::Filter::onUpstreamReset; the transport text is what Linux reports for a refused connect.
    case "connect-failure": return {
      code: 503, flags: ResponseFlag.UF,
      details: "upstream_reset_before_response_started{connection_failure|delayed_connect_error:_Connection_refused}",
    };
    case "per-try-timeout": return { code: 504, flags: ResponseFlag.UT, details: "upstream_per_try_timeout" };
  }
}

/** Router::Filter::sendNoHealthyUpstreamResponse: no host to try; never retried. */
export const NO_HEALTHY_UPSTREAM: FinalResponse = { code: 503, flags: ResponseFlag.UH, details: "no_healthy_upstream" };

/** The route timeout fired (Router::Filter::onResponseTimeout); never retried. */
export const ROUTE_TIMEOUT: FinalResponse = { code: 504, flags: ResponseFlag.UT, details: "response_timeout" };

/**
 * A `cluster_header` route whose header is missing or names no cluster; docs/interface.md: Envoy
 * answers 404.
 */
export const CLUSTER_NOT_FOUND: FinalResponse = { code: 404, flags: ResponseFlag.NC, details: "cluster_not_found" };
