/**
 * The per-client deadlines the server's check closes clients by: authentication, request,
 * output drain, output soft limits and idleness (ARCHITECTURE.md § "Client deadlines and
 * caps").
 *
 * @module
 */

import type { Client, ServerConfig } from "./context.ts";
import type { ServerMetrics } from "./metrics.ts";

/** The deadline `client` has passed at `nowMs`, as a close reason, or `undefined`. */
export function passedDeadline(
  c: Client,
  config: ServerConfig,
  authRequired: boolean,
  nowMs: number,
): { reason: string; counter: keyof ServerMetrics } | undefined {
  const s = 1000;
  if (
    authRequired && !c.authenticated && config.authTimeoutS > 0 &&
    nowMs - c.createdMs > config.authTimeoutS * s
  ) return { reason: "auth timeout", counter: "authTimeouts" };
  if (c.requestStartMs > 0 && config.requestTimeoutS > 0) {
    if (nowMs - c.requestStartMs > config.requestTimeoutS * s) {
      return { reason: "request timeout", counter: "requestTimeouts" };
    }
  }
  if (
    c.outputPendingSinceMs > 0 && config.outputDrainTimeoutS > 0 &&
    nowMs - c.outputPendingSinceMs > config.outputDrainTimeoutS * s
  ) return { reason: "output drain timeout", counter: "outputDrainTimeouts" };
  // Subscribers and monitors have their own soft limit (`client-output-buffer-limit pubsub`).
  const pubsub = c.isPubSub;
  const soft = pubsub ? config.pubsubSoftLimitBytes : config.outputSoftLimitBytes;
  const softS = pubsub ? config.pubsubSoftLimitS : config.outputSoftLimitS;
  const pending = c.outputPendingBytes + (c.pushQueue?.bytes ?? 0);
  if (soft > 0 && pending > soft) {
    if (c.softLimitSinceMs === 0) c.softLimitSinceMs = nowMs;
    else if (nowMs - c.softLimitSinceMs > softS * s) {
      return { reason: "output buffer soft limit", counter: "outputLimitDisconnections" };
    }
  } else c.softLimitSinceMs = 0;
  // As Redis, a subscriber or monitor waiting for messages is not idle.
  if (
    config.idleTimeoutS > 0 && !c.busy && !pubsub &&
    nowMs - c.lastInteractionMs > config.idleTimeoutS * s
  ) return { reason: "idle timeout", counter: "idleTimeouts" };
  return undefined;
}
