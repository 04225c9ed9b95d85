// npx tsx bench/report.ts [--events N] [--buckets N]: `devrec report` of a big recording (default 1M events of the
// simulated virtio-net lifecycle, src/sim/net-lifecycle.ts, with many traffic rounds per initialization):
// time to record it, to build the report (one streamed pass, with the linter), the HTML size, and (when
// /usr/bin/chromium exists) the time for headless Chromium to load and draw the page. Prints a table only.
import { statSync, writeFileSync } from 'node:fs';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { NewEvent } from '../src/events/types.js';
import { renderReportHtml } from '../src/report/html.js';
import { buildReport } from '../src/report/model.js';
import { netLifecycle } from '../src/sim/net-lifecycle.js';
import { FileEventStore } from '../src/store/file-store.js';
import { haveChromium, launchChromium } from '../test/report/chromium.js';

const args = process.argv.slice(2);
const arg = (name: string, dflt: number) => {
  const i = args.indexOf(name);
  return i >= 0 ? Number(args[i + 1]) : dflt;
};
const N = arg('--events', 1_000_000);
const BUCKETS = arg('--buckets', 2000);
const DEVICE = 'virtio-net-pci@00:02.0';

function* workload(n: number): Generator<NewEvent> {
  let produced = 0;
  let base = 0n;
  while (produced < n) {
    for (const { event } of netLifecycle({ trafficRounds: 100_000, startNs: 1_790_000_000_000_000_000n + base })) {
      if (produced++ >= n) return;
      yield event;
    }
    base += 1_000_000_000_000n;
  }
}

const rows: [string, string][] = [];
const dir = mkdtempSync(path.join(tmpdir(), 'devrec-bench-report-'));
try {
  let t = performance.now();
  const store = await FileEventStore.open(dir, { sync: false });
  let batch: NewEvent[] = [];
  for (const e of workload(N)) {
    batch.push(e);
    if (batch.length === 8192) await store.append(DEVICE, batch), (batch = []);
  }
  if (batch.length) await store.append(DEVICE, batch);
  rows.push(['record (file store, no fsync)', `${(performance.now() - t).toFixed(0)} ms`]);

  t = performance.now();
  const mem0 = process.memoryUsage().heapUsed;
  const data = await buildReport(store, DEVICE, { buckets: BUCKETS });
  const buildMs = performance.now() - t;
  t = performance.now();
  const html = renderReportHtml(data);
  const file = path.join(dir, 'report.html');
  writeFileSync(file, html);
  const renderMs = performance.now() - t;
  await store.close();
  rows.push(['events', data.events.toLocaleString('en-US')]);
  rows.push(['build report data (stream + lint)', `${buildMs.toFixed(0)} ms (${Math.round(data.events / (buildMs / 1000)).toLocaleString('en-US')} ev/s)`]);
  rows.push(['heap growth during build', `${((process.memoryUsage().heapUsed - mem0) / 1048576).toFixed(1)} MiB`]);
  rows.push(['render + write HTML', `${renderMs.toFixed(0)} ms`]);
  rows.push(['HTML size', `${(statSync(file).size / 1024).toFixed(0)} KiB`]);
  rows.push(['plotted points per line', `${data.queues.x.length} (${data.queues.series.length} lines, bucket ${data.bucketWidth} revisions)`]);
  rows.push(['markers', data.markers.length.toLocaleString('en-US')]);

  if (haveChromium()) {
    const { context, close } = await launchChromium();
    try {
      const page = await context.newPage();
      t = performance.now();
      await page.goto('file://' + file);
      await page.waitForSelector('#devrec-report[data-ready="1"]', { timeout: 120000 });
      await page.evaluate(() => new Promise((r) => (globalThis as unknown as { requestAnimationFrame(cb: () => void): void }).requestAnimationFrame(() => r(null))));
      rows.push(['headless Chromium: load + draw', `${(performance.now() - t).toFixed(0)} ms`]);
      t = performance.now();
      await page.evaluate(() => (globalThis as unknown as { devrecReport: { zoom(a: number, b: number): void } }).devrecReport.zoom(1000, 200000));
      await page.evaluate(() => new Promise((r) => (globalThis as unknown as { requestAnimationFrame(cb: () => void): void }).requestAnimationFrame(() => r(null))));
      rows.push(['headless Chromium: zoom redraw', `${(performance.now() - t).toFixed(0)} ms`]);
    } finally {
      await close();
    }
  } else {
    rows.push(['headless Chromium', 'skipped: /usr/bin/chromium absent (bash scripts/install-chromium.sh)']);
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}

const w = Math.max(...rows.map((r) => r[0].length));
console.log(`devrec report bench: ${N.toLocaleString('en-US')} events, ${BUCKETS} buckets`);
for (const [k, v] of rows) console.log(`| ${k.padEnd(w)} | ${v} |`);
