/**
 * The flags that turn `serve` into another role, in a module of their own: `cityhall serve`
 * reads them before it loads the role's code (`mod.ts` imports every command lazily).
 *
 * @module
 */

/** The flags that make a server a leader; `serve` with any of them runs `leader`. */
export const LEADER_ONLY: readonly string[] = [
  "replication-port",
  "replication-bind",
  "replication-retention-max-bytes",
];

/** The flags only `serve --uplink` takes. */
export const UPLINK_ONLY: readonly string[] = [
  "uplink",
  "site",
  "uplink-token-file",
  "uplink-tls-ca",
  "uplink-rate-limit",
  "uplink-window",
  "uplink-ship",
  "disk-high-water",
  "disk-full",
];
