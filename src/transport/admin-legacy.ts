// Admin legacy commands (virtio 1.3 2.12.1.1): the owner device (an SR-IOV PF) performs legacy register
// accesses on behalf of a member (a VF) that has no IO BAR; the hypervisor traps the guest's legacy IO BAR
// and forwards each access as LEGACY_COMMON_CFG_WRITE/READ (0x2/0x3: the legacy header) or
// LEGACY_DEV_CFG_WRITE/READ (0x4/0x5: device config, offset relative to its start: the 20/24 MSI-X shift was
// already resolved by the hypervisor). LEGACY_NOTIFY_INFO (0x6) tells where to ring doorbells.
//
// An access is one command: `offset` is the command's offset, `width` its data length, `data` the register
// bytes (written, or returned by a read), `admin` the command header and completion. The spec makes the data
// little-endian unconditionally, and makes the device fail an access that is not exactly one field. Effects
// are decided only from commands that completed with status OK: a failed command (flagged admin-failed) and a
// command not completed yet change nothing.
import { ADMIN_LEGACY_MAX_OFFSET, ADMIN_STATUS_OK, LEGACY_PCI_HEADER, MAX_DEVICE_CONFIG, adminOpcode } from '../model/registers.js';
import { LegacyFrontEnd } from './pci-legacy.js';
import { type Decoded, accessValue, bytesValue, configBytes, shapeAnomaly, valueKnown } from './support.js';
import type { Anomaly, RawAccess } from './types.js';

const LEGACY_NOTIFY_INFO = 0x6;

export class AdminLegacyDecoder extends LegacyFrontEnd {
  protected readonly path = 'admin-cmd' as const;

  protected decodeAccess(a: RawAccess): Decoded {
    const shape = shapeAnomaly(a);
    if (shape) return { anomalies: [shape], outs: [] };
    const anomalies: Anomaly[] = [];
    const failed = a.admin !== undefined && a.admin.completed && a.admin.status !== ADMIN_STATUS_OK;
    if (failed) anomalies.push('admin-failed');
    const opcode = a.admin?.opcode;
    const info = opcode !== undefined ? adminOpcode(opcode) : undefined;
    if (opcode !== undefined && !info?.legacy) {
      // NOTIFY_INFO carries no register access (its result is host plumbing); other opcodes are not ours.
      if (opcode !== LEGACY_NOTIFY_INFO) anomalies.push('unknown-register');
      return { anomalies, outs: [] };
    }
    if (a.region !== 'admin-legacy-common' && a.region !== 'admin-legacy-device') {
      return { anomalies: [...anomalies, 'unknown-register'], outs: [] };
    }
    if (info?.legacy && (info.legacy.region !== a.region || info.legacy.direction !== a.direction)) anomalies.push('admin-mismatch');
    // the command's offset field is a u8: a larger offset cannot have been sent
    if (a.offset > ADMIN_LEGACY_MAX_OFFSET) anomalies.push('out-of-range');
    const pending = a.admin !== undefined && !a.admin.completed;
    const apply = !failed && !pending && !anomalies.includes('admin-mismatch') && !anomalies.includes('out-of-range') && valueKnown(a);
    const d = a.region === 'admin-legacy-common' ? this.common(a, apply) : this.device(a, apply);
    return { anomalies: [...anomalies, ...d.anomalies], outs: d.outs };
  }

  /** The legacy header, MSI-X vectors included (the hypervisor sends 20..23 here only with MSI-X enabled). */
  private common(a: RawAccess, apply: boolean): Decoded {
    // the register value is the little-endian data when the source gave the bytes
    const access = a.data && a.data.length === a.width && a.width <= 8 ? { ...a, value: bytesValue(a.data) } : a;
    return this.registers.header(access, LEGACY_PCI_HEADER, 'single-field', apply);
  }

  /** Device config: any length at any offset (one field, e.g. the 6-byte MAC), bytes little-endian. */
  private device(a: RawAccess, apply: boolean): Decoded {
    const anomalies: Anomaly[] = [];
    if (a.offset + a.width > (this.opts.configSize ?? MAX_DEVICE_CONFIG)) anomalies.push('out-of-range');
    if (!apply || anomalies.length > 0) return { anomalies, outs: [] };
    const data = configBytes(a, accessValue(a), 'little');
    if (!data) return { anomalies, outs: [] };
    const kind = a.direction === 'write' ? 'configWritten' : 'configRead';
    return { anomalies, outs: [{ body: { kind, offset: a.offset, data } }] };
  }
}
