// Which route and which clusters an authority belongs to: the route's `match.authority` against
// a request's host, and a cluster's `hosts` against a route (mode auto).

/** Does `pattern` ("*", "*.example.com" or exact) match `host`? */
export function hostMatches(pattern: string, host: string): bool {
  if (pattern == "*") return true;
  if (pattern.startsWith("*.")) return host.endsWith(pattern.substring(1)) && host.length > pattern.length - 1;
  return pattern == host;
}

/** Does a cluster serving `hosts` serve the route authority pattern `authority`? */
export function servesAuthority(hosts: Array<string>, authority: string): bool {
  for (let i = 0; i < hosts.length; i++) {
    if (hosts[i] == authority || hostMatches(authority, hosts[i]) || hostMatches(hosts[i], authority)) return true;
  }
  return false;
}
