// Which personality the single binary takes, from the basename of argv[0].

export type Mode = "curl" | "wget" | "server" | "cli";

export function modeFromArgv0(argv0: string): Mode {
  const base = argv0.split("/").pop() ?? argv0;
  if (base === "withcache-server") return "server";
  if (base.includes("curl")) return "curl";
  if (base.includes("wget")) return "wget";
  return "cli";
}
