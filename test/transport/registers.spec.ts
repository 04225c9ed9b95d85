import { expect } from 'chai';
import {
  ADMIN_OPCODES, LEGACY_PCI_HEADER, LEGACY_PCI_HEADER_NO_MSIX, MMIO_REGS, PCI_COMMON_CFG, PCI_CONFIG_HEADER,
  type RegisterDef, legacyConfigOffset, mmioRegsOfVersion, registerAt, registerEnd,
} from '../../src/model/registers.js';

/** Offsets as Linux include/uapi/linux/virtio_pci.h and virtio_mmio.h define them. */
const LINUX: Record<string, number> = {
  VIRTIO_PCI_COMMON_DFSELECT: 0, VIRTIO_PCI_COMMON_DF: 4, VIRTIO_PCI_COMMON_GFSELECT: 8, VIRTIO_PCI_COMMON_GF: 12,
  VIRTIO_PCI_COMMON_MSIX: 16, VIRTIO_PCI_COMMON_NUMQ: 18, VIRTIO_PCI_COMMON_STATUS: 20, VIRTIO_PCI_COMMON_CFGGENERATION: 21,
  VIRTIO_PCI_COMMON_Q_SELECT: 22, VIRTIO_PCI_COMMON_Q_SIZE: 24, VIRTIO_PCI_COMMON_Q_MSIX: 26, VIRTIO_PCI_COMMON_Q_ENABLE: 28,
  VIRTIO_PCI_COMMON_Q_NOFF: 30, VIRTIO_PCI_COMMON_Q_DESCLO: 32, VIRTIO_PCI_COMMON_Q_DESCHI: 36, VIRTIO_PCI_COMMON_Q_AVAILLO: 40,
  VIRTIO_PCI_COMMON_Q_AVAILHI: 44, VIRTIO_PCI_COMMON_Q_USEDLO: 48, VIRTIO_PCI_COMMON_Q_USEDHI: 52, VIRTIO_PCI_COMMON_Q_NDATA: 56,
  VIRTIO_PCI_COMMON_Q_RESET: 58, VIRTIO_PCI_COMMON_ADM_Q_IDX: 60, VIRTIO_PCI_COMMON_ADM_Q_NUM: 62,
  VIRTIO_PCI_HOST_FEATURES: 0, VIRTIO_PCI_GUEST_FEATURES: 4, VIRTIO_PCI_QUEUE_PFN: 8, VIRTIO_PCI_QUEUE_NUM: 12,
  VIRTIO_PCI_QUEUE_SEL: 14, VIRTIO_PCI_QUEUE_NOTIFY: 16, VIRTIO_PCI_STATUS: 18, VIRTIO_PCI_ISR: 19,
  VIRTIO_MSI_CONFIG_VECTOR: 20, VIRTIO_MSI_QUEUE_VECTOR: 22,
  VIRTIO_MMIO_MAGIC_VALUE: 0x000, VIRTIO_MMIO_VERSION: 0x004, VIRTIO_MMIO_DEVICE_ID: 0x008, VIRTIO_MMIO_VENDOR_ID: 0x00c,
  VIRTIO_MMIO_DEVICE_FEATURES: 0x010, VIRTIO_MMIO_DEVICE_FEATURES_SEL: 0x014, VIRTIO_MMIO_DRIVER_FEATURES: 0x020,
  VIRTIO_MMIO_DRIVER_FEATURES_SEL: 0x024, VIRTIO_MMIO_GUEST_PAGE_SIZE: 0x028, VIRTIO_MMIO_QUEUE_SEL: 0x030,
  VIRTIO_MMIO_QUEUE_NUM_MAX: 0x034, VIRTIO_MMIO_QUEUE_NUM: 0x038, VIRTIO_MMIO_QUEUE_ALIGN: 0x03c, VIRTIO_MMIO_QUEUE_PFN: 0x040,
  VIRTIO_MMIO_QUEUE_READY: 0x044, VIRTIO_MMIO_QUEUE_NOTIFY: 0x050, VIRTIO_MMIO_INTERRUPT_STATUS: 0x060,
  VIRTIO_MMIO_INTERRUPT_ACK: 0x064, VIRTIO_MMIO_STATUS: 0x070, VIRTIO_MMIO_QUEUE_DESC_LOW: 0x080,
  VIRTIO_MMIO_QUEUE_DESC_HIGH: 0x084, VIRTIO_MMIO_QUEUE_AVAIL_LOW: 0x090, VIRTIO_MMIO_QUEUE_AVAIL_HIGH: 0x094,
  VIRTIO_MMIO_QUEUE_USED_LOW: 0x0a0, VIRTIO_MMIO_QUEUE_USED_HIGH: 0x0a4, VIRTIO_MMIO_SHM_SEL: 0x0ac,
  VIRTIO_MMIO_SHM_LEN_LOW: 0x0b0, VIRTIO_MMIO_SHM_LEN_HIGH: 0x0b4, VIRTIO_MMIO_SHM_BASE_LOW: 0x0b8,
  VIRTIO_MMIO_SHM_BASE_HIGH: 0x0bc, VIRTIO_MMIO_QUEUE_RESET: 0x0c0, VIRTIO_MMIO_CONFIG_GENERATION: 0x0fc,
};

function checkMap(map: readonly RegisterDef[]): void {
  for (let i = 1; i < map.length; i++) expect(map[i]!.offset, map[i]!.name).to.be.at.least(registerEnd(map[i - 1]!));
  for (const r of map) {
    if (r.macro) expect(r.offset, r.macro).to.equal(LINUX[r.macro]);
    expect(r.widths.length, r.name).to.be.greaterThan(0);
  }
}

describe('model: register maps', function () {
  it('matches Linux virtio_pci.h and virtio_mmio.h offsets, in order and without overlaps', function () {
    checkMap(PCI_COMMON_CFG);
    checkMap(LEGACY_PCI_HEADER);
    checkMap(MMIO_REGS);
    checkMap(PCI_CONFIG_HEADER);
    const macros = [...PCI_COMMON_CFG, ...LEGACY_PCI_HEADER, ...MMIO_REGS].map((r) => r.macro);
    expect(macros).to.have.members(Object.keys(LINUX));
  });

  it('the common config is 64 bytes; the legacy header is 20 bytes, 24 with MSI-X', function () {
    expect(registerEnd(PCI_COMMON_CFG[PCI_COMMON_CFG.length - 1]!)).to.equal(64);
    expect(registerEnd(LEGACY_PCI_HEADER_NO_MSIX[LEGACY_PCI_HEADER_NO_MSIX.length - 1]!)).to.equal(legacyConfigOffset(false));
    expect(registerEnd(LEGACY_PCI_HEADER[LEGACY_PCI_HEADER.length - 1]!)).to.equal(legacyConfigOffset(true));
    expect(registerAt(LEGACY_PCI_HEADER_NO_MSIX, 20)).to.equal(undefined);
  });

  it('splits mmio registers by version', function () {
    const names = (v: 1 | 2) => mmioRegsOfVersion(v).map((r) => r.name);
    expect(names(1)).to.include.members(['GuestPageSize', 'QueueAlign', 'QueuePFN']).and.not.include('QueueReady');
    expect(names(2)).to.include.members(['QueueReady', 'QueueDescLow', 'ConfigGeneration']).and.not.include('QueuePFN');
  });

  it('lists the admin legacy opcodes with the region and direction they carry', function () {
    const legacy = ADMIN_OPCODES.filter((o) => o.legacy).map((o) => [o.opcode, o.legacy!.region, o.legacy!.direction]);
    expect(legacy).to.deep.equal([
      [0x2, 'admin-legacy-common', 'write'], [0x3, 'admin-legacy-common', 'read'],
      [0x4, 'admin-legacy-device', 'write'], [0x5, 'admin-legacy-device', 'read'],
    ]);
    expect(ADMIN_OPCODES.find((o) => o.opcode === 0x6)?.name).to.equal('VIRTIO_ADMIN_CMD_LEGACY_NOTIFY_INFO');
  });
});
