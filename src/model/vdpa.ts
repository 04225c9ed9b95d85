// vDPA facts: the `vdpa dev add` attributes and their netlink ids (include/uapi/linux/vdpa.h), what each
// management device (parent driver) lets a user provision, the vdpa_config_ops a recorder can see, and the
// kernel's answers to a `vdpa dev add` (drivers/vdpa/vdpa.c vdpa_nl_cmd_dev_add_set_doit).

import { featureBitNumber } from './features.js';

/** A `vdpa dev add` attribute: its keyword, netlink attribute id, and the feature bit it needs (net only). */
export interface VdpaAttribute {
  readonly keyword: 'mac' | 'mtu' | 'max_vqp' | 'device_features';
  readonly field: 'mac' | 'mtu' | 'maxVqp' | 'deviceFeatures';
  /** enum vdpa_attr value; the kernel reports refused attributes as the mask of 1 << id */
  readonly attrId: number;
  readonly attrName: string;
  /** the device-type feature bit the attribute needs in provisioned device_features (virtio 1.3 5.1.3) */
  readonly featureBit?: number;
  readonly netOnly: boolean;
}

export const VDPA_ATTRIBUTES: readonly VdpaAttribute[] = [
  { keyword: 'mac', field: 'mac', attrId: 10, attrName: 'VDPA_ATTR_DEV_NET_CFG_MACADDR', featureBit: featureBitNumber('VIRTIO_NET_F_MAC'), netOnly: true },
  { keyword: 'max_vqp', field: 'maxVqp', attrId: 12, attrName: 'VDPA_ATTR_DEV_NET_CFG_MAX_VQP', featureBit: featureBitNumber('VIRTIO_NET_F_MQ'), netOnly: true },
  { keyword: 'mtu', field: 'mtu', attrId: 13, attrName: 'VDPA_ATTR_DEV_NET_CFG_MTU', featureBit: featureBitNumber('VIRTIO_NET_F_MTU'), netOnly: true },
  { keyword: 'device_features', field: 'deviceFeatures', attrId: 20, attrName: 'VDPA_ATTR_DEV_FEATURES', netOnly: false },
];

/**
 * The feature bits the given attributes need and the given device_features lack (the kernel's "Missing features"
 * check; max_vqp needs VIRTIO_NET_F_MQ only above 1 pair). 0 when device_features was not given.
 */
export function missingAttributeFeatures(p: { deviceFeatures: bigint; deviceFeaturesGiven: boolean; macGiven: boolean; mtuGiven: boolean; maxVqpGiven: boolean; maxVqp: number }): bigint {
  if (!p.deviceFeaturesGiven) return 0n;
  let missing = 0n;
  for (const a of VDPA_ATTRIBUTES) {
    if (a.featureBit === undefined) continue;
    const given = a.field === 'mac' ? p.macGiven : a.field === 'mtu' ? p.mtuGiven : p.maxVqpGiven && p.maxVqp > 1;
    const bit = 1n << BigInt(a.featureBit);
    if (given && !(p.deviceFeatures & bit)) missing |= bit;
  }
  return missing;
}

export function attributeMask(attrs: readonly VdpaAttribute[]): bigint {
  return attrs.reduce((m, a) => m | (1n << BigInt(a.attrId)), 0n);
}

/**
 * What a parent (management device) accepts at `vdpa dev add`: its config_attr_mask, which `vdpa mgmtdev show`
 * does not print. Only parents whose mask was measured are listed; for any other the mask is unknown.
 */
export interface VdpaParentFacts {
  readonly mgmtdev: string;
  /** the parent's vdpa_config_ops function prefix (kprobe symbols: `${prefix}${op}`) */
  readonly opsPrefix: string;
  readonly configAttrMask: bigint;
  /**
   * true when `mgmtdev show` dev_features bound nothing: the parent's devices bring their own features (a VDUSE
   * device's come from user space at VDUSE_CREATE_DEV; the management device reports 0)
   */
  readonly featuresFromDevice: boolean;
  readonly source: string;
}

export const VDPA_PARENTS: readonly VdpaParentFacts[] = [
  {
    mgmtdev: 'vduse', opsPrefix: 'vduse_vdpa_', configAttrMask: 0n, featuresFromDevice: true,
    source: 'Linux 6.12 drivers/vdpa/vdpa_user/vduse_dev.c vduse_mgmtdev_init sets no config_attr_mask; measured: mac, mtu, max_vqp and device_features are each refused',
  },
];

export function vdpaParent(mgmtdev: string): VdpaParentFacts | undefined {
  return VDPA_PARENTS.find((p) => p.mgmtdev === mgmtdev);
}

/** The vdpa_config_ops the recorder probes, by name; `state` says what the reducer can learn from it. */
export type VdpaOpMeaning =
  | 'reset' | 'status-read' | 'status-write' | 'device-features' | 'driver-features-write' | 'driver-features-read'
  | 'vq-num-max' | 'vq-num' | 'vq-address' | 'vq-state-write' | 'vq-state-read' | 'vq-ready-write' | 'vq-ready-read'
  | 'vq-kick' | 'config-read' | 'config-write' | 'suspend' | 'resume';

export const VDPA_OPS: Readonly<Record<string, VdpaOpMeaning>> = {
  reset: 'reset', get_status: 'status-read', set_status: 'status-write', get_device_features: 'device-features',
  set_driver_features: 'driver-features-write', get_driver_features: 'driver-features-read', get_vq_num_max: 'vq-num-max',
  set_vq_num: 'vq-num', set_vq_address: 'vq-address', set_vq_state: 'vq-state-write', get_vq_state: 'vq-state-read',
  set_vq_ready: 'vq-ready-write', get_vq_ready: 'vq-ready-read', kick_vq: 'vq-kick', get_config: 'config-read',
  set_config: 'config-write', suspend: 'suspend', resume: 'resume',
};

/**
 * Callers that are the management side, not the device's driver: the vdpa netlink handlers that fill
 * `vdpa dev show` / `dev config show` answers, and sysfs attribute reads (drivers/vdpa/vdpa.c, drivers/virtio/virtio.c).
 */
export const VDPA_MANAGEMENT_CALLERS: readonly string[] = [
  'vdpa_dev_fill', 'vdpa_dev_config_fill', 'vdpa_dev_blk_config_fill', 'vdpa_dev_net_config_fill',
  'vdpa_dev_vendor_stats_fill', 'vdpa_fill_stats_rec', 'status_show', 'features_show',
];

/** `vdpa dev show` type names and `mgmtdev show` class names -> virtio device type names (src/model/device-types.ts). */
export const VDPA_CLASS_TYPES: Readonly<Record<string, string>> = { network: 'net', net: 'net', block: 'blk' };

/**
 * iproute2's `vdpa` prints feature names as the kernel's macros without their prefix (CSUM, VERSION_1,
 * RING_INDIRECT_DESC for VIRTIO_RING_F_INDIRECT_DESC); these prefixes, tried in order, give devrec's catalog names.
 */
export const VDPA_TOOL_RING_PREFIX = { printed: 'RING_', catalog: 'VIRTIO_RING_F_' } as const;
export const VDPA_TOOL_FEATURE_PREFIXES: Readonly<Record<string, readonly string[]>> = {
  net: ['VIRTIO_NET_F_', 'VIRTIO_F_', 'VIRTIO_'],
  blk: ['VIRTIO_BLK_F_', 'VIRTIO_F_', 'VIRTIO_'],
  '': ['VIRTIO_F_', 'VIRTIO_'],
};

/** The kernel's answers to `vdpa dev add` that devrec predicts: message (netlink extack) and errno text. */
export const VDPA_ADD_REFUSALS = {
  noQueuePairs: {
    message: () => 'vdpa: At least one pair of VQs is required.',
    errno: 'Invalid argument',
    source: 'drivers/vdpa/vdpa.c vdpa_nl_cmd_dev_add_set_doit: max_vqp 0 (-EINVAL), checked before the management device',
  },
  missingFeatures: {
    message: (mask: bigint) => `vdpa: Missing features 0x${mask.toString(16)} for provided attributes.`,
    errno: 'Invalid argument',
    source: 'drivers/vdpa/vdpa.c vdpa_nl_cmd_dev_add_set_doit (kernel commit "vdpa: validate provisioned device features against specified attribute"): mac needs VIRTIO_NET_F_MAC, mtu VIRTIO_NET_F_MTU, max_vqp > 1 VIRTIO_NET_F_MQ in the given device_features (-EINVAL), checked before the management device',
  },
  attributesNotSupported: {
    message: (mask: bigint) => `vdpa: Some provided attributes are not supported: 0x${mask.toString(16)}.`,
    errno: 'Operation not supported',
    source: 'drivers/vdpa/vdpa.c vdpa_nl_cmd_dev_add_set_doit: attributes outside the parent\'s config_attr_mask (-EOPNOTSUPP)',
  },
  noMgmtdev: {
    message: () => 'vdpa: Fail to find the specified management device.',
    errno: 'No such device',
    source: 'drivers/vdpa/vdpa.c vdpa_mgmtdev_get_from_attr (-ENODEV)',
  },
  exists: {
    message: () => '',
    errno: 'File exists',
    source: 'drivers/vdpa/vdpa_user/vduse_dev.c vduse_dev_add: the VDUSE device already has a vDPA device (-EEXIST)',
  },
  noVduseDevice: {
    message: () => '',
    errno: 'Invalid argument',
    source: 'drivers/vdpa/vdpa_user/vduse_dev.c vduse_dev_add: no VDUSE device of that name (-EINVAL)',
  },
} as const;
