// `devrec report` end to end: real QEMU captures imported, reports written by bin/devrec, opened in headless
// Chromium (Debian's /usr/bin/chromium driven by playwright-core; scripts/install-chromium.sh installs it).
import { expect } from 'chai';
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { PNG } from 'pngjs';
import { importQemuTrace } from '../../src/sources/import-trace.js';
import { FileEventStore } from '../../src/store/file-store.js';
import { tmpDir } from '../helpers/tmp.js';
import { CHROMIUM, haveChromium, launchChromium } from './chromium.js';
import { devrec, type Run } from '../helpers/cli.js';


const BLK = 'virtio-blk-pci@00:04.0';
const NET = 'virtio-net-pci@00:03.0';

describe('devrec report (QEMU capture pc-modern-net-blk)', function () {
  this.timeout(120000);
  let dir: string;
  let out: string;

  before(async function () {
    dir = tmpDir();
    out = tmpDir('devrec-report-');
    const store = await FileEventStore.open(dir);
    try {
      await importQemuTrace(store, 'streams/qemu/pc-modern-net-blk/trace.log.gz');
    } finally {
      await store.close();
    }
  });

  it('writes one self-contained HTML file per device, with its series and markers', async function () {
    const r = await devrec(['report', BLK, '--store', `file:${dir}`, '--html', path.join(out, 'blk.html'), '--json']);
    expect(r.code, r.stderr).to.equal(0);
    expect(r.stderr).to.equal('');
    const summary = JSON.parse(r.stdout);
    expect(summary.series).to.include.members(['q0 last_avail', 'q0 used']);
    expect(summary.markers.finding).to.equal(1);
    expect(summary.findings.errors).to.equal(1);
    const html = readFileSync(path.join(out, 'blk.html'), 'utf8');
    expect(html).not.to.match(/<script[^>]+src=|<link[^>]+href=/);
    expect(html).to.contain('uPlot');
    // the capture's trace has no wall-clock times (its events carry line ordinals): no time axis is offered
    expect(html).to.contain('the recording has no wall-clock times').and.not.contain('id="axis-time"');
    const net = await devrec(['report', NET, '--store', `file:${dir}`, '--html', path.join(out, 'net.html'), '--from', '10', '--to', '300']);
    expect(net.code, net.stderr).to.equal(0);
    expect(net.stdout).to.match(/wrote .*net\.html: virtio-net-pci@00:03\.0 revisions 10\.\.300, 291 events, 6 queue line\(s\)/);
    const bad = await devrec(['report', 'nope', '--store', `file:${dir}`, '--html', path.join(out, 'x.html')]);
    expect(bad.code).to.equal(1);
    expect(bad.stderr).to.contain('no device "nope"');
  });

  const title = 'renders in headless Chromium: queue lines, markers, a tooltip with the event in words, a non-blank screenshot';
  if (!haveChromium()) {
    it.skip(`${title} [PENDING: ${CHROMIUM} is absent; bash scripts/install-chromium.sh installs it]`);
    return;
  }
  it(title, async function () {
    for (const [id, file] of [[BLK, 'blk.html'], [NET, 'net.html']] as const) {
      const r = await devrec(['report', id, '--store', `file:${dir}`, '--html', path.join(out, file)]);
      expect(r.code, r.stderr).to.equal(0);
    }
    const { context, close } = await launchChromium();
    try {
      for (const [file, wantFinding] of [['blk.html', true], ['net.html', false]] as const) {
        const page = await context.newPage();
        const errors: string[] = [];
        const requests: string[] = [];
        page.on('pageerror', (e) => errors.push(String(e)));
        page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });
        page.on('request', (q) => requests.push(q.url()));
        const url = 'file://' + path.join(out, file);
        await page.goto(url);
        await page.waitForSelector('#devrec-report[data-ready="1"]', { timeout: 30000 });
        expect(errors, file).to.deep.equal([]);
        expect(requests, 'no network: only the file itself').to.deep.equal([url]);

        const series = JSON.parse((await page.getAttribute('#devrec-report', 'data-series'))!) as string[];
        expect(series).to.include.members(['q0 last_avail', 'q0 used', 'q1 last_avail', 'q1 used']);
        const markers = JSON.parse((await page.getAttribute('#devrec-report', 'data-markers'))!) as Record<string, number>;
        expect(markers['reset']).to.be.above(0);
        expect(markers['status']).to.be.above(0);
        expect(markers['features']).to.be.above(0);
        expect(markers['finding']).to.equal(wantFinding ? 1 : 0);
        expect(await page.locator('.uplot').count()).to.equal(3);
        expect(await page.locator('[data-panel="queues"] canvas').count()).to.equal(1);

        // hover a marker: the finding on blk, the first feature step on net
        const cat = wantFinding ? 'finding' : 'features';
        const pos = await page.evaluate((c) => {
          const r = (globalThis as unknown as { devrecReport: { findRow(c: string): number; markerPosition(i: number): { x: number; y: number; text: string } } }).devrecReport;
          return r.markerPosition(r.findRow(c));
        }, cat);
        await page.mouse.move(pos.x, pos.y);
        await page.waitForSelector('#tooltip', { state: 'visible', timeout: 5000 });
        const tip = (await page.textContent('#tooltip'))!;
        if (wantFinding) {
          expect(tip).to.contain('reset-not-awaited');
          expect(tip).to.match(/at #50 .*guest-driver/);
        } else {
          expect(tip).to.match(/device offers features .*VIRTIO_NET_F/);
        }
        await page.mouse.click(pos.x, pos.y);
        expect(await page.textContent('#pinned')).to.equal(pos.text);

        // filter by kind: hiding findings / deviceFeatures drops marker rows; zoom and the time axis do not throw
        const before = await page.evaluate(() => (globalThis as unknown as { devrecReport: { rows(): number } }).devrecReport.rows());
        await page.uncheck(wantFinding ? '#kind-finding' : '#kind-deviceFeatures');
        const after = await page.evaluate(() => (globalThis as unknown as { devrecReport: { rows(): number } }).devrecReport.rows());
        expect(after).to.be.below(before);
        expect(await page.locator('#axis-time').count(), 'no time axis without times').to.equal(0);
        await page.click('#reset-zoom');
        expect(errors).to.deep.equal([]);
        // the three panels line up: the same plotting area left edge and width, the same x range
        const boxes = await page.$$eval('.uplot .u-over', (els) => els.map((e) => {
          const b = (e as unknown as { getBoundingClientRect(): { left: number; width: number } }).getBoundingClientRect();
          return `${Math.round(b.left)},${Math.round(b.width)}`;
        }));
        expect(boxes, 'plotting areas').to.have.length(3);
        expect(new Set(boxes).size, `plotting areas ${boxes.join(' ')}`).to.equal(1);
        const ranges = await page.evaluate(() => (globalThis as unknown as { devrecReport: { xRanges(): number[][] } }).devrecReport.xRanges());
        expect(new Set(ranges.map((r) => r.join(','))).size, `x ranges ${JSON.stringify(ranges)}`).to.equal(1);

        const shot = PNG.sync.read(await page.screenshot({ path: path.join(out, file.replace('.html', '.png')), fullPage: true }));
        const colors = new Set<number>();
        let ink = 0;
        for (let i = 0; i < shot.data.length; i += 4) {
          const [r, g, b] = [shot.data[i]!, shot.data[i + 1]!, shot.data[i + 2]!];
          colors.add((r << 16) | (g << 8) | b);
          if (r < 200 || g < 200 || b < 200) ink++;
        }
        expect(colors.size, 'distinct colours in the screenshot').to.be.above(50);
        expect(ink / (shot.width * shot.height), 'share of inked pixels').to.be.above(0.01);
        await page.close();
      }
    } finally {
      await close();
    }
  });
});
