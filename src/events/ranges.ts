// Range checks of event values against the bounds in src/model/limits.ts. One function, used where events enter
// (NDJSON parsing) and by the codec in both directions: the encoder never writes what its decoder rejects, and a
// store written by an older devrec cannot hand a reader a value it would choke on.
import {
  MAX_CONFIG_BYTES, MAX_CONTROL_COMMANDS, MAX_FEATURE_HIGH_WORDS, MAX_FEATURE_SELECT, MAX_NUM_QUEUES,
  MAX_NET_FILTER_ENTRIES, MAX_PCI_CONFIG_BYTES, MAX_QUEUE_INDEX,
} from '../model/limits.js';
import { NET_MAX_VLAN } from '../model/net-control.js';
import { CodecError } from './codec-error.js';
import { EVENT_NUMBER64_FIELDS } from './generated/fast-codec.js';
import type { EventBody } from './types.js';

/**
 * Per event kind that has any, its 64-bit fields held as numbers: above 2^53 they lose bits, and the decoder refuses
 * them. (Kinds without such fields are left out: this check runs for every event recorded.) Generated from the schema
 * with the codec, so reading events does not build the schema's tables.
 */
const NUMBER64_FIELDS = new Map<string, readonly string[]>(Object.entries(EVENT_NUMBER64_FIELDS));

export interface RangeProblem {
  field: string;
  reason: string;
}

const QUEUE_SPEC = 'queue indices are 16 bits (virtio 1.2 §4.1.4.3 queue_select)';

function over(field: string, v: number | undefined, max: number, why: string): RangeProblem | undefined {
  if (v === undefined || ((v >>> 0) === v && v <= max)) return undefined; // the common case: a u32 in range
  if (Number.isInteger(v) && v >= 0 && v <= max) return undefined;
  return { field, reason: `${v} is out of range 0..${max} (${why})` };
}

function featureWords(field: string, words: unknown[] | undefined, max: number): RangeProblem | undefined {
  if (words !== undefined && words.length > max) return { field, reason: `${words.length} feature words, over the cap of ${max} (devrec models 1024 feature bits)` };
  return undefined;
}

/** The first value of `body` outside devrec's bounds, or undefined when every value is in range. */
export function eventRangeProblem(body: EventBody): RangeProblem | undefined {
  const wide = NUMBER64_FIELDS.get(body.kind);
  if (wide !== undefined) {
    for (const name of wide) {
      const v = (body as unknown as Record<string, unknown>)[name];
      if (typeof v === 'number' && !Number.isSafeInteger(v) && Number.isInteger(v)) return { field: name, reason: `${v} is above 2^53 and cannot be kept exactly` };
    }
  }
  switch (body.kind) {
    case 'queueSelected':
    case 'queueConfigured':
    case 'vqIndex':
      return over('index', body.index, MAX_QUEUE_INDEX, QUEUE_SPEC);
    case 'resetRequested':
    case 'resetCompleted':
      return over('queue', body.queue, MAX_QUEUE_INDEX, QUEUE_SPEC);
    case 'registerAccess':
      return over('selectedQueue', body.selectedQueue, MAX_QUEUE_INDEX, QUEUE_SPEC);
    case 'identified':
      return over('numQueues', body.numQueues, MAX_NUM_QUEUES, 'num_queues is le16, virtio 1.2 §4.1.4.3')
        ?? over('configSize', body.configSize, MAX_CONFIG_BYTES, 'devrec keeps 64 KiB of device configuration');
    case 'deviceFeatures':
    case 'driverFeatures':
      return over('select', body.select, MAX_FEATURE_SELECT, 'devrec models feature words 0..31')
        ?? featureWords('highWords', body.highWords, MAX_FEATURE_HIGH_WORDS);
    case 'featuresNegotiated':
      return featureWords('highWords', body.highWords, MAX_FEATURE_HIGH_WORDS);
    case 'configWritten':
    case 'configRead':
      return over('offset', body.offset, MAX_CONFIG_BYTES, 'devrec keeps 64 KiB of device configuration');
    case 'pciConfigWritten':
      return over('offset', body.offset, MAX_PCI_CONFIG_BYTES, 'PCI Express configuration space is 4 KiB');
    case 'snapshot':
      return snapshotProblem(body);
    default:
      return undefined;
  }
}

function snapshotProblem(body: Extract<EventBody, { kind: 'snapshot' }>): RangeProblem | undefined {
  if (body.stateV2) return stateV2Problem(body.stateV2);
  const w = body.state;
  if (w === undefined || w === null) return { field: 'state', reason: 'a snapshot event needs a state (stateV2, or state in logs before schema v2)' };
  const words = MAX_FEATURE_HIGH_WORDS + 1;
  const p = featureWords('state.deviceFeatures', w.deviceFeatures, words) ?? featureWords('state.driverFeatures', w.driverFeatures, words)
    ?? featureWords('state.acceptedFeatures', w.acceptedFeatures, words) ?? featureWords('state.parentFeatures', w.parentFeatures, words)
    ?? over('state.numQueues', w.numQueues, MAX_NUM_QUEUES, 'num_queues is le16, virtio 1.2 §4.1.4.3')
    ?? over('state.queueSelect', w.queueSelect, MAX_QUEUE_INDEX, QUEUE_SPEC)
    ?? over('state.deviceFeatureSelect', w.deviceFeatureSelect, 0xffffffff, 'le32')
    ?? over('state.driverFeatureSelect', w.driverFeatureSelect, 0xffffffff, 'le32');
  if (p) return p;
  if ((w.queues?.length ?? 0) > MAX_NUM_QUEUES) return { field: 'state.queues', reason: `${w.queues.length} queues, over the cap of ${MAX_NUM_QUEUES}` };
  for (let i = 0; i < (w.queues?.length ?? 0); i++) {
    const q = over(`state.queues[${i}].index`, w.queues[i]!.index, MAX_QUEUE_INDEX, QUEUE_SPEC);
    if (q) return q;
  }
  if ((w.config?.length ?? 0) > MAX_CONFIG_BYTES) return { field: 'state.config', reason: `${w.config.length} bytes, over the cap of ${MAX_CONFIG_BYTES}` };
  if ((w.pciConfig?.length ?? 0) > MAX_PCI_CONFIG_BYTES) return { field: 'state.pciConfig', reason: `${w.pciConfig.length} bytes, over the cap of ${MAX_PCI_CONFIG_BYTES}` };
  if ((w.control?.length ?? 0) > MAX_CONTROL_COMMANDS) return { field: 'state.control', reason: `${w.control.length} commands, over the cap of ${MAX_CONTROL_COMMANDS}` };
  return undefined;
}

/** The same bounds on a schema v2 state (src/project/generated/state-types.ts): absent values are unknown, not checked. */
function stateV2Problem(w: NonNullable<Extract<EventBody, { kind: 'snapshot' }>['stateV2']>): RangeProblem | undefined {
  const words = MAX_FEATURE_HIGH_WORDS + 1;
  const f = w.features;
  const p = featureWords('stateV2.features.device', f?.device?.words ?? [], words) ?? featureWords('stateV2.features.driver', f?.driver?.words ?? [], words)
    ?? featureWords('stateV2.features.accepted', f?.accepted?.words ?? [], words) ?? featureWords('stateV2.features.parent', f?.parent?.words ?? [], words)
    ?? (w.numQueues !== undefined ? over('stateV2.numQueues', w.numQueues, MAX_NUM_QUEUES, 'num_queues is le16, virtio 1.2 §4.1.4.3') : undefined)
    ?? (w.queueSelect !== undefined ? over('stateV2.queueSelect', w.queueSelect, MAX_QUEUE_INDEX, QUEUE_SPEC) : undefined);
  if (p) return p;
  if ((w.queues?.length ?? 0) > MAX_NUM_QUEUES) return { field: 'stateV2.queues', reason: `${w.queues.length} queues, over the cap of ${MAX_NUM_QUEUES}` };
  for (let i = 0; i < (w.queues?.length ?? 0); i++) {
    const q = over(`stateV2.queues[${i}].index`, w.queues[i]!.index, MAX_QUEUE_INDEX, QUEUE_SPEC);
    if (q) return q;
  }
  if ((w.config?.length ?? 0) > MAX_CONFIG_BYTES) return { field: 'stateV2.config', reason: `${w.config.length} bytes, over the cap of ${MAX_CONFIG_BYTES}` };
  if ((w.pci?.config?.length ?? 0) > MAX_PCI_CONFIG_BYTES) return { field: 'stateV2.pci.config', reason: `${w.pci!.config.length} bytes, over the cap of ${MAX_PCI_CONFIG_BYTES}` };
  if ((w.control?.length ?? 0) > MAX_CONTROL_COMMANDS) return { field: 'stateV2.control', reason: `${w.control.length} commands, over the cap of ${MAX_CONTROL_COMMANDS}` };
  return netControlProblem(w.netControl);
}

/** A NIC's control state: VLAN ids are 12 bits; tables no longer than a control command could carry. */
function netControlProblem(n: NonNullable<Extract<EventBody, { kind: 'snapshot' }>['stateV2']>['netControl']): RangeProblem | undefined {
  if (!n) return undefined;
  const ids = n.vlans?.ids ?? [];
  if (ids.length > NET_MAX_VLAN || ids.some((v) => v >= NET_MAX_VLAN)) return { field: 'stateV2.netControl.vlans.ids', reason: `VLAN ids are below ${NET_MAX_VLAN} (virtio 1.3 5.1.6.5.3)` };
  const entries = (n.macTable?.unicast?.length ?? 0) + (n.macTable?.multicast?.length ?? 0);
  if (entries > MAX_NET_FILTER_ENTRIES) return { field: 'stateV2.netControl.macTable', reason: `${entries} entries, over the cap of ${MAX_NET_FILTER_ENTRIES}` };
  if ((n.rss?.indirectionTable?.length ?? 0) > MAX_NUM_QUEUES) return { field: 'stateV2.netControl.rss.indirectionTable', reason: `over the cap of ${MAX_NUM_QUEUES} entries` };
  return undefined;
}

/** Throws CodecError when a value of the event is outside devrec's bounds (src/model/limits.ts). */
export function checkEventRanges(body: EventBody): void {
  const p = eventRangeProblem(body);
  if (p) throw new CodecError(`${body.kind}.${p.field}: ${p.reason}`);
}
