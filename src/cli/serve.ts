// `withcache serve`: placeholder registration; the cache-host issue fills it in.
import type { Command } from "commander";

export function registerServe(program: Command): void {
  program
    .command("serve")
    .description("start the cache-host")
    .action(() => {
      throw new Error("serve: not implemented yet");
    });
}
