// `devrec log` text: an event stamped with an import's ordinal (a QEMU trace without pid@time prefixes) has no
// time, so it prints "-", never a 1970 date; a wall-clock stamp prints as ISO 8601.
import { expect } from 'chai';
import type { DeviceEvent } from '../../src/events/types.js';
import { describeEvent } from '../../src/events/describe.js';
import { explainEvents } from '../../src/events/explain.js';

const at = (timestampNs: bigint): DeviceEvent => ({
  revision: 3, timestampNs, actor: 'guest-driver', path: 'mmio', source: 'qemu-trace', body: { kind: 'statusWritten', status: 1 },
} as DeviceEvent);

describe('event text: times', function () {
  it('an ordinal stamp prints no time, a wall-clock stamp prints ISO 8601', function () {
    expect(describeEvent(at(155n))).to.match(/^#3 - guest-driver statusWritten/);
    expect([...explainEvents([at(155n)])].join('\n')).to.match(/^#3 - /);
    expect(describeEvent(at(1_796_015_233_262_739_000n))).to.match(/^#3 2026-11-30T\d\d:\d\d:\d\d\.\d{9}Z guest-driver/);
  });
});
