// devrec import qemu-trace FILE[.gz] [--prefix P]: QEMU trace log -> one stream per virtio device.
import { Command } from '@commander-js/extra-typings';
import { importQemuTrace } from '../../sources/import-trace.js';
import { allOrNothing } from '../../store/all-or-nothing.js';
import { hexKeys } from '../../events/json.js';
import type { QmpAnswers } from '../../compat/qmp-profile.js';
import { type QmpAliasReport, appendQmpAliases } from '../../sources/qmp-aliases.js';
import { CliError, storeOption, withStore, writeJson } from '../common.js';
import { progressText, withProgress } from '../progress.js';

export function qemuTraceSubcommand() {
  return new Command('qemu-trace')
    .description('import a QEMU trace log (log backend, plain or .gz) as one stream per virtio device')
    .argument('<file>', 'trace file (-D trace.log with -trace pci_cfg_write, memory_region_ops_*, virtio_*, virtqueue_*)')
    .option('--prefix <prefix>', 'prefix for the device ids (to import several VMs into one store)')
    .option('--qmp-answers <file>', "QEMU's QMP answers of the same VM (a capture's qmp.json, or devrec profile --save-qmp): qdev ids and QOM paths become aliases; virtio-mmio devices seen only through virtio_mmio_* lines are named by their rings' addresses")
    .addOption(storeOption())
    .option('--json', 'JSON summary')
    .action(async (file, opts) => {
      const answers = opts.qmpAnswers !== undefined ? await readAnswers(opts.qmpAnswers) : undefined;
      await withStore(opts.store, false, async (store) => {
        let summary;
        try {
          const t0 = performance.now();
          summary = await withProgress(`importing ${file}`, opts, (p) => allOrNothing(store, async () => {
            const s = await importQemuTrace(store, file, {
              ...(opts.prefix !== undefined ? { prefix: opts.prefix } : {}),
              ...(answers ? { qmpAnswers: answers } : {}),
              onProgress: (n) => p.update(`importing ${file}: ${progressText(n, undefined, 'lines', t0)}`),
            });
            return answers ? { ...s, qmp: await appendQmpAliases(store, answers, s.devices.map((d) => d.id), opts.prefix) } : s;
          }));
        } catch (err) {
          throw new CliError(`${(err as Error).message}; nothing was imported`);
        }
        if (opts.json) return writeJson(summary);
        process.stdout.write(`${file}: ${summary.lines} lines, ${summary.devices.length} virtio device(s)\n`);
        for (const d of summary.devices) process.stdout.write(`  ${d.id}  ${d.type}  ${d.transport}  ${d.events} events\n`);
        if (summary.unattributedQueueLines) process.stdout.write(`  ${summary.unattributedQueueLines} virtqueue line(s) for queues no notify tied to a device were skipped\n`);
        if (summary.orphanAccesses) process.stdout.write(`  ${summary.orphanAccesses} access(es) to virtio regions outside any traced BAR were skipped\n`);
        if (summary.vfio) {
          const v = summary.vfio;
          for (const [host, n] of Object.entries(v.unmappedAccesses)) process.stdout.write(`  vfio ${host}: ${n} BAR access(es) outside every virtio structure the guest read were kept raw (region unspecified)\n`);
          for (const [host, n] of Object.entries(v.placedByStartOnly)) process.stdout.write(`  vfio ${host}: ${n} BAR access(es) placed in a structure whose capability length the guest never read\n`);
          if (v.notVirtio.length) process.stdout.write(`  vfio ${v.notVirtio.join(', ')}: not virtio devices (vendor is not 0x1af4), skipped\n`);
          const other = Object.values(v.countedLines).reduce((a, b) => a + b, 0);
          if (other) process.stdout.write(`  ${other} vfio line(s) that are not register accesses (interrupts, setup) were counted, not recorded\n`);
        }
        const unused = Object.entries(summary.unusedLines);
        if (unused.length) process.stdout.write(`  lines not used: ${unused.map(([k, v]) => `${v} ${k}`).join(', ')}\n`);
        for (const t of summary.mmioRings?.tied ?? []) process.stdout.write(`  ${t.id}: the trace's ${t.from}, tied by the ring addresses of queue(s) ${t.queues.join(', ')} to QMP device ${t.qmpPath}\n`);
        // one line per reason: without --qmp-answers every vdev-named device has the same one
        const untied = new Map<string, string[]>();
        for (const u of summary.mmioRings?.untied ?? []) untied.set(u.reason, [...(untied.get(u.reason) ?? []), u.id]);
        for (const [reason, ids] of untied) process.stdout.write(`  ${ids.join(', ')}: named by QEMU's vdev pointer, not by mmio base: ${reason}\n`);
        if (summary.clock === 'none') process.stdout.write('  no times in the trace (no pid@sec.usec: prefixes; QEMU -msg timestamp=on adds them): events are ordered by line\n');
        if ('qmp' in summary) writeQmpReport(summary.qmp);
      });
    });
}

// devrec import qemu-state FILE[.gz] [--prefix P]: a QEMU savevm / device-state stream -> snapshot events.
export function qemuStateSubcommand() {
  return new Command('qemu-state')
    .description('import a QEMU savevm stream (xen-save-devices-state or a full migration stream, plain or .gz) as snapshot events per virtio device')
    .argument('<file>', 'QEMU stream (magic QEVM, version 3)')
    .option('--prefix <prefix>', 'prefix for the device ids')
    .option('--qmp-answers <file>', "QEMU's QMP answers at the same moment (a capture's qmp.json, or devrec profile --save-qmp): qdev ids and QOM paths become aliases")
    .addOption(storeOption())
    .option('--json', 'JSON summary')
    .action(async (file, opts) => {
      const { importQemuState } = await import('../../sources/qemu-savevm.js');
      const answers = opts.qmpAnswers !== undefined ? await readAnswers(opts.qmpAnswers) : undefined;
      await withStore(opts.store, false, async (store) => {
        let summary;
        try {
          summary = await withProgress(`importing ${file}`, opts, () => allOrNothing(store, async () => {
            const s = await importQemuState(store, file, opts.prefix !== undefined ? { prefix: opts.prefix } : {});
            return answers ? { ...s, qmp: await appendQmpAliases(store, answers, s.devices.map((d) => d.id), opts.prefix) } : s;
          }));
        } catch (err) {
          const m = (err as Error).message;
          throw new CliError(`${m.startsWith(file) ? m : `${file}: ${m}`}; nothing was imported`);
        }
        if (opts.json) return writeJson(hexKeys(summary, { status: 2 }));
        process.stdout.write(`${file}: ${summary.size} bytes, ${summary.sections} sections (${Object.entries(summary.walks).map(([k, v]) => `${v} ${k}`).join(', ')}), ${summary.devices.length} virtio device(s)\n`);
        for (const d of summary.devices) {
          process.stdout.write(`  ${d.id}  ${d.type}  ${d.transport}  status 0x${d.status.toString(16)}  ${d.numQueues} queues  revisions ${d.firstRevision}..${d.lastRevision}${d.continued ? ' (continued)' : ''}\n`);
          for (const n of d.notes) process.stdout.write(`    note: ${n}\n`);
        }
        if ('qmp' in summary) writeQmpReport(summary.qmp);
      });
    });
}

async function readAnswers(file: string): Promise<QmpAnswers> {
  const { readQmpAnswers } = await import('../../compat/qmp-profile.js');
  const { ProfileError } = await import('../../compat/profile.js');
  try {
    return readQmpAnswers(file);
  } catch (e) {
    if (e instanceof ProfileError) throw new CliError(`--qmp-answers ${e.message}`);
    throw e;
  }
}

function writeQmpReport(r: QmpAliasReport): void {
  for (const n of r.named) process.stdout.write(`  ${n.id}: QEMU names it ${n.aliases.map((a) => a.name).join(', ')}\n`);
  for (const n of r.notTied) process.stdout.write(`  QMP device ${n.path} not tied: ${n.reason}\n`);
}
