// The commander program: one file per subcommand registers itself here.
import { Command, CommanderError } from "commander";
import { VERSION } from "../version.ts";
import { registerServe } from "./serve.ts";
import { registerHealthcheck } from "./healthcheck.ts";
import { registerInstallShims } from "./install-shims.ts";
import { registerDoctor } from "./doctor.ts";
import { registerVerify } from "./verify.ts";
import { registerMigrate } from "./migrate.ts";
import { registerApiCommands } from "./api-commands.ts";
import { CliFailure } from "./api-client.ts";

export function buildProgram(): Command {
  const program = new Command("withcache")
    .description("URL-keyed artifact cache for labs and CI fleets: ccache for HTTP artifacts, without a proxy")
    .version(VERSION, "-V, --version", "print the version")
    // One line of error and a pointer, not the whole help: the error must stay on screen.
    .showHelpAfterError("(add --help for usage)")
    .configureOutput({
      outputError: (str, write) => write(`withcache: error: ${str.replace(/^error: /, "").trimEnd()}\n`),
    });
  registerServe(program);
  registerHealthcheck(program);
  registerInstallShims(program);
  registerDoctor(program);
  registerVerify(program);
  registerMigrate(program);
  registerApiCommands(program);
  return program;
}

export async function runCli(args: string[]): Promise<void> {
  if (args[0] !== "serve") {
    // Bun ignores SIGPIPE, so `withcache doctor | head -1` would end in an EPIPE stack trace.
    // Exit as a program killed by SIGPIPE would (128 + 13), silently.
    process.stdout.on("error", (err: NodeJS.ErrnoException) => {
      if (err.code === "EPIPE") process.exit(141);
      throw err;
    });
  }
  const program = buildProgram().exitOverride();
  try {
    await program.parseAsync(args, { from: "user" });
  } catch (err) {
    if (err instanceof CommanderError) process.exit(err.exitCode);
    if (err instanceof CliFailure) {
      process.stderr.write(`withcache: error: ${err.message}\n`);
      process.exit(err.exitCode);
    }
    const message = err instanceof Error ? err.message : String(err);
    process.stderr.write(`withcache: error: ${message}\n`);
    process.exit(1);
  }
}
