// The Tokens page's one stylesheet, as text (vitest hands CSS files to tests empty, so it is a module, not a .css file).
export const PAGE_CSS = `
/* The Tokens page's one stylesheet: one line per token from 900 px, cards below; light and dark schemes; a focus
   ring of at least 3:1 against what surrounds it; no external font. */
:root {
  color-scheme: light dark;
  --fg: #1b1f24;
  --muted: #4f5966;
  --bg: #ffffff;
  --panel: #f4f6f8;
  --line: #d0d7de;
  --control: #6b7480;
  --accent: #0b57d0;
  --accent-fg: #ffffff;
  --danger: #b3261e;
  --danger-fg: #ffffff;
  --focus: #0b57d0;
  --warn-bg: #fff4d6;
  --warn-fg: #6b4700;
  --ok-bg: #e6f4ea;
  --ok-fg: #1e6b33;
  --err-bg: #fdecea;
  --pending-bg: #e3ecfd;
  --pending-fg: #123f8c;
  --gone-bg: #eceff3;
  --gone-fg: #3c434c;
  --tip-bg: #1b1f24;
  --tip-fg: #ffffff;
  --shadow: 0 8px 28px rgb(0 0 0 / 18%);
  font-family: system-ui, -apple-system, 'Segoe UI', Roboto, Helvetica, Arial, sans-serif;
  line-height: 1.45;
  color: var(--fg);
  background: var(--bg);
}
@media (prefers-color-scheme: dark) {
  :root {
    --fg: #e6e9ed;
    --muted: #aab3bd;
    --bg: #111418;
    --panel: #1a1f25;
    --line: #343c46;
    --control: #8a94a0;
    --accent: #8ab4f8;
    --accent-fg: #0b1220;
    --danger: #f2b8b5;
    --danger-fg: #2b0b09;
    --focus: #8ab4f8;
    --warn-bg: #3a2c06;
    --warn-fg: #ffd98a;
    --ok-bg: #163020;
    --ok-fg: #a6e3b5;
    --err-bg: #3b1412;
    --pending-bg: #1c3156;
    --pending-fg: #c6d8fb;
    --gone-bg: #262c34;
    --gone-fg: #c5ccd5;
    --tip-bg: #e6e9ed;
    --tip-fg: #111418;
    --shadow: 0 8px 28px rgb(0 0 0 / 60%);
  }
}
* { box-sizing: border-box; }
[hidden] { display: none !important; }
body { margin: 0; overflow-wrap: break-word; }
a { color: var(--accent); }
code, .value-box { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, 'Liberation Mono', monospace; }
.vh {
  position: absolute !important; width: 1px; height: 1px; padding: 0; margin: -1px;
  overflow: hidden; clip: rect(0 0 0 0); white-space: nowrap; border: 0;
}
.sprite { position: absolute; width: 0; height: 0; overflow: hidden; }
.skip { position: absolute; left: 0.5rem; top: -3rem; z-index: 10; padding: 0.5rem 0.75rem; background: var(--bg); color: var(--accent); border: 2px solid var(--accent); border-radius: 6px; }
.skip:focus { top: 0.5rem; }

/* Focus: a 3 px ring in the accent colour, 2 px off the element, on the page's own background. */
:focus-visible { outline: 3px solid var(--focus); outline-offset: 2px; }
main:focus, [tabindex='-1']:focus { outline: none; }
[tabindex='-1']:focus-visible { outline: 3px solid var(--focus); outline-offset: 2px; }

header.top {
  display: flex; flex-wrap: wrap; gap: 0.4rem 1.5rem; align-items: center; justify-content: space-between;
  padding: 0.6rem 1rem; border-bottom: 1px solid var(--line); background: var(--panel);
}
header.top .brand { font-weight: 700; }
header.top nav ul { display: flex; flex-wrap: wrap; gap: 0.25rem 1rem; list-style: none; margin: 0; padding: 0; }
header.top nav a[aria-current='page'] { font-weight: 700; color: var(--fg); }
header.top .who { display: flex; gap: 0.75rem; align-items: center; flex-wrap: wrap; color: var(--muted); min-width: 0; }
main { max-width: 84rem; margin: 0 auto; padding: 1rem 1.5rem 2rem; }
h1 { font-size: 1.6rem; margin: 0.5rem 0 0.75rem; }
h2 { font-size: 1.2rem; margin: 1.5rem 0 0.6rem; }
h3 { font-size: 1rem; margin: 0 0 0.4rem; }
.narrow { max-width: 40rem; margin: 2rem auto; }
.narrow.wide { max-width: 48rem; margin-top: 0.5rem; }
.important { background: var(--panel); border-left: 4px solid var(--accent); padding: 0.5rem 1rem; margin: 0 0 1rem; }
.important p { margin: 0.2rem 0; }
.notice, .error { padding: 0.6rem 1rem; border-radius: 6px; margin: 0.5rem 0; }
.notice { background: var(--ok-bg); color: var(--ok-fg); }
.error { background: var(--err-bg); color: var(--danger); }
.note, .hint { color: var(--muted); font-size: 0.92rem; }
.hint { margin: 0.25rem 0; padding-left: 0; list-style: none; }
.hint li { margin: 0.25rem 0; }
.field-error { color: var(--danger); font-weight: 600; margin: 0.3rem 0 0; font-size: 0.95rem; }
.field-error:empty { display: none; }
.name-wrap, .advice, dialog, .notice, .error, .bubble, .findings, h1, .who-name { overflow-wrap: anywhere; }

button, .button {
  font: inherit; padding: 0.4rem 0.85rem; border: 1px solid var(--control); border-radius: 6px;
  background: var(--bg); color: var(--fg); cursor: pointer; text-decoration: none; display: inline-flex;
  align-items: center; gap: 0.35rem; line-height: 1.3;
}
button:hover { background: var(--panel); }
button.primary { background: var(--accent); border-color: var(--accent); color: var(--accent-fg); font-weight: 600; }
button.primary:hover { filter: brightness(1.08); }
button.danger.primary { background: var(--danger); border-color: var(--danger); color: var(--danger-fg); }
button:disabled { border-color: var(--line); color: var(--muted); background: var(--panel); cursor: not-allowed; filter: none; }
button.small { padding: 0.2rem 0.6rem; font-size: 0.92rem; }
button svg, .button svg { width: 1.1rem; height: 1.1rem; fill: none; stroke: currentColor; stroke-width: 2; stroke-linecap: round; stroke-linejoin: round; }
input[type='text'], input[type='password'], input[type='url'], select, textarea {
  font: inherit; padding: 0.45rem 0.6rem; border: 1px solid var(--control); border-radius: 6px; min-width: 0; width: 100%;
  background: var(--bg); color: var(--fg);
}
[aria-invalid='true'] { border-color: var(--danger); border-width: 2px; }
label { display: block; font-weight: 600; margin: 0.75rem 0 0.3rem; }
.actions { display: flex; flex-wrap: wrap; gap: 0.5rem; align-items: center; margin-top: 1rem; position: relative; }
.actions.end { justify-content: flex-end; }
.inline-form { display: inline; }

/* The list's heading: its title, the count, Show deleted, and + New token where the list starts. */
.list-head { display: flex; flex-wrap: wrap; align-items: center; gap: 0.5rem 1rem; margin: 1.25rem 0 0.6rem; }
.list-head h2 { margin: 0; }
.list-head .count { color: var(--muted); }
.list-head .show-deleted { margin-left: auto; }
.switch { display: inline-flex; gap: 0.4rem; align-items: center; font-weight: 400; margin: 0; }
.switch input { width: 1.1rem; height: 1.1rem; margin: 0; accent-color: var(--accent); }

.advice { border: 1px solid var(--warn-fg); background: var(--warn-bg); color: var(--fg); border-radius: 6px; padding: 0.6rem 1rem; margin: 0.5rem 0 0.75rem; }
.advice h3 { color: var(--warn-fg); }
.advice ul { margin: 0; padding-left: 1.2rem; }
.advice li { margin: 0.25rem 0; }
.advice button { margin-left: 0.25rem; }

/* The token list: one line per token; long names end in "…" (the whole name is in its tooltip and in the buttons' names). */
table { width: 100%; border-collapse: collapse; }
th, td { text-align: left; padding: 0.55rem 0.5rem; border-bottom: 1px solid var(--line); vertical-align: middle; }
thead th { background: var(--panel); font-weight: 600; font-size: 0.9rem; color: var(--muted); }
table.tokens { table-layout: fixed; font-size: 0.94rem; }
table.tokens td, table.tokens th { white-space: nowrap; overflow: hidden; text-overflow: ellipsis; }
table.tokens th.c-name { font-weight: 600; }
table.tokens thead .c-type { width: 10.5rem; }
table.tokens thead .c-status { width: 15rem; }
table.tokens thead .c-created { width: 7.5rem; }
table.tokens thead .c-used { width: 7.5rem; }
table.tokens thead .c-value { width: 8.5rem; }
table.tokens thead .c-actions { width: 11rem; }
table.tokens .c-actions { overflow: visible; }
table.tokens td.c-value code { font-size: 0.86rem; }
table.tokens tbody th .name { display: block; overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }
table.tokens tr.stale > * { background: var(--warn-bg); }
table.tokens tr.deleted > * { color: var(--muted); }
table.tokens .actions { margin: 0; gap: 0.3rem; flex-wrap: nowrap; justify-content: flex-end; }
table.tokens .actions form { display: contents; }
.detail { color: var(--muted); }
tr.stale .detail, tr.stale td { color: var(--fg); }

.badge { display: inline-block; padding: 0.05rem 0.45rem; border-radius: 999px; font-size: 0.82rem; font-weight: 600; line-height: 1.4; }
.badge.pending { background: var(--pending-bg); color: var(--pending-fg); }
.badge.active { background: var(--ok-bg); color: var(--ok-fg); }
.badge.stale { background: var(--warn-fg); color: var(--warn-bg); }
.badge.draining, .badge.revoked { background: var(--gone-bg); color: var(--gone-fg); }
/* The drain watch: a deleted token still presented while it drains. */
.badge.watch { background: var(--danger); color: var(--danger-fg); text-decoration: none; }
.fact { font-weight: 600; }

/* Icon buttons, with a tooltip that names the token (the accessible name says the same). */
.icon {
  flex: none; width: 2.25rem; height: 2.25rem; padding: 0; justify-content: center; border: 1px solid var(--line);
  border-radius: 6px; background: var(--bg); color: var(--fg);
}
a.icon { display: inline-flex; align-items: center; }
.icon.danger { color: var(--danger); }
.icon svg { width: 1.15rem; height: 1.15rem; fill: none; stroke: currentColor; stroke-width: 2; stroke-linecap: round; stroke-linejoin: round; }
.icon-slot { width: 2.25rem; height: 2.25rem; flex: none; }
.icon[aria-label]::after {
  content: attr(aria-label); display: none; position: absolute; bottom: calc(100% + 6px); right: 0; z-index: 5;
  width: max-content; max-width: min(22rem, calc(100vw - 2rem)); white-space: normal; overflow-wrap: anywhere;
  padding: 0.25rem 0.55rem; border-radius: 4px; background: var(--tip-bg); color: var(--tip-fg);
  font-size: 0.82rem; font-weight: 500; line-height: 1.35; text-align: left; pointer-events: none;
}
.icon[aria-label]:focus-visible::after { display: block; }
@media (hover: hover) { .icon[aria-label]:hover::after { display: block; } }
body.tips-off .icon[aria-label]::after { display: none; }

/* Feedback next to the button pressed (Copied; why a pending token was not copied; a refused Replace). */
.bubble {
  position: absolute; top: calc(100% + 6px); right: 0; z-index: 6; width: max-content;
  max-width: min(24rem, calc(100vw - 2rem)); white-space: normal; overflow-wrap: anywhere; text-align: left;
  padding: 0.4rem 0.65rem; border-radius: 6px; background: var(--ok-bg); color: var(--ok-fg);
  border: 1px solid var(--ok-fg); box-shadow: var(--shadow); font-size: 0.9rem; font-weight: 600;
}
.bubble.warn { background: var(--warn-bg); color: var(--warn-fg); border-color: var(--warn-fg); font-weight: 500; }
.bubble.error { background: var(--err-bg); color: var(--danger); border-color: var(--danger); font-weight: 500; }
.bubble:empty { padding: 0; border: 0; box-shadow: none; }
#created .actions .bubble, .steps .bubble { position: static; box-shadow: none; }
/* Empty, they stay in the page (a live region must exist before it speaks) but out of the row of buttons. */
#created .actions .bubble:empty, .steps .bubble:empty { position: absolute; }

/* Dialogs: delete (typed phrase), rename, and create with the value shown once. */
dialog {
  width: min(34rem, calc(100vw - 2rem)); max-height: calc(100vh - 2rem); overflow: auto; border: 1px solid var(--line);
  border-radius: 10px; padding: 1.25rem 1.4rem; background: var(--bg); color: var(--fg); box-shadow: var(--shadow);
}
dialog.small-dialog { width: min(28rem, calc(100vw - 2rem)); }
dialog:not(:modal) { position: static; margin: 1rem 0; }
dialog::backdrop { background: rgb(0 0 0 / 50%); }
dialog h2 { margin: 0 0 0.75rem; overflow-wrap: anywhere; }
dialog label:first-of-type { margin-top: 0.5rem; }
.cautions { padding-left: 1.2rem; }
.cautions li { margin: 0.3rem 0; }
.warning { background: var(--warn-bg); color: var(--warn-fg); padding: 0.5rem 0.75rem; border-radius: 6px; }
.value-box {
  display: block; width: 100%; field-sizing: content; min-height: 3.5rem; resize: none; word-break: break-all;
  font-size: 0.95rem; line-height: 1.45; padding: 0.7rem 0.8rem; border: 2px solid var(--accent); border-radius: 8px;
  background: var(--panel); color: var(--fg);
}
.notes { padding-left: 1.2rem; }
.notes li { margin: 0.35rem 0; }

.types { margin-top: 2.5rem; }
.types td, .types th { vertical-align: top; }
.steps { padding-left: 1.25rem; }
.steps li { margin: 0.6rem 0; }
.steps li.done { color: var(--ok-fg); }
.steps li.current { font-weight: 700; }
.steps li.current form, .steps li.current .actions, .steps li.current p { font-weight: 400; }
.steps .actions { margin-top: 0.5rem; }
.steps .value-box { margin-top: 0.5rem; }
.countdown { font-size: 1.4rem; font-variant-numeric: tabular-nums; }
.filter { display: flex; flex-wrap: wrap; gap: 0.5rem; align-items: center; }
.filter label { margin: 0; }
.filter select { width: auto; max-width: 100%; }
.findings li { margin: 0.3rem 0; }
table.trail td:nth-child(-n+2) { white-space: nowrap; }

/* Below 1260 px the masked value and some air give their room to the name. */
@media (max-width: 1260px) {
  table.tokens .c-value { display: none; }
  table.tokens thead .c-type { width: 9.5rem; }
  table.tokens th, table.tokens td { padding-left: 0.4rem; padding-right: 0.4rem; }
}
/* Phones, tablets and narrow windows: each token is a card: its name, its status and actions on one line, its facts. */
@media (max-width: 1100px) {
  table.tokens, table.tokens tbody { display: block; }
  table.tokens thead { position: absolute; width: 1px; height: 1px; overflow: hidden; clip: rect(0 0 0 0); }
  table.tokens tr {
    display: flex; flex-wrap: wrap; align-items: center; gap: 0.2rem 0.75rem; padding: 0.6rem 0.75rem;
    border: 1px solid var(--line); border-radius: 8px; margin-bottom: 0.6rem;
  }
  table.tokens tr.stale { background: var(--warn-bg); }
  table.tokens tr > * { border: 0; padding: 0; width: auto; background: none !important; }
  table.tokens .c-name { order: 10; flex: 1 1 100%; min-width: 0; font-size: 1.02rem; white-space: normal; }
  table.tokens tbody th .name { white-space: normal; overflow-wrap: anywhere; }
  table.tokens .c-status { order: 20; flex: 1 1 0; min-width: 0; white-space: normal; }
  table.tokens .c-status .detail { white-space: nowrap; }
  table.tokens .c-actions { order: 30; flex: none; }
  table.tokens tbody tr::after { content: ''; order: 35; flex: 1 1 100%; height: 0; }
  table.tokens .c-type { order: 40; color: var(--muted); }
  table.tokens .c-created { order: 50; color: var(--muted); }
  table.tokens .c-used { order: 60; color: var(--muted); }
  table.tokens .c-value { order: 70; display: block; flex: 1 1 100%; }
  table.tokens .c-created::before, table.tokens .c-used::before { content: attr(data-label) ' '; }
  table.tokens tr.empty { display: block; }
}
/* Phones: the audit trail and the table of types as cards too. */
@media (max-width: 760px) {
  main { padding: 0.75rem 1rem 2rem; }
  .list-head .show-deleted { margin-left: 0; }
  .list-head .new-token { margin-left: auto; }
  table.trail, table.trail tbody, table.trail tr, table.trail td { display: block; width: 100%; }
  table.trail thead { position: absolute; width: 1px; height: 1px; overflow: hidden; clip: rect(0 0 0 0); }
  table.trail tr { border-bottom: 1px solid var(--line); padding: 0.4rem 0; }
  table.trail td { border: 0; padding: 0.1rem 0; overflow-wrap: anywhere; white-space: normal !important; }
  table.trail td[data-label]::before { content: attr(data-label) ': '; font-weight: 600; }
  table.trail td:empty { display: none; }
  .types table, .types tbody, .types tr, .types td { display: block; width: 100%; }
  .types thead { position: absolute; width: 1px; height: 1px; overflow: hidden; clip: rect(0 0 0 0); }
  .types tr { border-bottom: 1px solid var(--line); padding: 0.4rem 0; }
  .types td { border: 0; padding: 0.1rem 0; }
  .types td:first-child { font-weight: 600; }
}
`;
