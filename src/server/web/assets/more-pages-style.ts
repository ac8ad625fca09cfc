// The second stylesheet, for the pages the Tokens page links to but does not need itself (a token's usage, Webhooks,
// a delivery log): sent only with them, so the Tokens page's own weight stays as it was. On top of the first one.
export const MORE_CSS = `
/* Crumbs, facts and notes of the usage and webhook pages. */
.crumbs { margin: 0.25rem 0 0; color: var(--muted); font-size: 0.92rem; }
.meta { display: flex; flex-wrap: wrap; gap: 0.25rem 0.5rem; align-items: center; color: var(--muted); }
.meta code, .url { overflow-wrap: anywhere; word-break: break-all; }
.lead, .add { max-width: 48rem; }
.links { margin-top: 2rem; }
.optional { font-weight: 400; color: var(--muted); }
.desc { display: block; color: var(--muted); font-weight: 400; font-size: 0.92rem; overflow-wrap: anywhere; }
.num { text-align: right; font-variant-numeric: tabular-nums; }
.button.small { padding: 0.2rem 0.6rem; font-size: 0.92rem; }
button.danger:not(.primary) { color: var(--danger); }
.failed .result, td.delivery.failed, tr.watch > * { color: var(--danger); }

/* Calls per day: one bar a day (an inline SVG coloured from here), the first and last day under it. */
.chart { display: block; width: 100%; height: 7rem; margin-top: 0.5rem; border-bottom: 1px solid var(--control); }
.chart .bar { fill: var(--accent); }
.chart .zero { fill: var(--line); }
.chart rect:hover { fill: var(--fg); }
.axis { display: flex; justify-content: space-between; gap: 1rem; color: var(--muted); font-size: 0.85rem; }
.days-table { margin: 0.75rem 0; }
.days-table summary { cursor: pointer; color: var(--accent); }
.days-table table { max-width: 20rem; }

/* Tables of callers, retrievals, endpoints and attempts: rows on wide screens, cards on a phone. */
table.cards { margin: 0.5rem 0; }
table.cards th[scope='row'] { font-weight: 600; }
table.cards .c-actions .actions { margin: 0; gap: 0.35rem; }
table.cards .actions form, .actions form { display: contents; }
#endpoints th[scope='row'] { font-weight: 400; }
@media (min-width: 761px) {
  #endpoints th[scope='row'] { max-width: 24rem; }
  #endpoints .c-actions { width: 1%; white-space: nowrap; }
  #endpoints .c-actions .actions { flex-wrap: nowrap; }
}

/* Adding an endpoint: the events as checkboxes, each with when it is sent. */
fieldset.events {
  display: grid; grid-template-columns: repeat(auto-fill, minmax(17rem, 1fr)); gap: 0 1rem;
  border: 1px solid var(--line); border-radius: 6px; padding: 0.4rem 0.9rem 0.6rem; margin: 1rem 0 0; min-width: 0;
}
fieldset.events > p { grid-column: 1 / -1; }
fieldset.events legend { font-weight: 600; padding: 0 0.25rem; }
label.check { display: flex; gap: 0.55rem; align-items: flex-start; font-weight: 400; margin: 0.4rem 0; }
label.check input { flex: none; width: 1.05rem; height: 1.05rem; margin: 0.2rem 0 0; accent-color: var(--accent); }
label.check .hint { display: block; font-size: 0.88rem; }

/* The secret, once: a box that stands out, its value in the monospaced box, Copy with its feedback beside it. */
.secret { border: 2px solid var(--accent); border-radius: 10px; padding: 0.9rem 1.2rem; margin: 1rem 0; }
.secret h2 { margin-top: 0; }
.secret .actions .bubble { position: static; box-shadow: none; }
.secret .actions .bubble:empty { position: absolute; }
.facts { margin: 0.75rem 0; }
.facts div { display: flex; flex-wrap: wrap; gap: 0 1rem; margin: 0.2rem 0; }
.facts dt { font-weight: 600; color: var(--muted); min-width: 6.5rem; }
.facts dd { margin: 0; min-width: 0; overflow-wrap: anywhere; }

@media (max-width: 760px) {
  table.cards, table.cards tbody, table.cards tr, table.cards td, table.cards th[scope='row'] { display: block; width: 100%; max-width: none; }
  table.cards thead { position: absolute; width: 1px; height: 1px; overflow: hidden; clip: rect(0 0 0 0); }
  table.cards tr { border-bottom: 1px solid var(--line); padding: 0.5rem 0; }
  table.cards td, table.cards th[scope='row'] { border: 0; padding: 0.1rem 0; text-align: left; white-space: normal !important; overflow-wrap: anywhere; }
  table.cards td[data-label]::before { content: attr(data-label) ': '; font-weight: 600; }
  table.cards td:empty { display: none; }
  table.cards .c-actions .actions { margin-top: 0.35rem; }
}
`;
