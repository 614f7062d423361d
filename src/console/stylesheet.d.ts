// Bun imports a stylesheet `with { type: "text" }` as its text (src/console/assets.ts).
declare module "*.css" {
  const text: string;
  export default text;
}
