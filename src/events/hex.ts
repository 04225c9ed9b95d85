// Hex text of 64-bit values and byte strings, as every JSON form of devrec writes them (docs/state.md radix policy).

export function hex64(v: bigint): string {
  return '0x' + v.toString(16);
}

export function bytesToHex(b: Uint8Array): string {
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex');
}
