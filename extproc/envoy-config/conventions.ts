// What the generators write and the validators expect beyond Envoy's own schema: names that are
// the project's conventions, not Envoy's, so neither side defines them for the other.

/** Node metadata naming the policy file the sidecar serves, relative to the bootstrap. */
export const SIDECAR_POLICY_KEY = "FAILOVER_POLICY_FILE";
