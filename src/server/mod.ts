/**
 * The RESP (Redis protocol) server: `startServer`, the bind security rule, and the pieces the
 * HTTP API and the CLI reuse (metrics, the RESP parser and encoder).
 *
 * @module
 */

export {
  checkBindSecurity,
  isLoopback,
  type Server,
  type ServerOptions,
  startServer,
  unknownCommandError,
} from "./server.ts";
export { type CommandStats, Histogram, LATENCY_BUCKETS_S, ServerMetrics } from "./metrics.ts";
export {
  HttpOnRespPortError,
  type RespCommand,
  RespParser,
  type RespParserLimits,
  splitInlineArgs,
} from "./resp.ts";
export { OutputLimitError, type RespVersion, RespWriter } from "./resp_writer.ts";
export { checkAuthToken, estimatedEntropyBits } from "./auth_guard.ts";
export { type PublishHook, publishSeriesSamples, seriesChannel } from "./pubsub.ts";
