// `devrec state --json`: the radix policy of docs/state.md, unknowns as null, on a real device-state import.
import { expect } from 'chai';
import path from 'node:path';
import { Projector } from '../../src/project/projector.js';
import { stateToJson } from '../../src/project/state.js';
import { importQemuState } from '../../src/sources/qemu-savevm.js';
import { MemoryEventStore } from '../../src/store/memory.js';

describe('state JSON', function () {
  it('u64 and addresses as "0x...", counts as numbers, PCI ids as "0x1af4", time as ISO + decimal ns, status as "0x0f" with names, unknown as null', async function () {
    const store = new MemoryEventStore();
    await importQemuState(store, path.resolve('streams/qemu/pc-modern-net-blk/devstate.bin.gz'), { timestampNs: 1_796_019_845_760_123_456n });
    const j = stateToJson(await new Projector(store).stateAt('virtio-net-pci@00:02.0')) as Record<string, any>;
    expect(j.status).to.equal('0x0f');
    expect(j.statusNames).to.deep.equal(['ACKNOWLEDGE', 'DRIVER', 'DRIVER_OK', 'FEATURES_OK']);
    expect(j.features.accepted).to.match(/^0x[0-9a-f]+$/);
    expect(j.features.device).to.equal(null);
    expect(j.features.deviceNames).to.equal(null);
    expect(j.queues[0].desc).to.match(/^0x[0-9a-f]+$/);
    expect(j.queues[0].size).to.equal(256);
    expect(j.queues[0].usedIdx).to.equal(null);
    expect(j.queues[0].lastAvailIdx).to.be.a('number');
    expect(j.pci.vendor).to.equal('0x1af4');
    expect(j.pci.device).to.equal('0x1041');
    expect(j.pci.revision).to.equal('0x01');
    expect(j.timestamp).to.equal('2026-11-30T06:24:05.760Z');
    expect(j.timestampNs).to.equal('1796019845760123456');
    expect(j.virtioId).to.equal(1);
    expect(j.numQueues).to.equal(3);
    expect(j.configGeneration).to.equal(null);
    expect(j.sources).to.deep.equal(['qemu-state']);
    // DESIGN.md's contract fields are all there
    for (const k of ['device', 'type', 'transport', 'revision', 'status', 'statusNames', 'features', 'queues', 'config', 'msix']) expect(j).to.have.property(k);
    for (const k of ['index', 'size', 'enabled', 'desc', 'driver', 'device', 'lastAvailIdx', 'usedIdx', 'msixVector']) expect(j.queues[0]).to.have.property(k);
  });
});
