// virtio-net control-queue state (src/project/net-control.ts): every command class of virtio 1.3 5.1.6.5 folded.
import { expect } from 'chai';
import { NET_CTRL_COMMANDS, netCtrlCommand } from '../../src/model/net-control.js';
import { applyNetControl, initialNetControl, netControlOf, netControlToJson, netControlText } from '../../src/project/net-control.js';
import type { ControlCommandFields, NewEvent } from '../../src/events/types.js';
import { applyInPlace } from '../../src/project/reducer.js';
import { initialState } from '../../src/project/state.js';
import { stateToWire } from '../../src/project/state-wire.js';
import { parseQemuStream, deviceEvents } from '../../src/sources/qemu-savevm.js';
import { captureBytes } from '../sources/qemu-savevm-fixtures.js';
import { netLifecycle } from '../../src/sim/net-lifecycle.js';
import { importQemuTrace } from '../../src/sources/import-trace.js';
import { MemoryEventStore } from '../../src/store/memory.js';
import { Projector } from '../../src/project/projector.js';

const OK = 0;
const ERR = 1;
const cmd = (cls: number, command: number, data: number[], ack: number | 'none' = OK): ControlCommandFields =>
  ({ class: cls, command, data: Uint8Array.from(data), ...(ack !== 'none' ? { ack } : {}) });
const le16 = (v: number) => [v & 255, v >> 8];
const le32 = (v: number) => [v & 255, (v >> 8) & 255, (v >> 16) & 255, v >>> 24];
const MAC_A = [0x52, 0x54, 0, 0x12, 0x34, 0x56];
const MAC_M = [0x33, 0x33, 0, 0, 0, 1];

function fold(cmds: ControlCommandFields[], order: 'little' | 'big' | null = 'little') {
  const s = initialNetControl();
  for (const c of cmds) applyNetControl(s, c, order);
  return s;
}

describe('net control-queue state', () => {
  it('the command table: unique (class, command) with spec sections under 5.1.6.5', () => {
    expect(new Set(NET_CTRL_COMMANDS.map((c) => `${c.class}/${c.command}`)).size).to.equal(NET_CTRL_COMMANDS.length);
    for (const c of NET_CTRL_COMMANDS) expect(c.section.startsWith('5.1.6.5')).to.equal(true);
    expect(netCtrlCommand(4, 0)?.name).to.equal('VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET');
  });

  it('starts unknown: nothing set since reset is null, never 0/false', () => {
    const j = netControlToJson(initialNetControl());
    expect(j['rxMode']).to.deep.equal({ promisc: null, allmulti: null, alluni: null, nomulti: null, nouni: null, nobcast: null });
    expect([j['mac'], j['macTable'], j['queuePairs'], j['rss'], j['hash'], j['guestOffloads']]).to.deep.equal([null, null, null, null, null, null]);
    expect(j['vlans']).to.deep.equal({ ids: [], complete: false });
  });

  const cases: [string, ControlCommandFields[], (j: Record<string, unknown>) => void][] = [
    ['rx modes, each flag on its own', [cmd(0, 0, [1]), cmd(0, 1, [0]), cmd(0, 5, [1])], (j) =>
      expect(j['rxMode']).to.deep.equal({ promisc: true, allmulti: false, alluni: null, nomulti: null, nouni: null, nobcast: true })],
    ['MAC_ADDR_SET', [cmd(1, 1, MAC_A)], (j) => expect(j['mac']).to.equal('52:54:00:12:34:56')],
    ['MAC_TABLE_SET replaces both tables whole', [
      cmd(1, 0, [...le32(1), ...MAC_A, ...le32(2), ...MAC_M, 1, 0, 0x5e, 0, 0, 1]),
      cmd(1, 0, [...le32(0), ...le32(1), ...MAC_M]),
    ], (j) => expect(j['macTable']).to.deep.equal({ unicast: [], multicast: ['33:33:00:00:00:01'], unicastOverflow: null, multicastOverflow: null })],
    ['VLAN add/del', [cmd(2, 0, le16(5)), cmd(2, 0, le16(100)), cmd(2, 0, le16(7)), cmd(2, 1, le16(100))], (j) =>
      expect(j['vlans']).to.deep.equal({ ids: [5, 7], complete: false })],
    ['VQ_PAIRS_SET', [cmd(4, 0, le16(4))], (j) => expect(j['queuePairs']).to.equal(4)],
    ['RSS_CONFIG', [cmd(4, 1, [...le32(0x3f), ...le16(1), ...le16(0), ...le16(0), ...le16(1), ...le16(2), 3, 0xaa, 0xbb, 0xcc])], (j) =>
      expect(j['rss']).to.deep.equal({ hashTypes: 0x3f, indirectionTable: [0, 1], unclassifiedQueue: 0, maxTxVq: 2, key: 'aabbcc' })],
    ['HASH_CONFIG', [cmd(4, 2, [...le32(0x7), 0, 0, 0, 0, 0, 0, 0, 0, 2, 0x12, 0x34])], (j) => expect(j['hash']).to.deep.equal({ hashTypes: 7, key: '1234' })],
    ['GUEST_OFFLOADS_SET', [cmd(5, 0, [0x83, 0x07, 0, 0, 0, 0, 0, 0x40])], (j) => expect(j['guestOffloads']).to.equal('0x4000000000000783')],
    ['ANNOUNCE_ACK counted', [cmd(3, 0, []), cmd(3, 0, [])], (j) => expect(j['announceAcks']).to.equal(2)],
    ['refused (VIRTIO_NET_ERR): the item keeps its value', [cmd(4, 0, le16(2)), cmd(4, 0, le16(8), ERR)], (j) => {
      expect(j['queuePairs']).to.equal(2);
      expect(j['rejected']).to.equal(1);
    }],
    ['ack not recorded: the item becomes unknown', [cmd(0, 0, [1]), cmd(0, 0, [0], 'none')], (j) =>
      expect((j['rxMode'] as Record<string, unknown>)['promisc']).to.equal(null)],
    ['truncated payload: unknown', [cmd(4, 0, le16(2)), cmd(4, 0, [3]), cmd(1, 0, [...le32(5), ...MAC_A])], (j) => {
      expect(j['queuePairs']).to.equal(null);
      expect(j['macTable']).to.equal(null);
    }],
    ['commands devrec does not fold are counted', [cmd(6, 0, [1, 2, 3, 4, 5, 6, 7, 8]), cmd(9, 9, [])], (j) => expect(j['other']).to.equal(2)],
  ];
  for (const [name, cmds, check] of cases) it(name, () => check(netControlToJson(fold(cmds))));

  it('legacy devices: payloads in the guest byte order, unknown when it is not known', () => {
    expect(fold([cmd(4, 0, [0, 4])], 'big').queuePairs).to.equal(4);
    expect(fold([cmd(4, 0, [0, 4])], null).queuePairs).to.equal(null);
    // single bytes and MACs read the same either way
    expect(fold([cmd(0, 0, [1]), cmd(1, 1, MAC_A)], null)).to.deep.include({ mac: '52:54:00:12:34:56' });
  });

  it('from the state\'s latest-per-command list: exact for latest-value items, VLANs reported incomplete', () => {
    const s = netControlOf([cmd(0, 0, [0]), cmd(4, 0, le16(1)), cmd(2, 0, le16(5))], 'little');
    expect(s.rxMode.promisc).to.equal(false);
    expect(s.queuePairs).to.equal(1);
    expect(s.vlans).to.deep.equal({ ids: [], complete: false });
    expect(netControlText(s)[0]).to.equal('rx mode promisc off, allmulti ?, alluni ?, nomulti ?, nouni ?, nobcast ?');
  });

  describe('kept whole in the state by the reducer', () => {
    const ev = (body: NewEvent['body'], source: NewEvent['source'] = 'api'): NewEvent => ({ timestampNs: 1n, actor: 'guest-driver', path: 'internal', source, body });
    const control = (c: ControlCommandFields): NewEvent => ev({ kind: 'controlCommand', ...c });
    const play = (events: NewEvent[]) => {
      const s = initialState('nic');
      events.forEach((e, i) => applyInPlace(s, { ...e, revision: i }));
      return s;
    };
    const modern = ev({ kind: 'identified', aliases: [], type: 'net', virtioId: 1, transport: 'pci-modern', numQueues: 3, configSize: 0, pciVendor: 0, pciDevice: 0, pciSubsystemVendor: 0, pciSubsystem: 0, pciRevision: 0, backend: '' });

    it('every VLAN_ADD / VLAN_DEL in order: the set stays whole across more commands than one per (class, command)', () => {
      const s = play([modern, ev({ kind: 'resetRequested', scope: 'device-reset', queue: 0 }), control(cmd(2, 0, le16(5))), control(cmd(2, 0, le16(100))), control(cmd(2, 0, le16(7))), control(cmd(2, 1, le16(100)))]);
      expect(s.netControl!.vlans).to.deep.equal({ ids: [5, 7], complete: false });
      // the latest-per-command list alone would have lost VLAN 5
      expect(netControlOf(s.control, 'little').vlans.ids).to.deep.equal([]);
      expect(s.netControl!.rejected).to.equal(0);
    });

    it('a QEMU device-state snapshot gives the whole table; later commands change it item by item; a reset forgets it', () => {
      const dev = parseQemuStream(captureBytes('pc-modern-net-blk')).devices.find((d) => d.id === 'virtio-net-pci@00:02.0')!;
      const snap = deviceEvents(dev, 1n).events;
      const s = play([...snap, control(cmd(2, 0, le16(42))), control(cmd(0, 0, [1]))]);
      expect(s.netControl!.vlans).to.deep.equal({ ids: [42], complete: true });
      expect(s.netControl!.rxMode).to.deep.include({ promisc: true, allmulti: false });
      expect(s.netControl!.macTable!.multicast).to.have.length(3);
      expect(s.aliases.map((a) => a.name)).to.deep.equal(['0000:00:02.0/virtio-net', '0000:00:02.0']);
      // through the wire form and back: the whole control state travels in snapshots
      expect(stateToWire(s).netControl!.vlans!.ids).to.deep.equal([42]);
      const after = play([...snap, ev({ kind: 'resetRequested', scope: 'device-reset', queue: 0 })]);
      expect(netControlToJson(after.netControl!)).to.deep.include({ mac: null, macTable: null, queuePairs: null, announceAcks: 0 });
      expect(after.netControl!.vlans).to.deep.equal({ ids: [], complete: false });
    });

    it('a legacy device: multi-byte payloads unknown until the guest byte order is given', () => {
      const legacy = { ...modern, body: { ...(modern.body as object), transport: 'pci-legacy' } } as NewEvent;
      const s = play([legacy, control(cmd(4, 0, [0, 2]))]);
      expect(s.netControl!.queuePairs).to.equal(null);
    });
  });
});

describe('net control-command counts: 0 only where the source records the commands', function () {
  this.timeout(60_000);

  it('a QEMU trace (no control-command payloads) leaves the counts unknown after the reset it shows, on every net device of the net captures', async function () {
    let nics = 0;
    for (const capture of ['pc-modern-net-blk', 'pc-net-mq', 'qemu10-pc-net-mq']) {
      const store = new MemoryEventStore();
      await importQemuTrace(store, `streams/qemu/${capture}/trace.log.gz`);
      const projector = new Projector(store);
      for (const s of await store.streams()) {
        const state = await projector.stateAt(s.stream);
        if (state.type !== 'net') continue;
        nics++;
        expect(state.netControl, `${capture} ${s.stream}`).to.not.equal(null);
        const { announceAcks, rejected, other } = state.netControl!;
        expect({ announceAcks, rejected, other }, `${capture} ${s.stream}`).to.deep.equal({ announceAcks: null, rejected: null, other: null });
      }
    }
    expect(nics).to.equal(4);
  });

  it('a recorder that sees every command (the simulation) counts from 0 after a reset', function () {
    let s = initialState('sim');
    for (const { event } of netLifecycle({ trafficRounds: 2 })) s = applyInPlace(s, { ...event, revision: s.revision + 1 });
    expect(s.netControl?.announceAcks).to.be.a('number');
    expect(s.netControl?.rejected).to.equal(0);
  });
});
