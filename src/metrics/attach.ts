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

const loaders = new WeakMap<object, Map<string, () => Promise<Registry>>>();

/**
 * Attaches a registry that is built when first asked for: `load` builds it (loading its
 * declarations' module) and attaches it itself. A server that nobody asks for its stats so keeps
 * them out of memory (ARCHITECTURE.md § "Memory"); the views call `loadAttachedRegistries` first.
 */
export function attachRegistryLoader(
  owner: object,
  key: string,
  load: () => Promise<Registry>,
): void {
  let map = loaders.get(owner);
  if (map === undefined) loaders.set(owner, map = new Map());
  map.set(key, load);
}

/** Removes a loader `attachRegistryLoader` attached (a registry it built stays attached). */
export function detachRegistryLoader(owner: object, key: string): void {
  loaders.get(owner)?.delete(key);
}

/** True when a registry of `owner` is still to be built. */
export function hasRegistryLoaders(owner: object): boolean {
  return (loaders.get(owner)?.size ?? 0) > 0;
}

/** Builds every registry of `owner` still to be built (each loader runs once). */
export async function loadAttachedRegistries(owner: object): Promise<void> {
  const map = loaders.get(owner);
  if (map === undefined) return;
  for (const [key, load] of [...map]) {
    map.delete(key);
    await load();
  }
}
