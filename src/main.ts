// Entry point: argv[0] picks the mode; everything else is wiring in the mode's own module.
// Shim modes are imported lazily so a pass-through never loads the server or the CLI.
import { modeFromArgv0 } from "./core/mode.ts";

async function main(): Promise<void> {
  const mode = modeFromArgv0(process.argv0);
  const userArgs = process.argv.slice(2);
  switch (mode) {
    case "curl":
    case "wget": {
      const { runShim } = await import("./shim/run.ts");
      await runShim(mode, userArgs);
      return;
    }
    case "server": {
      const { runCli } = await import("./cli/program.ts");
      await runCli(["serve", ...userArgs]);
      return;
    }
    case "cli": {
      const { runCli } = await import("./cli/program.ts");
      await runCli(userArgs);
      return;
    }
  }
}

await main();
