// The migration schema (proto/devrec/v1/migration.proto) as message specs for the shared codec, and the schema
// fingerprint: SHA-256 of the canonical JSON of both generated descriptors, so two builds can tell whether they
// speak the same schema without comparing version strings.
import { createHash } from 'node:crypto';
import { eventsDescriptor } from '../events/generated/events-descriptor.js';
import { migrationDescriptor } from '../events/generated/migration-descriptor.js';
import { messageSpecOf, readDescriptor, type MessageSpec } from '../events/schema.js';

// migration.proto imports events.proto, so its descriptor holds both; the events types resolve to the same
// specs as the event codec's (the spec cache is keyed by full name and the definitions are the same file).
const MIGRATION = readDescriptor(migrationDescriptor);

function spec(name: string): MessageSpec {
  return messageSpecOf(MIGRATION, `devrec.v1.${name}`);
}

export const MIGRATION_SPECS = {
  SchemaHeader: spec('SchemaHeader'),
  TransportMode: spec('TransportMode'),
  FeatureNegotiation: spec('FeatureNegotiation'),
  VdpaProvisioning: spec('VdpaProvisioning'),
  VirtqueueStates: spec('VirtqueueStates'),
  ControlAcks: spec('ControlAcks'),
  MsixState: spec('MsixState'),
  PciConfigSpace: spec('PciConfigSpace'),
  DeviceRuntime: spec('DeviceRuntime'),
  DeviceStateV2: spec('DeviceStateV2'),
} as const;

/** JSON with object keys sorted at every level: the same descriptor always gives the same bytes. */
function canonicalJson(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonicalJson).join(',')}]`;
  if (v !== null && typeof v === 'object') {
    const o = v as Record<string, unknown>;
    return `{${Object.keys(o).sort().map((k) => `${JSON.stringify(k)}:${canonicalJson(o[k])}`).join(',')}}`;
  }
  return JSON.stringify(v);
}

/** SHA-256 over `events.proto` descriptor, a newline, `migration.proto` descriptor (canonical JSON each). */
export const SCHEMA_FINGERPRINT: Uint8Array = new Uint8Array(
  createHash('sha256').update(canonicalJson(eventsDescriptor)).update('\n').update(canonicalJson(migrationDescriptor)).digest(),
);

// ---- decoded shapes of the messages (field names as the codec produces them) ----

export interface PciIdentityMsg { vendor?: number; device?: number; subsystemVendor?: number; subsystem?: number; revision?: number }
export interface ProvenanceMsg {
  backend: string; recorder: string; recorderVersion: string; sourceStream: string; sourceRevision: bigint;
  sourceEventCount: bigint; sourceTimestampNs: bigint; exportedAtNs: bigint;
}
export interface SchemaHeaderMsg {
  deviceType: string; virtioId?: number; transport: string; pci?: PciIdentityMsg; personaId: string; personaVersion: string;
  provenance?: ProvenanceMsg; schemaFingerprint: Uint8Array; vfioMigrationFlags: number;
}
export interface TransportModeMsg { legacy: boolean; transitional: boolean; guestEndian: string; guestPageSize: number }
export interface FeatureNegotiationMsg { accepted: bigint[]; acceptedVia: string; negotiation: string }
export interface VdpaProvisioningMsg {
  hasParentFeatures: boolean; parentFeatures: bigint[]; hasProvisioned: boolean;
  provisioned?: {
    mgmtdev: string; name: string; deviceFeatures: bigint; deviceFeaturesGiven: boolean; mac: Uint8Array; macGiven: boolean;
    mtu: number; mtuGiven: boolean; maxVqp: number; maxVqpGiven: boolean;
  };
}
export interface VirtqueueProgressMsg {
  index: number; lastAvailIdx?: number; usedIdx?: number; availWrap?: boolean; usedWrap?: boolean; availIdx?: number;
  maxSize?: number; pfn: number; align: number; resetPending: boolean;
}
export interface VirtqueueStatesMsg { queues: VirtqueueProgressMsg[] }
export interface ControlAckMsg { class: number; command: number; ack?: number }
export interface ControlAcksMsg { commands: ControlAckMsg[] }
export interface MsixStateMsg { enabled?: boolean; functionMask?: boolean; tableSize?: number }
export interface PciCapabilityMsg {
  offset: number; id: number; next: number; length: number; virtioCfgType: number; bar: number; barOffset: number; barLength: number;
}
export interface PciConfigSpaceMsg { config: Uint8Array; capabilities: PciCapabilityMsg[] }
export interface DeviceRuntimeMsg { isr?: number; configGeneration?: number; resetPending: boolean }
