/**
 * Process-wide counters of the ingest endpoints (Influx line protocol, Prometheus remote write),
 * shown by `INFO ingest` and `/metrics`-style tools. Plain numbers: every writer runs on the
 * one event loop.
 *
 * @module
 */

/** What the ingest endpoints did since the process started. */
export const ingestCounters = {
  /** Influx samples stored. */
  influxSamples: 0,
  /** Influx lines refused by the parser (the rest of their request was kept). */
  influxBadLines: 0,
  /** Influx string fields skipped (the mapping stores numbers only). */
  influxStringFieldsSkipped: 0,
  /** Influx samples the store refused (e.g. a timestamp before 1970). */
  influxRefusedSamples: 0,
  /** Remote-write samples stored. */
  remoteWriteSamples: 0,
  /** Remote-write samples the store refused. */
  remoteWriteRefusedSamples: 0,
  /** Remote-write requests that could not be decoded. */
  remoteWriteRejectedRequests: 0,
};
