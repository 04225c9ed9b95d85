// Driver sessions: numbered by resets, named only when every sign of a fingerprint is there.
import { expect } from 'chai';
import path from 'node:path';
import type { DeviceEvent, EventBody } from '../../src/events/types.js';
import { DriverSessions, sessionWords } from '../../src/project/rules/sessions.js';
import { lintStream } from '../../src/project/rules/lint.js';
import { importQemuTrace } from '../../src/sources/import-trace.js';
import { MemoryEventStore } from '../../src/store/memory.js';
import { devrec } from '../helpers/cli.js';
import { tmpDir } from '../helpers/tmp.js';

const ev = (revision: number, body: EventBody): DeviceEvent => ({ revision, timestampNs: BigInt(revision), actor: 'guest-driver', path: 'mmio', source: 'qemu-trace', body });
const status = (revision: number, v: number) => ev(revision, { kind: 'statusWritten', status: v });
const features = (revision: number, select: number, value: bigint) => ev(revision, { kind: 'driverFeatures', select, value, highWords: [] });

function run(events: DeviceEvent[]) {
  const s = new DriverSessions();
  for (const e of events) s.step(e);
  return s.list();
}

describe('driver sessions', () => {
  it('SeaBIOS: ACKNOWLEDGE|DRIVER in one write, no ring feature, then handed over by a reset', () => {
    const list = run([status(0, 0), status(1, 3), features(2, 0, 0x44n), features(3, 1, 1n), status(4, 11), status(5, 15), status(6, 0), status(7, 1), status(8, 3)]);
    expect(list.map((x) => [x.session, x.start, x.driver])).to.deep.equal([[0, null, null], [1, 0, 'SeaBIOS'], [2, 6, null]]);
    expect(list[1]!.role).to.equal('firmware');
    expect(list[1]!.evidence).to.match(/first status write 0x3 .* reset by the next driver \(SeaBIOS src\/hw\/virtio-pci\.c/);
  });

  it('stays unknown when one sign is missing', () => {
    // ACKNOWLEDGE alone first (the virtio 1.x 3.1.1 order)
    expect(run([status(0, 0), status(1, 1), status(2, 3), status(3, 0)])[1]!.driver).to.equal(null);
    // a ring feature accepted (EVENT_IDX, bit 29)
    expect(run([status(0, 0), status(1, 3), features(2, 0, 1n << 29n), status(3, 0)])[1]!.driver).to.equal(null);
    // never handed over: the session is still the device's
    expect(run([status(0, 0), status(1, 3), features(2, 1, 1n)])[1]!.driver).to.equal(null);
    // a status write of 0 and the reset it requests are one reset, not two sessions
    const one = run([status(0, 0), ev(1, { kind: 'resetRequested', scope: 'device-reset', queue: 0 }), status(2, 3), status(3, 0)]);
    expect(one.map((x) => x.start)).to.deep.equal([null, 0, 3]);
  });

  it('sessionWords names the driver, or says it is unknown', () => {
    expect(sessionWords({ session: 1, sessionStart: 48, sessionDriver: 'SeaBIOS' })).to.equal('session 1 (SeaBIOS), from the reset at #48');
    expect(sessionWords({ session: 0, sessionStart: null, sessionDriver: null })).to.equal('session 0, driver unknown, before any reset');
  });

  it('real trace: SeaBIOS drives virtio-mmio blk before Linux on QEMU 10.0 microvm (read values not traced)', async () => {
    const store = new MemoryEventStore();
    const summary = await importQemuTrace(store, path.resolve('streams/qemu/qemu10-microvm-mmio-legacy-noops/trace.log.gz'));
    const named: string[] = [];
    for (const d of summary.devices) {
      const r = await lintStream(store, d.id);
      for (const s of r.sessions) if (s.driver) named.push(`${s.driver}@${s.session}`);
      // the values of status reads are not in this trace: whether a reset was awaited is not checked, never guessed
      expect(r.findings.filter((f) => f.severity === 'error'), d.id).to.deep.equal([]);
    }
    expect(named).to.deep.equal(['SeaBIOS@1']);
  });

  it('lint, log and the lint JSON name the session of SeaBIOS\'s finding on a real pc trace', async () => {
    const store = `file:${path.join(tmpDir(), 'store')}`;
    const imp = await devrec(['import', 'qemu-trace', path.resolve('streams/qemu/pc-modern-net-blk/trace.log.gz'), '--store', store]);
    expect(imp.code, imp.stderr).to.equal(0);
    const lint = await devrec(['lint', 'virtio-blk-pci@00:04.0', '--store', store]);
    expect(lint.stdout).to.match(/ error reset-not-awaited \(session 1 \(SeaBIOS\), from the reset at #\d+\)/);
    const json = JSON.parse((await devrec(['lint', 'virtio-blk-pci@00:04.0', '--store', store, '--json'])).stdout) as { findings: { sessionDriver: string | null }[]; sessions: { driver: string | null }[] };
    expect(json.findings.map((f) => f.sessionDriver)).to.deep.equal(['SeaBIOS']);
    expect(json.sessions.map((x) => x.driver)).to.deep.equal([null, 'SeaBIOS', null]);
    const log = (await devrec(['log', 'virtio-blk-pci@00:04.0', '--store', store])).stdout.split('\n');
    expect(log.filter((l) => l.includes('[session '))).to.have.length(2);
    expect(log.find((l) => l.includes('[session 1'))).to.match(/statusWritten: .*\[session 1: SeaBIOS\]$/);
    expect(log.find((l) => l.includes('[session 2'))).to.match(/\[session 2\]$/);
  });
});
