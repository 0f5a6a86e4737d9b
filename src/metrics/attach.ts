/**
 * Registries attached to what they describe (a `Database`), so every view of that database --
 * the RESP server's INFO, the HTTP server's `/metrics` and `/v1/stats` -- renders the same
 * stats without the parts knowing each other (the HTTP server shows the RESP server's command
 * counts, INFO shows the HTTP front's requests). ARCHITECTURE.md § "Metrics registry".
 *
 * @module
 */

import type { Registry } from "./registry.ts";

const attached = new WeakMap<object, Map<string, Registry>>();

/**
 * Attaches `registry` to `owner` under `key` (`engine`, `resp`, `http`, ...), replacing the one
 * attached under that key before; `undefined` detaches it.
 */
export function attachRegistry(owner: object, key: string, registry: Registry | undefined): void {
  let map = attached.get(owner);
  if (registry === undefined) {
    map?.delete(key);
    return;
  }
  if (map === undefined) attached.set(owner, map = new Map());
  map.set(key, registry);
}

/** Detaches `registry` from `owner` when it is still the one attached under `key`. */
export function detachRegistry(owner: object, key: string, registry: Registry): void {
  const map = attached.get(owner);
  if (map?.get(key) === registry) map.delete(key);
}

/** The registry attached to `owner` under `key`, if any. */
export function attachedRegistry(owner: object, key: string): Registry | undefined {
  return attached.get(owner)?.get(key);
}

/** Every registry attached to `owner`, in the order they were attached. */
export function attachedRegistries(owner: object): Registry[] {
  return [...(attached.get(owner)?.values() ?? [])];
}
