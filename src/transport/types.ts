// Transport decoders turn raw register accesses into semantic events. The meaning of an access depends on the
// transport and on state at that moment (legacy device config sits at IO offset 20 without MSI-X and 24 with it;
// QUEUE_PFN applies to the selected queue; an ISR read clears it), so each decoder keeps a shadow of the state it
// needs. Every decode returns the raw access first (as a `registerAccess` event, with the context the decoder
// used and any anomalies), then the semantic events decided from it: replay can always re-decide.
import type { AdminCommand, NewEvent, Region, Transport } from '../events/types.js';

/** One raw access as a source sees it (trace line, vhost ioctl, admin command, PCI config cycle). */
export interface RawAccess {
  timestampNs: bigint;
  actor?: NewEvent['actor'];
  source?: NewEvent['source'];
  region: Region;
  /** BAR number for PCI BAR regions */
  bar?: number;
  /** offset inside the region (for admin legacy commands: the legacy register offset) */
  offset: number;
  /** bytes: 1, 2, 4 or 8 (admin commands: data length) */
  width: number;
  direction: 'read' | 'write';
  /** the value written or read (reads: the value the device returned, when the source knows it) */
  value: bigint;
  /** false when the source could not see the value of a read (e.g. QEMU 7.2's virtio_mmio_read) */
  valueKnown?: boolean;
  /** byte strings (admin command payloads, wide config accesses) */
  data?: Uint8Array;
  admin?: AdminCommand;
}

export type Anomaly =
  | 'wrong-width'          // width not allowed for the register
  | 'straddle'             // access crosses a register boundary
  | 'read-only-write'      // write to a read-only register
  | 'write-only-read'      // read of a write-only register
  | 'io-decode-off'        // IO BAR access while the PCI command register has IO space disabled
  | 'mem-decode-off'       // memory BAR access while memory space is disabled
  | 'unknown-register'     // offset maps to no register of the region
  | 'out-of-range'         // beyond the region / config size
  | 'queue-out-of-range'   // selected queue >= number of queues
  | 'admin-failed'         // admin command completed with a non-zero status
  | 'unaligned'            // offset is not a multiple of the width (QEMU's memory core rejects these)
  | 'admin-mismatch';      // the admin opcode says another region or direction than the access

export interface DecoderOptions {
  transport: Transport;
  /** virtio device type name (net, blk, ...) when known */
  deviceType?: string;
  /** number of queues the device has, when known (QueueNumMax / num_queues) */
  numQueues?: number;
  /** size of the device-specific config, when known */
  configSize?: number;
  /** guest endianness, for legacy device config fields (legacy uses guest-native endianness) */
  guestEndian?: 'little' | 'big';
  /** legacy PCI page size for QUEUE_PFN (4096) */
  legacyPageSize?: number;
  /** MSI-X enabled at the start, for recordings that do not include the PCI config writes that enable it */
  msixEnabled?: boolean;
  /** offset of the MSI-X capability in PCI config space, when known without reading the capability chain */
  msixCapOffset?: number;
}

export interface TransportDecoder {
  readonly transport: Transport;
  /** Decodes one access: the raw `registerAccess` event first, then the semantic events. Never throws. */
  decode(access: RawAccess): NewEvent[];
}
