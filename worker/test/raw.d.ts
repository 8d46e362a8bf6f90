// Vite's `?raw` imports: a file's text (the tests read wrangler.jsonc and the READMEs).
declare module "*?raw" {
  const text: string;
  export default text;
}
