// The Tokens page's one stylesheet, as text (vitest hands CSS files to tests empty, so it is a module, not a .css file).
export const PAGE_CSS = `
/* The Tokens page's one stylesheet: readable from 375 px to wide screens, visible focus, no external font. */
:root {
  --fg: #1b1f24;
  --muted: #4a5360;
  --bg: #ffffff;
  --panel: #f5f7fa;
  --line: #c9d1db;
  --accent: #0b57d0;
  --danger: #b3261e;
  --warn-bg: #fff4d6;
  --warn-fg: #6b4700;
  --ok-fg: #1e6b33;
  font-family: system-ui, -apple-system, 'Segoe UI', Roboto, Helvetica, Arial, sans-serif;
  line-height: 1.45;
  color: var(--fg);
  background: var(--bg);
}
* { box-sizing: border-box; }
[hidden] { display: none !important; }
body { margin: 0; }
a { color: var(--accent); }
.vh {
  position: absolute !important; width: 1px; height: 1px; padding: 0; margin: -1px;
  overflow: hidden; clip: rect(0 0 0 0); white-space: nowrap; border: 0;
}
header.top {
  display: flex; flex-wrap: wrap; gap: 0.5rem 1.5rem; align-items: center; justify-content: space-between;
  padding: 0.75rem 1rem; border-bottom: 1px solid var(--line); background: var(--panel);
}
header.top .brand { font-weight: 700; }
header.top nav ul { display: flex; gap: 1rem; list-style: none; margin: 0; padding: 0; }
header.top nav a[aria-current='page'] { font-weight: 700; color: var(--fg); }
header.top .who { display: flex; gap: 0.75rem; align-items: center; flex-wrap: wrap; color: var(--muted); }
main { max-width: 76rem; margin: 0 auto; padding: 1rem; }
h1 { font-size: 1.6rem; margin: 0.5rem 0 1rem; }
h2 { font-size: 1.2rem; margin: 1.75rem 0 0.75rem; }
section { margin-bottom: 1.5rem; }
.important { background: var(--panel); border-left: 4px solid var(--accent); padding: 0.5rem 1rem; }
.important ul { margin: 0.25rem 0; padding-left: 1.25rem; }
.notice { padding: 0.6rem 1rem; border-radius: 4px; background: #e7f3ea; color: var(--ok-fg); }
.error { padding: 0.6rem 1rem; border-radius: 4px; background: #fde7e6; color: var(--danger); }
.error:empty, .notice:empty { display: none; }
.live { min-height: 1.5rem; color: var(--fg); }
button, .button {
  font: inherit; padding: 0.35rem 0.75rem; border: 1px solid var(--accent); border-radius: 4px;
  background: var(--bg); color: var(--accent); cursor: pointer; text-decoration: none; display: inline-block;
}
button.primary, .button.primary { background: var(--accent); color: #fff; }
button.danger { border-color: var(--danger); color: var(--danger); }
button.danger.primary { background: var(--danger); color: #fff; }
button:disabled { border-color: #8a929c; color: #5b636d; background: #eceff3; cursor: not-allowed; }
button:focus-visible, a:focus-visible, input:focus-visible, select:focus-visible, [tabindex]:focus-visible {
  outline: 3px solid #ffbf47; outline-offset: 2px;
}
input[type='text'], input[type='password'], select {
  font: inherit; padding: 0.4rem 0.5rem; border: 1px solid #6b7480; border-radius: 4px; min-width: 0; width: 100%;
  max-width: 28rem; background: var(--bg); color: var(--fg);
}
label { display: block; font-weight: 600; margin: 0.5rem 0 0.25rem; }
label.inline { display: inline-flex; gap: 0.4rem; align-items: center; font-weight: 400; margin: 0; }
.field-help { color: var(--muted); font-size: 0.92rem; margin: 0.25rem 0; }
.actions { display: flex; flex-wrap: wrap; gap: 0.4rem; }
form.inline { display: inline; }
.toolbar { display: flex; flex-wrap: wrap; gap: 1rem; align-items: center; justify-content: space-between; }
table { width: 100%; border-collapse: collapse; }
th, td { text-align: left; padding: 0.5rem; border-bottom: 1px solid var(--line); vertical-align: top; }
th { background: var(--panel); font-weight: 600; }
td.masked, code, .value { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; word-break: break-all; }
tr.stale td { background: var(--warn-bg); }
tr.deleted td { color: var(--muted); }
.badge { display: inline-block; padding: 0 0.4rem; border-radius: 3px; font-size: 0.85rem; font-weight: 600; }
.badge.pending { background: #e8eefc; color: #173f8a; }
.badge.active { background: #e7f3ea; color: var(--ok-fg); }
.badge.stale { background: var(--warn-fg); color: #fff; }
.badge.draining, .badge.revoked { background: #eceff3; color: #3c434c; }
.stale-help { color: var(--warn-fg); font-size: 0.92rem; margin: 0.25rem 0 0; }
.rename { margin-top: 0.4rem; display: flex; flex-wrap: wrap; gap: 0.4rem; align-items: end; }
.rename label { margin: 0; }
.panel { background: var(--panel); border: 1px solid var(--line); border-radius: 6px; padding: 1rem; max-width: 44rem; }
.value-box { width: 100%; max-width: 44rem; }
dialog { max-width: 34rem; width: calc(100% - 2rem); border: 1px solid var(--line); border-radius: 8px; padding: 1.25rem; }
dialog::backdrop { background: rgb(0 0 0 / 45%); }
dialog h2 { margin-top: 0; }
.warning { background: var(--warn-bg); color: var(--warn-fg); padding: 0.5rem 0.75rem; border-radius: 4px; }
.steps { padding-left: 1.25rem; }
.steps li { margin: 0.4rem 0; }
.steps li.done { color: var(--ok-fg); }
.steps li.current { font-weight: 700; }
.sign-in { max-width: 26rem; margin: 3rem auto; }
.countdown { font-size: 1.4rem; font-variant-numeric: tabular-nums; }
/* Narrow screens: each token is a card, each cell says what it is. */
@media (max-width: 760px) {
  table.tokens thead { position: absolute; width: 1px; height: 1px; overflow: hidden; clip: rect(0 0 0 0); }
  table.tokens, table.tokens tbody, table.tokens tr, table.tokens td { display: block; width: 100%; }
  table.tokens tr { border: 1px solid var(--line); border-radius: 6px; margin-bottom: 0.75rem; padding: 0.25rem 0.5rem; }
  table.tokens td { border: 0; padding: 0.25rem 0; }
  table.tokens td[data-label]::before { content: attr(data-label) ': '; font-weight: 600; }
  table.trail, table.trail tbody, table.trail tr, table.trail td { display: block; width: 100%; }
  table.trail thead { position: absolute; width: 1px; height: 1px; overflow: hidden; clip: rect(0 0 0 0); }
  table.trail tr { border-bottom: 1px solid var(--line); padding: 0.4rem 0; }
  table.trail td { border: 0; padding: 0.1rem 0; }
  table.trail td[data-label]::before { content: attr(data-label) ': '; font-weight: 600; }
}
`;
