/**
 * The options of `startServer` and the run-time settings they start from: the defaults of
 * `limits.ts`, what the caller gave, and the range each must be in.
 *
 * @module
 */

import type { Logger } from "../util/log.ts";
import { InvalidArgumentError } from "../errors.ts";
import type { ServerConfig } from "./context.ts";
import type { TimeSeriesStore } from "../timeseries/mod.ts";
import {
  AUTH_TIMEOUT_S_DEFAULT,
  CLIENTS_MAX_DEFAULT,
  CLIENTS_MAX_LIMIT,
  CLIENTS_UNAUTHENTICATED_MAX_DEFAULT,
  IDLE_TIMEOUT_S_DEFAULT,
  REQUEST_TIMEOUT_S_DEFAULT,
  RESP_OUTPUT_DRAIN_TIMEOUT_S_DEFAULT,
  RESP_OUTPUT_HARD_LIMIT_BYTES_DEFAULT,
  RESP_OUTPUT_SOFT_LIMIT_BYTES_DEFAULT,
  RESP_OUTPUT_SOFT_LIMIT_S_DEFAULT,
  SERVER_HZ_MAX,
} from "../limits.ts";
import { operatorConfigDefaults } from "./operator.ts";
import { typeEncodingDefaults } from "../types/introspect.ts";

/** Options of `startServer`. */
export interface ServerOptions {
  /** Address to bind (default `127.0.0.1`). */
  hostname?: string;
  /** TCP port (default 7878; 0 picks a free one, see `Server.addr`). */
  port?: number;
  /** Token clients must give with AUTH or HELLO ... AUTH; none = no authentication. */
  authToken?: string;
  /** Most connected clients (default 10,000). */
  maxClients?: number;
  /** Run-time settings other than `maxClients` (defaults in `limits.ts`); 0 turns one off. */
  config?: Partial<Omit<ServerConfig, "maxClients">>;
  /** Close clients idle this many seconds; 0 = never (default 300). Same as `config`'s. */
  idleTimeoutS?: number;
  /** Serve TLS with this PEM certificate chain and key. */
  tls?: { cert: string; key: string };
  /** Where log lines go (default: nowhere). */
  logger?: Logger;
  /**
   * The time-series layer over the engine. Without one, the server opens its own (and closes it
   * with the server): at start when the data holds series, else on the first command that needs
   * it.
   */
  timeseries?: TimeSeriesStore;
  /** The engine's sync mode, reported by INFO and CONFIG GET appendfsync (default "always"). */
  syncMode?: string;
  /**
   * Called by SHUTDOWN after the replies are sent; the CLI closes the server and the engine
   * and exits. Without it SHUTDOWN only closes the server.
   */
  onShutdown?: (options: { save: boolean }) => void | Promise<void>;
}

/** Every run-time setting, from `options` or the defaults. */
function initialConfig(options: ServerOptions): ServerConfig {
  return {
    maxClients: options.maxClients ?? CLIENTS_MAX_DEFAULT,
    maxUnauthenticatedClients: CLIENTS_UNAUTHENTICATED_MAX_DEFAULT,
    idleTimeoutS: options.idleTimeoutS ?? IDLE_TIMEOUT_S_DEFAULT,
    authTimeoutS: AUTH_TIMEOUT_S_DEFAULT,
    requestTimeoutS: REQUEST_TIMEOUT_S_DEFAULT,
    outputHardLimitBytes: RESP_OUTPUT_HARD_LIMIT_BYTES_DEFAULT,
    outputSoftLimitBytes: RESP_OUTPUT_SOFT_LIMIT_BYTES_DEFAULT,
    outputSoftLimitS: RESP_OUTPUT_SOFT_LIMIT_S_DEFAULT,
    outputDrainTimeoutS: RESP_OUTPUT_DRAIN_TIMEOUT_S_DEFAULT,
    ...operatorConfigDefaults(),
    typeEncoding: typeEncodingDefaults(),
    ...options.config,
  };
}

/** Checks an integer option; throws `InvalidArgumentError` naming it. */
function checkIntOption(name: string, value: number, min: number, max: number): void {
  if (!Number.isSafeInteger(value) || value < min || value > max) {
    throw new InvalidArgumentError(
      `Invalid option ${name}: ${value} (must be an integer from ${min} to ${max})`,
    );
  }
}

/**
 * Every run-time setting of a server started with `options`, each checked against its range;
 * throws `InvalidArgumentError` naming the first one out of it.
 */
export function checkedConfig(options: ServerOptions): ServerConfig {
  const config = initialConfig(options);
  checkIntOption("maxClients", config.maxClients, 1, CLIENTS_MAX_LIMIT);
  checkIntOption(
    "maxUnauthenticatedClients",
    config.maxUnauthenticatedClients,
    1,
    CLIENTS_MAX_LIMIT,
  );
  for (
    const name of [
      "idleTimeoutS",
      "authTimeoutS",
      "requestTimeoutS",
      "outputHardLimitBytes",
      "outputSoftLimitBytes",
      "outputSoftLimitS",
      "outputDrainTimeoutS",
      "pubsubHardLimitBytes",
      "pubsubSoftLimitBytes",
      "pubsubSoftLimitS",
      "slowlogMaxLen",
      "latencyMonitorThresholdMs",
    ] as const
  ) checkIntOption(name, config[name], 0, Number.MAX_SAFE_INTEGER);
  checkIntOption("slowlogLogSlowerThanUs", config.slowlogLogSlowerThanUs, -1, 2 ** 53 - 1);
  checkIntOption("hz", config.hz, 1, SERVER_HZ_MAX);
  return config;
}
