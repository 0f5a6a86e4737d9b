/** CityHall's version, kept equal to deno.json's `version`. */
export const VERSION = "0.1.0";
/** The Redis version whose command semantics the server follows. */
export const REDIS_COMPAT_VERSION = "7.2.0";
