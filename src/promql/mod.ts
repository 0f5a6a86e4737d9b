/**
 * PromQL and the Prometheus query API over any `SeriesSource` (ARCHITECTURE.md § "PromQL
 * engine" and "Prometheus query API").
 *
 * @module
 */

export type { Expr, ValueType } from "./ast.ts";
export { parseExpr, parseSelector } from "./parser.ts";
export { ParseError } from "./lexer.ts";
export {
  compareLabels,
  isValidLabelName,
  isValidMetricName,
  Labels,
  type Matcher,
  matchLabels,
  type MatchOp,
  matchValue,
  METRIC_NAME,
  newMatcher,
} from "./labels.ts";
export type { QueryOptions, QueryResult, Series } from "./engine.ts";
export { instantQuery, rangeQuery } from "./query.ts";
export { QueryError, QueryTimeoutError, QueryTypeError } from "./errors.ts";
export {
  isStaleNaN,
  lowerBound,
  MemorySource,
  type SeriesData,
  seriesLabels,
  type SeriesSource,
  StaleReader,
  writeStaleNaN,
} from "./source.ts";
export { formatFloatPlain, formatTimestamp, formatValue } from "./format.ts";
export {
  apiError,
  buildInfoHandler,
  FormParams,
  handlePromApi,
  labelsHandler,
  labelValuesHandler,
  matchPromRoute,
  metadataHandler,
  PROM_API_CONTENT_TYPE,
  PROM_API_ROUTES,
  type PromApiContext,
  type PromApiHandler,
  promApiParams,
  type PromApiResponse,
  type PromApiRoute,
  PROMETHEUS_COMPAT_VERSION,
  queryHandler,
  queryRangeHandler,
  resultJson,
  seriesHandler,
} from "./api.ts";
