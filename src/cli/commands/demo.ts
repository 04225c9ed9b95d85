// devrec demo: a device lifecycle end to end on the embedded store: record, verify, project at chosen points.
import { Command } from '@commander-js/extra-typings';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Projector } from '../../project/projector.js';
import { Recorder } from '../../record/recorder.js';
import { netLifecycle } from '../../sim/net-lifecycle.js';
import { FileEventStore } from '../../store/file-store.js';
import { verifyFileStore } from '../../store/file-verify.js';
import { CliError } from '../common.js';
import { renderState } from '../render.js';

export const DEMO_DEVICE = 'virtio-net-pci@00:02.0';

export function demoCommand() {
  return new Command('demo')
    .description('record a simulated virtio-net lifecycle on a fresh embedded store and show its state over time')
    .option('--dir <dir>', 'store directory (default: a new temporary directory)')
    .option('--rounds <n>', 'traffic rounds per initialization', (v) => Number(v), 1000)
    .action(async (opts) => {
      const dir = opts.dir ?? mkdtempSync(path.join(tmpdir(), 'devrec-demo-'));
      const out = (s: string) => process.stdout.write(s);
      out(`devrec demo: a virtio-net-pci (modern) device, simulated, recorded on the embedded store at ${dir}\n\n`);
      const store = await FileEventStore.open(dir);
      if ((await store.head(DEMO_DEVICE)) >= 0) {
        await store.close();
        throw new CliError(`${dir} already holds ${DEMO_DEVICE}: give an empty --dir`);
      }
      const labels: { revision: number; label: string }[] = [];
      const t0 = performance.now();
      const recorder = new Recorder(store);
      let revision = 0;
      for (const step of netLifecycle({ trafficRounds: opts.rounds })) {
        recorder.record(DEMO_DEVICE, step.event);
        if (step.label) labels.push({ revision, label: step.label });
        revision++;
      }
      await recorder.close();
      const head = await store.head(DEMO_DEVICE);
      out(`recorded ${head + 1} events (reset, feature negotiation, queue setup, DRIVER_OK, traffic, reset, re-init) in ${(performance.now() - t0).toFixed(0)} ms, durable\n`);
      const projector = new Projector(store, { snapshotEvery: 1024 });
      labels.push({ revision: head, label: 'now' });
      for (const { revision: at, label } of labels) {
        out(`\n--- state at revision ${at}: ${label}\n`);
        out(renderState(await projector.stateAt(DEMO_DEVICE, at)));
      }
      await store.close();
      const report = await verifyFileStore(dir);
      out(`\nverify: ${report.records} records, ${report.events} events, ${report.problems.length === 0 ? 'every CRC and revision checks out' : report.problems.length + ' problem(s)'}\n`);
      out(`\nexplore it:\n  devrec log ${DEMO_DEVICE} --store file:${dir} --to 40\n  devrec state ${DEMO_DEVICE} --store file:${dir} --at 60 --json\n`);
      if (report.problems.length) process.exitCode = 1;
    });
}
