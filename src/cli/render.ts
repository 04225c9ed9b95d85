// Text rendering of a device state for terminals.
import { bytesToHex, hex64, vfioStateName } from '../events/json.js';
import { deviceTypeByName, featureNames, statusNames } from '../model/index.js';
import { nsToIsoNs } from '../events/describe.js';
import { configFieldsText, decodeStateConfig, type ByteOrder } from '../project/device-config.js';
import { netControlShown, netControlText } from '../project/net-control.js';
import { legacyNegotiated } from '../compat/check.js';
import { type DeviceState, NO_VECTOR, configHex, known } from '../project/state.js';

const vector = (v: number): string => (v === NO_VECTOR ? 'none' : String(v));
const pciId = (v: number): string => v.toString(16).padStart(4, '0');

function wrapNames(names: string[], indent: string, width = 100): string {
  const lines: string[] = [];
  let line = '';
  for (const n of names) {
    if (line && line.length + n.length + 1 > width) {
      lines.push(line);
      line = '';
    }
    line += (line ? ' ' : '') + n;
  }
  if (line) lines.push(line);
  return lines.map((l) => indent + l).join('\n');
}

export function renderState(s: DeviceState, guestByteOrder: ByteOrder | null = null): string {
  const type = deviceTypeByName(s.type) ? s.type : undefined;
  const out: string[] = [];
  // Imports without wall-clock time (QEMU traces without the pid@time prefix) are stamped with line numbers.
  const wallClock = s.timestampNs > 1_000_000_000_000_000n;
  out.push(`${s.device}  ${s.type || '?'}  ${s.transport}  revision ${s.revision}${wallClock ? '  ' + nsToIsoNs(s.timestampNs) : ''}`);
  out.push(s.status === null
    ? `status     ?${s.resetPending ? '  [reset pending]' : ''}`
    : `status     0x${s.status.toString(16).padStart(2, '0')}  ${statusNames(s.status).join(' ') || '(reset)'}${s.resetPending ? '  [reset pending]' : ''}`);
  const feat = (label: string, mask: bigint | null, extra = '') => {
    out.push(`${label.padEnd(10)} ${mask === null ? '?' : hex64(mask)}${extra}`);
    const names = mask === null ? [] : featureNames(mask, type);
    if (names.length) out.push(wrapNames(names, '             '));
  };
  // Show each set once: the offer in full, then what the driver left out or added, then acceptance.
  const f = s.features;
  feat('offered', f.device, f.device === null ? '  (no source has shown the offer)' : '');
  if (f.parent !== null) feat('parent', f.parent);
  if (f.driver === null || f.driver === 0n) out.push(`driver     ${f.driver === null ? '?' : '0x0'}`);
  else if (f.device === null) feat('driver', f.driver);
  else {
    const left = featureNames(f.device & ~f.driver, type);
    const extra = featureNames(f.driver & ~f.device, type);
    out.push(`driver     ${hex64(f.driver)}` + (f.device ? `  = offered${left.length ? ' without ' + left.join(' ') : ''}${extra.length ? ', plus NOT OFFERED ' + extra.join(' ') : ''}` : ''));
    if (!f.device) out.push(wrapNames(featureNames(f.driver, type), '             '));
  }
  const via = f.acceptedVia !== 'none' ? ` (${f.acceptedVia})` : f.negotiation === 'refused' ? ' (refused by the device)' : '';
  if (f.accepted !== null && f.accepted !== 0n && f.accepted === f.driver) out.push(`accepted   ${hex64(f.accepted)}  = driver${via}`);
  else feat('accepted', f.accepted, via ? ' ' + via : '');
  if (s.provisioned) {
    const p = s.provisioned;
    out.push(`provisioned ${p.name} on ${p.mgmtdev}: ` + [
      p.deviceFeaturesGiven ? `device_features=${hex64(p.deviceFeatures)}` : 'device_features not given',
      p.macGiven ? `mac=${[...p.mac].map((b) => b.toString(16).padStart(2, '0')).join(':')}` : '',
      p.mtuGiven ? `mtu=${p.mtu}` : '', p.maxVqpGiven ? `max_vqp=${p.maxVqp}` : '',
    ].filter(Boolean).join(' '));
  }
  if (s.queues.length) {
    out.push('queues     idx  size  on  desc                driver              device              last_avail  used  vector');
    for (const q of s.queues) {
      out.push(`           ${String(q.index).padStart(3)}  ${known(q.size).padStart(4)}  ${q.enabled === null ? '? ' : q.enabled ? 'y ' : 'n '}  ${known(q.desc, hex64).padEnd(18)}  ${known(q.driver, hex64).padEnd(18)}  ${known(q.device, hex64).padEnd(18)}  ${known(q.lastAvailIdx).padStart(10)}  ${known(q.usedIdx).padStart(4)}  ${known(q.msixVector, vector)}${q.resetPending ? '  [reset pending]' : ''}`);
    }
  }
  if (s.msix) {
    const m = s.msix;
    out.push(`msix       ${m.enabled === null ? '?' : m.enabled ? 'enabled' : 'disabled'}, config vector ${known(m.configVector, vector)}, table size ${known(m.tableSize)}`);
  }
  if (s.pci) {
    const p = s.pci;
    out.push(`pci        ${known(p.vendor, pciId)}:${known(p.device, pciId)} subsystem ${known(p.subsystemVendor, pciId)}:${known(p.subsystem, pciId)} revision ${known(p.revision)}`);
  }
  if (s.sources.length) out.push(`sources    ${s.sources.join(' ')}`);
  if (s.config.length) out.push(`config     ${configHex(s)}`);
  const fields = decodeStateConfig(s, guestByteOrder);
  if (fields && s.config.length) {
    const order = fields.byteOrder === null ? ' (legacy: guest byte order not known, give --guest-endian)' : '';
    out.push(wrapNames(configFieldsText(fields).split(', ').map((x, i, a) => x + (i < a.length - 1 ? ',' : '')), '           ').replace(/^ {11}/, `fields     `) + order);
  }
  if (s.vfioState) out.push(`vfio       ${vfioStateName(s.vfioState)}`);
  if (s.control.length) out.push(`control    ${s.control.map((c) => `${c.class}/${c.command}=${bytesToHex(c.data)}`).join(' ')}`);
  if (s.type === 'net' && (s.control.length || s.netControl)) {
    const ctrl = netControlShown(s, legacyNegotiated(s) ? guestByteOrder : 'little', legacyNegotiated(s));
    for (const [i, l] of netControlText(ctrl).entries()) out.push(`${i === 0 ? 'net ctrl  ' : '          '} ${l}`);
  }
  return out.join('\n') + '\n';
}
