// The IC mainnet's API hosts, whose root key is built in and must never be fetched. The same
// list and the same rule as the Go agent's agent.IsMainnetHost (web/mainnet_test.go checks that
// they agree, host by host, so they cannot drift).

/** The mainnet API hosts (agent.MainnetHosts in Go). */
export const MAINNET_HOSTS = Object.freeze(['icp-api.io', 'icp0.io', 'ic0.app']);

/**
 * Whether host (a host name without port, any case) is a mainnet API host or a subdomain of
 * one, as agent.IsMainnetHost: "evil-ic0.app" is not, "x.ic0.app" is.
 * @param {string} host
 * @returns {boolean}
 */
export function isMainnetHost(host) {
  const h = host.toLowerCase();
  return MAINNET_HOSTS.some((m) => h === m || h.endsWith(`.${m}`));
}
