// Placeholder: the shims issue implements this.
export async function runShim(tool: "curl" | "wget", args: string[]): Promise<void> {
  throw new Error(`${tool} shim not implemented yet (${args.length} args)`);
}
