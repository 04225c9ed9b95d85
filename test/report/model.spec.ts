// The report's data: unwrapped queue lines, downsampling that keeps every marker, ranges, markers in words.
import { expect } from 'chai';
import { renderReportHtml } from '../../src/report/html.js';
import { ReportBuilder, buildReport } from '../../src/report/model.js';
import { MemoryEventStore } from '../../src/store/memory.js';
import { ev, statusEv } from '../helpers/events.js';
import type { NewEvent } from '../../src/events/types.js';

const ID = 'virtio-net-pci@00:02.0';

async function storeWith(events: NewEvent[]): Promise<MemoryEventStore> {
  const store = new MemoryEventStore();
  for (let i = 0; i < events.length; i += 4096) await store.append(ID, events.slice(i, i + 4096));
  return store;
}

const last = (a: (number | null)[]) => a[a.length - 1];

describe('report data', function () {
  it('unwraps split-ring indices into cumulative counts (mod 2^16), and a reset starts them again', async function () {
    const store = await storeWith([
      ev({ kind: 'identified', aliases: [], type: 'net', virtioId: 1, transport: 'pci-modern', numQueues: 1, configSize: 0, pciVendor: 0, pciDevice: 0, pciSubsystemVendor: 0, pciSubsystem: 0, pciRevision: 0, backend: '' }),
      ev({ kind: 'queueConfigured', index: 0, size: 256, enabled: true }),
      ev({ kind: 'vqIndex', index: 0, lastAvailIdx: 65530, usedIdx: 65530 }),
      ev({ kind: 'vqIndex', index: 0, lastAvailIdx: 4, usedIdx: 2 }),
      ev({ kind: 'vqIndex', index: 0, availDelta: 40000, usedDelta: 40000 }),
      statusEv(0),
      ev({ kind: 'vqIndex', index: 0, availDelta: 3, usedDelta: 3 }),
    ]);
    const data = await buildReport(store, ID);
    const avail = data.queues.series.find((s) => s.name === 'q0 last_avail')!;
    const used = data.queues.series.find((s) => s.name === 'q0 used')!;
    expect(data.queues.x).to.deep.equal([0, 1, 2, 3, 4, 5, 6]);
    // no reset before the queue was configured: its indices are unknown (a gap) until the first absolute value
    expect(avail.values).to.deep.equal([null, null, 65530, 65540, 105540, 0, 3]);
    expect(used.values).to.deep.equal([null, null, 65530, 65538, 105538, 0, 3]);
    expect(data.markers.filter((m) => m.c === 'reset').map((m) => m.r)).to.deep.equal([5]);
  });

  it('downsamples a long line to min/max per bucket but keeps every marker', async function () {
    const events: NewEvent[] = [ev({ kind: 'queueConfigured', index: 0, size: 256, enabled: true }), ev({ kind: 'vqIndex', index: 0, lastAvailIdx: 0, usedIdx: 0 })];
    for (let i = 0; i < 20000; i++) {
      events.push(ev({ kind: 'vqIndex', index: 0, availDelta: 1, usedDelta: 1 }));
      if (i % 1000 === 0) events.push(statusEv(i % 2000 === 0 ? 1 : 3));
      if (i === 15000) events.push(ev({ kind: 'vfioState', from: 'running', to: 'stop' }));
    }
    const store = await storeWith(events);
    const data = await buildReport(store, ID, { buckets: 100 });
    expect(data.bucketWidth).to.equal(Math.ceil(events.length / 100));
    expect(data.queues.x.length).to.be.at.most(200);
    const avail = data.queues.series[0]!;
    expect(last(avail.values)).to.equal(20000);
    expect(Math.max(...avail.values.map((v) => v ?? 0))).to.equal(20000);
    expect(data.markers.filter((m) => m.c === 'status')).to.have.length(20);
    const vfio = data.markers.filter((m) => m.c === 'vfio');
    expect(vfio).to.have.length(1);
    expect(vfio[0]!.x).to.contain('VFIO RUNNING -> STOP');
    // x stays sorted for the plot
    for (let i = 1; i < data.queues.x.length; i++) expect(data.queues.x[i]!).to.be.above(data.queues.x[i - 1]!);
  });

  it('a range keeps the state before it (status, counts) and shows only its own markers', async function () {
    // a reset first: the queue configured after it starts from index 0
    const events: NewEvent[] = [statusEv(0), statusEv(3), ev({ kind: 'queueConfigured', index: 0, size: 8, enabled: true })];
    for (let i = 0; i < 100; i++) events.push(ev({ kind: 'vqIndex', index: 0, availDelta: 1, usedDelta: 1 }));
    events.push(statusEv(7));
    const store = await storeWith(events);
    const data = await buildReport(store, ID, { from: 50, to: 103 });
    expect(data.events).to.equal(54);
    expect(data.status.x[0]).to.equal(50);
    expect(data.status.values).to.deep.equal([3, 7]);
    expect(data.markers.map((m) => [m.r, m.c])).to.deep.equal([[103, 'status'], [103, 'finding']]);
    expect(data.queues.series[0]!.values[0]).to.equal(48);
    await buildReport(store, ID, { from: 200 }).then(() => expect.fail('should throw'), (e: Error) => expect(e.message).to.contain('has revisions 0..103'));
  });

  it('markers carry the event in words, feature names and lint findings', async function () {
    const b = new ReportBuilder(ID, { from: 0, to: 10 });
    const evs: NewEvent[] = [
      ev({ kind: 'identified', aliases: [], type: 'net', virtioId: 1, transport: 'pci-modern', numQueues: 1, configSize: 0, pciVendor: 0, pciDevice: 0, pciSubsystemVendor: 0, pciSubsystem: 0, pciRevision: 0, backend: '' }),
      ev({ kind: 'deviceFeatures', value: 0x100000021n, highWords: [] }),
      ev({ kind: 'driverFeatures', value: 0x100000001n, highWords: [] }),
      statusEv(1), statusEv(3), statusEv(7), // DRIVER_OK without FEATURES_OK: a lint error
    ];
    evs.forEach((e, i) => b.step({ ...e, revision: i }));
    const data = b.finish();
    const offered = data.markers.find((m) => m.step === 'offered')!;
    expect(offered.names).to.deep.equal(['VIRTIO_NET_F_CSUM', 'VIRTIO_NET_F_MAC', 'VIRTIO_F_VERSION_1']);
    const finding = data.markers.find((m) => m.c === 'finding')!;
    expect(finding.rule).to.equal('driver-ok-without-features-ok');
    expect(finding.x).to.contain('at #5');
    expect(data.findings.errors).to.be.at.least(1);
    const html = renderReportHtml(data);
    expect(html).to.contain('Content-Security-Policy');
    expect(html).not.to.match(/<script[^>]+src=|<link[^>]+href=|https?:\/\/(?!github\.com\/leeoniya)/);
  });
});
