// virtio-net control-queue state kept whole: every command folded into the current receive mode, MAC filter
// tables, VLAN filter, queue pairs, RSS / hash configuration and guest offloads (virtio 1.3 5.1.6.5), instead of
// only the latest command per (class, command). Device reset clears it.
//
// Known or unknown: an item no command (or other source) has set since reset is null. A command the device
// acknowledged VIRTIO_NET_OK is applied; VIRTIO_NET_ERR leaves the item as it was (counted in `rejected`); a
// command whose ack was not recorded, or whose payload does not parse, makes its item unknown (null), because
// the device may or may not have applied it.
import { NET_CTRL_ACK, NET_MAX_VLAN, NET_RX_MODES, netCtrlCommand } from '../model/net-control.js';
import type { ControlCommandFields } from '../events/types.js';
import type { ByteOrder } from './device-config.js';
import type { NetControlState, NetHashConfig, NetRssConfig } from './generated/state-types.js';

export type { NetControlState, NetHashConfig, NetMacTable, NetRssConfig, NetRxModeState, NetVlanSet } from './generated/state-types.js';

/**
 * Nothing known yet. `countsKnown`: the counts since reset start at 0 (a reset was seen); before that they are
 * unknown, as is every item.
 */
export function initialNetControl(countsKnown = true): NetControlState {
  const n = countsKnown ? 0 : null;
  return {
    rxMode: { promisc: null, allmulti: null, alluni: null, nomulti: null, nouni: null, nobcast: null },
    mac: null, macTable: null, vlans: { ids: [], complete: false }, queuePairs: null, rss: null, hash: null,
    guestOffloads: null, announceAcks: n, rejected: n, other: n,
  };
}

export function cloneNetControl(s: NetControlState): NetControlState {
  return {
    ...s,
    rxMode: { ...s.rxMode },
    macTable: s.macTable ? { ...s.macTable, unicast: [...s.macTable.unicast], multicast: [...s.macTable.multicast] } : null,
    vlans: { ids: [...s.vlans.ids], complete: s.vlans.complete },
    rss: s.rss ? { ...s.rss, indirectionTable: [...s.rss.indirectionTable] } : null,
    hash: s.hash ? { ...s.hash } : null,
  };
}

export function macText(b: Uint8Array): string {
  return [...b].map((x) => x.toString(16).padStart(2, '0')).join(':');
}

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');

/** Payload reader; `undefined` from any read means the payload is short or its byte order is not known. */
class Payload {
  private pos = 0;
  constructor(private readonly d: Uint8Array, private readonly order: ByteOrder | null) {}
  get left(): number {
    return this.d.length - this.pos;
  }
  u8(): number | undefined {
    return this.pos < this.d.length ? this.d[this.pos++] : undefined;
  }
  uint(width: 2 | 4 | 8): bigint | undefined {
    if (this.order === null || this.left < width) return undefined;
    let v = 0n;
    for (let i = 0; i < width; i++) {
      const b = BigInt(this.d[this.order === 'little' ? this.pos + width - 1 - i : this.pos + i]!);
      v = (v << 8n) | b;
    }
    this.pos += width;
    return v;
  }
  n(width: 2 | 4): number | undefined {
    const v = this.uint(width);
    return v === undefined ? undefined : Number(v);
  }
  bytes(n: number): Uint8Array | undefined {
    if (this.left < n) return undefined;
    const out = this.d.subarray(this.pos, this.pos + n);
    this.pos += n;
    return out;
  }
}

function macList(p: Payload): string[] | undefined {
  const n = p.n(4);
  if (n === undefined || n > p.left / 6) return undefined;
  const out: string[] = [];
  for (let i = 0; i < n; i++) out.push(macText(p.bytes(6)!));
  return out;
}

function rssConfig(p: Payload): NetRssConfig | undefined {
  const hashTypes = p.n(4);
  const mask = p.n(2);
  const unclassifiedQueue = p.n(2);
  if (hashTypes === undefined || mask === undefined || unclassifiedQueue === undefined) return undefined;
  const indirectionTable: number[] = [];
  for (let i = 0; i <= mask; i++) {
    const q = p.n(2);
    if (q === undefined) return undefined;
    indirectionTable.push(q);
  }
  const maxTxVq = p.n(2);
  const keyLen = p.u8();
  if (maxTxVq === undefined || keyLen === undefined) return undefined;
  const key = p.bytes(keyLen);
  return key ? { hashTypes, indirectionTable, unclassifiedQueue, maxTxVq, key: hex(key) } : undefined;
}

function hashConfig(p: Payload): NetHashConfig | undefined {
  const hashTypes = p.n(4);
  if (hashTypes === undefined || !p.bytes(8)) return undefined; // le16 reserved[4]
  const keyLen = p.u8();
  const key = keyLen === undefined ? undefined : p.bytes(keyLen);
  return key ? { hashTypes, key: hex(key) } : undefined;
}

/**
 * Folds one control command into the state (in place). `byteOrder`: little for a modern device, the guest's for a
 * legacy one (null when not known: multi-byte payloads then leave their item unknown).
 */
export function applyNetControl(s: NetControlState, c: ControlCommandFields, byteOrder: ByteOrder | null): void {
  const spec = netCtrlCommand(c.class, c.command);
  if (!spec || spec.payload === 'opaque') {
    if (s.other !== null) s.other++;
    return;
  }
  if (c.ack === NET_CTRL_ACK.ERR) {
    if (s.rejected !== null) s.rejected++;
    return;
  }
  const applied = c.ack === NET_CTRL_ACK.OK;
  const p = new Payload(c.data, byteOrder);
  switch (spec.payload) {
    case 'onoff': {
      const mode = NET_RX_MODES[c.command]!;
      const v = p.u8();
      s.rxMode[mode] = applied && v !== undefined ? v !== 0 : null;
      return;
    }
    case 'mac-tables': {
      const unicast = macList(p);
      const multicast = unicast ? macList(p) : undefined;
      // the command gives what the driver asked for; whether the device had room for it is its own affair
      s.macTable = applied && unicast && multicast ? { unicast, multicast, unicastOverflow: null, multicastOverflow: null } : null;
      return;
    }
    case 'mac': {
      const m = p.bytes(6);
      s.mac = applied && m ? macText(m) : null;
      return;
    }
    case 'vlan': {
      const id = p.n(2);
      const ids = new Set(s.vlans.ids);
      if (applied && id !== undefined && id < NET_MAX_VLAN) {
        if (c.command === 0) ids.add(id);
        else ids.delete(id);
        s.vlans = { ids: [...ids].sort((a, b) => a - b), complete: s.vlans.complete };
      } else {
        // which VLAN changed, or whether it did, is not known: the table is no longer known whole
        if (id !== undefined) ids.delete(id);
        s.vlans = { ids: [...ids].sort((a, b) => a - b), complete: false };
      }
      return;
    }
    case 'none':
      if (applied && s.announceAcks !== null) s.announceAcks++;
      return;
    case 'vq-pairs': {
      const n = p.n(2);
      s.queuePairs = applied && n !== undefined ? n : null;
      return;
    }
    case 'rss': {
      const r = rssConfig(p);
      s.rss = applied && r ? r : null;
      return;
    }
    case 'hash': {
      const h = hashConfig(p);
      s.hash = applied && h ? h : null;
      return;
    }
    case 'offloads': {
      const v = p.uint(8);
      s.guestOffloads = applied && v !== undefined ? v : null;
      return;
    }
  }
}

/** The JSON form (`state --json` netControl). */
export function netControlToJson(s: NetControlState): Record<string, unknown> {
  return {
    rxMode: { ...s.rxMode },
    mac: s.mac,
    macTable: s.macTable
      ? { unicast: [...s.macTable.unicast], multicast: [...s.macTable.multicast], unicastOverflow: s.macTable.unicastOverflow, multicastOverflow: s.macTable.multicastOverflow }
      : null,
    vlans: { ids: [...s.vlans.ids], complete: s.vlans.complete },
    queuePairs: s.queuePairs,
    rss: s.rss ? { ...s.rss, indirectionTable: [...s.rss.indirectionTable] } : null,
    hash: s.hash ? { ...s.hash } : null,
    guestOffloads: s.guestOffloads === null ? null : '0x' + s.guestOffloads.toString(16),
    announceAcks: s.announceAcks,
    rejected: s.rejected,
    other: s.other,
  };
}

/** Text lines for `devrec state`. */
export function netControlText(s: NetControlState): string[] {
  const b = (v: boolean | null) => (v === null ? '?' : v ? 'on' : 'off');
  const out = [`rx mode ${NET_RX_MODES.map((m) => `${m} ${b(s.rxMode[m])}`).join(', ')}`];
  const over = (v: boolean | null) => (v === null ? '' : v ? ' (overflow: receives all)' : '');
  const t = s.macTable;
  out.push(`mac ${s.mac ?? '?'}; filter ${t ? `unicast [${t.unicast.join(' ')}]${over(t.unicastOverflow)} multicast [${t.multicast.join(' ')}]${over(t.multicastOverflow)}` : '?'}`);
  out.push(`vlans [${s.vlans.ids.join(' ')}]${s.vlans.complete ? '' : ' (others not known)'}; queue pairs ${s.queuePairs ?? '?'}; guest offloads ${s.guestOffloads === null ? '?' : '0x' + s.guestOffloads.toString(16)}`);
  if (s.rss) out.push(`rss hash types 0x${s.rss.hashTypes.toString(16)}, ${s.rss.indirectionTable.length} table entries, unclassified ${s.rss.unclassifiedQueue}, max tx vq ${s.rss.maxTxVq ?? '?'}, key ${s.rss.key}`);
  if (s.hash) out.push(`hash types 0x${s.hash.hashTypes.toString(16)}, key ${s.hash.key}`);
  if (s.announceAcks || s.rejected || s.other) out.push(`announce acks ${s.announceAcks ?? '?'}, refused ${s.rejected ?? '?'}, other ${s.other ?? '?'}`);
  return out;
}

/**
 * The control state of a projected device, from what the v1 state keeps (the latest command per class/command, in
 * first-seen order). Every item but the VLAN filter is a "latest value wins" item, so this is exact for them; the
 * VLAN filter needs every ADD/DEL in order, which that list does not keep: it is reported incomplete.
 */
export function netControlOf(control: readonly ControlCommandFields[], byteOrder: ByteOrder | null): NetControlState {
  const s = initialNetControl();
  for (const c of control) {
    if (c.class === 2) continue; // VLAN: handled below
    applyNetControl(s, c, byteOrder);
  }
  s.vlans = { ids: [], complete: false };
  return s;
}

/**
 * The control state a view shows: the state's own (`netControl`, folded by the reducer or imported whole); a log
 * written before it existed has only the latest command per class/command (`control`), folded here. The reducer
 * folds a legacy device's multi-byte payloads with no byte order (unknown): given the guest's byte order, the
 * items it left unknown are filled from those commands.
 */
export function netControlShown(
  s: { netControl: NetControlState | null; control: readonly ControlCommandFields[] },
  byteOrder: ByteOrder | null,
  legacy: boolean,
): NetControlState {
  if (!s.netControl) return netControlOf(s.control, byteOrder);
  if (!legacy || byteOrder === null || s.control.length === 0) return s.netControl;
  const v = cloneNetControl(s.netControl);
  const o = netControlOf(s.control, byteOrder);
  v.mac ??= o.mac;
  v.macTable ??= o.macTable;
  v.queuePairs ??= o.queuePairs;
  v.rss ??= o.rss;
  v.hash ??= o.hash;
  v.guestOffloads ??= o.guestOffloads;
  return v;
}
