// One-line descriptions of events in words, for `devrec log` and the demo.
import { MSI_NO_VECTOR } from '../model/registers.js';
import { featureNames, statusNames } from '../model/index.js';
import { deviceTypeByName } from '../model/device-types.js';
import { bytesToHex, hex64, vfioStateName } from './json.js';
import type { DeviceEvent, EventBody } from './types.js';

const hex = (n: number) => '0x' + n.toString(16);

function feat(mask: bigint, type: string | undefined): string {
  const names = featureNames(mask, type && deviceTypeByName(type) ? type : undefined);
  return `${hex64(mask)}${names.length ? ' (' + names.join(' ') + ')' : ''}`;
}

function queueFields(b: Extract<EventBody, { kind: 'queueConfigured' }>): string {
  const parts: string[] = [];
  if (b.size !== undefined) parts.push(`size=${b.size}`);
  if (b.maxSize !== undefined) parts.push(`max=${b.maxSize}`);
  if (b.desc !== undefined) parts.push(`desc=${hex64(b.desc)}`);
  if (b.driver !== undefined) parts.push(`driver=${hex64(b.driver)}`);
  if (b.device !== undefined) parts.push(`device=${hex64(b.device)}`);
  if (b.pfn !== undefined) parts.push(`pfn=${hex(b.pfn)}`);
  if (b.align !== undefined) parts.push(`align=${b.align}`);
  if (b.enabled !== undefined) parts.push(b.enabled ? 'enabled' : 'disabled');
  if (b.msixVector !== undefined) parts.push(`vector=${b.msixVector === MSI_NO_VECTOR ? 'none' : b.msixVector}`);
  if (b.notifyOff !== undefined) parts.push(`notify_off=${b.notifyOff}`);
  return parts.join(' ');
}

export function describeBody(b: EventBody, type?: string): string {
  switch (b.kind) {
    case 'registerAccess':
      return `${b.direction} ${b.region}${b.bar ? ` bar${b.bar}` : ''} +${hex(b.offset)}/${b.width} ${b.direction === 'write' ? '<-' : '->'} ${b.valueUnseen ? '?' : hex64(b.value)}` +
        `${b.msixEnabled ? ' [msix]' : ''}${b.selectedQueue !== undefined ? ` q${b.selectedQueue}` : ''}` +
        `${b.admin ? ` admin op=${hex(b.admin.opcode)} member=${b.admin.memberId} status=${b.admin.status}` : ''}` +
        `${b.anomalies.length ? ' !' + b.anomalies.join(',') : ''}`;
    case 'deviceFeatures':
      return b.select !== undefined ? `device offers word ${b.select} = ${hex64(b.value)}` : `device offers ${feat(b.value, type)}`;
    case 'parentFeatures':
      return `parent ${b.mgmtdev || '?'} supports ${feat(b.value, type)}${b.maxVqp ? ` max_vqp=${b.maxVqp}` : ''}`;
    case 'provisioned':
      return `provisioned ${b.name} on ${b.mgmtdev}` +
        `${b.deviceFeaturesGiven ? ` device_features=${hex64(b.deviceFeatures)}` : ''}` +
        `${b.macGiven ? ` mac=${[...b.mac].map((x) => x.toString(16).padStart(2, '0')).join(':')}` : ''}` +
        `${b.mtuGiven ? ` mtu=${b.mtu}` : ''}${b.maxVqpGiven ? ` max_vqp=${b.maxVqp}` : ''}`;
    case 'driverFeatures':
      return b.select !== undefined ? `driver writes word ${b.select} = ${hex64(b.value)}` : `driver writes ${feat(b.value, type)}`;
    case 'featuresNegotiated':
      return b.accepted ? `FEATURES_OK kept: accepted ${feat(b.features, type)}` : 'FEATURES_OK cleared by the device: negotiation refused';
    case 'statusWritten':
      return b.status === 0 ? 'status <- 0 (reset)' : `status <- ${hex(b.status)} (${statusNames(b.status).join(' ')})`;
    case 'statusRead':
      return `status -> ${hex(b.status)}${b.status ? ` (${statusNames(b.status).join(' ')})` : ''}`;
    case 'resetRequested':
      return b.scope === 'queue-reset' ? `queue ${b.queue} reset requested` : 'device reset requested';
    case 'resetCompleted':
      return b.scope === 'queue-reset' ? `queue ${b.queue} reset completed` : 'device reset completed';
    case 'queueSelected':
      return `queue_select <- ${b.index}`;
    case 'queueConfigured':
      return `queue ${b.index}: ${queueFields(b)}`;
    case 'vqIndex': {
      const p: string[] = [];
      if (b.lastAvailIdx !== undefined) p.push(`last_avail=${b.lastAvailIdx}`);
      if (b.usedIdx !== undefined) p.push(`used=${b.usedIdx}`);
      if (b.availIdx !== undefined) p.push(`avail=${b.availIdx}`);
      if (b.availWrap !== undefined) p.push(`avail_wrap=${Number(b.availWrap)}`);
      if (b.usedWrap !== undefined) p.push(`used_wrap=${Number(b.usedWrap)}`);
      if (b.availDelta) p.push(`consumed +${b.availDelta}`);
      if (b.usedDelta) p.push(`used +${b.usedDelta}`);
      return `vq ${b.index}: ${p.join(' ')}`;
    }
    case 'configWritten':
      return `config[${hex(b.offset)}] <- ${bytesToHex(b.data)}`;
    case 'configRead':
      return `config[${hex(b.offset)}] -> ${bytesToHex(b.data)}`;
    case 'msix': {
      const p: string[] = [];
      if (b.enabled !== undefined) p.push(b.enabled ? 'enabled' : 'disabled');
      if (b.functionMask !== undefined) p.push(`function_mask=${Number(b.functionMask)}`);
      if (b.configVector !== undefined) p.push(`config_vector=${b.configVector === MSI_NO_VECTOR ? 'none' : b.configVector}`);
      if (b.tableSize !== undefined) p.push(`table_size=${b.tableSize}`);
      return `MSI-X ${p.join(' ')}`;
    }
    case 'pciConfigWritten':
      return `pci config[${hex(b.offset)}]/${b.width} <- ${hex(b.value)}`;
    case 'controlCommand':
      return `ctrl class=${b.class} cmd=${b.command} data=${bytesToHex(b.data)}${b.ack !== undefined ? ` ack=${b.ack}` : ''}`;
    case 'vfioState':
      return `VFIO ${vfioStateName(b.from)} -> ${vfioStateName(b.to)}`;
    case 'snapshot': {
      const st = b.stateV2 ?? b.state;
      const status = b.stateV2 ? b.stateV2.status : b.state?.status;
      return `snapshot${b.stateV2 ? '' : ' (state v1)'}: status ${status === undefined ? '?' : hex(status)}, ${st?.queues.length ?? 0} queues`;
    }
    case 'annotation':
      return `${b.severity}: ${b.code ? b.code + ': ' : ''}${b.message}`;
    case 'identified':
      return `device ${b.type || '?'} (virtio id ${b.virtioId ?? '?'}) over ${b.transport}${b.numQueues ? `, ${b.numQueues} queues` : ''}${b.backend ? `, backend ${b.backend}` : ''}`;
  }
}

export { nsToIsoNs } from './time.js';
import { isWallClock, nsToIsoNs } from './time.js';

export function describeEvent(e: DeviceEvent, type?: string): string {
  const who = e.actor === 'unspecified' ? '' : ` ${e.actor}`;
  return `#${e.revision} ${isWallClock(e.timestampNs) ? nsToIsoNs(e.timestampNs) : '-'}${who} ${e.body.kind}: ${describeBody(e.body, type)}`;
}
