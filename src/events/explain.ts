// `devrec log --explain`: events in words, each semantic event with the raw access it was decoded from
// ("driver wrote features word 1 = 0x1 (VIRTIO_F_VERSION_1) through legacy IO BAR offset 0x4").
import { deviceTypeByName } from '../model/device-types.js';
import { featureNames } from '../model/index.js';
import { describeBody, nsToIsoNs } from './describe.js';
import { isWallClock } from './time.js';
import { bytesToHex, hex64 } from './json.js';
import type { DeviceEvent, EventBody, RegisterAccess } from './types.js';
import {
  LEGACY_PCI_HEADER, LEGACY_PCI_HEADER_NO_MSIX, MMIO_CONFIG_OFFSET, MMIO_REGS, PCI_COMMON_CFG, PCI_ISR_REGION, type RegisterDef, legacyConfigOffset, registerAt,
} from '../model/registers.js';

const REGION_WORDS: Record<string, string> = {
  'common-cfg': 'common config',
  'device-cfg': 'device config',
  isr: 'ISR',
  notify: 'notify region',
  'legacy-io': 'legacy IO BAR',
  'mmio-regs': 'virtio-mmio registers',
  'pci-cfg-space': 'PCI config space',
  'msix-table': 'MSI-X table',
  'msix-pba': 'MSI-X PBA',
  'admin-legacy-common': 'admin command LEGACY_COMMON_CFG',
  'admin-legacy-device': 'admin command LEGACY_DEV_CFG',
};

/** The register a raw access hit, by name from the transport's register map (src/model/registers.ts). */
export function registerName(raw: Pick<RegisterAccess, 'region' | 'offset' | 'msixEnabled'>): string | undefined {
  let map: readonly RegisterDef[] | undefined;
  let configAt: number | undefined;
  switch (raw.region) {
    case 'common-cfg': map = PCI_COMMON_CFG; break;
    case 'isr': map = PCI_ISR_REGION; break;
    case 'mmio-regs': map = MMIO_REGS; configAt = MMIO_CONFIG_OFFSET; break;
    case 'legacy-io':
    case 'admin-legacy-common':
      map = raw.msixEnabled ? LEGACY_PCI_HEADER : LEGACY_PCI_HEADER_NO_MSIX;
      configAt = raw.region === 'legacy-io' ? legacyConfigOffset(raw.msixEnabled) : undefined;
      break;
    default: return undefined;
  }
  if (configAt !== undefined && raw.offset >= configAt) return `device config +0x${(raw.offset - configAt).toString(16)}`;
  const r = registerAt(map, raw.offset);
  if (!r) return undefined;
  return raw.offset === r.offset ? r.name : `${r.name}+${raw.offset - r.offset}`;
}

function via(raw: RegisterAccess): string {
  const where = REGION_WORDS[raw.region] ?? raw.region;
  const name = registerName(raw);
  return ` through ${where}${raw.bar && raw.region !== 'legacy-io' ? ` (BAR ${raw.bar})` : ''} offset 0x${raw.offset.toString(16)}` +
    `${name ? ` (${name})` : ''}${raw.region === 'legacy-io' ? (raw.msixEnabled ? ', MSI-X on' : ', MSI-X off') : ''}`;
}

/** A raw access no semantic event came from, in words with its register's name. */
function rawAccess(b: RegisterAccess): string {
  const name = registerName(b);
  return `${b.direction === 'write' ? 'wrote' : 'read'} ${hex64(b.value)} (${b.width} bytes) ${b.direction === 'write' ? 'to' : 'from'} ${name ?? 'an unnamed register'}${via(b).replace(` (${name})`, '')}`;
}

function words(mask: bigint, type: string | undefined): string {
  const n = featureNames(mask, type && deviceTypeByName(type) ? type : undefined);
  return n.length ? ` (${n.join(' ')})` : '';
}

export function explainBody(b: EventBody, type?: string): string {
  switch (b.kind) {
    case 'driverFeatures': {
      const shifted = b.select === undefined ? b.value : b.value << BigInt(32 * b.select);
      return `driver wrote features ${b.select === undefined ? '' : `word ${b.select} = `}${hex64(b.value)}${words(shifted, type)}`;
    }
    case 'deviceFeatures': {
      const shifted = b.select === undefined ? b.value : b.value << BigInt(32 * b.select);
      return `device offers features ${b.select === undefined ? '' : `word ${b.select} = `}${hex64(b.value)}${words(shifted, type)}`;
    }
    case 'statusWritten':
      return `driver wrote status ${describeBody(b).replace(/^status <- /, '')}`;
    case 'statusRead':
      return `driver read status ${describeBody(b).replace(/^status -> /, '')}`;
    case 'configWritten':
      return `config[0x${b.offset.toString(16)}] <- bytes ${bytesToHex(b.data).replace(/(..)(?!$)/g, '$1 ')}`;
    case 'configRead':
      return `config[0x${b.offset.toString(16)}] -> bytes ${bytesToHex(b.data).replace(/(..)(?!$)/g, '$1 ')}`;
    case 'registerAccess':
      return rawAccess(b);
    default:
      return describeBody(b, type);
  }
}

/** Explains a run of events; a raw access followed by the events decoded from it becomes one line per event. */
export function* explainEvents(events: Iterable<DeviceEvent>, type?: string): Generator<string> {
  let pending: DeviceEvent | undefined;
  let used = false;
  const flush = function* (): Generator<string> {
    if (pending && !used) yield line(pending, explainBody(pending.body, type));
    pending = undefined;
  };
  for (const e of events) {
    if (e.body.kind === 'registerAccess') {
      yield* flush();
      pending = e;
      used = false;
      continue;
    }
    if (pending && pending.timestampNs === e.timestampNs && pending.body.kind === 'registerAccess') {
      used = true;
      yield line(e, explainBody(e.body, type) + via(pending.body));
      continue;
    }
    yield* flush();
    yield line(e, explainBody(e.body, type));
  }
  yield* flush();
}

function line(e: DeviceEvent, text: string): string {
  return `#${e.revision} ${isWallClock(e.timestampNs) ? nsToIsoNs(e.timestampNs) : '-'} ${e.actor === 'unspecified' ? '' : e.actor + ' '}${text}`;
}
