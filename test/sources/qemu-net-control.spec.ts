// virtio-net control-queue state from the committed QEMU device-state captures (QEMU's saved result of the
// guest's control commands), checked against what the Linux guest is known to program: no promiscuous or
// all-multicast mode, the IPv6 all-nodes and IPv4 all-hosts groups and the solicited-node group of its own
// link-local address (33:33:ff + the MAC's last three bytes), no VLAN, one queue pair.
import { expect } from 'chai';
import { netControlToJson } from '../../src/project/net-control.js';
import { parseQemuStream } from '../../src/sources/qemu-savevm.js';
import { netControlFromQemu } from '../../src/sources/qemu-state/net-control.js';
import type { NetDevicePart } from '../../src/sources/qemu-state/virtio.js';
import { captureBytes } from './qemu-savevm-fixtures.js';

const VARIANTS = ['pc-modern-net-blk', 'pc-legacy-msix', 'pc-legacy-intx', 'pc-packed', 'microvm-mmio-legacy', 'microvm-mmio-modern'];

describe('net control-queue state from QEMU device-state streams', () => {
  for (const v of VARIANTS) {
    it(`${v}: rx mode, MAC filter, VLANs, queue pairs as the guest set them`, () => {
      const nets = parseQemuStream(captureBytes(v)).devices.filter((d) => d.device.kind === 'net');
      expect(nets).to.have.length(2);
      for (const d of nets) {
        const part = d.device as NetDevicePart;
        const j = netControlToJson(netControlFromQemu(part));
        const mac = j['mac'] as string;
        expect(mac).to.match(/^52:54:00:de:0e:0[12]$/);
        expect(j['rxMode']).to.deep.equal({ promisc: false, allmulti: false, alluni: false, nomulti: false, nouni: false, nobcast: false });
        expect(j['macTable']).to.deep.equal({
          unicast: [], multicast: ['33:33:00:00:00:01', '01:00:5e:00:00:01', `33:33:ff:${mac.slice(9)}`], unicastOverflow: false, multicastOverflow: false,
        });
        expect(j['vlans']).to.deep.equal({ ids: [], complete: true });
        expect(j['queuePairs']).to.equal(1);
        // counts of commands are not in the stream: unknown, not 0
        expect([j['announceAcks'], j['rejected'], j['other']]).to.deep.equal([null, null, null]);
      }
    });
  }

  it('the VLAN bitmap, MAC table overflow and RSS are read as QEMU keeps them', () => {
    const part = parseQemuStream(captureBytes('pc-modern-net-blk')).devices.find((d) => d.device.kind === 'net')!.device as NetDevicePart;
    const vlans = new Uint8Array(512);
    vlans[0] = 0b10; // VLAN 1
    vlans[100 >> 3] |= 1 << (100 & 7);
    vlans[511] = 0x80; // VLAN 4095
    const s = netControlFromQemu({ ...part, vlans, uniOverflow: 1, rss: { enabled: true, redirect: true, populateHash: false, hashTypes: 0x3f, defaultQueue: 0, key: Uint8Array.of(1, 2), indirectionTable: [0, 1] } });
    expect(s.vlans).to.deep.equal({ ids: [1, 100, 4095], complete: true });
    // unicast overflowed: QEMU holds none of them and receives every unicast frame; the multicast entries stay
    expect(s.macTable).to.deep.equal({ unicast: [], multicast: ['33:33:00:00:00:01', '01:00:5e:00:00:01', `33:33:ff:${s.mac!.slice(9)}`], unicastOverflow: true, multicastOverflow: false });
    const tooLong = netControlFromQemu({ ...part, macTable: { inUse: 65, fits: false, macs: new Uint8Array(65 * 6) } });
    expect(tooLong.macTable).to.deep.equal({ unicast: [], multicast: [], unicastOverflow: true, multicastOverflow: true });
    expect(s.rss).to.deep.equal({ hashTypes: 0x3f, indirectionTable: [0, 1], unclassifiedQueue: 0, maxTxVq: null, key: '0102' });
  });
});
