// Range checks of event values against the bounds in src/model/limits.ts. One function, used where events enter
// (NDJSON parsing) and by the codec in both directions: the encoder never writes what its decoder rejects, and a
// store written by an older devrec cannot hand a reader a value it would choke on.
import {
  MAX_CONFIG_BYTES, MAX_CONTROL_COMMANDS, MAX_FEATURE_HIGH_WORDS, MAX_FEATURE_SELECT, MAX_NUM_QUEUES,
  MAX_PCI_CONFIG_BYTES, MAX_QUEUE_INDEX,
} from '../model/limits.js';
import { CodecError } from './codec-error.js';
import { BODY_SPECS } from './schema.js';
import type { EventBody } from './types.js';

/** Per event kind, its 64-bit fields held as numbers: above 2^53 they lose bits, and the decoder refuses them. */
const NUMBER64_FIELDS = new Map<string, string[]>(
  [...BODY_SPECS].map(([kind, spec]) => [kind, spec.fields.filter((f) => !f.repeated && (f.scalar === 'u64num' || f.scalar === 'i64num')).map((f) => f.name)]),
);

export interface RangeProblem {
  field: string;
  reason: string;
}

const QUEUE_SPEC = 'queue indices are 16 bits (virtio 1.2 §4.1.4.3 queue_select)';

function over(field: string, v: number | undefined, max: number, why: string): RangeProblem | undefined {
  if (v === undefined || (Number.isInteger(v) && v >= 0 && v <= max)) return undefined;
  return { field, reason: `${v} is out of range 0..${max} (${why})` };
}

function featureWords(field: string, words: unknown[] | undefined, max: number): RangeProblem | undefined {
  if (words !== undefined && words.length > max) return { field, reason: `${words.length} feature words, over the cap of ${max} (devrec models 1024 feature bits)` };
  return undefined;
}

/** The first value of `body` outside devrec's bounds, or undefined when every value is in range. */
export function eventRangeProblem(body: EventBody): RangeProblem | undefined {
  for (const name of NUMBER64_FIELDS.get(body.kind) ?? []) {
    const v = (body as unknown as Record<string, unknown>)[name];
    if (typeof v === 'number' && !Number.isSafeInteger(v) && Number.isInteger(v)) return { field: name, reason: `${v} is above 2^53 and cannot be kept exactly` };
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
  const w = body.state;
  if (w === undefined || w === null) return { field: 'state', reason: 'a snapshot event needs a state' };
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

/** Throws CodecError when a value of the event is outside devrec's bounds (src/model/limits.ts). */
export function checkEventRanges(body: EventBody): void {
  const p = eventRangeProblem(body);
  if (p) throw new CodecError(`${body.kind}.${p.field}: ${p.reason}`);
}
