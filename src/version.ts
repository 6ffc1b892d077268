// The version lives in package.json only; the compiled binary embeds it at build time.
import pkg from "../package.json" with { type: "json" };

export const VERSION: string = pkg.version;
