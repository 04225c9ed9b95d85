// devrec report ID [--from N] [--to N] --html FILE [--buckets N] [--json]: a self-contained HTML timeline
// (docs/report.md). The events are streamed once; the page holds downsampled lines and every marker.
import { Command } from '@commander-js/extra-typings';
import { writeFile } from 'node:fs/promises';
import { renderReportHtml } from '../../report/html.js';
import { buildReport } from '../../report/model.js';
import { CliError, parseRevision, resolveDeviceSpec, storeOption, withStore, writeJson } from '../common.js';
import { progressText, withProgress } from '../progress.js';

export function reportCommand() {
  return new Command('report')
    .description("write a device's timeline (status, features, queue indices, resets, VFIO, lint findings) as one HTML file")
    .argument('<id>', 'device ID, or ID@N (revisions up to N)')
    .requiredOption('--html <file>', 'HTML file to write (self-contained: opens without network)')
    .option('--from <n>', 'first revision shown', (v) => parseRevision(v, '--from'))
    .option('--to <n>', 'last revision shown', (v) => parseRevision(v, '--to'))
    .option('--buckets <n>', 'downsampling buckets of the plotted lines (each at most two points)', (v) => {
      if (!/^[1-9]\d*$/.test(v)) throw new CliError(`--buckets "${v}" is not a positive integer`);
      return Number(v);
    }, 2000)
    .addOption(storeOption())
    .option('--json', 'print a JSON summary (and no progress)')
    .action(async (spec, opts) => {
      await withStore(opts.store, true, async (store) => {
        const r = await resolveDeviceSpec(store, spec);
        const id = r.id;
        if (r.revision !== undefined && opts.to !== undefined) throw new CliError(`${spec}: give ID@N or --to N, not both`);
        const to = r.revision ?? opts.to;
        const t0 = performance.now();
        const data = await withProgress(`report ${id}: reading events`, opts, async (p) => {
          try {
            return await buildReport(store, id, {
              ...(opts.from !== undefined ? { from: opts.from } : {}),
              ...(to !== undefined ? { to } : {}),
              buckets: opts.buckets,
              onProgress: (n, total) => p.update(`report ${id}: ${progressText(n, total, 'events', t0)}`),
            });
          } catch (e) {
            if ((e as Error).name === 'RangeError') throw new CliError((e as Error).message);
            throw e;
          }
        });
        const html = renderReportHtml(data);
        try {
          await writeFile(opts.html, html);
        } catch (e) {
          throw new CliError(`${opts.html}: cannot write: ${(e as Error).message}`);
        }
        const counts: Record<string, number> = {};
        for (const m of data.markers) counts[m.c] = (counts[m.c] ?? 0) + 1;
        const summary = {
          device: id, file: opts.html, bytes: Buffer.byteLength(html), from: data.from, to: data.to, events: data.events,
          series: data.queues.series.map((s) => s.name), points: data.queues.x.length, bucketWidth: data.bucketWidth,
          markers: counts, findings: data.findings,
        };
        if (opts.json) return writeJson(summary);
        process.stdout.write(`wrote ${opts.html}: ${id} revisions ${data.from}..${data.to}, ${data.events} events, ` +
          `${data.queues.series.length} queue line(s) of ${data.queues.x.length} points, ${data.markers.length} markers ` +
          `(${Object.entries(counts).map(([k, v]) => `${k} ${v}`).join(', ') || 'none'}), ${summary.bytes} bytes\n`);
      });
    });
}
