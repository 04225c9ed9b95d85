import { expect } from 'chai';
import { STATUS, STATUS_BITS, statusNames } from '../../src/model/index.js';

describe('model/status', () => {
  it('has the spec values', () => {
    expect(STATUS).to.deep.equal({
      ACKNOWLEDGE: 1,
      DRIVER: 2,
      DRIVER_OK: 4,
      FEATURES_OK: 8,
      SUSPEND: 16,
      DEVICE_NEEDS_RESET: 64,
      FAILED: 128,
    });
    expect(STATUS.DRIVER_OK).to.equal(4);
  });

  it('has a table entry per STATUS value, single bits, in ascending order', () => {
    expect(STATUS_BITS.map((s) => s.name)).to.deep.equal(Object.keys(STATUS));
    for (const s of STATUS_BITS) {
      expect(s.value, s.name).to.equal(STATUS[s.name]);
      expect(s.value & (s.value - 1), s.name).to.equal(0);
      expect(s.description.length, s.name).to.be.greaterThan(0);
      expect(s.section, s.name).to.equal('2.1');
    }
    const values = STATUS_BITS.map((s) => s.value);
    expect(values).to.deep.equal([...values].sort((a, b) => a - b));
  });

  it('decodes 0 to no names', () => {
    expect(statusNames(0)).to.deep.equal([]);
  });

  it('decodes a fully initialised device', () => {
    const ready = STATUS.ACKNOWLEDGE | STATUS.DRIVER | STATUS.FEATURES_OK | STATUS.DRIVER_OK;
    expect(ready).to.equal(15);
    expect(statusNames(ready)).to.deep.equal(['ACKNOWLEDGE', 'DRIVER', 'DRIVER_OK', 'FEATURES_OK']);
  });

  it('decodes every known bit', () => {
    expect(statusNames(0xdf)).to.deep.equal([
      'ACKNOWLEDGE', 'DRIVER', 'DRIVER_OK', 'FEATURES_OK', 'SUSPEND', 'DEVICE_NEEDS_RESET', 'FAILED',
    ]);
  });

  it('names unknown bits bit_<n>', () => {
    expect(statusNames(32)).to.deep.equal(['bit_5']);
    expect(statusNames(STATUS.FAILED | 32 | 1)).to.deep.equal(['ACKNOWLEDGE', 'bit_5', 'FAILED']);
    expect(statusNames(0x100)).to.deep.equal(['bit_8']);
    expect(statusNames(0x8000_0000)).to.deep.equal(['bit_31']);
  });

  it('rejects values that are not unsigned 32-bit integers', () => {
    expect(() => statusNames(-1)).to.throw(RangeError);
    expect(() => statusNames(1.5)).to.throw(RangeError);
    expect(() => statusNames(2 ** 32)).to.throw(RangeError);
    expect(() => statusNames(Number.NaN)).to.throw(RangeError);
  });
});
