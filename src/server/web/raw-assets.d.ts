// The page's script and stylesheet are imported as text (`?raw`): vitest (vite) reads them so natively, the build
// through scripts/build.mjs's raw-text plugin, so the bundle carries them and `npm pack` needs no extra file.
declare module '*?raw' {
  const text: string;
  export default text;
}
