// Domain event types: the TypeScript face of proto/devrec/v1/events.proto.
// Field names are the proto fields in camelCase; enums are kebab-case strings; 64-bit values are bigint
// except stream positions and register offsets, which are plain numbers. Optional fields (`?`) are the
// proto3 `optional` fields whose presence means "this changed".
import type { DeviceStateWire } from '../project/generated/state-types.js';

export type Actor = 'unspecified' | 'guest-driver' | 'vmm' | 'management-tool' | 'host-kernel' | 'device' | 'recorder';
export type AccessPath =
  | 'unspecified' | 'io-bar' | 'mmio' | 'admin-cmd' | 'pci-config' | 'vhost-ioctl' | 'netlink' | 'vfio-ioctl' | 'internal';
export type Source =
  | 'unspecified' | 'api' | 'ndjson' | 'qemu-trace' | 'qemu-state' | 'migration-stream' | 'simulation' | 'kprobe-trace'
  | 'qemu-migration' | 'qmp' | 'vdpa' | 'vfio';
export type Transport = 'unspecified' | 'pci-modern' | 'pci-legacy' | 'mmio-modern' | 'mmio-legacy' | 'vdpa' | 'vfio';
export type Direction = 'unspecified' | 'read' | 'write';
export type Region =
  | 'unspecified' | 'common-cfg' | 'device-cfg' | 'isr' | 'notify' | 'legacy-io' | 'mmio-regs' | 'pci-cfg-space'
  | 'msix-table' | 'msix-pba' | 'admin-legacy-common' | 'admin-legacy-device';
export type ResetScope = 'unspecified' | 'device-reset' | 'queue-reset';
export type VfioState =
  | 'error' | 'stop' | 'running' | 'stop-copy' | 'resuming' | 'running-p2p' | 'pre-copy' | 'pre-copy-p2p';
export type Severity = 'unspecified' | 'info' | 'warning' | 'error';

export interface AdminCommand {
  opcode: number; groupType: number; memberId: bigint; status: number; statusQualifier: number; completed: boolean;
}

export interface RegisterAccess {
  kind: 'registerAccess';
  transport: Transport; region: Region; bar: number; offset: number; width: number; direction: Direction;
  value: bigint; msixEnabled: boolean; selectedQueue?: number; admin?: AdminCommand; data: Uint8Array;
  anomalies: string[];
  /** a read whose value the source could not see (`value` is then 0 and means nothing) */
  valueUnseen: boolean;
}
export interface DeviceFeaturesOffered { kind: 'deviceFeatures'; select?: number; value: bigint; highWords: bigint[] }
export interface ParentFeatures { kind: 'parentFeatures'; mgmtdev: string; value: bigint; maxVqp: number }
export interface ProvisionedAttributes {
  mgmtdev: string; name: string;
  deviceFeatures: bigint; deviceFeaturesGiven: boolean;
  mac: Uint8Array; macGiven: boolean;
  mtu: number; mtuGiven: boolean;
  maxVqp: number; maxVqpGiven: boolean;
}
export interface DeviceProvisioned extends ProvisionedAttributes { kind: 'provisioned' }
export interface DriverFeaturesWritten { kind: 'driverFeatures'; select?: number; value: bigint; highWords: bigint[] }
export interface FeaturesNegotiated { kind: 'featuresNegotiated'; accepted: boolean; features: bigint; highWords: bigint[] }
export interface StatusWritten { kind: 'statusWritten'; status: number }
export interface StatusRead { kind: 'statusRead'; status: number }
export interface ResetRequested { kind: 'resetRequested'; scope: ResetScope; queue: number }
export interface ResetCompleted { kind: 'resetCompleted'; scope: ResetScope; queue: number }
export interface QueueSelected { kind: 'queueSelected'; index: number }
export interface QueueConfigured {
  kind: 'queueConfigured'; index: number;
  size?: number; desc?: bigint; driver?: bigint; device?: bigint; pfn?: number; align?: number; enabled?: boolean;
  msixVector?: number; notifyOff?: number; maxSize?: number; guestPageSize?: number;
}
export interface VqIndexChanged {
  kind: 'vqIndex'; index: number;
  lastAvailIdx?: number; usedIdx?: number; availWrap?: boolean; usedWrap?: boolean;
  availDelta?: number; usedDelta?: number; availIdx?: number;
  /** the source stops seeing this ring's progress: its indices become unknown */
  indicesUnseen?: boolean;
}
export interface ConfigWritten { kind: 'configWritten'; offset: number; data: Uint8Array }
export interface ConfigRead { kind: 'configRead'; offset: number; data: Uint8Array }
export interface MsixChanged { kind: 'msix'; enabled?: boolean; functionMask?: boolean; configVector?: number; tableSize?: number }
export interface PciConfigWritten { kind: 'pciConfigWritten'; offset: number; width: number; value: number }
export interface ControlCommandFields { class: number; command: number; data: Uint8Array; ack?: number }
export interface ControlCommand extends ControlCommandFields { kind: 'controlCommand' }
export interface VfioStateChanged { kind: 'vfioState'; from: VfioState; to: VfioState }
/** What kind of name a device alias is (devrec.v1.AliasKind). */
export type AliasKind = 'unspecified' | 'qdev-id' | 'qom-path' | 'savevm-idstr' | 'qemu-path';
/** Another name a source knows the device by; every alias works as a device ID. */
export interface DeviceAlias { kind: AliasKind; name: string }
/** What a source tells about a device; a number it did not tell is absent (unknown), never 0. */
export interface DeviceIdentity {
  type: string; virtioId?: number; transport: Transport; numQueues?: number; configSize?: number;
  pciVendor?: number; pciDevice?: number; pciSubsystemVendor?: number; pciSubsystem?: number; pciRevision?: number;
  backend: string;
  /** QEMU's qdev id, QOM path, savevm idstr, topological path... (empty when the source has none) */
  aliases: DeviceAlias[];
}
export interface DeviceIdentified extends DeviceIdentity { kind: 'identified' }

/** Wire form of a whole device state, schema v1: read from older logs only (src/project/state-v1.ts). */
export interface WireQueueStateV1 {
  index: number; size: number; maxSize: number; enabled: boolean; desc: bigint; driver: bigint; device: bigint;
  pfn: number; align: number; msixVector: number; notifyOff: number; lastAvailIdx: number; usedIdx: number;
  availWrap: boolean; usedWrap: boolean; resetPending: boolean; availIdx: number;
}
export interface WireDeviceStateV1 {
  device: string; type: string; virtioId: number; transport: Transport; revision: number; timestampNs: bigint;
  status: number; deviceFeatures: bigint[]; driverFeatures: bigint[]; acceptedFeatures: bigint[]; acceptedVia: string;
  parentFeatures: bigint[]; hasParentFeatures: boolean; provisioned?: ProvisionedAttributes; hasProvisioned: boolean;
  deviceFeatureSelect: number; driverFeatureSelect: number; queueSelect: number; queues: WireQueueStateV1[];
  config: Uint8Array; msixEnabled: boolean; msixFunctionMask: boolean; msixConfigVector: number; msixTableSize: number;
  configGeneration: number; resetPending: boolean; vfioState: VfioState; hasVfioState: boolean; numQueues: number;
  guestPageSize: number; pciVendor: number; pciDevice: number; pciSubsystemVendor: number; pciSubsystem: number;
  pciRevision: number; pciConfig: Uint8Array; control: ControlCommandFields[]; eventCount: number; isr: number; negotiation: string;
  backend: string;
}
/** A whole device state: `stateV2` (schema v2) from current writers, `state` (schema v1) in older logs. */
export interface Snapshot { kind: 'snapshot'; state?: WireDeviceStateV1; stateV2?: DeviceStateWire }
export interface Annotation { kind: 'annotation'; severity: Severity; code: string; message: string }

export type EventBody =
  | RegisterAccess | DeviceFeaturesOffered | ParentFeatures | DeviceProvisioned | DriverFeaturesWritten
  | FeaturesNegotiated | StatusWritten | StatusRead | ResetRequested | ResetCompleted | QueueSelected
  | QueueConfigured | VqIndexChanged | ConfigWritten | ConfigRead | MsixChanged | PciConfigWritten
  | ControlCommand | VfioStateChanged | Snapshot | Annotation | DeviceIdentified;

export type EventKind = EventBody['kind'];

/** What a producer hands to the recorder or the store: no revision yet. */
export interface NewEvent {
  timestampNs: bigint;
  actor: Actor;
  path: AccessPath;
  source: Source;
  body: EventBody;
}

/** An event as stored: revision is its 0-based position in the device stream. */
export interface DeviceEvent extends NewEvent {
  revision: number;
}

/** A stored event with its stream and global position (the embedded log's sequence). */
export interface StoredEvent {
  stream: string;
  revision: number;
  position: number;
  event: DeviceEvent;
}

export type BodyOf<K extends EventKind> = Extract<EventBody, { kind: K }>;
