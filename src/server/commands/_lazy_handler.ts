/**
 * A command of a group loaded at start whose handler lives in a module loaded by the command's
 * first call (INFO, CONFIG): the spec's metadata stays where its group declares it, so COMMAND,
 * MULTI queueing and CLIENT PAUSE see it as before, and the dispatcher awaits `load` first, as
 * for the stubs of lazily loaded groups (`mod.ts`). An idle server so keeps these modules out
 * of memory (ARCHITECTURE.md § "Memory").
 *
 * @module
 */

import type { CommandHandler, CommandSpec } from "../context.ts";

/**
 * `spec` with the handler `importHandler` resolves to, loaded by the first call: until then
 * the spec carries a `load` that sets the handler on the spec itself and removes the `load`
 * (the table keeps the same object). Not for write commands: the replica's read-only guard
 * wraps the handler it finds when the table is built.
 */
export function handlerOnFirstUse(
  spec: CommandSpec,
  importHandler: () => Promise<CommandHandler>,
): CommandSpec {
  if (spec.flags.includes("write")) {
    throw new Error(`Command ${spec.name} is a write: its handler cannot load on first use`);
  }
  let loading: Promise<void> | undefined;
  const lazy: CommandSpec = {
    ...spec,
    handler: () => {
      // The dispatcher awaits `load` first; a caller that does not is a bug.
      throw new Error(`Command ${spec.name} called before its module was loaded`);
    },
    load: () =>
      loading ??= importHandler().then((handler) => {
        lazy.handler = handler;
        delete lazy.load;
      }),
  };
  return lazy;
}
