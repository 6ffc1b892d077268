// `with { type: "file" }` imports evaluate to the file's path (see src/ui/assets.ts).
declare module "*.css" {
  const path: string;
  export default path;
}
declare module "*.min.js" {
  const path: string;
  export default path;
}
declare module "*/app.js" {
  const path: string;
  export default path;
}
