// The commander program: one file per subcommand registers itself here.
import { Command, CommanderError } from "commander";
import { VERSION } from "../version.ts";
import { registerServe } from "./serve.ts";
import { registerHealthcheck } from "./healthcheck.ts";
import { registerInstallShims } from "./install-shims.ts";
import { registerDoctor } from "./doctor.ts";
import { registerVerify } from "./verify.ts";

export function buildProgram(): Command {
  const program = new Command("withcache")
    .description("URL-keyed artifact cache for labs and CI fleets: ccache for HTTP artifacts, without a proxy")
    .version(VERSION, "-V, --version", "print the version")
    .showHelpAfterError()
    .configureOutput({
      outputError: (str, write) => write(`withcache: error: ${str.replace(/^error: /, "").trimEnd()}\n`),
    });
  registerServe(program);
  registerHealthcheck(program);
  registerInstallShims(program);
  registerDoctor(program);
  registerVerify(program);
  return program;
}

export async function runCli(args: string[]): Promise<void> {
  const program = buildProgram().exitOverride();
  try {
    await program.parseAsync(args, { from: "user" });
  } catch (err) {
    if (err instanceof CommanderError) process.exit(err.exitCode);
    const message = err instanceof Error ? err.message : String(err);
    process.stderr.write(`withcache: error: ${message}\n`);
    process.exit(1);
  }
}
