// Measurements of the Tokens page as Chromium lays it out (boxes, computed styles), and its screenshots for people to
// look at: written outside the repository, under TOKENCTL_PAGE_SHOTS or the system's temporary directory.
import { mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Page } from 'playwright-core';

export const SHOTS_DIR = process.env.TOKENCTL_PAGE_SHOTS ?? path.join(tmpdir(), 'tokenctl-page-shots');

let told = false;
/** A screenshot (the whole page, or the viewport) named `name`.png in SHOTS_DIR (its path printed once per run). */
export async function shoot(page: Page, name: string, fullPage = true): Promise<string> {
  mkdirSync(SHOTS_DIR, { recursive: true });
  if (!told) {
    told = true;
    console.log(`Tokens page screenshots: ${SHOTS_DIR}`);
  }
  const file = path.join(SHOTS_DIR, `${name}.png`);
  await page.screenshot({ path: file, fullPage, animations: 'disabled', caret: 'hide' });
  return file;
}

/**
 * Every element that sticks out: wider than the viewport (or left of it), outside the box of its container (its
 * parent, for elements in the flow; absolutely placed ones only against the viewport), or with content wider than
 * itself. Content cut on purpose with "…" (text-overflow: ellipsis) is listed apart, as `truncated`.
 */
export function overflowReport(page: Page): Promise<{ overflowing: string[]; truncated: string[]; pageWidth: number; viewport: number }> {
  return page.evaluate(() => {
    const vw = document.documentElement.clientWidth;
    const overflowing: string[] = [];
    const truncated: string[] = [];
    const describe = (el: Element) => {
      const id = el.id ? `#${el.id}` : '';
      const cls = typeof el.className === 'string' && el.className ? `.${el.className.trim().split(/\s+/).join('.')}` : '';
      return `${el.tagName.toLowerCase()}${id}${cls} "${(el.textContent ?? '').trim().slice(0, 40)}"`;
    };
    const hiddenInside = (el: Element) => el.closest('dialog:not([open]), [hidden], .vh, .sprite, noscript, head, thead') !== null;
    for (const el of Array.from(document.body.querySelectorAll('*'))) {
      if (hiddenInside(el)) continue;
      const cs = getComputedStyle(el);
      if (cs.display === 'none' || cs.visibility === 'hidden' || cs.display === 'contents') continue;
      const r = el.getBoundingClientRect();
      if (r.width === 0 && r.height === 0) continue;
      if (r.left < -1 || r.right > vw + 1) overflowing.push(`${describe(el)} spans ${Math.round(r.left)}..${Math.round(r.right)} of ${vw}`);
      const placed = cs.position === 'absolute' || cs.position === 'fixed';
      let parent = el.parentElement;
      while (parent && getComputedStyle(parent).display === 'contents') parent = parent.parentElement;
      if (!placed && parent && parent !== document.body && !(el instanceof SVGElement && !(el instanceof SVGSVGElement))) {
        const p = parent.getBoundingClientRect();
        if (r.right > p.right + 1 || r.left < p.left - 1) overflowing.push(`${describe(el)} spans ${Math.round(r.left)}..${Math.round(r.right)} outside its container ${describe(parent)} ${Math.round(p.left)}..${Math.round(p.right)}`);
      }
      // (A popover placed beside a button, position: absolute, is measured against the viewport above, not here.)
      const popover = () => Array.from(el.querySelectorAll('*')).some((d) => getComputedStyle(d).position === 'absolute' && d.getBoundingClientRect().width > 1);
      if (el instanceof HTMLElement && el.clientWidth > 0 && el.scrollWidth > el.clientWidth + 1 && !(el instanceof HTMLTextAreaElement) && !(el instanceof HTMLSelectElement) && !(el instanceof HTMLInputElement) && !popover()) {
        if (cs.textOverflow === 'ellipsis' && cs.overflowX === 'hidden') truncated.push(describe(el));
        else if (!(el instanceof HTMLDialogElement)) overflowing.push(`${describe(el)}: content ${el.scrollWidth} px in ${el.clientWidth} px`);
      }
    }
    return { overflowing, truncated, pageWidth: document.documentElement.scrollWidth, viewport: vw };
  });
}

/**
 * For each token row: how many lines its cells' text takes (1 when it is on one line), and its height. Measured from
 * the boxes of the text itself (a Range's client rectangles), so wrapped text is counted however the cell is sized.
 */
export function rowLines(page: Page): Promise<{ name: string; lines: number; height: number }[]> {
  return page.evaluate(() =>
    Array.from(document.querySelectorAll('table.tokens tbody tr:not(.empty)')).map((row) => {
      let lines = 1;
      for (const cell of Array.from(row.children)) {
        const rects: DOMRect[] = [];
        const walker = document.createTreeWalker(cell, NodeFilter.SHOW_TEXT);
        for (let node = walker.nextNode(); node; node = walker.nextNode()) {
          if (!node.textContent?.trim() || (node.parentElement && node.parentElement.closest('.vh, .bubble'))) continue;
          const range = document.createRange();
          range.selectNodeContents(node);
          for (const rect of Array.from(range.getClientRects())) if (rect.width > 0) rects.push(rect);
        }
        // Boxes side by side (their heights overlap) are one line; one below another starts the next.
        rects.sort((a, b) => a.top - b.top);
        let count = 0;
        let bottom = -Infinity;
        for (const r of rects) {
          if (r.top >= bottom - 2) count++;
          bottom = Math.max(bottom, r.bottom);
        }
        lines = Math.max(lines, count);
      }
      return { name: row.querySelector('.name')?.textContent ?? '', lines, height: Math.round(row.getBoundingClientRect().height) };
    }),
  );
}

/**
 * The focus ring of the focused element: its outline (style, width, colour) and the contrast of its colour against
 * the background it is drawn on (the first ancestor with an opaque background, since the ring is drawn outside the
 * element), computed as WCAG defines relative luminance.
 */
export function focusRing(page: Page): Promise<{ element: string; style: string; width: number; contrast: number } | null> {
  return page.evaluate(() => {
    const el = document.activeElement;
    if (!el || el === document.body) return null;
    const parse = (c: string): [number, number, number, number] => {
      const m = /rgba?\(([^)]+)\)/.exec(c);
      if (!m) return [0, 0, 0, 0];
      const parts = m[1]!.split(/[ ,/]+/).filter(Boolean).map(Number);
      return [parts[0]!, parts[1]!, parts[2]!, parts[3] ?? 1];
    };
    const lum = ([r, g, b]: [number, number, number, number]) => {
      const f = (v: number) => {
        const s = v / 255;
        return s <= 0.03928 ? s / 12.92 : ((s + 0.055) / 1.055) ** 2.4;
      };
      return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b);
    };
    const cs = getComputedStyle(el);
    let behind: [number, number, number, number] = [255, 255, 255, 1];
    for (let p = el.parentElement; p; p = p.parentElement) {
      const bg = parse(getComputedStyle(p).backgroundColor);
      if (bg[3] > 0.99) {
        behind = bg;
        break;
      }
      if (p === document.documentElement) behind = parse(getComputedStyle(document.documentElement).backgroundColor);
    }
    const ring = parse(cs.outlineColor);
    const [a, b] = [lum(ring), lum(behind)].sort((x, y) => y - x);
    const contrast = (a! + 0.05) / (b! + 0.05);
    const id = el.id ? `#${el.id}` : '';
    return { element: `${el.tagName.toLowerCase()}${id} ${el.getAttribute('aria-label') ?? el.textContent?.trim().slice(0, 30) ?? ''}`, style: cs.outlineStyle, width: parseFloat(cs.outlineWidth), contrast: Math.round(contrast * 100) / 100 };
  });
}

/** The box of the element matched by `selector`, or null. */
export function box(page: Page, selector: string): Promise<{ left: number; top: number; right: number; bottom: number; width: number; height: number } | null> {
  return page.evaluate((s) => {
    const el = document.querySelector(s);
    if (!el) return null;
    const r = el.getBoundingClientRect();
    return { left: r.left, top: r.top, right: r.right, bottom: r.bottom, width: r.width, height: r.height };
  }, selector);
}
