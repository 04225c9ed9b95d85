// virtio-net control virtqueue commands, as data: class, command, name, payload layout. Source: virtio 1.3
// (csd01) 5.1.6.5 "Control Virtqueue" (struct virtio_net_ctrl: u8 class, u8 command, command-specific data,
// u8 ack). Payload integers are little-endian through the modern interface and in the guest's byte order through
// the legacy one (5.1.6.5 "Legacy Interface: Control Virtqueue").

export const NET_CTRL_ACK = { OK: 0, ERR: 1 } as const;

export type NetCtrlPayload =
  /** u8 on/off */
  | 'onoff'
  /** le32 entries + entries x 6 bytes (unicast), then the same for multicast */
  | 'mac-tables'
  /** 6-byte MAC */
  | 'mac'
  /** le16 VLAN id */
  | 'vlan'
  /** no data */
  | 'none'
  /** le16 virtqueue pairs */
  | 'vq-pairs'
  /** struct virtio_net_rss_config */
  | 'rss'
  /** struct virtio_net_hash_config */
  | 'hash'
  /** le64 offload bits (guest receive offload feature bits) */
  | 'offloads'
  /** a command devrec records but does not fold into the state */
  | 'opaque';

export interface NetCtrlCommand {
  readonly class: number;
  readonly command: number;
  /** spec name, e.g. VIRTIO_NET_CTRL_RX_PROMISC */
  readonly name: string;
  readonly payload: NetCtrlPayload;
  readonly section: string;
}

export const NET_CTRL_COMMANDS: readonly NetCtrlCommand[] = [
  { class: 0, command: 0, name: 'VIRTIO_NET_CTRL_RX_PROMISC', payload: 'onoff', section: '5.1.6.5.1' },
  { class: 0, command: 1, name: 'VIRTIO_NET_CTRL_RX_ALLMULTI', payload: 'onoff', section: '5.1.6.5.1' },
  { class: 0, command: 2, name: 'VIRTIO_NET_CTRL_RX_ALLUNI', payload: 'onoff', section: '5.1.6.5.1' },
  { class: 0, command: 3, name: 'VIRTIO_NET_CTRL_RX_NOMULTI', payload: 'onoff', section: '5.1.6.5.1' },
  { class: 0, command: 4, name: 'VIRTIO_NET_CTRL_RX_NOUNI', payload: 'onoff', section: '5.1.6.5.1' },
  { class: 0, command: 5, name: 'VIRTIO_NET_CTRL_RX_NOBCAST', payload: 'onoff', section: '5.1.6.5.1' },
  { class: 1, command: 0, name: 'VIRTIO_NET_CTRL_MAC_TABLE_SET', payload: 'mac-tables', section: '5.1.6.5.2' },
  { class: 1, command: 1, name: 'VIRTIO_NET_CTRL_MAC_ADDR_SET', payload: 'mac', section: '5.1.6.5.2' },
  { class: 2, command: 0, name: 'VIRTIO_NET_CTRL_VLAN_ADD', payload: 'vlan', section: '5.1.6.5.3' },
  { class: 2, command: 1, name: 'VIRTIO_NET_CTRL_VLAN_DEL', payload: 'vlan', section: '5.1.6.5.3' },
  { class: 3, command: 0, name: 'VIRTIO_NET_CTRL_ANNOUNCE_ACK', payload: 'none', section: '5.1.6.5.4' },
  { class: 4, command: 0, name: 'VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET', payload: 'vq-pairs', section: '5.1.6.5.5' },
  { class: 4, command: 1, name: 'VIRTIO_NET_CTRL_MQ_RSS_CONFIG', payload: 'rss', section: '5.1.6.5.7' },
  { class: 4, command: 2, name: 'VIRTIO_NET_CTRL_MQ_HASH_CONFIG', payload: 'hash', section: '5.1.6.5.6.4' },
  { class: 5, command: 0, name: 'VIRTIO_NET_CTRL_GUEST_OFFLOADS_SET', payload: 'offloads', section: '5.1.6.5.6' },
  { class: 6, command: 0, name: 'VIRTIO_NET_CTRL_NOTF_COAL_TX_SET', payload: 'opaque', section: '5.1.6.5.9' },
  { class: 6, command: 1, name: 'VIRTIO_NET_CTRL_NOTF_COAL_RX_SET', payload: 'opaque', section: '5.1.6.5.9' },
  { class: 6, command: 2, name: 'VIRTIO_NET_CTRL_NOTF_COAL_VQ_SET', payload: 'opaque', section: '5.1.6.5.9' },
  { class: 6, command: 3, name: 'VIRTIO_NET_CTRL_NOTF_COAL_VQ_GET', payload: 'opaque', section: '5.1.6.5.9' },
];

/** The receive-mode flags of class 0, by command number: the state keeps one per flag. */
export const NET_RX_MODES = ['promisc', 'allmulti', 'alluni', 'nomulti', 'nouni', 'nobcast'] as const;
export type NetRxMode = (typeof NET_RX_MODES)[number];

/** VLAN ids are 12 bits (5.1.6.5.3: the device filters by VLAN id; QEMU keeps 4096 bits). */
export const NET_MAX_VLAN = 4096;

const byKey = new Map(NET_CTRL_COMMANDS.map((c) => [c.class * 256 + c.command, c]));

export function netCtrlCommand(cls: number, command: number): NetCtrlCommand | undefined {
  return byKey.get(cls * 256 + command);
}
