// One self-contained HTML page for a report: uPlot (MIT, https://github.com/leeoniya/uPlot) and its CSS inlined,
// the data as a JSON block, the page script (client.ts). A Content-Security-Policy forbids every network fetch,
// so opening the file never reaches out.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { CLIENT_JS } from './client.js';
import type { ReportData } from './model.js';

const require = createRequire(import.meta.url);
let uplotAssets: { js: string; css: string; version: string } | undefined;

function assets(): { js: string; css: string; version: string } {
  if (!uplotAssets) {
    const js = readFileSync(require.resolve('uplot/dist/uPlot.iife.min.js'), 'utf8');
    const css = readFileSync(require.resolve('uplot/dist/uPlot.min.css'), 'utf8');
    const version = (JSON.parse(readFileSync(require.resolve('uplot/package.json'), 'utf8')) as { version: string }).version;
    uplotAssets = { js: scriptSafe(js), css, version };
  }
  return uplotAssets;
}

/** Text that may sit inside <script>: no closing tag, no HTML comment openers. */
function scriptSafe(s: string): string {
  return s.replace(/<\/(script)/gi, '<\\/$1').replace(/<!--/g, '<\\!--');
}

function jsonForScript(value: unknown): string {
  return JSON.stringify(value).replace(/</g, '\\u003c').replace(/\u2028/g, '\\u2028').replace(/\u2029/g, '\\u2029');
}

function esc(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

const PAGE_CSS = `
body { font: 13px/1.4 system-ui, sans-serif; margin: 12px 16px; color: #222; background: #fff; }
h1 { font-size: 18px; margin: 0 0 4px; }
h2 { font-size: 15px; margin: 18px 0 6px; }
.summary { color: #444; margin-bottom: 8px; }
#controls { display: flex; flex-wrap: wrap; gap: 6px 14px; align-items: center; margin: 8px 0; padding: 6px 8px; background: #f4f4f6; border-radius: 4px; }
#filters { display: flex; flex-wrap: wrap; gap: 4px 12px; }
#plots .uplot { margin-bottom: 10px; }
#tooltip { position: fixed; display: none; z-index: 10; max-width: 640px; white-space: pre-wrap; background: #fffff0; border: 1px solid #999;
  padding: 6px 8px; font: 12px/1.35 ui-monospace, monospace; box-shadow: 0 2px 6px rgba(0,0,0,.2); pointer-events: none; }
#pinned { white-space: pre-wrap; background: #f7f7f7; border: 1px solid #ddd; padding: 6px 8px; min-height: 1.4em; font: 12px/1.35 ui-monospace, monospace; }
table { border-collapse: collapse; font: 12px/1.35 ui-monospace, monospace; }
td, th { border: 1px solid #ddd; padding: 2px 6px; text-align: left; vertical-align: top; }
tr:hover td { background: #f0f6ff; cursor: pointer; }
`;

export function renderReportHtml(data: ReportData, generator = 'devrec'): string {
  const a = assets();
  const f = data.findings;
  const title = `${data.device}: revisions ${data.from}..${data.to}`;
  const summary = `${data.type || '?'} over ${data.transport}; ${data.events.toLocaleString('en-US')} events` +
    `${data.t0 ? `, from ${data.t0}` : ''}; ${data.markers.length.toLocaleString('en-US')} markers; ` +
    `lint: ${f.errors} error(s), ${f.warnings} warning(s), ${f.infos} note(s)` +
    `${data.bucketWidth > 1 ? `; lines downsampled to min/max per ${data.bucketWidth} revisions (markers are all kept)` : ''}`;
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src data:">
<meta name="generator" content="${esc(generator)}; uPlot ${esc(a.version)}">
<title>${esc(title)}</title>
<style>${a.css}</style>
<style>${PAGE_CSS}</style>
</head>
<body>
<div id="devrec-report" data-device="${esc(data.device)}" data-ready="0">
<h1>${esc(title)}</h1>
<div class="summary">${esc(summary)}</div>
<div id="controls">
  ${data.hasTime
    ? '<span>x axis: <label><input type="radio" name="axis" id="axis-revision" checked> revision</label>\n  <label><input type="radio" name="axis" id="axis-time"> time</label></span>'
    : '<span>x axis: revision (the recording has no wall-clock times)</span>'}
  <button id="reset-zoom" type="button">reset zoom</button>
  <span>drag on a panel to zoom; show kinds:</span>
  <span id="filters"></span>
</div>
<div id="plots"><div id="plot-queues"></div><div id="plot-status"></div><div id="plot-markers"></div></div>
<h2>selected event</h2>
<pre id="pinned">click a marker (or a table row)</pre>
<h2>feature negotiation</h2>
<div id="features"></div>
<h2>lint findings</h2>
<div id="findings"></div>
</div>
<div id="tooltip" role="tooltip"></div>
<script type="application/json" id="devrec-data">${jsonForScript(data)}</script>
<script>${a.js}</script>
<script>${scriptSafe(CLIENT_JS)}</script>
</body>
</html>
`;
}
