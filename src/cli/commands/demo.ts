// devrec demo: a device lifecycle end to end on the embedded store: record, verify, project at chosen points.
import { Command } from '@commander-js/extra-typings';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { STATUS } from '../../model/index.js';
import { lintStream } from '../../project/rules/lint.js';
import { importQemuTrace } from '../../sources/import-trace.js';
import type { EventStore } from '../../store/types.js';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Projector } from '../../project/projector.js';
import { Recorder } from '../../record/recorder.js';
import { netLifecycle } from '../../sim/net-lifecycle.js';
import { FileEventStore } from '../../store/file-store.js';
import { verifyFileStore } from '../../store/file-verify.js';
import { CliError, setExitCode } from '../common.js';
import { renderState } from '../render.js';

export const DEMO_DEVICE = 'virtio-net-pci@00:02.0';
// the package's streams/, found upward from this module: src/cli/commands/ (tsx), dist/src/cli/commands/ (tsc),
// dist/cli/ (the bundle bin/devrec runs)
const CAPTURE = ((): string => {
  const rel = 'streams/qemu/pc-modern-net-blk/';
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (let up = 0; up < 5; up++, dir = path.dirname(dir)) if (existsSync(path.join(dir, rel))) return path.join(dir, rel);
  return path.join(path.dirname(fileURLToPath(import.meta.url)), '../../..', rel);
})();
const SIM_DEVICE = 'sim/virtio-net-pci@00:02.0';

/** Revisions worth looking at in a real recording: the OS driver's last bring-up. */
async function milestones(store: EventStore, id: string): Promise<{ revision: number; label: string }[]> {
  let lastReset = -1;
  let featuresOk = -1;
  let driverOk = -1;
  for await (const e of store.read(id)) {
    const b = e.event.body;
    if (b.kind === 'statusWritten' && b.status === 0) [lastReset, featuresOk, driverOk] = [e.revision, -1, -1];
    if (b.kind === 'featuresNegotiated' && b.accepted) featuresOk = e.revision;
    if (b.kind === 'statusWritten' && b.status & STATUS.DRIVER_OK && driverOk < 0) driverOk = e.revision;
  }
  return [
    { revision: lastReset, label: "the guest driver's last reset" },
    { revision: featuresOk, label: 'features negotiated (FEATURES_OK kept)' },
    { revision: driverOk, label: 'DRIVER_OK' },
  ].filter((m) => m.revision >= 0);
}

export function demoCommand() {
  return new Command('demo')
    .description('record a simulated virtio-net lifecycle on a fresh embedded store and show its state over time')
    .option('--dir <dir>', 'store directory (default: a new temporary directory)')
    .option('--rounds <n>', 'traffic rounds per initialization', (v) => {
      if (!/^\d{1,7}$/.test(v)) throw new CliError(`--rounds "${v}": expected a whole number of rounds, 0..9999999`);
      return Number(v);
    }, 1000)
    .action(async (opts) => {
      const dir = opts.dir ?? mkdtempSync(path.join(tmpdir(), 'devrec-demo-'));
      const out = (s: string) => process.stdout.write(s);
      out(`devrec demo: virtio devices recorded on the embedded store at ${dir}\n\n`);
      const store = await FileEventStore.open(dir);
      if ((await store.streams()).length > 0) {
        await store.close();
        throw new CliError(`${dir} already holds recordings: give an empty --dir`);
      }
      const projector = new Projector(store, { snapshotEvery: 1024 });
      if (existsSync(CAPTURE)) {
        out('1. A real recording: Linux 6.1 virtio drivers against QEMU 7.2 devices (streams/qemu/pc-modern-net-blk)\n\n');
        const summary = await importQemuTrace(store, CAPTURE + 'trace.log.gz');
        out(`imported ${summary.lines} trace lines as ${summary.devices.length} device streams:\n`);
        for (const d of summary.devices) out(`  ${d.id.padEnd(24)} ${d.type.padEnd(4)} ${d.transport.padEnd(11)} ${d.events} events\n`);
        for (const m of await milestones(store, DEMO_DEVICE)) {
          out(`\n--- ${DEMO_DEVICE} at revision ${m.revision}: ${m.label}\n`);
          out(renderState(await projector.stateAt(DEMO_DEVICE, m.revision)));
        }
        const now = await projector.stateAt(DEMO_DEVICE);
        out(`\n--- ${DEMO_DEVICE} now (revision ${now.revision})\n`);
        out(renderState(now));
        const qmp = JSON.parse(readFileSync(CAPTURE + 'qmp.json', 'utf8')) as { devices: { pciAddress?: string; qemuType: string; queues: { 'queue-index': number; 'last-avail-idx': number; 'used-idx': number; 'vring-desc': number }[] }[] };
        const q = qmp.devices.find((d) => `${d.qemuType}@${d.pciAddress}` === DEMO_DEVICE);
        if (q) {
          const same = q.queues.every((x) => {
            const mine = now.queues.find((y) => y.index === x['queue-index']);
            return mine && mine.lastAvailIdx === x['last-avail-idx'] && mine.usedIdx === x['used-idx'] && mine.desc === BigInt(x['vring-desc']);
          });
          out(`QEMU's own answer (x-query-virtio-queue-status): ${q.queues.map((x) => `q${x['queue-index']} last_avail ${x['last-avail-idx']} used ${x['used-idx']}`).join(', ')}: ${same ? 'the same' : 'DIFFERENT'}\n`);
        }
        for (const d of summary.devices) {
          const r = await lintStream(store, d.id);
          out(`lint ${d.id}: ${r.errors} error(s), ${r.warnings} warning(s)${r.findings.length ? ': ' + r.findings.map((f) => `#${f.revision} ${f.rule}`).join(', ') : ''}\n`);
        }
        out('\n2. A simulated lifecycle: reset, negotiation, queue setup, traffic, a reset and a re-initialisation\n\n');
      }
      const labels: { revision: number; label: string }[] = [];
      const t0 = performance.now();
      const recorder = new Recorder(store);
      let revision = 0;
      for (const step of netLifecycle({ trafficRounds: opts.rounds })) {
        recorder.record(SIM_DEVICE, step.event);
        if (step.label) labels.push({ revision, label: step.label });
        revision++;
      }
      await recorder.close();
      const head = await store.head(SIM_DEVICE);
      out(`recorded ${head + 1} events (reset, feature negotiation, queue setup, DRIVER_OK, traffic, reset, re-init) in ${(performance.now() - t0).toFixed(0)} ms, durable\n`);
      labels.push({ revision: head, label: 'now' });
      for (const { revision: at, label } of labels) {
        out(`\n--- state at revision ${at}: ${label}\n`);
        out(renderState(await projector.stateAt(SIM_DEVICE, at)));
      }
      await store.close();
      const report = await verifyFileStore(dir);
      out(`\nverify: ${report.records} records, ${report.events} events, ${report.problems.length === 0 ? 'every CRC and revision checks out' : report.problems.length + ' problem(s)'}\n`);
      out(`\nexplore it:\n  devrec devices --store file:${dir}\n  devrec log ${DEMO_DEVICE} --store file:${dir} --explain\n  devrec lint virtio-blk-pci@00:04.0 --store file:${dir}\n  devrec state ${SIM_DEVICE} --store file:${dir} --at 60 --json\n`);
      if (report.problems.length) setExitCode(1);
    });
}
