// Every QEMU capture with savevm streams: the committed ones (streams/qemu/*/, found on disk so none is left out)
// and those made fresh in this run by CI (.ci/run sets DEVREC_FRESH_CAPTURES). The device-state stream and, when
// the capture kept one, the full migration stream (RAM included, ~77 MB: CI's fresh captures only) decode to
// QEMU's own answers; for a full stream the split rings' used index comes from the guest RAM in it.
import { expect } from 'chai';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { netControlToJson } from '../../src/project/net-control.js';
import { applyInPlace } from '../../src/project/reducer.js';
import { initialState } from '../../src/project/state.js';
import { qmpFeatureMask, qmpStatusByte } from '../../src/sources/qemu-names.js';
import { readQemuStreamFile, deviceEvents } from '../../src/sources/qemu-savevm.js';
import { deviceToState } from '../../src/sources/qemu-state/wire.js';
import { type RxFilter, expectMatchesRxFilter } from './qemu-rx-filter.js';

const FRESH = (process.env['DEVREC_FRESH_CAPTURES'] ?? '').split(':').filter(Boolean);
const COMMITTED = readdirSync('streams/qemu').map((d) => path.join('streams/qemu', d))
  .filter((d) => existsSync(path.join(d, 'qmp.json')) && ['devstate.bin.gz', 'migration.bin.gz'].some((f) => existsSync(path.join(d, f))));

interface QmpDevice {
  qemuType: string; qdevId: string; pciAddress?: string; mmioBase?: string;
  status: { status: Parameters<typeof qmpStatusByte>[0]; 'guest-features': Parameters<typeof qmpFeatureMask>[0] };
  queues: { 'queue-index': number; 'vring-num': number; 'vring-desc': number; 'vring-avail': number; 'vring-used': number; 'last-avail-idx': number; 'used-idx': number; 'shadow-avail-idx': number }[];
}

describe('QEMU captures (committed, and fresh ones of this run): device-state and full migration streams against QMP', function () {
  this.timeout(300000);
  if (FRESH.length === 0) it('fresh captures: none in this run (CI sets DEVREC_FRESH_CAPTURES after capturing with the installed QEMU)');
  it('finds every committed capture with a savevm stream', () => expect(COMMITTED.length).to.be.at.least(16));
  for (const dir of [...COMMITTED, ...FRESH]) {
    if (existsSync(path.join(dir, 'devstate.bin.gz')) && existsSync(path.join(dir, 'migration.bin.gz'))) {
      it(`${path.basename(dir)}: the device-state and the full stream (same moment) give each NIC the same control state`, async function () {
        const [a, b] = await Promise.all(['devstate.bin.gz', 'migration.bin.gz'].map((f) => readQemuStreamFile(path.join(dir, f))));
        const nets = a!.devices.filter((d) => d.type === 'net');
        expect(nets.length).to.be.greaterThan(0);
        for (const d of nets) {
          const other = b!.devices.find((x) => x.id === d.id)!;
          const control = (x: typeof d) => netControlToJson(deviceToState(x).netControl!);
          expect(control(other), d.id).to.deep.equal(control(d));
        }
      });
    }
    for (const file of ['devstate.bin.gz', 'migration.bin.gz']) {
      const full = path.join(dir, file);
      const title = `${path.basename(dir)}/${file}`;
      if (!existsSync(full)) {
        it(`${title}: not kept by this capture`);
        continue;
      }
      it(`${title}: every virtio device equals QEMU's answers`, async function () {
        const qmp = JSON.parse(readFileSync(path.join(dir, 'qmp.json'), 'utf8')) as { devices: QmpDevice[]; rxFilter?: RxFilter[] | null };
        const r = await readQemuStreamFile(full);
        expect(r.devices.length).to.equal(qmp.devices.length);
        for (const d of qmp.devices) {
          const id = d.pciAddress ? `${d.qemuType}@${d.pciAddress}` : `${d.qemuType}@${BigInt(d.mmioBase!).toString(16).padStart(8, '0')}`;
          const dev = r.devices.find((x) => x.id === id);
          expect(dev, id).to.not.equal(undefined);
          const s = initialState(id);
          deviceEvents(dev!, 1n).events.forEach((e, i) => applyInPlace(s, { ...e, revision: i }));
          expect(s.status, `${id} status`).to.equal(qmpStatusByte(d.status.status));
          // a NIC's control state against QEMU's receive filter, when the capture asked for it (query-rx-filter)
          const rx = qmp.rxFilter?.find((x) => x.name === d.qdevId);
          if (s.type === 'net' && rx) expectMatchesRxFilter(netControlToJson(s.netControl!) as never, rx, id);
          expect(s.features.accepted, `${id} features`).to.equal(qmpFeatureMask(d.status['guest-features']));
          for (const q of d.queues) {
            const mine = s.queues.find((x) => x.index === q['queue-index'])!;
            expect([mine.size, mine.desc, mine.driver, mine.device, mine.lastAvailIdx], `${id} queue ${q['queue-index']}`).to.deep.equal([
              q['vring-num'], BigInt(q['vring-desc']), BigInt(q['vring-avail']), BigInt(q['vring-used']), q['last-avail-idx'],
            ]);
            const decoded = dev!.queues.find((x) => x.index === q['queue-index'])!;
            const packed = (dev!.guestFeatures >> 34n) & 1n;
            if (file === 'migration.bin.gz' && !packed && q['vring-desc'] !== 0) {
              // split rings: QEMU does not save used_idx; the full stream's guest RAM holds it at the ring address
              expect([decoded.usedIdx, decoded.usedIdxFrom, mine.usedIdx], `${id} queue ${q['queue-index']} used index from RAM`).to.deep.equal([q['used-idx'], 'ram', q['used-idx']]);
              // the driver's avail->idx is ahead of what the device took by at most the ring size (virtio_load's check)
              expect((decoded.availIdx! - q['last-avail-idx']) & 0xffff, `${id} queue ${q['queue-index']} avail index from RAM`).to.be.at.most(q['vring-num']);
            }
          }
        }
      });
    }
  }
});
