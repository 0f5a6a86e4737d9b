/**
 * The metrics registry (ARCHITECTURE.md § "Metrics registry"): declare each stat once, render
 * `/metrics`, INFO and `/v1/stats` from the declarations.
 *
 * @module
 */

export { COMMAND_LATENCY_BUCKETS_S, Histogram, HTTP_LATENCY_BUCKETS_S } from "./histogram.ts";
export {
  type Collected,
  Counter,
  CounterVec,
  externalFamilies,
  type ExternalFamily,
  type Family,
  gather,
  HistogramVec,
  type InfoPlacement,
  type MetricSpec,
  type MetricType,
  type MetricUnit,
  Registry,
  type RegistryOptions,
  type ResolvedSpec,
  type Sample,
} from "./registry.ts";
export {
  escapeHelp,
  escapeLabelValue,
  formatNumber,
  humanBytes,
  PROMETHEUS_CONTENT_TYPE,
  renderInfo,
  renderJson,
  renderPrometheus,
} from "./render.ts";
export {
  attachedRegistries,
  attachedRegistry,
  attachRegistry,
  attachRegistryLoader,
  detachRegistry,
  detachRegistryLoader,
  hasRegistryLoaders,
  loadAttachedRegistries,
} from "./attach.ts";
