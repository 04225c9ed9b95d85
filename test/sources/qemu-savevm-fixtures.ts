// Small QEMU savevm streams for the robustness tests and the fuzz script: a real device-state capture, and a
// synthetic full migration stream (configuration, an iterable "ram" section with page records, a command, a
// device walked by its vmdesc, a real virtio section, EOF, vmdesc) built byte by byte as QEMU 7.2 writes them.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { gunzipSync } from 'node:zlib';
import { parseQemuStream } from '../../src/sources/qemu-savevm.js';

export function captureBytes(variant: string, root = 'streams/qemu'): Uint8Array {
  return gunzipSync(readFileSync(path.join(root, variant, 'devstate.bin.gz')));
}

class Out {
  private parts: Uint8Array[] = [];
  u8(v: number): this {
    this.parts.push(Uint8Array.of(v));
    return this;
  }
  be16(v: number): this {
    const b = new Uint8Array(2);
    new DataView(b.buffer).setUint16(0, v);
    this.parts.push(b);
    return this;
  }
  be32(v: number): this {
    const b = new Uint8Array(4);
    new DataView(b.buffer).setUint32(0, v);
    this.parts.push(b);
    return this;
  }
  be64(v: bigint): this {
    const b = new Uint8Array(8);
    new DataView(b.buffer).setBigUint64(0, v);
    this.parts.push(b);
    return this;
  }
  str(s: string): this {
    return this.u8(s.length).bytes(Buffer.from(s, 'latin1'));
  }
  bytes(b: Uint8Array): this {
    this.parts.push(b);
    return this;
  }
  done(): Uint8Array {
    return Buffer.concat(this.parts);
  }
}

const PAGE = 4096;

/** A full migration stream in miniature; `pages` page records in the PART section. */
export function syntheticFullStream(pages = 6): Uint8Array {
  const o = new Out();
  o.be32(0x5145564d).be32(3);
  // configuration: machine name + configuration/target-page-bits
  o.u8(0x07).be32(13).bytes(Buffer.from('pc-i440fx-7.2')).u8(0x05).str('configuration/target-page-bits').be32(1).be32(12);
  // ram START: MEM_SIZE with two blocks, EOS
  o.u8(0x01).be32(2).str('ram').be32(0).be32(4);
  o.be64(0x8000n * 16n | 0x04n).str('pc.ram').be64(0x8000n * 8n).str('pc.rom').be64(0x8000n * 8n).be64(0x10n).u8(0x7e).be32(2);
  // a command between iterations
  o.u8(0x08).be16(2).be16(4).be32(7);
  // ram PART: pages, zero pages, continue
  o.u8(0x02).be32(2);
  for (let i = 0; i < pages; i++) {
    const addr = BigInt(i * PAGE);
    if (i === 0) o.be64(addr | 0x08n).str('pc.ram');
    else if (i % 3 === 1) o.be64(addr | 0x22n);
    else o.be64(addr | 0x28n);
    if (i % 3 === 1) o.u8(0);
    else o.bytes(new Uint8Array(PAGE).fill(i & 0xff));
  }
  o.be64(0x10n).u8(0x7e).be32(2);
  // ram END: a page of the other block
  o.u8(0x03).be32(2).be64(0x1000n | 0x08n).str('pc.rom').bytes(new Uint8Array(PAGE).fill(0xaa)).be64(0x10n).u8(0x7e).be32(2);
  // a FULL device section described by the vmdesc only
  o.u8(0x04).be32(3).str('timer').be32(0).be32(2).be64(1n).be64(2n).be64(3n).u8(0x7e).be32(3);
  // a real virtio section, copied from a capture
  const cap = captureBytes('pc-legacy-intx');
  const net = parseQemuStream(cap).sections.find((s) => s.idstr === '0000:00:02.0/virtio-net')!;
  o.bytes(cap.subarray(net.offset, net.offset + net.length));
  o.u8(0x00);
  const json = Buffer.from(JSON.stringify({
    page_size: PAGE,
    devices: [{ name: 'timer', instance_id: 0, vmsd_name: 'timer', version: 2, fields: [
      { name: 'cpu_ticks_offset', type: 'int64', size: 8 }, { name: 'unused', type: 'unused_buffer', size: 8 },
      { name: 'cpu_clock_offset', type: 'int64', size: 8 }] }],
  }));
  o.u8(0x06).be32(json.length).bytes(json);
  return o.done();
}
