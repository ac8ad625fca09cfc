import { formatCount, formatInstant } from '../../core/format.js';
import { TYPE_INFO, type TokenView } from '../../core/tokens.js';
import { callsPerDayText, drainingUseLine, retrievalLine, usageLine, USAGE, type TokenUsage, type UsageCaller } from '../../core/usage.js';
import { html, type SafeHtml } from './html.js';
import { layout, statusCell, type Viewer } from './views.js';

/**
 * A token's usage on the Tokens page (issue 21): who presents it (resource server and address), how often per day for
 * the retention (a chart, with its table), and who retrieved its value. Every sentence is core/usage.ts's, as
 * `tokenctl usage` prints it; this lays them out.
 */

export interface UsagePageInput {
  viewer: Viewer;
  now: Date;
  token: TokenView;
  usage: TokenUsage;
}

const calls = (n: number) => `${formatCount(n)} call${n === 1 ? '' : 's'}`;

/**
 * Calls per day as bars, one per day, in an inline SVG (no style attribute: its colours come from the stylesheet, as
 * the page's policy wants); its words are the sentence above it (`labelledBy`), its numbers the table below it.
 */
function dayChart(days: readonly { day: string; calls: number }[], labelledBy: string): SafeHtml {
  const max = Math.max(1, ...days.map((d) => d.calls));
  const [step, height] = [10, 60];
  const bars = days.map((d, i) => {
    const h = d.calls === 0 ? 0.8 : Math.max(2, (d.calls / max) * height);
    return html`<rect x="${i * step + 1}" y="${(height - h).toFixed(1)}" width="${step - 2}" height="${h.toFixed(1)}" class="${d.calls === 0 ? 'zero' : 'bar'}"><title>${d.day}: ${calls(d.calls)}</title></rect>`;
  });
  return html`<svg class="chart" viewBox="0 0 ${days.length * step} ${height}" preserveAspectRatio="none" role="img" aria-labelledby="${labelledBy}" focusable="false">${bars}</svg>
<div class="axis" aria-hidden="true"><span>${days[0]?.day ?? ''}</span><span>${days.at(-1)?.day ?? ''}</span></div>`;
}

const seen = (c: UsageCaller) => html`<span title="first seen ${formatInstant(c.firstSeenAt)}">${formatInstant(c.lastSeenAt)}</span>`;

function callersTable(callers: readonly UsageCaller[]): SafeHtml {
  const draining = callers.some((c) => c.drainingCalls > 0);
  return html`<table class="cards" id="callers">
<caption class="vh">Resource servers that presented it, most recently seen first</caption>
<thead><tr><th scope="col">Resource server</th><th scope="col">Address</th><th scope="col" class="num">Calls</th>${draining ? html`<th scope="col" class="num">While draining</th>` : ''}<th scope="col">Last seen</th></tr></thead>
<tbody>${callers.map(
    (c) =>
      html`<tr${c.drainingCalls > 0 ? html` class="watch"` : ''}><th scope="row" data-label="Resource server">${c.principalName ?? '(unknown)'}</th><td data-label="Address"><code>${c.address ?? '(unknown)'}</code></td><td data-label="Calls" class="num">${formatCount(c.calls)}</td>${
        draining ? html`<td data-label="While draining" class="num">${c.drainingCalls > 0 ? formatCount(c.drainingCalls) : ''}</td>` : ''
      }<td data-label="Last seen">${seen(c)}</td></tr>`,
  )}</tbody>
</table>`;
}

function retrievalsTable(callers: readonly UsageCaller[]): SafeHtml {
  return html`<table class="cards" id="retrievals">
<caption class="vh">Who retrieved the value, most recently first</caption>
<thead><tr><th scope="col">Retrieved by</th><th scope="col">Address</th><th scope="col" class="num">Times</th><th scope="col">Last</th></tr></thead>
<tbody>${callers.map(
    (c) =>
      html`<tr><th scope="row" data-label="Retrieved by">${c.principalName ?? '(unknown)'}</th><td data-label="Address"><code>${c.address ?? '(unknown)'}</code></td><td data-label="Times" class="num">${formatCount(c.calls)}</td><td data-label="Last">${seen(c)}</td></tr>`,
  )}</tbody>
</table>`;
}

export function usagePage(input: UsagePageInput): SafeHtml {
  const { token: t, usage: u, now, viewer } = input;
  const introspections = u.callers.filter((c) => c.kind === 'introspection');
  const retrievals = u.callers.filter((c) => c.kind === 'retrieval');
  const draining = drainingUseLine(t, u, now);
  const perDay = callsPerDayText(u);
  const retrieved = retrievalLine(u, now);
  const body = html`<div class="narrow wide usage">
<p class="crumbs"><a href="/${t.deletedAt ? '?deleted=1' : ''}">Tokens</a> <span aria-hidden="true">›</span> Usage</p>
<h1>Usage of <span class="name-wrap">${t.name}</span></h1>
<p class="meta">${TYPE_INFO[t.type].label} · ${statusCell(t, now)} · <code>${t.masked}</code></p>
<p class="fact" id="usage-line">${usageLine(u, now)}.</p>
${draining ? html`<p class="warning" id="drain-watch"><strong>${draining}.</strong></p>` : ''}
<section aria-labelledby="callers-h">
<h2 id="callers-h">Who presents it</h2>
${
  introspections.length
    ? callersTable(introspections)
    : html`<p>No resource server has presented it in the last ${USAGE.days} days.</p>`
}
</section>
${
  perDay
    ? html`<section aria-labelledby="days-h">
<h2 id="days-h">Calls per day</h2>
<p id="days-sum">${perDay}.</p>
${dayChart(u.callsPerDay, 'days-sum')}
<details class="days-table"><summary>Calls per day as a table</summary>
<table><caption class="vh">Calls per day (UTC), oldest first</caption>
<thead><tr><th scope="col">Day (UTC)</th><th scope="col" class="num">Calls</th></tr></thead>
<tbody>${u.callsPerDay.map((d) => html`<tr><td>${d.day}</td><td class="num">${formatCount(d.calls)}</td></tr>`)}</tbody>
</table>
</details>
</section>`
    : ''
}
<section aria-labelledby="retrievals-h">
<h2 id="retrievals-h">Retrievals of its value</h2>
<p id="retrieval-line">${retrieved ? `${retrieved}.` : `Its value has not been retrieved in the last ${USAGE.days} days.`}</p>
${retrievals.length ? retrievalsTable(retrievals) : ''}
<p class="hint">A retrieval (a Copy of the value, here or through the API) hands the value to someone; it is not a call made with it.</p>
</section>
<p class="links"><a href="/activity?token=${t.id}">Audit trail of ${t.name}</a> · <a href="/">Back to the Tokens page</a></p>
</div>`;
  return layout({ title: `Usage of ${t.name}`, viewer, current: 'tokens', body, more: true });
}
