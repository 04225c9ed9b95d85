// Raw accesses in `log --explain` are named from the transports' register maps (src/model/registers.ts).
import { expect } from 'chai';
import { registerName } from '../../src/events/explain.js';

describe('events: register names in explanations', function () {
  it('names registers of each region from the register maps, and device config past the header', function () {
    expect(registerName({ region: 'mmio-regs', offset: 0, msixEnabled: false })).to.equal('MagicValue');
    expect(registerName({ region: 'common-cfg', offset: 0, msixEnabled: false })).to.equal('device_feature_select');
    expect(registerName({ region: 'common-cfg', offset: 0x14, msixEnabled: false })).to.equal('device_status');
    expect(registerName({ region: 'legacy-io', offset: 18, msixEnabled: false })).to.equal('STATUS');
    expect(registerName({ region: 'legacy-io', offset: 20, msixEnabled: false })).to.equal('device config +0x0');
    expect(registerName({ region: 'legacy-io', offset: 20, msixEnabled: true })).to.equal('MSI_CONFIG_VECTOR');
    expect(registerName({ region: 'mmio-regs', offset: 0x104, msixEnabled: false })).to.equal('device config +0x4');
    expect(registerName({ region: 'device-cfg', offset: 0, msixEnabled: false })).to.equal(undefined);
  });
});
