// Test helpers for the transport decoders: a bus that feeds accesses to a decoder and keeps every event, and
// projection of the decoded events with the real reducer.
import type { AdminCommand, DeviceIdentity, EventBody, NewEvent, Region, RegisterAccess } from '../../src/events/types.js';
import { applyInPlace } from '../../src/project/reducer.js';
import { type DeviceState, initialState } from '../../src/project/state.js';
import type { RawAccess, TransportDecoder } from '../../src/transport/types.js';

export class Bus {
  readonly events: NewEvent[] = [];
  private ts = 1_000n;

  constructor(readonly decoder: TransportDecoder) {}

  access(a: Omit<RawAccess, 'timestampNs'>): NewEvent[] {
    this.ts += 10n;
    const out = this.decoder.decode({ timestampNs: this.ts, ...a });
    this.events.push(...out);
    return out;
  }

  write(region: Region, offset: number, width: number, value: bigint | number, extra: Partial<RawAccess> = {}): NewEvent[] {
    return this.access({ region, offset, width, direction: 'write', value: BigInt(value), ...extra });
  }

  read(region: Region, offset: number, width: number, value: bigint | number, extra: Partial<RawAccess> = {}): NewEvent[] {
    return this.access({ region, offset, width, direction: 'read', value: BigInt(value), ...extra });
  }

  admin(opcode: number, region: Region, offset: number, data: number[], status = 0, direction?: 'read' | 'write'): NewEvent[] {
    const admin: AdminCommand = { opcode, groupType: 1, memberId: 1n, status, statusQualifier: status ? 3 : 0, completed: true };
    const dir = direction ?? (opcode % 2 === 0 ? 'write' : 'read');
    return this.access({ region, offset, width: data.length, direction: dir, value: 0n, data: Uint8Array.from(data), admin });
  }
}

export const raw = (events: NewEvent[]): RegisterAccess => {
  const b = events[0]!.body;
  if (b.kind !== 'registerAccess') throw new Error(`first event is ${b.kind}`);
  return b;
};

/** The semantic events (everything after the raw access). */
export const semantic = (events: NewEvent[]): EventBody[] => events.slice(1).map((e) => e.body);

export const kinds = (events: NewEvent[]): string[] => events.map((e) => e.body.kind);

export function identified(identity: Partial<DeviceIdentity> & Pick<DeviceIdentity, 'transport'>): NewEvent {
  return {
    timestampNs: 1n, actor: 'vmm', path: 'internal', source: 'api',
    body: {
      kind: 'identified', aliases: [], type: 'net', virtioId: 1, numQueues: 2, configSize: 12, pciVendor: 0x1af4, pciDevice: 0x1041,
      pciSubsystemVendor: 0x1af4, pciSubsystem: 0x1100, pciRevision: 1, backend: 'test', ...identity,
    },
  };
}

/** Projects events in order with the reducer, as the store would number them. */
export function project(events: NewEvent[], state: DeviceState = initialState('dev')): DeviceState {
  let revision = state.revision;
  for (const e of events) applyInPlace(state, { ...e, revision: ++revision });
  return state;
}

/** Little-endian bytes of a value. */
export const le = (value: bigint | number, width: number): number[] =>
  Array.from({ length: width }, (_, i) => Number((BigInt(value) >> BigInt(8 * i)) & 0xffn));
