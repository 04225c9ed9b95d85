// QEMU's query-rx-filter answer for a NIC (hw/net/virtio-net.c virtio_net_query_rxfilter) against devrec's
// netControl of the same device at the same moment. QEMU builds its lists by prepending (reverse order): compared
// as sets. Its `broadcast-allowed` is QEMU's nobcast flag as it is (not its negation), so it is compared with
// nobcast.
import { expect } from 'chai';

export interface RxFilter {
  name: string; promiscuous: boolean; multicast: 'normal' | 'none' | 'all'; unicast: 'normal' | 'none' | 'all'; vlan: 'normal' | 'none' | 'all';
  'broadcast-allowed': boolean; 'multicast-overflow': boolean; 'unicast-overflow': boolean; 'main-mac': string;
  'vlan-table': number[]; 'unicast-table': string[]; 'multicast-table': string[];
}

interface NetControlJson {
  rxMode: Record<'promisc' | 'allmulti' | 'alluni' | 'nomulti' | 'nouni' | 'nobcast', boolean | null>;
  mac: string | null;
  macTable: { unicast: string[]; multicast: string[]; unicastOverflow: boolean | null; multicastOverflow: boolean | null } | null;
  vlans: { ids: number[]; complete: boolean };
}

const mode = (none: boolean | null, all: boolean | null): string => (none ? 'none' : all ? 'all' : 'normal');
const sorted = <T>(xs: readonly T[]): T[] => [...xs].sort();

export function expectMatchesRxFilter(n: NetControlJson, q: RxFilter, where: string): void {
  expect(n.rxMode.promisc, `${where} promiscuous`).to.equal(q.promiscuous);
  expect(mode(n.rxMode.nouni, n.rxMode.alluni), `${where} unicast`).to.equal(q.unicast);
  expect(mode(n.rxMode.nomulti, n.rxMode.allmulti), `${where} multicast`).to.equal(q.multicast);
  expect(n.rxMode.nobcast, `${where} broadcast-allowed (QEMU reports nobcast)`).to.equal(q['broadcast-allowed']);
  expect(n.mac, `${where} main-mac`).to.equal(q['main-mac'].toLowerCase());
  expect(n.macTable, `${where} MAC table`).to.not.equal(null);
  expect(n.macTable!.unicastOverflow, `${where} unicast-overflow`).to.equal(q['unicast-overflow']);
  expect(n.macTable!.multicastOverflow, `${where} multicast-overflow`).to.equal(q['multicast-overflow']);
  expect(sorted(n.macTable!.unicast), `${where} unicast-table`).to.deep.equal(sorted(q['unicast-table'].map((m) => m.toLowerCase())));
  expect(sorted(n.macTable!.multicast), `${where} multicast-table`).to.deep.equal(sorted(q['multicast-table'].map((m) => m.toLowerCase())));
  // QEMU lists every bit of its VLAN bitmap (all 4096 when CTRL_VLAN is off and the bitmap is all ones)
  expect(n.vlans.ids, `${where} vlan-table`).to.deep.equal([...q['vlan-table']].sort((a, b) => a - b));
  expect(n.vlans.complete).to.equal(true);
}
